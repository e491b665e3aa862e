"""The flavour-independent part of the client: request encoding, reply
parsing, value and exception payloads, and the request/reply pairs ("ops")
that the threaded client (``chand``) and the asyncio client (``chand.aio``)
both run.

A reply is read by a generator that yields what it needs next -- ``LINE``
(one reply line, without its CRLF) or an ``int`` n (exactly n bytes) -- and
returns the parsed reply as a tuple. The two flavours only differ in how
they feed it (blocking ``socket.recv`` or ``await reader.read``).
"""

import builtins
import json
import math
import os
import pickle
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generator, List, Optional, Tuple

from ._errors import Closed, MalformedReply, ProtocolError, RemoteError, Timeout

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7400

#: ``operation`` of a select result whose send case fired.
SEND = "send"
#: ``operation`` of a select result whose receive case fired.
RECEIVE = "receive"

LINE = None  # what a reply reader yields to ask for one reply line
MAX_REPLY_LINE = 1 << 20  # a longer reply line is malformed
MAX_PAYLOAD_LENGTH = 1 << 32  # a longer announced payload is malformed
PIPELINE_WINDOW = 64  # send_sequence keeps at most this many SENDs in flight

_MAX_TIMEOUT_MS = 2147483647
_NUMBER = re.compile(rb"[0-9]{1,19}\Z")
_ERROR_CODE = re.compile(rb"[A-Z][A-Z0-9_]*\Z")
_INT_VALUE = re.compile(r"-?[0-9]+\Z")
_TYPE_NAME = re.compile(r"[A-Za-z_][^\s:]*\Z")

Reply = Tuple[Any, ...]
Reader = Generator[Optional[int], bytes, Reply]


# ---------------------------------------------------------------------------
# Addresses, names, timeouts


def parse_address(address=None, host: Optional[str] = None, port: Optional[int] = None) -> Tuple[str, int]:
    """``"host:port"``, ``"[v6]:port"``, ``"host"`` or a ``(host, port)``
    tuple; ``host``/``port`` override. Without an address: ``$CHAND_ADDR``,
    else ``127.0.0.1:7400``."""
    if address is None:
        address = os.environ.get("CHAND_ADDR") or f"{DEFAULT_HOST}:{DEFAULT_PORT}"
    h, p = DEFAULT_HOST, DEFAULT_PORT
    if isinstance(address, tuple):
        h, p = address
    else:
        text = str(address).strip()
        if text.startswith("["):
            h, _, rest = text[1:].partition("]")
            if rest.startswith(":"):
                p = rest[1:]
        elif text.count(":") == 1:
            h, p = text.split(":")
        elif text:
            h = text
    if host is not None:
        h = host
    if port is not None:
        p = port
    try:
        p = int(p)
    except (TypeError, ValueError):
        raise ValueError(f"bad port in chand address {address!r}") from None
    if not 0 <= p <= 65535:
        raise ValueError(f"bad port {p} in chand address {address!r}")
    return h or DEFAULT_HOST, p


def check_name(name: str) -> bytes:
    """A channel name as wire bytes: 1-255 bytes of printable ASCII without
    space (0x21-0x7E). Anything else raises ``ValueError`` before a byte is
    sent (a space or line end in a name would change the request)."""
    if isinstance(name, (bytes, bytearray)):
        raw = bytes(name)
    elif isinstance(name, str):
        raw = name.encode("ascii") if name.isascii() else b"\x00"  # non-ASCII: rejected below
    else:
        raise TypeError(f"channel name must be str, not {type(name).__name__}")
    if not 1 <= len(raw) <= 255 or any(b < 0x21 or b > 0x7E for b in raw):
        raise ValueError(f"bad channel name {name!r}: 1-255 bytes of printable ASCII without space (0x21-0x7E)")
    return raw


def timeout_option(timeout: Optional[float]) -> bytes:
    """``None`` blocks; ``0`` is ``NOWAIT``; seconds otherwise (rounded up to
    whole milliseconds, at least 1 ms)."""
    if timeout is None:
        return b""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {timeout!r}")
    if timeout != timeout or timeout < 0:
        raise ValueError(f"timeout must be >= 0, not {timeout!r}")
    if timeout == 0:
        return b" NOWAIT"
    ms = _MAX_TIMEOUT_MS if math.isinf(timeout) else max(1, min(math.ceil(timeout * 1000), _MAX_TIMEOUT_MS))
    return b" TIMEOUT %d" % ms


def payload_line(verb: bytes, name: bytes, payload: bytes) -> bytes:
    """``SEND``/``THROW`` with the counted payload form."""
    return b"%s %s {%d}\r\n%s\r\n" % (verb, name, len(payload), payload)


# ---------------------------------------------------------------------------
# Values


class Codec:
    """Turns values into payload bytes and back, for one channel.

    Default: ``bytes``-like values go as they are, ``str`` as UTF-8; received
    values are ``bytes``, or ``str`` when ``decode`` names an encoding. With
    a ``serializer`` ("json", "pickle", or an object with ``dumps``/``loads``)
    every value is serialized and every payload deserialized.
    """

    def __init__(self, decode: Optional[str] = None, serializer: Any = None):
        if decode is not None and serializer is not None:
            raise ValueError("give either decode= or serializer=, not both")
        if decode is not None:
            "".encode(decode)  # LookupError now for an unknown encoding
        self.decode_as = decode
        self.serializer = serializer
        self._dumps: Optional[Callable[[Any], Any]] = None
        self._loads: Optional[Callable[[bytes], Any]] = None
        if serializer is None:
            pass
        elif serializer == "json":
            self._dumps = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
            self._loads = json.loads
        elif serializer == "pickle":
            self._dumps = pickle.dumps
            self._loads = pickle.loads
        elif callable(getattr(serializer, "dumps", None)) and callable(getattr(serializer, "loads", None)):
            self._dumps = serializer.dumps
            self._loads = serializer.loads
        else:
            raise TypeError("serializer must be 'json', 'pickle' or an object with dumps() and loads()")

    def encode(self, value: Any) -> bytes:
        if self._dumps is not None:
            value = self._dumps(value)
        if isinstance(value, bytes):
            return value
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, str):
            return value.encode("utf-8")
        raise TypeError(
            f"a chand value must be bytes or str, not {type(value).__name__}"
            " (pass serializer='json' or 'pickle' to send other objects)"
        )

    def decode(self, data: bytes) -> Any:
        if self._loads is not None:
            return self._loads(data)
        if self.decode_as is not None:
            return data.decode(self.decode_as)
        return data


# ---------------------------------------------------------------------------
# Exceptions as payloads: "TypeName: text"


def _type_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", cls.__name__)
    if module in (None, "builtins"):
        return qualname
    return f"{module}.{qualname}"


def _args_text(args: tuple) -> str:
    return " ".join(str(a) for a in args)


def exception_payload(exc: Any, args: tuple) -> bytes:
    """The THROW payload for ``send_exception(exc, *args)``.

    ``exc`` is an exception class (with ``args``), an exception instance
    (its own ``args`` are used), a received :class:`RemoteError` (forwarded
    as it came), or a type name as a string. The payload is
    ``TypeName: text`` in UTF-8, where ``TypeName`` is the class name for a
    builtin and ``module.QualName`` otherwise, and ``text`` is the ``str``
    of the arguments joined by single spaces; without arguments it is just
    ``TypeName``.
    """
    if isinstance(exc, BaseException):
        if args:
            raise TypeError("send_exception(instance) takes no further arguments")
        if isinstance(exc, RemoteError):
            if exc.type_name is None:
                return exc.text.encode("utf-8")
            type_name, text = exc.type_name, exc.text
        else:
            type_name, text = _type_name(type(exc)), _args_text(exc.args)
    elif isinstance(exc, type) and issubclass(exc, BaseException):
        type_name, text = _type_name(exc), _args_text(args)
    elif isinstance(exc, str):
        if not _TYPE_NAME.match(exc):
            raise ValueError(f"bad exception type name {exc!r}")
        type_name, text = exc, _args_text(args)
    else:
        raise TypeError(f"send_exception needs an exception class or instance, not {exc!r}")
    return (f"{type_name}: {text}" if text else type_name).encode("utf-8")


def exception_from_payload(data: bytes, channel: Optional[str] = None) -> BaseException:
    """The exception a receiver raises for an ``EXC`` payload: the builtin
    exception class when ``TypeName`` names one (``Exception`` subclasses
    only: ``SystemExit``, ``KeyboardInterrupt`` and ``GeneratorExit`` are not
    taken from the network), else :class:`RemoteError`."""
    text = data.decode("utf-8", "replace")
    head, colon, rest = text.partition(":")
    if colon and _TYPE_NAME.match(head):
        type_name, message = head, rest[1:] if rest.startswith(" ") else rest
    elif not colon and _TYPE_NAME.match(text):
        type_name, message = text, ""
    else:
        type_name, message = None, text
    if type_name is not None and "." not in type_name:
        cls = getattr(builtins, type_name, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                return cls(message) if message else cls()
            except Exception:  # a builtin whose constructor wants other arguments
                pass
    return RemoteError(type_name, message, channel)


# ---------------------------------------------------------------------------
# Reply parsing


def _malformed(what: str, line: bytes = b"") -> MalformedReply:
    if line:
        shown = line if len(line) <= 200 else line[:200] + b"..."
        return MalformedReply(f"{what}: {shown!r}")
    return MalformedReply(what)


def _number(token: bytes, line: bytes) -> int:
    if not _NUMBER.match(token):
        raise _malformed("bad number in reply", line)
    return int(token)


def _name(token: bytes, line: bytes) -> str:
    if not 1 <= len(token) <= 255 or any(b < 0x21 or b > 0x7E for b in token):
        raise _malformed("bad channel name in reply", line)
    return token.decode("ascii")


def _fields(tokens: List[bytes], line: bytes) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for token in tokens:
        if not token:
            continue
        key, eq, value = token.partition(b"=")
        if not eq or not key:
            raise _malformed("bad key=value field in reply", line)
        text = value.decode("utf-8", "replace")
        out[key.decode("utf-8", "replace")] = int(text) if _INT_VALUE.match(text) else text
    return out


def read_reply() -> Reader:
    """Reads one complete reply (including payload bytes and, for CHANNELS,
    its channel lines) and returns it as a tuple:

    ``("OK",)``, ``("PONG",)``, ``("BYE",)``, ``("TIMEOUT",)``,
    ``("MSG", chan, bytes)``, ``("EXC", chan, bytes)``, ``("CLOSED", chan)``,
    ``("ERR", code, text)``, ``("SELECTED", index, inner_reply)``,
    ``("STAT", chan, fields)``, ``("CHANNELS", total, [(chan, fields), ...])``,
    ``("INFO", fields)``, ``("HELLO", fields)``.
    """
    line = yield LINE
    return (yield from _parse(line, line, True))


def _parse(text: bytes, line: bytes, top: bool) -> Reader:
    head, sep, rest = text.partition(b" ")
    if head in (b"OK", b"PONG", b"BYE", b"TIMEOUT"):
        if sep:
            raise _malformed("unexpected text after reply", line)
        return (head.decode("ascii"),)
    if head in (b"MSG", b"EXC"):
        parts = rest.split(b" ")
        if len(parts) != 2:
            raise _malformed("bad message header", line)
        chan, n = _name(parts[0], line), _number(parts[1], line)
        if n > MAX_PAYLOAD_LENGTH:
            raise _malformed("payload length too large", line)
        data = yield n + 2
        if data[n:] != b"\r\n":
            raise _malformed(f"payload of {n} bytes not followed by CRLF", line)
        return (head.decode("ascii"), chan, data[:n])
    if head == b"CLOSED":
        return ("CLOSED", _name(rest, line))
    if head == b"ERR":
        code, _, message = rest.partition(b" ")
        if not _ERROR_CODE.match(code):
            raise _malformed("bad error code", line)
        return ("ERR", code.decode("ascii"), message.decode("utf-8", "replace"))
    if not top:
        raise _malformed("unexpected reply to a select case", line)
    if head == b"SELECTED":
        index, sep2, inner = rest.partition(b" ")
        if not sep2:
            raise _malformed("bad SELECTED reply", line)
        return ("SELECTED", _number(index, line), (yield from _parse(inner, line, False)))
    if head == b"STAT":
        parts = rest.split(b" ")
        return ("STAT", _name(parts[0], line), _fields(parts[1:], line))
    if head == b"CHANNELS":
        parts = rest.split(b" ")
        count = _number(parts[0], line)
        fields = _fields(parts[1:], line)
        entries = []
        for _ in range(count):
            entry = yield LINE
            kind, _, more = entry.partition(b" ")
            if kind != b"CHANNEL":
                raise _malformed("expected a CHANNEL line", entry)
            tokens = more.split(b" ")
            entries.append((_name(tokens[0], entry), _fields(tokens[1:], entry)))
        total = fields.get("total", count)
        if not isinstance(total, int):
            raise _malformed("bad CHANNELS total", line)
        return ("CHANNELS", total, entries)
    if head in (b"INFO", b"HELLO"):
        return (head.decode("ascii"), _fields(rest.split(b" ") if sep else [], line))
    raise _malformed("unexpected reply", line)


class ReplyBuffer:
    """Bytes received and not yet parsed. ``take`` returns what a reader
    asked for, or None when more bytes are needed."""

    __slots__ = ("data", "_scanned")

    def __init__(self) -> None:
        self.data = bytearray()
        self._scanned = 0

    def take(self, need: Optional[int]) -> Optional[bytes]:
        data = self.data
        if need is None:
            end = data.find(b"\n", self._scanned)
            if end < 0:
                self._scanned = len(data)
                if len(data) > MAX_REPLY_LINE:
                    raise _malformed("reply line too long", bytes(data[:200]))
                return None
            if end == 0 or data[end - 1] != 0x0D:
                raise _malformed("reply line not ended by CRLF", bytes(data[: end + 1]))
            line = bytes(data[: end - 1])
            del data[: end + 1]
            self._scanned = 0
            return line
        if len(data) < need:
            return None
        out = bytes(data[:need])
        del data[:need]
        self._scanned = 0
        return out

    def wanted(self, need: Optional[int]) -> int:
        """How many bytes to ask the socket for."""
        if need is None:
            return 65536
        return max(65536, min(need - len(self.data), 1 << 22))


# ---------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ChannelStat:
    """A channel's ``STAT`` (or ``CHANNELS``) line."""

    name: str
    capacity: int
    length: int
    balance: int
    state: str
    preference: int
    senders: int = 0
    receivers: int = 0
    persistent: bool = False
    #: values that entered the channel, values taken from it (since it was
    #: created), and values moved in the server's last whole second
    sent: int = 0
    received: int = 0
    rate: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def closing(self) -> bool:
        """True once the channel was closed (it may still be draining)."""
        return self.state != "open"

    @property
    def closed(self) -> bool:
        """True once the channel is closed and drained."""
        return self.state == "closed"

    @classmethod
    def from_fields(cls, name: str, fields: Dict[str, Any], line: str = "STAT") -> "ChannelStat":
        fields = dict(fields)
        try:
            values = {
                "capacity": fields.pop("cap"),
                "length": fields.pop("len"),
                "balance": fields.pop("balance"),
                "state": fields.pop("state"),
                "preference": fields.pop("preference"),
            }
        except KeyError as e:
            raise MalformedReply(f"{line} reply for {name} lacks field {e.args[0]}") from None
        for key in ("senders", "receivers", "persistent", "sent", "received", "rate"):
            if key in fields:
                values[key] = fields.pop(key)
        for key in ("capacity", "length", "balance", "preference", "senders", "receivers", "persistent",
                    "sent", "received", "rate"):
            if key in values and not isinstance(values[key], int):
                raise MalformedReply(f"{line} reply for {name}: {key} is not a number")
        if values["state"] not in ("open", "closing", "closed"):
            raise MalformedReply(f"{line} reply for {name}: unknown state {values['state']!r}")
        values["persistent"] = bool(values.get("persistent", 0))
        return cls(name=name, extra=fields, **values)


class ChannelList(list):
    """The channels of ``conn.channels()``; ``total`` counts every match
    (the server lists at most 1000)."""

    total: int = 0


class Selected(tuple):
    """``(channel, operation, value)`` of the select case that fired, as in
    the 2010 stackless.py select prototype; ``index`` is the case's index.
    ``operation`` is ``chand.SEND`` or ``chand.RECEIVE``; ``value`` is the
    value received, or the value sent."""

    def __new__(cls, channel: Any, operation: str, value: Any, index: int) -> "Selected":
        self = super().__new__(cls, (channel, operation, value))
        self._index = index
        return self

    channel = property(lambda self: self[0])
    operation = property(lambda self: self[1])
    value = property(lambda self: self[2])
    index = property(lambda self: self._index)

    def __repr__(self) -> str:
        return f"Selected(channel={self[0]!r}, operation={self[1]!r}, value={self[2]!r}, index={self._index})"


class Case:
    """One select case; made by ``ch.send_case(v)``, ``ch.send_exception_case(...)``
    and ``ch.receive_case()``."""

    __slots__ = ("channel", "operation", "verb", "payload", "value")

    def __init__(self, channel: Any, operation: str, verb: bytes, payload: Optional[bytes], value: Any):
        self.channel = channel
        self.operation = operation
        self.verb = verb
        self.payload = payload
        self.value = value

    def line(self) -> bytes:
        if self.payload is None:
            return b"RECV %s\r\n" % self.channel._name_b
        return payload_line(self.verb, self.channel._name_b, self.payload)

    def __repr__(self) -> str:
        return f"<Case {self.verb.decode()} {self.channel.name}>"


# ---------------------------------------------------------------------------
# Ops: a request, and the interpretation of its (complete) reply


class Op:
    """``request`` bytes; ``interpret(reply)`` returns the result or raises.
    ``interpret`` raises :class:`MalformedReply` when the reply does not fit
    the request (the connection is then out of step and gets closed)."""

    __slots__ = ("request", "interpret")

    def __init__(self, request: bytes, interpret: Callable[[Reply], Any]):
        self.request = request
        self.interpret = interpret


def _unexpected(reply: Reply, request: bytes) -> MalformedReply:
    verb = request.split(b" ", 1)[0].split(b"\r", 1)[0].decode("ascii", "replace")
    return MalformedReply(f"unexpected reply {reply[0]} to {verb}: {reply!r:.200}")


def error_from(reply: Reply, name: Optional[str] = None, case: Optional[int] = None) -> Exception:
    """The exception for an ``ERR`` reply."""
    code, text = reply[1], reply[2]
    if code == "CLOSED" and name is not None:
        return Closed(name, text, case=case)
    return ProtocolError(code, text)


def ok_op(request: bytes, name: Optional[str] = None, expect: str = "OK") -> Op:
    def interpret(reply: Reply) -> None:
        if reply[0] == expect:
            return None
        if reply[0] == "ERR":
            raise error_from(reply, name)
        raise _unexpected(reply, request)

    return Op(request, interpret)


def receive_result(reply: Reply, channel: Any, case: Optional[int] = None) -> Any:
    """The value of a MSG reply, or the exception for EXC/CLOSED."""
    kind = reply[0]
    if kind in ("MSG", "EXC", "CLOSED") and reply[1] != channel.name:
        raise MalformedReply(f"reply names channel {reply[1]} instead of {channel.name}")
    if kind == "MSG":
        return channel._codec.decode(reply[2])
    if kind == "EXC":
        raise exception_from_payload(reply[2], channel.name)
    if kind == "CLOSED":
        raise Closed(channel.name, case=case)
    raise MalformedReply(f"unexpected reply {kind} to a receive on {channel.name}")


def receive_op(channel: Any, timeout: Optional[float]) -> Op:
    request = b"RECV %s%s\r\n" % (channel._name_b, timeout_option(timeout))

    def interpret(reply: Reply) -> Any:
        if reply[0] == "TIMEOUT" and timeout is not None:
            if timeout == 0:
                raise Timeout(f"nothing to receive on {channel.name} (timeout=0)")
            raise Timeout(f"nothing received on {channel.name} within {timeout} s")
        if reply[0] == "ERR":
            raise error_from(reply)
        return receive_result(reply, channel)

    return Op(request, interpret)


def send_op(channel: Any, verb: bytes, payload: bytes, timeout: Optional[float]) -> Op:
    if timeout is None:
        return ok_op(payload_line(verb, channel._name_b, payload), channel.name)
    case = Case(channel, SEND, verb, payload, None)
    select = select_op([case], timeout)

    def interpret(reply: Reply) -> None:
        try:
            select.interpret(reply)
        except Timeout:
            if timeout == 0:
                raise Timeout(f"no receiver or buffer room on {channel.name} (timeout=0)") from None
            raise Timeout(f"no receiver took the value on {channel.name} within {timeout} s") from None

    return Op(select.request, interpret)


def select_op(cases: List[Case], timeout: Optional[float]) -> Op:
    if not cases:
        raise ValueError("select needs at least one case")
    for case in cases:
        if not isinstance(case, Case):
            raise TypeError(f"select cases come from ch.send_case(), ch.receive_case(), not {case!r}")
    request = b"SELECT %d%s\r\n" % (len(cases), timeout_option(timeout)) + b"".join(c.line() for c in cases)

    def interpret(reply: Reply) -> Selected:
        kind = reply[0]
        if kind == "TIMEOUT" and timeout is not None:
            raise Timeout("no select case was ready" if timeout == 0 else f"no select case fired within {timeout} s")
        if kind == "ERR":
            raise error_from(reply)
        if kind != "SELECTED":
            raise _unexpected(reply, request)
        index, inner = reply[1], reply[2]
        if index >= len(cases):
            raise MalformedReply(f"SELECTED {index} for a select of {len(cases)} cases")
        case = cases[index]
        if case.operation == SEND:
            if inner[0] == "OK":
                return Selected(case.channel, SEND, case.value, index)
            if inner[0] == "ERR":
                raise error_from(inner, case.channel.name, index)
            raise MalformedReply(f"unexpected reply {inner[0]} to send case {index}")
        if inner[0] == "ERR":
            raise error_from(inner)
        return Selected(case.channel, RECEIVE, receive_result(inner, case.channel, index), index)

    return Op(request, interpret)


def stat_op(name: str) -> Op:
    name_b = check_name(name)
    request = b"STAT %s\r\n" % name_b

    def interpret(reply: Reply) -> ChannelStat:
        if reply[0] == "STAT" and reply[1] == name_b.decode("ascii"):
            return ChannelStat.from_fields(reply[1], reply[2])
        if reply[0] == "ERR":
            raise error_from(reply)
        raise _unexpected(reply, request)

    return Op(request, interpret)


def channels_op(prefix: str, top: Optional[int] = None) -> Op:
    request = b"CHANNELS %s" % check_name(prefix) if prefix else b"CHANNELS"
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 1000:
            raise ValueError("top is 0-1000")
        request += b" TOP %d" % top
    request += b"\r\n"

    def interpret(reply: Reply) -> ChannelList:
        if reply[0] == "CHANNELS":
            out = ChannelList(ChannelStat.from_fields(n, f, "CHANNEL") for n, f in reply[2])
            out.total = reply[1]
            return out
        if reply[0] == "ERR":
            raise error_from(reply)
        raise _unexpected(reply, request)

    return Op(request, interpret)


def fields_op(verb: str) -> Op:
    request = verb.encode("ascii") + b"\r\n"

    def interpret(reply: Reply) -> Dict[str, Any]:
        if reply[0] == verb:
            return dict(reply[1])
        if reply[0] == "ERR":
            raise error_from(reply)
        raise _unexpected(reply, request)

    return Op(request, interpret)


_PREFERENCES = {-1: b"RECEIVER", 0: b"NONE", 1: b"SENDER", "receiver": b"RECEIVER", "none": b"NONE", "sender": b"SENDER"}


def make_request(name: str, capacity: int, preference: Any) -> bytes:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
        raise ValueError(f"capacity must be an int >= 0, not {capacity!r}")
    request = b"MAKE %s CAP %d" % (check_name(name), capacity)
    if preference is not None:
        key = preference.lower() if isinstance(preference, str) else preference
        if isinstance(key, bool) or key not in _PREFERENCES:
            raise ValueError(f"preference must be -1/'receiver', 0/'none' or 1/'sender', not {preference!r}")
        request += b" PREFER " + _PREFERENCES[key]
    return request + b"\r\n"
