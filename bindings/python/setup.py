# SPDX-License-Identifier: Apache-2.0
"""Build step for ``pip install ./bindings/python`` (the metadata is in pyproject.toml).

The package is pure Python, but it needs liblayercode at run time. When the library has
been built in this checkout (``make``: build/lib/liblayercode.so.0, two directories up), the
build copies it into the installed package, where layercode/_lib.py finds it right after
$LAYERCODE_LIBRARY, and tags the wheel for this platform. Without a built library the
package installs as it is and finds the library through $LAYERCODE_LIBRARY or the loader's
path at import (its ImportError says how). ``make wheel`` bundles the library too, from a
staging copy whose package directory already holds it.
"""
from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SONAME = "liblayercode.so.0"
CHECKOUT_LIBRARY = HERE.parent.parent / "build" / "lib" / SONAME


def bundled_in_package() -> bool:
    return any((HERE / "layercode").glob("liblayercode.so*"))


def library_to_bundle() -> "Path | None":
    if bundled_in_package():
        return None  # already there (make wheel): package-data copies it
    return CHECKOUT_LIBRARY if CHECKOUT_LIBRARY.is_file() else None


class BuildWithLibrary(build_py):
    """build_py, plus the checkout's liblayercode.so.0 copied into the built package (never
    into the source tree, which PYTHONPATH users import from)."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "layercode" / SONAME
        library = library_to_bundle()
        if library is not None:
            shutil.copyfile(library, target)  # follows the symlink to the versioned file
            target.chmod(0o755)
        elif not bundled_in_package() and target.exists():
            target.unlink()  # left in build/ by an earlier install: not this checkout's


options = {}
if bundled_in_package() or library_to_bundle() is not None:
    # The library is not a CPython extension: any Python 3, this platform only.
    options["bdist_wheel"] = {
        "python_tag": "py3",
        "plat_name": sysconfig.get_platform().replace("-", "_").replace(".", "_"),
    }

setup(cmdclass={"build_py": BuildWithLibrary}, options=options)
