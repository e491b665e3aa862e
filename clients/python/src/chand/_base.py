"""What the threaded and the asyncio channel and connection share."""

from typing import Any, Iterable, Iterator, List, Optional, Tuple

from ._protocol import (
    RECEIVE,
    SEND,
    Case,
    Codec,
    Op,
    PIPELINE_WINDOW,
    exception_payload,
    ok_op,
    receive_op,
    check_name,
    send_op,
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

    def _receive_op(self, timeout: Optional[float]) -> Op:
        return receive_op(self, timeout)

    def _close_op(self) -> Op:
        return ok_op(b"CLOSE %s\r\n" % self._name_b, self.name)

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

    host: str
    port: int

    def __init__(self, host: str, port: int, decode: Optional[str], serializer: Any):
        self.host = host
        self.port = port
        self._decode = decode
        self._serializer = serializer
        self._codec = Codec(decode, serializer)

    @property
    def address(self) -> str:
        """``host:port`` of the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

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


def single_connection(cases: List[Case]) -> Any:
    """The connection all the cases' channels use (for module-level select)."""
    if not cases:
        raise ValueError("select needs at least one case")
    conn = cases[0].channel.connection
    for case in cases[1:]:
        if case.channel.connection is not conn:
            raise ValueError("select cases use channels of different connections; call conn.select(cases) instead")
    return conn
