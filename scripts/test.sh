#!/usr/bin/env bash
# Runs every test: the Swift suites (engine, protocol, daemon over loopback,
# end-to-end with the built binaries).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build
