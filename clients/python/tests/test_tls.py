"""TLS: `chand.connect("tls://host:port", ssl=ctx)` with the standard ssl
module, in chand and chand.aio, against chand started with --tls-cert and
--tls-key (certificates made here with openssl). The server's certificate
is verified by default; nothing skips verification silently."""

import asyncio
import ssl

import pytest

import chand
import chand.aio
from tls_support import make_certificates


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_daemon(start_daemon, certs):
    return start_daemon("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"))


@pytest.fixture
def ca_context(certs):
    return ssl.create_default_context(cafile=str(certs / "ca.pem"))


def test_tls_address_with_a_context(tls_daemon, ca_context, name, background):
    conn = chand.connect(f"tls://{tls_daemon.address}", ssl=ca_context, timeout=10)
    assert conn.address == f"tls://{tls_daemon.address}"
    assert conn.tls
    assert conn.ping() >= 0
    other = conn.clone()  # over TLS again, same context
    receiver = background(other.channel(name()).receive, 5)
    conn.channel(name()).send(b"over tls \r\n\x00 bytes")
    assert receiver.result() == b"over tls \r\n\x00 bytes"
    conn.close()
    other.close()


def test_ssl_context_on_a_plain_address_speaks_tls(tls_daemon, ca_context):
    with chand.connect(tls_daemon.address, ssl=ca_context, timeout=10) as conn:
        conn.ping()
        assert conn._sock.version() in ("TLSv1.2", "TLSv1.3")


def test_server_certificate_is_verified_by_default(tls_daemon, monkeypatch):
    monkeypatch.delenv("CHAND_TLS_CA", raising=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        chand.connect(f"tls://{tls_daemon.address}", timeout=10)  # a CA the system does not trust


def test_chand_tls_ca_names_the_ca(tls_daemon, certs, monkeypatch):
    monkeypatch.setenv("CHAND_TLS_CA", str(certs / "ca.pem"))
    with chand.connect(f"tls://{tls_daemon.address}", timeout=10) as conn:
        conn.ping()
    monkeypatch.setenv("CHAND_ADDR", f"tls://{tls_daemon.address}")
    with chand.connect(timeout=10) as conn:
        assert conn.tls
        conn.ping()


def test_the_server_name_is_checked(start_daemon, certs, ca_context):
    daemon = start_daemon("--tls-cert", str(certs / "elsewhere.pem"), "--tls-key", str(certs / "elsewhere.key"))
    with pytest.raises(ssl.SSLCertVerificationError, match="127.0.0.1|match|mismatch"):
        chand.connect(f"tls://{daemon.address}", ssl=ca_context, timeout=10)


def test_client_certificates(start_daemon, certs, ca_context):
    daemon = start_daemon("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
                          "--tls-ca", str(certs / "ca.pem"))
    with_cert = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with_cert.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
    with chand.connect(f"tls://{daemon.address}", ssl=with_cert, timeout=10) as conn:
        conn.ping()
    with pytest.raises((ssl.SSLError, chand.Disconnected, ConnectionError)):
        with chand.connect(f"tls://{daemon.address}", ssl=ca_context, timeout=10) as conn:
            conn.ping()  # TLS 1.3 reports the missing certificate on the first read


def test_aio_tls(tls_daemon, ca_context, name, monkeypatch):
    monkeypatch.delenv("CHAND_TLS_CA", raising=False)

    async def main():
        conn = await chand.aio.connect(f"tls://{tls_daemon.address}", ssl=ca_context, timeout=10)
        other = await conn.clone()
        ch = conn.channel(name())
        receiving = asyncio.ensure_future(other.channel(name()).receive(timeout=5))
        await ch.send(b"async over tls")
        assert await receiving == b"async over tls"
        await conn.close()
        await other.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            await chand.aio.connect(f"tls://{tls_daemon.address}", timeout=10)

    asyncio.run(main())


def test_tls_choices_that_contradict_are_refused(ca_context):
    with pytest.raises(ValueError, match="TLS"):
        chand.connect("tls://127.0.0.1:1", ssl=False)
    with pytest.raises(TypeError):
        chand.connect("127.0.0.1:1", ssl="yes")
    # an explicit context is used as given, never replaced by one that verifies less
    from chand._base import tls_context
    from chand._protocol import parse_address

    assert tls_context(parse_address("tls://h:1"), ca_context) is ca_context
    default = tls_context(parse_address("tls://h:1"), None)
    assert default.verify_mode == ssl.CERT_REQUIRED and default.check_hostname
    assert tls_context(parse_address("h:1"), None) is None
