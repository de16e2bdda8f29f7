# SPDX-License-Identifier: Apache-2.0
"""A small Opus profile client (doc/opus-profile.md) for the devserver and relay tests:
aiohttp's WebSocket plus tools/devserver/opus.py."""

from __future__ import annotations

import array
import asyncio
import json
import math
import time

import aiohttp

import devserver_harness  # noqa: F401  (puts tools/devserver on sys.path)
import opus  # noqa: E402

OFFER = {"codecs": ["opus", "pcm16"]}


def tone16k(seconds: float, hz: float = 300.0, amp: float = 0.3) -> bytes:
    n = int(16000 * seconds)
    return array.array("h", (int(amp * 32767 * math.sin(2 * math.pi * hz * i / 16000))
                             for i in range(n))).tobytes()


def samples(data: bytes) -> array.array:
    a = array.array("h")
    a.frombytes(data)
    return a


def tone_match(pcm: bytes, hz: float, rate: int) -> float:
    """Normalised correlation of `pcm` with a sine of `hz` (best phase): ~1 for that
    tone, ~0 for anything else."""
    s = samples(pcm)
    if not s:
        return 0.0
    w = 2 * math.pi * hz / rate
    c = sum(v * math.cos(w * i) for i, v in enumerate(s))
    q = sum(v * math.sin(w * i) for i, v in enumerate(s))
    energy = sum(v * v for v in s)
    if energy == 0:
        return 0.0
    return math.sqrt(c * c + q * q) / math.sqrt(energy * len(s) / 2)


class OpusClient:
    """One socket: text messages as dicts, binary messages as (seq, ts, packet)."""

    def __init__(self, http, ws, auth: dict) -> None:
        self.http, self.ws, self.auth = http, ws, auth
        self.opus = auth.get("config", {}).get("audio", {}).get("codec") == "opus"
        self.seq = 0
        self.ts = 0
        self.encoder = opus.Encoder()
        self.wire_in = 0

    @classmethod
    async def open(cls, authorize_url: str, ws_url: str, *, headers: dict | None = None,
                   agent_id: str = "echo", metadata: dict | None = None,
                   offer: dict | None = OFFER, ready: bool = True, ssl_ctx=None,
                   conversation_id: str | None = None) -> "OpusClient":
        body = {"agent_id": agent_id, "metadata": metadata or {}}
        if offer is not None:
            body["audio"] = offer
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        http = aiohttp.ClientSession()
        try:
            async with http.post(authorize_url, json=body, headers=headers or {},
                                 ssl=ssl_ctx or True) as resp:
                auth = await resp.json(content_type=None)
                assert resp.status == 200, (resp.status, auth)
            ws = await http.ws_connect(ws_url + "?client_session_key="
                                       + auth["client_session_key"],
                                       ssl=ssl_ctx or True, max_msg_size=0)
        except BaseException:
            await http.close()
            raise
        client = cls(http, ws, auth)
        if ready:
            await client.send(type="client.ready")
        return client

    async def send(self, **msg) -> None:
        await self.ws.send_str(json.dumps(msg))

    async def send_packet(self, pcm16k_20ms: bytes, *, seq: int | None = None,
                          skip: int = 0) -> None:
        """One 20 ms frame as a packet; `skip` spends sequence numbers first (loss)."""
        self.seq += skip
        self.ts += 320 * skip
        packet = self.encoder.encode(pcm16k_20ms)
        await self.ws.send_bytes(opus.pack(self.seq if seq is None else seq, self.ts,
                                           packet))
        self.seq += 1
        self.ts += 320

    async def send_audio(self, pcm16k: bytes, lose_every: int = 0) -> int:
        """The audio as 20 ms packets; every `lose_every`th one is not sent (its
        sequence number is spent). How many were lost."""
        lost = 0
        for n, i in enumerate(range(0, len(pcm16k) - 639, 640), 1):
            if lose_every and n % lose_every == 0:
                self.encoder.encode(pcm16k[i:i + 640])
                self.seq += 1
                self.ts += 320
                lost += 1
                continue
            await self.send_packet(pcm16k[i:i + 640])
        return lost

    async def recv(self, timeout: float = 5.0):
        """Next message: a dict, a (seq, ts, packet) tuple, or None once closed."""
        msg = await self.ws.receive(timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            self.wire_in += len(msg.data.encode())
            return json.loads(msg.data)
        if msg.type == aiohttp.WSMsgType.BINARY:
            self.wire_in += len(msg.data)
            return opus.unpack(msg.data)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return None
        raise AssertionError(f"unexpected frame {msg.type}")

    async def until(self, pred, timeout: float = 10.0) -> list:
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {len(out)} messages: "
                                     f"{[m.get('type') for m in out if isinstance(m, dict)]}")
            msg = await self.recv(left)
            if msg is None:
                raise AssertionError("socket closed")
            out.append(msg)
            if pred(msg):
                return out

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


def is_type(mtype: str):
    return lambda m: isinstance(m, dict) and m.get("type") == mtype


def packets(messages: list) -> list[tuple[int, int, bytes]]:
    return [m for m in messages if isinstance(m, tuple)]


def decode_all(pkts: list[tuple[int, int, bytes]], rate: int = 16000) -> bytes:
    """The packets decoded in sequence order (PLC for missing ones)."""
    dec = opus.Decoder(rate)
    out = bytearray()
    expected = None
    for seq, _ts, packet in sorted(pkts):
        if expected is not None:
            for _ in range(seq - expected):
                out += dec.decode(None)
        out += dec.decode(packet)
        expected = seq + 1
    return bytes(out)


async def wait_closed(ws, timeout: float = 10.0) -> int | None:
    """Reads until the socket closes; its close code."""
    deadline = time.monotonic() + timeout
    while not ws.closed:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("socket did not close")
        try:
            msg = await ws.receive(left)
        except asyncio.TimeoutError:
            continue
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.ERROR):
            break
    return ws.close_code
