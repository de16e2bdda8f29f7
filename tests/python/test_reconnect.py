# SPDX-License-Identifier: Apache-2.0
"""Reconnect and failure reasons, against a devserver that really goes away (SIGKILL: the
socket drops without a close frame) or ends the session on purpose. The fault-injection
suite (tests/faults) covers drops the devserver makes itself, where the reconnect succeeds."""

from __future__ import annotations

import contextlib
import signal
import socket
import time

import layercode
import pytest

from .support import tone_burst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_status(client: layercode.Client, status: layercode.Status, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while client.status != status:
        assert time.monotonic() < deadline, f"status {client.status}, expected {status}"
        time.sleep(0.02)


def statuses(client: layercode.Client) -> list:
    seen: list = []
    client.on("status", seen.append)
    return seen


def kill(server) -> None:
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)


@contextlib.contextmanager
def dropped(server, **options):
    """A live session whose server is then killed: yields (client, statuses seen)."""
    with layercode.Client("agent", server.authorize_url, ws_url=server.ws_url,
                          **options) as client:
        seen = statuses(client)
        client.connect().wait_connected(20)
        kill(server)
        yield client, seen


def test_dropped_server_reconnects_then_gives_up_with_max_retries(devserver):
    with dropped(devserver("--agent", "echo"), reconnect_max_attempts=3, reconnect_base_ms=50,
                 reconnect_max_delay_ms=100) as (client, seen):
        wait_status(client, layercode.Status.ERROR)
        assert layercode.Status.RECONNECTING in seen
        assert seen[-2:] == [layercode.Status.RECONNECTING, layercode.Status.ERROR], seen
        assert client.failure_reason() == ("max_retries", None)
        assert "gave up after 3 reconnect attempts" in client.last_error
        assert client.stats().reconnects == 0


def test_a_refused_reauthorize_is_final_and_keeps_its_http_status(devserver, tmp_path):
    port = free_port()
    with dropped(devserver("--agent", "echo", "--port", str(port)), reconnect_max_attempts=50,
                 reconnect_base_ms=100, reconnect_max_delay_ms=200) as (client, seen):
        wait_status(client, layercode.Status.RECONNECTING)
        # A new server on the same port does not know the conversation: 400, not retried.
        second = devserver("--agent", "echo", "--port", str(port))
        wait_status(client, layercode.Status.ERROR, timeout=30)
        assert client.failure_reason() == ("authorize", 400)
        authorizes = [r for r in second.records() if r.get("kind") == "authorize"]
        assert len(authorizes) == 1, "a 4xx authorize is not retried"
        assert seen.count(layercode.Status.ERROR) == 1


def test_first_connect_never_retries(devserver):
    port = free_port()  # nothing listens there
    with layercode.Client("agent", f"http://127.0.0.1:{port}/authorize",
                          ws_url=f"ws://127.0.0.1:{port}/ws",
                          reconnect_max_attempts=5, reconnect_base_ms=50) as client:
        seen = statuses(client)
        client.connect()
        with pytest.raises(layercode.NetworkError):
            client.wait_connected(20)
        assert layercode.Status.RECONNECTING not in seen
        assert client.failure_reason() == ("unreachable", None)


def test_disconnect_while_reconnecting_ends_cleanly(devserver):
    with dropped(devserver("--agent", "echo"), reconnect_max_attempts=100, reconnect_base_ms=5000,
                 reconnect_max_delay_ms=7000) as (client, _):
        wait_status(client, layercode.Status.RECONNECTING)
        client.disconnect()
        assert client.wait_disconnected(10)
        assert client.status == layercode.Status.DISCONNECTED
        assert client.failure_reason() == ("none", None)


def test_server_ending_the_session_on_purpose_is_not_reconnected(devserver):
    server = devserver("--agent", "echo", "--session-max-seconds", "1")
    with layercode.Client("agent", server.authorize_url, ws_url=server.ws_url,
                          reconnect_base_ms=10) as client:
        seen = statuses(client)
        client.connect().wait_connected(20)
        assert client.wait_disconnected(20)
        time.sleep(0.5)  # a reconnect would authorize again by now
        assert layercode.Status.RECONNECTING not in seen
        assert client.status == layercode.Status.DISCONNECTED
        assert client.failure_reason() == ("none", None)
        assert len([r for r in server.records() if r.get("kind") == "authorize"]) == 1


def test_microphone_audio_beyond_the_outage_buffer_is_dropped_and_counted(devserver):
    with dropped(devserver("--agent", "echo"), reconnect_max_attempts=100, reconnect_base_ms=5000,
                 reconnect_max_delay_ms=7000, outage_buffer_ms=200) as (client, _):
        wait_status(client, layercode.Status.RECONNECTING)
        burst = tone_burst(1.0)  # 50 frames at 20 ms; the buffer holds 10
        for i in range(0, len(burst), 320):
            client.write_audio(burst[i:i + 320])
            time.sleep(0.002)
        deadline = time.monotonic() + 10
        while client.stats().outage_dropped_frames < 35:
            assert time.monotonic() < deadline, client.stats()
            time.sleep(0.05)
        assert client.stats().outage_dropped_frames <= 50
        client.disconnect()
