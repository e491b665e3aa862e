#!/usr/bin/env bash
# Installs what building and testing chand needs and a fresh machine may
# lack: libuv (Debian libuv1-dev), OpenSSL (libssl-dev, and the openssl
# command the TLS tests make certificates with), pkg-config, netcat (for the
# netcat session test), Go (golang-go, for the Go client's suite). Uses
# apt-get; runs it through sudo when not root.
set -euo pipefail

need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
if ! pkg-config --exists libuv 2>/dev/null; then need+=(libuv1-dev); fi
if ! pkg-config --exists openssl 2>/dev/null; then need+=(libssl-dev); fi
command -v openssl >/dev/null || need+=(openssl)
command -v go >/dev/null || need+=(golang-go)
command -v nc >/dev/null || need+=(netcat-openbsd)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)

if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
