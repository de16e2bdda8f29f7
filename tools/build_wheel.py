#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make wheel: a wheel of bindings/python with liblayercode bundled inside the package.

    tools/build_wheel.py [--lib build/lib/liblayercode.so.0] [--out dist]

Copies bindings/python to a staging directory, puts a stripped copy of the library there as
layercode/liblayercode.so.0 (the package's library search looks in its own directory right
after $LAYERCODE_LIBRARY: see layercode/_lib.py), and builds the wheel with pip (setuptools,
no build isolation, so nothing is downloaded). The library is not a CPython extension, so
the wheel is py3-none-manylinux_2_36_<arch>: any Python 3, any glibc 2.36 or newer (Debian
12's; tools/check-abi.sh fails if the library needs a newer one), the architecture of the
library's ELF header (x86_64, aarch64 or armv7l: `make wheel ARCH=aarch64` bundles the
cross-built one). Replaces any layercode-*.whl of that platform in the output directory and prints the
wheel's path, then (on stderr) the Debian packages the bundled library needs on the target:
the C libraries it links (ALSA, Opus, speexdsp, OpenSSL, and with the echo canceller WebRTC's
audio processing module and libstdc++) are the system's, not bundled.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDINGS = ROOT / "bindings" / "python"
BUNDLED = "liblayercode.so.0"  # the soname


GLIBC = "2_36"  # Debian 12's; no symbol of the library needs a newer one (check-abi.sh)
# ELF e_machine -> (wheel architecture, the binutils prefix that can strip it).
MACHINES = {62: ("x86_64", ""), 183: ("aarch64", "aarch64-linux-gnu-"),
            40: ("armv7l", "arm-linux-gnueabihf-")}
# The library's NEEDED sonames (what tools/check-abi.sh allows) -> the Debian runtime package.
RUNTIME_PACKAGES = {
    "libasound.so.2": "libasound2", "libopus.so.0": "libopus0", "libspeexdsp.so.1": "libspeexdsp1",
    "libssl.so.3": "libssl3", "libcrypto.so.3": "libssl3",
    # The echo canceller's WebRTC engine: Debian 12's APM 0.3, Debian 13's APM 1.3.
    "libwebrtc_audio_processing.so.1": "libwebrtc-audio-processing1",
    "libwebrtc-audio-processing-1.so.3": "libwebrtc-audio-processing-1-3",
    "libstdc++.so.6": "libstdc++6",
}
GLIBC_SONAMES = ("libc.so.", "libm.so.", "ld-linux")


def runtime_packages(lib: Path) -> list[str]:
    """The Debian packages behind lib's NEEDED entries (glibc's own left out); raises
    ValueError naming a soname this script does not know."""
    dynamic = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True,
                             check=True).stdout
    packages: list[str] = []
    for line in dynamic.splitlines():
        if "(NEEDED)" not in line:
            continue
        soname = line.split("[", 1)[1].rstrip("]")
        if soname.startswith(GLIBC_SONAMES):
            continue
        if soname not in RUNTIME_PACKAGES:
            raise ValueError(f"{lib} needs {soname}: name its Debian package in RUNTIME_PACKAGES")
        if RUNTIME_PACKAGES[soname] not in packages:
            packages.append(RUNTIME_PACKAGES[soname])
    return packages


def elf_machine(lib: Path) -> int | None:
    """e_machine of a little-endian ELF file, or None if lib is not one."""
    with lib.open("rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF" or header[5] != 1:
        return None
    return int.from_bytes(header[18:20], "little")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", type=Path, default=ROOT / "build" / "lib" / BUNDLED)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    lib = args.lib.resolve()
    if not lib.is_file():
        print(f"build_wheel: {args.lib} missing: run make", file=sys.stderr)
        return 2
    machine = elf_machine(lib)
    if machine not in MACHINES:
        print(f"build_wheel: {args.lib}: not an x86_64, aarch64 or armhf ELF library (machine "
              f"{machine})", file=sys.stderr)
        return 2
    arch, binutils = MACHINES[machine]
    try:
        packages = runtime_packages(lib)
    except ValueError as exc:
        print(f"build_wheel: {exc}", file=sys.stderr)
        return 2
    tag = f"manylinux_{GLIBC}_{arch}"
    strip = shutil.which(f"{binutils}strip")
    if not strip:
        print(f"build_wheel: {binutils}strip missing: run tools/ensure-deps.sh", file=sys.stderr)
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"layercode-*-{tag}.whl"):
        old.unlink()

    with tempfile.TemporaryDirectory(prefix="layercode-wheel-") as tmp:
        staging = Path(tmp) / "python"
        shutil.copytree(BINDINGS, staging, ignore=shutil.ignore_patterns(
            "__pycache__", "*.pyc", "build", "*.egg-info", "liblayercode.so*"))
        # setuptools puts a LICENSE of the project directory into the wheel's dist-info.
        shutil.copyfile(ROOT / "LICENSE", staging / "LICENSE")
        bundled = staging / "layercode" / BUNDLED
        shutil.copyfile(lib, bundled)
        bundled.chmod(0o755)
        subprocess.run([strip, "--strip-unneeded", str(bundled)], check=True)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                        "--no-build-isolation", "--disable-pip-version-check", "-q",
                        "-w", str(out),
                        f"-C--build-option=--plat-name={tag}",
                        "-C--build-option=--python-tag=py3", str(staging)],
                       check=True, cwd=tmp)

    wheels = sorted(out.glob(f"layercode-*-{tag}.whl"))
    if len(wheels) != 1 or not wheels[0].name.endswith(f"-py3-none-{tag}.whl"):
        print(f"build_wheel: expected one layercode-*-py3-none-{tag}.whl in {out}, "
              f"found {[w.name for w in wheels]}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(wheels[0]) as z:
        if f"layercode/{BUNDLED}" not in z.namelist():
            print(f"build_wheel: {wheels[0].name} lacks layercode/{BUNDLED}", file=sys.stderr)
            return 1
    print(f"{wheels[0]} ({wheels[0].stat().st_size} bytes)")
    print(f"build_wheel: the target needs: apt-get install {' '.join(packages)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
