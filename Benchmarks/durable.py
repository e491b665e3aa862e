#!/usr/bin/env python3
"""Durable channels against chand in memory and Redis with an append-only
file, side by side in one run: one producer and one consumer through one
queue, 16-byte values.

    python3 Benchmarks/durable.py [--chand .build/release/chand] [--values 200000] [--always-values 20000]
                                  [--window 1,64] [--rounds 3] [--compaction-values 600000]

Servers, each started here on a free loopback port, its data in a fresh
temporary directory:
  chand memory      MAKE q CAP 1000                      (no --data-dir)
  chand no/everysec/always  MAKE q CAP 1000 DURABLE, chand --data-dir --fsync <policy>
  redis everysec/always     redis-server --appendonly yes --appendfsync <policy>, LPUSH / BRPOP

The producer sends `window` values, then reads their `window` replies (1: each
SEND / LPUSH waits for its answer; 64: pipelined); the consumer keeps
`window` receives (RECV / BRPOP) outstanding. Producer and consumer are two
processes. values/s = values / (first send to last value received). A third
process PINGs the server every 2 ms throughout: "ping max ms" is the longest
round trip it saw (the longest stall of the server's loop, plus this
machine's scheduling). "compactions" counts the store's snapshots seen
during the run (chand only; the last rows run long enough to compact)."""
import argparse, multiprocessing, os, shutil, socket, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
VALUE = b"0123456789abcdef"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connect(port):
    for _ in range(200):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def read_exact(sock, n, buf):
    while len(buf) < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
    out = bytes(buf[:n])
    del buf[:n]
    return out


class Protocol:
    """Requests and fixed-size replies of one server kind."""

    def __init__(self, kind):
        self.kind = kind
        if kind == "chand":
            self.send = b"SEND q " + VALUE + b"\r\n"
            self.send_reply = b"OK\r\n"
            self.recv = b"RECV q\r\n"
            self.recv_reply = b"MSG q 16\r\n" + VALUE + b"\r\n"
            self.ping, self.pong = b"PING\r\n", b"PONG\r\n"
        else:
            self.send = b"*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$16\r\n" + VALUE + b"\r\n"
            self.send_reply = None  # ":<length>\r\n", variable
            self.recv = b"*3\r\n$5\r\nBRPOP\r\n$1\r\nq\r\n$1\r\n0\r\n"
            self.recv_reply = b"*2\r\n$1\r\nq\r\n$16\r\n" + VALUE + b"\r\n"
            self.ping, self.pong = b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"


def read_lines(sock, count, buf):
    while buf.count(b"\r\n") < count:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
    end = 0
    for _ in range(count):
        end = buf.index(b"\r\n", end) + 2
    out = bytes(buf[:end])
    del buf[:end]
    return out


def producer(port, kind, values, window, start):
    p = Protocol(kind)
    s, buf = connect(port), bytearray()
    start.wait()
    left = values
    while left:
        k = min(window, left)
        s.sendall(p.send * k)
        if p.send_reply:
            got = read_exact(s, len(p.send_reply) * k, buf)
            assert got == p.send_reply * k, got[:80]
        else:
            got = read_lines(s, k, buf)
            assert got.count(b":") == k, got[:80]
        left -= k
    s.close()


def consumer(port, kind, values, window, start, done):
    p = Protocol(kind)
    s, buf = connect(port), bytearray()
    start.wait()
    outstanding = min(window, values)
    s.sendall(p.recv * outstanding)
    received = 0
    while received < values:
        got = read_exact(s, len(p.recv_reply), buf)
        assert got == p.recv_reply, got[:80]
        received += 1
        outstanding -= 1
        if received + outstanding < values:
            s.sendall(p.recv)
            outstanding += 1
    done.value = time.monotonic()
    s.close()


def pinger(port, kind, stop, worst):
    p = Protocol(kind)
    s, buf = connect(port), bytearray()
    longest = 0.0
    while not stop.is_set():
        t = time.monotonic()
        s.sendall(p.ping)
        assert read_exact(s, len(p.pong), buf) == p.pong
        longest = max(longest, time.monotonic() - t)
        time.sleep(0.002)
    worst.value = longest
    s.close()


def command(port, line, reply_prefix):
    s, buf = connect(port), bytearray()
    s.sendall(line)
    got = read_lines(s, 1, buf)
    assert got.startswith(reply_prefix), got
    s.close()


class Server:
    def __init__(self, name, argv, kind, directory):
        self.name, self.kind, self.directory = name, kind, directory
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def start_server(name, chand, port, directory):
    if name.startswith("redis"):
        policy = name.split()[1]
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                "--appendfsync", policy, "--dir", directory, "--daemonize", "no", "--protected-mode", "no"]
        return Server(name, argv, "redis", directory)
    argv = [chand, "--port", str(port), "--log-level", "error"]
    if name != "chand memory":
        argv += ["--data-dir", directory, "--fsync", name.split()[1]]
    return Server(name, argv, "chand", directory)


def run_one(name, chand, values, window):
    directory = tempfile.mkdtemp(prefix="durable-bench-")
    port = free_port()
    server = start_server(name, chand, port, directory)
    try:
        if server.kind == "chand":
            command(port, b"MAKE q CAP 1000" + (b" DURABLE" if name != "chand memory" else b"") + b"\r\n", b"OK")
        else:
            command(port, b"*1\r\n$4\r\nPING\r\n", b"+PONG")
        ctx = multiprocessing.get_context("fork")
        start, stop = ctx.Event(), ctx.Event()
        done, worst = ctx.Value("d", 0.0), ctx.Value("d", 0.0)
        procs = [ctx.Process(target=producer, args=(port, server.kind, values, window, start)),
                 ctx.Process(target=consumer, args=(port, server.kind, values, window, start, done))]
        ping = ctx.Process(target=pinger, args=(port, server.kind, stop, worst))
        for p in procs + [ping]:
            p.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        start.set()
        snapshots = set()  # each compaction writes a new snap-<n>.log
        while any(p.is_alive() for p in procs):
            if server.kind == "chand":
                snapshots.update(f for f in os.listdir(directory) if f.startswith("snap-") and f.endswith(".log"))
            time.sleep(0.05)
        for p in procs:
            p.join()
            assert p.exitcode == 0, f"{name}: a client failed"
        stop.set()
        ping.join()
        elapsed = done.value - t0
        snaps = len(snapshots) if server.kind == "chand" else None
        return values / elapsed, worst.value * 1000, snaps
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chand", default=os.path.join(ROOT, ".build", "release", "chand"))
    ap.add_argument("--values", type=int, default=200_000)
    ap.add_argument("--always-values", type=int, default=20_000, help="values for the fsync-always rows")
    ap.add_argument("--window", default="1,64")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds, each running every server once in turn; each row shows the median round")
    ap.add_argument("--compaction-values", type=int, default=600_000,
                    help="values for the compaction rows (enough to write 16 MiB of dead records several times); 0: skip")
    args = ap.parse_args()
    servers = ["chand memory", "chand no", "chand everysec", "chand always", "redis everysec", "redis always"]
    print(f"{'window':>6}  {'server':<16}{'values':>8}{'values/s':>11}{'ping max ms':>13}{'compactions':>13}")
    for window in map(int, args.window.split(",")):
        # Rounds interleave the servers, so that a busy minute of this
        # machine falls on all of them.
        runs = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name in servers:
                n = args.always_values if name.endswith("always") else args.values
                runs[name].append(run_one(name, args.chand, n, window))
        rates = {}
        for name in servers:
            n = args.always_values if name.endswith("always") else args.values
            rate, ping_ms, snaps = sorted(runs[name])[len(runs[name]) // 2]
            rates[name] = rate
            print(f"{window:>6}  {name:<16}{n:>8}{rate:>11.0f}{ping_ms:>13.1f}{'' if snaps is None else snaps:>13}",
                  flush=True)
        print(f"        everysec / memory: {rates['chand everysec'] / rates['chand memory']:.2f}x (goal 0.8x); "
              f"chand always / redis always: {rates['chand always'] / rates['redis always']:.2f}x (goal 1.0x)", flush=True)
    if args.compaction_values:
        # Long enough for the store to compact while the loop serves the
        # producer, the consumer and the PINGs; memory alongside for the
        # machine's own stalls.
        for name in ("chand memory", "chand everysec"):
            rate, ping_ms, snaps = run_one(name, args.chand, args.compaction_values, 64)
            print(f"{64:>6}  {name:<16}{args.compaction_values:>8}{rate:>11.0f}{ping_ms:>13.1f}{snaps:>13}", flush=True)


if __name__ == "__main__":
    main()
