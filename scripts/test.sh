#!/usr/bin/env bash
# Runs every test: the Swift suites (engine, protocol, daemon over loopback,
# end-to-end with the built binaries), then the short reliability suite (load,
# faults, hostile input against the daemon, 30 s of fuzzing; about 2 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build
bash scripts/reliability.sh
