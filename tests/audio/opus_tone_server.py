#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A minimal server speaking the Opus wire profile (doc/opus-profile.md), for tests that
need a long Opus session before the devserver's own profile is there: authorize answers
Opus to an offer (PCM JSON otherwise); on client.ready it streams one assistant turn of a
300 Hz tone as Opus packets in real time (libopus through ctypes), dropping every 17th
packet and swapping every 23rd pair so that the client conceals, recovers from FEC and
reorders. Prints one JSON line {"authorize_url", "ws"} once listening, like the devserver.

    opus_tone_server.py [--seconds S]
"""
import argparse
import asyncio
import ctypes
import ctypes.util
import json
import math
import struct

from aiohttp import WSMsgType, web

RATE, FRAME = 16000, 320
OPUS = ctypes.CDLL(ctypes.util.find_library("opus") or "libopus.so.0")
OPUS.opus_encoder_create.restype = ctypes.c_void_p


class ToneEncoder:
    def __init__(self):
        err = ctypes.c_int()
        self.enc = OPUS.opus_encoder_create(RATE, 1, 2048, ctypes.byref(err))
        for req, val in ((4012, 1), (4014, 10), (4002, 24000)):  # FEC, 10 % loss, 24 kbit/s
            OPUS.opus_encoder_ctl(ctypes.c_void_p(self.enc), req, ctypes.c_int(val))
        self.buf = (ctypes.c_ubyte * 1275)()
        self.k = 0

    def next(self):
        pcm = (ctypes.c_short * FRAME)(*(int(8000 * math.sin(2 * math.pi * 300 * (self.k * FRAME + i) / RATE))
                                         for i in range(FRAME)))
        self.k += 1
        n = OPUS.opus_encode(ctypes.c_void_p(self.enc), pcm, FRAME, self.buf, 1275)
        return bytes(self.buf[:n])


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    offered = {}

    async def authorize(request):
        body = await request.json()
        offered["opus"] = "opus" in body.get("audio", {}).get("codecs", [])
        config = {"transcription": {"trigger": "automatic", "can_interrupt": False},
                  "vad": {"enabled": False}}
        if offered["opus"]:
            config["audio"] = {"codec": "opus", "sample_rate": 16000, "frame_ms": 20}
        return web.json_response({"client_session_key": "k", "conversation_id": "c", "config": config})

    async def stream(ws):
        await ws.send_str(json.dumps({"type": "turn.start", "role": "assistant", "turn_id": "t-1"}))
        enc, held = ToneEncoder(), None
        loop = asyncio.get_running_loop()
        start = loop.time()
        for seq in range(int(args.seconds * 50)):
            message = struct.pack(">BBII", 1, 0, seq, seq * FRAME) + enc.next()
            if seq % 10 == 9:
                await ws.send_str(json.dumps({"type": "response.audio.opus", "turn_id": "t-1",
                                              "delta_id": f"d-{seq // 10}", "sequence": seq}))
            if seq % 17 == 16:
                continue
            if seq % 23 == 22:
                held = message
                continue
            await ws.send_bytes(message)
            if held is not None:
                await ws.send_bytes(held)
                held = None
            await asyncio.sleep(max(0.0, start + (seq + 1) * 0.02 - loop.time()))
        await ws.send_str(json.dumps({"type": "response.end", "turn_id": "t-1"}))

    async def socket(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        task = None
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and json.loads(msg.data).get("type") == "client.ready":
                if offered.get("opus") and task is None:
                    task = asyncio.create_task(stream(ws))
        if task:
            task.cancel()
        return ws

    app = web.Application()
    app.router.add_post("/authorize", authorize)
    app.router.add_get("/ws", socket)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(json.dumps({"authorize_url": f"http://127.0.0.1:{port}/authorize",
                      "ws": f"ws://127.0.0.1:{port}/ws"}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
