#!/usr/bin/env python3
"""Two (or more) chand builds side by side, in one run, rounds interleaved:
the load generator and workloads of ../shared/bench/compare, one daemon per
build, each workload run against every build in turn within a round.

    python3 Benchmarks/compare-builds.py old=<an earlier release chand> \\
        new=.build/release/chand --workloads pairs,fanin --no-ack old

Reports medians over rounds of the rate, p50, p99 and the daemon's own CPU
time per handoff, and the load average before
and after, since rates on a shared machine move with the load; the CPU per
handoff moves much less (it is read from /proc/<pid>/task/*/schedstat,
in ns). "-ack" workloads are skipped for builds named in
--no-ack (older daemons have no acknowledged delivery).
"""
import argparse, importlib.machinery, importlib.util, os, shutil, signal, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# ../shared/bench/compare from the project root (or one level further up, from a checkout one level deeper).
COMPARE = next((c for c in (os.path.join(HERE, "..", up, "shared", "bench", "compare") for up in ("..", "../.."))
                if os.path.exists(c)), "compare")


def load_compare(path):
    loader = importlib.machinery.SourceFileLoader("compare", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("compare", loader))
    loader.exec_module(module)
    return module


def cpu_ns(pid):
    """CPU time of a whole process in ns: the sum over its threads of /proc's schedstat (finer than the
    10 ms ticks of /proc/<pid>/stat, which are several per cent of a short workload's server time)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builds", nargs="+", help="label=path of a chand binary")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workloads", default="pairs,fanin,fanin-w8,pairs-w8,pairs64,pairs-ack,fanin-w8-ack")
    ap.add_argument("--scale", type=int, default=1, help="multiply each workload's message count")
    ap.add_argument("--no-ack", default="", help="labels of builds without RECV ... ACK")
    ap.add_argument("--compare", default=COMPARE, help="path of the compare script (workloads, load generator)")
    a = ap.parse_args()
    cmp = load_compare(os.path.abspath(a.compare))
    builds = [b.split("=", 1) for b in a.builds]
    no_ack = set(filter(None, a.no_ack.split(",")))
    workloads = a.workloads.split(",")
    work = tempfile.mkdtemp(prefix="compare-builds.")
    pb = os.path.join(work, "peerbench")
    subprocess.run(["go", "build", "-o", pb, "."], cwd=os.path.join(os.path.dirname(os.path.abspath(a.compare)), "peerbench"),
                   check=True, env=dict(os.environ, GOFLAGS="-mod=mod", GOPATH=os.path.join(work, "gopath")))
    procs, addrs, pids = [], {}, {}
    load_before = loadavg()
    try:
        for label, path in builds:
            port = cmp.free_port()
            p = subprocess.Popen([path, "--host", "127.0.0.1", "--port", str(port)],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, label + ".log"), "w"))
            procs.append(p)
            pids[label] = p.pid
            cmp.wait_port(port, p, label)
            addrs[label] = f"127.0.0.1:{port}"
        results = {}
        for r in range(a.rounds):
            for w in workloads:
                order = builds if r % 2 == 0 else builds[::-1]  # alternate who goes first
                for label, _ in order:
                    if w.endswith("-ack") and label in no_ack:
                        continue
                    args = list(cmp.WORKLOADS[w])
                    args[args.index("-n") + 1] = str(int(args[args.index("-n") + 1]) * a.scale)
                    cpu0 = cpu_ns(pids[label])
                    out = subprocess.run([pb, "-target", "chand", "-addr", addrs[label], "-prefix", f"{label}{r}{w}"]
                                         + args, capture_output=True, text=True, timeout=600)
                    if out.returncode != 0:
                        print(f"{label} {w}: FAILED {out.stderr.strip()[-300:]}")
                        continue
                    cpu = (cpu_ns(pids[label]) - cpu0) / 1e9
                    kv = dict(f.split("=", 1) for f in out.stdout.split() if "=" in f)
                    results.setdefault((w, label), []).append(
                        (float(kv["rate"].rstrip("/s")), float(kv["p50_us"]), float(kv["p99_us"]),
                         cpu * 1e6 / int(kv["handoffs"])))
        first = builds[0][0]
        print(f"load average before {load_before}, after {loadavg()}; {a.rounds} rounds, medians")
        print(f"{'workload':13} {'build':8} {'handoffs/s':>11} {'p50 us':>8} {'p99 us':>8} {'cpu us':>7}"
              f"   rate/{first}  cpu/{first}")
        for w in workloads:
            med = {label: tuple(statistics.median(x[i] for x in results[(w, label)]) for i in range(4))
                   for label, _ in builds if (w, label) in results}
            for label, (rate, p50, p99, cpu) in med.items():
                ratio = ""
                if label != first and first in med:
                    ratio = f"{rate / med[first][0]:9.3f}  {cpu / med[first][3]:8.3f}"
                print(f"{w:13} {label:8} {rate:11.0f} {p50:8.0f} {p99:8.0f} {cpu:7.2f}   {ratio}")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
