#!/bin/sh
# The container's HEALTHCHECK: `chan ping` on the port chand listens on
# (CHAND_PORT), over the address chand listens on (CHAND_HOST), or loopback
# when that is every interface.
set -eu
host=${CHAND_HOST:-127.0.0.1}
case $host in
    0.0.0.0 | "") host=127.0.0.1 ;;
    :: | "[::]") host=::1 ;;
esac
exec chan ping --host "$host" --port "${CHAND_PORT:-7400}"
