# SPDX-License-Identifier: Apache-2.0
"""Lifetime (STYLE §15): clients freed by the garbage collector and at interpreter exit,
while audio runs and callbacks arrive, never crash or hang."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import pytest

import layercode
from layercode import _dispatch

from .support import BINDINGS, AudioPump, tone_burst


def test_an_unreferenced_client_is_freed(devserver):
    server = devserver("--no-greeting")
    orphan = layercode.Client(agent_id="echo", authorize_url=server.authorize_url,
                              ws_url=server.ws_url)
    orphan.on_message = lambda m: orphan.status  # a cycle through the callback
    orphan.connect().wait_connected(10)
    finalizer, cid = orphan._finalizer, orphan._cid
    ref = weakref.ref(orphan)
    del orphan
    gc.collect()
    assert ref() is None
    assert not finalizer.alive
    assert _dispatch.lookup(cid) is None and cid not in _dispatch._clients
    # lc_client_free closed the socket ("going away").
    server.wait_for(lambda r: r.get("kind") == "ws_close" and r.get("code") == 1001)


def test_gc_stress_while_audio_runs(devserver):
    """Attach and detach callbacks (closures that reference the client: cycles) under
    gc.collect() while a thread pumps audio and callbacks arrive; then drop the client
    while the pump still runs."""
    server = devserver("--audio-speed", "4")
    client = layercode.Client(agent_id="echo", authorize_url=server.authorize_url,
                              ws_url=server.ws_url, amplitude_rate_hz=100)
    client.connect().wait_connected(10)
    pump = AudioPump(client, tone_burst(1.0, lead_in=0.2) * 3)
    pump.start()
    counts = {"calls": 0}

    def make_handler(c):
        def handler(*args):
            counts["calls"] += 1
            c.status  # noqa: B018 - touch the client from its own callback
        return handler

    deadline = time.monotonic() + 2.5
    n = 0
    while time.monotonic() < deadline:
        for kind in layercode.EVENT_TYPES:
            client.on(kind, make_handler(client) if n % 2 == 0 else None)
        # Garbage clients with live callbacks in cycles, freed by the collector.
        junk = layercode.Client(agent_id="echo", authorize_url=server.authorize_url)
        junk.on_status = make_handler(junk)
        del junk
        gc.collect()
        n += 1
    assert counts["calls"] > 0
    for kind in layercode.EVENT_TYPES:
        client.on(kind, make_handler(client))

    ref, finalizer = weakref.ref(client), client._finalizer
    del client
    # The pump's tick and a callback in flight each hold the client for the length of one
    # call (a strong reference re-taken from a weak one): wait those out. A cycle or a leak
    # never frees it, so the assertion keeps its teeth.
    deadline = time.monotonic() + 5
    while True:
        gc.collect()
        if ref() is None or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert ref() is None and not finalizer.alive
    pump.join(5)
    assert not pump.is_alive(), "the pump stops once its client is gone"
    assert not pump.errors
    assert pump.ticks > 50


def test_gc_while_alsa_audio_runs(devserver):
    """The library's own audio threads (ALSA null devices) run while the client is
    collected. The null plugin is not paced, so this stays short."""
    names = {d.name for d in layercode.list_devices()}
    if "null" not in names:
        pytest.skip("no ALSA null device")
    server = devserver("--agent", "tone", "--audio-speed", "0")
    client = layercode.Client(agent_id="tone", authorize_url=server.authorize_url,
                              ws_url=server.ws_url, audio="alsa", capture_device="null",
                              playback_device="null", period_ms=20, event_queue_size=64)
    client.on_agent_amplitude = lambda level: client.status
    client.connect().wait_connected(15)
    time.sleep(0.3)
    ref = weakref.ref(client)
    del client
    gc.collect()
    assert ref() is None


def test_freed_from_a_callback_when_its_last_reference_goes(devserver):
    """The last reference dropped inside one of its own callbacks: the Client dies on the
    library's thread and lc_client_free runs from within that callback."""
    server = devserver("--no-greeting")
    holder = [layercode.Client(agent_id="echo", authorize_url=server.authorize_url,
                               ws_url=server.ws_url, amplitude_rate_hz=0)]
    dropped = threading.Event()
    ref = weakref.ref(holder[0])

    def on_connected(conversation_id, config):
        holder.clear()
        dropped.set()

    holder[0].on_connected = on_connected
    holder[0].connect()
    assert dropped.wait(10)
    deadline = time.monotonic() + 5
    while ref() is not None and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.02)
    assert ref() is None
    server.wait_for(lambda r: r.get("kind") == "ws_close")


EXIT_SCRIPT = textwrap.dedent("""
    import sys, threading, time
    import layercode

    authorize_url, ws_url, mode = sys.argv[1:4]

    def start(pump):
        c = layercode.Client(agent_id="echo", authorize_url=authorize_url, ws_url=ws_url,
                             amplitude_rate_hz=100)
        def slow(*args):
            time.sleep(0.002)   # callbacks are in flight when the interpreter exits
            c.status            # and the client is in a cycle through its callbacks
        for kind in layercode.EVENT_TYPES:
            c.on(kind, slow)
        c.connect().wait_connected(10)
        def run():
            try:
                while True:
                    c.write_audio(bytes(640))
                    c.read_audio(320)
                    time.sleep(0.02)
            except layercode.ClosedError:  # freed at exit while this thread still runs
                pass
        if pump:
            threading.Thread(target=run, daemon=True).start()
        return c

    if mode == "global":
        import logging
        logging.basicConfig(level=logging.DEBUG)
        layercode.set_library_log_level(logging.DEBUG)  # log lines flow at exit too
        client = start(pump=True)
    elif mode == "cycle":
        start(pump=False)       # unreachable, not yet collected
    elif mode == "sys.exit":
        client = start(pump=True)
        time.sleep(0.5)
        sys.exit(0)
    elif mode == "async":
        import asyncio
        async def main():
            a = layercode.AsyncClient(agent_id="echo", authorize_url=authorize_url,
                                      ws_url=ws_url, on_message=lambda m: time.sleep(0.002))
            await a.connect(timeout=10)
            a.send_text("hi")
            await asyncio.sleep(0.3)
            globals()["kept"] = a   # alive after its loop has closed
        asyncio.run(main())
    time.sleep(0.5)
    print("bye", flush=True)
""")



@pytest.mark.parametrize("mode", ["global", "cycle", "sys.exit", "async"])
def test_interpreter_exit_with_a_live_client(devserver, tmp_path, mode):
    server = devserver()
    script = tmp_path / "exit_live.py"
    script.write_text(EXIT_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(BINDINGS)}
    for _ in range(3):  # exit races: a few times each
        proc = subprocess.run([sys.executable, str(script), server.authorize_url,
                               server.ws_url, mode], capture_output=True, timeout=60, env=env)
        err = proc.stderr.decode(errors="replace")
        assert proc.returncode == 0, f"exit {proc.returncode}\n{err}"
        assert "Traceback" not in err and "Exception ignored" not in err, err
        assert "Fatal" not in err, err
        if mode != "sys.exit":
            assert proc.stdout.decode().strip() == "bye"
