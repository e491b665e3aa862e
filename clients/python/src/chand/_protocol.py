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
import ipaddress
import json
import math
import os
import pickle
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generator, List, Optional, Tuple

from ._errors import Closed, DecodeError, MalformedReply, ProtocolError, RemoteError, Timeout

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


@dataclass(frozen=True)
class Address:
    """Where a server is: ``host``, ``port`` and whether it speaks TLS."""

    host: str
    port: int
    tls: bool = False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'tls://' if self.tls else ''}{host}:{self.port}"


ADDRESS_GRAMMAR = "host, :port, host:port, [v6]:port, each optionally after tls://"
_PORT = re.compile(r"[0-9]{1,5}\Z")
_HOST = re.compile(r"[A-Za-z0-9._%-]+\Z")  # a name or IPv4 address (IPv6 goes in brackets)


def parse_address(address=None, host: Optional[str] = None, port: Optional[int] = None) -> Address:
    """An :class:`Address` from ``host``, ``:port``, ``host:port``,
    ``[v6]:port`` or ``[v6]``, each optionally after ``tls://`` (a bare IPv6
    address such as ``::1`` is taken as a host), or a ``(host, port)`` tuple;
    ``host``/``port`` override. Without an address: ``$CHAND_ADDR``, else
    ``127.0.0.1:7400``. Anything else raises ``ValueError`` naming the
    grammar."""
    source = "chand address"
    if address is None:
        address = os.environ.get("CHAND_ADDR") or ""
        source = "CHAND_ADDR"
    h: Any = DEFAULT_HOST
    p: Any = DEFAULT_PORT
    tls = False
    if isinstance(address, Address):
        h, p, tls = address.host, address.port, address.tls
    elif isinstance(address, tuple):
        if len(address) != 2:
            raise ValueError(f"bad {source} {address!r}: a (host, port) tuple")
        h, p = address
    else:
        h, p, tls = _parse_address_text(str(address).strip(), source)
    if host is not None:
        h = host
    if port is not None:
        p = port
    if isinstance(p, str):
        if not _PORT.match(p):
            raise ValueError(f"bad port {p!r} in {source} {address!r}: expected {ADDRESS_GRAMMAR}")
        p = int(p)
    if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 65535:
        raise ValueError(f"bad port {p!r} in {source} {address!r}: a port is 1-65535")
    return Address(h or DEFAULT_HOST, p, tls)


def _parse_address_text(text: str, source: str) -> Tuple[str, Any, bool]:
    def bad(why: str) -> ValueError:
        return ValueError(f"bad {source} {text!r}: {why}; expected {ADDRESS_GRAMMAR}")

    tls = False
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() != "tls":
            raise bad(f"unknown scheme {scheme + sep!r}")
        tls, text = True, rest
    h: str = DEFAULT_HOST
    p: Any = DEFAULT_PORT
    if text.startswith("["):
        inside, closed, after = text[1:].partition("]")
        if not closed or not inside:
            raise bad("an IPv6 address in brackets must be [address]")
        if after and not after.startswith(":"):
            raise bad(f"unexpected {after!r} after ]")
        _ip_address(inside, bad)
        h, p = inside, after[1:] if after else DEFAULT_PORT
    elif text.count(":") > 1:
        h = _ip_address(text, bad)  # a bare IPv6 address, default port
    elif ":" in text:
        h, p = text.split(":")
        h = h or DEFAULT_HOST
    elif text:
        h = text
    if ":" not in h and not _HOST.match(h):
        raise bad(f"bad host {h!r}")
    return h, p, tls


def _ip_address(text: str, bad: Callable[[str], ValueError]) -> str:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        raise bad(f"{text!r} is not an IPv6 address") from None
    return text


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
# Exceptions as payloads: "TypeName: text", then "args: <JSON list>" when the
# text alone would not give the arguments back

_ARGS_PREFIX = "\nargs: "
_registered_types: Dict[str, type] = {}
_registered_names: Dict[type, str] = {}


def register_exception(cls: Any = None, *, name: Optional[str] = None) -> Any:
    """Lets receivers raise ``cls`` itself for an exception sent as ``name``
    (default ``module.QualName``, the name a sender of ``cls`` uses).
    Register the class on both sides; a sender of a registered class sends
    its registered name. Works as a decorator too (``@chand.register_exception``
    or ``@chand.register_exception(name="JobFailed")``). Returns ``cls``."""

    def register(exc_class: Any) -> Any:
        if not (isinstance(exc_class, type) and issubclass(exc_class, Exception)):
            raise TypeError(f"register_exception needs an Exception subclass, not {exc_class!r}")
        type_name = name if name is not None else _default_type_name(exc_class)
        if not _TYPE_NAME.match(type_name):
            raise ValueError(f"bad exception type name {type_name!r}")
        _registered_types[type_name] = exc_class
        _registered_names[exc_class] = type_name
        return exc_class

    return register if cls is None else register(cls)


def _default_type_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", cls.__name__)
    if module in (None, "builtins"):
        return qualname
    return f"{module}.{qualname}"


def _type_name(cls: type) -> str:
    return _registered_names.get(cls) or _default_type_name(cls)


def _payload(type_name: str, args: tuple) -> bytes:
    text = " ".join(str(a) for a in args)
    out = f"{type_name}: {text}" if text else type_name
    if args and not (len(args) == 1 and isinstance(args[0], str) and "\n" not in args[0]):
        # repr() for what JSON cannot carry (bytes, objects): it arrives as a str
        out += _ARGS_PREFIX + json.dumps(list(args), ensure_ascii=False, separators=(",", ":"), default=repr)
    return out.encode("utf-8")


def exception_payload(exc: Any, args: tuple) -> bytes:
    """The THROW payload for ``send_exception(exc, *args)``.

    ``exc`` is an exception class (with ``args``), an exception instance
    (its own ``args`` are used), a received :class:`RemoteError` (forwarded
    as it came), or a type name as a string. The payload is
    ``TypeName: text`` in UTF-8, where ``TypeName`` is the registered name,
    the class name for a builtin, else ``module.QualName``, and ``text`` is
    the ``str`` of the arguments joined by single spaces (without arguments
    just ``TypeName``). Unless the arguments are one string without a line
    end, a second line ``args: <JSON list>`` carries them as they were.
    """
    if isinstance(exc, BaseException):
        if args:
            raise TypeError("send_exception(instance) takes no further arguments")
        if isinstance(exc, RemoteError):
            if exc.type_name is None:
                return exc.text.encode("utf-8")
            return _payload(exc.type_name, exc.arguments)
        return _payload(_type_name(type(exc)), exc.args)
    if isinstance(exc, type) and issubclass(exc, BaseException):
        return _payload(_type_name(exc), args)
    if isinstance(exc, str):
        if not _TYPE_NAME.match(exc):
            raise ValueError(f"bad exception type name {exc!r}")
        return _payload(exc, args)
    raise TypeError(f"send_exception needs an exception class or instance, not {exc!r}")


def exception_from_payload(data: bytes, channel: Optional[str] = None) -> BaseException:
    """The exception a receiver raises for an ``EXC`` payload: the class
    registered under ``TypeName``, else the builtin exception class it names
    (``Exception`` subclasses only: ``SystemExit``, ``KeyboardInterrupt`` and
    ``GeneratorExit`` are not taken from the network), made with the sent
    arguments; else :class:`RemoteError`."""
    text = data.decode("utf-8", "replace")
    arguments: Optional[tuple] = None
    body, found, last = text.rpartition(_ARGS_PREFIX)
    if found and "\n" not in last:
        try:
            parsed = json.loads(last)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            text, arguments = body, tuple(parsed)
    head, colon, rest = text.partition(":")
    if colon and _TYPE_NAME.match(head):
        type_name, message = head, rest[1:] if rest.startswith(" ") else rest
    elif not colon and _TYPE_NAME.match(text):
        type_name, message = text, ""
    else:
        type_name, message = None, text
    if arguments is None:
        arguments = (message,) if message else ()
    if type_name is not None:
        cls = _registered_types.get(type_name)
        if cls is None and "." not in type_name:
            cls = getattr(builtins, type_name, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                return cls(*arguments)
            except Exception:  # a constructor that wants other arguments
                pass
    return RemoteError(type_name, message, channel, arguments)


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
    ``("MSG", chan, bytes, tag)``, ``("EXC", chan, bytes, tag)`` (``tag`` None
    unless the receive asked for ACK), ``("CLOSED", chan)``,
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
        # MSG <chan> <n> [<tag>]: a tag when the receive asked for ACK
        parts = rest.split(b" ")
        if len(parts) not in (2, 3):
            raise _malformed("bad message header", line)
        chan, n = _name(parts[0], line), _number(parts[1], line)
        tag = _number(parts[2], line) if len(parts) == 3 else None
        if tag == 0:
            raise _malformed("delivery tag 0 (tags are positive)", line)
        if n > MAX_PAYLOAD_LENGTH:
            raise _malformed("payload length too large", line)
        data = yield n + 2
        if data[n:] != b"\r\n":
            raise _malformed(f"payload of {n} bytes not followed by CRLF", line)
        return (head.decode("ascii"), chan, data[:n], tag)
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
    #: values delivered to a receive with ACK and not yet acknowledged
    held: int = 0
    #: True for a channel made with ``durable=True`` (kept on disk)
    durable: bool = False
    #: False when the server says nobody uses the name (the other fields
    #: then describe a fresh channel); None when the server does not say
    exists: Optional[bool] = None
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
        for key in _OPTIONAL_STAT_FIELDS:
            if key in fields:
                values[key] = fields.pop(key)
        for key, value in values.items():
            if key != "state" and not isinstance(value, int):
                raise MalformedReply(f"{line} reply for {name}: {key} is not a number")
        if values["state"] not in ("open", "closing", "closed"):
            raise MalformedReply(f"{line} reply for {name}: unknown state {values['state']!r}")
        for key in ("persistent", "durable", "exists"):
            if key in values:
                values[key] = bool(values[key])
        return cls(name=name, extra=fields, **values)


# STAT fields after the first five; keys the client does not know go to ``extra``
_OPTIONAL_STAT_FIELDS = ("senders", "receivers", "persistent", "sent", "received", "rate", "held", "durable", "exists")


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


def receive_result(reply: Reply, channel: Any, conn: Any, case: Optional[int] = None, ack: bool = False) -> Any:
    """The value of a MSG reply (a :class:`Delivery` held by ``conn``, the
    connection that received it, with ``ack``), or the exception for
    EXC/CLOSED. An EXC received with ACK is acknowledged: raising it is its
    delivery."""
    kind = reply[0]
    if kind in ("MSG", "EXC", "CLOSED") and reply[1] != channel.name:
        raise MalformedReply(f"reply names channel {reply[1]} instead of {channel.name}")
    if kind in ("MSG", "EXC"):
        data, tag = reply[2], reply[3]
        if ack != (tag is not None):
            raise MalformedReply(
                f"{kind} on {channel.name} " + (f"with delivery tag {tag} to a receive without ACK" if tag else
                                                 "without a delivery tag to a receive with ACK"))
        if tag is not None:
            if tag in conn._held:
                raise MalformedReply(f"delivery tag {tag} given twice")
            conn._held.add(tag)
        if kind == "EXC":
            if tag is not None:
                conn._settle_later(tag, ACK)
            raise exception_from_payload(data, channel.name)
        try:
            value = channel._codec.decode(data)
        except Exception as e:
            delivery = conn._Delivery(conn, channel, tag, data) if tag is not None else None
            raise DecodeError(channel.name, data, f"{type(e).__name__}: {e}", delivery) from e
        return conn._Delivery(conn, channel, tag, value) if tag is not None else value
    if kind == "CLOSED":
        raise Closed(channel.name, case=case)
    raise MalformedReply(f"unexpected reply {kind} to a receive on {channel.name}")


def receive_op(channel: Any, timeout: Optional[float], ack: bool = False) -> Op:
    request = b"RECV %s%s%s\r\n" % (channel._name_b, timeout_option(timeout), b" ACK" if ack else b"")

    def interpret(reply: Reply) -> Any:
        if reply[0] == "TIMEOUT" and timeout is not None:
            if timeout == 0:
                raise Timeout(f"nothing to receive on {channel.name} (timeout=0)")
            raise Timeout(f"nothing received on {channel.name} within {timeout} s")
        if reply[0] == "ERR":
            raise error_from(reply)
        return receive_result(reply, channel, channel._conn, ack=ack)

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


def live_cases(cases: List[Optional[Case]]) -> List[Tuple[int, Case]]:
    """``(index, case)`` of the cases that are not None (a None case is
    skipped, as a nil channel is in Go's select)."""
    if not cases:
        raise ValueError("select needs at least one case")
    live = [(i, c) for i, c in enumerate(cases) if c is not None]
    if not live:
        raise ValueError("select needs at least one case that is not None (None cases are skipped)")
    for _, case in live:
        if not isinstance(case, Case):
            raise TypeError(f"select cases come from ch.send_case(), ch.receive_case() or None, not {case!r}")
    return live


def select_op(cases: List[Optional[Case]], timeout: Optional[float], ack: bool = False, conn: Any = None) -> Op:
    """``conn`` is the connection that runs the select (it holds what a receive
    case gets with ``ack``)."""
    live = live_cases(cases)
    request = (b"SELECT %d%s%s\r\n" % (len(live), timeout_option(timeout), b" ACK" if ack else b"")
               + b"".join(c.line() for _, c in live))

    def interpret(reply: Reply) -> Selected:
        kind = reply[0]
        if kind == "TIMEOUT" and timeout is not None:
            raise Timeout("no select case was ready" if timeout == 0 else f"no select case fired within {timeout} s")
        if kind == "ERR":
            raise error_from(reply)
        if kind != "SELECTED":
            raise _unexpected(reply, request)
        fired, inner = reply[1], reply[2]
        if fired >= len(live):
            raise MalformedReply(f"SELECTED {fired} for a select of {len(live)} cases")
        index, case = live[fired]
        if case.operation == SEND:
            if inner[0] == "OK":
                return Selected(case.channel, SEND, case.value, index)
            if inner[0] == "ERR":
                raise error_from(inner, case.channel.name, index)
            raise MalformedReply(f"unexpected reply {inner[0]} to send case {index}")
        if inner[0] == "ERR":
            raise error_from(inner)
        return Selected(case.channel, RECEIVE, receive_result(inner, case.channel, conn, index, ack), index)

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


def make_request(name: str, capacity: int, preference: Any, durable: bool = False) -> bytes:
    """``MAKE <chan> CAP <n> [PREFER ...] [DURABLE]``."""
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
        raise ValueError(f"capacity must be an int >= 0, not {capacity!r}")
    request = b"MAKE %s CAP %d" % (check_name(name), capacity)
    if preference is not None:
        request += b" PREFER " + preference_keyword(preference)
    if durable:
        request += b" DURABLE"
    return request + b"\r\n"


def preference_keyword(preference: Any) -> bytes:
    key = preference.lower() if isinstance(preference, str) else preference
    if isinstance(key, bool) or key not in _PREFERENCES:
        raise ValueError(f"preference must be -1/'receiver', 0/'none' or 1/'sender', not {preference!r}")
    return _PREFERENCES[key]



# ---------------------------------------------------------------------------
# Acknowledged delivery

ACK = b"ACK"
NACK = b"NACK"


def settle_request(verb: bytes, tag: int) -> bytes:
    """``ACK <tag>`` or ``NACK <tag>`` (the server answers neither)."""
    return b"%s %d\r\n" % (verb, tag)


class DeliveryBase:
    """A value received with ``ack=True``. The server holds it for this
    connection until ``ack()`` (the receiver has it: the sender's send
    completes) or ``nack()`` (it goes back to the front of its channel); a
    connection that ends while holding it gives it back too.

    ``value`` is the decoded value, ``tag`` the server's delivery tag,
    ``channel`` the channel object, ``connection`` the connection holding it,
    ``settled`` None, ``"ack"`` or ``"nack"``."""

    __slots__ = ("connection", "channel", "tag", "value", "settled")

    def __init__(self, connection: Any, channel: Any, tag: int, value: Any):
        self.connection = connection
        self.channel = channel
        self.tag = tag
        self.value = value
        self.settled: Optional[str] = None

    def _settling(self, verb: bytes) -> bytes:
        if self.settled is not None:
            raise ValueError(f"delivery {self.tag} on {self.channel.name} was already settled ({self.settled})")
        self.settled = "ack" if verb == ACK else "nack"
        return settle_request(verb, self.tag)

    def __repr__(self) -> str:
        return f"<chand.Delivery {self.channel.name} tag={self.tag} {self.settled or 'held'} value={self.value!r:.80}>"
