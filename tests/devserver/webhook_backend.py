# SPDX-License-Identifier: Apache-2.0
"""A scripted customer backend for the webhook bridge tests: a real aiohttp server on
loopback, in the test's event loop, that records every request the devserver makes and
answers each with whatever the test's `reply` coroutine writes.

Signatures are checked here with an implementation of the documented rule written for the
tests (doc/protocol.md section 4), not the devserver's: `verify` below.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field

from aiohttp import web

from devserver_harness import Client, Server

SECRET = "whsec-test-secret"
TOLERANCE = 300


def verify(header: str | None, raw: bytes, secret: str, now: float | None = None) -> bool:
    """`layercode-signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
    within 300 s of `now`."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t"), parts.get("v1")
    if t is None or v1 is None or not t.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(t)) > TOLERANCE:
        return False
    want = hmac.new(secret.encode(), t.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, v1)


def sse(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


@dataclass
class Request:
    body: dict
    raw: bytes
    signature: str | None
    headers: dict
    aborted: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class Backend:
    """`reply(request, resp)` writes the answer to an open web.StreamResponse (SSE
    headers already sent); the default speaks one sentence and ends."""

    def __init__(self, reply=None) -> None:
        self.reply = reply or self.say("Hello from the backend.")
        self.requests: list[Request] = []
        self.arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    @staticmethod
    def say(*sentences: str):
        async def reply(req: Request, resp: web.StreamResponse) -> None:
            if req.body["type"] in ("message", "session.start"):
                for s in sentences:
                    await resp.write(sse({"type": "response.tts", "content": s,
                                          "turn_id": req.body["turn_id"]}))
            await resp.write(sse({"type": "response.end",
                                  "turn_id": req.body.get("turn_id")}))
        return reply

    async def start(self) -> "Backend":
        app = web.Application()
        app.router.add_post("/agent", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/agent"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        req = Request(json.loads(raw), raw, request.headers.get("layercode-signature"),
                      dict(request.headers))
        async with self.arrived:
            self.requests.append(req)
            self.arrived.notify_all()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        try:
            await self.reply(req, resp)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            req.aborted.set()
            raise
        finally:
            req.finished.set()
        return resp

    async def wait(self, kind: str, count: int = 1, timeout: float = 20.0) -> list[Request]:
        """The first `count` requests of type `kind`, once they have arrived."""
        def got():
            return [r for r in self.requests if r.body["type"] == kind]
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(got()) >= count),
                                   timeout)
        return got()[:count]


async def opened(server: Server, backend: "Backend") -> Client:
    """A session whose greeting (session.start) has reached the backend: for backends
    whose reply to it says nothing, so there is no greeting turn to wait for."""
    client = await Client.open(server)
    await backend.wait("session.start")
    return client


async def played(client, turn: list[dict]) -> None:
    """The client has played the assistant turn (as a real one says once its audio ran
    out): until then, anything the user does cuts it off."""
    await client.send(type="trigger.response.audio.replay_finished", reason="completed",
                      turn_id=turn[-1]["turn_id"])


def bridged(tmp_path, backend: Backend, *flags: str) -> Server:
    return Server(tmp_path, "--webhook", backend.url, "--webhook-secret", SECRET,
                  "--asr", "none", "--audio-speed", "0", *flags)


async def with_bridge(tmp_path, reply, go, *flags: str):
    backend = await Backend(reply).start()
    server = await asyncio.to_thread(bridged, tmp_path, backend, *flags)
    try:
        return await go(server, backend)
    finally:
        await asyncio.to_thread(server.stop)
        await backend.stop()
