# SPDX-License-Identifier: Apache-2.0
"""The devserver behaves as Layercode documents (doc/protocol.md section 5; issue 9, items 12
and 18). Each test is named after the difference it fixed."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from devserver_harness import (Client, Server, api_headers, audio_of, first_response, of_type,
                               post_json, run, silence8k, tone8k)

# The fields of config.vad the JS SDK reads (layercode-js-sdk src/index.ts, VadConfigSchema).
SDK_VAD_FIELDS = {"enabled", "gate_audio", "buffer_frames", "model",
                  "positive_speech_threshold", "negative_speech_threshold",
                  "redemption_frames", "min_speech_frames", "pre_speech_pad_frames",
                  "frame_samples"}


@pytest.fixture(scope="module")
def fid(tmp_path_factory):
    """Instant audio, the tone agent greets with a short tone; a replay timeout no test
    reaches."""
    server = Server(tmp_path_factory.mktemp("fid"), "--audio-speed", "0",
                    "--agent", "tone", "--tone-seconds", "0.3", "--replay-timeout", "600")
    yield server
    server.stop()


async def greeting(client: Client) -> tuple[str, str]:
    """Waits for the whole greeting; its (turn_id, last delta_id)."""
    msgs = await client.until(of_type("response.end"))
    start = next(m for m in msgs if m["type"] == "turn.start")
    assert start["role"] == "assistant"
    last = [m for m in msgs if m["type"] == "response.audio"][-1]
    return last["turn_id"], last["delta_id"]


async def speak_then_mark(client: Client, audio: bytes, mark: str) -> list[dict]:
    """Sends `audio`, then a data message; everything received up to its echo. The server
    handles messages in order, so a user turn the audio started would come first."""
    await client.send_audio(audio)
    await client.send(type="client.response.data", data={"mark": mark})
    return await client.until(lambda m: m["type"] == "response.data"
                              and m["content"] == {"echo": {"mark": mark}})


def user_turn_starts(msgs: list[dict]) -> list[dict]:
    return [m for m in msgs if m["type"] == "turn.start" and m["role"] == "user"]


def closed(server: Server, conversation_id: str) -> dict:
    opened = server.wait_event(lambda e: e["kind"] == "ws_open"
                               and e["conversation_id"] == conversation_id)
    return server.wait_event(lambda e: e["kind"] == "ws_close"
                             and e["session"] == opened["session"])


SPEECH = tone8k(0.5) + silence8k(0.8)      # a user turn of 1.1 s for the energy VAD


# ---- can_interrupt false, replay_finished ------------------------------------------------

def test_no_interrupt_user_is_not_heard_until_replay_finished(fid):
    async def go():
        client = await Client.open(fid, metadata={"can_interrupt": False})
        tid, last = await greeting(client)
        # All audio sent, but the client has not played it: still the assistant's turn.
        msgs = await speak_then_mark(client, SPEECH, "during")
        assert user_turn_starts(msgs) == []
        await client.send(type="trigger.response.audio.replay_finished",
                          reason="completed", turn_id=tid, last_delta_id_played=last)
        msgs = await speak_then_mark(client, SPEECH, "after")
        assert len(user_turn_starts(msgs)) == 1
        transcript = [m for m in msgs if m["type"] == "user.transcript"]
        assert transcript[0]["content"] == "[1.1 s of audio]"
        await client.close()
        return client.auth["conversation_id"]
    close = closed(fid, run(go()))
    # All of the first SPEECH, and the second one's frames after its turn ended (the reply
    # holds the turn).
    assert close["audio_frames_unheard"] >= len(SPEECH) // 320
    assert close["replay_finished"] == 1 and close["replay_timeouts"] == 0
    assert close["interruptions"] == 0


def test_replay_finished_without_turn_id_ends_the_turn(fid):
    """The JS SDK sends replay_finished with only `reason`."""
    async def go():
        client = await Client.open(fid, metadata={"can_interrupt": False})
        await greeting(client)
        await client.send(type="trigger.response.audio.replay_finished", reason="completed")
        msgs = await speak_then_mark(client, SPEECH, "after")
        assert len(user_turn_starts(msgs)) == 1
        await client.close()
    run(go())


def test_client_that_never_sends_replay_finished_is_not_heard_until_the_timeout(tmp_path):
    server = Server(tmp_path, "--audio-speed", "0", "--agent", "tone",
                    "--tone-seconds", "0.2", "--replay-timeout", "0.3")
    try:
        async def go():
            client = await Client.open(server, metadata={"can_interrupt": False})
            tid, _ = await greeting(client)
            msgs = await speak_then_mark(client, SPEECH, "before the timeout")
            assert user_turn_starts(msgs) == []
            timeout = await asyncio.to_thread(
                server.wait_event, lambda e: e["kind"] == "replay_timeout", 10)
            assert timeout["turn_id"] == tid
            msgs = await speak_then_mark(client, SPEECH, "after the timeout")
            assert len(user_turn_starts(msgs)) == 1
            await client.close()
            return client.auth["conversation_id"]
        close = closed(server, run(go()))
        assert close["replay_timeouts"] == 1 and close["replay_finished"] == 0
        assert "no replay_finished" in server.stderr()
    finally:
        server.stop()


def test_interrupting_speech_after_the_audio_was_sent_is_a_barge_in(fid):
    """can_interrupt true: until replay_finished the agent is still speaking, so speech
    then is heard at once and counted as an interruption."""
    async def go():
        client = await Client.open(fid)
        await greeting(client)
        msgs = await speak_then_mark(client, SPEECH, "barge in")
        assert len(user_turn_starts(msgs)) == 1
        await client.close()
        return client.auth["conversation_id"]
    close = closed(fid, run(go()))
    assert close["interruptions"] == 1 and close["audio_frames_unheard"] == 0


# ---- client VAD events are hints ----------------------------------------------------------

def test_vad_events_are_hints_a_short_pause_stays_one_turn(fid):
    async def go():
        client = await Client.open(fid, metadata={"greeting": False})
        # vad_start with no speech behind it starts no turn.
        await client.send(type="vad_events", event="vad_start")
        msgs = await speak_then_mark(client, silence8k(0.2), "no speech")
        assert user_turn_starts(msgs) == []
        await client.send(type="vad_events", event="vad_end")
        # One sentence with a 300 ms pause, which the SDK's default VAD (redemption 4
        # frames of 32 ms) reports as two: vad_end, vad_start in the middle.
        await client.send(type="vad_events", event="vad_start")
        await client.send_audio(tone8k(0.4))
        await client.send(type="vad_events", event="vad_end")
        await client.send_audio(silence8k(0.3))
        await client.send(type="vad_events", event="vad_start")
        await client.send_audio(tone8k(0.4))
        await client.send(type="vad_events", event="vad_end")
        await client.send_audio(silence8k(0.8))
        msgs = await client.until(of_type("user.transcript"))
        assert len(user_turn_starts(msgs)) == 1
        assert msgs[-1]["content"] == "[1.7 s of audio]"   # 0.4 + 0.3 + 0.4 + 0.6
        await client.close()
    run(go())


def test_a_client_stall_without_vad_end_does_not_split_the_turn(fid):
    """A gap in the audio with no vad_end before it (the client stalled; with gating it
    sends nothing while it stalls) is not the end of the user's turn."""
    async def go():
        client = await Client.open(fid, metadata={"greeting": False})
        await client.send(type="vad_events", event="vad_start")
        await client.send_audio(tone8k(0.4))
        await asyncio.sleep(1.2)           # longer than a pause after vad_end may be
        await client.send_audio(tone8k(0.4))
        await client.send(type="vad_events", event="vad_end")
        msgs = await client.until(of_type("user.transcript"), timeout=10)
        assert len(user_turn_starts(msgs)) == 1
        assert msgs[-1]["content"] == "[0.8 s of audio]"
        await client.close()
    run(go())


# ---- turn ids ----------------------------------------------------------------------------

def test_turn_ids_are_uuids_never_reused_across_sockets(fid):
    async def go():
        client = await Client.open(fid)
        first, _ = await greeting(client)
        await client.close()
        conversation = client.auth["conversation_id"]
        url = fid.ready["layercode_authorize_url"]
        status, auth = await post_json(url, {"agent_id": "tone",
                                             "conversation_id": conversation}, api_headers())
        assert status == 200
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(fid.ready["ws"] + "?client_session_key="
                                       + auth["client_session_key"])
            resumed = Client(http, ws, auth)
            await resumed.send(type="client.ready")
            second, _ = await greeting(resumed)
            await ws.close()
        return first, second
    first, second = run(go())
    assert first != second
    assert str(uuid.UUID(first)) == first and str(uuid.UUID(second)) == second


def test_turn_start_without_turn_id_when_asked(fid):
    async def go():
        client = await Client.open(fid, metadata={"omit_turn_id": True,
                                                  "turn_mode": "push_to_talk"})
        msgs = await client.until(of_type("response.end"))
        assert msgs[0] == {"type": "turn.start", "role": "assistant"}
        assert all(m["turn_id"] for m in msgs[1:])        # the rest keep theirs
        await client.send(type="trigger.turn.start", role="user")
        assert await client.recv() == {"type": "turn.start", "role": "user"}
        await client.close()
    run(go())
    status, reply = run(post_json(fid.ready["layercode_authorize_url"],
                                  {"agent_id": "tone", "metadata": {"omit_turn_id": 1}},
                                  api_headers()))
    assert status == 400 and "omit_turn_id" in reply["error"]


def test_omit_turn_id_flag(tmp_path):
    server = Server(tmp_path, "--audio-speed", "0", "--agent", "tone", "--tone-seconds",
                    "0.1", "--omit-turn-id", log=False)
    try:
        msgs = first_response(server)
        assert msgs[0] == {"type": "turn.start", "role": "assistant"}
        assert audio_of(msgs)
    finally:
        server.stop()


# ---- authorize ---------------------------------------------------------------------------

def test_bad_api_key_is_400_with_an_error_body(fid):
    url = fid.ready["layercode_authorize_url"]
    for headers in ({}, api_headers("wrong"), {"Authorization": "Basic x"}):
        status, reply = run(post_json(url, {"agent_id": "tone"}, headers))
        assert (status, reply) == (400, {"error": "invalid api key"})


def test_reauthorizing_revokes_the_old_key(fid):
    async def go():
        url = fid.ready["layercode_authorize_url"]
        _, first = await post_json(url, {"agent_id": "tone"}, api_headers())
        _, second = await post_json(url, {"agent_id": "tone", "conversation_id":
                                          first["conversation_id"]}, api_headers())
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(fid.ready["ws"] + "?client_session_key="
                                      + first["client_session_key"])
            assert info.value.status == 401
            ws = await http.ws_connect(fid.ready["ws"] + "?client_session_key="
                                       + second["client_session_key"])
            await ws.close()
        # A socket already open stays open when its conversation is authorized again.
        client = await Client.open(fid, metadata={"greeting": False})
        status, _ = await post_json(url, {"agent_id": "tone", "conversation_id":
                                          client.auth["conversation_id"]}, api_headers())
        assert status == 200
        await client.send(type="client.response.data", data=1)
        assert (await client.recv())["type"] == "response.data"
        await client.close()
    run(go())
    assert any(e["kind"] == "ws_reject" and "revoked" in e["reason"] for e in fid.events())


def test_vad_config_carries_the_sdk_fields(fid):
    url = fid.ready["layercode_authorize_url"]
    status, body = run(post_json(url, {"agent_id": "tone"}, api_headers()))
    assert status == 200
    vad = body["config"]["vad"]
    assert set(vad) == SDK_VAD_FIELDS
    assert isinstance(vad["model"], str) and vad["frame_samples"] > 0
    assert 0 < vad["negative_speech_threshold"] < vad["positive_speech_threshold"] < 1
    # The JS SDK's own fallback values, as an agent may be configured.
    sdk = {"model": "v5", "positive_speech_threshold": 0.15,
           "negative_speech_threshold": 0.05, "redemption_frames": 4,
           "min_speech_frames": 2, "pre_speech_pad_frames": 0, "frame_samples": 512}
    status, body = run(post_json(url, {"agent_id": "tone", "metadata": {"vad": sdk}},
                                 api_headers()))
    assert status == 200 and body["config"]["vad"] == {**vad, **sdk}
