# SPDX-License-Identifier: Apache-2.0
"""One relayed session (relay.py): a device socket and its upstream socket, their bounded
queues, the Opus profile's conversion both ways, and how either side's end closes the
other (doc/opus-profile.md section 7)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import json
import logging
import secrets

import aiohttp
from aiohttp import WebSocketError, WSMsgType, web

import opus
from opuslink import OpusSocket

log = logging.getLogger("devserver.relay")

CLOSE_WAIT = 2.0          # a close handshake longer than this is cut short (abort)
UNSENDABLE = (1005, 1006, 1015)     # close codes that never travel in a close frame


def _client_transport(ws: aiohttp.ClientWebSocketResponse):
    """The transport under a client WebSocket (None once released)."""
    conn = getattr(getattr(ws, "_response", None), "connection", None)
    return getattr(conn, "transport", None)


MARK_BYTES = 128          # what a queued delta mark (a small dict) is counted as


class _Full(Exception):
    """A queue to a side is full: that side stopped reading."""


def _size(item) -> int:
    """The bytes a queued item holds (its wire size; a close marker holds none)."""
    if isinstance(item, str):
        return len(item) if item.isascii() else len(item.encode())
    if isinstance(item, (bytes, bytearray)):
        return len(item)
    if isinstance(item, dict):
        return MARK_BYTES
    return 0


class _Queue:
    """One direction's queue, bounded in items and in bytes: an item that does not fit
    waits until the writer has taken enough. An empty queue takes any one item (a
    message over the byte cap still goes, alone; the sockets' max message sizes bound
    it). One producer and one consumer."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self.bytes = 0
        self.peak_bytes = 0
        self._items: collections.deque = collections.deque()
        self._taken = asyncio.Event()
        self._added = asyncio.Event()

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item) -> bool:
        size = _size(item)
        if self._items and (len(self._items) >= self.max_items
                            or self.bytes + size > self.max_bytes):
            return False
        self._items.append((item, size))
        self.bytes += size
        self.peak_bytes = max(self.peak_bytes, self.bytes)
        self._added.set()
        return True

    async def put(self, item) -> None:
        while not self.put_nowait(item):
            self._taken.clear()
            await self._taken.wait()

    async def get(self):
        while not self._items:
            self._added.clear()
            await self._added.wait()
        item, size = self._items.popleft()
        self.bytes -= size
        self._taken.set()
        return item


class Bridge:
    """One device socket and its upstream socket."""

    def __init__(self, relay, device: web.WebSocketResponse,
                 up: aiohttp.ClientWebSocketResponse, codec: str, transport,
                 packet_faults: list) -> None:
        self.relay = relay
        self.elog = relay.elog
        self.id = "relay_" + secrets.token_hex(6)
        self.device, self.up = device, up
        self.codec = codec
        self.transport = transport
        items, max_bytes = relay.opts.relay_queue, relay.opts.relay_queue_bytes
        self.to_up = _Queue(items, max_bytes)
        self.to_device = _Queue(items, max_bytes)
        self.opus = OpusSocket(packet_faults, self._inject) if codec == "opus" else None
        self.uplink = self.opus.uplink if self.opus else None
        self.downlink = self.opus.downlink if self.opus else None
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
        tasks = [asyncio.ensure_future(self._guarded(c)) for c in (
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

    async def _guarded(self, coro) -> None:
        """A pump that fails ends the session (1011 both ways), never leaves it hanging."""
        try:
            await coro
        except (asyncio.CancelledError, _Full):
            raise
        except Exception as exc:
            log.exception("[%s] internal error", self.id)
            self.elog.write(self.id, "error", error=f"internal relay error: {exc!r}",
                            internal=True)
            self._finish("relay", 1011)

    def _finish(self, closed_by: str, code: int) -> None:
        if self.closed_by is None:
            self.closed_by, self.code = closed_by, code
        self._done.set()

    async def shutdown(self, code: int, reason: str) -> None:
        self._finish("relay", code)

    async def _put(self, queue: _Queue, item, side: str) -> None:
        """Queues `item` for `side`. A full queue (--relay-queue items or
        --relay-queue-bytes bytes) holds the reader back (so the other side is not read
        either: backpressure); one still full after --relay-stall-seconds means `side`
        stopped reading: it is closed (1008)."""
        if queue.put_nowait(item):
            return
        try:
            await asyncio.wait_for(queue.put(item), self.relay.opts.relay_stall_seconds)
        except asyncio.TimeoutError:
            log.warning("[%s] %s stopped reading: closing it", self.id, side)
            self.elog.write(self.id, "relay_queue_full", side=side,
                            queued=queue.qsize(), queued_bytes=queue.bytes)
            self._finish(f"{side}_not_reading", 1008)
            raise _Full() from None

    # device -> upstream
    async def _read_device(self) -> None:
        error = None
        try:
            async for msg in self.device:
                if msg.type == WSMsgType.TEXT:
                    self.counts["device_bytes_in"] += len(msg.data.encode())
                    await self._from_device_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.counts["device_bytes_in"] += len(msg.data)
                    await self._from_device_binary(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    error = msg.data
                    break
        except _Full:
            return
        code = self.device.close_code
        # The relay ended the device's socket: no pong within the heartbeat (a device
        # gone without a FIN), or a message it may not send (1009 over the size cap,
        # 1002, 1007). Either way the device is gone: the upstream gets 1001.
        error = self.device.exception() or error
        closed = "device"
        if isinstance(error, asyncio.TimeoutError):
            closed = "device_timeout"
        elif isinstance(error, WebSocketError):
            closed, code = "device_error", error.code      # what the device was sent
        if closed != "device":
            log.warning("[%s] device socket ended by the relay: %s", self.id, error)
        await self._put_close(self.to_up, closed, code if code is not None else 1006)

    async def _from_device_text(self, data: str) -> None:
        if self.uplink is not None:
            try:
                mtype = json.loads(data).get("type")
            except (ValueError, AttributeError, RecursionError):
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
                elif msg.type == WSMsgType.BINARY and self.downlink is not None:
                    # Not Layercode's protocol, and on an Opus socket a device would
                    # take it for an audio packet: dropped.
                    self.counts["upstream_bytes_in"] += len(msg.data)
                    self.elog.write(self.id, "error", error="upstream sent a binary "
                                    f"message ({len(msg.data)} bytes): dropped")
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
        except (ValueError, RecursionError):
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
            if down.active:
                self.counts["interrupted_turns"] += 1
            down.drop_turn()
        elif mtype == "response.end" and down.active:
            for item in down.end_turn():
                await self._put(self.to_device, item, "device")
        await self._put(self.to_device, data, "device")

    async def _put_close(self, queue: _Queue, side: str, code: int) -> None:
        """A side closed: the other is closed with its code after what is queued."""
        try:
            await self._put(queue, ("close", side, code),
                            "up" if side.startswith("device") else "device")
        except _Full:
            pass

    async def _write(self, queue: _Queue, ws, side: str) -> None:
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
        elif by in ("device_timeout", "device_error"):    # the relay ended the device
            up_code, dev_code = 1001, code
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
        extra = self.opus.counters() if self.opus is not None else {"codec": self.codec}
        self.elog.write(self.id, "relay_close", closed_by=self.closed_by, code=self.code,
                        **self.counts, up_queue_peak_bytes=self.to_up.peak_bytes,
                        device_queue_peak_bytes=self.to_device.peak_bytes, **extra)
        log.info("[%s] closed by %s (code %s)", self.id, self.closed_by, self.code)
