#!/usr/bin/env python3
"""Heap allocations per handoff and who makes them, from two callgrind
profiles of the daemon (Benchmarks/daemon-instructions.sh with KEEP=1 leaves
cg.<workload>.100 and cg.<workload>.600): the calls to malloc in the longer
run less those in the shorter, over the handoffs between, followed up
through the Swift runtime and standard library (swift_allocObject, array
growth, ...) to the first caller in the project's own code.

    python3 Benchmarks/malloc-callers.py PROFILE_DIR WORKLOAD HANDOFFS_APART
"""
import re, subprocess, sys
from collections import Counter

ALLOCATORS = ("malloc", "calloc", "realloc", "posix_memalign")


def caller_graph(profile):
    """callee -> Counter(caller -> calls)."""
    tree = subprocess.run(["callgrind_annotate", "--tree=caller", "--threshold=100", profile],
                          capture_output=True, text=True).stdout
    graph, block = {}, []
    for line in tree.splitlines():
        if line.strip() == "":
            block = []
            continue
        m = re.match(r"\s*[\d,]+ \([^)]*\)\s+\*\s+(\S+)", line)
        if m:
            callee = m.group(1).rsplit(":", 1)[-1]
            for b in block:
                c = re.match(r"\s*[\d,]+ .*<\s+(\S+) \(([\d,]+)x\)", b)
                if c:
                    graph.setdefault(callee, Counter())[c.group(1).rsplit(":", 1)[-1]] += int(c.group(2).replace(",", ""))
            block = []
            continue
        block.append(line)
    return graph


def is_runtime(name):
    return name.startswith(("swift_", "$ss", "_swift", "$sS")) or "Tg5" in name and name.startswith("$ss")


def attributed(profile):
    """Allocations by the first non-runtime caller (calls split by the callers' call counts)."""
    graph = caller_graph(profile)
    result = Counter()

    def walk(fn, calls, depth):
        callers = graph.get(fn, Counter())
        total = sum(callers.values())
        if depth > 8 or total == 0 or (depth > 0 and not is_runtime(fn)):
            result[fn] += calls
            return
        for c, n in callers.items():
            walk(c, calls * n / total, depth + 1)

    for a in ALLOCATORS:
        walk(a, sum(graph.get(a, Counter()).values()), 0)
    return result


d, w, apart = sys.argv[1], sys.argv[2], int(sys.argv[3])
low, high = attributed(f"{d}/cg.{w}.100"), attributed(f"{d}/cg.{w}.600")
diff = {k: (high[k] - low[k]) / apart for k in high}
print(f"{w}: {sum(diff.values()):.2f} heap allocations per handoff")
for k, v in sorted(diff.items(), key=lambda kv: -kv[1]):
    if v >= 0.05:
        print(f"  {v:5.2f}  {k}")
