#!/usr/bin/env bash
# chand's reliability suite: load, faults and hostile input against the real
# daemon (Tests/Reliability), the protocol/engine fuzzer (Tests/Fuzz), and the
# Swift suites under AddressSanitizer and ThreadSanitizer.
#
#   scripts/reliability.sh               short runs, then the sanitizer suites
#                                        (~8 min; scripts/test.sh runs this)
#   scripts/reliability.sh --long        long runs: 120 s chaos, 100 sends per sender
#                                        over 10,000 connections, 10 min of fuzzing,
#                                        then the sanitizer suites (~25 min in all)
#   scripts/reliability.sh --sanitizers  only the Swift suites under ASan and TSan
#
# Options: --release (test the release build of chand), --asan / --tsan (run
# the reliability scenarios against a chand built with that sanitizer),
# --fuzz-seconds N, --no-fuzz, --no-sanitizers,
# --only load,load-tls,chaos,chaos-ack,slowloris,hogs,payloads,make,select,replay,durable
# Figures are printed and written to .build/reliability/<mode>.json.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=short fuzz_seconds=30 fuzz=1 scenarios=1 sanitizers=1 build=debug only=()
while (($#)); do
    case "$1" in
        --long) mode=long fuzz_seconds=600 ;;
        --sanitizers) sanitizers=1 fuzz=0 scenarios=0 ;;
        --release) build=release ;;
        --asan) build=asan ;;
        --tsan) build=tsan ;;
        --fuzz-seconds) fuzz_seconds=$2; shift ;;
        --no-fuzz) fuzz=0 ;;
        --no-sanitizers) sanitizers=0 ;;
        --only) only=(--only "$2"); fuzz=0; sanitizers=0; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "reliability.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

# Each process that holds the 10,000 load-test connections needs the file
# limit raised; the suite raises its soft limit to the hard one and the
# daemon inherits it. Say so early when the hard limit is too low.
if (( $(ulimit -Hn) < 10100 )) && [[ $(ulimit -Hn) != unlimited ]]; then
    echo "reliability.sh: the hard open-files limit is $(ulimit -Hn); the load test needs 10,100" >&2
fi

swift build >/dev/null
case $build in
    debug) export CHAND_BIN=$PWD/.build/debug/chand ;;
    release) swift build -c release --product chand >/dev/null; export CHAND_BIN=$PWD/.build/release/chand ;;
    asan) swift build --sanitize=address --scratch-path .build-asan --product chand >/dev/null
          export CHAND_BIN=$PWD/.build-asan/debug/chand ;;
    tsan) swift build --sanitize=thread --scratch-path .build-tsan --product chand >/dev/null
          export CHAND_BIN=$PWD/.build-tsan/debug/chand ;;
esac

status=0
if ((fuzz)); then
    echo "== fuzz (${fuzz_seconds}s)"
    bash scripts/fuzz.sh "$fuzz_seconds" || status=1
fi
if ((scenarios)); then
    echo "== scenarios ($mode)"
    long=(); [[ $mode == long ]] && long=(--long)
    python3 Tests/Reliability/reliability.py "${long[@]}" "${only[@]}" --json ".build/reliability/$mode.json" || status=1
fi
if ((sanitizers)); then
    export LSAN_OPTIONS=suppressions=$PWD/Tests/Reliability/lsan.supp
    for s in address thread; do
        echo "== swift test --sanitize=$s"
        log=.build/reliability/sanitize-$s.log
        mkdir -p .build/reliability
        if swift test --sanitize=$s --scratch-path ".build-${s:0:1}san" >"$log" 2>&1; then
            grep -E "Executed [0-9]+ tests" "$log" | tail -1
        else
            status=1
            grep -E "error:|ERROR: |WARNING: ThreadSanitizer|SUMMARY|Executed [0-9]+ tests" "$log" | tail -20
            echo "swift test --sanitize=$s FAILED; full log in $log" >&2
        fi
    done
fi
exit $status
