#!/usr/bin/env bash
# Builds the libFuzzer target for chand's request handling:
# .build-fuzz/fuzz-chand. ChanProtocol, ChanCore and the entry point
# (Tests/Fuzz/FuzzChand.swift) are compiled with coverage instrumentation and
# AddressSanitizer; DequeModule and its dependencies are linked from the
# package's debug build (run `swift build` first; scripts/fuzz.sh does).
set -euo pipefail
cd "$(dirname "$0")/../.."
deps=.build/debug
out=.build-fuzz
mkdir -p "$out/modules"
for m in DequeModule ContainersPreview InternalCollectionsUtilities; do
    [ -d "$deps/$m.build" ] || { echo "build.sh: $deps/$m.build missing; run swift build first" >&2; exit 1; }
done
flags=(-O -g -sanitize=fuzzer,address -parse-as-library -swift-version 6 -enable-testing
       -I "$out/modules" -I "$deps/Modules")
swiftc "${flags[@]}" -wmo -module-name ChanProtocol -emit-module -emit-module-path "$out/modules/ChanProtocol.swiftmodule" \
    -c Sources/ChanProtocol/*.swift -o "$out/ChanProtocol.o"
swiftc "${flags[@]}" -wmo -module-name ChanCore -emit-module -emit-module-path "$out/modules/ChanCore.swiftmodule" \
    -c Sources/ChanCore/*.swift -o "$out/ChanCore.o"
deque_objects=()
for m in DequeModule ContainersPreview InternalCollectionsUtilities; do
    for o in "$deps/$m.build"/*.o; do deque_objects+=("$o"); done
done
swiftc "${flags[@]}" -module-name FuzzChand Tests/Fuzz/FuzzChand.swift \
    "$out/ChanProtocol.o" "$out/ChanCore.o" "${deque_objects[@]}" -o "$out/fuzz-chand" 2>&1 \
    | grep -v "Cannot export local symbol '__asan" || true
test -x "$out/fuzz-chand"
echo "built $out/fuzz-chand"
