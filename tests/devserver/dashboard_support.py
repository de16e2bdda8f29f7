# SPDX-License-Identifier: Apache-2.0
"""Helpers for tests/devserver/test_dashboard.py: record sequences of the EventLog's shapes,
a live WebSocket session that speaks espeak-ng audio in real time, and headless chromium."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import subprocess
import time
import wave
from pathlib import Path

import aiohttp
import pytest

import pcm  # noqa: E402  (tools/devserver, on sys.path via devserver_harness)

FRAME_BYTES = 8000 * 20 // 1000 * 2         # one 20 ms client.audio frame at 8 kHz


def rec(t: float, session: str, kind: str, **fields) -> dict:
    return {"t": t, "session": session, "kind": kind, **fields}


def send(t: float, session: str, **msg) -> dict:
    return rec(t, session, "send", msg=msg)


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


async def chromium(binary: str, profile: Path, *args: str, timeout: float = 90.0) -> str:
    """Headless chromium with its own profile; its stdout (the DOM for --dump-dom)."""
    argv = [binary, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={profile}", *args]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE,
                                                stdin=subprocess.DEVNULL)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"chromium hung: {argv}") from None
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {err.decode()[-2000:]}"
    return out.decode("utf-8", "replace")
