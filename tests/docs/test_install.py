# SPDX-License-Identifier: Apache-2.0
"""`make install`, then a program built with pkg-config, then running it (issue 9, item 21:
the program could not find liblayercode.so.0, because nothing ran ldconfig and nothing said
that a non-system prefix needs an rpath or LD_LIBRARY_PATH).

- A temporary PREFIX (not searched by the dynamic linker): make install says how to run
  programs; a program built with pkg-config alone does not find the library, and does with
  the documented LD_LIBRARY_PATH and with the documented rpath; make uninstall removes
  every installed file.
- As root, the real thing: make install into /usr/local runs ldconfig, so that a program
  built with plain pkg-config runs with no help; make uninstall takes it all away again and
  ldconfig forgets the library. Skipped when not root, and when a liblayercode is already
  installed there (it is not ours to remove).

The program is the README's C snippet (examples/c/readme_client.c), run against the
devserver.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from docs_support import LIB, README, ROOT, DevServer, run

SNIPPET = ROOT / "examples" / "c" / "readme_client.c"
GREETING = "Hello! Say something and I will repeat it."
INSTALLED = ["lib/liblayercode.so", "lib/liblayercode.so.0", "lib/liblayercode.so.0.1.0",
             "include/layercode.h", "lib/pkgconfig/layercode.pc", "bin/layercode-player",
             "share/man/man1/layercode-player.1", "share/doc/liblayercode/LICENSE"]
SYSTEM_PREFIX = Path("/usr/local")


@pytest.fixture(scope="module", autouse=True)
def library():
    if not LIB.exists():
        pytest.skip("build/lib/liblayercode.so missing: run make")


@pytest.fixture(scope="module")
def devserver(tmp_path_factory):
    server = DevServer(tmp_path_factory.mktemp("devserver"), "--session-max-seconds", "3")
    yield server
    server.stop()


def make(*args: str, env: dict | None = None):
    # The library is `make`'s (tests run after it); -o keeps install from rebuilding it
    # here should a Swift source be newer.
    lib_target = os.path.relpath(LIB.resolve(), ROOT)
    return run(["make", "--no-print-directory", "-o", lib_target, *args], env, cwd=ROOT,
               timeout=300)


def pkg_config_build(out: Path, extra: list[str] = (), env: dict | None = None) -> Path:
    pc = run(["pkg-config", "--cflags", "--libs", "layercode"], env)
    assert pc.returncode == 0, pc.describe
    build = run(["cc", "-std=c99", "-Wall", "-Werror", str(SNIPPET), *pc.stdout.split(),
                 *extra, "-o", str(out)], env)
    assert build.returncode == 0, build.describe
    return out


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}


def talk(exe: Path, server: DevServer, env: dict):
    return run([exe], {**env, "AGENT_ID": "echo", "AUTHORIZE_URL": server.authorize_url,
                       "WS_URL": server.ws_url}, timeout=60)


def system_copy_exists() -> bool:
    return any((SYSTEM_PREFIX / "lib").glob("liblayercode.so*"))


def test_install_into_a_prefix_says_how_to_find_the_library(devserver, tmp_path):
    prefix = tmp_path / "prefix"
    env = {**clean_env(), "PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig")}
    proc = make("install", f"PREFIX={prefix}")
    assert proc.returncode == 0, proc.describe
    for name in INSTALLED:
        assert (prefix / name).exists(), f"make install did not install {name}"
    libdir = f"{prefix}/lib"
    assert f"-Wl,-rpath,{libdir}" in proc.stdout and f"LD_LIBRARY_PATH={libdir}" in proc.stdout, \
        proc.describe

    plain = pkg_config_build(tmp_path / "plain", env=env)
    if not system_copy_exists():
        # The defect as a user met it: built fine, cannot start.
        failed = run([plain], env, timeout=30)
        assert failed.returncode != 0 and "liblayercode.so.0" in failed.stderr, failed.describe
    with_path = talk(plain, devserver, {**env, "LD_LIBRARY_PATH": libdir})
    assert with_path.returncode == 0 and GREETING in with_path.stdout, with_path.describe

    rpath = pkg_config_build(tmp_path / "rpath", [f"-Wl,-rpath,{libdir}"], env)
    ldd = run(["ldd", rpath], env)
    assert f"{libdir}/liblayercode.so.0" in ldd.stdout, ldd.describe
    with_rpath = talk(rpath, devserver, env)
    assert with_rpath.returncode == 0 and GREETING in with_rpath.stdout, with_rpath.describe

    proc = make("uninstall", f"PREFIX={prefix}")
    assert proc.returncode == 0, proc.describe
    left = [name for name in INSTALLED if os.path.lexists(prefix / name)]
    assert not left, f"make uninstall left {left}"


def test_staged_install_leaves_ldconfig_to_the_target(tmp_path):
    stage = tmp_path / "stage"
    proc = make("install", f"DESTDIR={stage}", "PREFIX=/usr/local")
    assert proc.returncode == 0, proc.describe
    assert (stage / "usr/local/lib/liblayercode.so.0").exists()
    assert "ran ldconfig" not in proc.stdout and "DESTDIR" in proc.stdout, proc.describe


@pytest.mark.skipif(os.geteuid() != 0, reason="installing into /usr/local needs root")
def test_system_install_runs_ldconfig_so_pkg_config_programs_run(devserver, tmp_path):
    if system_copy_exists():
        pytest.skip(f"a liblayercode is already installed in {SYSTEM_PREFIX}/lib")
    env = {k: v for k, v in clean_env().items() if k != "PKG_CONFIG_PATH"}
    try:
        proc = make("install", f"PREFIX={SYSTEM_PREFIX}")
        assert proc.returncode == 0, proc.describe
        assert "ran ldconfig" in proc.stdout, proc.describe
        cache = run(["ldconfig", "-p"])
        assert f"{SYSTEM_PREFIX}/lib/liblayercode.so.0" in cache.stdout, cache.describe
        exe = pkg_config_build(tmp_path / "app", env=env)  # pkg-config's default path
        proc = talk(exe, devserver, env)
        assert proc.returncode == 0 and GREETING in proc.stdout, proc.describe
    finally:
        proc = make("uninstall", f"PREFIX={SYSTEM_PREFIX}")
    assert proc.returncode == 0, proc.describe
    left = [name for name in INSTALLED if os.path.lexists(SYSTEM_PREFIX / name)]
    assert not left, f"make uninstall left {left}"
    cache = run(["ldconfig", "-p"])
    assert "liblayercode" not in cache.stdout, cache.describe


def test_readme_says_how_installed_programs_find_the_library():
    text = " ".join(README.read_text().split())
    assert "make uninstall" in text
    assert "ldconfig" in text and "LD_LIBRARY_PATH" in text and "-Wl,-rpath" in text
