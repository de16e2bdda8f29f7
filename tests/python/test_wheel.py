# SPDX-License-Identifier: Apache-2.0
"""The wheel (make wheel, tools/build_wheel.py) as a user gets it: installed into a fresh
venv with no network, the quickstart runs against the devserver on the liblayercode bundled
inside the package, with nothing pointing at build/ (no LAYERCODE_LIBRARY, no PYTHONPATH)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .support import BUILD_DIR, EXAMPLES, LIBRARY, ROOT

BUNDLED = "liblayercode.so.0"


def run(argv, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, **kwargs)
    proc.describe = (f"$ {' '.join(map(str, argv))}\nexit {proc.returncode}\n"
                     f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}")
    return proc


def clean_env(**extra: str) -> dict:
    """The environment of a user who only installed the wheel."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LAYERCODE_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV",
                        "PYTHONHOME")}
    return {**env, **extra}


def run_quickstart(python, server, speech_wav, cwd) -> subprocess.CompletedProcess:
    """examples/python/quickstart.py with that python and a wheel user's environment (as
    test_examples runs it) against server, speaking speech_wav: it exits 0, the greeting
    arrives and the agent answers. Returns the run."""
    quickstart = run([python, EXAMPLES / "quickstart.py", server.authorize_url, "echo",
                      server.ws_url, speech_wav], timeout=120,
                     env=clean_env(LAYERCODE_SECONDS="9"), cwd=cwd)
    assert quickstart.returncode == 0, quickstart.describe
    lines = quickstart.stdout.splitlines()
    assert "response.text: Hello! Say something and I will repeat it." in lines, \
        quickstart.describe
    assert any(line.startswith("response.text: You said ") for line in lines), \
        quickstart.describe
    return quickstart


def test_wheel_in_a_fresh_venv_runs_the_quickstart_on_its_bundled_library(
        tmp_path, devserver, speech_wav):
    assert LIBRARY.exists()
    dist = tmp_path / "dist"
    build = run([sys.executable, ROOT / "tools" / "build_wheel.py", "--lib", LIBRARY, "--out", dist])
    assert build.returncode == 0, build.describe
    wheels = list(dist.glob("layercode-*.whl"))
    assert len(wheels) == 1, build.describe
    wheel = wheels[0]
    # A platform wheel for any Python 3: the bundled .so is not a CPython extension.
    assert wheel.name.endswith("-py3-none-manylinux_2_36_x86_64.whl"), wheel.name
    with zipfile.ZipFile(wheel) as z:
        assert f"layercode/{BUNDLED}" in z.namelist()
        assert "Tag: py3-none-manylinux_2_36_x86_64" in z.read(
            "layercode-0.1.0.dist-info/WHEEL").decode()

    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", venv], env=clean_env())
    assert made.returncode == 0, made.describe
    python = venv / "bin" / "python"
    # No index: the wheel has no dependencies, so nothing is downloaded.
    installed = run([python, "-m", "pip", "install", "--no-index", "--disable-pip-version-check",
                     wheel], env=clean_env())
    assert installed.returncode == 0, installed.describe

    # The package loads the copy in its own directory (not build/, not a system copy).
    where = run([python, "-c",
                 "import layercode, os\n"
                 "maps = [l.split()[-1] for l in open('/proc/self/maps') if 'liblayercode' in l]\n"
                 "print(os.path.dirname(layercode.__file__)); print(sorted(set(maps)))\n"
                 "print(layercode.version())"],
                env=clean_env(), cwd=tmp_path)
    assert where.returncode == 0, where.describe
    package_dir, loaded, version = where.stdout.splitlines()[:3]
    assert package_dir.startswith(str(venv)), where.describe
    assert loaded == str([os.path.join(package_dir, BUNDLED)]), where.describe
    assert version.startswith("0."), where.describe

    # The quickstart as test_examples runs it, with the venv's python and nothing else.
    server = devserver()
    quickstart = run_quickstart(python, server, speech_wav, tmp_path)
    lines = quickstart.stdout.splitlines()
    assert any(line.startswith("user.transcript: ") for line in lines), quickstart.describe


AARCH64_LIBRARY = BUILD_DIR / "aarch64" / "lib" / BUNDLED  # make ARCH=aarch64


def test_wheel_of_the_aarch64_build_is_manylinux_2_36_aarch64_beside_the_x86_64_one(tmp_path):
    """make wheel ARCH=aarch64: the platform tag follows the bundled library's ELF machine,
    the library inside is the aarch64 one (stripped with aarch64 binutils), and building it
    leaves the x86_64 wheel of the same output directory in place. (tests/cross installs
    and runs it under qemu.)"""
    if not AARCH64_LIBRARY.exists():
        pytest.skip(f"{AARCH64_LIBRARY} missing: make ARCH=aarch64")
    dist = tmp_path / "dist"
    for lib in (LIBRARY, AARCH64_LIBRARY):
        build = run([sys.executable, ROOT / "tools" / "build_wheel.py", "--lib", lib, "--out", dist])
        assert build.returncode == 0, build.describe
    names = sorted(w.name for w in dist.glob("layercode-*.whl"))
    assert names == ["layercode-0.1.0-py3-none-manylinux_2_36_aarch64.whl",
                     "layercode-0.1.0-py3-none-manylinux_2_36_x86_64.whl"], names
    with zipfile.ZipFile(dist / names[0]) as z:
        assert "Tag: py3-none-manylinux_2_36_aarch64" in z.read(
            "layercode-0.1.0.dist-info/WHEEL").decode()
        bundled = z.read(f"layercode/{BUNDLED}")
    assert bundled[:4] == b"\x7fELF" and int.from_bytes(bundled[18:20], "little") == 183  # EM_AARCH64
    assert len(bundled) < AARCH64_LIBRARY.stat().st_size  # stripped


def test_build_wheel_names_the_runtime_packages_including_the_echo_cancellers_apm(tmp_path):
    """The bundled library links the system's C libraries: make wheel names their Debian
    packages, the echo canceller's WebRTC audio processing among them when it is built in."""
    needed = run(["readelf", "-d", LIBRARY]).stdout
    build = run([sys.executable, ROOT / "tools" / "build_wheel.py", "--lib", LIBRARY,
                 "--out", tmp_path / "dist"])
    assert build.returncode == 0, build.describe
    line = next((l for l in build.stderr.splitlines() if "the target needs: apt-get install" in l), "")
    for package in ("libasound2", "libopus0", "libspeexdsp1", "libssl3"):
        assert package in line.split(), build.describe
    if "libwebrtc_audio_processing.so.1" in needed:
        assert "libwebrtc-audio-processing1" in line.split(), build.describe
        assert "libstdc++6" in line.split(), build.describe


def test_build_wheel_refuses_a_library_needing_an_unnamed_package(tmp_path):
    """A new dependency cannot ship without its runtime package being named."""
    c = tmp_path / "lib.c"
    c.write_text("int lc_answer(void) { return 42; }\n")
    lib = tmp_path / "liblayercode.so.0"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(c), "-Wl,--no-as-needed",
                    "-lgcc_s"], check=True)
    build = run([sys.executable, ROOT / "tools" / "build_wheel.py", "--lib", lib,
                 "--out", tmp_path / "dist"])
    assert build.returncode == 2, build.describe
    assert "libgcc_s.so.1" in build.stderr and "RUNTIME_PACKAGES" in build.stderr, build.describe
