# SPDX-License-Identifier: Apache-2.0
"""Fixtures for tests/cross: every test runs once per cross architecture whose build exists
(cross_support.ARCHES: aarch64 and armhf), its programs under qemu-user, the devserver natively
on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cross_support import ARCHES, Cross, cross_for
from devserver_process import devservers  # on sys.path through cross_support
from integration.player_support import Build, Speech, make_speech, run_player

# The x86 suites' timeouts are hang guards sized for native code; under qemu they grow by
# this factor (emulation is 5-20x slower). Nothing measures wall time.
QEMU_SLOWDOWN = 10


@pytest.fixture(scope="session", params=sorted(ARCHES))
def cross(request, tmp_path_factory) -> Cross:
    return cross_for(request.param, tmp_path_factory.mktemp(f"cc-{request.param}"))


@pytest.fixture(scope="session")
def build(cross) -> Build:
    """The cross-built player as tests/integration's Build: run behind qemu."""
    return Build(cross.build_dir, cross.player, cross.lib, runner=cross.runner,
                 env=cross.env())


@pytest.fixture
def player(build):
    """player(*args, timeout=...) -> PlayerRun, as in tests/integration, with the timeout
    (a hang guard) scaled for qemu."""
    def run(*args: str, timeout: float = 30.0):
        return run_player(build, *args, timeout=timeout * QEMU_SLOWDOWN)
    return run


@pytest.fixture
def devserver(cross, tmp_path):
    """devserver(*flags) -> DevServer (native), stopped at teardown."""
    yield from devservers(tmp_path)


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("certs")


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> Speech:
    return make_speech(tmp_path_factory.mktemp("speech"))
