"""Starts the real chand daemon once per test session, on a free port.

The binary is $CHAND_BIN, else it is built with `swift build --product chand`
from the repository root.
"""

import os
import select
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


@pytest.fixture(scope="session")
def server_address():
    binary = _chand_binary()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [binary, "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline().decode() if ready else ""
        prefix = "chand listening on "
        if not line.startswith(prefix):
            log.seek(0)
            raise RuntimeError(f"chand did not start: {line!r} {log.read()[-2000:]!r}")
        yield line[len(prefix):].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        log.close()


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
