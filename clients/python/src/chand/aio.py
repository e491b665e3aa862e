"""The asyncio client: the names of the threaded client, as coroutines.

::

    conn = await chand.aio.connect("127.0.0.1:7400")
    ch = conn.channel("jobs")
    await ch.send(b"hello")
    async for value in ch:
        ...
    ch, op, value = await conn.select([a.receive_case(), b.send_case(b"x")], timeout=1)

One Connection is one server-side tasklet; two tasks using one connection
at once get :class:`chand.ConcurrentUseError`: give every task its own
(``await conn.clone()``). Cancelling a call (``task.cancel()``,
``asyncio.wait_for``) closes its connection, since its reply would come
later; use the ``timeout=`` arguments instead, which the server honours.
"""

import asyncio
import socket
import time
from typing import Any, Iterable, List, Optional, Tuple

from ._base import _UNSET, BaseChannel, BaseConnection, auth_request, single_connection, tls_context
from ._errors import Closed, ConcurrentUseError, DecodeError, Disconnected, MalformedReply
from ._protocol import (
    ACK,
    NACK,
    Address,
    Case,
    ChannelList,
    ChannelStat,
    Codec,
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

__all__ = ["connect", "select", "Connection", "Channel", "Delivery"]

_BUSY = (
    "this chand connection is in use by another task; a connection is one server-side "
    "tasklet and runs one request at a time: give every task its own connection "
    "(await conn.clone() or await chand.aio.connect())"
)


class Connection(BaseConnection):
    """One connection to chand (one server-side tasklet), for asyncio.
    Make it with ``await chand.aio.connect(...)``."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        address: Address,
        connect_timeout: Optional[float],
        decode: Optional[str],
        serializer: Any,
        ssl: Any = None,
        credentials: Optional[Tuple[str, str]] = None,
    ):
        super().__init__(address, decode, serializer)
        self._reader = reader
        self._writer = writer
        self._connect_timeout = connect_timeout
        self._ssl = ssl
        self._credentials = credentials
        self._buf = ReplyBuffer()
        self._busy = False
        self._closed_reason: Optional[str] = None

    # -- plumbing ------------------------------------------------------------

    async def _run(self, ops: List[Op]) -> List[Tuple[bool, Any]]:
        if self._busy:
            raise ConcurrentUseError(_BUSY)
        self._busy = True
        try:
            if self._closed_reason is not None:
                raise Disconnected(self._closed_reason)
            try:
                self._writer.write(b"".join(op.request for op in ops))
                await self._writer.drain()
                replies = [await self._read_reply() for _ in ops]
            except MalformedReply as e:
                self._shut(f"connection closed after a malformed reply ({e.text})")
                raise
            except Disconnected as e:
                self._shut(str(e))
                raise
            except BaseException as e:  # CancelledError, socket errors, ...
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
                # ACK/NACK lines (no reply); written without waiting: if they
                # cannot be, the connection is gone and the server gives back
                # what it held
                self._writer.write(self._take_outbox())
            return outcomes
        finally:
            self._busy = False

    async def _settle(self, delivery: "Delivery", verb: bytes) -> None:
        if self._busy:
            raise ConcurrentUseError(_BUSY)
        self._busy = True
        try:
            if self._closed_reason is not None:
                raise Disconnected(f"{self._closed_reason} (the server gave back the values it held for it)")
            self._writer.write(self._settling(delivery, verb))
            try:
                await self._writer.drain()
            except OSError as e:
                self._shut(f"connection lost while acknowledging: {e}")
                raise Disconnected(f"{self._closed_reason} (the server gives the value back)") from e
        finally:
            self._busy = False

    async def _run1(self, op: Op) -> Any:
        ok, result = (await self._run([op]))[0]
        if ok:
            return result
        if isinstance(result, StopIteration):  # a coroutine cannot raise it (PEP 479)
            raise StopAsyncIteration(*result.args)
        raise result

    async def _read_reply(self) -> Any:
        reader = read_reply()
        buf = self._buf
        need = next(reader)
        started = False
        while True:
            got = buf.take(need)
            while got is None:
                chunk = await self._reader.read(buf.wanted(need))
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
        self._writer.close()

    # -- connection ----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed_reason is not None

    async def close(self) -> None:
        """Closes the connection; the server ends its tasklet at the end of
        input. Idempotent. Called while another task is in a call on this
        connection, it aborts that call (which raises
        :class:`chand.Disconnected`)."""
        if self._busy:
            if self._closed_reason is None:
                self._closed_reason = "connection closed by close() during a call"
            self._writer.transport.abort()
            return
        if self._closed_reason is None:
            self._closed_reason = "connection closed"
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass

    async def __aenter__(self) -> "Connection":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def clone(self) -> "Connection":
        """A new connection (a new server-side tasklet) with the same settings."""
        user, password = self._credentials or (None, None)
        return await connect(
            self._address,
            timeout=self._connect_timeout,
            decode=self._decode,
            serializer=self._serializer,
            ssl=self._ssl if self._ssl is not None else False,
            user=user,
            password=password,
        )

    async def auth(self, user: str, password: str) -> None:
        """``AUTH`` (see chand.Connection.auth)."""
        await self._run1(ok_op(auth_request(user, password)))
        self._credentials = (user, password)

    # -- channels ------------------------------------------------------------

    def channel(self, name: str, *, decode: Any = _UNSET, serializer: Any = _UNSET) -> "Channel":
        """The channel ``name`` on this connection (no I/O; see chand.Connection.channel)."""
        return Channel(self, name, self._channel_codec(decode, serializer))

    async def make(
        self,
        name: str,
        capacity: int = 0,
        preference: Any = None,
        *,
        durable: bool = False,
        decode: Any = _UNSET,
        serializer: Any = _UNSET,
    ) -> "Channel":
        """``MAKE`` (see chand.Connection.make)."""
        channel = self.channel(name, decode=decode, serializer=serializer)
        await self._run1(ok_op(make_request(name, capacity, preference, durable), channel.name))
        return channel

    async def delete(self, name: str) -> None:
        """``DELETE`` (see chand.Connection.delete)."""
        await self._run1(ok_op(b"DELETE %s\r\n" % check_name(name), name))

    async def stat(self, name: str) -> ChannelStat:
        return await self._run1(stat_op(name))

    async def channels(self, prefix: str = "", top: Optional[int] = None) -> ChannelList:
        return await self._run1(channels_op(prefix, top))

    async def select(self, cases: Iterable[Optional[Case]], timeout: Optional[float] = None,
                     ack: bool = False) -> Selected:
        """(channel, operation, value) of the case that fired (see chand.Connection.select)."""
        return await self._run1(select_op(list(cases), timeout, ack, self))

    async def ping(self) -> float:
        start = time.perf_counter()
        await self._run1(ok_op(b"PING\r\n", expect="PONG"))
        return time.perf_counter() - start

    async def info(self) -> dict:
        return await self._run1(fields_op("INFO"))

    async def hello(self) -> dict:
        return await self._run1(fields_op("HELLO"))


class Channel(BaseChannel):
    """The asyncio channel: ``send``, ``receive``, ``send_exception``,
    ``send_sequence``, ``close`` and ``stat`` are coroutines; the STAT
    properties are awaitables (``await ch.balance``); ``async for`` receives
    until the channel is closed."""

    _conn: Connection

    async def send(self, value: Any, timeout: Optional[float] = None) -> None:
        await self._conn._run1(self._send_op(value, timeout))

    async def receive(self, timeout: Optional[float] = None, ack: bool = False) -> Any:
        """As chand.Channel.receive (with ``ack=True`` a :class:`Delivery`
        whose ``ack()``/``nack()`` are coroutines); a ``StopIteration`` sent
        with ``send_exception`` is raised as ``StopAsyncIteration`` (a
        coroutine cannot raise StopIteration)."""
        return await self._conn._run1(self._receive_op(timeout, ack))

    def delivery(self, timeout: Optional[float] = None) -> "DeliveryContext":
        """``async with ch.delivery() as value:`` (see chand.Channel.delivery)."""
        return DeliveryContext(self, timeout)

    async def send_exception(self, exc: Any, *args: Any, timeout: Optional[float] = None) -> None:
        await self._conn._run1(self._throw_op(exc, args, timeout))

    async def send_sequence(self, iterable: Iterable[Any]) -> int:
        sent = 0
        for ops, error in self._sequence_batches(iterable):
            if ops:
                for ok, result in await self._conn._run(ops):
                    if not ok:
                        if isinstance(result, Closed):
                            result.sent = sent
                        raise result
                    sent += 1
            if error is not None:
                raise error
        return sent

    async def close(self) -> None:
        await self._conn._run1(self._close_op())

    async def open(self) -> None:
        """``OPEN`` (see chand.Channel.open)."""
        await self._conn._run1(self._open_op())

    async def set_preference(self, preference: Any) -> None:
        """See chand.Channel.set_preference."""
        await self._conn._run1(self._preference_op(await self.stat(), preference))

    def __aiter__(self) -> "Channel":
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except Closed:
            raise StopAsyncIteration from None

    async def stat(self) -> ChannelStat:
        return await self._conn._run1(self._stat_op())

    async def _field(self, name: str) -> Any:
        return getattr(await self.stat(), name)

    balance = property(lambda self: self._field("balance"), doc="await ch.balance")
    closing = property(lambda self: self._field("closing"), doc="await ch.closing")
    closed = property(lambda self: self._field("closed"), doc="await ch.closed")
    preference = property(lambda self: self._field("preference"), doc="await ch.preference")
    capacity = property(lambda self: self._field("capacity"), doc="await ch.capacity")
    length = property(lambda self: self._field("length"), doc="await ch.length")


class Delivery(DeliveryBase):
    """A value received with ``ack=True`` (see chand.Delivery); ``ack()``
    and ``nack()`` are coroutines."""

    __slots__ = ()

    async def ack(self) -> None:
        await self.connection._settle(self, ACK)

    async def nack(self) -> None:
        await self.connection._settle(self, NACK)


class DeliveryContext:
    """``async with ch.delivery() as value:`` (see chand.Channel.delivery)."""

    def __init__(self, channel: "Channel", timeout: Optional[float]):
        self._channel = channel
        self._timeout = timeout
        self.delivery: Optional[Delivery] = None

    async def __aenter__(self) -> Any:
        try:
            self.delivery = await self._channel.receive(self._timeout, ack=True)
        except DecodeError as e:
            if e.delivery is not None:
                await e.delivery.nack()
            raise
        return self.delivery.value

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        delivery = self.delivery
        if delivery is None or delivery.settled is not None:
            return
        if exc_type is None:
            await delivery.ack()
        elif not delivery.connection.closed:  # else the server has given it back already
            await delivery.nack()


Connection._Delivery = Delivery


async def connect(
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
    """As chand.connect, for asyncio."""
    target = parse_address(address, host, port)
    Codec(decode, serializer)  # bad arguments fail before connecting
    context = tls_context(target, ssl)
    credentials = (user, password) if user is not None or password is not None else None
    login = auth_request(user, password) if credentials else None
    opening = asyncio.open_connection(target.host, target.port, ssl=context,
                                      server_hostname=target.host if context is not None else None)
    reader, writer = await (asyncio.wait_for(opening, timeout) if timeout is not None else opening)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    conn = Connection(reader, writer, target, timeout, decode, serializer, context, credentials)
    if login is not None:
        try:
            await conn._run1(ok_op(login))
        except BaseException:
            await conn.close()
            raise
    return conn


async def select(cases: Iterable[Optional[Case]], timeout: Optional[float] = None, ack: bool = False) -> Selected:
    """``await conn.select`` on the connection of the cases' channels."""
    cases = list(cases)
    return await single_connection(cases).select(cases, timeout, ack)
