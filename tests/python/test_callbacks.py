# SPDX-License-Identifier: Apache-2.0
"""Callbacks: how they are set, what they receive, and that nothing they do (raise, close
their own client or another one, call back into the library) reaches the C side."""

from __future__ import annotations

import logging
import threading

import layercode
from layercode import Status

from .support import Recorder


def test_a_callback_that_raises_is_reported_not_propagated(make_client, caplog, capfd):
    rec = Recorder()
    client = make_client(amplitude_rate_hz=0)

    @client.on("message")
    def explode(message):
        raise RuntimeError(f"boom on {message['type']}")

    client.on_error = lambda err: rec.add("error", err)
    client.on_connected = lambda cid, config: rec.add("connected")
    with caplog.at_level(logging.ERROR, logger="layercode"):
        client.connect().wait_connected(10)
        client.send_text("still alive?")
        events = []
        for event in client.events(timeout=10):
            events.append(event)
            if event.type == "message" and event.message.get("content") == "You said: still alive?":
                break
    # The session went on; every failure was reported three ways.
    assert client.status == Status.CONNECTED
    err = client.callback_error
    assert isinstance(err, layercode.CallbackError)
    assert err.callback == "message" and isinstance(err.__cause__, RuntimeError)
    assert "boom on" in str(err)
    reported = [e for e in events if e.type == "error"]
    assert reported and all(isinstance(e.error, layercode.CallbackError) for e in reported)
    assert all(isinstance(args[0], layercode.CallbackError) for args in rec.of("error"))
    assert any("on_message callback raised" in r.getMessage() for r in caplog.records)
    assert "Exception ignored" not in capfd.readouterr().err


def test_an_on_error_that_raises_does_not_recurse(make_client, caplog):
    calls = []

    def bad_error_handler(err):
        calls.append(err)
        raise ValueError("on_error failed too")

    client = make_client(amplitude_rate_hz=0, on_error=bad_error_handler,
                         on_status=lambda status: 1 / 0)
    with caplog.at_level(logging.CRITICAL, logger="layercode"):
        client.connect().wait_connected(10)
    assert calls and all(isinstance(c, layercode.CallbackError) for c in calls)
    assert client.callback_error.callback in ("error", "status")


def test_setting_and_removing_callbacks(make_client):
    client = make_client(amplitude_rate_hz=0)
    seen = []

    @client.on("status")
    def first(status):
        seen.append(("first", status))

    assert client.on_status is first
    client.connect().wait_connected(10)
    client.on_status = lambda status: seen.append(("second", status))
    client.on("connected", None)  # removing one never set is fine
    client.on_status = None
    assert client.on_status is None
    client.disconnect()
    assert client.wait_disconnected(10)
    assert ("first", Status.CONNECTED) in seen
    assert all(name == "first" for name, _ in seen)


def test_callbacks_may_call_the_library(make_client):
    results = {}
    done = threading.Event()
    client = make_client(amplitude_rate_hz=0)

    def on_connected(conversation_id, config):
        results["status"] = client.status
        results["stats"] = client.stats()
        client.send_text("from a callback")
        client.mute()
        results["muted"] = client.muted

    def on_message(message):
        if message.get("content") == "You said: from a callback":
            done.set()

    client.on_connected = on_connected
    client.on_message = on_message
    client.connect()
    assert done.wait(10)
    assert results["status"] == Status.CONNECTED
    assert results["muted"] is True
    assert isinstance(results["stats"], layercode.Stats)


def test_close_from_its_own_callback(make_client, devserver):
    server = devserver()
    after_close = []
    closed = threading.Event()
    client = make_client(server)

    def on_connected(conversation_id, config):
        client.close()  # lc_client_free from its own callback: completes on return
        closed.set()

    client.on_connected = on_connected
    client.on_message = lambda m: after_close.append(m) if closed.is_set() else None
    client.connect()
    assert closed.wait(10)
    assert client.closed and client.status == Status.DISCONNECTED
    server.wait_for(lambda r: r.get("kind") == "ws_close")
    assert after_close == []


def test_close_another_client_from_a_callback(make_client, devserver):
    server = devserver("--no-greeting")
    victim = make_client(server, amplitude_rate_hz=0)
    victim.connect().wait_connected(10)
    done = threading.Event()
    killer = make_client(server, amplitude_rate_hz=0)

    def on_connected(conversation_id, config):
        victim.close()  # another client, freed on the library's thread
        done.set()

    killer.on_connected = on_connected
    killer.connect()
    assert done.wait(10)
    assert victim.closed
    killer.send_text("still fine")
    assert killer.status == Status.CONNECTED


def test_user_data_is_an_id_not_a_pointer(make_client):
    from layercode import _dispatch

    a, b = make_client(), make_client()
    assert isinstance(a._cid, int) and a._cid != b._cid
    assert _dispatch.lookup(a._cid) is a and _dispatch.lookup(b._cid) is b
    a.close()
    assert _dispatch.lookup(a._cid) is None
    assert _dispatch.lookup(10 ** 9) is None and _dispatch.lookup(None) is None


def test_waiting_inside_a_callback_is_refused_not_a_deadlock(make_client):
    refused = []
    done = threading.Event()
    client = make_client(amplitude_rate_hz=0)

    def on_connected(conversation_id, config):
        for wait in (lambda: client.wait_disconnected(1), lambda: client.wait_connected(1),
                     lambda: next(client.events(timeout=1))):
            try:
                wait()
            except layercode.InvalidStateError as exc:
                refused.append(exc)
        done.set()

    client.on_connected = on_connected
    client.connect()
    assert done.wait(10)
    assert len(refused) == 3 and all("callback" in e.detail for e in refused)
