"""Acknowledged delivery: `RECV <chan> [TIMEOUT ms|NOWAIT] ACK` answers
`MSG <chan> <n> <tag>`; `ACK <tag>` completes the sender's send, `NACK
<tag>` (or the receiving connection's end) gives the value back to the front
of its channel. The client's API: `ch.receive(ack=True)` returns a Delivery,
`with ch.delivery() as value:` acknowledges when the block ends normally and
gives the value back on an exception."""

import asyncio
import socket

import pytest

import chand
import chand.aio


def test_wire_transcript(conn, name, server_address):
    ch = conn.make(name(), capacity=2)
    ch.send(b"job")
    # > RECV <chan> ACK        < MSG <chan> 3 <tag> / job       > ACK <tag> (no reply)   > PING  < PONG
    host, port = server_address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"RECV %s NOWAIT ACK\r\n" % ch.name.encode())
        got = b""
        while got.count(b"\r\n") < 2 and not got.startswith(b"ERR"):
            got += raw.recv(1000)
        assert not got.startswith(b"ERR"), got
        header, payload, _ = got.split(b"\r\n")
        verb, chan, n, tag = header.split(b" ")
        assert (verb, chan, n, payload) == (b"MSG", ch.name.encode(), b"3", b"job")
        assert int(tag) > 0
        assert ch.stat().held == 1
        raw.sendall(b"ACK %s\r\nPING\r\n" % tag)
        assert raw.recv(100) == b"PONG\r\n"  # ACK has no reply
    assert ch.stat().held == 0


def test_sender_completes_only_at_the_ack(connect, name, background, wait_for):
    receiver = connect().channel(name())
    sender = background(connect().channel(name()).send, b"job 1")
    delivery = receiver.receive(ack=True)
    assert isinstance(delivery, chand.Delivery)
    assert (delivery.value, delivery.channel, delivery.settled) == (b"job 1", receiver, None)
    assert delivery.tag > 0
    stat = receiver.stat()
    assert (stat.held, stat.senders) == (1, 0)  # held, no longer waiting in the queue
    assert not sender.done()
    delivery.ack()
    sender.result()  # OK only now
    assert delivery.settled == "ack"
    assert receiver.stat().held == 0


def test_nack_gives_the_value_back_to_the_front(conn, name):
    ch = conn.make(name(), capacity=2)
    ch.send_sequence([b"first", b"second"])
    delivery = ch.receive(ack=True)
    assert delivery.value == b"first"
    delivery.nack()
    assert delivery.settled == "nack"
    assert ch.receive(timeout=5) == b"first"  # at the front again, before "second"
    assert ch.receive(timeout=5) == b"second"


def test_settling_twice_is_refused_without_asking_the_server(conn, name):
    ch = conn.make(name(), capacity=1)
    ch.send(b"x")
    delivery = ch.receive(ack=True)
    delivery.ack()
    with pytest.raises(ValueError, match="already settled"):
        delivery.ack()
    with pytest.raises(ValueError, match="already settled"):
        delivery.nack()
    conn.ping()  # the connection is fine: no ACK for an unknown tag was sent


def test_delivery_block_acks_when_it_ends_normally(connect, name, background):
    consumer = connect().channel(name(), decode="utf-8")
    sender = background(connect().channel(name()).send, "work")
    with consumer.delivery() as value:
        assert value == "work"
        assert not sender.done()  # the sender waits for the block to end
    sender.result()
    assert consumer.stat().held == 0


def test_delivery_block_gives_the_value_back_on_an_exception(connect, name, background):
    first, second = connect().channel(name()), connect().channel(name())
    sender = background(connect().channel(name()).send, b"fragile")
    with pytest.raises(RuntimeError, match="crashed"):
        with first.delivery() as value:
            assert value == b"fragile"
            raise RuntimeError("crashed while processing")
    assert not sender.done()
    with second.delivery(timeout=5) as value:  # redelivered, to another consumer
        assert value == b"fragile"
    sender.result()


def test_a_receiver_that_ends_gives_its_values_back(connect, name, background, wait_for):
    holder_conn, other = connect(), connect()
    holder = holder_conn.channel(name())
    sender = background(connect().channel(name()).send, b"orphan")
    delivery = holder.receive(ack=True)
    assert delivery.value == b"orphan"
    holder_conn.close()
    assert other.channel(name()).receive(timeout=5) == b"orphan"
    sender.result()
    with pytest.raises(chand.Disconnected):
        delivery.ack()


def test_exception_received_with_ack_is_acknowledged_as_raised(connect, name, background):
    receiver = connect().channel(name())
    sender = background(connect().channel(name()).send_exception, ValueError, "bad job", 7)
    with pytest.raises(ValueError) as info:
        receiver.receive(ack=True)
    assert info.value.args == ("bad job", 7)
    sender.result()  # raising it was its delivery
    assert receiver.stat().held == 0


def test_undecodable_value_with_ack_stays_held(conn, name):
    ch = conn.make(name(), capacity=2, serializer="json")
    conn.channel(name()).send(b"not json")
    with pytest.raises(chand.DecodeError) as info:
        ch.receive(ack=True)
    assert info.value.data == b"not json"
    assert info.value.delivery.value == b"not json"
    assert ch.stat().held == 1
    info.value.delivery.nack()
    with pytest.raises(chand.DecodeError) as info:
        with ch.delivery():  # the block never runs: the value is given back
            raise AssertionError("not reached")
    assert info.value.delivery.settled == "nack"
    assert conn.channel(name()).receive(timeout=5) == b"not json"


def test_select_with_ack(connect, name, background):
    conn = connect()
    empty, jobs = conn.channel(name("empty")), conn.channel(name("jobs"))
    sender = background(connect().channel(name("jobs")).send, b"picked")
    result = conn.select([empty.receive_case(), None, jobs.receive_case()], timeout=5, ack=True)
    assert (result.channel, result.operation, result.index) == (jobs, chand.RECEIVE, 2)
    delivery = result.value
    assert isinstance(delivery, chand.Delivery) and delivery.value == b"picked"
    assert not sender.done()
    delivery.ack()
    sender.result()
    # a send case in a SELECT ... ACK is answered as usual
    buffered = conn.make(name("buffered"), capacity=1)
    assert conn.select([buffered.send_case(b"x")], ack=True).operation == chand.SEND


def test_timeouts_with_ack(conn, name):
    ch = conn.channel(name())
    with pytest.raises(chand.Timeout):
        ch.receive(timeout=0, ack=True)
    with pytest.raises(chand.Timeout):
        ch.receive(timeout=0.05, ack=True)
    assert ch.stat().held == 0


def test_aio_delivery(server_address, name):
    async def main():
        producer = await chand.aio.connect(server_address)
        consumer = await chand.aio.connect(server_address)
        jobs = consumer.channel(name(), decode="ascii")
        sending = asyncio.ensure_future(producer.channel(name()).send(b"one"))
        async with jobs.delivery(timeout=5) as value:
            assert value == "one"
            await asyncio.sleep(0.05)
            assert not sending.done()  # acknowledged when the block ends
        await asyncio.wait_for(sending, 5)

        sending = asyncio.ensure_future(producer.channel(name()).send(b"two"))
        delivery = await jobs.receive(ack=True)
        assert isinstance(delivery, chand.aio.Delivery) and delivery.value == "two"
        await delivery.nack()
        again = await jobs.receive(timeout=5, ack=True)
        assert again.value == "two"
        await again.ack()
        await asyncio.wait_for(sending, 5)

        buffered = await producer.make(name("b"), capacity=1)
        await buffered.send(b"v")
        with pytest.raises(KeyError):
            async with consumer.channel(name("b")).delivery(timeout=5):
                raise KeyError("in the block")  # gives the value back
        assert await consumer.channel(name("b")).receive(timeout=5) == b"v"
        await producer.close()
        await consumer.close()

    asyncio.run(main())


def test_requests_on_the_wire(fake, wait_for):
    """The bytes the client writes, against a fake server that answers
    whatever the test says (no chand needed)."""
    server = fake(b"MSG q 3 41\r\nabc\r\n")
    with chand.connect(server.address) as conn:
        delivery = conn.channel("q").receive(timeout=2, ack=True)
        assert (delivery.tag, delivery.value) == (41, b"abc")
        delivery.nack()
        wait_for(lambda: server.request.endswith(b"NACK 41\r\n"))
    assert server.request == b"RECV q TIMEOUT 2000 ACK\r\nNACK 41\r\n"

    server = fake(b"SELECTED 1 MSG b 1 7\r\nx\r\n")
    with chand.connect(server.address) as conn:
        a, b = conn.channel("a"), conn.channel("b")
        result = conn.select([a.receive_case(), b.receive_case()], timeout=0, ack=True)
        result.value.ack()
        wait_for(lambda: server.request.endswith(b"ACK 7\r\n"))
    assert server.request == b"SELECT 2 NOWAIT ACK\r\nRECV a\r\nRECV b\r\nACK 7\r\n"

    server = fake(b"EXC q 10 3\r\nValueError\r\nPONG\r\n")
    with chand.connect(server.address) as conn:
        with pytest.raises(ValueError):
            conn.channel("q").receive(ack=True)  # an exception is acknowledged as it is raised
        wait_for(lambda: server.request.endswith(b"ACK 3\r\n"))
    assert server.request == b"RECV q ACK\r\nACK 3\r\n"


@pytest.mark.parametrize("reply", [
    b"MSG q 3\r\nabc\r\n",  # no tag for a receive with ACK
    b"MSG q 3 0\r\nabc\r\n",  # tags are positive
    b"MSG q 3 x\r\nabc\r\n",
])
def test_malformed_tags(fake, reply):
    server = fake(reply)
    with chand.connect(server.address) as conn:
        with pytest.raises(chand.MalformedReply):
            conn.channel("q").receive(ack=True)
        assert conn.closed


def test_a_tag_on_a_receive_without_ack_is_malformed(fake):
    server = fake(b"MSG q 3 5\r\nabc\r\n")
    with chand.connect(server.address) as conn:
        with pytest.raises(chand.MalformedReply, match="without ACK"):
            conn.channel("q").receive()


def test_the_connection_that_selects_holds_the_value(connect, name):
    owner, selecting = connect(), connect()
    ch = owner.make(name(), capacity=1)
    ch.send(b"v")
    result = selecting.select([ch.receive_case()], timeout=5, ack=True)  # cases of another connection's channel
    delivery = result.value
    assert delivery.connection is selecting and delivery.channel is ch
    delivery.ack()
    assert owner.stat(name()).held == 0
