#!/usr/bin/env bash
# Runs the Go client's checks and tests (clients/go): go vet, then go test
# against the chand binary ($CHAND_BIN, else the debug build, made here with
# `swift build --product chand`); the tests start it on a free loopback port.
# --race runs the tests under the race detector as well.
set -euo pipefail
cd "$(dirname "$0")/.."

race=0
for arg in "$@"; do
    case "$arg" in
        --race) race=1 ;;
        *) echo "usage: $0 [--race]" >&2; exit 64 ;;
    esac
done

if ! command -v go >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "test-go: installing golang-go"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq golang-go >/dev/null
fi

if [ -z "${CHAND_BIN:-}" ]; then
    swift build --product chand
    CHAND_BIN="$(swift build --show-bin-path)/chand"
fi
CHAND_BIN="$(cd "$(dirname "$CHAND_BIN")" && pwd)/$(basename "$CHAND_BIN")"
# The module has no dependencies: nothing may be fetched, and the installed
# Go builds it whatever the go line says.
export CHAND_BIN GOTOOLCHAIN=local GOPROXY=off GOFLAGS=
# Go needs a build cache; without a home directory it goes under .build-go.
if [ -z "${GOCACHE:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ] && [ -z "${HOME:-}" ]; then
    export GOCACHE="$PWD/.build-go/cache"
fi

cd clients/go
go vet ./...
go test -count=1 ./...
if ((race)); then
    go test -count=1 -race ./...
fi
