# SPDX-License-Identifier: Apache-2.0
"""Debian's Python for the target architecture (python3.11:arm64), beside the native one.

`apt-get install python3:arm64` cannot go beside the native python3: python3,
python3-minimal, python3.11 and python3.11-minimal are not Multi-Arch: same, so apt removes
the amd64 ones and the 20 packages that need them (pip, venv, apt's own python3-apt: checked
with `apt-get install -s python3:arm64` on Debian 12). So the packages are fetched with
`apt-get download` and unpacked with `dpkg -x` into build/<arch>/python, where nothing else
sees them: the interpreter finds its standard library next to itself
(<dir>/usr/lib/python3.11) and its own few libraries (zlib, expat, libffi for ctypes) through
LD_LIBRARY_PATH. It needs the target architecture in dpkg (`dpkg --add-architecture arm64`,
which the cross build needs anyway) and the network once; without them the tests that use it
skip (fail with CI set).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .cross_support import Cross, skip_or_fail

VERSION = "3.11"
# The interpreter, its standard library, and the libraries they load: python3.11-minimal
# needs zlib and expat, ctypes (the bindings) needs libffi.
PACKAGES = [f"python{VERSION}-minimal", f"libpython{VERSION}-minimal",
            f"libpython{VERSION}-stdlib", "zlib1g", "libexpat1", "libffi8"]


@dataclass(frozen=True)
class TargetPython:
    cross: Cross
    root: Path          # the unpacked packages

    @property
    def executable(self) -> Path:
        return self.root / "usr" / "bin" / f"python{VERSION}"

    @property
    def lib_dirs(self) -> list[Path]:
        m = self.cross.arch.multiarch
        return [self.root / "lib" / m, self.root / "usr" / "lib" / m]

    def env(self) -> dict:
        """What the interpreter needs on top of os.environ under qemu (its own libraries
        first, then build/<arch>/lib)."""
        return self.cross.env(*self.lib_dirs)

    def wrapper(self, python: Path, path: Path) -> Path:
        """A script at path that runs python (this interpreter, or a venv's link to it)
        under qemu with only the interpreter's own libraries on LD_LIBRARY_PATH: for tests
        that pass "a python" to a helper and clear the environment."""
        path.write_text("#!/bin/sh\n"
                        f"export QEMU_LD_PREFIX='{self.cross.sysroot}'\n"
                        f"export QEMU_CPU='{self.cross.arch.cpu}'\n"
                        f"export LD_LIBRARY_PATH='{':'.join(map(str, self.lib_dirs))}'\n"
                        f"exec {self.cross.arch.qemu} '{python}' \"$@\"\n")
        path.chmod(0o755)
        return path


def target_python(cross: Cross) -> TargetPython:
    """build/<arch>/python, unpacked on first use; skips (fails with CI) if it cannot be."""
    found = TargetPython(cross, cross.build_dir / "python")
    if found.executable.exists():
        return found
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        skip_or_fail("no apt-get/dpkg to fetch Debian's python for the target")
    debian = cross.arch.debian
    with tempfile.TemporaryDirectory() as tmp:
        download = subprocess.run(["apt-get", "download", *(f"{p}:{debian}" for p in PACKAGES)],
                                  cwd=tmp, capture_output=True, text=True, timeout=600)
        if download.returncode != 0:
            skip_or_fail(f"apt-get download of Debian's python{VERSION}:{debian} failed (is "
                         f"{debian} in `dpkg --print-foreign-architectures`, and apt updated?): "
                         f"{download.stderr.strip()[-400:]}")
        staging = Path(tmp) / "root"
        for deb in sorted(Path(tmp).glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(staging)], check=True, timeout=120)
        if found.root.exists():
            shutil.rmtree(found.root)
        found.root.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(found.root))
    assert found.executable.exists(), found.executable
    return found
