# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the end-to-end tests: the real layercode-player (linked against the real
liblayercode) against the real devserver, over loopback.

Build artifacts come from `make` in build/ (or $LAYERCODE_BUILD_DIR). Without them every
test here skips; anything else that is missing (the devserver, its Python packages, a tool)
is a failure, not a skip.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from .player_support import (BUILD_DIR, Build, PlayerRun, Speech, make_speech,
                             run_player)
from devserver_process import devservers  # on sys.path through player_support


@pytest.fixture(scope="session")
def build() -> Build:
    player = BUILD_DIR / "bin" / "layercode-player"
    lib = BUILD_DIR / "lib" / "liblayercode.so"
    missing = [str(p) for p in (player, lib) if not p.exists()]
    if missing:
        pytest.skip("build artifacts missing (run `make`): " + ", ".join(missing))
    return Build(BUILD_DIR, player, lib)


@pytest.fixture
def player(build):
    """player(*args, timeout=...) -> PlayerRun (the player run to completion)."""
    def run(*args: str, timeout: float = 30.0) -> PlayerRun:
        return run_player(build, *args, timeout=timeout)
    return run


@pytest.fixture
def devserver(build, tmp_path):
    """devserver(*flags) -> DevServer, stopped at teardown. Depends on `build` so that a
    missing build skips before any server starts."""
    yield from devservers(tmp_path)


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory) -> Path:
    """One test PKI for every TLS devserver of the run."""
    return tmp_path_factory.mktemp("certs")


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> Speech:
    return make_speech(tmp_path_factory.mktemp("speech"))


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
