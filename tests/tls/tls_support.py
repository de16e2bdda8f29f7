# SPDX-License-Identifier: Apache-2.0
"""What the tests of tests/tls share: the library (build/lib, or $LAYERCODE_LIBRARY) through
the Python bindings of bindings/python, and the devserver (tests/devserver_process.py).
Importing it from a test module skips that module when there is no library."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINDINGS = ROOT / "bindings" / "python"
LIBRARY = Path(os.environ.get("LAYERCODE_BUILD_DIR", ROOT / "build")) / "lib" / "liblayercode.so"
if "LAYERCODE_LIBRARY" not in os.environ and LIBRARY.exists():
    os.environ["LAYERCODE_LIBRARY"] = str(LIBRARY)
if not Path(os.environ.get("LAYERCODE_LIBRARY", LIBRARY)).exists():
    pytest.skip(f"no library at {LIBRARY} (run make)", allow_module_level=True)
for path in (str(BINDINGS), str(ROOT / "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)

import layercode  # noqa: E402,F401
from devserver_process import DevServer  # noqa: E402,F401

WS_PATH = "/v1/agents/web/websocket"


def shut_down(*socks: socket.socket) -> None:
    """Shuts both directions of each socket down, ignoring one already closed or reset (the
    end of a proxy's pump)."""
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
