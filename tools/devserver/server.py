# SPDX-License-Identifier: Apache-2.0
"""The aiohttp application: routes, the WebSocket upgrade gate, shutdown."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging

from aiohttp import web

from agents import Agents
from authorize import API_AGENTS, API_PIPELINES, AuthError, Authorizer
from bridges import Bridges
from eventlog import EventLog
from faultinject import Fault
from session import Session
from speech import Speech

log = logging.getLogger("devserver")

MAX_MSG_SIZE = 16 * 1024 * 1024

AGENTS_AUTHORIZE = "/v1/agents/web/authorize_session"
AGENTS_WS = "/v1/agents/web/websocket"
LEGACY_AUTHORIZE = "/v1/pipelines/authorize_session"
LEGACY_WS = "/v1/pipelines/websocket"
PROXY_AUTHORIZE = "/authorize"


class DevServer:
    def __init__(self, opts, eventlog: EventLog) -> None:
        self.opts = opts
        self.elog = eventlog
        self.speech = Speech()
        self.agents = Agents(opts, self.speech)
        self.authorizer = Authorizer(opts, eventlog)
        self.sessions: set[Session] = set()
        self.bridges = Bridges(opts, eventlog, self.agents)
        self.bridges.start()

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[_json_errors])
        a = self.authorizer
        app.router.add_post(AGENTS_AUTHORIZE, a.handle_layercode)
        app.router.add_post(LEGACY_AUTHORIZE, a.handle_legacy)
        app.router.add_post(PROXY_AUTHORIZE, a.handle_proxy)
        app.router.add_get(AGENTS_WS, self.handle_agents_ws)
        app.router.add_get(LEGACY_WS, self.handle_legacy_ws)
        app.router.add_get("/healthz", self.handle_health)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "sessions": len(self.sessions)})

    async def handle_agents_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._websocket(request, API_AGENTS)

    async def handle_legacy_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._websocket(request, API_PIPELINES)

    def _reject(self, request: web.Request, status: int, reason: str,
                session: str | None = None) -> web.Response:
        log.warning("websocket rejected (%d): %s", status, reason)
        self.elog.write(session, "ws_reject", status=status, reason=reason,
                        path=request.path, remote=request.remote)
        return web.json_response({"error": reason}, status=status)

    async def _websocket(self, request: web.Request, api: str) -> web.StreamResponse:
        key = request.query.get("client_session_key")
        try:
            grant = self.authorizer.check_key(key, api)
        except AuthError as exc:
            return self._reject(request, exc.status, exc.message)
        probe = web.WebSocketResponse()
        if not probe.can_prepare(request).ok:
            return self._reject(request, 400, "expected a websocket upgrade request",
                                grant.session_id)
        fault = grant.faults.next("upgrade") if grant.faults else None
        if fault is not None:
            early = await self._upgrade_fault(request, grant.session_id, fault)
            if early is not None:
                return early
        fault = grant.faults.next("session") if grant.faults else None
        packet_faults = grant.faults.all("packets") if grant.faults else []
        # ignore_pings answers pings itself (until it fires), so aiohttp must not.
        autoping = fault is None or fault.name != "ignore_pings"
        ws = web.WebSocketResponse(max_msg_size=MAX_MSG_SIZE, heartbeat=None,
                                   autoping=autoping, timeout=5.0)
        self.authorizer.consume(grant)
        await ws.prepare(request)
        session = Session(grant, ws, opts=self.opts, eventlog=self.elog,
                          agents=self.agents, path=request.path,
                          remote=request.remote, transport=request.transport,
                          fault=fault, packet_faults=packet_faults,
                          bridge=self.bridges.for_session if self.bridges.active else None)
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
        return ws

    async def _upgrade_fault(self, request: web.Request, session_id: str,
                             fault: Fault) -> web.StreamResponse | None:
        """Applies an upgrade fault: the response to end with, or None to go on with the
        upgrade (after a delay)."""
        log.warning("[%s] fault %s on the upgrade", session_id, fault.name)
        self.elog.write(session_id, "fault", stage="upgrade", path=request.path,
                        **fault.describe())
        if fault.name == "upgrade_slow":
            await asyncio.sleep(fault["seconds"])
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=408)     # the client gave up: goes nowhere
            return None
        if fault.name == "upgrade_bad_accept":
            key = request.headers.get("Sec-WebSocket-Key", "")
            wrong = base64.b64encode(hashlib.sha1(
                (key + "not-the-rfc-6455-guid").encode()).digest()).decode()
            resp = web.StreamResponse(status=101, headers={
                "Upgrade": "websocket", "Connection": "Upgrade",
                "Sec-WebSocket-Accept": wrong})
            await resp.prepare(request)
            # A correct client hangs up now; give up waiting after 30 s.
            for _ in range(300):
                if request.transport is None or request.transport.is_closing():
                    break
                await asyncio.sleep(0.1)
            self.elog.write(session_id, "ws_reject", status=101,
                            reason="devserver fault upgrade_bad_accept",
                            path=request.path, remote=request.remote)
            return resp
        return self._reject(request, fault["status"], f"devserver fault {fault.name}",
                            session_id)

    async def _on_shutdown(self, app: web.Application) -> None:
        sessions = list(self.sessions)
        if sessions:
            log.info("closing %d session(s) for shutdown", len(sessions))
            await asyncio.gather(*(s.close(1001, "server shutting down")
                                   for s in sessions), return_exceptions=True)

    async def _on_cleanup(self, app: web.Application) -> None:
        await self.bridges.close()      # after the sessions: their session.end requests


@web.middleware
async def _json_errors(request: web.Request, handler):
    """Answer errors as {"error": ...} JSON, and never leak a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.empty_body or exc.status < 400:
            raise
        return web.json_response({"error": exc.reason}, status=exc.status,
                                 headers={k: v for k, v in exc.headers.items()
                                          if k.lower() == "allow"})
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("internal error handling %s %s", request.method, request.path)
        return web.json_response({"error": "internal server error"}, status=500)
