# SPDX-License-Identifier: Apache-2.0
"""Regression (python_event_queue_bounded_by_count_only): Client.events()'s queue held up to
10,000 events of any size (10,000 messages of 1 MiB: 962 MB) and the library's own poll
queue filled as well although these bindings never poll it. Both are bounded by bytes now,
and the library's queue holds nothing for a client that uses callbacks."""
from __future__ import annotations

import threading

import pytest

ECHOES = 40
PAD = 60 * 1024  # send_data's limit is 64 KiB: 40 echoes are about 2.4 MB of events


def _flood(client, received: threading.Semaphore) -> None:
    for n in range(ECHOES):
        client.send_data({"n": n, "pad": "x" * PAD})
        assert received.acquire(timeout=10), f"echo {n} did not arrive"


@pytest.mark.parametrize("max_bytes", [None, 256 * 1024])
def test_events_queue_is_bounded_by_bytes(make_client, max_bytes):
    received = threading.Semaphore(0)
    options = {} if max_bytes is None else {"event_queue_max_bytes": max_bytes}
    client = make_client(audio="none", amplitude_rate_hz=0,
                         on_data=lambda content, turn_id: received.release(), **options)
    bound = max_bytes or 1 << 20
    client.connect().wait_connected(10)
    _flood(client, received)

    # Nobody read events(): it holds at most its bound, the oldest went first, counted.
    assert 0 < client.event_queue_bytes <= bound
    assert client.event_queue_overflows > 0
    kept = [e for e in client.events(timeout=0.5) if e.type == "data"]
    assert kept and kept[-1].data["echo"]["n"] == ECHOES - 1
    assert len(kept) < ECHOES
    assert client.event_queue_bytes < 4096  # read: only what arrived since

    # The library's own poll queue: never polled by these bindings, so never filled.
    stats = client.stats()
    assert stats.event_queue_bytes == 0 and stats.events_dropped == 0


def test_event_queue_max_bytes_must_be_positive(make_client):
    with pytest.raises(ValueError):
        make_client(audio="none", event_queue_max_bytes=0)


def test_async_events_queue_is_bounded_by_bytes(devserver):
    import asyncio

    import layercode

    server = devserver()

    async def main():
        received = asyncio.Event()
        count = 0

        def on_data(content, turn_id):
            nonlocal count
            count += 1
            received.set()

        async with layercode.AsyncClient(
                agent_id="echo", authorize_url=server.authorize_url, ws_url=server.ws_url,
                audio="none", amplitude_rate_hz=0, event_queue_max_bytes=256 * 1024,
                on_data=on_data) as client:
            await client.connect(timeout=10)
            for n in range(ECHOES):
                received.clear()
                client.send_data({"n": n, "pad": "x" * PAD})
                await asyncio.wait_for(received.wait(), 10)
            assert count == ECHOES
            assert 0 < client.event_queue_bytes <= 256 * 1024
            assert client.event_queue_overflows > 0
            kept = []
            async for event in client.events(timeout=0.5):
                if event.type == "data":
                    kept.append(event.data["echo"]["n"])
            assert kept and kept[-1] == ECHOES - 1 and len(kept) < ECHOES

    asyncio.run(asyncio.wait_for(main(), 60))
