#!/usr/bin/env bash
# Builds the libFuzzer target for chand's request handling:
# .build-fuzz/fuzz-chand. ChanProtocol, ChanCore, ChanSession (with swift-log,
# which it logs through) and the entry point (Tests/Fuzz/FuzzChand.swift) are
# compiled with coverage instrumentation and AddressSanitizer. A compile error
# fails the build: no stale binary is kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.build-fuzz
mkdir -p "$out/modules"
rm -f "$out/fuzz-chand"
flags=(-O -g -sanitize=fuzzer,address -parse-as-library -swift-version 6 -enable-testing -I "$out/modules")
swiftc "${flags[@]}" -wmo -module-name ChanCore -emit-module -emit-module-path "$out/modules/ChanCore.swiftmodule" \
    -c Sources/ChanCore/*.swift -o "$out/ChanCore.o"
swiftc "${flags[@]}" -wmo -module-name ChanProtocol -emit-module -emit-module-path "$out/modules/ChanProtocol.swiftmodule" \
    -c Sources/ChanProtocol/*.swift -o "$out/ChanProtocol.o"
# swift-log's sources, as the package manager checked them out.
[ -d .build/checkouts/swift-log ] || swift package resolve
swiftc -O -sanitize=fuzzer,address -parse-as-library -swift-version 5 -package-name swift_log -wmo -module-name Logging \
    -emit-module -emit-module-path "$out/modules/Logging.swiftmodule" \
    -c $(find .build/checkouts/swift-log/Sources/Logging -name '*.swift') -o "$out/Logging.o"
swiftc "${flags[@]}" -wmo -module-name ChanSession -emit-module -emit-module-path "$out/modules/ChanSession.swiftmodule" \
    -c Sources/ChanSession/*.swift -o "$out/ChanSession.o"
# The linker's notes about AddressSanitizer's local symbols are noise.
swiftc "${flags[@]}" -module-name FuzzChand Tests/Fuzz/FuzzChand.swift \
    "$out/ChanProtocol.o" "$out/ChanCore.o" "$out/Logging.o" "$out/ChanSession.o" -o "$out/fuzz-chand" 2>&1 \
    | { grep -v "Cannot export local symbol '__asan" || true; }
test -x "$out/fuzz-chand"
echo "built $out/fuzz-chand"
