#!/usr/bin/env python3
"""Whether one client can hold up the others: another client's PING latency
while one client pipelines listings or SENDs, at a million channels; and
resident memory under a flood of 1 MiB values into one big buffer.

    python3 Benchmarks/fairness.py [--chand PATH] [--channels 1000000] [--rounds 10]
                                   [--listings 50] [--sends 10000] [--flood 512]

Starts its own daemons (release build by default) on free loopback ports.
For each load, every round writes the whole pipeline in one go and then
pings from a second connection, one PING at a time, until the pipeline's
last reply has arrived; the figures are over the PINGs of all rounds.
The flood: MAKE q CAP 1000000, then --flood SENDs of 1 MiB from one
connection with the daemon's default --max-memory, RSS (VmRSS) sampled
while they go in; then a receiver takes them all, checking none is lost.
"""
import argparse, os, socket, subprocess, sys, threading, time


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode()

    def exactly(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def command(self, text):
        self.send(text + "\r\n")
        return self.line()


def start(chand, *flags):
    p = subprocess.Popen([chand, "--port", "0", *flags], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first = p.stdout.readline()
    if "listening on" not in first:
        p.kill()
        sys.exit(f"fairness: {chand} said {first!r}")
    return p, int(first.strip().rsplit(":", 1)[1])


def stop(p):
    p.terminate()
    p.wait(timeout=30)


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def info(conn):
    return dict(kv.split("=", 1) for kv in conn.command("INFO").split()[1:])


def percentile(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100))]


def make_channels(conn, n, chunk=50_000):
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        conn.send("".join(f"MAKE c{i}\r\n" for i in range(start, start + count)))
        replies = conn.exactly(4 * count)
        if replies != b"OK\r\n" * count:
            sys.exit(f"fairness: MAKE answered {replies[:80]!r}")


def pings_during(port, loader, pipeline, replies, rounds, setup=None):
    """PING round trips (ms) of a second connection while `loader` works
    through `pipeline` (written at once), until its `replies` lines arrived."""
    probe = Conn(port)
    probe.command("PING")
    samples = []
    for r in range(rounds):
        if setup:
            setup(loader, r)
        done = threading.Event()

        def drain():
            for _ in range(replies):
                loader.line()
            done.set()

        reader = threading.Thread(target=drain)
        reader.start()
        loader.send(pipeline(r))
        while not done.is_set():
            t0 = time.perf_counter()
            if probe.command("PING") != "PONG":
                sys.exit("fairness: PING not answered PONG")
            samples.append((time.perf_counter() - t0) * 1000)
        reader.join()
    probe.sock.close()
    return sorted(samples)


def idle_pings(port, n):
    probe = Conn(port)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        probe.command("PING")
        samples.append((time.perf_counter() - t0) * 1000)
    probe.sock.close()
    return sorted(samples)


def report(label, samples):
    if not samples:
        print(f"  {label:<44} no PING overlapped the load")
        return
    print(f"  {label:<44} PINGs {len(samples):6d}  p50 {percentile(samples, 50):8.2f} ms  "
          f"p99 {percentile(samples, 99):8.2f} ms  max {samples[-1]:8.2f} ms")


def latency(chand, a):
    p, port = start(chand, "--max-channels", str(a.channels + a.rounds + 10))
    try:
        loader = Conn(port)
        t0 = time.perf_counter()
        make_channels(loader, a.channels)
        print(f"  {a.channels} channels made in {time.perf_counter() - t0:.1f} s, RSS {rss_mib(p.pid):.0f} MiB")
        report("no load", idle_pings(port, 1000))
        n = a.listings
        report(f"{n} pipelined CHANNELS nomatch",
               pings_during(port, loader, lambda r: "CHANNELS nomatch\r\n" * n, n, a.rounds))
        report(f"{n} pipelined CHANNELS TOP 10",
               pings_during(port, loader, lambda r: "CHANNELS TOP 10\r\n" * n, n * 11, a.rounds))

        def fresh_queue(conn, r):
            if conn.command(f"MAKE q{r} CAP {a.sends}") != "OK":
                sys.exit("fairness: MAKE q failed")

        report(f"{a.sends} pipelined SENDs, buffered",
               pings_during(port, loader, lambda r: f"SEND q{r} x\r\n" * a.sends, a.sends, a.rounds, fresh_queue))
    finally:
        stop(p)


def flood(chand, a):
    p, port = start(chand)
    try:
        ctl = Conn(port)
        if ctl.command("MAKE q CAP 1000000") != "OK":
            sys.exit("fairness: MAKE q CAP 1000000 failed")
        base = rss_mib(p.pid)
        mib = 1 << 20
        sender = Conn(port)
        acknowledged = [0]

        def send_all():
            for i in range(a.flood):
                value = i.to_bytes(8, "big") * (mib // 8)
                sender.send(f"SEND q {{{mib}}}\r\n".encode() + value + b"\r\n")

        def count_oks():
            for _ in range(a.flood):
                if sender.line() != "OK":
                    sys.exit("fairness: a SEND was not answered OK")
                acknowledged[0] += 1

        writer = threading.Thread(target=send_all, daemon=True)
        oks = threading.Thread(target=count_oks, daemon=True)
        writer.start()
        oks.start()
        peak, last, still = base, -1, 0
        while still < 20 and acknowledged[0] < a.flood:  # until 2 s without progress, or all in
            time.sleep(0.1)
            peak = max(peak, rss_mib(p.pid))
            still = still + 1 if acknowledged[0] == last else 0
            last = acknowledged[0]
        i = info(ctl)
        print(f"  RSS before {base:.0f} MiB; {acknowledged[0]} of {a.flood} SENDs of 1 MiB answered OK; "
              f"RSS peak {peak:.0f} MiB, now {rss_mib(p.pid):.0f} MiB; "
              f"memory_used {i.get('memory_used', '-')} memory_max {i.get('memory_max', '-')}")
        receiver = Conn(port)
        for k in range(a.flood):
            receiver.send("RECV q\r\n")
            header = receiver.line()
            if header != f"MSG q {mib}":
                sys.exit(f"fairness: value {k}: {header}")
            value = receiver.exactly(mib + 2)
            if value[:8] != k.to_bytes(8, "big"):
                sys.exit(f"fairness: value {k} out of order or lost")
            peak = max(peak, rss_mib(p.pid)) if k % 32 == 0 else peak
        writer.join(30)
        oks.join(30)
        print(f"  all {a.flood} values received in order; {acknowledged[0]} SENDs answered OK; "
              f"RSS peak {peak:.0f} MiB; values_lost {info(ctl).get('values_lost')}")
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chand")
    ap.add_argument("--channels", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--listings", type=int, default=50)
    ap.add_argument("--sends", type=int, default=10_000)
    ap.add_argument("--flood", type=int, default=512)
    ap.add_argument("--skip-flood", action="store_true")
    a = ap.parse_args()
    chand = a.chand
    if not chand:
        subprocess.run(["swift", "build", "-c", "release", "--product", "chand"], check=True, stdout=subprocess.DEVNULL)
        chand = ".build/release/chand"
    print(f"fairness: {chand}")
    print("PING latency of another client:")
    latency(chand, a)
    if not a.skip_flood:
        print("memory flood:")
        flood(chand, a)


if __name__ == "__main__":
    main()
