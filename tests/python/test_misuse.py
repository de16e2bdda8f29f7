# SPDX-License-Identifier: Apache-2.0
"""Calls a user can get wrong (issue 9, item 24): events() with no session (it ends instead
of waiting forever), stereo arrays given as mono audio (refused), and AsyncClient's device
switches, which must not hold up the asyncio loop while the library opens a device."""

from __future__ import annotations

import array
import asyncio
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import layercode
from layercode import InvalidStateError

from .support import tone_burst, write_wav


def events_of(client, within: float = 20.0):
    """list(client.events()) run on another thread (no timeout given to events()): what it
    yielded, or None if it was still waiting after `within` seconds."""
    result = []
    ended = threading.Event()

    def consume():
        result.extend(client.events())
        ended.set()

    threading.Thread(target=consume, daemon=True).start()
    return result if ended.wait(within) else None


def test_events_before_connect_ends_at_once_instead_of_blocking_forever(make_client):
    client = make_client()
    # Nothing else happens to this client: only events() itself can end the iteration.
    assert events_of(client) == [], "events() before connect() is still waiting"
    with pytest.raises(InvalidStateError):  # wait_connected() says so at once, too
        client.wait_connected()


def test_events_after_the_session_ended_drain_then_end(make_client):
    client = make_client()
    client.connect().wait_connected(20)
    client.disconnect()
    assert client.wait_disconnected(10)
    drained = events_of(client)  # what was queued, then the end
    assert drained and drained[-1].type == "disconnected", drained
    assert [e.type for e in drained].count("connected") == 1
    assert events_of(client) == [], "events() after the session ended is still waiting"


def test_async_events_before_connect_end_at_once_instead_of_waiting_forever(devserver):
    server = devserver()

    async def main():
        async with layercode.AsyncClient(agent_id="echo", authorize_url=server.authorize_url,
                                         ws_url=server.ws_url) as client:
            return [event async for event in client]

    assert asyncio.run(asyncio.wait_for(main(), 30)) == []


def test_write_audio_refuses_a_stereo_array(make_client):
    numpy = pytest.importorskip("numpy")
    client = make_client()
    stereo = numpy.zeros((320, 2), dtype=numpy.int16)
    with pytest.raises(ValueError, match="mono"):
        client.write_audio(stereo)
    with pytest.raises(ValueError, match="mono"):
        client.read_audio_into(numpy.zeros((320, 2), dtype=numpy.int16))
    # One column is mono: 320 samples, not 640.
    assert client.write_audio(numpy.zeros((320, 1), dtype=numpy.int16)) == 320
    assert client.write_audio(numpy.zeros(320, dtype=numpy.int16)) == 320


def test_async_device_switches_do_not_block_the_loop(devserver, tmp_path):
    """Each switch runs off the loop: the executor's worker waits until a callback on the
    loop opens its gate, which can only happen if the loop is free during the switch."""
    server = devserver("--no-greeting")
    quiet = write_wav(tmp_path / "quiet.wav", array.array("h", bytes(2 * 16000 * 20)))
    loud = write_wav(tmp_path / "loud.wav", tone_burst(20.0))
    switch_threads = []

    class GatedExecutor(ThreadPoolExecutor):
        gate = threading.Event()

        def submit(self, fn, *args, **kwargs):
            def gated():
                assert self.gate.wait(20), "the loop never ran while the switch waited"
                switch_threads.append(threading.get_ident())
                return fn(*args, **kwargs)
            return super().submit(gated)

    async def main():
        loop = asyncio.get_running_loop()
        executor = GatedExecutor(1)
        loop.set_default_executor(executor)
        async with layercode.AsyncClient(agent_id="agent", authorize_url=server.authorize_url,
                                         ws_url=server.ws_url, audio="wav",
                                         capture_device=quiet,
                                         playback_device=tmp_path / "out.wav") as client:
            await client.connect(timeout=20)
            for name, arg in (("set_input_device", loud),
                              ("set_input_device", tmp_path / "missing.wav"),
                              ("set_output_device", tmp_path / "out2.wav"),
                              ("set_audio_input", False), ("set_audio_output", False)):
                method = getattr(client, name)
                assert inspect.iscoroutinefunction(method), name
                GatedExecutor.gate.clear()
                loop.call_soon(GatedExecutor.gate.set)
                if str(arg).endswith("missing.wav"):
                    with pytest.raises(layercode.AudioError):  # raised through the await
                        await method(arg)
                else:
                    await method(arg)
            await client.disconnect()
        return threading.get_ident()

    loop_thread = asyncio.run(asyncio.wait_for(main(), 60))
    assert len(switch_threads) == 5 and loop_thread not in switch_threads
