"""The client's reply parser against a fake server that answers whatever
bytes a test gives it: malformed replies raise MalformedReply (and close
the connection), truncated replies on a closed socket raise Disconnected;
neither hangs."""

import asyncio
import threading
import time

import pytest

import chand
import chand.aio


def call_in_thread(fn, timeout=5):
    """fn() must return or raise within `timeout` seconds."""
    outcome = {}

    def main():
        try:
            outcome["result"] = fn()
        except BaseException as e:
            outcome["error"] = e

    t = threading.Thread(target=main, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "the client hung"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def recv(conn):
    return conn.channel("jobs").receive()


def select2(conn):
    jobs = conn.channel("jobs")
    return conn.select([jobs.send_case(b"x"), jobs.receive_case()])


MALFORMED = [
    ("ping", b"PONG extra\r\n"),
    ("ping", b"WHAT\r\n"),
    ("ping", b"PONG\n"),  # bare LF
    ("ping", b"ERR lowercase code\r\n"),
    ("recv", b"OK\r\n"),  # not a reply to RECV
    ("recv", b"MSG jobs x\r\n"),
    ("recv", b"MSG jobs -1\r\n"),
    ("recv", b"MSG jobs\r\n"),
    ("recv", b"MSG jobs 3\r\nabcXY\r\n"),  # payload not followed by CRLF
    ("recv", b"MSG other 1\r\nx\r\n"),  # another channel's value
    ("recv", b"MSG bad\x01name 1\r\nx\r\n"),
    ("recv", b"TIMEOUT\r\n"),  # no timeout was asked for
    ("select", b"SELECTED 7 OK\r\n"),  # no such case
    ("select", b"SELECTED 0 MSG jobs 1\r\nx\r\n"),  # a value for a send case
    ("select", b"SELECTED 1 OK\r\n"),  # OK for a receive case
    ("select", b"SELECTED x OK\r\n"),
    ("select", b"SELECTED 0 SELECTED 0 OK\r\n"),
    ("stat", b"STAT jobs cap=0 len=0\r\n"),  # fields missing
    ("stat", b"STAT other cap=0 len=0 balance=0 state=open preference=-1\r\n"),
    ("stat", b"STAT jobs cap=0 len=0 balance=0 state=weird preference=-1\r\n"),
    ("channels", b"CHANNELS 1 total=1\r\nSTAT jobs cap=0\r\n"),
    ("info", b"INFO novalue\r\n"),
]

CALLS = {
    "ping": lambda c: c.ping(),
    "recv": recv,
    "select": select2,
    "stat": lambda c: c.stat("jobs"),
    "channels": lambda c: c.channels(),
    "info": lambda c: c.info(),
}


@pytest.mark.parametrize("call,reply", MALFORMED)
def test_malformed_reply_raises_and_closes(fake, call, reply):
    server = fake(reply, close=False)  # the socket stays open: no EOF to help
    conn = chand.connect(server.address)
    with pytest.raises(chand.MalformedReply) as info:
        call_in_thread(lambda: CALLS[call](conn))
    assert info.value.code == "BADREPLY"
    assert isinstance(info.value, chand.ProtocolError)
    assert conn.closed
    with pytest.raises(chand.Disconnected):
        conn.ping()


TRUNCATED = [
    ("ping", b""),
    ("ping", b"PON"),
    ("ping", b"PONG\r"),
    ("recv", b"MSG jobs 10\r\nabc"),
    ("recv", b"MSG jobs 3\r\nabc"),
    ("recv", b"MSG jobs 3\r\nabc\r"),
    ("select", b"SELECTED 1 MSG jobs 5\r\n"),
    ("channels", b"CHANNELS 2 total=2\r\nCHANNEL a cap=0 len=0 balance=0 state=open preference=-1\r\n"),
]


@pytest.mark.parametrize("call,reply", TRUNCATED)
def test_truncated_reply_raises_disconnected(fake, call, reply):
    server = fake(reply, close=True)
    conn = chand.connect(server.address)
    with pytest.raises(chand.Disconnected) as info:
        call_in_thread(lambda: CALLS[call](conn))
    assert isinstance(info.value, ConnectionError)
    if reply:
        assert "middle of a reply" in str(info.value)
    assert conn.closed


def test_request_bytes_use_counted_payloads(fake):
    server = fake(b"OK\r\nSELECTED 0 OK\r\nOK\r\n")
    conn = chand.connect(server.address)
    ch = conn.channel("jobs")
    ch.send(b"a b\r\nc")
    conn.select([ch.send_exception_case(ValueError, "v")], timeout=1.5)
    ch.close()
    conn.close()
    expected = (
        b"SEND jobs {6}\r\na b\r\nc\r\n"
        b"SELECT 1 TIMEOUT 1500\r\nTHROW jobs {13}\r\nValueError: v\r\n"
        b"CLOSE jobs\r\n"
    )
    for _ in range(100):
        if len(server.request) >= len(expected):
            break
        time.sleep(0.02)
    assert server.request == expected


def test_server_error_then_close(fake):
    """A server at its connection limit answers ERR LIMIT and closes."""
    server = fake(b"ERR LIMIT too many connections (max 1)\r\n", close=True)
    conn = chand.connect(server.address)
    with pytest.raises(chand.ProtocolError) as info:
        call_in_thread(conn.ping)
    assert (info.value.code, info.value.text) == ("LIMIT", "too many connections (max 1)")
    assert not isinstance(info.value, chand.MalformedReply)
    with pytest.raises(chand.Disconnected):
        call_in_thread(conn.ping)


def test_aio_malformed_and_truncated(fake):
    async def main():
        conn = await chand.aio.connect(fake(b"MSG jobs 3\r\nabcXY\r\n").address)
        with pytest.raises(chand.MalformedReply):
            await conn.channel("jobs").receive()
        assert conn.closed
        conn = await chand.aio.connect(fake(b"MSG jobs 10\r\nabc", close=True).address)
        with pytest.raises(chand.Disconnected, match="middle of a reply"):
            await conn.channel("jobs").receive()
        with pytest.raises(chand.Disconnected):
            await conn.ping()

    asyncio.run(asyncio.wait_for(main(), 10))


def test_new_and_unknown_fields_are_read(fake):
    server = fake(b"STAT q cap=2 len=1 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 "
                  b"sent=1 received=0 rate=0 held=3 exists=1 durable=1 future=x later=7\r\n"
                  b"INFO connections=1 held=3 redelivered=2 memory_used=10 memory_max=20 someday=yes\r\n"
                  b"HELLO proto=1 server=chand/0.2.0 max_held=1024 tls=1\r\n")
    with chand.connect(server.address) as conn:
        stat = conn.stat("q")
        info = conn.info()
        hello = conn.hello()
    assert (stat.held, stat.exists, stat.durable) == (3, True, True)
    assert stat.extra == {"future": "x", "later": 7}
    assert (info["held"], info["redelivered"], info["someday"]) == (3, 2, "yes")
    assert (hello["max_held"], hello["tls"]) == (1024, 1)
