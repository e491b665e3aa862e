"""What the threaded and the asyncio channel and connection share."""

import os
import ssl as _ssl
from typing import Any, Iterable, Iterator, List, Optional, Set, Tuple

from ._errors import ProtocolError
from ._protocol import (
    RECEIVE,
    SEND,
    Address,
    Case,
    ChannelStat,
    Codec,
    Op,
    PIPELINE_WINDOW,
    exception_payload,
    live_cases,
    make_request,
    ok_op,
    receive_op,
    check_name,
    send_op,
    settle_request,
    stat_op,
)

_UNSET: Any = object()
_PIPELINE_BYTES = 1 << 20


def _public_module(obj: Any) -> str:
    module = type(obj).__module__
    return "chand" if module.startswith("chand._") else module


class BaseChannel:
    """A named channel as seen through one connection. Making one sends
    nothing: the server creates a channel when it is first used (or by
    ``conn.make``)."""

    def __init__(self, connection: Any, name: str, codec: Codec):
        self._name_b = check_name(name)
        self.name = self._name_b.decode("ascii")
        self._conn = connection
        self._codec = codec

    @property
    def connection(self) -> Any:
        """The connection this channel object sends its requests on."""
        return self._conn

    def on(self, connection: Any) -> Any:
        """The same channel (name, decode, serializer) on another connection,
        e.g. the one of another thread."""
        return type(self)(connection, self.name, self._codec)

    def send_case(self, value: Any) -> Case:
        """A select case that sends ``value``."""
        return Case(self, SEND, b"SEND", self._codec.encode(value), value)

    def send_exception_case(self, exc: Any, *args: Any) -> Case:
        """A select case that sends an exception (see ``send_exception``)."""
        return Case(self, SEND, b"THROW", exception_payload(exc, args), exc)

    def receive_case(self) -> Case:
        """A select case that receives a value."""
        return Case(self, RECEIVE, b"RECV", None, None)

    # the names of the stackless.py select prototype
    sendCase = send_case
    receiveCase = receive_case

    def __eq__(self, other: object) -> bool:
        """Channel objects are equal when they name one channel on one connection."""
        if not isinstance(other, BaseChannel):
            return NotImplemented
        return self._conn is other._conn and self.name == other.name

    def __hash__(self) -> int:
        return hash((id(self._conn), self.name))

    def __repr__(self) -> str:
        return f"<{_public_module(self)}.{type(self).__name__} {self.name!r}>"

    # request builders -----------------------------------------------------

    def _send_op(self, value: Any, timeout: Optional[float]) -> Op:
        return send_op(self, b"SEND", self._codec.encode(value), timeout)

    def _throw_op(self, exc: Any, args: tuple, timeout: Optional[float]) -> Op:
        return send_op(self, b"THROW", exception_payload(exc, args), timeout)

    def _receive_op(self, timeout: Optional[float], ack: bool = False) -> Op:
        return receive_op(self, timeout, ack)

    def _close_op(self) -> Op:
        return ok_op(b"CLOSE %s\r\n" % self._name_b, self.name)

    def _open_op(self) -> Op:
        return ok_op(b"OPEN %s\r\n" % self._name_b, self.name)

    def _preference_op(self, stat: ChannelStat, preference: Any) -> Op:
        """``MAKE`` with the channel's settings but ``preference``: the server
        takes it for a channel nobody made that is idle, and answers ``EXISTS``
        for one that was made with other settings or is in use."""
        op = ok_op(make_request(self.name, stat.capacity, preference, stat.durable), self.name)

        def interpret(reply: Any) -> None:
            try:
                op.interpret(reply)
            except ProtocolError as e:
                if e.code != "EXISTS":
                    raise
                raise ProtocolError(e.code, f"{e.text}; the preference of a channel that was made, or is in "
                                            "use, is fixed (MAKE does not change it)") from None

        return Op(op.request, interpret)

    def _stat_op(self) -> Op:
        return stat_op(self.name)

    def _sequence_batches(self, iterable: Iterable[Any]) -> Iterator[Tuple[List[Op], Optional[BaseException]]]:
        """SEND ops in windows of at most PIPELINE_WINDOW values (or about
        1 MiB). A value that cannot be encoded ends the sequence: the window
        before it is still sent, then the error is raised."""
        ops: List[Op] = []
        size = 0
        for value in iterable:
            try:
                op = self._send_op(value, None)
            except Exception as e:  # encoding failed
                yield ops, e
                return
            ops.append(op)
            size += len(op.request)
            if len(ops) >= PIPELINE_WINDOW or size >= _PIPELINE_BYTES:
                yield ops, None
                ops, size = [], 0
        if ops:
            yield ops, None


class BaseConnection:
    """Address and value-codec defaults shared by both flavours."""

    _Delivery: Any = None  # the flavour's Delivery class, for values received with ACK

    host: str
    port: int

    def __init__(self, address: Address, decode: Optional[str], serializer: Any):
        self.host = address.host
        self.port = address.port
        self.tls = address.tls
        self._address = address
        self._decode = decode
        self._serializer = serializer
        self._codec = Codec(decode, serializer)
        self._held: Set[int] = set()  # delivery tags of the values this connection holds
        self._outbox: List[bytes] = []  # ACK/NACK lines to write after the current request

    @property
    def address(self) -> str:
        """``host:port`` of the server (``tls://host:port`` over TLS)."""
        return str(self._address)

    def _settle_later(self, tag: int, verb: bytes) -> None:
        self._held.discard(tag)
        self._outbox.append(settle_request(verb, tag))

    def _take_outbox(self) -> bytes:
        out = b"".join(self._outbox)
        self._outbox.clear()
        return out

    def _settling(self, delivery: Any, verb: bytes) -> bytes:
        """The ACK/NACK line for ``delivery``; raises ValueError when this
        connection does not hold it (so the server never sees an unknown tag)."""
        line = delivery._settling(verb)
        if delivery.tag not in self._held:
            raise ValueError(f"delivery {delivery.tag} on {delivery.channel.name} is not held by this connection")
        self._held.discard(delivery.tag)
        return line

    def _channel_codec(self, decode: Any, serializer: Any) -> Codec:
        if decode is _UNSET and serializer is _UNSET:
            return self._codec
        if decode is _UNSET:
            decode = None if serializer is not None else self._decode
        if serializer is _UNSET:
            serializer = None if decode is not None else self._serializer
        return Codec(decode, serializer)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{_public_module(self)}.{type(self).__name__} {self.address} {state}>"

    @property
    def closed(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError


def single_connection(cases: List[Optional[Case]]) -> Any:
    """The connection all the cases' channels use (for module-level select)."""
    live = [case for _, case in live_cases(cases)]
    conn = live[0].channel.connection
    for case in live[1:]:
        if case.channel.connection is not conn:
            raise ValueError("select cases use channels of different connections; call conn.select(cases) instead")
    return conn


def tls_context(address: Address, ssl_option: Any) -> Optional[_ssl.SSLContext]:
    """The context to speak TLS with, or None for plain TCP. ``ssl`` is an
    ``ssl.SSLContext``, True (a default context), False/None (plain TCP,
    unless the address is ``tls://``). A default context verifies the
    server's certificate against ``$CHAND_TLS_CA`` if set, else the system's
    trusted CAs, and checks its name."""
    if isinstance(ssl_option, _ssl.SSLContext):
        return ssl_option
    if ssl_option is False and address.tls:
        raise ValueError(f"{address} is a TLS address; ssl=False would not speak TLS to it")
    if ssl_option is True or (ssl_option is None and address.tls):
        return _ssl.create_default_context(cafile=os.environ.get("CHAND_TLS_CA") or None)
    if ssl_option not in (None, False):
        raise TypeError(f"ssl must be an ssl.SSLContext, True or False, not {ssl_option!r}")
    return None


def auth_request(user: Any, password: Any) -> bytes:
    """``AUTH <name> <secret>``. Each is one token of printable ASCII
    (0x21-0x7E): a space or line end could not be told from the request's own."""
    parts = []
    for what, value in (("user", user), ("password", password)):
        if not isinstance(value, str):
            raise TypeError(f"{what} must be a str, not {type(value).__name__}")
        raw = value.encode("ascii", "replace")
        if not raw or any(b < 0x21 or b > 0x7E for b in raw) or not value.isascii():
            # the value itself stays out of the message: it may be a secret
            raise ValueError(f"the {what} must be 1 or more printable ASCII characters without spaces")
        parts.append(raw)
    return b"AUTH %s %s\r\n" % (parts[0], parts[1])
