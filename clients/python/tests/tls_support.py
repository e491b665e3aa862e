"""Certificates for the TLS tests, made with the openssl command: a CA, a
server certificate for 127.0.0.1 and localhost, one for another name, and
a client certificate."""

import subprocess
from pathlib import Path


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(directory: Path, stem: str, subject: str, extensions: str) -> None:
    (directory / f"{stem}.ext").write_text(
        extensions + "\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", subject, cwd=directory)
    _openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-out", f"{stem}.pem", "-extfile", f"{stem}.ext", cwd=directory)


def make_certificates(directory: Path) -> Path:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=chand test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _signed(directory, "server", "/CN=localhost",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
            "keyUsage=critical,digitalSignature")
    _signed(directory, "elsewhere", "/CN=elsewhere.test",
            "subjectAltName=DNS:elsewhere.test\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature")
    _signed(directory, "client", "/CN=chand test client",
            "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature")
    return directory
