"""chand.aio: the same API as coroutines, one connection per task."""

import asyncio
import time

import pytest

import chand
import chand.aio


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_producer_consumer_tasks(server_address, name):
    async def main():
        producer = await chand.aio.connect(server_address)
        consumer = await producer.clone()

        async def produce():
            ch = producer.channel(name(), serializer="json")
            for i in range(100):
                await ch.send({"i": i})
            await ch.close()

        async def consume():
            return [v["i"] async for v in consumer.channel(name(), serializer="json")]

        _, got = await asyncio.gather(produce(), consume())
        await producer.close()
        await consumer.close()
        return got

    assert run(main()) == list(range(100))


def test_commands_and_properties(server_address, name):
    async def main():
        async with await chand.aio.connect(server_address) as conn:
            assert await conn.ping() >= 0
            assert (await conn.hello())["proto"] == 1
            assert "commands" in await conn.info()
            ch = await conn.make(name(), capacity=4, preference="none", decode="utf-8")
            assert await ch.capacity == 4
            assert await ch.preference == 0
            assert await ch.send_sequence(["a", "b", "c"]) == 3
            assert await ch.length == 3
            assert await ch.balance == 0
            assert not await ch.closing
            listed = await conn.channels(name())
            assert [c.name for c in listed] == [ch.name] and listed.total == 1
            assert (await conn.stat(ch.name)).length == 3
            assert await ch.receive() == "a"
            await ch.close()
            assert await ch.closing and not await ch.closed
            assert [v async for v in ch] == ["b", "c"]
            assert await ch.closed
            with pytest.raises(chand.Closed):
                await ch.send("late")
            with pytest.raises(chand.Closed):
                await ch.receive()
        assert conn.closed

    run(main())


def test_timeouts_and_select(server_address, name):
    async def main():
        conn = await chand.aio.connect(server_address)
        other = await conn.clone()
        a, b = conn.channel(name("a")), conn.channel(name("b"))
        with pytest.raises(chand.Timeout):
            await a.receive(timeout=0)
        start = time.monotonic()
        with pytest.raises(chand.Timeout):
            await a.receive(timeout=0.1)
        assert time.monotonic() - start >= 0.09
        with pytest.raises(chand.Timeout):
            await a.send(b"x", timeout=0.05)
        with pytest.raises(chand.Timeout):
            await conn.select([a.receive_case(), b.receive_case()], timeout=0)

        async def later():
            await asyncio.sleep(0.05)
            await other.channel(b.name).send(b"hi")

        result, _ = await asyncio.gather(conn.select([a.receive_case(), b.receive_case()], timeout=5), later())
        assert result == (b, chand.RECEIVE, b"hi") and result.index == 1
        buffered = await conn.make(name("buf"), capacity=1)
        assert await chand.aio.select([buffered.send_case(b"v")]) == (buffered, chand.SEND, b"v")
        await conn.close()
        await other.close()

    run(main())


def test_exceptions_and_stop_iteration(server_address, name):
    class Custom(Exception):
        pass

    async def main():
        conn = await chand.aio.connect(server_address)
        ch = await conn.make(name(), capacity=10)
        await ch.send_exception(ValueError, "bad")
        await ch.send_exception(Custom("mine"))
        await ch.send(b"1")
        await ch.send_exception(StopIteration)
        with pytest.raises(ValueError, match="bad"):
            await ch.receive()
        with pytest.raises(chand.RemoteError) as info:
            await ch.receive()
        assert info.value.type_name.endswith("Custom") and info.value.text == "mine"
        assert [v async for v in ch] == [b"1"]  # StopIteration ends async for
        await ch.send_exception(StopIteration)
        with pytest.raises(StopAsyncIteration):
            await ch.receive()
        await conn.close()

    run(main())


def test_concurrent_use_and_cancellation(server_address, name):
    async def main():
        conn = await chand.aio.connect(server_address)
        ch = conn.channel(name())
        waiting = asyncio.ensure_future(ch.receive())
        await asyncio.sleep(0.05)
        with pytest.raises(chand.ConcurrentUseError):
            await conn.ping()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert conn.closed  # its reply would have come later: the connection is gone
        with pytest.raises(chand.Disconnected):
            await conn.ping()
        other = await chand.aio.connect(server_address)
        for _ in range(200):
            if (await other.stat(ch.name)).receivers == 0:
                break
            await asyncio.sleep(0.01)
        assert (await other.stat(ch.name)).receivers == 0
        await other.close()

    run(main())


def test_close_aborts_a_blocked_call(server_address, name):
    async def main():
        conn = await chand.aio.connect(server_address)
        waiting = asyncio.ensure_future(conn.channel(name()).receive())
        await asyncio.sleep(0.05)
        await conn.close()
        with pytest.raises(chand.Disconnected):
            await waiting

    run(main())
