# SPDX-License-Identifier: Apache-2.0
"""Self-tests for tools/devserver (run: python -m pytest tests/devserver -q)."""

from __future__ import annotations

import array
import asyncio
import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys

import aiohttp
import pytest

from devserver_harness import (DEVICE_TOKEN, DEVSERVER, Client, Server, api_headers, audio_of,
                      first_response, of_type, post_json, run, silence8k, tone8k)

import pcm  # noqa: E402  (tools/devserver, put on sys.path by the harness)
import vad as vad_mod  # noqa: E402
import certs  # noqa: E402


# ---- audio helpers -----------------------------------------------------------

def samples(data: bytes) -> array.array:
    a = array.array("h")
    a.frombytes(data)
    return a


def zero_crossings(s: array.array) -> int:
    return sum(1 for i in range(1, len(s)) if (s[i - 1] < 0) != (s[i] < 0))


# ---- units -----------------------------------------------------------------------

def test_pcm_units():
    src = tone8k(0.1)
    up = pcm.upsample_2x(src)
    assert len(up) == 2 * len(src)
    assert samples(up)[0::2] == samples(src)
    assert pcm.upsample_2x(b"") == b""
    assert abs(len(pcm.resample_linear(tone8k(1.0), 22050, 16000)) / 2
               - 8000 * 16000 / 22050) <= 1
    with pytest.raises(pcm.AudioFormatError):
        pcm.decode_client_audio("not base64!")
    with pytest.raises(pcm.AudioFormatError):
        pcm.decode_client_audio(base64.b64encode(b"abc").decode())
    with pytest.raises(pcm.AudioFormatError):
        pcm.decode_client_audio(123)
    assert pcm.rms_dbfs(silence8k(0.02)) == float("-inf")
    assert -14 < pcm.rms_dbfs(tone8k(0.02, amp=0.3)) < -12


def test_vad_unit():
    v = vad_mod.EnergyVad()
    assert v.feed(tone8k(0.04)) == []                        # 40 ms: not yet
    events = v.feed(tone8k(0.02))
    assert [e.kind for e in events] == ["speech_start"]
    events = v.feed(silence8k(0.58))
    assert events == []
    events = v.feed(silence8k(0.02))
    assert [e.kind for e in events] == ["speech_end"]
    assert len(events[0].audio) == 2 * (480 + 4800)           # 60 ms + 600 ms
    quiet = vad_mod.EnergyVad()
    assert quiet.feed(tone8k(0.5, amp=0.005)) == []          # about -49 dBFS


def test_speech_without_sox():
    """The Python WAV parse + resample path matches sox closely."""
    import speech
    synth = speech.Speech()
    if not synth.available or not synth.sox:
        pytest.skip("espeak-ng and sox needed")
    text = "Checking the resampler."
    with_sox = run(synth.synthesize(text))
    synth.sox = None
    synth._cache.clear()
    without = run(synth.synthesize(text))
    assert with_sox and without
    assert abs(len(with_sox) - len(without)) <= 8
    assert abs(pcm.rms_dbfs(with_sox) - pcm.rms_dbfs(without)) < 1.0


def test_san_normalization():
    assert certs.normalize_san("myhost") == "DNS:myhost"
    assert certs.normalize_san("10.0.0.1") == "IP:10.0.0.1"
    assert certs.normalize_san("IP:::1") == "IP:::1"
    assert certs.normalize_san("dns:a.example") == "DNS:a.example"
    with pytest.raises(certs.CertError):
        certs.normalize_san("IP:nope")


# ---- authorization -------------------------------------------------------------------

def test_authorize_ok(srv):
    status, body = run(post_json(srv.ready["layercode_authorize_url"],
                                 {"agent_id": "echo", "sdk_version": "0.1.0"},
                                 api_headers()))
    assert status == 200, body
    assert set(body) == {"client_session_key", "conversation_id", "config"}
    assert body["conversation_id"].startswith("conv_")
    key = body["client_session_key"]
    assert len(key) >= 32 and all(c.isalnum() or c in "-_" for c in key)
    assert body["config"] == {
        "transcription": {"trigger": "automatic", "can_interrupt": True},
        "vad": {"enabled": True, "gate_audio": True, "buffer_frames": 10,
                "model": "v5", "frame_samples": 512, "positive_speech_threshold": 0.5,
                "negative_speech_threshold": 0.35, "redemption_frames": 8,
                "min_speech_frames": 3, "pre_speech_pad_frames": 1}}
    status, body = run(post_json(
        srv.ready["layercode_authorize_url"],
        {"agent_id": "x", "metadata": {"turn_mode": "push_to_talk",
                                       "can_interrupt": False, "vad": {"foo": 1}}},
        api_headers()))
    assert status == 200
    assert body["config"]["transcription"] == {"trigger": "push_to_talk",
                                               "can_interrupt": False}
    assert body["config"]["vad"]["foo"] == 1


def test_authorize_errors(srv):
    url = srv.ready["layercode_authorize_url"]

    async def go():
        cases = [
            ({"agent_id": "echo"}, {}, None, 400, "invalid api key"),
            ({"agent_id": "echo"}, api_headers("wrong"), None, 400, "invalid api key"),
            (None, api_headers(), b"{not json", 400, None),
            ([1, 2], api_headers(), None, 400, None),
            ({}, api_headers(), None, 400, None),
            ({"agent_id": ""}, api_headers(), None, 400, None),
            ({"agent_id": "insufficient-balance"}, api_headers(), None, 402,
             "insufficient balance"),
            ({"agent_id": "echo", "conversation_id": "conv_nope"}, api_headers(), None,
             400, "conversation not found"),
            ({"agent_id": "echo", "metadata": {"turn_mode": "sometimes"}},
             api_headers(), None, 400, None),
            ({"agent_id": "echo", "metadata": "x"}, api_headers(), None, 400, None),
        ]
        for body, headers, raw, want, message in cases:
            status, reply = await post_json(url, body, headers, raw=raw)
            assert status == want, (body, reply)
            assert isinstance(reply.get("error"), str) and reply["error"], reply
            if message:
                assert reply["error"] == message
    run(go())


def test_resume_conversation(srv):
    async def go():
        url = srv.ready["layercode_authorize_url"]
        _, first = await post_json(url, {"agent_id": "echo"}, api_headers())
        status, second = await post_json(
            url, {"agent_id": "echo", "conversation_id": first["conversation_id"]},
            api_headers())
        assert status == 200
        assert second["conversation_id"] == first["conversation_id"]
        assert second["client_session_key"] != first["client_session_key"]
    run(go())


def test_proxy_device_token(srv):
    async def go():
        url = srv.ready["authorize_url"]
        status, body = await post_json(url, {"agent_id": "echo"})
        assert (status, body) == (401, {"error": "invalid device token"})
        status, body = await post_json(url, {"agent_id": "echo"},
                                       {"Authorization": "Bearer nope"})
        assert status == 401
        auth = {"Authorization": f"Bearer {DEVICE_TOKEN}"}
        status, body = await post_json(url, {"agent_id": "echo"}, auth)
        assert status == 200 and body["conversation_id"].startswith("conv_")
        status, err = await post_json(url, {"agent_id": "insufficient-balance"}, auth)
        assert (status, err) == (402, {"error": "insufficient balance"})
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(
                srv.ready["ws"] + "?client_session_key=" + body["client_session_key"])
            await ws.send_str(json.dumps({"type": "client.ready"}))
            await ws.send_str(json.dumps({"type": "client.response.data",
                                          "data": {"k": 1}}))
            while True:
                msg = json.loads((await ws.receive(5)).data)
                if msg["type"] == "response.data":
                    break
            await ws.close()
    run(go())
    assert any(e["kind"] == "authorize" and e["path"] == "/authorize"
               and e["status"] == 200 for e in srv.events())


def test_legacy_pipelines(srv):
    async def go():
        base = srv.ready["http"]
        url = srv.ready["legacy_authorize_url"]
        status, body = await post_json(url, {"pipeline_id": "echo"}, api_headers())
        assert status == 200, body
        assert "session_id" in body and "conversation_id" not in body
        status, again = await post_json(
            url, {"pipeline_id": "echo", "session_id": body["session_id"]},
            api_headers())
        assert status == 200 and again["session_id"] == body["session_id"]
        status, _ = await post_json(url, {"agent_id": "echo"}, api_headers())
        assert status == 400
        async with aiohttp.ClientSession() as http:
            # An agents-API socket does not take a legacy key.
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(srv.ready["ws"] + "?client_session_key="
                                      + again["client_session_key"])
            # Resuming rotated the key: the first one is revoked.
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(base + "/v1/pipelines/websocket?client_session_key="
                                      + body["client_session_key"])
            assert info.value.status == 401
            ws = await http.ws_connect(base + "/v1/pipelines/websocket?client_session_key="
                                       + again["client_session_key"])
            await ws.send_str(json.dumps({"type": "client.ready"}))
            types = []
            while not types or types[-1] != "response.end":
                types.append(json.loads((await ws.receive(10)).data)["type"])
            assert types[0] == "turn.start"
            await ws.close()
    run(go())


def test_ws_key_rejected_without_upgrade(srv):
    async def go():
        ws_url = srv.ready["ws"]
        async with aiohttp.ClientSession() as http:
            for suffix, want in (("", 401), ("?client_session_key=bogus", 401)):
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await http.ws_connect(ws_url + suffix)
                assert info.value.status == want
            # Plain GET: a JSON error body and no 101.
            http_url = srv.ready["http"] + "/v1/agents/web/websocket?client_session_key=x"
            async with http.get(http_url) as resp:
                assert resp.status == 401
                assert (await resp.json())["error"] == "invalid client_session_key"
        client = await Client.open(srv, metadata={"greeting": False})
        key = client.auth["client_session_key"]
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(ws_url + "?client_session_key=" + key)
            assert info.value.status == 403
        await client.close()
    run(go())
    rejects = [e for e in srv.events() if e["kind"] == "ws_reject"]
    assert {"client_session_key already used", "invalid client_session_key",
            "missing client_session_key"} <= {e["reason"] for e in rejects}


def test_key_expiry_and_session_limit(tmp_path):
    server = Server(tmp_path, "--key-ttl", "0.3", "--session-max-seconds", "0.8",
                    "--no-greeting")
    try:
        async def go():
            url = server.ready["layercode_authorize_url"]
            _, auth = await post_json(url, {"agent_id": "echo"}, api_headers())
            await asyncio.sleep(0.5)
            async with aiohttp.ClientSession() as http:
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await http.ws_connect(server.ready["ws"] + "?client_session_key="
                                          + auth["client_session_key"])
                assert info.value.status == 401
            client = await Client.open(server)
            t0 = asyncio.get_running_loop().time()
            assert await client.recv(3) is None
            assert client.ws.close_code == 1000
            assert 0.6 < asyncio.get_running_loop().time() - t0 < 2.0
            await client.close()
        run(go())
        assert any(e["kind"] == "ws_reject" and e["reason"] == "client_session_key expired"
                   for e in server.events())
        close = server.wait_event(lambda e: e["kind"] == "ws_close")
        assert close["code"] == 1000 and close["closed_by"] == "server"
    finally:
        server.stop()


# ---- session behaviour ---------------------------------------------------------------

def check_assistant_turn(msgs: list[dict], chunk_bytes: int) -> tuple[str, bytes]:
    """Validate turn.start(assistant) ... response.end; return (turn_id, audio)."""
    start = msgs.index(next(m for m in msgs if m["type"] == "turn.start"
                            and m["role"] == "assistant"))
    turn = msgs[start:]
    tid = turn[0]["turn_id"]
    assert turn[-1] == {"type": "response.end", "turn_id": tid}
    assert turn[1]["type"] == "response.text" and turn[1]["turn_id"] == tid
    chunks = audio_of(turn)
    assert chunks and all(len(c) % 2 == 0 for c in chunks)
    assert all(len(c) == chunk_bytes for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= chunk_bytes
    deltas = [m["delta_id"] for m in turn if m["type"] == "response.audio"]
    assert len(set(deltas)) == len(deltas)
    assert all(m["turn_id"] == tid for m in turn[1:])
    return tid, b"".join(chunks)


def test_greeting_sequence(srv):
    async def go():
        client = await Client.open(srv)
        msgs = await client.until(of_type("response.end"))
        assert msgs[0]["type"] == "turn.start" and msgs[0]["role"] == "assistant"
        assert msgs[1]["content"] == "Hello! Say something and I will repeat it."
        tid, audio = check_assistant_turn(msgs, 3200)
        assert len(audio) / 32000 > 1.0                 # spoken, at 16 kHz
        last = [m for m in msgs if m["type"] == "response.audio"][-1]["delta_id"]
        await client.send(type="trigger.response.audio.replay_finished",
                          reason="completed", turn_id=tid, last_delta_id_played=last)
        await client.send(type="client.response.data", data={"x": 1})
        await client.until(of_type("response.data"))
        await client.close()
    run(go())
    errors = [e for e in srv.events() if e["kind"] == "error"
              and "never sent" in e.get("error", "")]
    assert not errors


def test_tone_agent_frequency_and_continuity(srv):
    async def go():
        client = await Client.open(srv, agent_id="tone")
        msgs = await client.until(of_type("response.end"))
        await client.close()
        return msgs
    msgs = run(go())
    _, audio = check_assistant_turn(msgs, 3200)
    chunks = audio_of(msgs)
    s = samples(audio)
    assert len(s) == 32000                              # 2.0 s at 16 kHz
    hz = zero_crossings(s) / 2 / 2.0
    assert abs(hz - 440) <= 2, hz
    assert 16000 <= max(s) <= 16500 and -16500 <= min(s) <= -16000
    inner = max(abs(s[i] - s[i - 1]) for i in range(1, len(s)))
    bounds, pos = [], 0
    for c in chunks[:-1]:
        pos += len(c) // 2
        bounds.append(abs(s[pos] - s[pos - 1]))
    assert max(bounds) <= inner                         # no clicks at chunk joins
    assert inner < 0.18 * 16384                         # 2*pi*440/16000 * amplitude


def test_echo_push_to_talk(srv):
    sent = tone8k(0.7, hz=250) + tone8k(0.3, hz=700, amp=0.1)

    async def go():
        client = await Client.open(srv, metadata={"turn_mode": "push_to_talk",
                                                  "greeting": False})
        await client.send_audio(tone8k(0.2))            # outside a turn: dropped
        await client.send(type="trigger.turn.start", role="user")
        start = await client.recv()
        assert start["type"] == "turn.start" and start["role"] == "user"
        await client.send_audio(sent)
        await client.send(type="trigger.turn.end", role="user")
        msgs = await client.until(of_type("response.end"))
        await client.close()
        return start, msgs
    start, msgs = run(go())
    uid = start["turn_id"]
    assert [m["type"] for m in msgs[:3]] == ["user.transcript.interim_delta",
                                             "user.transcript.delta", "user.transcript"]
    for m in msgs[:3]:
        assert m["turn_id"] == uid and m["content"] == "[1.0 s of audio]"
    assert msgs[0]["delta_counter"] == 0 and msgs[1]["delta_counter"] == 0
    tid, audio = check_assistant_turn(msgs, 3200)
    assert tid != uid
    assert msgs[4]["content"] == "You said 1.0 seconds of audio"
    assert len(audio) == 2 * len(sent)
    assert samples(audio)[0::2] == samples(sent)


def test_say_agent(srv):
    async def go():
        client = await Client.open(srv, agent_id="say", metadata={
            "turn_mode": "push_to_talk", "say_text": "Testing one two three.",
            "greeting": False})
        await client.send(type="trigger.turn.start", role="user")
        await client.send_audio(tone8k(0.3))
        await client.send(type="trigger.turn.end", role="user")
        msgs = await client.until(of_type("response.end"))
        await client.close()
        return msgs
    msgs = run(go())
    _, audio = check_assistant_turn(msgs, 3200)
    assert [m for m in msgs if m["type"] == "response.text"][0]["content"] == \
        "Testing one two three."
    assert len(audio) > 16000


def test_automatic_vad_turn(srv):
    burst = tone8k(0.5)

    async def go():
        client = await Client.open(srv, metadata={"greeting": False})
        await client.send_audio(tone8k(0.5, amp=0.003))   # below -40 dBFS
        assert await client.quiet(0.3) == []
        await client.send_audio(burst + silence8k(0.8))
        msgs = await client.until(of_type("response.end"))
        await client.close()
        return msgs
    msgs = run(go())
    assert msgs[0]["type"] == "turn.start" and msgs[0]["role"] == "user"
    uid = msgs[0]["turn_id"]
    assert msgs[3] == {"type": "user.transcript", "content": "[1.1 s of audio]",
                       "turn_id": uid}
    _, audio = check_assistant_turn(msgs, 3200)
    # The turn runs from speech onset through the 600 ms of silence that ended it.
    expected = burst + silence8k(0.6)
    assert samples(audio)[0::2] == samples(expected)


def test_automatic_turn_ends_when_audio_stops(srv):
    async def go():
        client = await Client.open(srv, metadata={"greeting": False})
        await client.send(type="vad_events", event="vad_start")
        await client.send_audio(tone8k(0.4))             # then nothing (gated client)
        await client.send(type="vad_events", event="vad_end")
        msgs = await client.until(of_type("user.transcript"), timeout=3)
        assert msgs[0]["type"] == "turn.start"
        assert msgs[-1]["content"] == "[0.4 s of audio]"
        await client.until(of_type("response.end"))
        # Without a vad_end the pause may be a stall: the turn ends after a longer one.
        await client.send_audio(tone8k(0.3))
        msgs = await client.until(of_type("user.transcript"), timeout=10)
        assert msgs[-1]["content"] == "[0.3 s of audio]"
        await client.close()
    run(go())


def test_text_and_data_round_trips(srv):
    async def go():
        client = await Client.open(srv, metadata={"greeting": False})
        await client.send(type="client.response.text", content="   ")   # ignored
        await client.send(type="client.response.data",
                          data={"button": "ok", "n": [1, 2]})
        msg = await client.recv()
        assert msg["type"] == "response.data"
        assert msg["content"] == {"echo": {"button": "ok", "n": [1, 2]}}
        assert msg["turn_id"]
        await client.send(type="client.response.text", content="hello there")
        msgs = await client.until(of_type("response.end"))
        assert msgs[0]["type"] == "user.transcript"
        assert msgs[0]["content"] == "hello there"
        check_assistant_turn(msgs, 3200)
        assert [m["content"] for m in msgs if m["type"] == "response.text"] == \
            ["You said: hello there"]
        await client.close()

        client = await Client.open(srv, agent_id="say", metadata={"greeting": False})
        await client.send(type="client.response.text", content="Typed words.")
        msgs = await client.until(of_type("response.end"))
        assert [m["content"] for m in msgs if m["type"] == "response.text"] == \
            ["Typed words."]
        await client.close()
    run(go())


def test_bad_client_input_is_logged_and_survived(srv):
    async def go():
        client = await Client.open(srv, ready=False, metadata={"greeting": False})
        await client.send(type="client.ready")
        await client.ws.send_bytes(b"\x00\x01")
        await client.ws.send_str("{not json")
        await client.ws.send_str("[1,2]")
        await client.send(content="no type")
        await client.send(type="client.mystery")
        await client.send(type="client.audio", content="@@@@")
        await client.send(type="client.audio", content=base64.b64encode(b"abc").decode())
        await client.send(type="trigger.turn.end", role="user")
        await client.send(type="vad_events", event="vad_maybe")
        await client.send(type="client.ready")
        await client.ws.send_str('{"type": "client.response.data", "data": NaN}')
        await client.ws.send_str("[" * 100000)
        await client.send(type="trigger.response.audio.replay_finished",
                          reason="completed", turn_id="t", last_delta_id_played=[1])
        await client.send(type="client.response.data", data=[1])
        msg = await client.recv()
        assert msg == {"type": "response.data", "content": {"echo": [1]},
                       "turn_id": msg["turn_id"]}
        await client.close()
        return client.auth["client_session_key"]
    run(go())
    close = srv.wait_event(lambda e: e["kind"] == "ws_close" and e["errors"] >= 13)
    errors = [e for e in srv.events(close["session"]) if e["kind"] == "error"]
    assert len(errors) == 13, errors
    assert not any(e.get("internal") for e in errors)
    assert close["code"] == 1000 and close["audio_frames_in"] == 0


def test_wrongly_typed_fields_never_break_a_session(srv):
    fields = ("content", "role", "event", "data", "turn_id", "last_delta_id_played",
              "reason")
    values = (None, 0, 1.5, True, "", "x", [], [1], {}, {"a": None}, "A" * 3)
    types = ("client.ready", "client.audio", "vad_events", "trigger.turn.start",
             "trigger.turn.end", "trigger.response.audio.replay_finished",
             "client.response.text", "client.response.data")

    async def go():
        client = await Client.open(srv, metadata={"greeting": False, "agent": "tone"},
                                   ready=False)
        for mtype in types:
            for name in fields:
                for value in values:
                    await client.send(**{"type": mtype, name: value})
            await client.send(type=mtype)
        await client.send(type="client.response.data", data="still alive")
        msgs = await client.until(lambda m: m["type"] == "response.data"
                                  and m["content"] == {"echo": "still alive"}, 20)
        await client.close()
        return msgs
    run(go())
    close = srv.wait_event(lambda e: e["kind"] == "ws_close"
                           and e["messages_in"] > 500)
    assert close["code"] == 1000 and close["closed_by"] == "client"
    assert not any(e.get("internal") for e in srv.events(close["session"]))


def test_log_file(srv):
    frames = [tone8k(0.02)[: 2 * n] for n in (160, 160, 80, 160)]

    async def go():
        client = await Client.open(srv, metadata={"turn_mode": "push_to_talk"})
        await client.until(of_type("response.end"))
        await client.send(type="trigger.turn.start", role="user")
        for f in frames:
            await client.send(type="client.audio", content=base64.b64encode(f).decode())
        await client.send(type="trigger.turn.end", role="user")
        await client.until(of_type("response.end"))
        await client.close()
        return client.auth["conversation_id"]
    conversation = run(go())
    open_ev = srv.wait_event(lambda e: e["kind"] == "ws_open"
                             and e["conversation_id"] == conversation)
    sid = open_ev["session"]
    close = srv.wait_event(lambda e: e["kind"] == "ws_close" and e["session"] == sid)
    events = srv.events(sid)
    for e in events:
        assert isinstance(e["t"], float) and e["session"] == sid
    assert events[0]["kind"] == "authorize" and events[0]["status"] == 200
    recv = [e["msg"] for e in events if e["kind"] == "recv"]
    assert recv[0]["type"] == "client.ready"
    audio_in = [m for m in recv if m["type"] == "client.audio"]
    assert [m["content_bytes"] for m in audio_in] == [len(f) for f in frames]
    assert all("content" not in m for m in audio_in)
    assert close["audio_frames_in"] == 4
    assert close["audio_bytes_in"] == sum(len(f) for f in frames)
    sent_audio = [e["msg"] for e in events if e["kind"] == "send"
                  and e["msg"]["type"] == "response.audio"]
    assert sent_audio and all("content" not in m and m["content_bytes"] > 0
                              for m in sent_audio)
    assert close["audio_chunks_out"] == len(sent_audio)
    assert not [e for e in events if e["kind"] == "error"]


# ---- barge-in ------------------------------------------------------------------------

async def _tone_reply_then(client: Client, chunks_first: int) -> tuple[str, list]:
    """Ask the tone agent to play (typed message), wait for a few chunks."""
    await client.send(type="client.response.text", content="play")
    msgs = await client.until(lambda m: m["type"] == "response.audio"
                              and m["delta_id"].endswith(f"-d{chunks_first}"))
    tid = [m for m in msgs if m["type"] == "turn.start"][0]["turn_id"]
    return tid, msgs


def test_barge_in_automatic(paced):
    async def go():
        client = await Client.open(paced, agent_id="tone")
        tid, _ = await _tone_reply_then(client, 3)
        await client.send_audio(tone8k(0.1))            # user speaks
        msgs = await client.until(lambda m: m["type"] == "turn.start"
                                  and m["role"] == "user", timeout=2)
        after = await client.quiet(0.5)
        await client.close()
        return tid, msgs, after
    tid, msgs, after = run(go())
    assert not any(m.get("turn_id") == tid for m in after)
    assert not any(m["type"] == "response.end" and m["turn_id"] == tid for m in msgs)
    assert len(audio_of(msgs, tid)) <= 3   # only chunks already in flight


def test_barge_in_push_to_talk(paced):
    async def go():
        client = await Client.open(paced, agent_id="tone",
                                   metadata={"turn_mode": "push_to_talk"})
        tid, _ = await _tone_reply_then(client, 2)
        await client.send(type="trigger.turn.start", role="user")
        msgs = await client.until(lambda m: m["type"] == "turn.start", timeout=2)
        after = await client.quiet(0.4)
        await client.close()
        return tid, msgs, after
    tid, msgs, after = run(go())
    assert msgs[-1]["role"] == "user"
    assert not any(m.get("turn_id") == tid for m in after)


def test_no_interrupt_keeps_playing(paced):
    async def go():
        client = await Client.open(paced, agent_id="tone",
                                   metadata={"can_interrupt": False})
        tid, _ = await _tone_reply_then(client, 2)
        await client.send_audio(tone8k(0.1))
        msgs = await client.until(lambda m: m["type"] == "response.end"
                                  and m["turn_id"] == tid, timeout=4)
        await client.close()
        return tid, msgs
    tid, msgs = run(go())
    # The user is not heard while the assistant speaks (doc/protocol.md section 5).
    assert not any(m["type"] == "turn.start" and m["role"] == "user" for m in msgs)
    assert len(audio_of(msgs, tid)) + 2 == 40           # 2 s in 50 ms chunks


def test_late_audio_chunks(tmp_path):
    server = Server(tmp_path, "--audio-speed", "1", "--no-greeting",
                    "--late-audio-chunks", "2", "--agent", "tone", log=False)
    try:
        async def go():
            client = await Client.open(server, metadata={"turn_mode": "push_to_talk"})
            tid, _ = await _tone_reply_then(client, 2)
            await client.send(type="trigger.turn.start", role="user")
            msgs = await client.until(of_type("turn.start"), timeout=2)
            assert msgs[-1]["role"] == "user"
            after = await client.quiet(0.5)
            await client.close()
            return tid, after
        tid, after = run(go())
        # Exactly N chunks of the interrupted turn arrive after turn.start(user).
        assert len(audio_of(after, tid)) == 2
        assert not any(m["type"] == "response.end" for m in after)
    finally:
        server.stop()


# ---- process behaviour -------------------------------------------------------------

def test_sigterm_closes_sessions(tmp_path):
    server = Server(tmp_path, "--no-greeting")

    async def go():
        client = await Client.open(server)
        await client.send(type="client.response.data", data={})
        await client.recv()
        server.proc.terminate()
        assert await client.recv(10) is None
        code = client.ws.close_code
        await client.close()
        return code
    assert run(go()) == 1001
    assert server.stop() == 0


def test_speech_repeat_plays_each_phrase_n_times(tmp_path):
    """--speech-repeat 3: the greeting's speech, three times in a row (long agent speech
    for tests/audio/test_room_echo.py); out-of-range values are refused at startup."""
    import speech
    if not speech.Speech().available:
        pytest.skip("espeak-ng needed")
    server = Server(tmp_path, "--audio-speed", "0", "--speech-repeat", "3",
                    "--greeting", "Once more.")
    try:
        audio = b"".join(audio_of(first_response(server)))
    finally:
        server.stop()
    third = audio[:len(audio) // 3]
    assert audio == third * 3
    # the phrase itself (sox dithers, so not byte for byte)
    once = run(speech.Speech().synthesize("Once more."))
    assert once and abs(len(third) - len(once)) <= 8
    for bad in ("0", "21", "two"):
        proc = subprocess.run([sys.executable, str(DEVSERVER), "--speech-repeat", bad],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and "--speech-repeat" in proc.stderr, (bad, proc.stderr)


def test_speech_falls_back_to_tone_without_espeak(tmp_path):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    server = Server(tmp_path, "--audio-speed", "0", "--log-audio-content", env=env)
    try:
        msgs = first_response(server)
        audio = b"".join(audio_of(msgs))
        hz = zero_crossings(samples(audio)) / 2 / 2.0
        assert abs(hz - 440) <= 2
        assert "espeak-ng not found" in server.stderr()
        logged = [e["msg"] for e in server.events() if e["kind"] == "send"
                  and e["msg"]["type"] == "response.audio"]
        assert [m["content"] for m in logged] == \
            [m["content"] for m in msgs if m["type"] == "response.audio"]
        assert all(m["content_bytes"] == len(base64.b64decode(m["content"]))
                   for m in logged)
    finally:
        server.stop()


def test_port_in_use_reports_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(RuntimeError, match="cannot listen"):
            Server(tmp_path, "--port", str(port), log=False)


# ---- TLS -----------------------------------------------------------------------------

def _handshake(port: int, ca: str, host: str = "localhost") -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            return tls.version()


def _digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_tls_profiles(tmp_path):
    cert_dir = str(tmp_path / "certs")
    common = ("--tls", "--cert-dir", cert_dir, "--no-greeting", "--audio-speed", "0")

    server = Server(tmp_path / "good", *common, "--san", "devbox.test")
    try:
        ca = server.ready["ca_file"]
        assert ca == os.path.join(cert_dir, "ca.pem")
        assert server.ready["ws"].startswith("wss://")
        assert _handshake(server.ready["port"], ca, "localhost")
        assert _handshake(server.ready["port"], ca, "127.0.0.1")
        assert _handshake(server.ready["port"], ca, "devbox.test")
        ctx = ssl.create_default_context(cafile=ca)

        async def go():
            client = await Client.open(server, ssl_ctx=ctx)
            await client.send(type="client.response.data", data={"tls": True})
            assert (await client.recv())["content"] == {"echo": {"tls": True}}
            await client.close()
        run(go())
    finally:
        server.stop()
    ca_digest = _digest(ca)
    server_digest = _digest(os.path.join(cert_dir, "server.pem"))

    server = Server(tmp_path / "again", *common, "--san", "devbox.test")   # reuse
    server.stop()
    assert _digest(ca) == ca_digest
    assert _digest(os.path.join(cert_dir, "server.pem")) == server_digest

    expect = {
        "expired": ssl.SSLCertVerificationError,
        "self-signed": ssl.SSLCertVerificationError,
        "wrong-host": ssl.SSLCertVerificationError,
    }
    codes = {"expired": 10, "self-signed": 18, "wrong-host": 62}
    for profile, exc_type in expect.items():
        server = Server(tmp_path / profile, *common, "--cert-profile", profile, log=False)
        try:
            assert server.ready["ca_file"] == ca
            with pytest.raises(exc_type) as info:
                _handshake(server.ready["port"], ca)
            assert info.value.verify_code == codes[profile], info.value
            if profile == "wrong-host":
                loose = ssl.create_default_context(cafile=ca)
                loose.check_hostname = False
                with socket.create_connection(("127.0.0.1", server.ready["port"])) as r:
                    with loose.wrap_socket(r) as tls:      # chain itself is valid
                        assert tls.version()
        finally:
            server.stop()
        assert _digest(ca) == ca_digest
