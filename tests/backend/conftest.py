# SPDX-License-Identifier: Apache-2.0
"""Fixtures for tests/backend: the example backend (examples/backend) and the devserver as
real processes over loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from .backend_support import SECRET, Backend, DevServer


@pytest.fixture(scope="module")
def backend(tmp_path_factory) -> Iterator[Backend]:
    """A backend with the webhook secret set (no Layercode API key)."""
    server = Backend(tmp_path_factory.mktemp("backend"), {"LAYERCODE_WEBHOOK_SECRET": SECRET})
    yield server
    server.stop()


@pytest.fixture
def start_backend(tmp_path: Path) -> Iterator[Callable[..., Backend]]:
    """start(env, *flags) -> Backend; every backend started is stopped at teardown."""
    started: list[Backend] = []

    def start(env: dict[str, str], *flags: str) -> Backend:
        server = Backend(tmp_path / f"backend{len(started)}", env, *flags)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def devserver(tmp_path_factory) -> Iterator[DevServer]:
    server = DevServer(tmp_path_factory.mktemp("devserver"), "--no-greeting")
    yield server
    server.stop()
