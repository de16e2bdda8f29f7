# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the Python binding tests: the real liblayercode (build/lib, or
$LAYERCODE_LIBRARY) against the real devserver, over loopback. The package is imported
from bindings/python, not installed."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from .support import BINDINGS, LIBRARY, DevServer, tone_burst, write_wav
from devserver_process import devservers  # on sys.path through support

if "LAYERCODE_LIBRARY" not in os.environ and LIBRARY.exists():
    os.environ["LAYERCODE_LIBRARY"] = str(LIBRARY)
if str(BINDINGS) not in sys.path:
    sys.path.insert(0, str(BINDINGS))


# Without a library there is nothing to test (like tests/integration without `make`).
if not Path(os.environ.get("LAYERCODE_LIBRARY", LIBRARY)).exists():
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture
def devserver(tmp_path: Path) -> Iterator[Callable[..., DevServer]]:
    """devserver(*flags) -> DevServer, stopped at teardown."""
    yield from devservers(tmp_path)


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One test PKI for every TLS devserver of the run."""
    return tmp_path_factory.mktemp("certs")


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 kHz mono: 2.8 s of silence (the greeting plays meanwhile), 1.5 s of voiced burst."""
    return write_wav(tmp_path_factory.mktemp("speech") / "speech.wav",
                     tone_burst(1.5, lead_in=2.8))


@pytest.fixture
def make_client(devserver):
    """make_client(server=None, **options) -> a Client for server (a new default devserver
    if None), closed at teardown."""
    import layercode

    clients: List[layercode.Client] = []

    def make(server: DevServer | None = None, **options) -> layercode.Client:
        server = server or devserver()
        options.setdefault("agent_id", "echo")
        options.setdefault("authorize_url", server.authorize_url)
        options.setdefault("ws_url", server.ws_url)
        client = layercode.Client(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nothing listens on."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
