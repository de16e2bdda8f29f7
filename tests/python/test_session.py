# SPDX-License-Identifier: Apache-2.0
"""Whole sessions through the Python bindings: the devserver's echo and tone agents, external
audio pumped at real-time pace."""

from __future__ import annotations

import re

import pytest

import layercode
from layercode import Status

from .support import AudioPump, Recorder, tone_burst

GREETING = "Hello! Say something and I will repeat it."
SAID = re.compile(r"You said (\d+(?:\.\d+)?) seconds of audio")


def recorded_client(make_client, server=None, **options):
    rec = Recorder()
    client = make_client(server, **options)
    for kind in layercode.EVENT_TYPES:
        client.on(kind, lambda *args, kind=kind: rec.add(kind, *args))
    return client, rec


def is_message(mtype, pred=lambda m: True):
    return lambda kind, args: kind == "message" and args[0].get("type") == mtype and pred(args[0])


def test_full_session_greeting_echo_and_stats(make_client, devserver):
    server = devserver()
    client, rec = recorded_client(make_client, server)
    assert client.status == Status.DISCONNECTED
    client.connect().wait_connected(10)
    assert client.status == Status.CONNECTED

    # The greeting plays, then the user speaks 1.5 s and the echo agent answers.
    pump = AudioPump(client)
    pump.start()
    rec.wait(is_message("response.end"), timeout=15)  # the greeting's end
    pump.say(tone_burst(1.5))
    t_said, _, (said,) = rec.wait(
        is_message("response.text", lambda m: SAID.search(m["content"])), timeout=15)
    rec.wait(is_message("response.end"), after=t_said)  # the echo has been sent
    stats = client.stats()
    client.disconnect()
    assert client.wait_disconnected(10)
    pump.stop()
    assert not pump.errors

    statuses = [args[0] for args in rec.of("status")]
    assert statuses[:2] == [Status.CONNECTING, Status.CONNECTED]
    assert statuses[-1] == Status.DISCONNECTED
    (conversation_id, config), = rec.of("connected")
    assert conversation_id.startswith("conv_")
    assert config["transcription"]["trigger"] == "automatic"
    texts = [m["content"] for (m,) in rec.of("message") if m["type"] == "response.text"]
    assert texts[0] == GREETING
    assert 1.0 <= float(SAID.search(said["content"]).group(1)) <= 3.0
    assert any(m["type"] == "user.transcript" for (m,) in rec.of("message"))
    assert not any(m["type"] == "response.audio" for (m,) in rec.of("message"))
    assert rec.of("disconnected") == [(0, rec.of("disconnected")[0][1])]
    assert rec.of("error") == []
    # The agent's voice reached the speaker; the user's reached the server.
    assert pump.agent_audio_between(0, float("inf")) > 16000
    assert True in [a[0] for a in rec.of("agent_speaking")]
    assert True in [a[0] for a in rec.of("user_speaking")]
    assert max(a[0] for a in rec.of("user_amplitude")) > 0.05
    assert stats.audio_frames_sent > 50
    assert stats.audio_frames_received > 0
    assert stats.played_samples > 16000
    assert stats.messages_received >= stats.audio_frames_received
    assert stats.connect_time_us > 0
    frames_in = [r for r in server.records() if r.get("kind") == "ws_close"][0]["audio_frames_in"]
    assert frames_in >= stats.audio_frames_sent - 5


def test_push_to_talk_turn(make_client, devserver):
    server = devserver("--turn-mode", "push_to_talk", "--no-greeting")
    client, rec = recorded_client(make_client, server)
    client.connect().wait_connected(10)
    pump = AudioPump(client)
    pump.start()
    assert client.wait_connected(1) is client
    with client.talking():
        pump.say(tone_burst(1.0))
        while pump.speaking:
            pump.stopped.wait(0.05)
    _, _, (said,) = rec.wait(is_message("response.text", lambda m: SAID.search(m["content"])))
    pump.stop()
    assert 0.8 <= float(SAID.search(said["content"]).group(1)) <= 1.6
    transcript = [m for (m,) in rec.of("message") if m["type"] == "user.transcript"]
    assert transcript and "s of audio" in transcript[0]["content"]
    assert len(server.received("trigger.turn.start")) == 1
    assert len(server.received("trigger.turn.end")) == 1


def test_talking_ends_the_turn_when_the_body_raises(make_client, devserver):
    server = devserver("--turn-mode", "push_to_talk", "--no-greeting")
    client = make_client(server)
    client.connect().wait_connected(10)
    try:
        with client.talking():
            raise KeyError("boom")
    except KeyError:
        pass
    server.wait_for(lambda r: r.get("kind") == "recv"
                    and r["msg"].get("type") == "trigger.turn.end")


def test_text_round_trip(make_client):
    client, rec = recorded_client(make_client, amplitude_rate_hz=0)
    client.connect().wait_connected(10)
    client.send_text("héllo there")
    rec.wait(is_message("response.text", lambda m: m["content"] == "You said: héllo there"))
    transcripts = [m["content"] for (m,) in rec.of("message") if m["type"] == "user.transcript"]
    assert transcripts == ["héllo there"]
    client.send_text("   ")  # ignored by the library, not an error


def test_data_round_trip(make_client):
    client, rec = recorded_client(make_client, amplitude_rate_hz=0)
    client.connect().wait_connected(10)
    payload = {"n": 1, "list": [1, 2.5, None, True], "nested": {"ü": "✓"}}
    client.send_data(payload)
    _, _, (content, turn_id) = rec.wait(lambda kind, args: kind == "data")
    assert content == {"echo": payload}
    assert turn_id is None or isinstance(turn_id, str)
    # response.data is also an ordinary message.
    rec.wait(is_message("response.data", lambda m: m["content"] == {"echo": payload}))


def test_barge_in_silences_playback(make_client, devserver):
    server = devserver("--agent", "tone", "--audio-speed", "1.0", "--tone-seconds", "8")
    client, rec = recorded_client(make_client, server)
    client.connect().wait_connected(10)
    pump = AudioPump(client)
    pump.start()
    rec.wait(lambda kind, args: kind == "agent_speaking" and args[0] is True)
    pump.stopped.wait(1.5)  # the tone plays...
    t_speak = __import__("time").monotonic()
    pump.say(tone_burst(1.5))  # ... and the user talks over it
    t_turn, _, _ = rec.wait(is_message("turn.start", lambda m: m.get("role") == "user"))
    rec.wait(lambda kind, args: kind == "agent_speaking" and args[0] is False)
    pump.stopped.wait(1.0)
    pump.stop()
    assert not pump.errors

    before = pump.agent_audio_between(t_speak - 1.0, t_speak)
    assert before > 0.5 * 16000, "the tone was playing before the barge-in"
    # From shortly after the server saw the user speak until the burst ends: silence.
    after = [p for p in pump.played if t_turn + 0.2 <= p.t < t_turn + 1.0]
    assert after, "the pump kept running"
    assert sum(p.agent_samples for p in after) == 0
    assert max(p.rms for p in after) == 0
    assert client.stats().barge_in_latency_p50_us >= 0


def test_mute_and_unmute(make_client):
    client, rec = recorded_client(make_client, muted=True)
    assert client.muted
    client.unmute()
    assert not client.muted
    client.muted = True
    assert client.muted
    client.mute()  # already muted: no change
    # on_mute runs on the library's thread: unmuted, then muted again.
    t_off, _, _ = rec.wait(lambda kind, args: kind == "mute" and args[0] is False)
    rec.wait(lambda kind, args: kind == "mute" and args[0] is True, after=t_off)


def test_events_iterator_ends_after_disconnected(make_client):
    client = make_client(amplitude_rate_hz=0)
    client.connect()
    seen = []
    for event in client.events(timeout=20):
        seen.append(event)
        if event.type == "connected":
            client.send_text("ping")
        if event.type == "message" and event.message["type"] == "response.text" \
                and event.message["content"] == "You said: ping":
            client.disconnect()
    types = [e.type for e in seen]
    assert types[0] == "status" and seen[0].status == Status.CONNECTING
    assert "connected" in types
    assert types[-1] == "disconnected"
    assert seen[-1].code == 0 and seen[-1].error is None
    connected = next(e for e in seen if e.type == "connected")
    assert connected.conversation_id.startswith("conv_") and isinstance(connected.config, dict)
    messages = [e for e in seen if e.type == "message"]
    assert all(e.message_type == e.message["type"] and e.raw for e in messages)
    # Nothing further: a new iterator with a timeout ends empty.
    assert list(client.events(timeout=0.2)) == []


def test_events_iterator_ends_when_closed_from_another_thread(make_client):
    import threading

    client = make_client(amplitude_rate_hz=0)
    closer = threading.Timer(0.3, client.close)
    closer.start()
    assert list(client.events()) == []
    closer.join()
    assert client.closed


def test_resume_conversation(make_client, devserver):
    server = devserver("--no-greeting")
    first = make_client(server, amplitude_rate_hz=0)
    first.connect().wait_connected(10)
    conversation = next(e for e in first.events(timeout=5) if e.type == "connected")
    first.close()
    second = make_client(server, amplitude_rate_hz=0,
                         conversation_id=conversation.conversation_id,
                         headers={"X-Test": "1"}, metadata={"greeting": False})
    second.connect().wait_connected(10)
    again = next(e for e in second.events(timeout=5) if e.type == "connected")
    assert again.conversation_id == conversation.conversation_id


def test_session_that_ends_before_connect_returns(make_client, closed_port, monkeypatch):
    """Regression: connect() marked the session open after lc_client_connect returned, so a
    session whose on_disconnected ran first left wait_disconnected() waiting forever."""
    import threading

    ended = threading.Event()
    client = make_client(authorize_url=f"http://127.0.0.1:{closed_port}/authorize",
                         on_disconnected=lambda code, detail: ended.set())
    real_call = client._call

    def slow_return(fn, *args, **kwargs):
        rc = real_call(fn, *args, **kwargs)
        if fn is layercode._lib.lib.lc_client_connect:
            assert ended.wait(10)  # the whole session is over before connect() returns
        return rc

    monkeypatch.setattr(client, "_call", slow_return)
    client.connect()
    assert client.wait_disconnected(2)
    with pytest.raises(layercode.NetworkError):
        client.wait_connected(1)
