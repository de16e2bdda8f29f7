# SPDX-License-Identifier: Apache-2.0
"""The dashboard's HTTP side: the page, its static files, a JSON API, WAV audio, and a
Server-Sent Events stream of change notifications (add_routes(app, store)).

Routes (all GET):
  /dashboard/                                 the page (dashboard/index.html)
  /dashboard/static/{file}                    its CSS/JS (only files in dashboard/)
  /dashboard/api/sessions                     {"sessions": [summary...], ...} newest first
  /dashboard/api/sessions/{id}                one session's detail, 404 if unknown
  /dashboard/api/sessions/{id}/audio/{side}.wav   user (8 kHz) or agent (16 kHz) audio
  /dashboard/api/events                       SSE: `data: {"sessions": [ids], "version": N}`

The event stream coalesces: each client has a set of changed session ids (at most
MAX_DIRTY, else "all changed") and gets at most one notification per THROTTLE_SECONDS, so
a client's memory stays bounded whatever the rate of records. A client whose socket does
not take a notification within WRITE_TIMEOUT_SECONDS is dropped; at most MAX_SSE_CLIENTS
stream at once (503 beyond).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re

from aiohttp import web

from dashboard_audio import wav_bytes
from dashboard_store import DashboardStore, dumps

log = logging.getLogger("devserver.dashboard")

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboard")
STATIC_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript",
                ".svg": "image/svg+xml", ".png": "image/png"}
STATIC_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)$")
THROTTLE_SECONDS = 0.2              # <= 5 notifications a second per client
KEEPALIVE_SECONDS = 5.0
WRITE_TIMEOUT_SECONDS = 10.0
MAX_DIRTY = 64
MAX_SSE_CLIENTS = 32
NO_STORE = {"Cache-Control": "no-store"}


def add_routes(app: web.Application, store: DashboardStore) -> None:
    api = DashboardApi(store)
    app.router.add_get("/dashboard", api.redirect)
    app.router.add_get("/dashboard/", api.index)
    app.router.add_get("/dashboard/static/{file}", api.static)
    app.router.add_get("/dashboard/api/sessions", api.sessions)
    app.router.add_get("/dashboard/api/sessions/{sid}", api.session)
    app.router.add_get("/dashboard/api/sessions/{sid}/audio/{side}.wav", api.wav)
    app.router.add_get("/dashboard/api/events", api.events)
    app.on_shutdown.append(api.shutdown)


def _json(obj, status: int = 200) -> web.Response:
    return web.Response(text=dumps(obj), status=status, content_type="application/json",
                        headers=NO_STORE)


class SseClient:
    """One EventSource: the ids changed since its last notification."""

    def __init__(self) -> None:
        self.dirty: set[str] = set()
        self.everything = False
        self.wake = asyncio.Event()

    def changed(self, sid: str) -> None:
        if not self.everything:
            self.dirty.add(sid)
            if len(self.dirty) > MAX_DIRTY:
                self.dirty.clear()
                self.everything = True
        self.wake.set()

    def take(self) -> dict:
        out = {"sessions": sorted(self.dirty), "all": self.everything}
        self.dirty.clear()
        self.everything = False
        self.wake.clear()
        return out


class DashboardApi:
    def __init__(self, store: DashboardStore) -> None:
        self.store = store
        self.clients: set[SseClient] = set()
        self.closing = asyncio.Event()

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/dashboard/")

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._file("index.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["file"]
        if not STATIC_NAME.match(name):
            raise web.HTTPNotFound(reason="no such file")
        return self._file(name)

    def _file(self, name: str) -> web.StreamResponse:
        path = os.path.join(PAGE_DIR, name)
        ctype = STATIC_TYPES.get(os.path.splitext(name)[1])
        if ctype is None or not os.path.isfile(path):
            raise web.HTTPNotFound(reason="no such file")
        with open(path, "rb") as fh:
            body = fh.read()
        return web.Response(body=body, content_type=ctype, charset="utf-8"
                            if ctype.startswith("text/") else None, headers=NO_STORE)

    async def sessions(self, request: web.Request) -> web.Response:
        return _json(self.store.list_json())

    async def session(self, request: web.Request) -> web.Response:
        detail = self.store.detail_json(request.match_info["sid"])
        if detail is None:
            raise web.HTTPNotFound(reason="no such session")
        return _json(detail)

    async def wav(self, request: web.Request) -> web.Response:
        side = request.match_info["side"]
        if side not in ("user", "agent"):
            raise web.HTTPNotFound(reason="side must be user or agent")
        audio = self.store.audio(request.match_info["sid"], side)
        if audio is None:
            raise web.HTTPNotFound(reason="no such session")
        pcm, rate = audio
        default_rate = 8000 if side == "user" else 16000
        return web.Response(body=wav_bytes(pcm, rate or default_rate),
                            content_type="audio/wav", headers=NO_STORE)

    async def events(self, request: web.Request) -> web.StreamResponse:
        if len(self.clients) >= MAX_SSE_CLIENTS:
            raise web.HTTPServiceUnavailable(reason="too many dashboard event streams")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        client = SseClient()
        self.clients.add(client)
        self.store.listen(client.changed)
        try:
            await self._send(resp, f"retry: 2000\ndata: {dumps(self._hello())}\n\n")
            while not self.closing.is_set():
                try:
                    await asyncio.wait_for(client.wake.wait(), KEEPALIVE_SECONDS)
                except asyncio.TimeoutError:
                    await self._send(resp, ": keepalive\n\n")
                    continue
                if self.closing.is_set():
                    break
                note = client.take()
                note["version"] = self.store.version
                await self._send(resp, f"data: {dumps(note)}\n\n")
                await asyncio.sleep(THROTTLE_SECONDS)
        except (ConnectionError, asyncio.TimeoutError) as exc:
            log.info("dashboard event stream dropped: %r", exc)
        finally:
            self.store.unlisten(client.changed)
            self.clients.discard(client)
        return resp

    def _hello(self) -> dict:
        return {"sessions": [], "all": True, "version": self.store.version}

    @staticmethod
    async def _send(resp: web.StreamResponse, text: str) -> None:
        # A client that does not read: the write waits on the socket, bounded here.
        await asyncio.wait_for(resp.write(text.encode("utf-8")), WRITE_TIMEOUT_SECONDS)

    async def shutdown(self, app: web.Application) -> None:
        self.closing.set()
        for client in list(self.clients):
            client.wake.set()
