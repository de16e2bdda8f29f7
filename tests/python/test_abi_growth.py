# SPDX-License-Identifier: Apache-2.0
"""Issue 10, items 6 to 8, from Python: the binding takes every option default from
lc_options_init (it writes only what the caller passed), declares each struct once, and
raises with the failing call's own detail (lc_client_last_error, per thread), while
Client.last_error is why the session failed (lc_client_failure_message)."""

from __future__ import annotations

import ctypes
import threading

import pytest

import layercode
from layercode import _lib


class _Spy:
    """Wraps the real lc_client_new to keep a copy of the lc_options it was handed."""

    def __init__(self, real):
        self.real = real
        self.seen = None
        self.restype, self.argtypes = real.restype, real.argtypes

    def __call__(self, opts, out):
        self.seen = _lib.lc_options.from_buffer_copy(opts._obj)
        return self.real(opts, out)


@pytest.fixture
def spy():
    real = _lib.lib.lc_client_new
    spy = _Spy(real)
    _lib.lib.lc_client_new = spy
    try:
        yield spy
    finally:
        _lib.lib.lc_client_new = real


def _scalars(opts):
    """The int and size_t fields of an lc_options (not strings, callbacks, user_data)."""
    out = {}
    for name, ctype in _lib.lc_options._fields_:
        if ctype in (ctypes.c_int, ctypes.c_size_t) and name not in (
                "struct_size", "authorize_header_count"):
            out[name] = getattr(opts, name)
    return out


def test_options_left_out_are_the_librarys_defaults(make_client, spy):
    defaults = _lib.lc_options()
    assert _lib.lib.lc_options_init_sized(ctypes.byref(defaults), ctypes.sizeof(defaults)) == 0
    make_client()
    assert spy.seen is not None
    assert _scalars(spy.seen) == _scalars(defaults)


def test_the_binding_writes_no_default_of_its_own(make_client, spy):
    """lc_options_init is the only source: given other defaults (each nonzero one moved one
    toward zero, all still valid), the client is made with exactly those."""
    real_init = _lib.lib.lc_options_init_sized

    def other_defaults(opts, size):
        rc = real_init(opts, size)
        for name in _scalars(opts._obj):
            value = getattr(opts._obj, name)
            if name != "audio_mode" and value:
                setattr(opts._obj, name, value - 1 if value > 0 else value + 1)
        return rc

    _lib.lib.lc_options_init_sized = other_defaults
    try:
        expected = _lib.lc_options()
        other_defaults(ctypes.byref(expected), ctypes.sizeof(expected))
        make_client()
    finally:
        _lib.lib.lc_options_init_sized = real_init
    assert _scalars(spy.seen) == _scalars(expected)


def test_options_passed_are_the_only_ones_written(make_client, spy):
    make_client(period_ms=20, muted=True, audio_output=False, reconnect_max_attempts=0)
    defaults = _lib.lc_options()
    _lib.lib.lc_options_init_sized(ctypes.byref(defaults), ctypes.sizeof(defaults))
    expected = _scalars(defaults)
    expected.update(period_ms=20, start_muted=1, audio_output_enabled=0, reconnect_max_attempts=0)
    assert _scalars(spy.seen) == expected


def test_stats_has_the_new_stat(make_client):
    stats = make_client().stats()
    assert stats.device_delay_ms == 0  # external audio: no device
    assert layercode.Stats.__module__ == "layercode.client"


# The failing calls of each thread, and what their own detail says.
_CALLS = {
    "not connected": lambda c: c.send_text("hi"),
    "device switching": lambda c: c.set_input_device("hw:0"),
    "64 KiB": lambda c: c.send_text("x" * (65 << 10)),
    # (Client.send_data refuses a list itself: the C call, to reach the library.)
    "JSON object": lambda c: c._call(_lib.lib.lc_client_send_data, b"[1]"),
}


def test_call_errors_carry_their_own_detail_across_threads(make_client):
    client = make_client()
    wrong = []
    start = threading.Barrier(len(_CALLS))

    def run(words, call):
        start.wait()
        for _ in range(300):
            try:
                call(client)
            except layercode.LayercodeError as err:
                if words not in err.detail:
                    wrong.append((words, err.detail))
            else:
                wrong.append((words, "no error"))

    threads = [threading.Thread(target=run, args=item) for item in _CALLS.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_a_refused_call_leaves_the_session_error(make_client):
    client = make_client(agent_id="insufficient-balance")
    client.connect()
    with pytest.raises(layercode.AuthorizeError):
        client.wait_connected(10)
    assert client.wait_disconnected(5)
    session = client.last_error
    assert "402" in session
    with pytest.raises(layercode.InvalidStateError) as info:
        client.send_text("hi")
    assert "not connected" in info.value.detail
    assert client.last_error == session
