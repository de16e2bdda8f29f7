# SPDX-License-Identifier: Apache-2.0
"""tests/c/hostile_network.c: a C host that leaves SIGPIPE at its default action, against
devservers that reset TLS connections (mid-session and during an https authorize) and that
flood the socket (issue 9, items 1 and 3). A crash by SIGPIPE shows as exit -13; a hang as
the program's own watchdog (exit 3)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LAYERCODE_BUILD_DIR", ROOT / "build"))
LIB_DIR = BUILD / "lib"
sys.path.insert(0, str(ROOT / "tests"))
from devserver_process import DevServer  # noqa: E402

CFLAGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O1", "-g"]

if not (LIB_DIR / "liblayercode.so").exists():
    pytest.skip(f"no library in {LIB_DIR} (run make)", allow_module_level=True)


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile_network") / "hostile_network"
    argv = ["cc", *CFLAGS, "-I", str(ROOT / "include"), str(ROOT / "tests/c/hostile_network.c"),
            "-L", str(LIB_DIR), "-llayercode", "-lpthread", f"-Wl,-rpath,{LIB_DIR}",
            "-o", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, f"$ {' '.join(argv)}\n{proc.stderr}"
    return out


def run(argv, timeout: float = 180) -> subprocess.CompletedProcess:
    # restore_signals (the default) gives the child SIGPIPE's default action back, which
    # Python itself ignores; the program checks that it did.
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, restore_signals=True)
    died = (f" (killed by {signal.Signals(-proc.returncode).name})"
            if proc.returncode < 0 else "")
    proc.describe = (f"exit {proc.returncode}{died}\n--- stdout\n{proc.stdout}"
                     f"--- stderr\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    server = DevServer(tmp_path_factory.mktemp("tls"), "--tls", "--host", "localhost",
                       "--cert-dir", str(tmp_path_factory.mktemp("certs")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory):
    server = DevServer(tmp_path_factory.mktemp("plain"))
    yield server
    server.stop()


def test_tls_reset_does_not_raise_sigpipe_in_the_host(program, tls_server):
    proc = run([program, "reset", tls_server.authorize_url, tls_server.ws_url,
                tls_server.ca_file])
    assert proc.returncode == 0, proc.describe
    assert "result session_ok=1" in proc.stdout, proc.describe


def test_https_authorize_reset_does_not_raise_sigpipe_in_the_host(program, tls_server):
    proc = run([program, "authorize-reset", tls_server.authorize_url, tls_server.ws_url,
                tls_server.ca_file])
    assert proc.returncode == 0, proc.describe
    assert "result authorize_ok=1" in proc.stdout, proc.describe


@pytest.mark.parametrize("transport", ["plain", "tls"])
def test_flooding_server_does_not_take_over_the_event_loop(program, plain_server, tls_server,
                                                           transport):
    server = plain_server if transport == "plain" else tls_server
    proc = run([program, "flood", server.authorize_url, server.ws_url]
               + ([server.ca_file] if transport == "tls" else []))
    assert proc.returncode == 0, proc.describe
    assert "result ended=1" in proc.stdout, proc.describe
    # Within a bounded slice of reading (64 KiB: ~64 of the 1 KiB messages), not when the
    # flood pauses: without the bound it was every message until the socket ran dry.
    delivered = int(proc.stdout.split("delivered_while_disconnecting=")[1].split()[0])
    assert delivered < 2000, proc.describe
