#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ABI checks on the built library, native or cross-built (the binutils of the library's
# architecture read it): no Swift runtime is linked, only lc_* is exported, the soname is
# versioned, the library needs only libc, libm, ALSA, Opus, speexdsp and OpenSSL (and the
# dynamic loader; with the echo canceller, WebRTC's audio processing library and libstdc++), no glibc newer than the wheel's manylinux_2_36 tag promises, no Embedded
# Swift "cannot print value" text, and the header compiles cleanly as C99 and C++17. Prints
# the stripped size and the NEEDED list.
set -euo pipefail
lib=${1:?usage: check-abi.sh path/to/liblayercode.so}
fail=0

machine=$(readelf -h "$lib" | sed -n 's/^ *Machine: *//p')
case $machine in
*X86-64*) tools= ;;
AArch64) tools=aarch64-linux-gnu- ;;
ARM) tools=arm-linux-gnueabihf- ;;
*) echo "check-abi: FAIL: $lib: unexpected machine '$machine'" >&2; exit 1 ;;
esac

needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if echo "$needed" | grep -E 'libswift|libFoundation|libdispatch|libBlocksRuntime'; then
    echo "check-abi: FAIL: $lib links a shared Swift runtime" >&2; fail=1
fi
# ld-linux-*: on aarch64 glibc exports __stack_chk_guard (stack protector) from the loader.
# The echo canceller (Sources/CEchoCancel, C++): WebRTC's audio processing module, Debian 12's
# APM 0.3 (libwebrtc_audio_processing.so.1) or Debian 13's APM 1.3
# (libwebrtc-audio-processing-1.so.3), and libstdc++.so.6 for operator new/delete and the
# std::map inside the APM 0.3 header's webrtc::Config.
allowed='^(libc\.so\.6|libm\.so\.6|libasound\.so\.2|libopus\.so\.0|libspeexdsp\.so\.1|libssl\.so\.3|libcrypto\.so\.3|ld-linux-[a-z0-9_-]+\.so\.[0-9]'
allowed+='|libwebrtc_audio_processing\.so\.1|libwebrtc-audio-processing-1\.so\.3|libstdc\+\+\.so\.6)$'
extra_needed=$(echo "$needed" | grep -Ev "$allowed" || true)
if [ -n "$extra_needed" ]; then
    echo "check-abi: FAIL: $lib needs libraries outside libc/libm/ALSA/Opus/speexdsp/OpenSSL/WebRTC APM/libstdc++:" \
        $extra_needed >&2; fail=1
fi
# Besides lc_*: the APM 0.3's webrtc::Config option identifiers, which must be unified with
# libwebrtc_audio_processing's (Sources/Layercode/exports.map says why).
extra=$("${tools}nm" -D --defined-only "$lib" | awk '{print $3}' | grep -v '^lc_' | grep -v '^LAYERCODE_' \
    | grep -Ev '^_ZZN6webrtc6Config10identifierI.*E14id_placeholder(@.*)?$' || true)
if echo "$extra" | grep -q '^lcecho_'; then
    echo "check-abi: FAIL: the echo canceller's internal lcecho_* symbols are exported" >&2
fi
if [ -n "$extra" ]; then
    echo "check-abi: FAIL: exported symbols outside lc_*:" >&2; echo "$extra" | head >&2; fail=1
fi
if ! readelf -d "$lib" | grep -q 'SONAME.*liblayercode\.so\.[0-9]'; then
    echo "check-abi: FAIL: no versioned soname" >&2; fail=1
fi
glibc=$("${tools}nm" -D --undefined-only "$lib" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' \
        | sort -t. -k1,1n -k2,2n | tail -1)
if [ -n "$glibc" ] && [ "$(printf '%s\n2.36\n' "$glibc" | sort -t. -k1,1n -k2,2n | tail -1)" != 2.36 ]; then
    echo "check-abi: FAIL: needs glibc $glibc, newer than manylinux_2_36" >&2; fail=1
fi
# Embedded Swift compiles an interpolation of a value with no textual form into this text,
# printed at run time instead of the value: the library must contain none.
if grep -qaF '(cannot print value in embedded Swift)' "$lib"; then
    echo "check-abi: FAIL: $lib interpolates a value Embedded Swift cannot print" \
        "(its text has '(cannot print value in embedded Swift)')" >&2; fail=1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '#include "layercode.h"\nint main(void) { lc_options o; return lc_options_init(&o); }\n' > "$tmp/h.c"
cp "$tmp/h.c" "$tmp/h.cpp"
cc -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -c "$tmp/h.c" -o "$tmp/c.o" || fail=1
c++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c "$tmp/h.cpp" -o "$tmp/cpp.o" || fail=1
"${tools}strip" -o "$tmp/stripped.so" "$lib"; size=$(stat -c %s "$tmp/stripped.so")
count=$("${tools}nm" -D --defined-only "$lib" | grep -c ' lc_')
echo "check-abi: $machine, NEEDED:" $needed
if [ $fail = 0 ]; then
    echo "check-abi: OK: $count lc_ symbols, no shared Swift runtime, glibc ${glibc:-?}, stripped size $size bytes"
fi
exit $fail
