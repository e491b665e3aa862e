#!/usr/bin/env bash
# Sets up, builds (release) and runs the daemon on 127.0.0.1:7400. Flags are
# passed on: scripts/run.sh --port 7401 --log-level debug
set -euo pipefail
cd "$(dirname "$0")/.."
for argument in "$@"; do
    if [ "$argument" = "--help" ] || [ "$argument" = "-h" ]; then
        echo "Usage: scripts/run.sh [chand option]..."
        echo "Sets up (Debian packages), builds chand in release mode and runs it; the options go to chand."
        if [ -x .build/release/chand ]; then
            echo
            .build/release/chand --help
        else
            echo "chand's options: README.md, Configuration (or .build/release/chand --help once built)."
        fi
        exit 0
    fi
done
bash scripts/setup.sh
swift build -c release --product chand
exec "$(swift build -c release --show-bin-path)/chand" "$@"
