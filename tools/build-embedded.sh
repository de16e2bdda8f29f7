#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the shipped liblayercode.so with Embedded Swift (no Swift runtime library):
#
#     VERSION=0.1.0 tools/build-embedded.sh ARCH OUTDIR
#
# ARCH is x86_64 (native), aarch64 or armhf (cross-built with Debian's cross gcc and the
# target's multiarch -dev packages, which `tools/ensure-deps.sh --cross` installs).
# Writes OUTDIR/lib/liblayercode.so.$VERSION with the .so.<major> and .so links; objects and
# Swift modules go to OUTDIR/obj. SWIFT_OPT (-O) picks the optimisation level.
#
# The four Swift modules compile in dependency order, one whole-module swiftc each; the C
# modules (Sources/C*) are found through their module maps; the C shims compile with the
# target's gcc, which also links: version script (only lc_* exported), --gc-sections with
# one section per function (drops what nothing reaches), -z defs (anything the Embedded
# stdlib or the sources leave undefined fails the link, not a later dlopen).
#
# The echo canceller engines (Sources/CEchoCancel/echo.cpp) compile with the target's g++
# (TARGET_CXX) against the target's WebRTC audio processing package: APM 1.x (AEC3) where
# `pkg-config webrtc-audio-processing-1` finds it, else Debian 12's APM 0.3 (legacy AEC),
# else none (speexdsp's canceller only, said on stderr). The library then also needs
# libstdc++ and the APM's shared library.
set -euo pipefail
arch=${1:?usage: build-embedded.sh ARCH OUTDIR}
out=${2:?usage: build-embedded.sh ARCH OUTDIR}
: "${VERSION:?VERSION (e.g. 0.1.0) must be set}"
cd "$(dirname "$0")/.."
somajor=${VERSION%%.*}
swiftc=${SWIFTC:-swiftc}
# The toolchain's own resource directory (right whether swiftc is the binary, a symlink or
# a proxy such as swiftly's).
resources=$("$swiftc" -print-target-info | sed -n 's/.*"runtimeResourcePath": *"\(.*\)".*/\1/p')
embedded=$resources/embedded
if [ ! -d "$embedded/x86_64-unknown-linux-gnu" ]; then
    echo "build-embedded: no Embedded Swift in '$resources' ($swiftc): a Swift 6.3 toolchain from swift.org is needed" >&2
    exit 1
fi

# Per architecture: the Swift target, the C compiler/linker, Debian's multiarch name, and
# the code generation flags that give the target's Linux ABI.
case $arch in
x86_64)
    target=x86_64-unknown-linux-gnu cc=${TARGET_CC:-cc} cxx=${TARGET_CXX:-c++} multiarch=x86_64-linux-gnu
    abi=() link=() ;;
aarch64)
    target=aarch64-none-none-elf cc=${TARGET_CC:-aarch64-linux-gnu-gcc} cxx=${TARGET_CXX:-aarch64-linux-gnu-g++}
    multiarch=aarch64-linux-gnu
    abi=() link=() ;;
armhf)
    # Debian armhf: ARMv7-A, VFPv3-D16, floating-point arguments in VFP registers.
    target=armv7-none-none-eabi cc=${TARGET_CC:-arm-linux-gnueabihf-gcc} cxx=${TARGET_CXX:-arm-linux-gnueabihf-g++}
    multiarch=arm-linux-gnueabihf
    # The Unicode tables (C++) name the EHABI personality routine: libgcc's, linked in
    # statically rather than needing libgcc_s.so.
    abi=(-Xcc -mfloat-abi=hard -Xcc -mfpu=vfpv3-d16) link=(-static-libgcc) ;;
*)
    echo "build-embedded: unknown ARCH '$arch' (x86_64, aarch64, armhf)" >&2; exit 2 ;;
esac
cross=()
if [ "$arch" != x86_64 ]; then
    # The toolchain has no Linux stdlib for these: the bare-metal one, position-independent,
    # with the target's glibc headers (Linux macros defined, as for a Linux target), then
    # the multiarch headers (OpenSSL's configuration.h), then the arch-independent ones
    # (alsa, opus, speex) last, after clang's own.
    cross=(-Xcc -fPIC -Xllvm -relocation-model=pic "${abi[@]}"
           -Xcc -D__linux__ -Xcc -D__gnu_linux__ -Xcc -D__unix__
           -Xcc -isystem -Xcc "/usr/$multiarch/include"
           -Xcc -isystem -Xcc "/usr/include/$multiarch"
           -Xcc -idirafter -Xcc /usr/include)
fi
for tool in "$cc" "$cxx"; do
    command -v "$tool" >/dev/null || { echo "build-embedded: $tool missing: run tools/ensure-deps.sh" >&2; exit 1; }
done

# The target's pkg-config files (the same packages Package.swift names).
export PKG_CONFIG_LIBDIR=/usr/lib/$multiarch/pkgconfig:/usr/share/pkgconfig
pkgs=(alsa opus speexdsp libssl libcrypto)
pkg_cflags=$(pkg-config --cflags "${pkgs[@]}")
pkg_libs=$(pkg-config --libs "${pkgs[@]}")
# The echo canceller's WebRTC engine (LCECHO_WEBRTC: 1 APM 1.x, 3 APM 0.3, 0 none), its
# headers as system headers (they are not warning-free), its library.
if pkg-config --exists webrtc-audio-processing-1; then
    echo_webrtc=1 echo_pkg=webrtc-audio-processing-1
elif pkg-config --exists webrtc-audio-processing; then
    echo_webrtc=3 echo_pkg=webrtc-audio-processing
else
    echo_webrtc=0 echo_pkg=
    echo "build-embedded: $arch: no WebRTC audio processing package (libwebrtc-audio-processing-dev):" \
         "the echo canceller is speexdsp's only" >&2
fi
echo_cflags=() echo_libs=()
if [ -n "$echo_pkg" ]; then
    for f in $(pkg-config --cflags "$echo_pkg"); do
        case $f in -I*) echo_cflags+=(-isystem "${f#-I}") ;; *) echo_cflags+=("$f") ;; esac
    done
    read -r -a echo_libs <<< "$(pkg-config --libs "$echo_pkg")"
fi

obj=$out/obj
mkdir -p "$obj" "$out/lib"
swift_flags=(-enable-experimental-feature Embedded -wmo -parse-as-library "${SWIFT_OPT:--O}" -warnings-as-errors
             -swift-version 5 -target "$target" "${cross[@]}"
             -Xfrontend -function-sections
             -I "$obj" -I Sources/CPosix -I Sources/CLayercodeShims/include -I Sources/CALSA
             -I Sources/COpus -I Sources/CSpeexDSP -I Sources/CLayercodeABI -I Sources/CEchoCancel/include
             -I Sources/CResample/include)
for f in $pkg_cflags; do swift_flags+=(-Xcc "$f"); done

objects=()
for module in LayercodeCore LayercodeNet LayercodeAudio Layercode; do
    echo "build-embedded: $arch: $module" >&2
    mapfile -t sources < <(find "Sources/$module" -name '*.swift' | LC_ALL=C sort)
    "$swiftc" "${swift_flags[@]}" -module-name "$module" \
        -emit-module -emit-module-path "$obj/$module.swiftmodule" \
        -c "${sources[@]}" -o "$obj/$module.o"
    objects+=("$obj/$module.o")
done

# The C shims, and what the Embedded stdlib calls that libc lacks (tools/embedded-runtime.c).
for c in Sources/CLayercodeShims/lcshims.c tools/embedded-runtime.c; do
    o=$obj/$(basename "$c" .c).o
    "$cc" -std=gnu11 -O2 -fPIC -ffunction-sections -fdata-sections -D_GNU_SOURCE -Wall -Werror \
        -ISources/CLayercodeShims/include -c "$c" -o "$o"
    objects+=("$o")
done
# The resampler's FIR at -O3: its dot product must vectorise (SSE2/AVX2, NEON).
"$cc" -std=gnu11 -O3 -fPIC -ffunction-sections -fdata-sections -Wall -Werror \
    -ISources/CResample/include -c Sources/CResample/fir.c -o "$obj/fir.o"
objects+=("$obj/fir.o")

# String's Unicode tables (normalisation, grapheme breaks), only the parts referenced.
tables=$embedded/$target/libswiftUnicodeDataTables.a
if [ "$arch" = armhf ]; then
    # The toolchain's armv7 tables are built for the soft-float ABI, which ld refuses to mix
    # with hard-float objects. Their functions take and return integers only, except
    # _swift_stdlib_getNumericValue (a double): drop the ABI attributes, and check below
    # that the library does not use that one.
    rm -rf "$obj/unicode"; mkdir -p "$obj/unicode"
    (cd "$obj/unicode" && ar x "$tables")
    for o in "$obj"/unicode/*.o; do "${cc%gcc}objcopy" --remove-section=.ARM.attributes "$o"; done
    tables=$obj/libswiftUnicodeDataTables.a
    rm -f "$tables"; ar rcs "$tables" "$obj"/unicode/*.o
fi
objects+=("$tables")

# The echo canceller engines (C++, no exceptions or RTTI). A cross g++ searches the
# arch-independent headers (speex, the APM's) in /usr/include last, after its own.
echo "build-embedded: $arch: CEchoCancel (LCECHO_WEBRTC=$echo_webrtc${echo_pkg:+, $echo_pkg})" >&2
cross_cxx=()
[ "$arch" = x86_64 ] || cross_cxx=(-idirafter /usr/include)
"$cxx" -std=c++17 -O2 -fPIC -ffunction-sections -fdata-sections -fno-exceptions -fno-rtti \
    -Wall -Wextra -Werror -DLCECHO_WEBRTC="$echo_webrtc" -ISources/CEchoCancel/include \
    "${echo_cflags[@]}" "${cross_cxx[@]}" -c Sources/CEchoCancel/echo.cpp -o "$obj/echo.o"
objects+=("$obj/echo.o")

lib=liblayercode.so.$VERSION
# shellcheck disable=SC2086  # pkg_libs is a list of flags
"$cc" -shared -o "$out/lib/$lib" "${objects[@]}" \
    -Wl,--version-script=Sources/Layercode/exports.map -Wl,-soname,liblayercode.so."$somajor" \
    -Wl,--gc-sections -Wl,--as-needed -Wl,-z,defs \
    "${link[@]}" $pkg_libs "${echo_libs[@]}" -lstdc++ -lm
if [ "$arch" = armhf ] && "${cc%gcc}nm" "$out/lib/$lib" | grep -q _swift_stdlib_getNumericValue; then
    echo "build-embedded: armhf: the library uses _swift_stdlib_getNumericValue (soft-float)" >&2
    rm -f "$out/lib/$lib"
    exit 1
fi
ln -sf "$lib" "$out/lib/liblayercode.so.$somajor"
ln -sf "liblayercode.so.$somajor" "$out/lib/liblayercode.so"
echo "build-embedded: $out/lib/$lib" >&2
