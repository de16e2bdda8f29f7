# SPDX-License-Identifier: Apache-2.0
"""The example customer backend (examples/backend) as a real process over loopback: the
webhook's signature check against this test's own implementation of the documented rule,
its SSE replies, the conversation history (with barge-in), and /authorize against a real
devserver standing in for Layercode's authorize_session."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time

import aiohttp
import pytest

from .backend_support import (ROOT, SECRET, check_signature, parse_sse, post_event,
                              signature_header)

sys.path.insert(0, str(ROOT / "examples" / "backend"))
import agent as agent_mod  # noqa: E402  (examples/backend: unit checks of the bounds)
import history as history_mod  # noqa: E402


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def message(conversation: str, turn: str, text: str, **extra) -> dict:
    return {"type": "message", "session_id": "sess_1", "conversation_id": conversation,
            "turn_id": turn, "text": text, **extra}


def sse_reply(status: int, ctype: str, body: bytes) -> list[dict]:
    assert status == 200, body
    assert ctype.startswith("text/event-stream"), ctype
    return parse_sse(body)


def spoken(events: list[dict]) -> str:
    return "".join(e["content"] for e in events if e["type"] == "response.tts").strip()


# ---- the signature --------------------------------------------------------------------

def test_the_tests_signature_rule_is_self_consistent():
    body = b'{"type":"message"}'
    header = signature_header("k", body)
    assert check_signature("k", header, body)
    assert not check_signature("other", header, body)
    assert not check_signature("k", header, body + b" ")


def test_a_valid_signature_gets_an_sse_reply(backend):
    status, ctype, body = run(post_event(backend.agent_url,
                                         message("conv_sig", "t1", "hello")))
    events = sse_reply(status, ctype, body)
    assert events[-1] == {"type": "response.end", "turn_id": "t1"}


def test_a_timestamp_inside_the_tolerance_is_accepted(backend):
    event = message("conv_tol", "t1", "hello")
    raw = json.dumps(event).encode()
    for offset in (-200, 200):
        header = signature_header(SECRET, raw, int(time.time()) + offset)
        status, ctype, body = run(post_event(backend.agent_url, event, header=header))
        assert status == 200, (offset, body)


@pytest.mark.parametrize("case", ["wrong secret", "stale", "future", "tampered body",
                                  "missing header", "garbled header", "no timestamp",
                                  "no v1", "non-numeric timestamp", "truncated digest"])
def test_a_bad_signature_is_refused_with_401(backend, case):
    event = message("conv_bad", "t1", "hello")
    raw = json.dumps(event).encode()
    now = int(time.time())
    good = signature_header(SECRET, raw, now)
    header, send_body = {
        "wrong secret": (signature_header("not-the-secret", raw, now), None),
        "stale": (signature_header(SECRET, raw, now - 301 - 5), None),
        "future": (signature_header(SECRET, raw, now + 301 + 5), None),
        "tampered body": (good, raw.replace(b"hello", b"hellO")),
        "missing header": ("", None),
        "garbled header": ("garbage", None),
        "no timestamp": (good.split(",", 1)[1], None),
        "no v1": (good.split(",", 1)[0], None),
        "non-numeric timestamp": ("t=abc," + good.split(",", 1)[1], None),
        "truncated digest": (good[:-2], None),
    }[case]
    status, ctype, body = run(post_event(backend.agent_url, event, header=header,
                                         send_body=send_body))
    assert status == 401, (case, status, body)
    assert ctype.startswith("application/json")
    assert "signature" in json.loads(body)["error"]


def test_the_signature_is_checked_before_the_body_is_parsed(backend):
    # Not JSON, badly signed: 401 (not 400). Not JSON, well signed: 400.
    status, _, _ = run(post_event(backend.agent_url, {}, header="t=1,v1=00",
                                  send_body=b"{not json"))
    assert status == 401
    raw = b"{not json"
    status, _, body = run(post_event(backend.agent_url, {}, header=signature_header(SECRET, raw),
                                     send_body=raw))
    assert status == 400 and "JSON" in json.loads(body)["error"]


def test_without_a_webhook_secret_the_agent_says_so(start_backend):
    server = start_backend({})
    assert "LAYERCODE_WEBHOOK_SECRET is not set" in server.stderr()
    status, _, body = run(post_event(server.agent_url, message("c", "t", "hi")))
    assert status == 500 and "LAYERCODE_WEBHOOK_SECRET" in json.loads(body)["error"]


# ---- SSE replies and history ----------------------------------------------------------

def test_a_message_is_answered_sentence_by_sentence_then_response_end(backend):
    status, ctype, body = run(post_event(backend.agent_url, message(
        "conv_weather", "turn_w1", "what is the weather today")))
    events = sse_reply(status, ctype, body)
    assert [e["type"] for e in events] == ["response.tts"] * (len(events) - 1) + ["response.end"]
    tts = events[:-1]
    assert len(tts) >= 2, events          # one event per sentence, not the reply at once
    assert all(e["turn_id"] == "turn_w1" for e in events)
    for e in tts:                          # each a whole sentence, space-separated
        assert e["content"][-2:] in (". ", "! ", "? ", '" '), e
    assert "sunny" in spoken(events)
    log = backend.wait_for_log("end turn=turn_w1")
    assert 'message conversation=conv_weather turn=turn_w1 text="what is the weather today"' in log
    assert f'tts turn=turn_w1 "{tts[0]["content"].strip()}"' in log


def test_session_start_greets_over_sse(backend):
    status, ctype, body = run(post_event(backend.agent_url, {
        "type": "session.start", "session_id": "s", "conversation_id": "conv_greet",
        "turn_id": "welcome_1"}))
    events = sse_reply(status, ctype, body)
    assert events[-1] == {"type": "response.end", "turn_id": "welcome_1"}
    assert "Hello" in spoken(events)
    # The same conversation again (a reconnect): it is welcomed back.
    status, ctype, body = run(post_event(backend.agent_url, {
        "type": "session.start", "session_id": "s2", "conversation_id": "conv_greet",
        "turn_id": "welcome_2"}))
    assert "Welcome back" in spoken(sse_reply(status, ctype, body))


def test_lights_send_response_data_before_the_speech(backend):
    events = sse_reply(*run(post_event(backend.agent_url, message(
        "conv_lights", "t1", "please turn off the lights"))))
    assert events[0] == {"type": "response.data", "turn_id": "t1",
                         "content": {"action": "lights", "state": "off"}}
    assert "turned the lights off" in spoken(events)


def test_a_second_message_sees_the_first(backend):
    url = backend.agent_url
    first = spoken(sse_reply(*run(post_event(url, message("conv_h", "t1",
                                                           "what is the weather today")))))
    assert "before" not in first
    second = spoken(sse_reply(*run(post_event(url, message("conv_h", "t2",
                                                            "is there rain in the forecast")))))
    assert "You asked me about the weather before" in second
    third = spoken(sse_reply(*run(post_event(url, message("conv_h", "t3", "what did I ask")))))
    assert '"is there rain in the forecast"' in third
    # Another conversation has its own history.
    other = spoken(sse_reply(*run(post_event(url, message("conv_other", "t1",
                                                           "is there rain in the forecast")))))
    assert "before" not in other


async def _abort_after_first_event(url: str, event: dict) -> bytes:
    """Sends event, reads until the first SSE event has arrived, then drops the connection
    (what Layercode does to the webhook request on a barge-in)."""
    raw = json.dumps(event).encode()
    headers = {"layercode-signature": signature_header(SECRET, raw),
               "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        resp = await http.post(url, data=raw, headers=headers)
        got = b""
        while b"\n\n" not in got:
            got += await resp.content.readany()
        resp.close()                    # closes the socket: the rest is never read
        return got


def test_interruption_context_marks_the_interrupted_turn(backend):
    url = backend.agent_url
    # A long reply of short sentences (the fallback repeats what it heard), dropped after
    # the first: about a hundred more sentences were still to come.
    long_text = " ".join(["Blah."] * 100)
    first = run(_abort_after_first_event(url, message("conv_int", "t1", long_text)))
    assert parse_sse(first)[0]["type"] == "response.tts"
    backend.wait_for_log("aborted turn=t1")
    context = {"previous_turn_interrupted": True, "words_heard": 2, "text_heard": "You said",
               "assistant_turn_id": "t1"}
    events = sse_reply(*run(post_event(url, message("conv_int", "t2", "hello again",
                                                    interruption_context=context))))
    assert spoken(events).startswith('Sorry, I will stop there. You heard me up to "You said".')
    assert "(interrupted turn t1 heard \"You said\")" in backend.stderr()
    # Only that turn: the next reply does not apologise again.
    events = sse_reply(*run(post_event(url, message("conv_int", "t3", "tell me a joke"))))
    assert not spoken(events).startswith("Sorry")


def test_data_event_gets_a_plain_json_reply(backend):
    status, ctype, body = run(post_event(backend.agent_url, {
        "type": "data", "session_id": "s", "conversation_id": "c", "turn_id": "t",
        "data": {"button": "pressed", "n": 3}}))
    assert status == 200 and ctype.startswith("application/json")
    assert json.loads(body) == {"received": {"button": "pressed", "n": 3}}


def test_session_update_and_end_are_acknowledged_and_logged(backend):
    status, _, _ = run(post_event(backend.agent_url, {
        "type": "session.update", "session_id": "s_end", "conversation_id": "c",
        "recording_status": "completed", "recording_url": "https://example.invalid/r.wav"}))
    assert status == 200
    status, _, _ = run(post_event(backend.agent_url, {
        "type": "session.end", "session_id": "s_end", "conversation_id": "c_end",
        "duration": 12000, "transcription_duration_seconds": 3.5, "tts_duration_seconds": 4.1,
        "latency": 640, "transcript": [
            {"role": "user", "text": "what is the weather today", "timestamp": 1},
            {"role": "assistant", "text": "It is sunny.", "timestamp": 2}]}))
    assert status == 200
    log = backend.wait_for_log("user: \"what is the weather today\"")
    assert "session.update session=s_end recording_status=completed" in log
    assert "session.end conversation=c_end session=s_end duration=12000 ms" in log
    assert "transcript=2 items" in log


def test_an_oversized_body_is_refused(backend):
    huge = message("c", "t", "x" * (600 * 1024))
    status, _, _ = run(post_event(backend.agent_url, huge))
    assert status == 413


def test_history_is_bounded():
    convs = history_mod.Conversations(max_conversations=3, max_messages=4)
    for c in range(5):
        for t in range(6):
            convs.add_user(f"c{c}", f"t{t}", "y" * (history_mod.MAX_TEXT * 2))
    assert len(convs) == 3
    kept = convs.history("c4")
    assert [m.turn_id for m in kept] == ["t2", "t3", "t4", "t5"]
    assert all(len(m.content) <= history_mod.MAX_TEXT + 1 for m in kept)


def test_sentences_are_cut_at_their_ends_and_bounded_without_one():
    async def cut(tokens):
        async def gen():
            for t in tokens:
                yield t
        return [s async for s in agent_mod.sentences(gen())]
    assert run(cut(["It is 3.5 ", "degrees. ", "Really?! ", 'He said "hi." ', "Done"])) == [
        "It is 3.5 degrees.", "Really?!", 'He said "hi."', "Done"]
    # A model that never ends a sentence is still streamed in bounded pieces.
    pieces = run(cut(["word "] * 1000))
    assert len(pieces) > 1 and all(len(p) <= agent_mod.MAX_SENTENCE for p in pieces)
    assert " ".join(pieces).split() == ["word"] * 1000


# ---- /authorize against the devserver's authorize_session ------------------------------

def _authorize(url: str, body: dict) -> tuple[int, dict]:
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=body) as resp:
                return resp.status, await resp.json(content_type=None)
    return run(go())


def _env(devserver, **extra) -> dict[str, str]:
    return {"LAYERCODE_API_KEY": devserver.ready["api_key"],
            "LAYERCODE_AUTHORIZE_URL": devserver.ready["layercode_authorize_url"], **extra}


def test_authorize_returns_a_working_client_session_key(devserver, start_backend):
    server = start_backend(_env(devserver))
    status, body = _authorize(server.authorize_url, {"agent_id": "echo"})
    assert status == 200, body
    assert body["client_session_key"] and body["conversation_id"].startswith("conv_")

    async def socket_opens(key: str) -> bool:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.ws_connect(f"{devserver.ws_url}?client_session_key={key}"):
                    return True
            except aiohttp.WSServerHandshakeError:
                return False
    # The key opens the devserver's session socket (a made-up one does not).
    assert run(socket_opens(body["client_session_key"]))
    assert not run(socket_opens("not-a-key"))
    # Resuming the conversation passes conversation_id on (the devserver knows it).
    status, again = _authorize(server.authorize_url, {
        "agent_id": "echo", "conversation_id": body["conversation_id"]})
    assert status == 200 and again["conversation_id"] == body["conversation_id"]


def test_authorize_uses_the_agent_id_from_the_environment(devserver, start_backend):
    server = start_backend(_env(devserver, LAYERCODE_AGENT_ID="echo"))
    status, body = _authorize(server.authorize_url, {})
    assert status == 200 and body["client_session_key"], body
    bare = start_backend(_env(devserver))
    status, body = _authorize(bare.authorize_url, {})
    assert status == 400 and "agent_id" in body["error"]


def test_authorize_relays_layercodes_error_for_a_wrong_api_key(devserver, start_backend):
    server = start_backend(_env(devserver, LAYERCODE_API_KEY="wrong-key"))
    status, body = _authorize(server.authorize_url, {"agent_id": "echo"})
    assert (status, body) == (400, {"error": "invalid api key"})


def test_authorize_without_an_api_key_says_so(start_backend):
    server = start_backend({"LAYERCODE_WEBHOOK_SECRET": SECRET})
    assert "LAYERCODE_API_KEY is not set" in server.stderr()
    status, body = _authorize(server.authorize_url, {"agent_id": "echo"})
    assert status == 500 and "LAYERCODE_API_KEY is not set" in body["error"]


def test_authorize_with_layercode_unreachable_is_502(start_backend):
    # A bound socket that does not listen: connections to it are refused, for sure.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1/agents/web/authorize_session"
        server = start_backend({"LAYERCODE_API_KEY": "k", "LAYERCODE_AUTHORIZE_URL": url})
        status, body = _authorize(server.authorize_url, {"agent_id": "echo"})
    assert status == 502 and "unreachable" in body["error"]


# ---- the process --------------------------------------------------------------------

def test_ready_line_and_sigterm_exit_0(start_backend):
    server = start_backend({})
    assert set(server.ready) == {"event", "url", "agent", "authorize"}
    assert server.ready["agent"] == server.ready["url"] + "/agent"
    assert server.ready["authorize"] == server.ready["url"] + "/authorize"
    assert server.stop() == 0


def test_serves_an_inherited_listening_socket(tmp_path):
    import subprocess
    from .backend_support import SERVER
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port = sock.getsockname()[1]
        proc = subprocess.Popen([sys.executable, str(SERVER), "--fd", str(sock.fileno())],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                pass_fds=[sock.fileno()],
                                env={"LAYERCODE_WEBHOOK_SECRET": SECRET, "PATH": "/usr/bin"})
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["url"] == f"http://127.0.0.1:{port}"
        events = sse_reply(*run(post_event(ready["agent"], message("c", "t", "hello"))))
        assert events[-1]["type"] == "response.end"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        proc.stdout.close()


# ---- the device ---------------------------------------------------------------------

def test_the_player_authorizes_through_the_backend(devserver, start_backend):
    """The real player with the backend's /authorize as its authorize URL: it gets its key
    through the backend (no API key on the device) and holds a session with the devserver."""
    player = ROOT / "build" / "bin" / "layercode-player"
    if not player.exists():
        pytest.skip("build artifacts missing (run `make`)")
    import subprocess
    server = start_backend(_env(devserver, LAYERCODE_AGENT_ID="echo"))
    proc = subprocess.run([str(player), "--authorize-url", server.authorize_url,
                           "--ws-url", devserver.ws_url, "--agent-id", "echo",
                           "--no-devices", "--text", "hello there", "--duration", "3"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "connected: conversation conv_" in proc.stdout, proc.stdout
    assert "authorize agent=echo conversation=None -> 200" in server.stderr()
    assert devserver.wait_for(lambda r: r.get("kind") == "recv"
                              and r.get("msg", {}).get("type") == "client.response.text")
