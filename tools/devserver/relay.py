# SPDX-License-Identifier: Apache-2.0
"""The relay (doc/opus-profile.md section 7): devices speak the Opus profile to it, it
speaks standard Layercode PCM JSON upstream (`--upstream AUTHORIZE_URL --upstream-ws
WS_URL`).

- POST /authorize: forwarded upstream with the device's body (minus `audio`) and headers
  (minus hop-by-hop ones); the answer comes back unchanged, with `config.audio` added when
  the device offered Opus (then that key's socket speaks the profile).
- GET /v1/agents/web/websocket?client_session_key=KEY: one upstream socket per device
  socket, opened with the same key first (an upstream refusal comes back as its status
  and body). JSON passes through unchanged and in order; on an Opus socket uplink packets
  become `client.audio` (8 kHz, concealing gaps) and `response.audio` becomes packets
  with delta marks, a turn's remainder dropped on a barge-in (upstream's `turn.start`).
- Each direction has a queue bounded in messages (--relay-queue) and in bytes
  (--relay-queue-bytes): a full one holds back the reader of the other side (TCP
  backpressure upstream); one still full after --relay-stall-seconds means its side
  stopped reading: that side is closed (1008), not buffered without limit. A device
  message over 1 MiB closes the device with 1009. Either side closing closes the other
  with the same code; an upstream that drops without a close frame closes the device
  with 1011, so the device reconnects and re-authorizes through the relay; a device that
  does not answer a ping (--relay-heartbeat) is gone: the upstream is closed with 1001.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import time
from collections import OrderedDict
from urllib.parse import quote

import aiohttp
from aiohttp import web

from authorize import OPUS_ANSWER, negotiate
from bridge import CLOSE_WAIT, Bridge
from eventlog import EventLog
from faultinject import FaultPlan

log = logging.getLogger("devserver.relay")

DEVICE_WS = "/v1/agents/web/websocket"
AUTHORIZE = "/authorize"
MAX_MSG_SIZE = 16 * 1024 * 1024        # upstream's messages
# A device's messages are small (a packet, a control message): a bigger one closes its
# socket with 1009 (aiohttp) and the upstream with 1001.
DEVICE_MAX_MSG_SIZE = 1024 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
              "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"}
# Keys answered with the Opus profile, waiting for their socket: at most this many, for
# at most this long (the upstream's own key lifetime decides whether they still work).
MAX_PENDING_KEYS = 10000
PENDING_KEY_SECONDS = 3600.0


class Relay:
    def __init__(self, opts, eventlog: EventLog) -> None:
        self.opts = opts
        self.elog = eventlog
        self._opus_keys: OrderedDict[str, float] = OrderedDict()
        self.bridges: set[Bridge] = set()
        self._http: aiohttp.ClientSession | None = None
        self.ssl: ssl.SSLContext | bool = True
        if opts.upstream_ca:
            self.ssl = ssl.create_default_context(cafile=opts.upstream_ca)
        try:
            self._packet_faults = FaultPlan.parse(opts.fault).faults if opts.fault else []
        except ValueError:
            self._packet_faults = []

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(AUTHORIZE, self.handle_authorize)
        app.router.add_get(DEVICE_WS, self.handle_ws)
        app.router.add_get("/healthz", self.handle_health)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        return app

    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
        return self._http

    async def handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "sessions": len(self.bridges)})

    # ---- authorize -------------------------------------------------------

    async def handle_authorize(self, request: web.Request) -> web.Response:
        raw = await request.read()
        wants_opus = False
        body = raw
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and "audio" in parsed:
            wants_opus = negotiate(parsed.pop("audio"), self.opts.codecs) == "opus"
            body = json.dumps(parsed).encode()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in HOP_BY_HOP}
        try:
            async with self.http().post(self.opts.upstream, data=body, headers=headers,
                                        ssl=self.ssl) as resp:
                status, answer = resp.status, await resp.read()
                ctype = resp.headers.get("Content-Type", "application/json")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("upstream authorize failed: %r", exc)
            self.elog.write(None, "relay_authorize", status=502, codec=None,
                            error=f"upstream unreachable: {exc!r}")
            return web.json_response({"error": f"upstream unreachable: {exc}"},
                                     status=502)
        codec = "pcm16"
        if status == 200 and wants_opus:
            try:
                result = json.loads(answer)
                key = result["client_session_key"]
                config = result.setdefault("config", {})
                if not isinstance(key, str) or not isinstance(config, dict):
                    raise TypeError("bad answer")
            except (ValueError, KeyError, TypeError, AttributeError):
                result = None               # not an answer to add to: pass it on
            if result is not None:
                config["audio"] = dict(OPUS_ANSWER)
                answer = json.dumps(result).encode()
                ctype = "application/json"
                codec = "opus"
                self._remember(key)
        self.elog.write(None, "relay_authorize", status=status, codec=codec, error=None)
        return web.Response(status=status, body=answer,
                            headers={"Content-Type": ctype})

    def _remember(self, key: str) -> None:
        now = time.monotonic()
        keys = self._opus_keys
        keys[key] = now
        while keys and (len(keys) > MAX_PENDING_KEYS
                        or next(iter(keys.values())) < now - PENDING_KEY_SECONDS):
            keys.popitem(last=False)

    # ---- sockets ---------------------------------------------------------

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("client_session_key", "")
        probe = web.WebSocketResponse()
        if not probe.can_prepare(request).ok:
            return web.json_response({"error": "expected a websocket upgrade request"},
                                     status=400)
        codec = "opus" if self._opus_keys.pop(key, None) is not None else "pcm16"
        url = self.opts.upstream_ws + "?client_session_key=" + quote(key, safe="")
        try:
            up = await self.http().ws_connect(url, ssl=self.ssl, max_msg_size=MAX_MSG_SIZE,
                                              heartbeat=30.0, autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            status = exc.status if 400 <= exc.status <= 599 else 502
            self.elog.write(None, "relay_reject", status=status, reason=exc.message)
            return web.json_response({"error": f"upstream: {exc.message}"}, status=status)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            self.elog.write(None, "relay_reject", status=502, reason=repr(exc))
            return web.json_response({"error": f"upstream unreachable: {exc}"},
                                     status=502)
        # A device idle for --relay-heartbeat seconds is pinged; one that does not answer
        # within half that is gone (power lost, a NAT that forgot it: no FIN ever comes)
        # and the upstream is closed with 1001, not held open for a dead device.
        device = web.WebSocketResponse(max_msg_size=DEVICE_MAX_MSG_SIZE,
                                       heartbeat=self.opts.relay_heartbeat or None,
                                       timeout=CLOSE_WAIT)
        # A bounded kernel send buffer too: audio a device cannot take within about a
        # second is late anyway, and a device that stops reading shows as a full queue.
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None and self.opts.relay_sndbuf > 0:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.opts.relay_sndbuf)
            except OSError:
                pass
        try:
            await device.prepare(request)
        except BaseException:
            await up.close(code=1001)
            raise
        faults = self._packet_faults if codec == "opus" else []
        bridge = Bridge(self, device, up, codec, request.transport,
                        [f for f in faults if f.stage == "packets"])
        self.bridges.add(bridge)
        try:
            await bridge.run()
        finally:
            self.bridges.discard(bridge)
        return device

    async def _on_shutdown(self, app: web.Application) -> None:
        await asyncio.gather(*(b.shutdown(1001, "relay shutting down")
                               for b in list(self.bridges)), return_exceptions=True)

    async def _on_cleanup(self, app: web.Application) -> None:
        if self._http is not None:
            await self._http.close()
