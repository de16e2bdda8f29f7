# SPDX-License-Identifier: Apache-2.0
"""The webhook bridge (tools/devserver/webhook*.py) against a scripted backend on
loopback (webhook_backend.py): signed requests, the events and their fields, the SSE reply
spoken sentence by sentence, data, and every way a webhook can fail (barge-in:
test_webhook_barge_in.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from devserver_harness import Client, Server, of_type, run, tone8k, silence8k
from webhook_backend import (SECRET, Backend, opened, played, sse, verify,
                             with_bridge)


def test_requests_are_signed_by_the_documented_rule(tmp_path):
    """Checked with the test's own HMAC (webhook_backend.verify), not the devserver's:
    valid; a wrong secret, a stale timestamp, a tampered body all fail."""
    async def go(server, backend):
        client = await Client.open(server)
        await client.until(of_type("response.end"))          # the greeting
        await client.send(type="client.response.text", content="what time is it")
        await client.until(of_type("response.end"))
        await client.close()
        return await backend.wait("message")

    req, = run(with_bridge(tmp_path, None, go))
    assert verify(req.signature, req.raw, SECRET)
    assert not verify(req.signature, req.raw, SECRET + "x")
    assert not verify(req.signature, req.raw, SECRET, now=time.time() + 301)
    tampered = req.raw.replace(b"what time", b"what tyme")
    assert tampered != req.raw and not verify(req.signature, tampered, SECRET)
    t = int(req.signature.split(",")[0].removeprefix("t="))
    assert abs(time.time() - t) < 60
    assert req.headers["Content-Type"] == "application/json"


def test_session_start_and_message_carry_the_documented_fields(tmp_path):
    async def go(server, backend):
        client = await Client.open(server, metadata={"user": "kiosk-7"})
        greeting = await client.until(of_type("response.end"))
        await played(client, greeting)
        await client.send(type="client.response.text", content="hello there")
        reply = await client.until(of_type("response.end"))
        await client.close()
        start, = await backend.wait("session.start")
        message, = await backend.wait("message")
        return client.auth, greeting, reply, start.body, message.body

    auth, greeting, reply, start, message = run(with_bridge(tmp_path, None, go))
    assert start["conversation_id"] == auth["conversation_id"] == message["conversation_id"]
    assert start["session_id"] == message["session_id"] and start["session_id"]
    assert start["metadata"] == {"user": "kiosk-7"}
    assert message["text"] == "hello there"
    assert start["turn_id"] != message["turn_id"]
    assert "interruption_context" not in message
    # The reply's turn is the webhook's turn: same id on the wire.
    assert reply[0] == {"type": "user.transcript", "content": "hello there",
                        "turn_id": reply[0]["turn_id"]}
    for turn, body in ((greeting, start), (reply[1:], message)):
        assert turn[0] == {"type": "turn.start", "role": "assistant",
                           "turn_id": body["turn_id"]}
        texts = [m["content"] for m in turn if m["type"] == "response.text"]
        assert texts == ["Hello from the backend."]
        assert any(m["type"] == "response.audio" for m in turn)
        assert all(m.get("turn_id") == body["turn_id"] for m in turn)


def test_each_sentence_is_spoken_before_the_reply_has_ended(tmp_path):
    """The backend holds its second sentence back until the client has heard the first:
    so the first was spoken from the stream, not after the whole reply."""
    heard_first = asyncio.Event()

    async def reply(req, resp):
        tid = req.body.get("turn_id")
        if req.body["type"] == "message":
            # One sentence in pieces, as tokens arrive; the sentence ends at ". ".
            for piece in ("The first", " sentence", " is here. ", "The sec"):
                await resp.write(sse({"type": "response.tts", "content": piece,
                                      "turn_id": tid}))
            await asyncio.wait_for(heard_first.wait(), 20)
            await resp.write(sse({"type": "response.tts", "content": "ond one.",
                                  "turn_id": tid}))
        await resp.write(sse({"type": "response.end", "turn_id": tid}))

    async def go(server, backend):
        client = await opened(server, backend)
        await client.send(type="client.response.text", content="go")
        first = await client.until(of_type("response.audio"))
        heard_first.set()
        rest = await client.until(of_type("response.end"))
        await client.close()
        return first + rest

    msgs = run(with_bridge(tmp_path, reply, go))
    texts = [m["content"] for m in msgs if m["type"] == "response.text"]
    assert texts == ["The first sentence is here.", "The second one."]


def test_response_data_is_relayed_and_a_data_event_gets_a_json_reply(tmp_path):
    async def reply(req, resp):
        tid = req.body.get("turn_id")
        if req.body["type"] == "message":
            await resp.write(sse({"type": "response.data", "content": {"card": 7},
                                  "turn_id": tid}))
            await resp.write(sse({"type": "response.tts", "content": "Here.",
                                  "turn_id": tid}))
        if req.body["type"] == "data":
            await resp.write(sse({"type": "response.data",
                                  "content": {"got": req.body["data"]}, "turn_id": tid}))
        await resp.write(sse({"type": "response.end", "turn_id": tid}))

    async def go(server, backend):
        client = await opened(server, backend)
        await client.send(type="client.response.text", content="show me")
        turn = await client.until(of_type("response.end"))
        await client.send(type="client.response.data", data={"button": "ok"})
        data = await client.until(of_type("response.data"))
        await client.close()
        req, = await backend.wait("data")
        return turn, data[-1], req.body

    turn, data, body = run(with_bridge(tmp_path, reply, go))
    assert [m["content"] for m in turn if m["type"] == "response.data"] == [{"card": 7}]
    assert body["data"] == {"button": "ok"} and body["turn_id"]
    assert data["content"] == {"got": {"button": "ok"}}


@pytest.mark.parametrize("case,body,expect", [
    ("not json", b"data: {not json}\n\n", "not JSON"),
    ("no type", b'data: {"content": "x"}\n\n', "'type'"),
    ("ends early", sse({"type": "response.tts", "content": "Half"}), "without response.end"),
    ("cut mid-event", b'data: {"type": "response.tts",', "middle of an event"),
    ("never ends", b": hello\n\n", "no event for 1 s"),
    ("keepalives only", b"", "no event for 1 s"),
    ("NaN", b'data: {"type": "response.data", "content": NaN}\n\n', "NaN is not valid JSON"),
])
def test_a_broken_reply_ends_the_turn_with_an_error_and_the_session_goes_on(
        tmp_path, case, body, expect):
    async def reply(req, resp):
        tid = req.body.get("turn_id")
        if req.body["type"] == "message" and req.body["text"] == "break":
            await resp.write(body)
            if case == "never ends":
                await asyncio.sleep(30)
            for _ in range(150 if case == "keepalives only" else 0):
                await resp.write(b": keepalive\n\n")      # bytes, but never an event
                await asyncio.sleep(0.2)
            return
        await resp.write(sse({"type": "response.tts", "content": "Fine.", "turn_id": tid}))
        await resp.write(sse({"type": "response.end", "turn_id": tid}))

    async def go(server, backend):
        client = await Client.open(server)
        await client.until(of_type("response.end"))
        await client.send(type="client.response.text", content="break")
        broken = await client.until(of_type("error"), timeout=15)
        await client.send(type="client.response.text", content="again")
        await client.until(lambda m: m["type"] == "response.text"
                           and m["content"] == "Fine.")
        await client.close()
        return broken, server.events()

    broken, events = run(with_bridge(tmp_path, reply, go, "--webhook-timeout", "1"))
    assert expect in broken[-1]["error"], broken[-1]
    assert broken[-1]["error"].startswith("webhook message: ")
    ends = [e for e in events if e["kind"] == "webhook_end" and e["outcome"] != "ok"]
    assert len(ends) == 1 and expect in ends[0]["error"]
    assert ends[0]["outcome"] == ("timeout" if "no event" in expect else "error")


def test_an_http_error_or_a_wrong_content_type_is_an_error_the_client_sees(tmp_path):
    async def go(server, backend):
        client = await Client.open(server)      # the greeting is silent
        await client.send(type="client.response.text", content="x")
        out = await client.until(of_type("error"))
        await client.close()
        return out

    async def run_case(status, ctype):
        from aiohttp import web

        async def handle(request):
            body = await request.json()
            if body["type"] == "session.start":
                resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await resp.prepare(request)
                await resp.write(sse({"type": "response.end", "turn_id": body["turn_id"]}))
                return resp
            return web.Response(status=status, text="backend says no",
                                content_type=ctype)
        app = web.Application()
        app.router.add_post("/agent", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/agent"
        server = await asyncio.to_thread(
            Server, tmp_path / f"{status}", "--webhook", url, "--webhook-secret", SECRET,
            "--asr", "none", "--audio-speed", "0")
        try:
            return await go(server, None)
        finally:
            await asyncio.to_thread(server.stop)
            await runner.cleanup()

    e503 = run(run_case(503, "text/plain"))[-1]["error"]
    assert "answered 503: backend says no" in e503
    html = run(run_case(200, "text/html"))[-1]["error"]
    assert "content type 'text/html'" in html


def test_an_unreachable_webhook_is_an_error_not_a_hang(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = Server(tmp_path, "--webhook", f"http://127.0.0.1:{port}/agent",
                    "--webhook-secret", SECRET, "--asr", "none", "--audio-speed", "0")
    try:
        async def go():
            client = await Client.open(server)
            err = await client.until(of_type("error"))
            await client.close()
            return err
        err = run(go())[-1]
        assert err["error"].startswith("webhook session.start: cannot reach")
    finally:
        server.stop()


def test_session_end_reports_the_transcript_and_durations(tmp_path):
    async def go(server, backend):
        client = await Client.open(server, metadata={"turn_mode": "push_to_talk"})
        await played(client, await client.until(of_type("response.end")))
        await client.send(type="trigger.turn.start", role="user")
        await client.send_audio(tone8k(0.6) + silence8k(0.2))
        await client.send(type="trigger.turn.end", role="user")
        transcript = await client.until(of_type("user.transcript"))
        await played(client, await client.until(of_type("response.end")))
        await client.close()
        end, = await backend.wait("session.end")
        msg, = await backend.wait("message")
        return transcript[-1], end.body, msg.body, server.events()

    transcript, end, msg, events = run(with_bridge(tmp_path, None, go))
    # No recogniser (--asr none): a label, said to be one, never passed off as words.
    assert transcript["content"] == msg["text"] == "[0.8 s of audio]"
    asr = [e for e in events if e["kind"] == "asr"]
    assert asr[0]["engine"] == "none"
    roles = [(t["role"], t["text"]) for t in end["transcript"]]
    assert roles == [("assistant", "Hello from the backend."),
                     ("user", "[0.8 s of audio]"),
                     ("assistant", "Hello from the backend.")]
    assert end["transcription_duration_seconds"] == pytest.approx(0.8, abs=0.01)
    assert end["tts_duration_seconds"] > 1.0
    assert end["duration"] > 0 and end["started_at"].endswith("Z")
    assert isinstance(end["latency"], (int, float))
    lat = [e for e in events if e["kind"] == "turn_latency"]
    assert len(lat) == 1 and lat[0]["trigger"] == "ptt" and lat[0]["ms"] > 0


def test_bad_webhook_configuration_is_a_clear_startup_error(tmp_path):
    for flags, expect in (
            (["--webhook", "ftp://x"], "http:// or https://"),
            (["--webhook", "http://127.0.0.1:9/agent"], "non-empty secret"),
            (["--webhook", "http://127.0.0.1:9/agent", "--webhook-secret", "s",
              "--webhook-events", "session.start"], "must include 'message'"),
            (["--agents-config", str(tmp_path / "missing.json")], "missing.json")):
        with pytest.raises(RuntimeError, match="devserver failed") as info:
            Server(tmp_path / "bad", *flags, env={"PATH": "/usr/bin:/bin"})
        assert expect in str(info.value)


def test_a_reply_in_crlf_with_comments_multiline_data_and_events_split_across_reads(tmp_path):
    """Chunked transfer (aiohttp streams without a length), each piece flushed and
    followed by a pause so it arrives as a read of its own."""
    async def reply(req, resp):
        tid = req.body.get("turn_id")
        if req.body["type"] == "message":
            ev = ('data: {"type": "response.tts",\r\ndata: "content": "Split across '
                  'reads. And CRLF.", "turn_id": "' + tid + '"}\r\n\r\n').encode()
            for piece in (b": comment\r\n", ev[:20], ev[20:41], ev[41:-1], ev[-1:]):
                await resp.write(piece)
                await asyncio.sleep(0.1)
        await resp.write(b'data: {"type": "response.end"}\r\n\r\n')

    async def go(server, backend):
        client = await opened(server, backend)
        await client.send(type="client.response.text", content="go")
        turn = await client.until(of_type("response.end"))
        await client.close()
        return turn, server.events()

    turn, events = run(with_bridge(tmp_path, reply, go))
    assert [m["content"] for m in turn if m["type"] == "response.text"] == \
        ["Split across reads.", "And CRLF."]
    assert [e["outcome"] for e in events if e["kind"] == "webhook_end"][:2] == ["ok", "ok"]


def test_a_reply_of_many_sentences_ends_at_real_time_pacing(tmp_path):
    """Regression (review): with more sentences than the bridge queues ahead (4) and audio
    paced, the end of the reply was dropped from the full queue and the turn never ended."""
    sentences = [f"This is sentence number {n}." for n in range(1, 8)]

    async def go(server, backend):
        client = await opened(server, backend)
        await client.send(type="client.response.text", content="talk")
        turn = await client.until(of_type("response.end"), timeout=60)
        await client.close()
        return turn

    turn = run(with_bridge(tmp_path, Backend.say(*sentences), go, "--audio-speed", "8"))
    assert [m["content"] for m in turn if m["type"] == "response.text"][-7:] == sentences


def test_data_requests_in_flight_are_bounded_per_session(tmp_path):
    release = asyncio.Event()

    async def reply(req, resp):
        tid = req.body.get("turn_id")
        if req.body["type"] == "data":
            await release.wait()
            await resp.write(sse({"type": "response.data", "content": req.body["data"],
                                  "turn_id": tid}))
        await resp.write(sse({"type": "response.end", "turn_id": tid}))

    async def go(server, backend):
        client = await opened(server, backend)
        for n in range(6):
            await client.send(type="client.response.data", data={"n": n})
        errors = [await client.until(of_type("error")) for _ in range(2)]
        await backend.wait("data", 4)
        release.set()
        data = [(await client.until(of_type("response.data")))[-1] for _ in range(4)]
        await client.close()
        return errors, data, len([r for r in backend.requests if r.body["type"] == "data"])

    errors, data, posted = run(with_bridge(tmp_path, reply, go))
    assert all("more than 4 data requests in flight" in e[-1]["error"] for e in errors)
    assert sorted(d["content"]["n"] for d in data) == [0, 1, 2, 3] and posted == 4
