"""Durable channels: `MAKE <chan> CAP <n> DURABLE` on a daemon started with
`--data-dir`; buffered values survive a kill -9 and a restart; STAT says
`durable=1`."""

import asyncio

import pytest

import chand
import chand.aio


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return str(path)


def test_buffered_values_survive_kill_and_restart(start_daemon, data_dir, name):
    daemon = start_daemon("--data-dir", data_dir, "--fsync", "always")
    with chand.connect(daemon.address) as conn:
        jobs = conn.make(name(), capacity=10, durable=True, serializer="json")
        assert jobs.stat().durable is True
        assert jobs.send_sequence([{"job": i} for i in range(5)]) == 5
        assert jobs.receive() == {"job": 0}  # taken before the crash: gone for good
        plain = conn.make(name("memory"), capacity=10)
        plain.send(b"lost on restart")
        assert plain.stat().durable is False
    daemon.kill()

    restarted = start_daemon("--data-dir", data_dir, "--fsync", "always")
    with chand.connect(restarted.address) as conn:
        jobs = conn.channel(name(), serializer="json")
        stat = jobs.stat()
        assert (stat.durable, stat.capacity, stat.length) == (True, 10, 4)
        assert [jobs.receive(timeout=5) for _ in range(4)] == [{"job": i} for i in range(1, 5)]
        assert conn.stat(name("memory")).length == 0


def test_durable_needs_a_data_dir_and_a_buffer(conn, start_daemon, data_dir, name):
    with pytest.raises(chand.ProtocolError):
        conn.make(name(), capacity=10, durable=True)  # the session's daemon has no --data-dir
    conn.ping()  # still usable
    daemon = start_daemon("--data-dir", data_dir)
    with chand.connect(daemon.address) as other:
        with pytest.raises(chand.ProtocolError):
            other.make(name("rendezvous"), capacity=0, durable=True)
        assert other.stat(name("rendezvous")).durable is False


def test_durable_from_aio(start_daemon, data_dir, name):
    daemon = start_daemon("--data-dir", data_dir)

    async def main():
        conn = await chand.aio.connect(daemon.address)
        ch = await conn.make(name(), capacity=2, durable=True)
        await ch.send(b"kept")
        stat = await ch.stat()
        await conn.close()
        return stat.durable, stat.length

    assert asyncio.run(main()) == (True, 1)


def test_make_request_on_the_wire(fake, wait_for):
    server = fake(b"OK\r\n")
    with chand.connect(server.address) as conn:
        conn.make("q", capacity=8, preference="sender", durable=True)
    assert server.request == b"MAKE q CAP 8 PREFER SENDER DURABLE\r\n"
