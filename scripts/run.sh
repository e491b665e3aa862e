#!/usr/bin/env bash
# Sets up, builds (release) and runs the daemon on 127.0.0.1:7400. Flags are
# passed on: scripts/run.sh --port 7401 --log-level debug
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product chand
exec "$(swift build -c release --show-bin-path)/chand" "$@"
