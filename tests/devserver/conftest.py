# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the devserver self-tests (helpers live in devserver_harness)."""

from __future__ import annotations

import pytest

from devserver_harness import DEVICE_TOKEN, Server


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """Instant audio (speed 0), greeting on, device token required by the proxy."""
    server = Server(tmp_path_factory.mktemp("srv"), "--audio-speed", "0",
                    "--device-token", DEVICE_TOKEN)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def paced(tmp_path_factory):
    """Real-time-ish pacing for barge-in tests."""
    server = Server(tmp_path_factory.mktemp("paced"), "--audio-speed", "1.5",
                    "--tone-seconds", "2", "--no-greeting", "--audio-chunk-ms", "50")
    yield server
    server.stop()
