"""select: ready cases, blocking, timeouts, NOWAIT, closed channels, fairness."""

import math
import time

import pytest

import chand


def test_select_takes_the_ready_receive(conn, name):
    empty = conn.channel(name("empty"))
    full = conn.make(name("full"), capacity=1, decode="ascii")
    full.send("ready")
    ch, op, value = conn.select([empty.receive_case(), full.receive_case()], timeout=1)
    assert (ch, op, value) == (full, chand.RECEIVE, "ready")
    result = conn.select([full.send_case("again"), empty.receive_case()])
    assert (result.channel, result.operation, result.value, result.index) == (full, chand.SEND, "again", 0)
    assert isinstance(result, tuple) and len(result) == 3
    assert full.receive() == "again"


def test_select_timeout_and_nowait_leave_nothing_queued(conn, name):
    a, b = conn.channel(name("a")), conn.make(name("b"), capacity=1)
    b.send(b"fill")
    cases = [a.receive_case(), a.send_case(b"x"), b.send_case(b"y")]
    start = time.monotonic()
    with pytest.raises(chand.Timeout):
        conn.select(cases, timeout=0)
    assert time.monotonic() - start < 1
    start = time.monotonic()
    with pytest.raises(chand.Timeout):
        conn.select(cases, timeout=0.15)
    assert 0.14 <= time.monotonic() - start < 3
    for ch in (a, b):
        stat = ch.stat()
        assert (stat.senders, stat.receivers) == (0, 0)
    assert b.receive() == b"fill"


def test_blocked_select_fired_by_another_thread(connect, name, background, wait_for):
    conn, other = connect(), connect()
    a, b = conn.channel(name("a")), conn.channel(name("b"))
    waiting = background(conn.select, [a.receive_case(), b.receive_case(), b.send_case(b"unused")])
    wait_for(lambda: other.stat(b.name).receivers == 1)
    other.channel(b.name).send(b"to b")
    assert waiting.result() == (b, chand.RECEIVE, b"to b")
    for ch in (a.name, b.name):  # every other case was withdrawn
        stat = other.stat(ch)
        assert (stat.senders, stat.receivers) == (0, 0)


def test_blocked_send_case_fired_by_a_receiver(connect, name, background, wait_for):
    conn, other = connect(), connect()
    a, b = conn.channel(name("a")), conn.channel(name("b"))
    waiting = background(conn.select, [a.send_case(b"for a"), b.send_case(b"for b")])
    wait_for(lambda: other.stat(a.name).senders == 1)
    assert other.channel(a.name).receive(timeout=5) == b"for a"
    assert waiting.result() == (a, chand.SEND, b"for a")
    assert other.stat(b.name).senders == 0


def test_select_send_and_receive_on_one_channel(connect, name, background):
    """Two tasklets each offer to send and to receive on one channel: both
    progress, and neither receives its own value."""
    def offer(value):
        c = connect()
        ch = c.channel(name())
        return c.select([ch.send_case(value), ch.receive_case()], timeout=5)

    first, second = background(offer, b"one"), background(offer, b"two")
    results = sorted([first.result()[1:], second.result()[1:]])
    assert results in (
        [(chand.RECEIVE, b"two"), (chand.SEND, b"two")],
        [(chand.RECEIVE, b"one"), (chand.SEND, b"one")],
    )


def test_select_on_closed_channels(conn, name):
    closed = conn.channel(name("closed"))
    closed.close()
    idle = conn.channel(name("idle"))
    with pytest.raises(chand.Closed) as info:
        conn.select([idle.receive_case(), closed.receive_case()])
    assert (info.value.name, info.value.case) == (closed.name, 1)
    with pytest.raises(chand.Closed) as info:
        conn.select([idle.receive_case(), closed.send_case(b"x")], timeout=0)
    assert (info.value.name, info.value.case) == (closed.name, 1)


def test_select_receives_exceptions(conn, name):
    ch = conn.make(name(), capacity=1)
    result = conn.select([ch.send_exception_case(LookupError, "nope")])
    assert result.operation == chand.SEND and result.index == 0
    with pytest.raises(LookupError, match="nope"):
        conn.select([ch.receive_case()])


def test_module_level_select(connect, name):
    conn = connect()
    ch = conn.make(name(), capacity=1)
    assert chand.select([ch.send_case(b"x")]) == (ch, chand.SEND, b"x")
    assert chand.select([ch.receive_case()], timeout=1) == (ch, chand.RECEIVE, b"x")
    foreign = connect().channel(name())
    with pytest.raises(ValueError):
        chand.select([ch.receive_case(), foreign.receive_case()])
    with pytest.raises(ValueError):
        conn.select([])
    with pytest.raises(TypeError):
        conn.select([ch])


def test_select_limit_is_a_protocol_error(conn, name):
    limit = conn.hello()["max_select_cases"]
    ch = conn.channel(name())
    with pytest.raises(chand.ProtocolError) as info:
        conn.select([ch.receive_case()] * (limit + 1), timeout=0)
    assert info.value.code == "LIMIT"
    conn.ping()


def test_select_fairness(conn, name):
    """Among ready cases the server picks uniformly: each of 4 always-ready
    cases (behind a never-ready one) wins N/4 times, within 5 sigma."""
    n = 2000
    ready = [conn.make(name(str(i)), capacity=n) for i in range(4)]
    never = conn.channel(name("never"))
    cases = [never.receive_case()] + [ch.send_case(b".") for ch in ready]
    counts = [0] * 5
    for _ in range(n):
        counts[conn.select(cases, timeout=0).index] += 1
    assert counts[0] == 0
    expected = n / 4
    sigma = math.sqrt(n * 0.25 * 0.75)
    for count in counts[1:]:
        assert abs(count - expected) < 5 * sigma, counts
    assert [ch.length for ch in ready] == counts[1:]
