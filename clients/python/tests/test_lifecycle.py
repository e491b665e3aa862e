"""Channel lifecycle: `OPEN <chan>` reopens a closing or closed channel
(Stackless's `channel.open()`), keeping its buffer and settings; `DELETE
<chan>` forgets it at once (blocked receivers get CLOSED, blocked senders
ERR CLOSED, buffered values are dropped); MAKE of a closed channel answers
ERR CLOSED."""

import asyncio

import pytest

import chand
import chand.aio


def test_open_reopens_a_closed_channel(conn, name):
    ch = conn.channel(name())
    ch.close()
    assert ch.closed
    ch.open()
    assert ch.stat().state == "open"
    buffered = conn.make(name("buffered"), capacity=2, preference="sender")
    buffered.send(b"kept")
    buffered.close()
    with pytest.raises(chand.Closed):
        buffered.send(b"refused")
    buffered.open()  # closing -> open, with its buffer and settings
    stat = buffered.stat()
    assert (stat.state, stat.length, stat.capacity, stat.preference) == ("open", 1, 2, 1)
    buffered.send(b"accepted")
    assert [buffered.receive(), buffered.receive()] == [b"kept", b"accepted"]


def test_open_on_an_open_channel_or_unused_name_is_fine(conn, name):
    conn.channel(name("never-used")).open()
    ch = conn.make(name(), capacity=1)
    ch.open()
    ch.open()
    assert ch.stat().state == "open"


def test_a_stream_closed_once_can_run_again(connect, name, background):
    """The README's producer/consumer twice on one name: open() between."""
    for round_ in range(2):
        producer_conn = connect()
        jobs = producer_conn.channel(name())
        jobs.open()
        consumer = background(lambda: list(connect().channel(name())))
        assert jobs.send_sequence([b"build", b"test", b"ship"]) == 3
        jobs.close()
        assert consumer.result() == [b"build", b"test", b"ship"], round_


def test_make_of_a_closed_channel_is_closed(conn, name):
    ch = conn.make(name(), capacity=1)
    ch.close()
    with pytest.raises(chand.Closed) as info:
        conn.make(name(), capacity=1)
    assert info.value.name == name()


def test_delete_forgets_the_channel_at_once(connect, name, background, wait_for):
    conn = connect()
    buffered = conn.make(name("buffered"), capacity=3)
    buffered.send_sequence([b"1", b"2"])
    conn.delete(name("buffered"))
    stat = conn.stat(name("buffered"))
    assert (stat.length, stat.capacity, stat.persistent) == (0, 0, False)  # dropped; the name is fresh
    assert stat.exists is not True

    receiver = background(connect().channel(name("r")).receive)
    sender = background(connect().channel(name("s")).send, b"waiting")
    wait_for(lambda: conn.stat(name("r")).receivers == 1 and conn.stat(name("s")).senders == 1)
    conn.delete(name("r"))
    conn.delete(name("s"))
    with pytest.raises(chand.Closed):
        receiver.result()
    with pytest.raises(chand.Closed):
        sender.result()

    again = conn.make(name("r"), capacity=1)  # a later use makes the name anew
    again.send(b"new")
    assert again.receive() == b"new"
    conn.delete(name("nobody-uses-this"))  # OK as well


def test_aio_open_and_delete(server_address, name):
    async def main():
        conn = await chand.aio.connect(server_address)
        ch = await conn.make(name(), capacity=1)
        await ch.close()
        await ch.open()
        await ch.send(b"x")
        assert (await ch.stat()).length == 1
        await conn.delete(name())
        assert (await ch.stat()).length == 0
        await conn.close()

    asyncio.run(main())
