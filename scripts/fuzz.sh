#!/usr/bin/env bash
# Fuzzes chand's request handling (protocol parser + channel engine, driven
# as the daemon drives them) with libFuzzer for the given number of seconds
# (default 60). The corpus grows in .build-fuzz/corpus, seeded from
# Tests/Fuzz/corpus; a failing input is saved as .build-fuzz/artifacts/crash-*
# and the script exits non-zero. Replay one with:
#   .build-fuzz/fuzz-chand .build-fuzz/artifacts/crash-<hash>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bash Tests/Fuzz/build.sh
mkdir -p .build-fuzz/corpus .build-fuzz/artifacts
log=.build-fuzz/last-run.log
# The Swift runtime's own backtracer would hold a crashing run for minutes;
# libFuzzer and AddressSanitizer report crashes themselves.
status=0
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 .build-fuzz/fuzz-chand \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=.build-fuzz/artifacts/ .build-fuzz/corpus Tests/Fuzz/corpus >"$log" 2>&1 || status=$?
grep -E "Loaded 1 modules|INITED|^#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec|check failed|ERROR|SUMMARY|Test unit written" "$log" || true
last=$(grep -E "^#[0-9]+\s+(pulse|NEW|REDUCE|DONE)" "$log" | tail -1)
echo "fuzz: ${seconds}s, last status: ${last:-none}"
if [ "$status" -ne 0 ]; then
    echo "fuzz: FAILED (exit $status); full log in $log" >&2
    exit 1
fi
