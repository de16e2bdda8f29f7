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
- Each direction has a bounded queue (--relay-queue): a full one holds back the reader of
  the other side (TCP backpressure upstream); one still full after --relay-stall-seconds
  means its side stopped reading: that side is closed (1008), not buffered without limit. Either side closing closes the
  other with the same code; an upstream that drops without a close frame closes the
  device with 1011, so the device reconnects and re-authorizes through the relay.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
import socket
import ssl
import time
from collections import OrderedDict
from urllib.parse import quote

import aiohttp
from aiohttp import WSMsgType, web

import opus
from authorize import OPUS_ANSWER, negotiate
from eventlog import EventLog
from faultinject import FaultPlan
from opuslink import Downlink, Impairment, Uplink

log = logging.getLogger("devserver.relay")

DEVICE_WS = "/v1/agents/web/websocket"
AUTHORIZE = "/authorize"
MAX_MSG_SIZE = 16 * 1024 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
              "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"}
# Keys answered with the Opus profile, waiting for their socket: at most this many, for
# at most this long (the upstream's own key lifetime decides whether they still work).
MAX_PENDING_KEYS = 10000
PENDING_KEY_SECONDS = 3600.0
CLOSE_WAIT = 2.0          # a close handshake longer than this is cut short (abort)
UNSENDABLE = (1005, 1006, 1015)     # close codes that never travel in a close frame


def _client_transport(ws: aiohttp.ClientWebSocketResponse):
    """The transport under a client WebSocket (None once released)."""
    conn = getattr(getattr(ws, "_response", None), "connection", None)
    return getattr(conn, "transport", None)


class _Full(Exception):
    """A queue to a side is full: that side stopped reading."""


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
        device = web.WebSocketResponse(max_msg_size=MAX_MSG_SIZE, heartbeat=None,
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


class Bridge:
    """One device socket and its upstream socket."""

    def __init__(self, relay: Relay, device: web.WebSocketResponse,
                 up: aiohttp.ClientWebSocketResponse, codec: str, transport,
                 packet_faults: list) -> None:
        self.relay = relay
        self.elog = relay.elog
        self.id = "relay_" + secrets.token_hex(6)
        self.device, self.up = device, up
        self.codec = codec
        self.transport = transport
        limit = relay.opts.relay_queue
        self.to_up: asyncio.Queue = asyncio.Queue(limit)
        self.to_device: asyncio.Queue = asyncio.Queue(limit)
        self.uplink = Uplink(8000) if codec == "opus" else None
        self.downlink = (Downlink(Impairment.from_faults(packet_faults), self._inject)
                         if codec == "opus" else None)
        self.counts = {"device_bytes_in": 0, "device_bytes_out": 0, "upstream_bytes_in": 0,
                       "upstream_bytes_out": 0, "interrupted_turns": 0,
                       "device_errors": 0}
        self.closed_by: str | None = None
        self.code: int | None = None
        self._done = asyncio.Event()

    def _inject(self, action: str, sequence: int) -> None:
        self.elog.write(self.id, "opus_inject", action=action, sequence=sequence)

    async def run(self) -> None:
        self.elog.write(self.id, "relay_open", codec=self.codec)
        tasks = [asyncio.ensure_future(c) for c in (
            self._read_device(), self._read_up(), self._write(self.to_up, self.up, "up"),
            self._write(self.to_device, self.device, "device"))]
        try:
            await self._done.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close_both()
            self._log_close()

    def _finish(self, closed_by: str, code: int) -> None:
        if self.closed_by is None:
            self.closed_by, self.code = closed_by, code
        self._done.set()

    async def shutdown(self, code: int, reason: str) -> None:
        self._finish("relay", code)

    async def _put(self, queue: asyncio.Queue, item, side: str) -> None:
        """Queues `item` for `side`. A full queue holds the reader back (so the other
        side is not read either: backpressure); one still full after --relay-stall-seconds
        means `side` stopped reading: it is closed (1008)."""
        try:
            queue.put_nowait(item)
            return
        except asyncio.QueueFull:
            pass
        try:
            await asyncio.wait_for(queue.put(item), self.relay.opts.relay_stall_seconds)
        except asyncio.TimeoutError:
            log.warning("[%s] %s stopped reading: closing it", self.id, side)
            self.elog.write(self.id, "relay_queue_full", side=side,
                            queued=queue.qsize())
            self._finish(f"{side}_not_reading", 1008)
            raise _Full() from None

    # device -> upstream
    async def _read_device(self) -> None:
        try:
            async for msg in self.device:
                if msg.type == WSMsgType.TEXT:
                    self.counts["device_bytes_in"] += len(msg.data.encode())
                    await self._from_device_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.counts["device_bytes_in"] += len(msg.data)
                    await self._from_device_binary(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        except _Full:
            return
        code = self.device.close_code
        await self._put_close(self.to_up, "device", code if code is not None else 1006)

    async def _from_device_text(self, data: str) -> None:
        if self.uplink is not None:
            try:
                mtype = json.loads(data).get("type")
            except (ValueError, AttributeError):
                mtype = None
            if mtype == "client.audio":
                self._device_error("text client.audio on an Opus profile socket")
                return
        await self._put(self.to_up, data, "up")

    async def _from_device_binary(self, data: bytes) -> None:
        if self.uplink is None:
            await self._put(self.to_up, bytes(data), "up")     # PCM: pure pass-through
            return
        try:
            pcm8k = self.uplink.feed(data)
        except opus.PacketError as exc:
            self._device_error(f"binary message: {exc}")
            return
        if pcm8k:
            await self._put(self.to_up, json.dumps(
                {"type": "client.audio", "content": base64.b64encode(pcm8k).decode()},
                separators=(",", ":")), "up")

    def _device_error(self, message: str) -> None:
        self.counts["device_errors"] += 1
        log.warning("[%s] device protocol error: %s", self.id, message)
        self.elog.write(self.id, "error", error=message)

    # upstream -> device
    async def _read_up(self) -> None:
        try:
            async for msg in self.up:
                if msg.type == WSMsgType.TEXT:
                    self.counts["upstream_bytes_in"] += len(msg.data.encode())
                    await self._from_up_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.counts["upstream_bytes_in"] += len(msg.data)
                    await self._put(self.to_device, bytes(msg.data), "device")
                elif msg.type == WSMsgType.ERROR:
                    break
        except _Full:
            return
        code = self.up.close_code
        # An upstream gone without a close frame: 1011, so the device reconnects.
        await self._put_close(self.to_device, "upstream",
                        1011 if code is None or code in UNSENDABLE else code)

    async def _from_up_text(self, data: str) -> None:
        down = self.downlink
        if down is None:
            await self._put(self.to_device, data, "device")
            return
        try:
            msg = json.loads(data)
        except ValueError:
            msg = None
        mtype = msg.get("type") if isinstance(msg, dict) else None
        if mtype == "response.audio":
            try:
                pcm16k = base64.b64decode(msg.get("content") or "", validate=True)
            except (binascii.Error, ValueError, TypeError):
                self.elog.write(self.id, "error", error="upstream response.audio with "
                                                        "bad base64 content: dropped")
                return
            for item in down.add(msg.get("turn_id"), msg.get("delta_id"), pcm16k):
                await self._put(self.to_device, item, "device")
            return
        if mtype == "turn.start":
            # A new turn, or a barge-in (the user's turn.start): what is left of an
            # assistant turn that did not end is dropped, never padded out and sent.
            if down.turn_id is not None:
                self.counts["interrupted_turns"] += 1
            down.drop_turn()
        elif mtype == "response.end" and down.turn_id is not None:
            for item in down.end_turn():
                await self._put(self.to_device, item, "device")
        await self._put(self.to_device, data, "device")

    async def _put_close(self, queue: asyncio.Queue, side: str, code: int) -> None:
        """A side closed: the other is closed with its code after what is queued."""
        try:
            await self._put(queue, ("close", side, code), "up" if side == "device" else "device")
        except _Full:
            pass

    async def _write(self, queue: asyncio.Queue, ws, side: str) -> None:
        counter = "upstream_bytes_out" if side == "up" else "device_bytes_out"
        while True:
            item = await queue.get()
            try:
                if isinstance(item, tuple):         # the other side closed
                    _, closed, code = item
                    self._finish(closed, code)
                    return
                if isinstance(item, dict):          # a delta mark
                    item = json.dumps(item, separators=(",", ":"))
                if isinstance(item, str):
                    await ws.send_str(item)
                    self.counts[counter] += len(item.encode())
                else:
                    await ws.send_bytes(item)
                    self.counts[counter] += len(item)
            except (ConnectionError, RuntimeError) as exc:
                log.info("[%s] send to %s failed: %r", self.id, side, exc)
                self._finish(f"{side}_gone", 1006)
                return

    async def _close_both(self) -> None:
        """The side that closed first decides the other's code (a code that cannot be
        sent becomes 1001 upstream, 1011 to the device: reconnect)."""
        by, code = self.closed_by, self.code or 1000
        if by == "device":
            up_code, dev_code = (1001 if code in UNSENDABLE else code), code
        elif by == "upstream":
            up_code, dev_code = code, code
        elif by == "device_not_reading":
            up_code, dev_code = 1001, 1008
        elif by == "up_not_reading":
            up_code, dev_code = 1008, 1011
        elif by == "device_gone":
            up_code, dev_code = 1001, 1001
        elif by == "up_gone":
            up_code, dev_code = 1001, 1011
        else:                                       # the relay shuts down
            up_code, dev_code = code, code
        await asyncio.gather(self._close(self.device, dev_code),
                             self._close(self.up, up_code))

    async def _close(self, ws, code: int) -> None:
        """Closes one side; one that does not complete the close handshake in time (it
        stopped reading, so even the close frame waits) has its connection cut."""
        if code in UNSENDABLE:
            code = 1011
        if ws.closed:
            return
        task = asyncio.ensure_future(ws.close(code=code))
        done, _ = await asyncio.wait([task], timeout=CLOSE_WAIT)
        if done:
            if not task.cancelled() and task.exception() is not None:
                log.info("[%s] close: %r", self.id, task.exception())
            return
        transport = self.transport if ws is self.device else _client_transport(ws)
        if transport is not None:
            transport.abort()
        done, _ = await asyncio.wait([task], timeout=CLOSE_WAIT)
        if not done:
            task.cancel()

    def _log_close(self) -> None:
        extra = {}
        if self.uplink is not None:
            up, down = self.uplink.stats, self.downlink.stats
            extra = {"opus_packets_in": up.packets, "opus_lost_in": up.lost,
                     "opus_concealed_in": up.concealed, "opus_late_in": up.late,
                     "opus_bad_in": up.bad, "opus_packets_out": down.packets,
                     "opus_dropped_out": down.dropped,
                     "opus_reordered_out": down.reordered, "opus_marks_out": down.marks}
        self.elog.write(self.id, "relay_close", codec=self.codec, closed_by=self.closed_by,
                        code=self.code, **self.counts, **extra)
        log.info("[%s] closed by %s (code %s)", self.id, self.closed_by, self.code)
