"""The threaded (blocking) client."""

import socket
import threading
import time
from typing import Any, Iterable, List, Optional, Tuple

from ._base import _UNSET, BaseChannel, BaseConnection, auth_request, single_connection, tls_context
from ._errors import Closed, ConcurrentUseError, DecodeError, Disconnected, MalformedReply
from ._protocol import (
    ACK,
    NACK,
    Case,
    ChannelList,
    ChannelStat,
    DeliveryBase,
    Op,
    ReplyBuffer,
    Selected,
    channels_op,
    check_name,
    fields_op,
    make_request,
    ok_op,
    parse_address,
    read_reply,
    select_op,
    stat_op,
)

_BUSY = (
    "this chand connection is in use by another thread; a connection is one server-side "
    "tasklet and runs one request at a time: give every thread its own connection "
    "(conn.clone() or chand.connect())"
)


class Connection(BaseConnection):
    """One TCP connection to chand, which is one server-side tasklet.

    Requests run one at a time, in order. A Connection is not thread-safe:
    give every thread its own (``conn.clone()``); using one from two threads
    at once raises :class:`ConcurrentUseError` instead of mixing replies.
    ``close()`` is the exception: called while another thread is blocked in
    a call on the connection, it aborts that call (which raises
    :class:`Disconnected`).
    """

    def __init__(
        self,
        address: Any = None,
        *,
        host: Optional[str] = None,
        port: Optional[int] = None,
        timeout: Optional[float] = None,
        decode: Optional[str] = None,
        serializer: Any = None,
        ssl: Any = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
    ):
        target = parse_address(address, host, port)
        super().__init__(target, decode, serializer)
        context = tls_context(target, ssl)
        credentials = (user, password) if user is not None or password is not None else None
        login = auth_request(user, password) if credentials else None  # bad values fail before connecting
        self._connect_timeout = timeout
        self._ssl = context
        self._credentials = credentials
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname=target.host)  # handshake within timeout
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)  # requests block as long as the server says; it answers TIMEOUT itself
        self._sock = sock
        self._buf = ReplyBuffer()
        self._lock = threading.Lock()
        self._closed_reason: Optional[str] = None
        if login is not None:
            try:
                self._run1(ok_op(login))
            except BaseException:
                self.close()
                raise

    # -- plumbing ------------------------------------------------------------

    def _run(self, ops: List[Op]) -> List[Tuple[bool, Any]]:
        """Writes the requests (pipelined), reads every reply, and returns
        ``(True, result)`` or ``(False, exception)`` per op."""
        if not self._lock.acquire(blocking=False):
            raise ConcurrentUseError(_BUSY)
        try:
            if self._closed_reason is not None:
                raise Disconnected(self._closed_reason)
            try:
                self._sock.sendall(b"".join(op.request for op in ops))
                replies = [self._read_reply() for _ in ops]
            except MalformedReply as e:
                self._shut(f"connection closed after a malformed reply ({e.text})")
                raise
            except Disconnected as e:
                self._shut(str(e))
                raise
            except BaseException as e:
                # An error or interrupt (KeyboardInterrupt, a socket error) in
                # the middle of a request: where the next reply starts is lost.
                self._shut(f"connection closed after {type(e).__name__} during a request")
                if isinstance(e, OSError):
                    raise Disconnected(f"{self._closed_reason}: {e}") from e
                raise
            outcomes: List[Tuple[bool, Any]] = []
            for op, reply in zip(ops, replies):
                try:
                    outcomes.append((True, op.interpret(reply)))
                except MalformedReply as e:
                    self._shut(f"connection closed after a reply that did not fit its request ({e.text})")
                    raise
                except Exception as e:
                    outcomes.append((False, e))
            if self._outbox:
                self._write_settlements(self._take_outbox())
            return outcomes
        finally:
            self._lock.release()

    def _write_settlements(self, lines: bytes) -> None:
        """ACK/NACK lines (no reply). If they cannot be written the connection
        is gone, and with it the server gives back what it held."""
        try:
            self._sock.sendall(lines)
        except OSError as e:
            self._shut(f"connection lost while acknowledging: {e}")

    def _settle(self, delivery: "Delivery", verb: bytes) -> None:
        if not self._lock.acquire(blocking=False):
            raise ConcurrentUseError(_BUSY)
        try:
            if self._closed_reason is not None:
                raise Disconnected(f"{self._closed_reason} (the server gave back the values it held for it)")
            line = self._settling(delivery, verb)
            try:
                self._sock.sendall(line)
            except OSError as e:
                self._shut(f"connection lost while acknowledging: {e}")
                raise Disconnected(f"{self._closed_reason} (the server gives the value back)") from e
        finally:
            self._lock.release()

    def _run1(self, op: Op) -> Any:
        ok, result = self._run([op])[0]
        if ok:
            return result
        raise result

    def _read_reply(self) -> Any:
        reader = read_reply()
        buf = self._buf
        need = next(reader)
        started = False
        while True:
            got = buf.take(need)
            while got is None:
                chunk = self._sock.recv(buf.wanted(need))
                if not chunk:
                    if self._closed_reason is not None:
                        raise Disconnected(self._closed_reason)
                    if started or buf.data:
                        raise Disconnected("server closed the connection in the middle of a reply (truncated reply)")
                    raise Disconnected("server closed the connection")
                buf.data += chunk
                got = buf.take(need)
            started = True
            try:
                need = reader.send(got)
            except StopIteration as done:
                return done.value

    def _shut(self, reason: str) -> None:
        if self._closed_reason is None:
            self._closed_reason = reason
        try:
            self._sock.close()
        except OSError:
            pass

    # -- connection ----------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the connection is closed (by ``close()``, the server, or an error)."""
        return self._closed_reason is not None

    def close(self) -> None:
        """Closes the connection; the server ends its tasklet at the end of
        input. Idempotent. Called from another thread while a call is
        blocked on this connection, it aborts that call: the call raises
        :class:`Disconnected`, and the server withdraws its pending
        operation."""
        if not self._lock.acquire(blocking=False):
            if self._closed_reason is None:
                self._closed_reason = "connection closed by close() during a call"
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            if self._closed_reason is None:
                self._closed_reason = "connection closed"
            self._sock.close()
        finally:
            self._lock.release()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def clone(self) -> "Connection":
        """A new connection (a new server-side tasklet) to the same server,
        with the same decode/serializer defaults: one per thread."""
        user, password = self._credentials or (None, None)
        return Connection(
            self._address,
            timeout=self._connect_timeout,
            decode=self._decode,
            serializer=self._serializer,
            ssl=self._ssl if self._ssl is not None else False,
            user=user,
            password=password,
        )

    def auth(self, user: str, password: str) -> None:
        """``AUTH``: authenticates this connection (``connect(user=...,
        password=...)`` does it at once). A wrong name or password raises
        :class:`ProtocolError` with code ``DENIED``; after three the server
        closes the connection."""
        self._run1(ok_op(auth_request(user, password)))
        self._credentials = (user, password)

    # -- channels ------------------------------------------------------------

    def channel(self, name: str, *, decode: Any = _UNSET, serializer: Any = _UNSET) -> "Channel":
        """The channel ``name`` on this connection. Sends nothing. ``decode``
        (an encoding such as ``"utf-8"``) makes ``receive`` return ``str``;
        ``serializer`` (``"json"``, ``"pickle"`` or an object with
        ``dumps``/``loads``) carries any object; both default to the
        connection's."""
        return Channel(self, name, self._channel_codec(decode, serializer))

    def make(
        self,
        name: str,
        capacity: int = 0,
        preference: Any = None,
        *,
        durable: bool = False,
        decode: Any = _UNSET,
        serializer: Any = _UNSET,
    ) -> "Channel":
        """``MAKE``: creates a persistent channel with a buffer of ``capacity``
        values and a ``preference`` (-1/"receiver", the server's default,
        0/"none", 1/"sender"). Making it again with the same settings is
        fine; other settings raise ``ProtocolError`` with code ``EXISTS``; a
        closing or closed channel raises :class:`Closed` (``ch.open()`` it
        first). ``durable=True`` keeps its buffered values on the server's
        disk (``MAKE ... DURABLE``: needs a server started with
        ``--data-dir`` and ``capacity`` >= 1)."""
        channel = self.channel(name, decode=decode, serializer=serializer)
        self._run1(ok_op(make_request(name, capacity, preference, durable), channel.name))
        return channel

    def delete(self, name: str) -> None:
        """``DELETE``: the channel is gone at once: its blocked receivers get
        ``Closed``, its blocked senders ``Closed``, its buffered values are
        dropped. Fine for a name nobody uses. A later use makes it anew."""
        self._run1(ok_op(b"DELETE %s\r\n" % check_name(name), name))

    def stat(self, name: str) -> ChannelStat:
        """``STAT``: the channel's capacity, length, balance, state, ..."""
        return self._run1(stat_op(name))

    def channels(self, prefix: str = "", top: Optional[int] = None) -> ChannelList:
        """``CHANNELS``: the existing channels whose names start with
        ``prefix``, sorted (at most 1000; ``.total`` counts all matches).
        With ``top``, the ``top`` busiest instead (``CHANNELS TOP``: most
        values moved in the server's last second first)."""
        return self._run1(channels_op(prefix, top))

    def select(self, cases: Iterable[Optional[Case]], timeout: Optional[float] = None, ack: bool = False) -> Selected:
        """Waits until one of the cases can go, does only that one, and
        returns ``(channel, operation, value)`` (a :class:`Selected`, whose
        ``index`` is the case's). Among ready cases one is picked uniformly
        at random by the server. A None case is skipped, as a nil channel in
        Go (all None: ``ValueError``). ``timeout`` in seconds; ``0`` does not
        wait (``NOWAIT``). With ``ack=True`` a receive case's value is a
        :class:`Delivery` to acknowledge. Raises :class:`Timeout` when
        nothing fired, :class:`Closed` (with ``.case``) when the chosen
        case's channel is closed, or the exception a receive case got."""
        return self._run1(select_op(list(cases), timeout, ack, self))

    # -- server --------------------------------------------------------------

    def ping(self) -> float:
        """``PING``; returns the round trip in seconds."""
        start = time.perf_counter()
        self._run1(ok_op(b"PING\r\n", expect="PONG"))
        return time.perf_counter() - start

    def info(self) -> dict:
        """``INFO``: the server's counters as a dict (numbers as ``int``)."""
        return self._run1(fields_op("INFO"))

    def hello(self) -> dict:
        """``HELLO``: protocol version, server version and limits as a dict."""
        return self._run1(fields_op("HELLO"))


class Channel(BaseChannel):
    """A channel with Stackless's names, bound to one connection."""

    _conn: Connection

    def send(self, value: Any, timeout: Optional[float] = None) -> None:
        """Sends ``value`` (bytes, or str as UTF-8, or anything with a
        serializer) and blocks until a receiver took it or it was buffered.
        With ``timeout`` (seconds; 0 = only if that can happen at once)
        raises :class:`Timeout` and nothing is sent. Raises :class:`Closed`
        on a closing or closed channel."""
        self._conn._run1(self._send_op(value, timeout))

    def receive(self, timeout: Optional[float] = None, ack: bool = False) -> Any:
        """Receives a value, blocking until there is one. Raises
        :class:`Closed` once the channel is closed and drained,
        :class:`Timeout` after ``timeout`` seconds (0 = do not wait), the
        exception a sender sent with ``send_exception``, and
        :class:`DecodeError` (with the raw bytes) for a value the channel's
        decode/serializer cannot read.

        With ``ack=True`` it returns a :class:`Delivery`: the server holds the
        value (its sender still waits) until ``.ack()``; ``.nack()``, or the
        end of this connection, gives it back to the front of the channel.
        An exception received this way is acknowledged as it is raised."""
        return self._conn._run1(self._receive_op(timeout, ack))

    def delivery(self, timeout: Optional[float] = None) -> "DeliveryContext":
        """``with ch.delivery() as value:`` receives with ACK; the value is
        acknowledged when the block ends normally and given back (NACK) when
        it ends with an exception. A value that cannot be decoded is given
        back too, and its :class:`DecodeError` raised."""
        return DeliveryContext(self, timeout)

    def send_exception(self, exc: Any, *args: Any, timeout: Optional[float] = None) -> None:
        """Sends an exception (``THROW``): the receiver's ``receive`` raises
        it. ``exc`` is an exception class (``ch.send_exception(ValueError,
        "bad job")``) or instance; it blocks like ``send``."""
        self._conn._run1(self._throw_op(exc, args, timeout))

    def send_sequence(self, iterable: Iterable[Any]) -> int:
        """Sends every value of ``iterable`` in order and returns how many
        were sent. Requests are pipelined (up to 64 in flight). On a closed
        channel raises :class:`Closed` whose ``sent`` is the count so far."""
        sent = 0
        for ops, error in self._sequence_batches(iterable):
            if ops:
                for ok, result in self._conn._run(ops):
                    if not ok:
                        if isinstance(result, Closed):
                            result.sent = sent
                        raise result
                    sent += 1
            if error is not None:
                raise error
        return sent

    def close(self) -> None:
        """``CLOSE``: no more sends; receivers drain what was sent, then get
        :class:`Closed`. Closing again is fine."""
        self._conn._run1(self._close_op())

    def open(self) -> None:
        """``OPEN``: reopens a closing or closed channel (Stackless's
        ``channel.open()``), keeping its buffer and settings. Fine on an open
        channel."""
        self._conn._run1(self._open_op())

    def __iter__(self) -> "Channel":
        return self

    def __next__(self) -> Any:
        """Iteration receives until the channel is closed."""
        try:
            return self.receive()
        except Closed:
            raise StopIteration from None

    # -- STAT ----------------------------------------------------------------

    def stat(self) -> ChannelStat:
        """One ``STAT`` of this channel (the properties below each do one)."""
        return self._conn._run1(self._stat_op())

    @property
    def balance(self) -> int:
        """Senders waiting minus receivers waiting (Stackless's balance)."""
        return self.stat().balance

    @property
    def closing(self) -> bool:
        """True once ``close()`` was called (values may still be draining)."""
        return self.stat().closing

    @property
    def closed(self) -> bool:
        """True once the channel is closed and drained."""
        return self.stat().closed

    @property
    def preference(self) -> int:
        """-1 prefer receiver, 0 none, 1 prefer sender. Setting it is
        ``set_preference``."""
        return self.stat().preference

    @preference.setter
    def preference(self, preference: Any) -> None:
        self.set_preference(preference)

    def set_preference(self, preference: Any) -> None:
        """Sets the preference (-1/"receiver", 0/"none", 1/"sender") where
        the protocol allows it: on a channel nobody made that is idle (it
        becomes a made channel with this preference), or to the value it has.
        A channel made with another preference, or in use, keeps its own:
        ``ProtocolError`` with code ``EXISTS``."""
        self._conn._run1(self._preference_op(self.stat(), preference))

    @property
    def capacity(self) -> int:
        """Buffer size (0 = unbuffered)."""
        return self.stat().capacity

    @property
    def length(self) -> int:
        """Values in the buffer. (There is deliberately no ``len(ch)``:
        ``list(ch)`` would call it, costing a STAT round trip.)"""
        return self.stat().length


class Delivery(DeliveryBase):
    """A value received with ``ack=True`` (see ``Channel.receive``)."""

    __slots__ = ()

    def ack(self) -> None:
        """``ACK``: this receiver has the value; its sender's send completes."""
        self.connection._settle(self, ACK)

    def nack(self) -> None:
        """``NACK``: gives the value back to the front of its channel."""
        self.connection._settle(self, NACK)


class DeliveryContext:
    """``with ch.delivery() as value:`` (see ``Channel.delivery``)."""

    def __init__(self, channel: "Channel", timeout: Optional[float]):
        self._channel = channel
        self._timeout = timeout
        self.delivery: Optional[Delivery] = None

    def __enter__(self) -> Any:
        try:
            self.delivery = self._channel.receive(self._timeout, ack=True)
        except DecodeError as e:
            if e.delivery is not None:
                e.delivery.nack()
            raise
        return self.delivery.value

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        delivery = self.delivery
        if delivery is None or delivery.settled is not None:
            return
        if exc_type is None:
            delivery.ack()
        elif not delivery.connection.closed:  # else the server has given it back already
            delivery.nack()


Connection._Delivery = Delivery


def connect(
    address: Any = None,
    *,
    host: Optional[str] = None,
    port: Optional[int] = None,
    timeout: Optional[float] = None,
    decode: Optional[str] = None,
    serializer: Any = None,
    ssl: Any = None,
    user: Optional[str] = None,
    password: Optional[str] = None,
) -> Connection:
    """Connects to chand at ``address`` (``host``, ``:port``, ``host:port``,
    ``[v6]:port``, optionally after ``tls://``; default ``$CHAND_ADDR``, else
    ``127.0.0.1:7400``). ``timeout`` bounds only the connect (and the TLS
    handshake). ``decode``/``serializer`` are defaults for its channels.
    ``ssl`` (an ``ssl.SSLContext``, or True) speaks TLS, as a ``tls://``
    address does with a default context that verifies the server.
    ``user``/``password`` authenticate (``AUTH``) before it returns."""
    return Connection(address, host=host, port=port, timeout=timeout, decode=decode, serializer=serializer,
                      ssl=ssl, user=user, password=password)


def select(cases: Iterable[Optional[Case]], timeout: Optional[float] = None, ack: bool = False) -> Selected:
    """``conn.select`` on the connection of the cases' channels (they must
    share one; None cases are skipped)."""
    cases = list(cases)
    return single_connection(cases).select(cases, timeout, ack)
