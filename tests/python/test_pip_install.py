# SPDX-License-Identifier: Apache-2.0
"""`pip install ./bindings/python` as a user runs it after `make`: in a fresh venv, from a
checkout whose build/lib holds the library, with nothing pointing at build/ afterwards (no
LAYERCODE_LIBRARY, no PYTHONPATH). The build runs isolated, as pip does by default; its
tools (setuptools, wheel, packaging) come from a local wheelhouse repacked from this
interpreter's own copies instead of the index, so the test needs no network."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .support import BINDINGS, LIBRARY
from .test_wheel import clean_env, run, run_quickstart

SONAME = "liblayercode.so.0"


@pytest.fixture(scope="module")
def build_tools(tmp_path_factory) -> Path:
    """A wheelhouse with setuptools, wheel and packaging (the build's requirements)."""
    house = tmp_path_factory.mktemp("wheelhouse")
    for name in ("setuptools", "wheel", "packaging"):
        dist = importlib.metadata.distribution(name)
        stage = house / "stage" / f"{dist.metadata['Name']}-{dist.version}"
        for f in dist.files or []:
            rel = str(f)
            if rel.startswith("..") or "__pycache__" in rel:
                continue
            src = Path(dist.locate_file(f))
            if src.is_file():
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, stage / rel)
        packed = run([sys.executable, "-m", "wheel", "pack", "-d", house, stage])
        assert packed.returncode == 0, packed.describe
    shutil.rmtree(house / "stage")
    return house


def checkout(root: Path, with_library: bool) -> Path:
    """The parts of a liblayercode checkout pip sees: bindings/python, and build/lib after
    make (the soname symlink to the versioned file, as make leaves it)."""
    shutil.copytree(BINDINGS, root / "bindings" / "python", ignore=shutil.ignore_patterns(
        "__pycache__", "build", "*.egg-info", "liblayercode.so*"))
    if with_library:
        lib = root / "build" / "lib"
        lib.mkdir(parents=True)
        real = LIBRARY.resolve()
        shutil.copyfile(real, lib / real.name)
        os.symlink(real.name, lib / SONAME)
    return root


def pip_install_checkout(tmp_path: Path, build_tools: Path, with_library: bool) -> Path:
    """A fresh venv with `pip install ./bindings/python` run at the checkout's top."""
    repo = checkout(tmp_path / "repo", with_library)
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", venv], env=clean_env())
    assert made.returncode == 0, made.describe
    python = venv / "bin" / "python"
    installed = run([python, "-m", "pip", "install", "--no-index", "--find-links", build_tools,
                     "--disable-pip-version-check", "./bindings/python"],
                    env=clean_env(PIP_FIND_LINKS=""), cwd=repo)
    assert installed.returncode == 0, installed.describe
    return python


def test_pip_install_of_the_checkout_after_make_bundles_the_library(
        tmp_path, build_tools, devserver, speech_wav):
    assert LIBRARY.exists()
    python = pip_install_checkout(tmp_path, build_tools, with_library=True)
    where = run([python, "-c",
                 "import layercode, os\n"
                 "maps = [l.split()[-1] for l in open('/proc/self/maps') if 'liblayercode' in l]\n"
                 "print(os.path.dirname(layercode.__file__)); print(sorted(set(maps)))"],
                env=clean_env(), cwd=tmp_path)
    assert where.returncode == 0, where.describe
    package_dir, loaded = where.stdout.splitlines()[:2]
    assert package_dir.startswith(str(tmp_path / "venv")), where.describe
    assert loaded == str([os.path.join(package_dir, SONAME)]), where.describe
    # The source tree stays as it was: PYTHONPATH=bindings/python users get no stale copy.
    assert not list((tmp_path / "repo" / "bindings" / "python" / "layercode").glob("*.so*"))

    server = devserver()
    run_quickstart(python, server, speech_wav, tmp_path)


def test_pip_install_without_a_built_library_says_how_to_get_one_at_import(
        tmp_path, build_tools):
    python = pip_install_checkout(tmp_path, build_tools, with_library=False)
    imported = run([python, "-c", "import layercode"], env=clean_env(), cwd=tmp_path)
    assert imported.returncode != 0, imported.describe
    error = imported.stderr
    assert "ImportError: liblayercode not found" in error, imported.describe
    for remedy in ("LAYERCODE_LIBRARY=", "pip install ./bindings/python", "make wheel",
                   "make install"):
        assert remedy in error, imported.describe
