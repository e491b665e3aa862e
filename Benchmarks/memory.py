#!/usr/bin/env python3
"""Resident memory of chand per idle connection, per connection blocked in
RECV, and per buffered value, from the daemon's VmRSS.

    python3 Benchmarks/memory.py [--chand PATH] [--connections 5000] [--values 200000] [--size 16]

Starts its own daemon (release build by default) on a free loopback port.
Each figure is (RSS after - RSS before) / count, measured after the server
has acknowledged everything, so it includes allocator overhead.
"""
import argparse, os, resource, socket, subprocess, sys, time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def read_line(sock, buf):
    while b"\n" not in buf[0]:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        buf[0] += chunk
    line, buf[0] = buf[0].split(b"\n", 1)
    return line.rstrip(b"\r").decode()


def command(sock, buf, text):
    sock.sendall(text.encode() + b"\r\n")
    return read_line(sock, buf)


def stat(ctl, buf, name):
    fields = dict(kv.split("=", 1) for kv in command(ctl, buf, f"STAT {name}").split()[2:])
    return fields


def settle(pid, seconds=0.5):
    time.sleep(seconds)
    return rss_kib(pid)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chand")
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--values", type=int, default=200000)
    ap.add_argument("--size", type=int, default=16)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if a.connections * 2 + 100 > hard:
        sys.exit(f"memory: open-file limit {hard} is too low for {a.connections} connections")
    chand = a.chand
    if not chand:
        subprocess.run(["swift", "build", "-c", "release", "--product", "chand"], check=True, stdout=subprocess.DEVNULL)
        bindir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"],
                                check=True, capture_output=True, text=True).stdout.strip()
        chand = os.path.join(bindir, "chand")
    proc = subprocess.Popen([chand, "--port", "0", "--max-connections", str(a.connections * 2 + 10),
                             "--max-capacity", str(a.values)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
        ctl = socket.create_connection(("127.0.0.1", port))
        cbuf = [b""]
        assert command(ctl, cbuf, "PING") == "PONG"
        base = settle(proc.pid)

        idle = []
        for _ in range(a.connections):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"PING\r\n")
            idle.append(s)
        for s in idle:
            assert read_line(s, [b""]) == "PONG"
        after_idle = settle(proc.pid)

        blocked = []
        for i in range(a.connections):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"RECV mem.{i % 1000}\r\n".encode())
            blocked.append(s)
        while int(command(ctl, cbuf, "INFO").split("tasklets_blocked=")[1].split()[0]) < a.connections:
            time.sleep(0.05)
        after_blocked = settle(proc.pid)

        assert command(ctl, cbuf, f"MAKE mem.buffer CAP {a.values}") == "OK"
        value = b"v" * a.size
        batch = 1000
        for start in range(0, a.values, batch):
            n = min(batch, a.values - start)
            ctl.sendall((f"SEND mem.buffer {{{a.size}}}\r\n".encode() + value + b"\r\n") * n)
            for _ in range(n):
                assert read_line(ctl, cbuf) == "OK"
        assert int(stat(ctl, cbuf, "mem.buffer")["len"]) == a.values
        after_values = settle(proc.pid)

        per = lambda kib, n: kib * 1024 / n
        print(f"chand memory: baseline {base} KiB RSS")
        print(f"  idle connection:    {per(after_idle - base, a.connections):8.0f} bytes each ({a.connections} connections)")
        print(f"  blocked in RECV:    {per(after_blocked - after_idle, a.connections):8.0f} bytes each ({a.connections} connections, 1000 channels)")
        print(f"  buffered {a.size}-byte value: {per(after_values - after_blocked, a.values):6.1f} bytes each ({a.values} values)")
        for s in idle + blocked:
            s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
