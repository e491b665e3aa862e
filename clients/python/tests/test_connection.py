"""Connections, server commands, channel settings, values and errors."""

import json
import pickle
import time

import pytest

import chand
from chand._protocol import Address, parse_address


def test_ping_hello_info(conn):
    assert 0 <= conn.ping() < 5
    hello = conn.hello()
    assert hello["proto"] == 1
    assert hello["server"].startswith("chand/")
    for key in ("max_line", "max_payload", "max_select_cases", "max_capacity", "max_channels", "max_connections"):
        assert isinstance(hello[key], int) and hello[key] > 0
    before = conn.info()
    conn.ping()
    after = conn.info()
    assert after["commands"] >= before["commands"] + 2
    assert after["connections"] >= 1
    assert isinstance(after["uptime_ms"], int)


def test_connect_address_forms(server_address, monkeypatch):
    host, port = server_address.rsplit(":", 1)
    for conn in (
        chand.connect(host=host, port=int(port)),
        chand.connect((host, int(port))),
        chand.Connection(server_address),
    ):
        with conn:
            assert conn.address == server_address
            conn.ping()
        assert conn.closed
    monkeypatch.setenv("CHAND_ADDR", server_address)
    with chand.connect() as conn:
        assert conn.address == server_address
        conn.ping()


def test_parse_address(monkeypatch):
    monkeypatch.delenv("CHAND_ADDR", raising=False)
    assert parse_address() == Address("127.0.0.1", 7400)
    assert parse_address("example.org") == Address("example.org", 7400)
    assert parse_address("example.org:9") == Address("example.org", 9)
    assert parse_address("[::1]:9") == Address("::1", 9)
    assert parse_address(port=8) == Address("127.0.0.1", 8)
    assert parse_address("a:1", host="b") == Address("b", 1)
    monkeypatch.setenv("CHAND_ADDR", "10.0.0.1:5")
    assert parse_address(port=6) == Address("10.0.0.1", 6)
    with pytest.raises(ValueError):
        parse_address("host:notaport")


def test_connect_refused_is_a_connection_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError):
        chand.connect(f"127.0.0.1:{port}")


def test_make_and_stat_properties(conn, connect, name):
    ch = conn.make(name(), capacity=3, preference="sender")
    assert (ch.capacity, ch.preference, ch.length, ch.balance) == (3, 1, 0, 0)
    assert not ch.closing and not ch.closed
    ch.send(b"a")
    ch.send(b"b")
    stat = ch.stat()
    assert stat.name == ch.name
    assert (stat.capacity, stat.length, stat.state, stat.persistent) == (3, 2, "open", True)
    assert ch.length == 2
    assert ch == conn.channel(ch.name) and ch != connect().channel(ch.name)
    assert len({ch, conn.channel(ch.name)}) == 1
    assert conn.stat(ch.name) == stat
    assert conn.make(name("none"), preference=0).preference == 0
    assert conn.make(name("recv"), preference=-1).preference == -1
    # STAT of a name nobody used describes an empty unbuffered open channel
    fresh = conn.stat(name("unused"))
    assert (fresh.capacity, fresh.length, fresh.state, fresh.persistent) == (0, 0, "open", False)


def test_make_again_and_exists(conn, name):
    conn.make(name(), capacity=2)
    conn.make(name(), capacity=2)  # the same settings again: fine
    with pytest.raises(chand.ProtocolError) as info:
        conn.make(name(), capacity=5)
    assert info.value.code == "EXISTS"
    assert name() in info.value.text
    conn.ping()  # still usable


def test_make_limits(conn, name):
    cap = conn.hello()["max_capacity"]
    with pytest.raises(chand.ProtocolError) as info:
        conn.make(name(), capacity=cap + 1)
    assert info.value.code == "LIMIT"
    with pytest.raises(ValueError):
        conn.make(name(), capacity=-1)
    with pytest.raises(ValueError):
        conn.make(name(), preference="sideways")
    conn.ping()


def test_channels_lists_by_prefix(conn, name):
    for suffix in ("b", "a", "c"):
        conn.make(name(suffix), capacity=1)
    conn.channel(name("a")).send(b"x")
    listed = conn.channels(name())
    assert [c.name for c in listed] == [name("a"), name("b"), name("c")]
    assert listed.total == 3
    assert listed[0].length == 1 and listed[0].capacity == 1
    assert all(isinstance(c, chand.ChannelStat) for c in listed)
    assert conn.channels(name("zzz")) == []
    assert len(conn.channels()) >= 3
    assert (listed[0].sent, listed[0].received) == (1, 0)


def test_channels_top_lists_the_busiest_first(conn, name):
    conn.make(name("held"), capacity=2)
    conn.make(name("busy"), capacity=2)
    conn.channel(name("held")).send(b"x")
    busy = conn.channel(name("busy"))
    deadline = time.monotonic() + 10
    while busy.stat().rate == 0 and time.monotonic() < deadline:  # until a server second saw it busy
        busy.send(b"v")
        busy.receive()
    top = conn.channels(name(), top=2)
    assert [c.name for c in top] == [name("busy"), name("held")]
    assert top[0].rate > 0 and top[0].sent == top[0].received > 0
    assert top[1].length == 1
    assert conn.channels(name(), top=0) == [] and conn.channels(name(), top=0).total == 2
    for bad in (1001, -1, True, "5"):
        with pytest.raises(ValueError):
            conn.channels(top=bad)


@pytest.mark.parametrize("bad", ["", "a b", "x\r\nPING", "tab\t", "caf\u00e9", "n" * 256])
def test_bad_names_are_refused_before_sending(conn, bad):
    with pytest.raises(ValueError):
        conn.channel(bad)
    with pytest.raises(ValueError):
        conn.stat(bad)
    conn.ping()


def test_values_bytes_and_str(conn, name):
    ch = conn.make(name(), capacity=10)
    binary = b"\x00\r\n\r\nSEND x y\r\n{3}\xff"
    for value in (binary, b"", bytearray(b"ba"), memoryview(b"mv"), "h\u00e9llo \u2603"):
        ch.send(value)
    assert ch.receive() == binary
    assert ch.receive() == b""
    assert ch.receive() == b"ba"
    assert ch.receive() == b"mv"
    assert ch.receive() == "h\u00e9llo \u2603".encode("utf-8")
    text = conn.channel(ch.name, decode="utf-8")
    text.send("\u2603")
    assert text.receive() == "\u2603"
    with pytest.raises(TypeError):
        ch.send(42)
    conn.ping()


def test_big_value_and_too_big(conn, name):
    limit = conn.hello()["max_payload"]
    ch = conn.make(name(), capacity=2)
    big = bytes(range(256)) * (limit // 256)  # exactly max_payload
    ch.send(big)
    assert ch.receive() == big
    with pytest.raises(chand.ProtocolError) as info:
        ch.send(b"x" * (limit + 1))
    assert info.value.code == "TOOBIG"
    assert ch.length == 0
    conn.ping()  # the server skipped the payload; the connection is in step


def test_max_payload_value_then_next_request(conn, name, background):
    limit = conn.hello()["max_payload"]
    ch = conn.make(name(), capacity=1)
    ch.send(b"m" * limit)
    assert ch.receive() == b"m" * limit  # a reply of limit + ~60 bytes: above 1 MiB
    pinging = background(conn.ping)
    time.sleep(2)
    if not pinging.done():
        conn.close()  # abort the stuck call
    assert pinging.result(5) >= 0


def test_serializers(connect, name):
    conn = connect(serializer="json")
    ch = conn.make(name(), capacity=5)
    ch.send({"job": 1, "args": [1, 2.5, None, "\u00e9"]})
    assert ch.receive() == {"job": 1, "args": [1, 2.5, None, "\u00e9"]}
    raw = conn.channel(ch.name, serializer=None)
    raw.send(b"[1,2]")
    assert ch.receive() == [1, 2]
    ch.send([3])
    assert raw.receive() == b"[3]"
    pickled = conn.channel(ch.name, serializer="pickle")
    pickled.send({1, 2, 3})
    assert pickled.receive() == {1, 2, 3}

    class Upper:
        def dumps(self, value):
            return value.upper()

        def loads(self, data):
            return data.decode().lower()

    custom = conn.channel(ch.name, serializer=Upper())
    custom.send("abc")
    assert raw.receive() == b"ABC"
    raw.send(b"XYZ")
    assert custom.receive() == "xyz"
    with pytest.raises(ValueError):
        conn.channel(ch.name, decode="utf-8", serializer="json")
    with pytest.raises(TypeError):
        conn.channel(ch.name, serializer="yaml")
    assert json.loads(b"{}") == {} and pickle.loads(pickle.dumps(1)) == 1


def test_connection_default_decode(connect, name):
    conn = connect(decode="utf-8")
    ch = conn.make(name(), capacity=1)
    ch.send(b"abc")
    assert ch.receive() == "abc"
    raw = conn.channel(ch.name, decode=None)
    ch.send("d")
    assert raw.receive() == b"d"


def test_concurrent_use_is_refused_and_close_aborts(conn, name, background, wait_for):
    ch = conn.channel(name())
    blocked = background(ch.receive)
    wait_for(lambda: conn._lock.locked())
    with pytest.raises(chand.ConcurrentUseError):
        conn.ping()
    with pytest.raises(RuntimeError):
        ch.send(b"x")
    conn.close()  # from another thread: aborts the blocked receive
    with pytest.raises(chand.Disconnected):
        blocked.result(5)
    assert conn.closed
    with pytest.raises(chand.Disconnected):
        conn.ping()


def test_aborted_receiver_is_withdrawn(connect, name, background, wait_for):
    a, b = connect(), connect()
    ch = name()
    blocked = background(a.channel(ch).receive)
    wait_for(lambda: b.stat(ch).receivers == 1)
    a.close()
    with pytest.raises(ConnectionError):
        blocked.result(5)
    wait_for(lambda: b.stat(ch).receivers == 0)
    with pytest.raises(chand.Timeout):
        b.channel(ch).send(b"nobody", timeout=0)


def test_clone_and_on(conn, name, background):
    other = conn.clone()
    try:
        assert other is not conn and other.address == conn.address
        ch = conn.channel(name(), decode="ascii")
        there = ch.on(other)
        assert there.connection is other and there.name == ch.name
        sender = background(there.send, "via clone")
        assert ch.receive(timeout=5) == "via clone"
        sender.result()
    finally:
        other.close()


def test_close_is_idempotent_and_final(connect):
    conn = connect()
    with conn:
        conn.ping()
    conn.close()
    with pytest.raises(chand.Disconnected):
        conn.ping()
    assert "closed" in repr(conn)


def test_ping_is_fast(conn):
    start = time.perf_counter()
    for _ in range(200):
        conn.ping()
    assert time.perf_counter() - start < 5
