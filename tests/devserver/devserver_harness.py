# SPDX-License-Identifier: Apache-2.0
"""Harness for the devserver self-tests: run the server as a subprocess and
drive it with aiohttp's client. (Not named conftest so test modules can import
it without clashing with other test directories' conftest modules.)"""

from __future__ import annotations

import array
import asyncio
import base64
import json
import math
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
DEVSERVER_DIR = ROOT / "tools" / "devserver"
DEVSERVER = DEVSERVER_DIR / "devserver.py"
if str(DEVSERVER_DIR) not in sys.path:
    sys.path.insert(0, str(DEVSERVER_DIR))

API_KEY = "dev-api-key"
DEVICE_TOKEN = "device-secret"


class Server:
    """A devserver subprocess, started with `--port 0`."""

    def __init__(self, workdir: Path, *args: str, env: dict | None = None,
                 log: bool = True) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "events.jsonl" if log else None
        self.stderr_path = workdir / "stderr.txt"
        argv = [sys.executable, str(DEVSERVER), "--port", "0", *args]
        if self.log_path:
            argv += ["--log", str(self.log_path)]
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop(check=False)
            raise RuntimeError("devserver did not start:\n" + self.stderr())
        self.ready = json.loads(line)
        if self.ready.get("event") != "ready":
            self.stop(check=False)
            raise RuntimeError(f"devserver failed: {self.ready}\n{self.stderr()}")

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text()

    def stop(self, check: bool = True) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self._stderr.close()
        if check:
            assert self.proc.returncode == 0, self.stderr()
        return self.proc.returncode

    def events(self, session: str | None = None) -> list[dict]:
        lines = self.log_path.read_text().splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        if session is not None:
            events = [e for e in events if e.get("session") == session]
        return events

    def wait_event(self, pred, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if pred(event):
                    return event
            time.sleep(0.05)
        raise AssertionError("log event not found")


async def post_json(url: str, body, headers: dict | None = None, ssl_ctx=None,
                    raw: bytes | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        data = raw if raw is not None else json.dumps(body).encode()
        async with http.post(url, data=data, headers=headers or {},
                             ssl=ssl_ctx or True) as resp:
            return resp.status, await resp.json(content_type=None)


def api_headers(key: str = API_KEY) -> dict:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


class Client:
    """One authorized WebSocket session."""

    def __init__(self, http, ws, auth: dict) -> None:
        self.http = http
        self.ws = ws
        self.auth = auth

    @classmethod
    async def open(cls, server: Server, agent_id: str = "echo",
                   metadata: dict | None = None, ssl_ctx=None, ready: bool = True,
                   ws_url: str | None = None) -> "Client":
        body = {"agent_id": agent_id, "metadata": metadata or {}}
        status, auth = await post_json(server.ready["layercode_authorize_url"], body,
                                       api_headers(), ssl_ctx=ssl_ctx)
        assert status == 200, auth
        http = aiohttp.ClientSession()
        url = (ws_url or server.ready["ws"]) + "?client_session_key=" + \
            auth["client_session_key"]
        try:
            ws = await http.ws_connect(url, ssl=ssl_ctx or True, autoping=True)
        except Exception:
            await http.close()
            raise
        client = cls(http, ws, auth)
        if ready:
            await client.send(type="client.ready")
        return client

    async def send(self, **msg) -> None:
        await self.ws.send_str(json.dumps(msg))

    async def send_audio(self, pcm8k: bytes, frame_ms: int = 20) -> None:
        size = 8000 * frame_ms // 1000 * 2
        for i in range(0, len(pcm8k), size):
            await self.send(type="client.audio",
                            content=base64.b64encode(pcm8k[i:i + size]).decode())

    async def recv(self, timeout: float = 5.0) -> dict | None:
        """Next server message; None when the socket closed."""
        msg = await self.ws.receive(timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return json.loads(msg.data)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.CLOSED):
            return None
        raise AssertionError(f"unexpected frame {msg.type}: {msg.data!r}")

    async def until(self, pred, timeout: float = 10.0) -> list[dict]:
        """Messages up to and including the first matching `pred`."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; got {[m.get('type') for m in out]}")
            msg = await self.recv(left)
            if msg is None:
                raise AssertionError(f"socket closed; got {[m.get('type') for m in out]}")
            out.append(msg)
            if pred(msg):
                return out

    async def quiet(self, seconds: float) -> list[dict]:
        """Everything received within `seconds`."""
        out = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await self.recv(left)
            except asyncio.TimeoutError:
                break
            if msg is None:
                break
            out.append(msg)
        return out

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


def tone8k(seconds: float, hz: float = 300.0, amp: float = 0.3) -> bytes:
    """amp (of full scale) sine of hz: 8 kHz mono s16le, the devserver's audio."""
    n = int(8000 * seconds)
    return array.array("h", (int(amp * 32767 * math.sin(2 * math.pi * hz * i / 8000))
                             for i in range(n))).tobytes()


def silence8k(seconds: float) -> bytes:
    return bytes(2 * int(8000 * seconds))


def of_type(mtype: str):
    return lambda m: m.get("type") == mtype


def audio_of(messages: list[dict], turn_id: str | None = None) -> list[bytes]:
    return [base64.b64decode(m["content"]) for m in messages
            if m["type"] == "response.audio"
            and (turn_id is None or m["turn_id"] == turn_id)]


def run(coro):
    return asyncio.run(coro)


def first_response(server) -> list[dict]:
    """Opens a session on server; what it received up to the first response.end."""
    async def go():
        client = await Client.open(server)
        msgs = await client.until(of_type("response.end"))
        await client.close()
        return msgs
    return run(go())

