#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what building, the demo and the tests need on Debian 12: apt packages when run
# as root (otherwise prints the exact apt line and fails), Python packages into .venv.
# With --cross, also what cross-building for aarch64 and its qemu tests need (make cross,
# make ARCH=aarch64, make test).
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: pkg-config and the -dev packages (libwebrtc-audio-processing-dev: the echo
# canceller's WebRTC engine, APM 0.3 on Debian 12, 1.x with AEC3 on Debian 13). Tests and demo: espeak-ng and sox make speech,
# PulseAudio null sinks behind ALSA's pulse plugin give real-time-paced audio devices;
# doxygen and groff check the API reference and the man page; opus-tools (opusinfo,
# opusdec) and ffmpeg (ffprobe) check the session recorder's Ogg Opus files; headless
# chromium renders the devserver's dashboard (tests/devserver/test_dashboard.py).
APT_PACKAGES=(pkg-config libasound2-dev libopus-dev libspeexdsp-dev libssl-dev
              libwebrtc-audio-processing-dev g++
              espeak-ng sox python3 python3-venv python3-pip ca-certificates
              pulseaudio pulseaudio-utils libasound2-plugins
              doxygen groff-base opus-tools ffmpeg chromium)

# Cross-building for aarch64 and armhf (make ARCH=..., make cross) and their qemu tests:
# Debian's cross gccs and g++s (the echo canceller is C++), qemu-user and the target -dev packages of the same libraries
# (multiarch: each architecture needs `dpkg --add-architecture` and an apt-get update before
# its packages can be found).
CROSS_ARCHS=(arm64 armhf)
CROSS_PACKAGES=(qemu-user-static gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
                gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf libc6-dev-armhf-cross)
for a in "${CROSS_ARCHS[@]}"; do
    CROSS_PACKAGES+=(libasound2-dev:$a libopus-dev:$a libspeexdsp-dev:$a libssl-dev:$a
                     libwebrtc-audio-processing-dev:$a)
done

wanted=("${APT_PACKAGES[@]}")
[ "${1:-}" != --cross ] || wanted+=("${CROSS_PACKAGES[@]}")
missing=()
for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
add_archs=()
if [ "${1:-}" = --cross ]; then
    for a in "${CROSS_ARCHS[@]}"; do
        dpkg --print-foreign-architectures | grep -qx "$a" || add_archs+=("$a")
    done
fi
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        echo "ensure-deps: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        for a in "${add_archs[@]}"; do dpkg --add-architecture "$a"; done
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "ensure-deps: missing packages; run:" >&2
        for a in "${add_archs[@]}"; do echo "  sudo dpkg --add-architecture $a" >&2; done
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

if ! command -v swift >/dev/null; then
    echo "ensure-deps: a Swift toolchain with Embedded Swift (6.3, swift.org) must be on PATH" >&2
    exit 1
fi

stamp=.venv/.requirements-stamp
reqs=tools/requirements-dev.txt
if [ ! -f "$stamp" ] || [ "$reqs" -nt "$stamp" ] || [ tools/devserver/requirements.txt -nt "$stamp" ] \
        || [ examples/backend/requirements.txt -nt "$stamp" ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r "$reqs"
    touch "$stamp"
fi
