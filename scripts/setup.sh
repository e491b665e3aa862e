#!/usr/bin/env bash
# Installs what building and testing chand needs and a fresh machine may
# lack: libuv (Debian libuv1-dev), pkg-config, netcat (for the netcat session
# test). Uses apt-get; runs it through sudo when not root.
set -euo pipefail

need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
if ! pkg-config --exists libuv 2>/dev/null; then need+=(libuv1-dev); fi
command -v nc >/dev/null || need+=(netcat-openbsd)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)

if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
