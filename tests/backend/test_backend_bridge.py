# SPDX-License-Identifier: Apache-2.0
"""The example backend behind the devserver's webhook bridge (`--webhook`), both real
processes over loopback, driven by a WebSocket client as a device: the greeting from
session.start, a typed question answered sentence by sentence, the device's data answered
as response.data, and a barge-in that aborts the webhook request, after which the next
message's interruption_context reaches the backend's history. Typed text and push-to-talk
(`--asr none`), so no speech recogniser is needed here."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from .backend_support import SECRET, DevServer


async def _until(ws, pred, timeout: float = 30.0) -> list[dict]:
    """Messages up to and including the first matching pred (timeout: a hang guard)."""
    out: list[dict] = []

    async def read():
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, f"socket ended: {msg.type}; got {out}"
            out.append(json.loads(msg.data))
            if pred(out[-1]):
                return out
    return await asyncio.wait_for(read(), timeout)


def _texts(messages: list[dict]) -> list[str]:
    return [m["content"] for m in messages if m["type"] == "response.text"]


async def _played(ws, turn: list[dict]) -> None:
    await ws.send_json({"type": "trigger.response.audio.replay_finished",
                        "reason": "completed", "turn_id": turn[-1]["turn_id"]})


def _end_of(turn_id=None):
    return lambda m: m["type"] == "response.end" and (turn_id is None
                                                     or m.get("turn_id") == turn_id)


def test_the_example_backend_behind_the_devserver_bridge(start_backend, tmp_path):
    backend = start_backend({"LAYERCODE_WEBHOOK_SECRET": SECRET})
    server = DevServer(tmp_path / "bridge", "--webhook", backend.agent_url,
                       "--webhook-secret", SECRET, "--asr", "none", "--audio-speed", "0",
                       "--turn-mode", "push_to_talk")
    try:
        asyncio.run(asyncio.wait_for(_session(server, backend), 120))
    finally:
        server.stop()


async def _session(server: DevServer, backend) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(server.ready["layercode_authorize_url"],
                             json={"agent_id": "my-agent"},
                             headers={"Authorization": f"Bearer {server.ready['api_key']}"}) as r:
            auth = await r.json()
            assert r.status == 200, auth
        ws = await http.ws_connect(f"{server.ws_url}?client_session_key="
                                   f"{auth['client_session_key']}")
        await ws.send_json({"type": "client.ready"})
        greeting = await _until(ws, _end_of())
        assert "I am the example backend for liblayercode." in _texts(greeting)
        assert any(m["type"] == "response.audio" for m in greeting)
        # Played (as a real client says once the audio ran out): until then, the user's
        # next words cut the greeting off, and the backend hears of it.
        await _played(ws, greeting)

        await ws.send_json({"type": "client.response.text",
                            "content": "what is the weather today"})
        reply = await _until(ws, _end_of())
        texts = _texts(reply)
        assert len(texts) >= 2 and "sunny" in texts[0], texts
        await _played(ws, reply)
        backend.wait_for_log(f'message conversation={auth["conversation_id"]} turn=')
        assert 'text="what is the weather today"' in backend.stderr()

        await ws.send_json({"type": "client.response.data", "data": {"button": "ok"}})
        data = await _until(ws, lambda m: m["type"] == "response.data")
        assert data[-1]["content"] == {"received": {"button": "ok"}}

        # A long reply (sixty short sentences, seconds of streaming), cut by the user.
        await ws.send_json({"type": "client.response.text",
                            "content": " ".join(["Blah."] * 60)})
        story = await _until(ws, lambda m: m["type"] == "response.audio")
        story_tid = next(m for m in story if m["type"] == "turn.start")["turn_id"]
        await asyncio.sleep(0.3)
        await ws.send_json({"type": "trigger.turn.start", "role": "user"})
        await asyncio.to_thread(backend.wait_for_log, f"aborted turn={story_tid}")
        await ws.send_json({"type": "client.audio", "content": ""})
        await ws.send_json({"type": "trigger.turn.end", "role": "user"})
        after = await _until(ws, lambda m: m["type"] == "response.end"
                             and m.get("turn_id") != story_tid)
        reply_tid = after[-1]["turn_id"]
        texts = _texts([m for m in after if m.get("turn_id") == reply_tid])
        assert texts and texts[0].startswith("Sorry"), texts
        assert f"(interrupted turn {story_tid} heard " in backend.stderr()
        await ws.close()
    # The session's end reaches the backend with its transcript.
    await asyncio.to_thread(backend.wait_for_log, "session.end conversation="
                            + auth["conversation_id"])
