#!/bin/sh
# Instructions per request of the command parser, from callgrind: ChanBench's
# parse workloads run with 1,000 and 11,000 requests each, and the difference
# in the program's total divided by 10,000 (so start-up and exit cancel out).
#
#   sh Benchmarks/parse-instructions.sh [ChanBench binary]   (default .build/release/ChanBench)
set -eu
bench=${1:-.build/release/ChanBench}
out=$(mktemp -d)
total() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bench" "$1" "$2" 2>&1 >/dev/null |
        sed -n 's/.*Collected : *//p'
}
for w in select send recv recvack ack; do
    low=$(total 1000 "parse-$w")
    high=$(total 11000 "parse-$w")
    echo "parse-$w: $(( (high - low) / 10000 )) instructions per request"
done
rm -rf "$out"
