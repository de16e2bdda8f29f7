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
wheel's path.
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
