"""AUTH: `chand.connect(..., user=, password=)` sends `AUTH <name> <secret>`
before it returns, against chand started with --users (a users file
written here). `OK` or `ERR DENIED`; without AUTH only PING, HELLO, AUTH and
QUIT are served (`ERR NOAUTH`); grants decide the rest (`ERR DENIED`)."""

import asyncio

import pytest

import chand
import chand.aio

USERS = """\
# name   secret            grants
alice    plain:wonderland  send:jobs.* recv:jobs.*
root     plain:toor        admin
"""


@pytest.fixture
def users_daemon(start_daemon, tmp_path):
    path = tmp_path / "users"
    path.write_text(USERS)
    return start_daemon("--users", str(path))


def test_user_and_password_authenticate(users_daemon, name, background):
    jobs = f"jobs.{name()}"
    with chand.connect(users_daemon.address, user="alice", password="wonderland") as conn:
        other = conn.clone()  # authenticates again, as the same user
        receiver = background(other.channel(jobs).receive, 5)
        conn.channel(jobs).send(b"for alice")
        assert receiver.result() == b"for alice"
        with pytest.raises(chand.ProtocolError) as info:
            conn.channel(f"private.{name()}").send(b"x", timeout=0)  # no grant for it
        assert info.value.code == "DENIED"
        conn.ping()  # a refused command leaves the connection usable
        other.close()


def test_a_wrong_password_fails_the_connect(users_daemon):
    with pytest.raises(chand.ProtocolError) as info:
        chand.connect(users_daemon.address, user="alice", password="guess")
    assert info.value.code == "DENIED"
    assert "guess" not in str(info.value)


def test_without_auth_only_the_handshake_is_served(users_daemon, name):
    with chand.connect(users_daemon.address) as conn:
        conn.ping()
        conn.hello()
        with pytest.raises(chand.ProtocolError) as info:
            conn.channel(f"jobs.{name()}").send(b"x", timeout=0)
        assert info.value.code == "NOAUTH"
        conn.auth("root", "toor")  # later on the same connection
        assert "connections" in conn.info()  # admin may read INFO


def test_aio_user_and_password(users_daemon, name):
    async def main():
        conn = await chand.aio.connect(users_daemon.address, user="root", password="toor")
        ch = await conn.make(f"any.{name()}", capacity=1)
        await ch.send(b"v")
        got = await ch.receive()
        with pytest.raises(chand.ProtocolError) as info:
            await chand.aio.connect(users_daemon.address, user="root", password="wrong")
        await conn.close()
        return got, info.value.code

    assert asyncio.run(main()) == (b"v", "DENIED")


def test_credentials_are_checked_before_connecting():
    # nothing listens on port 1: these fail before any connect is tried
    for user, password in (("alice", "two words"), ("al ice", "x"), ("alice", ""), ("alice", "pässword")):
        with pytest.raises(ValueError) as info:
            chand.connect("127.0.0.1:1", user=user, password=password)
        if password:
            assert password not in str(info.value)  # a secret never shows in a message
    with pytest.raises(TypeError):
        chand.connect("127.0.0.1:1", user="alice")  # a user without a password


def test_auth_on_the_wire(fake):
    server = fake(b"OK\r\nPONG\r\n")
    with chand.connect(server.address, user="alice", password="wonderland") as conn:
        conn.ping()
        assert "wonderland" not in repr(conn)
    assert server.request == b"AUTH alice wonderland\r\nPING\r\n"
