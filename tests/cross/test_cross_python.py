# SPDX-License-Identifier: Apache-2.0
"""The Python side on the target's instruction set, with Debian's Python for the target
under qemu (target_python.py):

- tests/python/test_reconnect.py, the reconnect suite, run as it is by pytest in the target's
  Python on the cross-built library (LAYERCODE_LIBRARY), the devserver native;
- the target's wheel (as `make wheel ARCH=<arch>` builds it) installed by pip running in
  the target's Python into a venv of that Python, and the README's quickstart run from it on the bundled
  library, as tests/python/test_wheel.py does on x86_64.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .cross_support import QEMU_TIMEOUT, ROOT, Cross
from .target_python import TargetPython, target_python
from python.support import tone_burst, write_wav
from python.test_wheel import BUNDLED, clean_env, run, run_quickstart

# pytest itself, for the target's Python: the native venv's pure-Python packages (pytest,
# pluggy, iniconfig, packaging, pip). Compiled modules there are x86_64 and carry the x86_64
# extension suffix, so the target's Python never loads one; plugin autoload stays off.
NATIVE_SITE = sysconfig.get_paths()["purelib"]


@pytest.fixture(scope="session")
def python(cross) -> TargetPython:
    return target_python(cross)


def python_env(python: TargetPython, **extra: str) -> dict:
    return {**os.environ, **python.env(), "PYTHONPATH": NATIVE_SITE,
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            # The target's bytecode apart from the native interpreter's.
            "PYTHONPYCACHEPREFIX": str(python.cross.build_dir / "pycache"), **extra}


def test_the_target_python_runs_on_the_target(python):
    proc = run(python.cross.argv(python.executable, "-c",
                                 "import platform, ctypes; print(platform.machine())"),
               env=python_env(python), timeout=QEMU_TIMEOUT)
    assert proc.returncode == 0, proc.describe
    assert proc.stdout.split() == [python.cross.arch.machine], proc.describe


def test_reconnect_suite_on_the_target(python, tmp_path):
    """tests/python/test_reconnect.py, every test of it, in the target's Python on
    build/<arch>/lib/liblayercode.so (LAYERCODE_LIBRARY)."""
    cross = python.cross
    proc = run(cross.argv(python.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--basetemp", tmp_path / "inner", "-rs",
                          "tests/python/test_reconnect.py"),
               env=python_env(python, LAYERCODE_LIBRARY=str(cross.lib),
                              LAYERCODE_DEVSERVER_PYTHON=sys.executable),
               timeout=QEMU_TIMEOUT * 3, cwd=ROOT)
    assert proc.returncode == 0, proc.describe
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=* ?\d+ passed in [\d.]+s.*", summary), \
        f"not every test passed (skips count as failures here): {summary}\n{proc.describe}"


def build_wheel(cross: Cross, out: Path) -> Path:
    """The target's wheel, as `make wheel ARCH=<arch>` builds it (tools/build_wheel.py,
    whose platform tag follows the library's ELF machine), into out."""
    build = run([sys.executable, ROOT / "tools" / "build_wheel.py",
                 "--lib", cross.lib_dir / BUNDLED, "--out", out])
    assert build.returncode == 0, build.describe
    wheels = list(out.glob("layercode-*.whl"))
    assert len(wheels) == 1 and re.fullmatch(
        rf"layercode-[\d.]+-py3-none-manylinux_2_36_{cross.arch.machine}\.whl", wheels[0].name), \
        build.describe
    return wheels[0]


def test_wheel_installs_and_its_quickstart_runs_on_the_target(python, devserver, tmp_path):
    cross = python.cross
    wheel = build_wheel(cross, tmp_path / "dist")
    with zipfile.ZipFile(wheel) as z:
        assert f"layercode/{BUNDLED}" in z.namelist(), wheel
        bundled = z.read(f"layercode/{BUNDLED}")
    assert int.from_bytes(bundled[18:20], "little") == cross.arch.elf_machine, \
        "the wheel's library is not built for its platform"

    # A venv of the target's Python; pip (the native venv's, pure Python) runs in the
    # target's Python, so it checks the wheel's tag against an aarch64 glibc 2.36 system.
    venv = tmp_path / "venv"
    env = python_env(python)
    made = run(cross.argv(python.executable, "-m", "venv", "--without-pip", venv), env=env,
               timeout=QEMU_TIMEOUT)
    assert made.returncode == 0, made.describe
    target_py = venv / "bin" / "python"
    installed = run(cross.argv(target_py, "-m", "pip", "install", "--no-index",
                               "--disable-pip-version-check", "--no-cache-dir", wheel),
                    env=env, timeout=QEMU_TIMEOUT)
    assert installed.returncode == 0, installed.describe

    # From here on a wheel user's environment: no PYTHONPATH, no LAYERCODE_LIBRARY, no
    # build/<arch>/lib (the wrapper puts only the interpreter's own libraries on the path).
    python_cmd = python.wrapper(target_py, tmp_path / "python")
    where = run([python_cmd, "-c",
                 "import layercode, os, platform\n"
                 "maps = [l.split()[-1] for l in open('/proc/self/maps') if 'liblayercode' in l]\n"
                 "print(platform.machine()); print(os.path.dirname(layercode.__file__))\n"
                 "print(sorted(set(maps))); print(layercode.version())"],
                env=clean_env(), timeout=QEMU_TIMEOUT, cwd=tmp_path)
    assert where.returncode == 0, where.describe
    machine, package_dir, loaded, version = where.stdout.splitlines()[:4]
    assert machine == cross.arch.machine, where.describe
    assert package_dir.startswith(str(venv)), where.describe
    assert loaded == str([os.path.join(package_dir, BUNDLED)]), where.describe
    assert version.startswith("0."), where.describe

    speech_wav = write_wav(tmp_path / "speech.wav", tone_burst(1.5, lead_in=2.8))
    run_quickstart(python_cmd, devserver(), speech_wav, tmp_path)
