# SPDX-License-Identifier: Apache-2.0
"""Failures surface as exceptions: one class per LC_ERR_* code, with the library's detail."""

from __future__ import annotations

import array
import subprocess

import pytest

import layercode
from layercode import ErrorCode, Status


def test_every_error_code_has_its_class():
    expected = {
        -1: layercode.InvalidArgumentError, -2: layercode.InvalidStateError,
        -3: layercode.NoMemoryError, -4: layercode.AuthorizeError,
        -5: layercode.NetworkError, -6: layercode.TLSError, -7: layercode.ProtocolError,
        -8: layercode.LCTimeoutError, -9: layercode.ClosedError, -10: layercode.AudioError,
        -11: layercode.TooLargeError, -12: layercode.InternalError,
    }
    assert {int(c) for c in ErrorCode if c != ErrorCode.OK} == set(expected)
    for code, cls in expected.items():
        assert layercode.error_for(code) is cls
        err = cls(code, "detail text")
        assert isinstance(err, layercode.LayercodeError)
        assert err.code == code and err.detail == "detail text"
        assert "detail text" in str(err)
    assert layercode.error_for(-999) is layercode.LayercodeError
    assert "unknown" in str(layercode.LayercodeError(-999))
    # Builtin families, without shadowing the builtins.
    assert issubclass(layercode.LCTimeoutError, TimeoutError)
    assert issubclass(layercode.InvalidArgumentError, ValueError)
    assert layercode.LCTimeoutError is not TimeoutError


def test_errors_pickle():
    import pickle

    err = pickle.loads(pickle.dumps(layercode.AuthorizeError(-4, "HTTP 402")))
    assert type(err) is layercode.AuthorizeError and err.detail == "HTTP 402"


def test_authorize_402_is_an_authorize_error(make_client):
    errors, ended = [], []
    client = make_client(agent_id="insufficient-balance", on_error=errors.append,
                         on_disconnected=lambda code, detail: ended.append((code, detail)))
    client.connect()
    with pytest.raises(layercode.AuthorizeError) as info:
        client.wait_connected(10)
    assert "402" in info.value.detail
    assert info.value.code == ErrorCode.AUTHORIZE
    assert client.wait_disconnected(5)
    assert [type(e) for e in errors] == [layercode.AuthorizeError]
    assert ended and ended[0][0] == ErrorCode.AUTHORIZE
    assert "402" in client.last_error
    assert client.status in (Status.ERROR, Status.DISCONNECTED)


def test_refused_call_after_a_session_error_has_no_stale_detail(make_client):
    # lc_client_last_error keeps the last session error; a later refused call must not
    # be reported with it.
    client = make_client(agent_id="insufficient-balance")
    client.connect()
    with pytest.raises(layercode.AuthorizeError):
        client.wait_connected(10)
    with pytest.raises(layercode.InvalidStateError) as info:
        client.send_text("hi")
    assert "402" not in info.value.detail


def test_authorize_headers_and_metadata(make_client, devserver):
    server = devserver("--device-token", "secret-token")
    refused = make_client(server)
    refused.connect()
    with pytest.raises(layercode.AuthorizeError) as info:
        refused.wait_connected(10)
    assert "401" in info.value.detail
    # Headers as a list of "Name: Value" lines; metadata as a dict (here: no greeting).
    client = make_client(server, headers=["Authorization: Bearer secret-token", "X-A: b"],
                         metadata={"greeting": False, "agent": "echo"}, amplitude_rate_hz=0)
    client.connect().wait_connected(10)
    client.send_text("first")
    texts = []
    for event in client.events(timeout=10):
        if event.type == "message" and event.message_type == "response.text":
            texts.append(event.message["content"])
            break
    assert texts == ["You said: first"]  # no greeting before it


def test_untrusted_ca_is_a_tls_error(make_client, devserver, cert_dir, tmp_path):
    server = devserver("--tls", "--cert-dir", cert_dir)
    other_key, other_ca = tmp_path / "other.key", tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=Not The Test CA",
                    "-days", "2", "-keyout", str(other_key), "-out", str(other_ca)],
                   check=True, capture_output=True, timeout=30)
    client = make_client(server, ca_file=other_ca)
    client.connect()
    with pytest.raises(layercode.TLSError) as info:
        client.wait_connected(10)
    assert info.value.detail

    # The right CA connects, over https and wss.
    good = make_client(server, ca_file=server.ca_file, amplitude_rate_hz=0)
    good.connect().wait_connected(10)
    assert good.status == Status.CONNECTED


def test_refused_connection_is_a_network_error(make_client, closed_port):
    client = make_client(authorize_url=f"http://127.0.0.1:{closed_port}/authorize",
                         ws_url=f"ws://127.0.0.1:{closed_port}/ws")
    client.connect()
    with pytest.raises(layercode.NetworkError):
        client.wait_connected(10)


def test_invalid_arguments(make_client, devserver):
    server = devserver()
    with pytest.raises(layercode.InvalidArgumentError) as info:
        layercode.Client(agent_id=None, authorize_url=server.authorize_url)  # type: ignore
    assert info.value.detail  # lc_client_last_error(NULL)
    with pytest.raises(layercode.InvalidArgumentError):
        layercode.Client(agent_id="echo", authorize_url=server.authorize_url,
                         input_sample_rate=1000)
    with pytest.raises(layercode.InvalidArgumentError):
        layercode.Client(agent_id="echo", authorize_url=server.authorize_url, audio="speakers")
    with pytest.raises(layercode.InvalidArgumentError):
        layercode.Client(agent_id="echo\0", authorize_url=server.authorize_url)
    with pytest.raises(TypeError):
        layercode.Client(agent_id="echo", authorize_url=server.authorize_url,
                         metadata=[1, 2])  # type: ignore
    with pytest.raises(ValueError):
        make_client(server).on("no-such-event", print)

    client = make_client(server)
    with pytest.raises(ValueError):
        client.write_audio(b"\x00\x01\x02")  # odd byte count
    with pytest.raises(TypeError):
        client.write_audio(array.array("f", [0.0]))
    with pytest.raises(TypeError):
        client.send_text(b"bytes")  # type: ignore


def test_calls_that_need_a_session(make_client):
    client = make_client()
    with pytest.raises(layercode.InvalidStateError):
        client.send_text("hi")
    with pytest.raises(layercode.InvalidStateError):
        client.turn_start()
    with pytest.raises(layercode.InvalidStateError):
        client.wait_connected(0.1)  # no connect() in progress
    # Audio written while disconnected is discarded but reported as accepted.
    assert client.write_audio(bytes(640)) == 320
    assert client.read_audio(160) == bytes(320)
    client.disconnect()  # a no-op when disconnected
    assert client.wait_disconnected(0)


def test_send_data_needs_a_json_object(make_client):
    client = make_client(amplitude_rate_hz=0)
    client.connect().wait_connected(10)
    for not_an_object in ([1, 2], "text", 3, None):
        with pytest.raises(layercode.InvalidArgumentError) as info:
            client.send_data(not_an_object)  # type: ignore[arg-type]
        assert "JSON object" in info.value.detail
    with pytest.raises(TypeError):
        client.send_data({"x": object()})
    with pytest.raises(ValueError):
        client.send_data({"x": float("nan")})
    with pytest.raises(layercode.TooLargeError):
        client.send_text("x" * (65 << 10))
    client.send_data({"ok": True})


def test_connect_twice_is_an_invalid_state(make_client):
    client = make_client(amplitude_rate_hz=0)
    client.connect().wait_connected(10)
    with pytest.raises(layercode.InvalidStateError):
        client.connect()
    assert client.status == Status.CONNECTED  # the live session is untouched
    # Regression: the refused connect() forgot the open session, and wait_disconnected()
    # returned at once.
    assert not client.wait_disconnected(0.2)
    client.disconnect()
    assert client.wait_disconnected(10)


def test_wait_connected_times_out(make_client):
    # An authorize endpoint that accepts the connection and never answers.
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        client = make_client(authorize_url=f"http://127.0.0.1:{port}/authorize",
                             connect_timeout_ms=5000)
        client.connect()
        with pytest.raises(layercode.LCTimeoutError):
            client.wait_connected(0.3)
        with pytest.raises(TimeoutError):  # the builtin family
            client.wait_connected(0.1)
        client.disconnect()


def test_closed_client(make_client):
    client = make_client()
    client.close()
    client.close()  # idempotent
    assert client.closed
    assert client.status == Status.DISCONNECTED
    assert client.last_error == ""
    for call in (client.connect, client.disconnect, client.mute, client.stats,
                 lambda: client.send_text("x"), lambda: client.write_audio(bytes(2)),
                 lambda: client.read_audio(1)):
        with pytest.raises(layercode.ClosedError):
            call()
    assert "closed" in repr(client)
