# SPDX-License-Identifier: Apache-2.0
"""Running the cross-built library, player and C tests on their own instruction set under
qemu-user (tests/cross): one `Cross` per architecture whose build exists.

How an aarch64 program finds its libraries under qemu-aarch64-static: the program's
interpreter is /lib/ld-linux-aarch64.so.1, and qemu looks every absolute path the guest
opens up under QEMU_LD_PREFIX first, then on the host. The C libraries of the target are
Debian's arm64 multiarch packages (libc6:arm64, libasound2:arm64, ...) in
/usr/lib/aarch64-linux-gnu; Debian's cross compiler has a second glibc build
(libc6-arm64-cross) in /usr/aarch64-linux-gnu/lib. QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
alone therefore mixes the two: the loader from the cross package, libc.so.6 from the
multiarch one (the loader's search path, /lib/aarch64-linux-gnu, falls through to the host),
two builds of glibc that must not be mixed. So QEMU_LD_PREFIX is a directory of our own,
build/<arch>/qemu-sysroot, whose only entry is the loader of the multiarch libc
(lib/ld-linux-aarch64.so.1 -> /usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1): loader,
libc and every library the .so needs come from one set of packages, the set a Debian arm64
board has. LD_LIBRARY_PATH points at build/<arch>/lib. test_cross_c.py checks the pairing.

A qemu-user process uses the host's network stack: the devserver runs natively on
loopback. Emulation is 5-20x slower than native code, so timeouts (hang guards only) are
generous; no test measures wall time.

Skips, each with the reason: no qemu-<arch>-static, no cross compiler (or its libc
headers), no build/<arch> (`make cross`). With CI set, every one of them is a failure:
CI installs qemu and `make test` builds the cross targets, so the suite must run there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LAYERCODE_BUILD_DIR", ROOT / "build"))
# tests/ (devserver_process, the integration and python packages) and tests/c (its helpers).
for _path in (ROOT / "tests", ROOT / "tests" / "c"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# Hang guards for programs under qemu: several times the x86 suites' own.
QEMU_TIMEOUT = 300.0


@dataclass(frozen=True)
class Arch:
    name: str          # build/<name>, Makefile ARCH=<name>
    qemu: str          # the qemu-user binary
    cc: str            # Debian's cross compiler
    multiarch: str     # Debian's multiarch triplet: /usr/lib/<multiarch>
    debian: str        # Debian's architecture name (package:<debian>)
    loader: str        # the program interpreter, an absolute path
    elf_machine: int   # e_machine of its ELF files
    cpu: str           # QEMU_CPU: the oldest core the README names (no newer instructions)
    machine: str       # what uname -m and Python's platform.machine() say; the wheel's tag


ARCHES = {
    "aarch64": Arch("aarch64", "qemu-aarch64-static", "aarch64-linux-gnu-gcc",
                    "aarch64-linux-gnu", "arm64", "/lib/ld-linux-aarch64.so.1", 183,
                    "cortex-a53",    # Raspberry Pi 3 and Zero 2 W: ARMv8.0, no LSE atomics
                    "aarch64"),
    "armhf": Arch("armhf", "qemu-arm-static", "arm-linux-gnueabihf-gcc",
                  "arm-linux-gnueabihf", "armhf", "/lib/ld-linux-armhf.so.3", 40,
                  "cortex-a7",       # Raspberry Pi 2: ARMv7-A, Debian armhf's floor
                  "armv7l"),
}


def skip_or_fail(reason: str) -> None:
    """pytest.skip(reason); with CI set, a failure instead (the cross suite never skips
    in CI: .ci/run installs qemu and make test builds the cross targets)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: tests/cross must not skip in CI)", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Cross:
    """One architecture: its build in build/<arch>, and how to run its programs."""
    arch: Arch
    build_dir: Path

    @property
    def lib_dir(self) -> Path:
        return self.build_dir / "lib"

    @property
    def lib(self) -> Path:
        return self.lib_dir / "liblayercode.so"

    @property
    def player(self) -> Path:
        return self.build_dir / "bin" / "layercode-player"

    @property
    def sysroot(self) -> Path:
        """QEMU_LD_PREFIX: the multiarch loader only (see the module's docstring)."""
        return self.build_dir / "qemu-sysroot"

    @property
    def runner(self) -> tuple[str, ...]:
        return (self.arch.qemu,)

    def env(self, *lib_dirs: Path) -> dict:
        """What a program under qemu needs on top of os.environ: QEMU_LD_PREFIX, QEMU_CPU
        and LD_LIBRARY_PATH (lib_dirs, then build/<arch>/lib)."""
        paths = [str(d) for d in (*lib_dirs, self.lib_dir)]
        return {"QEMU_LD_PREFIX": str(self.sysroot), "QEMU_CPU": self.arch.cpu,
                "LD_LIBRARY_PATH": ":".join(paths)}

    def argv(self, *argv) -> list[str]:
        return [*self.runner, *map(str, argv)]

    def make_sysroot(self) -> None:
        loader = self.sysroot / self.arch.loader.lstrip("/")
        target = Path("/usr/lib") / self.arch.multiarch / Path(self.arch.loader).name
        if not target.exists():
            skip_or_fail(f"{target} missing: apt-get install libc6:{self.arch.debian}")
        loader.parent.mkdir(parents=True, exist_ok=True)
        if not (loader.is_symlink() and os.readlink(loader) == str(target)):
            tmp = loader.with_name(loader.name + ".tmp")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            tmp.replace(loader)

    def compile_c(self, source: Path, out: Path, *flags: str, link_library: bool = True) -> Path:
        """source cross-compiled for the target (linked against build/<arch>/lib)."""
        libs = ["-L", str(self.lib_dir), "-llayercode"] if link_library else []
        argv = [self.arch.cc, *flags, "-I", str(ROOT / "include"), str(source), *libs,
                "-lpthread", "-o", str(out)]
        proc = subprocess.run(argv, capture_output=True, text=True)
        assert proc.returncode == 0, f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}"
        return out


def cross_compiler_works(arch: Arch, tmp: Path) -> str | None:
    """None if arch.cc links a C program, else why not."""
    if not shutil.which(arch.cc):
        return f"{arch.cc} missing: apt-get install gcc-{arch.multiarch}"
    source = tmp / "hello.c"
    source.write_text("#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n")
    proc = subprocess.run([arch.cc, str(source), "-o", str(tmp / "hello")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return (f"{arch.cc} cannot build a C program (its libc headers: apt-get install "
                f"libc6-dev-{arch.debian}-cross): {proc.stderr.strip()[:300]}")
    return None


def cross_for(name: str, tmp: Path) -> Cross:
    """The Cross for architecture name, or skip (fail with CI set) saying what is missing."""
    arch = ARCHES[name]
    if not shutil.which(arch.qemu):
        skip_or_fail(f"{arch.qemu} missing: apt-get install qemu-user-static")
    why = cross_compiler_works(arch, tmp)
    if why:
        skip_or_fail(why)
    cross = Cross(arch, BUILD / name)
    missing = [str(p) for p in (cross.lib, cross.player) if not p.exists()]
    if missing:
        skip_or_fail(f"no {name} build (make cross, or make ARCH={name}): "
                     f"{', '.join(missing)} missing")
    cross.make_sysroot()
    return cross

