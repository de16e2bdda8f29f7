#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what building, the demo and the tests need on Debian 12: apt packages when run
# as root (otherwise prints the exact apt line and fails), Python packages into .venv.
# With --cross, also what cross-building for aarch64 and its qemu tests need (make cross,
# make ARCH=aarch64, make test).
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: pkg-config and the -dev packages. Tests and demo: espeak-ng and sox make speech,
# PulseAudio null sinks behind ALSA's pulse plugin give real-time-paced audio devices;
# doxygen and groff check the API reference and the man page.
APT_PACKAGES=(pkg-config libasound2-dev libopus-dev libspeexdsp-dev libssl-dev
              espeak-ng sox python3 python3-venv python3-pip ca-certificates
              pulseaudio pulseaudio-utils libasound2-plugins
              doxygen groff-base)

# Cross-building for aarch64 (make ARCH=aarch64, make cross) and its qemu tests: Debian's
# cross gcc, qemu-user and the arm64 -dev packages of the same libraries (multiarch: needs
# `dpkg --add-architecture arm64` and an apt-get update before they can be found).
CROSS_ARCH=arm64
CROSS_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
                libasound2-dev:$CROSS_ARCH libopus-dev:$CROSS_ARCH libspeexdsp-dev:$CROSS_ARCH
                libssl-dev:$CROSS_ARCH)

wanted=("${APT_PACKAGES[@]}")
[ "${1:-}" != --cross ] || wanted+=("${CROSS_PACKAGES[@]}")
missing=()
for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
add_arch=no
if [ "${1:-}" = --cross ]; then
    dpkg --print-foreign-architectures | grep -qx "$CROSS_ARCH" || add_arch=yes
fi
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        echo "ensure-deps: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        [ $add_arch = no ] || dpkg --add-architecture "$CROSS_ARCH"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "ensure-deps: missing packages; run:" >&2
        if [ $add_arch = yes ]; then
            echo "  sudo dpkg --add-architecture $CROSS_ARCH && sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        else
            echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        fi
        exit 1
    fi
fi

if ! command -v swift >/dev/null; then
    echo "ensure-deps: a Swift toolchain with Embedded Swift (6.3, swift.org) must be on PATH" >&2
    exit 1
fi

stamp=.venv/.requirements-stamp
reqs=tools/requirements-dev.txt
if [ ! -f "$stamp" ] || [ "$reqs" -nt "$stamp" ] || [ tools/devserver/requirements.txt -nt "$stamp" ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r "$reqs"
    touch "$stamp"
fi
