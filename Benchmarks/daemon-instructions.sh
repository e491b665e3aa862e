#!/bin/sh
# Instructions the daemon spends per handoff, from callgrind: chand runs under
# valgrind twice per workload, once with a short and once with a longer
# peerbench run; the difference in its total over the difference in handoffs
# leaves out starting, connecting and stopping.
#
#   sh Benchmarks/daemon-instructions.sh CHAND PEERBENCH [workload...]
#   workloads: pairs fanin fanin-w8 pairs-ack fanin-w8-ack (default pairs fanin)
set -eu
# A fixed hash seed: the channel table is a Dictionary, and a random seed per
# process moves a SELECT's name lookups by up to 4% between runs of one build.
export SWIFT_DETERMINISTIC_HASHING=1
chand=$1 peerbench=$2
shift 2
[ $# -gt 0 ] || set -- pairs fanin
out=$(mktemp -d)
port=$(( 20000 + $$ % 20000 ))
run() {  # workload messages -> "instructions handoffs"
    case $1 in
        pairs) args="-workload pairs -k 8" ;;
        fanin) args="-workload fanin -k 8" ;;
        fanin-w8) args="-workload fanin -k 8 -window 8" ;;
        pairs-ack) args="-workload pairs -k 8 -ack" ;;
        fanin-w8-ack) args="-workload fanin -k 8 -window 8 -ack" ;;
        *) echo "unknown workload $1" >&2; exit 2 ;;
    esac
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1.$2" "$chand" --host 127.0.0.1 --port $port \
        >/dev/null 2>"$out/vg" &
    vg=$!
    i=0
    until "$peerbench" -target chand -addr 127.0.0.1:$port -workload ping -k 1 -n 1 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 300 ] || { echo "chand did not start" >&2; kill $vg; exit 1; }
        sleep 0.1
    done
    handoffs=$("$peerbench" -target chand -addr 127.0.0.1:$port -prefix w $args -n "$2" |
        sed -n 's/.*handoffs=\([0-9]*\).*/\1/p')
    kill -TERM $vg
    wait $vg || true
    echo "$(sed -n 's/.*Collected : *//p' "$out/vg") $handoffs"
}
for w in "$@"; do
    set -- $(run "$w" 100) $(run "$w" 600)
    echo "$w: $(( ($3 - $1) / ($4 - $2) )) instructions per handoff ($(( $4 - $2 )) handoffs apart)"
done
if [ -n "${KEEP:-}" ]; then echo "profiles in $out"; else rm -rf "$out"; fi
