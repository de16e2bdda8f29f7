#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ABI checks on the built library: the Swift runtime is linked in, only lc_* is exported,
# the soname is versioned, and the header compiles cleanly as C99 and C++17.
set -euo pipefail
lib=${1:?usage: check-abi.sh path/to/liblayercode.so}
fail=0

if ldd "$lib" | grep -E 'libswift|libFoundation|libdispatch|libBlocksRuntime'; then
    echo "check-abi: FAIL: $lib links a shared Swift runtime" >&2; fail=1
fi
extra=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^lc_' | grep -v '^LAYERCODE_' || true)
if [ -n "$extra" ]; then
    echo "check-abi: FAIL: exported symbols outside lc_*:" >&2; echo "$extra" | head >&2; fail=1
fi
if ! readelf -d "$lib" | grep -q 'SONAME.*liblayercode\.so\.[0-9]'; then
    echo "check-abi: FAIL: no versioned soname" >&2; fail=1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '#include "layercode.h"\nint main(void) { lc_options o; return lc_options_init(&o); }\n' > "$tmp/h.c"
cp "$tmp/h.c" "$tmp/h.cpp"
cc -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -c "$tmp/h.c" -o "$tmp/c.o" || fail=1
c++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c "$tmp/h.cpp" -o "$tmp/cpp.o" || fail=1
stripped=$(mktemp); strip -o "$stripped" "$lib"; size=$(stat -c %s "$stripped"); rm -f "$stripped"
count=$(nm -D --defined-only "$lib" | grep -c ' lc_')
if [ $fail = 0 ]; then
    echo "check-abi: OK: $count lc_ symbols, no shared Swift runtime, stripped size $size bytes"
fi
exit $fail
