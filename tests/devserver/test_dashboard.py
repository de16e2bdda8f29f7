# SPDX-License-Identifier: Apache-2.0
"""The devserver's dashboard (issue 15): the WAV, JSON and event endpoints, and the page
rendered by a real headless chromium during real sessions (echo, and the webhook bridge).
The store's own tests: test_dashboard_store.py."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import aiohttp
from aiohttp import web

from devserver_harness import ROOT, Client, of_type  # (puts tools/devserver on sys.path)
from dashboard_support import (HOSTILE, S, Browser, Dom, LiveSession, chromium_or_skip,
                               conversation, espeak8k, parse_wav, rec, send)

sys.path.insert(0, str(ROOT / "tests"))
from devserver_process import DevServer  # noqa: E402
from test_webhook_bridge import with_bridge  # noqa: E402
from webhook_backend import Backend  # noqa: E402

import dashboard  # noqa: E402
from dashboard_store import DashboardStore  # noqa: E402


def test_event_stream_client_state_is_bounded():
    client = dashboard.SseClient()
    for i in range(10_000):
        client.changed(f"s{i}")
    assert len(client.dirty) <= dashboard.MAX_DIRTY
    assert client.take() == {"sessions": [], "all": True}
    client.changed("one")
    assert client.take() == {"sessions": ["one"], "all": False}


def test_wav_and_json_endpoints_over_loopback():
    user = bytes(range(200)) * 40
    agent = bytes(reversed(range(256))) * 50

    async def main() -> None:
        store = DashboardStore()
        store.on_record(rec(1.0, S, "ws_open", agent="echo"))
        store.on_record(rec(1.1, S, "audio", side="user", rate=8000), user[:3000])
        store.on_record(rec(1.2, S, "audio", side="user", rate=8000), user[3000:])
        store.on_record(rec(1.3, S, "audio", side="agent", rate=16000), agent)
        app = web.Application()
        dashboard.add_routes(app, store)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}/dashboard"
        try:
            async with aiohttp.ClientSession() as http:
                for side, want, rate in (("user", user, 8000), ("agent", agent, 16000)):
                    async with http.get(f"{base}/api/sessions/{S}/audio/{side}.wav") as r:
                        assert r.status == 200 and r.content_type == "audio/wav"
                        assert parse_wav(await r.read()) == (1, 2, rate, want)
                for path, status in ((f"/api/sessions/{S}/audio/both.wav", 404),
                                     ("/api/sessions/nope/audio/user.wav", 404),
                                     ("/api/sessions/nope", 404),
                                     ("/static/..%2Fdashboard.py", 404),
                                     ("/static/dashboard.js", 200), ("/", 200)):
                    async with http.get(base + path) as r:
                        assert r.status == status, path
                async with http.get(f"{base}/api/sessions/{S}") as r:
                    assert (await r.json())["audio"]["user"]["seconds"] == 0.5
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_event_stream_notifies_when_a_session_starts(tmp_path):
    server = DevServer(tmp_path, "--no-greeting")

    async def main() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.ready["dashboard"] + "api/events") as events:
                assert events.content_type == "text/event-stream"
                hello = await asyncio.wait_for(events.content.readline(), 10)
                assert hello.startswith(b"retry:")
                session = LiveSession()
                await session.open(server.ready)
                try:
                    while True:         # until a notification names a session
                        line = await asyncio.wait_for(events.content.readline(), 10)
                        if line.startswith(b"data:"):
                            note = json.loads(line[5:])
                            if note["sessions"]:
                                break
                    listed = await (await http.get(server.ready["dashboard"]
                                                   + "api/sessions")).json()
                    assert note["sessions"] == [listed["sessions"][0]["id"]]
                finally:
                    await session.close()

    try:
        asyncio.run(main())
    finally:
        server.stop()


def test_chromium_renders_a_live_session(tmp_path):
    """Headless chromium shows the open session's page, which then updates live (Server-Sent
    Events, no reload) as the user speaks and the echo agent answers, and as it closes."""
    binary = chromium_or_skip()
    server = DevServer(tmp_path / "server", "--audio-speed", "1")
    screenshot = ROOT / "build" / "dashboard.png"
    speech = espeak8k("what is the weather today")
    (tmp_path / "profile").mkdir()
    browser = Browser(binary, tmp_path / "profile")

    async def main() -> None:
        session = LiveSession()
        await session.open(server.ready)
        await browser.start()
        try:
            await session.wait_for(lambda: session.of_type("response.end"))     # greeting
            listed = await _get_json(server.ready["dashboard"] + "api/sessions")
            sid = listed["sessions"][0]["id"]
            await browser.call("Page.navigate", url=server.ready["dashboard"] + "?session=" + sid)
            await browser.wait_until("document.querySelectorAll('#turns tr[data-turn]')"
                                     ".length === 1 && document.getElementById('live')"
                                     ".textContent === 'live'")
            await session.stream(speech, until=lambda: session.of_type("user.transcript"))
            await session.wait_for(lambda: len(session.of_type("response.end")) == 2)
            reply = session.of_type("response.text")[-1]["content"]
            await browser.wait_until(
                "[...document.querySelectorAll('#turns td.latency')].some(td => td.textContent)"
                f" && document.getElementById('turns').textContent.includes({json.dumps(reply)})")
            html = await browser.evaluate("document.documentElement.outerHTML")
            (tmp_path / "dashboard.html").write_text(html)
            check_page(Dom(html), sid, session)
            screenshot.parent.mkdir(exist_ok=True)
            await browser.screenshot(screenshot)
            assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            await session.close()
        await browser.wait_until("document.getElementById('d-state').textContent === 'ended'")
        # Both sides' audio, exactly as it crossed the socket.
        base = server.ready["dashboard"] + f"api/sessions/{sid}/audio/"
        assert parse_wav(await _get(base + "user.wav")) == (1, 2, 8000,
                                                            bytes(session.user_audio))
        assert parse_wav(await _get(base + "agent.wav")) == (1, 2, 16000,
                                                             session.agent_audio())

    async def guarded() -> None:
        try:
            await main()
        finally:
            await browser.close()

    try:
        asyncio.run(guarded())
    finally:
        server.stop()


def check_page(dom: Dom, sid: str, session: LiveSession) -> None:
    """The rendered page shows the session, its turns, transcript, agent text, latency
    and both audio players (what the devserver sent, from the client's side)."""
    listed = [r for r in dom.rows if r.get("data-session") == sid]
    assert listed and "open" in listed[0]["text"], [r["text"] for r in dom.rows]
    turns = [r for r in dom.rows if r.get("data-turn")]
    sent_turns = [m["turn_id"] for m in session.of_type("turn.start")]
    assert [r["data-turn"] for r in turns] == sent_turns
    assert [r["data-role"] for r in turns] == ["assistant", "user", "assistant"]
    transcript = session.of_type("user.transcript")[0]["content"]
    assert re.fullmatch(r"\[\d+\.\d s of audio\]", transcript)
    assert transcript in turns[1]["text"]
    for text, row in zip(session.of_type("response.text"), (turns[0], turns[2])):
        assert text["content"] in row["text"]
    latencies = [s.strip() for s in dom.latencies if s.strip()]
    assert latencies and all(re.fullmatch(r"\d+", s) for s in latencies), dom.latencies
    srcs = sorted(a.get("src", "") for a in dom.audio)
    assert len(srcs) == 2 and all("controls" in a for a in dom.audio)
    assert srcs[0].startswith(f"/dashboard/api/sessions/{sid}/audio/agent.wav")
    assert srcs[1].startswith(f"/dashboard/api/sessions/{sid}/audio/user.wav")


async def _get(url: str) -> bytes:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert resp.status == 200, url
            return await resp.read()


async def _get_json(url: str) -> dict:
    return json.loads(await _get(url))


def test_chromium_renders_webhook_calls_faults_errors_and_escapes_text(tmp_path):
    """The bridge's records (webhook calls, SSE events, asr, turn_latency), faults and
    errors as the page shows them; text from peers is shown as text, never as markup."""
    binary = chromium_or_skip()
    store = DashboardStore()
    conversation(store)
    store.on_record(send(104.5, S, type="user.transcript", content=HOSTILE, turn_id="u2"))
    browser = Browser(binary, tmp_path / "profile")
    (tmp_path / "profile").mkdir()

    async def main() -> None:
        app = web.Application()
        dashboard.add_routes(app, store)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/dashboard/?session={S}"
        try:
            await browser.start()
            await browser.call("Page.navigate", url=url)
            await browser.wait_until("document.querySelectorAll('#calls tr[data-request]')"
                                     ".length === 2")
            cells = await browser.evaluate(
                "[...document.querySelectorAll('#calls tr[data-request]')].map(tr => "
                "[...tr.cells].map(td => td.textContent))")
            turns = await browser.evaluate(
                "[...document.querySelectorAll('#turns tr[data-turn]')].map(tr => "
                "[...tr.cells].map(td => td.textContent))")
            notes = await browser.evaluate(
                "['faults', 'errors'].map(id => document.getElementById(id).textContent)")
            injected = await browser.evaluate("document.querySelectorAll('img').length")
            await browser.screenshot(ROOT / "build" / "dashboard-webhook.png", full_page=True)
        finally:
            await browser.close()
            await runner.cleanup()
        assert [c[1:7] for c in cells] == [
            ["message", "a2", "200", "96", "151", "ok"],
            ["message", "a3", "", "", "30000", "timeout: no SSE event in 30 s"]]
        assert "96 ms" in cells[0][7] and "It is sunny." in cells[0][7]
        assert [t[1:3] for t in turns] == [["assistant", "a1"], ["user", "u1"],
                                          ["assistant", "a2"], ["user", "u2"]]
        assert "what is the weather today" in turns[1][3] and "pocketsphinx" in turns[1][3]
        assert turns[1][4] == turns[2][4] == "313" and "message 200 ok" in turns[2][5]
        assert "It is sunny." in turns[2][3] and "interrupted" in turns[2][3]
        assert HOSTILE in turns[3][3] and injected == 0
        assert "drop" in notes[0] and "bad base64" in notes[1] and "timeout" in notes[1]

    asyncio.run(main())


def test_no_dashboard_flag(tmp_path):
    server = DevServer(tmp_path, "--no-dashboard")
    try:
        assert server.ready["dashboard"] is None
        status = asyncio.run(_status(server.ready["http"] + "/dashboard/api/sessions"))
        assert status == 404
    finally:
        server.stop()


async def _status(url: str) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            return resp.status


def test_a_bridged_session_in_the_dashboard(tmp_path):
    """The real webhook bridge against a scripted backend: the page shows the signed
    requests, their SSE events and timings, the spoken reply's text and its latency."""
    binary = chromium_or_skip()
    (tmp_path / "profile").mkdir()
    browser = Browser(binary, tmp_path / "profile")

    async def go(server, backend):
        client = await Client.open(server)
        await client.until(of_type("response.end"))            # session.start's reply
        await client.send(type="client.response.text", content="what is the weather")
        said = [m["content"] for m in await client.until(of_type("response.end"))
                if m["type"] == "response.text"]
        sid = (await _get_json(server.ready["dashboard"] + "api/sessions"))["sessions"][0]["id"]
        await browser.start()
        await browser.call("Page.navigate", url=server.ready["dashboard"] + "?session=" + sid)
        await browser.wait_until("document.querySelectorAll('#calls tr[data-request]')"
                                 ".length === 2")
        await browser.screenshot(ROOT / "build" / "dashboard-bridge.png", full_page=True)
        calls = await browser.evaluate(
            "[...document.querySelectorAll('#calls tr[data-request]')].map(tr => "
            "[...tr.cells].map(td => td.textContent))")
        await client.close()
        return said, calls, await _get_json(server.ready["dashboard"] + "api/sessions/" + sid)

    async def main():
        try:
            return await with_bridge(tmp_path, Backend.say("It is sunny.", "Anything else?"),
                                     go)
        finally:
            await browser.close()

    said, calls, detail = asyncio.run(main())
    assert [c[1] for c in calls] == ["session.start", "message"]
    assert [c[3] for c in calls] == ["200", "200"] and [c[6] for c in calls] == ["ok", "ok"]
    assert "It is sunny." in calls[1][7] and "response.end" in calls[1][7]
    message = detail["webhook_calls"][1]
    assert json.loads(message["body"])["text"] == "what is the weather"
    assert [json.loads(e["event"])["type"] for e in message["events"]] == [
        "response.tts", "response.tts", "response.end"]
    assert 0 <= message["first_event_ms"] <= message["end_ms"]
    reply = [t for t in detail["turns"] if t["webhook"] == [message["request_id"]]]
    assert len(reply) == 1 and reply[0]["role"] == "assistant"
    assert reply[0]["text"] == " ".join(said) and "It is sunny." in said[0]
    assert reply[0]["latency_source"] == "devserver"
    user = [t for t in detail["turns"] if t["reply_turn_id"] == reply[0]["turn_id"]]
    assert user[0]["transcript"] == "what is the weather" and user[0]["trigger"] == "text"
