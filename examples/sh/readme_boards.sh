#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# README.md, "Raspberry Pi and other boards": the README shows this file from `make` on.
# tests/docs/test_readme_snippets.py runs it and checks what it leaves for the board: an
# aarch64 library, player and header, and a manylinux_2_36_aarch64 wheel.
set -eu
cd "$(dirname "$0")/../.."
tools/ensure-deps.sh --cross  # the cross tools (as root; otherwise it prints the apt line)
make ARCH=aarch64         # build/aarch64/: lib/liblayercode.so*, bin/layercode-player, include/
make wheel ARCH=aarch64   # dist/layercode-0.1.0-py3-none-manylinux_2_36_aarch64.whl
