"""Shared pieces of the reliability suite: the daemon launcher, a blocking
control client, and a non-blocking client that many connections share one
selector loop with (stdlib only, so it runs on any Python 3.9+)."""

import heapq
import itertools
import os
import resource
import selectors
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Failure(Exception):
    """A reliability check did not hold."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def raise_nofile(wanted):
    """Raises this process's open-file limit (children inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def chand_binary():
    return os.environ.get("CHAND_BIN") or os.path.join(ROOT, ".build", "debug", "chand")


_sanitizer = {}


def sanitizer():
    """"address" or "thread" when the daemon binary was built with that
    sanitizer, else None. Its resident memory then holds the sanitizer's
    shadow memory (and ASan's quarantine of freed blocks), so memory bounds
    are not checked, only reported."""
    path = chand_binary()
    if path not in _sanitizer:
        with open(path, "rb") as f:
            data = f.read()
        _sanitizer[path] = "address" if b"__asan_init" in data else "thread" if b"__tsan_init" in data else None
    return _sanitizer[path]


def check_memory(condition, message):
    if sanitizer() is None:
        check(condition, message)
    elif not condition:
        print(f"  (not checked under {sanitizer()} sanitizer: {message})")


def make_tls_files(directory):
    """A test CA and a server certificate for 127.0.0.1 it signed, made with
    the openssl command in `directory`; returns (cert, key, ca) paths."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=chand reliability CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                "keyUsage=critical,digitalSignature\n")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", "server.pem", "-extfile", "server.ext")
    return tuple(os.path.join(directory, name) for name in ("server.pem", "server.key", "ca.pem"))


def client_tls_context(ca):
    """Verifies the server's certificate (and its IP address) against the test CA."""
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = True
    return context


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise Failure(f"no {key} for pid {pid}")


class Daemon:
    """The real chand on a free loopback port, logging to a temporary file."""

    def __init__(self, *args, binary=None):
        self.binary = binary or chand_binary()
        check(os.access(self.binary, os.X_OK), f"{self.binary} is not built (swift build)")
        self.log = tempfile.NamedTemporaryFile(prefix="chand-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([self.binary, "--port", "0", "--seed", "1", *map(str, args)],
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("chand listening on "):
            self.proc.kill()
            raise Failure(f"chand said {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.pid = self.proc.pid

    def rss_kib(self):
        return proc_status_kib(self.pid, "VmRSS")

    def peak_kib(self):
        return proc_status_kib(self.pid, "VmHWM")

    def open_files_limit(self):
        """The daemon's own RLIMIT_NOFILE (soft), as the kernel reports it."""
        with open(f"/proc/{self.pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        raise Failure("no open-files limit")

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; returns the exit status and the log."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        with open(self.log.name, errors="replace") as f:
            text = f.read()
        os.unlink(self.log.name)
        return status, text


# MARK: Replies

class Reply:
    """One reply: its line, the SELECTED index (or None), the kind (first word
    after SELECTED), and for MSG/EXC the channel, payload and, for a value
    received with ACK, its delivery tag (else None)."""

    __slots__ = ("line", "index", "kind", "words", "channel", "payload", "tag")

    def __init__(self, line, payload=None):
        self.line = line
        words = line.split(" ")
        self.index = None
        if words[0] == "SELECTED" and len(words) > 2:
            self.index = int(words[1])
            words = words[2:]
        self.words = words
        self.kind = words[0]
        self.channel = words[1] if self.kind in ("MSG", "EXC", "CLOSED") and len(words) > 1 else None
        self.payload = payload
        self.tag = int(words[3]) if self.kind in ("MSG", "EXC") and len(words) == 4 else None

    def __repr__(self):
        return f"Reply({self.line!r}, {self.payload!r})"


def message_length(line):
    """n if the line is a MSG/EXC header (alone or after SELECTED i, with or
    without a delivery tag), else None."""
    words = line.split(" ")
    if words[0] == "SELECTED" and len(words) > 2:
        words = words[2:]
    if words[0] in ("MSG", "EXC") and len(words) in (3, 4):
        return int(words[2])
    return None


class ReplyReader:
    """Incremental reply parser: bytes in, Reply objects out."""

    def __init__(self):
        self.buf = bytearray()
        self.pos = 0
        self.header = None
        self.need = 0

    def feed(self, data):
        self.buf += data

    def replies(self):
        out = []
        buf = self.buf
        while True:
            if self.header is not None:
                if len(buf) - self.pos < self.need + 2:
                    break
                payload = bytes(buf[self.pos:self.pos + self.need])
                check(buf[self.pos + self.need:self.pos + self.need + 2] == b"\r\n", "payload not followed by CRLF")
                self.pos += self.need + 2
                out.append(Reply(self.header, payload))
                self.header = None
                continue
            end = buf.find(b"\r\n", self.pos)
            if end < 0:
                break
            line = buf[self.pos:end].decode("latin-1")
            self.pos = end + 2
            n = message_length(line)
            if n is None:
                out.append(Reply(line))
            else:
                self.header, self.need = line, n
        if self.pos > 65536 or self.pos == len(buf):
            del buf[:self.pos]
            self.pos = 0
        return out


def fields(line):
    """key=value pairs of an INFO, STAT or CHANNEL line."""
    out = {}
    for word in line.split(" ")[1:]:
        if "=" in word:
            k, v = word.split("=", 1)
            out[k] = int(v) if v.lstrip("-").isdigit() else v
    return out


# MARK: Blocking control client

class Control:
    """A blocking client for setup and inspection; over TLS with `tls`, an
    ssl.SSLContext."""

    def __init__(self, port, timeout=60, tls=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.reader = ReplyReader()
        self.pending = []

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        while not self.pending:
            data = self.sock.recv(1 << 16)
            check(data, "control connection closed by the server")
            self.reader.feed(data)
            self.pending.extend(self.reader.replies())
        return self.pending.pop(0)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def info(self):
        return fields(self.cmd("INFO").line)

    def stat(self, name):
        return fields(self.cmd(f"STAT {name}").line)

    def channels(self, prefix=""):
        """(total, [(name, fields)]) of CHANNELS, at most 1000 listed."""
        head = self.cmd(f"CHANNELS {prefix}".rstrip())
        count, total = int(head.words[1]), fields(head.line)["total"]
        listed = []
        for _ in range(count):
            line = self.reply().line
            listed.append((line.split(" ")[1], fields(line[len("CHANNEL "):])))
        return total, listed

    def wait_info(self, key, value, timeout=60, sleep=0.05):
        """Polls INFO until key == value; returns the INFO fields."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.info()
            if info[key] == value:
                return info
            check(time.monotonic() < deadline, f"INFO {key} stayed {info[key]}, expected {value}")
            time.sleep(sleep)

    def close(self):
        self.sock.close()


# MARK: Non-blocking clients on one selector

class Loop:
    """A selector loop with timers; every Conn registers here."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.timers = []
        self.counter = itertools.count()

    def call_later(self, delay, fn):
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self.counter), fn))

    def step(self, max_wait=0.05):
        timeout = max_wait
        if self.timers:
            timeout = max(0.0, min(timeout, self.timers[0][0] - time.monotonic()))
        for key, mask in self.selector.select(timeout):
            conn = key.data
            if mask & selectors.EVENT_WRITE:
                conn.on_writable()
            if mask & selectors.EVENT_READ and conn.sock is not None:
                conn.on_readable()
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, fn = heapq.heappop(self.timers)
            fn()

    def run_until(self, condition, timeout, what, progress=None):
        """Runs until condition() holds. Fails after `timeout` seconds, or,
        with progress (a function returning a number that grows while work is
        done), once it has not grown for `timeout` seconds: a hang guard, not
        a speed requirement."""
        start = last_change = time.monotonic()
        last = progress() if progress else None
        while not condition():
            self.step()
            now = time.monotonic()
            if progress:
                value = progress()
                if value != last:
                    last, last_change = value, now
                check(now - last_change < timeout, f"{what}: no progress for {timeout} s")
            else:
                check(now - start < timeout, f"{what}: not done after {timeout} s")

    def run_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step(min(0.05, max(0.0, end - time.monotonic())))


class Conn:
    """A non-blocking client connection, over TLS with `tls` (an
    ssl.SSLContext): then the handshake, reads and writes are all driven by
    the selector's readiness. `connected` means ready for commands (TCP
    connected and, with TLS, the handshake done). Callbacks: on_open(conn),
    on_reply(conn, reply), on_close(conn, reason)."""

    def __init__(self, loop, port, on_open=None, on_reply=None, on_close=None, tls=None):
        self.loop = loop
        self.tls = tls
        self.handshaking = False
        self.handshake_events = 0
        self.on_open, self.on_reply, self.on_close = on_open, on_reply, on_close
        self.reader = ReplyReader()
        self.out = bytearray()
        self.connected = False
        self.reading = True
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.events = selectors.EVENT_WRITE
        err = self.sock.connect_ex(("127.0.0.1", port))
        if err not in (0, 115):  # EINPROGRESS
            self.sock.close()
            self.sock = None
            raise Failure(f"connect: {os.strerror(err)}")
        loop.selector.register(self.sock, self.events, self)

    def _set_events(self):
        if self.handshaking:
            events = self.handshake_events
        else:
            events = (selectors.EVENT_READ if self.reading and self.connected else 0)
            if self.out or not self.connected:
                events |= selectors.EVENT_WRITE
        if events != self.events:
            if events == 0:
                self.loop.selector.unregister(self.sock)
            elif self.events == 0:
                self.loop.selector.register(self.sock, events, self)
            else:
                self.loop.selector.modify(self.sock, events, self)
            self.events = events

    def on_writable(self):
        if self.handshaking:
            self._handshake()
            return
        if not self.connected:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._closed(f"connect: {os.strerror(err)}")
                return
            if self.tls is not None:
                self._start_tls()
            else:
                self._opened()
            return
        self.flush()

    def _opened(self):
        self.connected = True
        self._set_events()
        if self.on_open:
            self.on_open(self)

    def _start_tls(self):
        # Wrapping moves the descriptor to a new socket object: register that one.
        self.loop.selector.unregister(self.sock)
        self.sock = self.tls.wrap_socket(self.sock, server_hostname="127.0.0.1", do_handshake_on_connect=False)
        self.loop.selector.register(self.sock, self.events, self)
        self.handshaking = True
        self._handshake()

    def _handshake(self):
        """One step of the TLS handshake; waits for what OpenSSL asks for."""
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.handshake_events = selectors.EVENT_READ
        except ssl.SSLWantWriteError:
            self.handshake_events = selectors.EVENT_WRITE
        except OSError as e:
            self._closed(f"handshake: {e}")
            return
        else:
            self.handshaking = False
            self._opened()
            return
        self._set_events()

    def send(self, data):
        if self.sock is None:
            return
        self.out += data
        if self.connected:
            self.flush()

    def flush(self):
        if self.out and self.sock is not None:
            try:
                # A TLS write that wanted to wait is retried with the same
                # bytes first (they stay in `out`), as OpenSSL requires.
                n = self.sock.send(self.out[:1 << 16] if self.tls is not None else self.out)
                del self.out[:n]
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
            except OSError as e:
                self._closed(f"send: {e}")
                return
        self._set_events()

    def pause_reading(self, paused):
        self.reading = not paused
        if self.sock is not None:
            self._set_events()

    def on_readable(self):
        if self.handshaking:
            self._handshake()
        elif self.tls is not None:
            # Decrypted bytes can wait inside the TLS layer (sock.pending())
            # where the selector cannot see them: read until it wants more.
            while self._receive_chunk() or (self.sock is not None and self.sock.pending()):
                pass
        else:
            self._receive_chunk()

    def drain_now(self):
        """Reads whatever has arrived, without waiting."""
        while self.sock is not None and self._receive_chunk():
            pass

    def _receive_chunk(self):
        """Reads one chunk and handles its replies; False when nothing more
        can be read now (or the connection is gone)."""
        try:
            data = self.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except OSError as e:
            self._closed(f"recv: {e}")
            return False
        if not data:
            self._closed("eof")
            return False
        self.reader.feed(data)
        for reply in self.reader.replies():
            if self.on_reply:
                self.on_reply(self, reply)
            if self.sock is None:
                return False
        return True

    def _forget(self):
        if self.sock is None:
            return None
        if self.events:
            self.loop.selector.unregister(self.sock)
            self.events = 0
        sock, self.sock = self.sock, None
        return sock

    def _closed(self, reason):
        sock = self._forget()
        if sock is not None:
            sock.close()
            if self.on_close:
                self.on_close(self, reason)

    def reset(self):
        """Kills the connection with a TCP reset (SO_LINGER 0, then close), as a crashed client."""
        sock = self._forget()
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

    def close(self):
        sock = self._forget()
        if sock is not None:
            sock.close()

    def shutdown_write(self):
        """End of input: the server runs what it has, then closes."""
        if self.sock is not None:
            self.flush()
            self.sock.shutdown(socket.SHUT_WR)


def open_many(loop, port, count, on_reply, concurrency=256, timeout=120, tls=None):
    """Opens `count` connections (over TLS with `tls`, an ssl.SSLContext), at
    most `concurrency` connecting at once (the listen backlog is 511), each
    sending PING and waiting for PONG. Returns them, in order."""
    conns = [None] * count
    state = {"next": 0, "connecting": 0, "ready": 0, "failed": []}

    def ready_reply(conn, reply):
        if reply.kind == "PONG" and not conn.ready:
            conn.ready = True
            state["ready"] += 1
            state["connecting"] -= 1
            conn.on_reply = on_reply
            start_more()
        else:
            on_reply(conn, reply)

    def closed(conn, reason):
        state["failed"].append(reason)

    def start_more():
        while state["next"] < count and state["connecting"] < concurrency:
            i = state["next"]
            state["next"] += 1
            state["connecting"] += 1
            c = Conn(loop, port, on_open=lambda c: c.send(b"PING\r\n"), on_reply=ready_reply, on_close=closed,
                     tls=tls)
            c.ready = False
            c.index = i
            conns[i] = c

    start_more()
    loop.run_until(lambda: state["ready"] == count or state["failed"], timeout, "opening connections",
                   progress=lambda: state["ready"])
    check(not state["failed"], f"{len(state['failed'])} connections failed: {state['failed'][:3]}")
    return conns
