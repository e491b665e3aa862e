#!/usr/bin/env python3
"""What TLS costs chand: handoffs/s and the daemon's CPU per handoff for
`chan bench --pairs` and `--fanin`, plain against TLS, and the resident
memory of an idle connection, plain against TLS.

    python3 Benchmarks/tls.py [--bin DIR] [--messages 20000] [--connections 2000]

Starts its own daemons (release build by default) on free loopback ports,
with a certificate made by the openssl command. CPU is the daemon's
user+system time over the run (from /proc), divided by the handoffs; memory
is (RSS after - RSS before) / connections once every connection has
completed its handshake and answered one PING.
"""
import argparse, os, re, resource, socket, ssl, subprocess, sys, tempfile, time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def certificate(directory):
    ext = os.path.join(directory, "ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run = lambda *a: subprocess.run(["openssl", *a], cwd=directory, check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=bench CA")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "1", "-extfile", "ext")
    return [os.path.join(directory, n) for n in ("ca.pem", "server.pem", "server.key")]


def start(chand, tls, extra=()):
    args = [chand, "--port", "0", *extra]
    if tls:
        args += ["--tls-cert", tls[1], "--tls-key", tls[2]]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
    return proc, port


def bench(chan, chand, tls, mode, k, messages):
    proc, port = start(chand, tls)
    try:
        args = [chan, "bench", "--port", str(port), f"--{mode}", str(k), "--messages", str(messages)]
        if tls:
            args += ["--tls-ca", tls[0]]
        before = cpu_seconds(proc.pid)
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        cpu = cpu_seconds(proc.pid) - before
        handoffs = int(re.search(r"handoffs:\s+(\d+)", out).group(1))
        rate = int(re.search(r"handoffs/s:\s+(\d+)", out).group(1))
        p50 = re.search(r"latency p50:\s+(\S+ \S+)", out).group(1)
        return rate, cpu / handoffs * 1e6, p50
    finally:
        proc.terminate()
        proc.wait()


def idle_memory(chand, tls, connections):
    proc, port = start(chand, tls, ["--max-connections", str(connections + 10)])
    try:
        context = None
        if tls:
            context = ssl.create_default_context(cafile=tls[0])
        time.sleep(0.3)
        base = rss_kib(proc.pid)
        socks = []
        for _ in range(connections):
            s = socket.create_connection(("127.0.0.1", port))
            if context:
                s = context.wrap_socket(s, server_hostname="127.0.0.1")
            s.sendall(b"PING\r\n")
            socks.append(s)
        for s in socks:
            assert s.recv(16).startswith(b"PONG")
        time.sleep(0.5)
        per = (rss_kib(proc.pid) - base) * 1024 / connections
        for s in socks:
            s.close()
        return per
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", help="directory holding chand and chan (default: the release build)")
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=2000)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    bindir = a.bin
    if not bindir:
        for product in ("chand", "chan"):
            subprocess.run(["swift", "build", "-c", "release", "--product", product], check=True, stdout=subprocess.DEVNULL)
        bindir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"],
                                check=True, capture_output=True, text=True).stdout.strip()
    chand, chan = os.path.join(bindir, "chand"), os.path.join(bindir, "chan")
    with tempfile.TemporaryDirectory() as directory:
        tls = certificate(directory)
        print(f"{'workload':10} {'transport':9} {'handoffs/s':>10} {'p50':>10} {'daemon CPU us/handoff':>22}")
        for mode, k in (("pairs", 8), ("fanin", 8)):
            for name, t in (("plain", None), ("tls", tls)):
                rate, cpu, p50 = bench(chan, chand, t, mode, k, a.messages)
                print(f"{mode + '-' + str(k):10} {name:9} {rate:>10} {p50:>10} {cpu:>22.2f}")
        for name, t in (("plain", None), ("tls", tls)):
            print(f"idle connection, {name}: {idle_memory(chand, t, a.connections):.0f} bytes resident each "
                  f"({a.connections} connections)")


if __name__ == "__main__":
    main()
