# SPDX-License-Identifier: Apache-2.0
"""The Opus wire profile end to end through the library (doc/opus-profile.md), against a
small in-test server that speaks it (the devserver's own support is tested with it): the
offer, the answer, binary packets both ways with their numbering, delta marks ->
replay_finished, loss concealed with FEC, and the stats. Packets are made and checked with
the system's libopus through ctypes (a tool we did not write)."""

from __future__ import annotations

import array
import asyncio
import ctypes
import ctypes.util
import json
import math
import struct
import threading
import time

import pytest

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402

import layercode  # noqa: E402

RATE, FRAME = 16000, 320
OPUS = ctypes.CDLL(ctypes.util.find_library("opus") or "libopus.so.0")
OPUS.opus_encoder_create.restype = ctypes.c_void_p
OPUS.opus_decoder_create.restype = ctypes.c_void_p
LOST = {20, 30, 31}
PACKETS = 60


def tone_packets(count):
    err = ctypes.c_int()
    enc = OPUS.opus_encoder_create(RATE, 1, 2048, ctypes.byref(err))
    for req, val in ((4012, 1), (4014, 20), (4002, 24000)):  # FEC on, 20 % loss, 24 kbit/s
        OPUS.opus_encoder_ctl(ctypes.c_void_p(enc), req, ctypes.c_int(val))
    out, buf = [], (ctypes.c_ubyte * 1275)()
    for k in range(count):
        pcm = (ctypes.c_short * FRAME)(*(int(8000 * math.sin(2 * math.pi * 300 * (k * FRAME + i) / RATE))
                                         for i in range(FRAME)))
        n = OPUS.opus_encode(ctypes.c_void_p(enc), pcm, FRAME, buf, 1275)
        out.append(bytes(buf[:n]))
    OPUS.opus_encoder_destroy(ctypes.c_void_p(enc))
    return out


class OpusServer:
    """Authorize + socket; answers Opus to an offer; plays one turn of PACKETS packets
    (LOST never sent) with a mark every 10 packets; records what the client sends."""

    def __init__(self, answer_opus=True):
        self.answer_opus = answer_opus
        self.bodies, self.uplink, self.texts = [], [], []
        self.replay = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.started.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/authorize", self.authorize)
        app.router.add_get("/ws", self.socket)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.started.set()
        self.loop.run_forever()

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def authorize(self, request):
        body = await request.json()
        self.bodies.append(body)
        config = {"transcription": {"trigger": "automatic", "can_interrupt": True},
                  "vad": {"enabled": False}}
        offered = "opus" in body.get("audio", {}).get("codecs", [])
        if offered and self.answer_opus:
            config["audio"] = {"codec": "opus", "sample_rate": 16000, "frame_ms": 20}
        return web.json_response({"client_session_key": "key", "conversation_id": "conv",
                                  "config": config})

    async def socket(self, request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        opus = bool(self.bodies) and "audio" in self.bodies[-1] and self.answer_opus
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.uplink.append(msg.data)
                continue
            data = json.loads(msg.data)
            self.texts.append(data)
            if data["type"] == "client.ready" and opus:
                await ws.send_str(json.dumps({"type": "turn.start", "role": "assistant", "turn_id": "t-1"}))
                for seq, packet in enumerate(tone_packets(PACKETS)):
                    if seq % 10 == 9:
                        await ws.send_str(json.dumps({"type": "response.audio.opus", "turn_id": "t-1",
                                                      "delta_id": f"d-{seq // 10 + 1}", "sequence": seq}))
                    if seq not in LOST:
                        await ws.send_bytes(struct.pack(">BBII", 1, 0, seq, seq * FRAME) + packet)
                await ws.send_str(json.dumps({"type": "response.end", "turn_id": "t-1"}))
            if data["type"] == "trigger.response.audio.replay_finished":
                self.replay.set()
        return ws

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def server():
    servers = []

    def make(**kw):
        servers.append(OpusServer(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


def run_session(srv, seconds=4.0, **options):
    configs = []
    client = layercode.Client("agent", srv.url + "/authorize", ws_url=f"ws://127.0.0.1:{srv.port}/ws",
                              input_sample_rate=16000, output_sample_rate=16000,
                              on_connected=lambda cid, config: configs.append(config), **options)
    try:
        client.connect()
        assert client.wait_connected(10)
        played = array.array("h")
        mic = array.array("h", (int(4000 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(FRAME)))
        deadline = time.monotonic() + seconds
        next_tick = time.monotonic()
        while time.monotonic() < deadline and not srv.replay.is_set():
            client.write_audio(mic)
            played.frombytes(client.read_audio(FRAME))
            next_tick += 0.02
            time.sleep(max(0.0, next_tick - time.monotonic()))
        time.sleep(0.2)
        return client.stats(), configs, played
    finally:
        client.close()


def test_opus_socket_carries_numbered_packets_both_ways_and_conceals_loss(server):
    srv = server()
    stats, configs, played = run_session(srv, codecs="opus,pcm16")
    assert srv.bodies[0]["audio"] == {"codecs": ["opus", "pcm16"]}
    assert configs and configs[0]["audio"]["codec"] == "opus"
    # Uplink: binary packets only, numbered 0, 1, 2, ... 320 samples apart (no gating).
    assert not [t for t in srv.texts if t["type"] == "client.audio"]
    assert len(srv.uplink) >= 20
    heads = [struct.unpack(">BBII", p[:10]) for p in srv.uplink]
    assert all(v == 1 and f == 0 for v, f, _, _ in heads)
    assert [s for _, _, s, _ in heads] == list(range(len(heads)))
    assert [t for _, _, _, t in heads] == [k * FRAME for k in range(len(heads))]
    err = ctypes.c_int()
    dec = OPUS.opus_decoder_create(RATE, 1, ctypes.byref(err))
    out = (ctypes.c_short * FRAME)()
    for p in srv.uplink:
        body = (ctypes.c_ubyte * (len(p) - 10)).from_buffer_copy(p[10:])
        assert OPUS.opus_decode(ctypes.c_void_p(dec), body, len(p) - 10, out, FRAME, 0) == FRAME
    OPUS.opus_decoder_destroy(ctypes.c_void_p(dec))
    # Downlink: played, lost packets concealed (FEC where the next one came), the last
    # marked delta reported.
    assert srv.replay.is_set()
    replay = [t for t in srv.texts if t["type"] == "trigger.response.audio.replay_finished"]
    assert replay[-1]["turn_id"] == "t-1" and replay[-1]["last_delta_id_played"] == "d-6"
    assert stats.wire_codec == 1
    assert stats.fec_recovered_frames >= 2   # 20 and 31 (30's next packet was lost too)
    assert stats.concealed_ms >= 60
    assert stats.wire_bytes_sent > 0 and stats.wire_bytes_received > 0
    assert max(abs(s) for s in played) > 4000


def test_without_an_offer_the_socket_stays_pcm_json(server):
    srv = server()
    stats, configs, _ = run_session(srv, seconds=1.0)
    assert "audio" not in srv.bodies[0]
    assert "audio" not in configs[0]
    assert stats.wire_codec == 0
    assert not srv.uplink
    assert [t for t in srv.texts if t["type"] == "client.audio"]


def test_an_offer_answered_without_opus_keeps_pcm_json(server):
    srv = server(answer_opus=False)
    stats, configs, _ = run_session(srv, seconds=1.0, codecs=["opus", "pcm16"])
    assert srv.bodies[0]["audio"] == {"codecs": ["opus", "pcm16"]}
    assert configs[0]["audio"]["codec"] == "pcm16"
    assert stats.wire_codec == 0
    assert not srv.uplink
    assert [t for t in srv.texts if t["type"] == "client.audio"]


def test_unknown_codec_is_refused_naming_it():
    with pytest.raises(layercode.InvalidArgumentError, match="g729"):
        layercode.Client("agent", "http://127.0.0.1:9/authorize", codecs="opus,g729")
