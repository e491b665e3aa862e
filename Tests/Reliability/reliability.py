#!/usr/bin/env python3
"""chand's reliability suite against the real daemon: load, faults and
hostile input, with figures. Run through scripts/reliability.sh (which also
runs the fuzzer and, with --long, the sanitizer builds).

  reliability.py [--long] [--only load,load-tls,chaos,chaos-ack,slowloris,hogs,payloads,make,select,replay,durable] [--json PATH]

The short mode is what scripts/test.sh (CI) runs; --long is for a person.
The daemon is CHAND_BIN, or .build/debug/chand."""

import argparse
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chaos  # noqa: E402
import durable  # noqa: E402
import hostile  # noqa: E402
import load  # noqa: E402
from chanrel import Failure, chand_binary  # noqa: E402

SHORT = {
    "load": lambda: load.run(connections=10_000, channels=1_000, sends_per_sender=10),
    "load-tls": lambda: load.run(connections=2_000, channels=200, sends_per_sender=10, tls=True),
    "chaos": lambda: chaos.run(seconds=10, population=64),
    "chaos-ack": lambda: chaos.run(seconds=5, population=64, ack_share=1.0),
    "slowloris": lambda: hostile.slowloris(connections=500, seconds=5),
    "hogs": lambda: hostile.hogs(count=10),
    "payloads": lambda: hostile.held_payloads(connections=50),
    "make": lambda: hostile.flood_make(max_channels=20_000, extra=20_000),
    "select": lambda: hostile.flood_select_cases(lines=1_000_000),
    "replay": lambda: hostile.replay_corpus(limit=300),
    "durable": lambda: durable.run(kills=20),
}

LONG = {
    "load": lambda: load.run(connections=10_000, channels=1_000, sends_per_sender=100),
    "load-tls": lambda: load.run(connections=10_000, channels=1_000, sends_per_sender=10, tls=True),
    "chaos": lambda: chaos.run(seconds=120, population=200),
    "chaos-ack": lambda: chaos.run(seconds=60, population=200, ack_share=1.0),
    "slowloris": lambda: hostile.slowloris(connections=5_000, seconds=60),
    "hogs": lambda: hostile.hogs(count=100),
    "payloads": lambda: hostile.held_payloads(connections=500),
    "make": lambda: hostile.flood_make(max_channels=200_000, extra=100_000),
    "select": lambda: hostile.flood_select_cases(lines=10_000_000),
    "replay": lambda: hostile.replay_corpus(limit=5_000),
    "durable": lambda: durable.run(kills=200),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", action="store_true", help="the long runs (minutes), for a person")
    parser.add_argument("--only", help="comma-separated scenarios: " + ",".join(SHORT))
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    plan = LONG if args.long else SHORT
    names = args.only.split(",") if args.only else list(plan)
    unknown = [n for n in names if n not in plan]
    if unknown:
        parser.error(f"unknown scenarios {unknown}")
    print(f"reliability ({'long' if args.long else 'short'}): {chand_binary()}", flush=True)
    results, failed = {"mode": "long" if args.long else "short", "binary": chand_binary()}, []
    for name in names:
        start = time.monotonic()
        try:
            figures = plan[name]()
            figures["wall_seconds"] = round(time.monotonic() - start, 1)
            results[name] = figures
        except (Failure, Exception) as e:  # a failed check, or the harness broke: both fail the run
            failed.append(name)
            results[name] = {"failed": str(e)}
            print(f"{name}: FAILED: {e}", flush=True)
            if not isinstance(e, Failure):
                traceback.print_exc()
        sys.stdout.flush()
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if failed:
        print(f"reliability: FAILED: {', '.join(failed)}")
        return 1
    print(f"reliability: {len(names)} scenarios passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
