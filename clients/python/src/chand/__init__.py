"""Client for chand, a network channel server with the semantics of
Stackless Python's channels and Go's select.

::

    import chand

    conn = chand.connect("127.0.0.1:7400")
    jobs = conn.channel("jobs", decode="utf-8")
    jobs.send("hello")            # blocks until a receiver takes it
    value = jobs.receive()        # in another thread, with its own connection
    for value in jobs: ...        # receives until the channel is closed

A connection is one server-side tasklet: one thread each (``conn.clone()``).
``chand.aio`` has the same API for asyncio.
"""

from ._errors import (
    ChandError,
    Closed,
    ConcurrentUseError,
    DecodeError,
    Disconnected,
    MalformedReply,
    ProtocolError,
    RemoteError,
    Timeout,
)
from ._protocol import RECEIVE, SEND, Case, ChannelList, ChannelStat, Selected, register_exception
from ._sync import Channel, Connection, Delivery, connect, select
from . import aio

__version__ = "0.1.0"

__all__ = [
    "connect",
    "select",
    "register_exception",
    "Connection",
    "Channel",
    "Case",
    "Selected",
    "Delivery",
    "ChannelStat",
    "ChannelList",
    "SEND",
    "RECEIVE",
    "ChandError",
    "Closed",
    "Timeout",
    "ProtocolError",
    "MalformedReply",
    "RemoteError",
    "Disconnected",
    "ConcurrentUseError",
    "DecodeError",
    "aio",
]
