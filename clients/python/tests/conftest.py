"""Starts the real chand daemon once per test session, on a free port (and
others with their own options, for the tests that need them); a fake server
answers whatever bytes a parser test gives it.

The binary is $CHAND_BIN, else it is built with `swift build --product chand`
from the repository root.
"""

import os
import select
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

import chand

REPO = Path(__file__).resolve().parents[3]


def _chand_binary() -> str:
    explicit = os.environ.get("CHAND_BIN")
    if explicit:
        return explicit
    subprocess.run(["swift", "build", "--product", "chand"], cwd=REPO, check=True)
    bin_path = subprocess.run(
        ["swift", "build", "--show-bin-path"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    return os.path.join(bin_path, "chand")


class Daemon:
    """A chand process started with `args` on a free port; `address` is
    where it listens (from its "chand listening on <address>" line)."""

    def __init__(self, binary, *args):
        self.args = [binary, "--port", "0", *args]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
        self.address = self._listening_address()

    def _listening_address(self):
        prefix = "chand listening on "
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline and len(seen) < 20:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            line = self.proc.stdout.readline().decode() if ready else ""
            if not line:
                break
            seen.append(line)
            if line.startswith(prefix):
                address = line[len(prefix):].split()[0]
                return address.split("://", 1)[-1]
        self.stop()
        raise RuntimeError(f"chand {self.args[3:]} did not start: {seen!r} {self.stderr()[-2000:]!r}")

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def kill(self):
        """kill -9: no chance to write anything more."""
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture(scope="session")
def chand_binary():
    return _chand_binary()


@pytest.fixture(scope="session")
def server_address(chand_binary):
    daemon = Daemon(chand_binary, "--seed", "1")
    try:
        yield daemon.address
    finally:
        daemon.stop()
        daemon.log.close()


@pytest.fixture
def start_daemon(chand_binary):
    """start_daemon(*args) -> a Daemon with those options, stopped after the test."""
    started = []

    def start(*args):
        daemon = Daemon(chand_binary, *args)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.returncode is None:
            daemon.stop()
        daemon.log.close()


@pytest.fixture
def connect(server_address):
    """connect() -> a new Connection to the test server, closed after the test."""
    opened = []

    def make(**kwargs):
        conn = chand.connect(server_address, **kwargs)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


@pytest.fixture
def conn(connect):
    return connect()


@pytest.fixture
def name(request):
    """name(suffix) -> a channel name no other test uses."""
    base = f"t-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"
    base = "".join(c if 0x21 <= ord(c) <= 0x7E else "_" for c in base)
    return lambda suffix="": f"{base}-{suffix}" if suffix else base


class Background:
    """Runs fn(*args) in a thread; result(timeout) returns or re-raises."""

    def __init__(self, fn, *args):
        self._result = None
        self._error = None
        self._thread = threading.Thread(target=self._main, args=(fn, args), daemon=True)
        self._thread.start()

    def _main(self, fn, args):
        try:
            self._result = fn(*args)
        except BaseException as e:  # handed to result()
            self._error = e

    def done(self):
        return not self._thread.is_alive()

    def result(self, timeout=10):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"background call still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result


@pytest.fixture
def background():
    return Background


def _wait_for(predicate, timeout=5.0, interval=0.005):
    """Polls until predicate() is true; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


@pytest.fixture
def wait_for():
    return _wait_for


class FakeServer:
    """Accepts one connection, waits for the request, answers `reply`, and
    then half-closes (when `close`) or keeps the connection open."""

    def __init__(self, reply: bytes, close: bool):
        self.reply = reply
        self.close = close
        self.request = b""
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self.address = "127.0.0.1:%d" % self._listener.getsockname()[1]
        self._done = threading.Event()
        self._conn = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self._listener.accept()
        self._conn = conn
        conn.settimeout(0.1)
        try:
            while True:  # read the whole request: until it stops coming
                chunk = conn.recv(65536)
                if not chunk:
                    break
                self.request += chunk
        except socket.timeout:
            pass
        conn.sendall(self.reply)
        if self.close:
            conn.shutdown(socket.SHUT_WR)  # FIN after the reply, no reset
        while not self._done.is_set():  # keep recording later requests
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            self.request += chunk
        self._done.wait(30)
        conn.close()

    def stop(self):
        self._done.set()
        self._listener.close()


@pytest.fixture
def fake():
    servers = []

    def start(reply, close=False):
        server = FakeServer(reply, close)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
