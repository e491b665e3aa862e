"""What a new user runs into: undecodable values, exception names in
tracebacks, None select cases, the stackless.py select names, setting a
channel's preference, exception arguments, registered exception classes,
and the address grammar."""

import pickle
import traceback

import pytest

import chand
import chand.aio


# -- a value that cannot be decoded is not lost ------------------------------


def test_undecodable_value_raises_decode_error_with_its_bytes(conn, name):
    raw = conn.make(name(), capacity=3)
    raw.send(b"not json {")
    raw.send(b'{"ok": 1}')
    ch = conn.channel(name(), serializer="json")
    with pytest.raises(chand.DecodeError) as info:
        ch.receive()
    err = info.value
    assert (err.channel, err.data, err.delivery) == (name(), b"not json {", None)
    assert isinstance(err, ValueError) and isinstance(err.__cause__, ValueError)
    assert "not json {" in str(err) and name() in str(err)
    assert ch.receive() == {"ok": 1}  # the connection carries on in step


def test_undecodable_text_in_a_select_and_with_decode(conn, name):
    raw = conn.make(name(), capacity=1)
    raw.send(b"\xff\xfe")
    ch = conn.channel(name(), decode="utf-8")
    with pytest.raises(chand.DecodeError) as info:
        conn.select([None, ch.receive_case()], timeout=5)
    assert info.value.data == b"\xff\xfe"
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


# -- exception classes read chand.X in tracebacks ------------------------------


def test_exceptions_are_named_by_the_public_module(conn, name):
    for cls in (chand.ChandError, chand.Closed, chand.Timeout, chand.ProtocolError, chand.MalformedReply,
                chand.RemoteError, chand.DecodeError, chand.Disconnected, chand.ConcurrentUseError):
        assert cls.__module__ == "chand", cls
        assert getattr(chand, cls.__name__) is cls
    ch = conn.channel(name())
    ch.close()
    with pytest.raises(chand.Closed) as info:
        ch.send(b"late")
    shown = "".join(traceback.format_exception_only(type(info.value), info.value))
    assert shown.startswith("chand.Closed: ")
    # found again by that name (pickle looks classes up by module and name)
    assert type(pickle.loads(pickle.dumps(chand.Timeout("t")))) is chand.Timeout


# -- None select cases, stackless.py names -----------------------------------


def test_none_cases_are_skipped_and_indexes_kept(conn, name):
    a = conn.make(name("a"), capacity=1)
    b = conn.make(name("b"), capacity=1)
    b.send(b"from b")
    result = conn.select([None, a.receive_case(), None, b.receive_case()], timeout=5)
    assert (result.channel, result.value, result.index) == (b, b"from b", 3)
    result = chand.select([None, a.send_case(b"x")])  # module-level select skips None too
    assert (result.channel, result.index) == (a, 1)
    a.close()
    with pytest.raises(chand.Closed) as info:
        conn.select([None, None, a.send_case(b"late")], timeout=0)
    assert info.value.case == 2
    with pytest.raises(chand.Timeout):
        conn.select([None, b.receive_case()], timeout=0)


def test_all_none_cases_are_an_error(conn):
    for cases in ([None], [None, None]):
        with pytest.raises(ValueError, match="not None"):
            conn.select(cases, timeout=0)
        with pytest.raises(ValueError, match="not None"):
            chand.select(cases)
    conn.ping()  # nothing was sent


def test_stackless_select_case_names(conn, name):
    ch = conn.make(name(), capacity=1, decode="ascii")
    assert conn.select([ch.sendCase("v")]).index == 0
    assert conn.select([ch.receiveCase()]).value == "v"


def test_none_cases_in_aio(server_address, name):
    async def main():
        conn = await chand.aio.connect(server_address)
        ch = await conn.make(name(), capacity=1)
        await ch.send(b"x")
        result = await conn.select([None, ch.receiveCase()], timeout=5)
        with pytest.raises(ValueError):
            await conn.select([None])
        await conn.close()
        return result.index, result.value

    import asyncio

    assert asyncio.run(main()) == (1, b"x")


# -- preference on an existing channel ----------------------------------------


def test_preference_set_where_the_protocol_allows(connect, name):
    conn = connect()
    ch = conn.channel(name())
    ch.preference = "sender"  # a name nobody made, idle: it is made with this preference
    assert (ch.preference, ch.stat().persistent) == (1, True)
    ch.preference = 1  # the value it has: fine
    with pytest.raises(chand.ProtocolError) as info:
        ch.preference = 0  # made with another preference: fixed
    assert info.value.code == "EXISTS" and "fixed" in info.value.text
    made = conn.make(name("buffered"), capacity=4)
    made.set_preference("receiver")  # the server's default: unchanged, fine
    with pytest.raises(ValueError):
        made.set_preference("whoever")
    assert made.stat().capacity == 4


# -- exception arguments, registered classes ----------------------------------


class JobFailed(Exception):
    def __init__(self, job, reason):
        super().__init__(job, reason)
        self.job, self.reason = job, reason


def test_send_exception_keeps_the_arguments(conn, name):
    ch = conn.make(name(), capacity=10)
    ch.send_exception(ValueError("bad job", 42))
    ch.send_exception(ValueError, "bad job", [1, 2], None)
    ch.send_exception(KeyError, "line\nbreak")
    with pytest.raises(ValueError) as info:
        ch.receive()
    assert repr(info.value) == "ValueError('bad job', 42)"
    with pytest.raises(ValueError) as info:
        ch.receive()
    assert info.value.args == ("bad job", [1, 2], None)
    with pytest.raises(KeyError) as info:
        ch.receive()
    assert info.value.args == ("line\nbreak",)


def test_the_payload_stays_readable_for_other_clients(conn, name, server_address):
    import socket

    ch = conn.make(name(), capacity=2)
    ch.send_exception(ValueError("bad job", 42))
    ch.send_exception(ValueError("plain"))
    host, port = server_address.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(b"RECV %s\r\nRECV %s\r\n" % ((ch.name.encode(),) * 2))
        got = b""
        while got.count(b"\r\n") < 4:
            got += raw.recv(1000)
    first = b'ValueError: bad job 42\nargs: ["bad job",42]'
    assert got == b"EXC %s %d\r\n%s\r\nEXC %s 17\r\nValueError: plain\r\n" % (
        ch.name.encode(), len(first), first, ch.name.encode())


def test_registered_exception_classes(conn, name):
    chand.register_exception(JobFailed)
    ch = conn.make(name(), capacity=10)
    ch.send_exception(JobFailed("job 7", "disk full"))
    with pytest.raises(JobFailed) as info:
        ch.receive()
    assert (info.value.job, info.value.reason) == ("job 7", "disk full")

    @chand.register_exception(name="Quota")
    class QuotaExceeded(Exception):
        pass

    ch.send_exception(QuotaExceeded, "alice", 3)  # sent under its registered name
    ch.send_exception("Quota", "bob")  # as another client would send it
    with pytest.raises(QuotaExceeded) as info:
        ch.receive()
    assert info.value.args == ("alice", 3)
    with pytest.raises(QuotaExceeded, match="bob"):
        ch.receive()
    with pytest.raises(TypeError):
        chand.register_exception(int)
    with pytest.raises(ValueError):
        chand.register_exception(QuotaExceeded, name="has space")


# -- CHAND_ADDR grammar --------------------------------------------------------


def test_address_grammar(monkeypatch):
    from chand._protocol import Address, parse_address

    monkeypatch.delenv("CHAND_ADDR", raising=False)
    assert parse_address("") == Address("127.0.0.1", 7400)
    assert parse_address("example.org") == Address("example.org", 7400)
    assert parse_address(":7411") == Address("127.0.0.1", 7411)
    assert parse_address("example.org:9") == Address("example.org", 9)
    assert parse_address("[::1]:9") == Address("::1", 9)
    assert parse_address("[::1]") == Address("::1", 7400)
    assert parse_address("::1") == Address("::1", 7400)
    assert parse_address("tls://example.org:9") == Address("example.org", 9, tls=True)
    assert parse_address("tls://[::1]") == Address("::1", 7400, tls=True)
    assert str(parse_address("tls://[::1]:9")) == "tls://[::1]:9"
    for bad in ("[::1", "[::1]x", "[]:1", "[example.org]:1", "http://h:1", "h:", "h:0", "h:65536",
                "h:+5", "a b:1", "h:1:2"):
        with pytest.raises(ValueError, match="in chand address|bad chand address"):
            parse_address(bad)


def test_chand_addr_forms_connect(monkeypatch, server_address):
    port = server_address.rsplit(":", 1)[1]
    for form in (f":{port}", f"127.0.0.1:{port}"):
        monkeypatch.setenv("CHAND_ADDR", form)
        with chand.connect() as conn:
            assert conn.address == f"127.0.0.1:{port}"
            conn.ping()
    monkeypatch.setenv("CHAND_ADDR", "[127.0.0.1]:1")
    with pytest.raises(ValueError, match="CHAND_ADDR"):
        chand.connect()
