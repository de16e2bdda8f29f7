# SPDX-License-Identifier: Apache-2.0
"""Helpers for tests/devserver/test_dashboard.py: record sequences of the EventLog's shapes,
a live WebSocket session that speaks espeak-ng audio in real time, and headless chromium
driven over the DevTools protocol."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import signal
import subprocess
import time
import wave
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest

import pcm  # noqa: E402  (tools/devserver, on sys.path via devserver_harness)

FRAME_BYTES = 8000 * 20 // 1000 * 2         # one 20 ms client.audio frame at 8 kHz


HOSTILE = '<img src=x onerror="document.title=1">&amp;'


def rec(t: float, session: str, kind: str, **fields) -> dict:
    return {"t": t, "session": session, "kind": kind, **fields}


def send(t: float, session: str, **msg) -> dict:
    return rec(t, session, "send", msg=msg)


S = "sess-1"


def conversation(store, with_latency_record: bool = True) -> None:
    """A bridged session: greeting, one spoken user turn, a webhook call, the reply."""
    r = store.on_record
    r(rec(100.0, S, "ws_open", agent="echo", agent_id="my-agent", turn_mode="automatic",
          conversation_id="conv_1", codec="pcm16"))
    r(send(100.1, S, type="turn.start", role="assistant", turn_id="a1"))
    r(send(100.1, S, type="response.text", content="Hello!", turn_id="a1"))
    r(send(100.2, S, type="response.audio", content_bytes=3200, turn_id="a1", delta_id="a1-d1"))
    r(send(100.3, S, type="response.end", turn_id="a1"))
    r(send(101.0, S, type="turn.start", role="user", turn_id="u1"))
    r(send(103.0, S, type="user.transcript.interim_delta", content="what is", turn_id="u1",
           delta_counter=0))
    r(send(103.1, S, type="user.transcript", content="what is the weather today",
           turn_id="u1"))
    r(rec(103.1, S, "asr", turn_id="u1", text="what is the weather today",
          engine="pocketsphinx", ms=180.0, audio_seconds=1.9))
    # As the bridge does: a message carries the id of the assistant turn it will answer with.
    r(rec(103.1, S, "webhook_request", request_id="w1", event="message", turn_id="a2",
          url="http://127.0.0.1:9/agent", body={"type": "message", "text": "what is"}))
    r(rec(103.2, S, "webhook_response", request_id="w1", status=200, ms=40.0))
    r(send(103.3, S, type="turn.start", role="assistant", turn_id="a2"))
    r(rec(103.3, S, "webhook_event", request_id="w1", ms=95.5,
          event={"type": "response.tts", "content": "It is sunny.", "turn_id": "a2"}))
    r(send(103.4, S, type="response.audio", content_bytes=3200, turn_id="a2", delta_id="a2-d1"))
    if with_latency_record:
        r(rec(103.4, S, "turn_latency", turn_id="u1", assistant_turn_id="a2", ms=312.5,
              trigger="vad"))
    r(rec(103.5, S, "webhook_event", request_id="w1", ms=150.0,
          event={"type": "response.end", "turn_id": "a2"}))
    r(rec(103.5, S, "webhook_end", request_id="w1", ms=151.0, outcome="ok", error=None))
    r(send(104.0, S, type="turn.start", role="user", turn_id="u2"))     # barge-in
    r(rec(104.1, S, "fault", stage="session", name="drop", after=3))
    r(rec(104.2, S, "error", error="client.audio: bad base64"))
    r(rec(104.3, S, "webhook_request", request_id="w2", event="message", turn_id="a3",
          url="http://127.0.0.1:9/agent", body={}))
    r(rec(104.4, S, "webhook_end", request_id="w2", ms=30000.0, outcome="timeout",
          error="no SSE event in 30 s"))
    r(rec(105.0, S, "ws_close", code=1000, closed_by="client", duration=5.0))


def espeak8k(text: str) -> bytes:
    """`text` spoken by espeak-ng, as the devserver's 8 kHz PCM16LE."""
    out = subprocess.run(["espeak-ng", "-v", "en", "--stdout", text], check=True,
                         capture_output=True, timeout=30).stdout
    with wave.open(io.BytesIO(out)) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    return pcm.resample_linear(frames, rate, 8000)


def parse_wav(body: bytes) -> tuple[int, int, int, bytes]:
    with wave.open(io.BytesIO(body)) as w:
        return (w.getnchannels(), w.getsampwidth(), w.getframerate(),
                w.readframes(w.getnframes()))


class Dom(HTMLParser):
    """The rendered DOM's elements by id/class, with the text inside each table row."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[dict] = []          # {attrs of the <tr>, "text": ...}
        self.audio: list[dict] = []
        self.latencies: list[str] = []
        self._row: dict | None = None
        self._latency = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            self._row = {**a, "text": ""}
            self.rows.append(self._row)
        elif tag == "audio":
            self.audio.append(a)
        elif tag == "td" and "latency" in (a.get("class") or "").split():
            self._latency = True
            self.latencies.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._latency = False

    def handle_data(self, data):
        if self._row is not None:
            self._row["text"] += data + " "
        if self._latency:
            self.latencies[-1] += data


class LiveSession:
    """One echo session over the real WebSocket; every server message is kept."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.user_audio = bytearray()       # exactly what was sent as client.audio
        self._changed = asyncio.Event()

    async def open(self, ready: dict) -> None:
        self.http = aiohttp.ClientSession()
        async with self.http.post(ready["authorize_url"],
                                  json={"agent_id": "echo"}) as resp:
            assert resp.status == 200, await resp.text()
            auth = await resp.json()
        self.ws = await self.http.ws_connect(
            ready["ws"] + "?client_session_key=" + auth["client_session_key"])
        self._reader = asyncio.ensure_future(self._read())
        await self.ws.send_str(json.dumps({"type": "client.ready"}))

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))
                self._changed.set()

    def of_type(self, mtype: str) -> list[dict]:
        return [m for m in self.messages if m.get("type") == mtype]

    async def wait_for(self, pred, timeout: float = 30.0) -> None:
        """Until pred() holds (timeout: a hang guard only)."""
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; got {[m.get('type') for m in self.messages]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass

    async def stream(self, audio: bytes, until=None, max_seconds: float = 15.0) -> None:
        """`audio` as 20 ms client.audio frames in real time, then silence frames until
        until() holds (at most max_seconds of silence)."""
        start = time.monotonic()
        n = 0
        silence = bytes(FRAME_BYTES)
        while True:
            frame = audio[n * FRAME_BYTES:(n + 1) * FRAME_BYTES]
            if not frame:
                if until is None or until() or n * 0.02 > len(audio) / 16000 + max_seconds:
                    return
                frame = silence
            await self.ws.send_str(json.dumps({"type": "client.audio",
                                               "content": base64.b64encode(frame).decode()}))
            self.user_audio += frame
            n += 1
            delay = start + n * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def agent_audio(self) -> bytes:
        return b"".join(base64.b64decode(m["content"]) for m in self.of_type("response.audio"))

    async def close(self) -> None:
        await self.ws.close()
        await self._reader
        await self.http.close()


def chromium_or_skip() -> str:
    """The chromium binary; skipped when missing, unless CI is set (then a failure)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (tools/ensure-deps.sh installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


class Browser:
    """Headless chromium driven over the DevTools protocol (its own profile, its own
    process group, killed at close). --dump-dom with --virtual-time-budget cannot be used:
    virtual time never advances while a fetch is pending, and the page's EventSource always
    is, so chromium waits forever."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.binary = binary
        self.profile = profile
        self._id = 0

    async def start(self) -> None:
        argv = [self.binary, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                "--hide-scrollbars", "--window-size=1280,1000", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", "about:blank"]
        self.stderr = open(self.profile.parent / "chromium.stderr", "wb")
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdout=subprocess.DEVNULL, stderr=self.stderr, stdin=subprocess.DEVNULL,
            start_new_session=True)
        port_file = self.profile / "DevToolsActivePort"
        for _ in range(600):                        # hang guard: 60 s
            if port_file.exists() and len(port_file.read_text().split()) >= 2:
                break
            assert self.proc.returncode is None, "chromium exited at start"
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("chromium did not open its DevTools port")
        port = port_file.read_text().split()[0]
        self.http = aiohttp.ClientSession()
        async with self.http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            pages = [t for t in await resp.json() if t.get("type") == "page"]
        self.ws = await self.http.ws_connect(pages[0]["webSocketDebuggerUrl"],
                                             max_msg_size=64 * 1024 * 1024)

    async def call(self, method: str, **params) -> dict:
        self._id += 1
        await self.ws.send_str(json.dumps({"id": self._id, "method": method,
                                           "params": params}))
        while True:
            msg = json.loads((await self.ws.receive(30)).data)
            if msg.get("id") == self._id:
                assert "error" not in msg, msg
                return msg["result"]

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression,
                                 returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def wait_until(self, expression: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout      # a hang guard only
        while not await self.evaluate(expression):
            if time.monotonic() > deadline:
                raise AssertionError(f"page never showed: {expression}\n"
                                     + (await self.evaluate("document.body.innerText")))
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path, full_page: bool = False) -> None:
        params = {}
        if full_page:
            height = await self.evaluate("document.documentElement.scrollHeight")
            params = {"captureBeyondViewport": True,
                      "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}}
        result = await self.call("Page.captureScreenshot", format="png", **params)
        path.write_bytes(base64.b64decode(result["data"]))

    async def close(self) -> None:
        if getattr(self, "http", None) is not None:
            await self.http.close()
        if self.proc.returncode is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)    # whatever of the group is left
        except ProcessLookupError:
            pass
        await self.proc.wait()
        self.stderr.close()
