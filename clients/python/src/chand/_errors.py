"""Exceptions raised by the chand client."""

from typing import Optional

__all__ = [
    "ChandError",
    "Closed",
    "Timeout",
    "ProtocolError",
    "MalformedReply",
    "RemoteError",
    "Disconnected",
    "ConcurrentUseError",
    "DecodeError",
]


class ChandError(Exception):
    """Base class of every exception the client defines."""


class Closed(ChandError, ValueError):
    """The channel is closed.

    Raised by ``send`` on a closing or closed channel (``ERR CLOSED``) and by
    ``receive`` once a closed channel has been drained (``CLOSED <chan>``).
    It is a ``ValueError`` as in Stackless, where operations on a closed
    channel raise ``ValueError``. ``name`` is the channel name; ``case`` is
    the index of the select case that hit the closed channel, else None.
    """

    def __init__(self, name: str, text: str = "", case: Optional[int] = None, sent: Optional[int] = None):
        self.name = name
        self.text = text or f"channel {name} is closed"
        self.case = case
        self.sent = sent
        super().__init__(self.text)


class Timeout(ChandError, TimeoutError):
    """A ``timeout=`` given to receive, send or select ran out (``TIMEOUT``).

    With ``timeout=0`` (``NOWAIT``) it means that nothing was ready.
    Nothing was sent or received: the server withdrew the operation.
    """


class ProtocolError(ChandError):
    """The server answered ``ERR <code> <text>``. The connection stays usable."""

    def __init__(self, code: str, text: str = ""):
        self.code = code
        self.text = text
        super().__init__(code, text)

    def __str__(self) -> str:
        return f"{self.code} {self.text}".rstrip()


class MalformedReply(ProtocolError):
    """The server's reply could not be parsed or did not fit the request.

    ``code`` is ``"BADREPLY"`` (a client-side code, never sent by a server).
    The client cannot tell where the next reply starts, so the connection is
    closed; later calls on it raise :class:`Disconnected`.
    """

    def __init__(self, text: str):
        super().__init__("BADREPLY", text)


class RemoteError(ChandError):
    """An exception sent with ``send_exception`` whose type is neither a
    builtin nor registered with :func:`chand.register_exception`.

    ``type_name`` is the sender's type name (``module.QualName``), or None
    when the payload was not in the ``TypeName: text`` form; ``text`` is the
    message; ``arguments`` the sender's exception arguments when the payload
    carried them, else ``(text,)`` (or ``()`` without text). ``str(err)``
    gives the ``TypeName: text`` line back.
    """

    def __init__(
        self,
        type_name: Optional[str],
        text: str,
        channel: Optional[str] = None,
        arguments: Optional[tuple] = None,
    ):
        self.type_name = type_name
        self.text = text
        self.channel = channel
        self.arguments = tuple(arguments) if arguments is not None else ((text,) if text else ())
        super().__init__(type_name, text)

    def __str__(self) -> str:
        if self.type_name is None:
            return self.text
        return f"{self.type_name}: {self.text}" if self.text else self.type_name


class DecodeError(ChandError, ValueError):
    """A received value could not be decoded (``decode=`` or ``serializer=``
    failed on it). The value is not lost: ``data`` holds its raw bytes and
    ``channel`` the channel's name; the decoder's own exception is
    ``__cause__``. With ``ack=True`` the value is still held: ``delivery``
    is its :class:`chand.Delivery` (``ack()`` to drop it, ``nack()`` to
    give it back); otherwise ``delivery`` is None."""

    def __init__(self, channel: str, data: bytes, reason: str, delivery=None):
        self.channel = channel
        self.data = data
        self.delivery = delivery
        shown = data if len(data) <= 60 else data[:60] + b"..."
        super().__init__(f"cannot decode a value received on {channel} ({reason}): {shown!r}")


class Disconnected(ChandError, ConnectionError):
    """The connection is closed: by the server (end of input, possibly in
    the middle of a reply), by ``close()``, or after an error that left it
    out of step with the server."""


class ConcurrentUseError(ChandError, RuntimeError):
    """Two threads (or two asyncio tasks) used one connection at once.

    A connection is one server-side tasklet: its requests run one after the
    other. Give every thread or task its own connection (``conn.clone()``).
    """


# Tracebacks and reprs name the classes where programs find them
# (chand.Closed), not the private module that defines them.
for _cls in (ChandError, Closed, Timeout, ProtocolError, MalformedReply, RemoteError, DecodeError, Disconnected,
             ConcurrentUseError):
    _cls.__module__ = "chand"
del _cls
