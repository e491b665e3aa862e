"""send / receive / send_exception / send_sequence / iteration / close,
between threads that each have their own connection."""

import socket
import time

import pytest

import chand


def test_producer_and_consumer_threads(connect, name, background):
    values = [b"value %d" % i for i in range(300)]
    producer_conn = connect()

    def produce():
        ch = producer_conn.channel(name())
        for v in values:
            ch.send(v)
        ch.close()

    producer = background(produce)
    received = list(connect().channel(name()))
    producer.result()
    assert received == values


def test_send_waits_for_a_receiver(connect, name, background, wait_for):
    sender, receiver = connect(), connect()
    pending = background(sender.channel(name()).send, b"rendezvous")
    ch = receiver.channel(name())
    wait_for(lambda: ch.balance == 1)  # one sender waiting
    time.sleep(0.05)
    assert not pending.done()
    assert ch.receive(timeout=5) == b"rendezvous"
    pending.result()
    assert ch.balance == 0


def test_receive_waits_for_a_sender(connect, name, background, wait_for):
    sender, receiver = connect(), connect()
    pending = background(receiver.channel(name()).receive)
    ch = sender.channel(name())
    wait_for(lambda: ch.balance == -1)
    stat = ch.stat()
    assert (stat.receivers, stat.senders) == (1, 0)
    ch.send(b"x")
    assert pending.result() == b"x"


def test_buffered_sends_complete_until_full(conn, name):
    ch = conn.make(name(), capacity=3)
    for v in (b"1", b"2", b"3"):
        ch.send(v)
    with pytest.raises(chand.Timeout):
        ch.send(b"4", timeout=0)  # full: NOWAIT gives up at once
    assert ch.length == 3
    assert [ch.receive(), ch.receive(), ch.receive()] == [b"1", b"2", b"3"]


def test_receive_timeouts(conn, name):
    ch = conn.channel(name())
    start = time.monotonic()
    with pytest.raises(chand.Timeout):
        ch.receive(timeout=0)
    assert time.monotonic() - start < 1
    start = time.monotonic()
    with pytest.raises(TimeoutError):  # chand.Timeout is a TimeoutError
        ch.receive(timeout=0.15)
    elapsed = time.monotonic() - start
    assert 0.14 <= elapsed < 3
    stat = ch.stat()
    assert (stat.receivers, stat.balance) == (0, 0)  # nothing left waiting
    with pytest.raises(ValueError):
        ch.receive(timeout=-1)


def test_send_timeouts(connect, name, background, wait_for):
    conn = connect()
    ch = conn.channel(name())
    start = time.monotonic()
    with pytest.raises(chand.Timeout):
        ch.send(b"lost?", timeout=0.1)
    assert 0.09 <= time.monotonic() - start < 3
    assert ch.stat().senders == 0
    with pytest.raises(chand.Timeout):
        ch.receive(timeout=0)  # the timed-out value was not left behind
    receiver = background(connect().channel(name()).receive)
    wait_for(lambda: ch.balance == -1)
    ch.send(b"now", timeout=0)  # a receiver waits: NOWAIT succeeds
    assert receiver.result() == b"now"


def test_iteration_until_close(connect, name, background):
    producer_conn = connect()

    def produce():
        ch = producer_conn.channel(name(), serializer="json")
        count = ch.send_sequence({"n": i} for i in range(100))
        ch.close()
        return count

    producer = background(produce)
    got = [v["n"] for v in connect().channel(name(), serializer="json")]
    assert producer.result() == 100
    assert got == list(range(100))


def test_close_drains_then_closed(connect, name, background, wait_for):
    conn = connect()
    ch = conn.make(name(), capacity=2)
    ch.send(b"a")
    ch.send(b"b")
    blocked_sender = background(connect().channel(name()).send, b"c")
    wait_for(lambda: ch.balance == 1)
    ch.close()
    ch.close()  # again: fine
    assert ch.closing and not ch.closed
    with pytest.raises(chand.Closed) as info:
        ch.send(b"late")
    assert info.value.name == ch.name
    assert isinstance(info.value, ValueError)  # as in Stackless
    assert list(ch) == [b"a", b"b", b"c"]
    blocked_sender.result()
    assert ch.closed
    with pytest.raises(chand.Closed):
        ch.receive()
    with pytest.raises(chand.Closed):
        ch.receive(timeout=0)


def test_close_wakes_blocked_receivers(connect, name, background, wait_for):
    receivers = [background(connect().channel(name()).receive) for _ in range(3)]
    conn = connect()
    wait_for(lambda: conn.stat(name()).receivers == 3)
    conn.channel(name()).close()
    for r in receivers:
        with pytest.raises(chand.Closed):
            r.result()


def test_send_exception_builtin(connect, name, background):
    conn = connect()
    ch = conn.make(name(), capacity=10)
    ch.send_exception(ValueError, "bad job")
    ch.send_exception(KeyError("k"))
    ch.send_exception(ZeroDivisionError)
    ch.send_exception(OSError, "disk", "full")
    with pytest.raises(ValueError) as info:
        ch.receive()
    assert type(info.value) is ValueError and str(info.value) == "bad job"
    with pytest.raises(KeyError) as info:
        ch.receive()
    assert info.value.args == ("k",)
    with pytest.raises(ZeroDivisionError) as info:
        ch.receive()
    assert info.value.args == ()
    with pytest.raises(OSError) as info:
        ch.receive()
    assert info.value.args == ("disk", "full")  # arguments kept, as the sender's OSError had them
    ch.send(b"plain")
    assert ch.receive() == b"plain"  # the channel carries on

    # unbuffered, between two threads: it blocks like send
    sender = background(connect().channel(name("u")).send_exception, IndexError, "out of range")
    with pytest.raises(IndexError, match="out of range"):
        conn.channel(name("u")).receive(timeout=5)
    sender.result()


class JobFailed(Exception):
    pass


def test_send_exception_custom(conn, name):
    ch = conn.make(name(), capacity=10)
    ch.send_exception(JobFailed, "job 7", "failed")
    ch.send_exception(JobFailed("as instance"))
    ch.send_exception("myapp.Quota")
    ch.send_exception(SystemExit, "not raised as such")
    with pytest.raises(chand.RemoteError) as info:
        ch.receive()
    err = info.value
    assert err.type_name == f"{__name__}.JobFailed"
    assert err.text == "job 7 failed"
    assert err.arguments == ("job 7", "failed")
    assert err.channel == ch.name
    assert str(err) == f"{__name__}.JobFailed: job 7 failed"
    with pytest.raises(chand.RemoteError) as info:
        ch.receive()
    assert info.value.text == "as instance"
    ch.send_exception(info.value)  # forwarding keeps the remote type name
    with pytest.raises(chand.RemoteError) as info:
        ch.receive()
    assert (info.value.type_name, info.value.text) == ("myapp.Quota", "")
    with pytest.raises(chand.RemoteError) as info:
        ch.receive()
    assert (info.value.type_name, info.value.text) == ("SystemExit", "not raised as such")
    with pytest.raises(chand.RemoteError) as info:
        ch.receive()
    assert (info.value.type_name, info.value.text) == (f"{__name__}.JobFailed", "as instance")
    with pytest.raises(TypeError):
        ch.send_exception(42)


def test_throw_from_netcat_style_payload(conn, name, server_address):
    ch = conn.make(name(), capacity=3)
    host, port = server_address.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(b"THROW %s something went wrong\r\nTHROW %s Custom:no space\r\n" % ((ch.name.encode(),) * 2))
        assert raw.recv(100) in (b"OK\r\n", b"OK\r\nOK\r\n")
    with pytest.raises(chand.RemoteError) as info:
        ch.receive(timeout=5)
    assert (info.value.type_name, info.value.text) == (None, "something went wrong")
    assert str(info.value) == "something went wrong"
    with pytest.raises(chand.RemoteError) as info:
        ch.receive(timeout=5)
    assert (info.value.type_name, info.value.text) == ("Custom", "no space")


def test_exception_ends_or_breaks_iteration(conn, name):
    ch = conn.make(name(), capacity=10)
    ch.send_sequence([b"1", b"2"])
    ch.send_exception(StopIteration)  # the Stackless way to end a receiver's loop
    assert list(ch) == [b"1", b"2"]
    ch.send(b"3")
    ch.send_exception(RuntimeError, "boom")
    got = []
    with pytest.raises(RuntimeError, match="boom"):
        for v in ch:
            got.append(v)
    assert got == [b"3"]


def test_send_sequence(connect, name, background):
    conn = connect()
    ch = conn.make(name(), capacity=1000, decode="ascii")
    assert ch.send_sequence(str(i) for i in range(1000)) == 1000
    assert ch.length == 1000
    assert [ch.receive() for _ in range(1000)] == [str(i) for i in range(1000)]
    assert ch.send_sequence([]) == 0

    # unbuffered: each value still waits for its receiver
    consumer = background(lambda: list(connect().channel(name("u"))))
    unbuffered = conn.channel(name("u"))
    assert unbuffered.send_sequence(b"%d" % i for i in range(150)) == 150
    unbuffered.close()
    assert consumer.result() == [b"%d" % i for i in range(150)]

    # a value that cannot be sent: the ones before it are sent
    with pytest.raises(TypeError):
        ch.send_sequence(["a", "b", 3, "d"])
    assert [ch.receive(), ch.receive()] == ["a", "b"]
    assert ch.length == 0

    ch.send_sequence(["x"])
    ch.close()
    with pytest.raises(chand.Closed) as info:
        ch.send_sequence(["y", "z"])
    assert info.value.sent == 0
    assert list(ch) == ["x"]


def test_send_sequence_stops_at_close(connect, name, background):
    conn = connect()
    ch = conn.make(name(), capacity=5)
    closer = connect()

    def consume_close_drain():
        c = closer.channel(name())
        got = [c.receive(timeout=5) for _ in range(3)]
        c.close()
        return got + list(c)  # values sent before the close are still delivered

    consumer = background(consume_close_drain)
    values = (b"%d" % i for i in range(10**6))
    with pytest.raises(chand.Closed) as info:
        ch.send_sequence(values)
    got = consumer.result()
    assert info.value.sent == len(got) >= 3
    assert got == [b"%d" % i for i in range(len(got))]
