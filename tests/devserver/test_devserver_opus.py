# SPDX-License-Identifier: Apache-2.0
"""The devserver's Opus profile (doc/opus-profile.md, `--codecs opus,pcm16`): negotiation,
the uplink decoded with concealment, the agent's packets with their delta marks, and the
downlink loss/reorder faults. A small Python client (opus_client.py) speaks the profile."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys

import pytest

from devserver_harness import (DEVSERVER, Client, Server, api_headers, audio_of, of_type,
                               run)
from opus_client import (OpusClient, decode_all, is_type, packets, tone16k,
                         tone_match)

import faultinject  # noqa: E402  (tools/devserver, put on sys.path by the harness)
import opus  # noqa: E402
import opuslink  # noqa: E402


@pytest.fixture(scope="module")
def osrv(tmp_path_factory):
    """Opus offered; instant audio in 30 ms chunks (deltas end mid-packet)."""
    server = Server(tmp_path_factory.mktemp("osrv"), "--codecs", "opus,pcm16",
                    "--audio-speed", "0", "--audio-chunk-ms", "30",
                    "--tone-seconds", "1.01")
    yield server
    server.stop()
    assert "Traceback" not in server.stderr(), server.stderr()


async def open_opus(server: Server, **kw) -> OpusClient:
    return await OpusClient.open(server.ready["layercode_authorize_url"],
                                 server.ready["ws"], headers=api_headers(), **kw)


def ws_close(server: Server, session: str | None = None) -> dict:
    return server.wait_event(lambda e: e["kind"] == "ws_close"
                             and (session is None or e["session"] == session))


def last_session(server: Server) -> str:
    """The session of the socket opened last (each test opens its own, in turn)."""
    return [e for e in server.events() if e["kind"] == "ws_open"][-1]["session"]


# ---- units ---------------------------------------------------------------------------

def test_packet_header_pack_and_unpack():
    message = opus.pack(0xFFFFFFFF, 320 * 7, b"\x01\x02")
    assert message[:10] == bytes([1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x08, 0xC0])
    assert opus.unpack(message) == (0xFFFFFFFF, 2240, b"\x01\x02")
    assert opus.unpack(bytes([1, 0x80]) + bytes(8) + b"x") == (0, 0, b"x")  # flags ignored
    for bad in (b"", bytes(10), bytes([2, 0]) + bytes(8) + b"x",
                bytes([1, 0]) + bytes(8) + bytes(1276)):
        with pytest.raises(opus.PacketError):
            opus.unpack(bad)


def test_encoder_and_decoder_round_trip_a_tone():
    enc, dec = opus.Encoder(), opus.Decoder(16000)
    pcm = tone16k(0.4, 500)
    out = b"".join(dec.decode(enc.encode(pcm[i:i + 640])) for i in range(0, len(pcm), 640))
    assert len(out) == len(pcm)
    assert tone_match(out[3200:], 500, 16000) > 0.9
    assert len(dec.decode(None)) == 640                     # PLC: one 20 ms frame
    assert len(opus.Decoder(8000).decode(enc.encode(pcm[:640]))) == 320


def test_downlink_packets_carry_fec():
    """A lost packet where the audio changes is rebuilt by FEC from the next packet; PLC
    would extrapolate the old tone."""
    down = opuslink.Downlink()
    audio = (tone16k(0.2, 300) + tone16k(0.2, 700)) * 3
    pkts = [opus.unpack(m) for m in down.add("t", "d", audio) if isinstance(m, bytes)]
    dec = opus.Decoder(16000)
    for _, _, packet in pkts[:50]:                  # packet 50 (the switch to 700 Hz) lost
        dec.decode(packet)
    rebuilt = dec.decode(pkts[51][2], fec=True)
    assert tone_match(rebuilt, 700, 16000) > 0.5 > tone_match(rebuilt, 300, 16000)


def test_packet_fault_specs_are_checked():
    spec = faultinject.parse_cli("opus_loss:pct=20,seed=9")
    fault = faultinject.make_fault(spec)
    assert fault.stage == "packets" and fault["pct"] == 20.0 and fault["seed"] == 9
    for bad in ({"fault": "opus_loss", "pct": 101}, {"fault": "opus_reorder", "pct": -1},
                {"fault": "opus_loss", "at": "ready"}):
        with pytest.raises(faultinject.FaultError):
            faultinject.make_fault(bad)
    plan = faultinject.FaultPlan.parse([{"fault": "opus_loss"}, {"fault": "opus_reorder"},
                                        {"fault": "close_1000"}])
    assert [f.name for f in plan.all("packets")] == ["opus_loss", "opus_reorder"]
    assert plan.all("packets") == []              # times 1: the first socket only


def test_bad_codecs_flag_is_a_startup_error():
    proc = subprocess.run([sys.executable, str(DEVSERVER), "--codecs", "opus,mp3"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--codecs" in proc.stderr


# ---- negotiation ---------------------------------------------------------------------

def test_opus_offer_is_answered_and_logged(osrv):
    async def go():
        c = await open_opus(osrv, agent_id="tone", ready=False)
        await c.close()
        return c.auth
    auth = run(go())
    assert auth["config"]["audio"] == {"codec": "opus", "sample_rate": 16000,
                                       "frame_ms": 20}
    opened = osrv.wait_event(lambda e: e["kind"] == "ws_open"
                             and e["conversation_id"] == auth["conversation_id"])
    assert opened["codec"] == "opus"


def _pcm_tone_turn(server: Server, offer) -> tuple[dict, list[dict]]:
    async def go():
        c = await OpusClient.open(server.ready["layercode_authorize_url"],
                                  server.ready["ws"], headers=api_headers(),
                                  agent_id="tone", offer=offer)
        msgs = await c.until(is_type("response.end"))
        await c.close()
        return c.auth, msgs
    return run(go())


def test_no_offer_stays_pcm_byte_identical(osrv, tmp_path):
    plain = Server(tmp_path, "--audio-speed", "0", "--audio-chunk-ms", "30",
                   "--tone-seconds", "1.01")
    try:
        auth_plain, msgs_plain = _pcm_tone_turn(plain, None)
    finally:
        plain.stop()
    auth, msgs = _pcm_tone_turn(osrv, None)
    assert "audio" not in auth["config"]
    assert auth["config"] == auth_plain["config"]
    assert all(isinstance(m, dict) for m in msgs)           # no binary message at all
    assert b"".join(audio_of(msgs)) == b"".join(audio_of(msgs_plain))
    strip = [{k: v for k, v in m.items() if k not in ("turn_id", "delta_id")}
             for m in msgs]
    strip_plain = [{k: v for k, v in m.items() if k not in ("turn_id", "delta_id")}
                   for m in msgs_plain]
    assert strip == strip_plain


def test_pcm16_only_server_keeps_pcm_when_opus_is_offered(tmp_path):
    server = Server(tmp_path, "--codecs", "pcm16", "--audio-speed", "0")
    try:
        auth, msgs = _pcm_tone_turn(server, {"codecs": ["opus", "pcm16"]})
    finally:
        server.stop()
    assert "audio" not in auth["config"]
    assert all(isinstance(m, dict) for m in msgs) and audio_of(msgs)


def test_offer_preferring_pcm16_gets_pcm(osrv):
    auth, msgs = _pcm_tone_turn(osrv, {"codecs": ["pcm16", "opus"]})
    assert "audio" not in auth["config"]
    assert audio_of(msgs)


# ---- uplink --------------------------------------------------------------------------

def test_uplink_tone_is_decoded_and_echoed_back_as_opus(osrv):
    async def go():
        c = await open_opus(osrv, metadata={"greeting": False,
                                            "turn_mode": "push_to_talk"})
        await c.send(type="trigger.turn.start", role="user")
        lost = await c.send_audio(tone16k(1.0, 400), lose_every=7)
        await c.send(type="trigger.turn.end", role="user")
        msgs = await c.until(is_type("response.end"))
        await c.close()
        return lost, msgs
    lost, msgs = run(go())
    text = [m for m in msgs if isinstance(m, dict)]
    assert not [m for m in text if m["type"] == "response.audio"]
    echo = decode_all(packets(msgs))
    assert tone_match(echo[3200:-3200], 400, 16000) > 0.9
    assert tone_match(echo[3200:-3200], 650, 16000) < 0.1
    close = ws_close(osrv, last_session(osrv))
    # 50 frames, every 7th spent: 7 gaps, each concealed by one frame (FEC).
    assert lost == 7
    assert close["opus_packets_in"] == 43
    assert close["opus_lost_in"] == close["opus_concealed_in"] == 7
    assert close["audio_bytes_in"] == 50 * 320             # 1 s at 8 kHz, gaps filled


def test_uplink_pause_is_not_concealed_and_late_packets_are_dropped(osrv):
    async def go():
        c = await open_opus(osrv, metadata={"greeting": False,
                                            "turn_mode": "push_to_talk"})
        tone = tone16k(0.2, 400)
        await c.send(type="trigger.turn.start", role="user")
        await c.send_audio(tone)                            # seq 0-9
        c.ts += 320 * 100                                   # a 2 s pause: not loss
        await c.send_audio(tone)                            # seq 10-19
        await c.send_packet(tone[:640], seq=5)              # late: dropped
        await c.send(type="trigger.turn.end", role="user")
        await c.until(is_type("response.end"))
        await c.close()
    run(go())
    close = ws_close(osrv, last_session(osrv))
    assert close["opus_packets_in"] == 20
    assert close["opus_lost_in"] == close["opus_concealed_in"] == 0
    assert close["opus_late_in"] == 1
    assert close["audio_bytes_in"] == 20 * 320


def test_text_client_audio_and_bad_packets_on_an_opus_socket_are_errors(osrv):
    async def go():
        c = await open_opus(osrv, metadata={"greeting": False})
        await c.send(type="client.audio", content=base64.b64encode(bytes(320)).decode())
        await c.ws.send_bytes(bytes([2, 0]) + bytes(8) + b"x")     # version 2
        await c.ws.send_bytes(b"short")
        await c.send(type="client.response.data", data={"still": "here"})
        msgs = await c.until(is_type("response.data"))
        await c.close()
        return msgs
    msgs = run(go())
    assert msgs[-1]["content"] == {"echo": {"still": "here"}}
    session = last_session(osrv)
    errors = [e["error"] for e in osrv.events(session) if e["kind"] == "error"]
    assert any("text client.audio on an Opus profile socket" in e for e in errors)
    assert any("packet version 2" in e for e in errors)
    assert any("binary message of 5 bytes" in e for e in errors)
    assert ws_close(osrv, session)["opus_bad_in"] == 2


def test_binary_on_a_pcm_socket_stays_a_protocol_error(osrv):
    async def go():
        c = await Client.open(osrv, metadata={"greeting": False})
        await c.ws.send_bytes(opus.pack(0, 0, b"\xf8\xff\xfe"))
        await c.send(type="client.response.data", data=1)
        await c.until(of_type("response.data"))
        await c.close()
    run(go())
    session = last_session(osrv)
    assert any("binary frame" in e["error"] for e in osrv.events(session)
               if e["kind"] == "error")


# ---- downlink ------------------------------------------------------------------------

def test_delta_marks_precede_their_packets_and_name_the_right_deltas(osrv):
    """Tone of 1.01 s (16160 samples) in 30 ms deltas (480 samples): deltas end in the
    middle of packets; the last packet is padded."""
    async def go():
        c = await open_opus(osrv, agent_id="tone")
        msgs = await c.until(is_type("response.end"))
        await c.close()
        return msgs
    msgs = run(go())
    start = next(i for i, m in enumerate(msgs) if isinstance(m, dict)
                 and m["type"] == "turn.start" and m["role"] == "assistant")
    tid = msgs[start]["turn_id"]
    turn = msgs[start:]
    pkts = packets(turn)
    seqs = [p[0] for p in pkts]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len(pkts) == -(-16160 // 320) == 51                  # padded to whole packets
    assert all(b[1] - a[1] == 320 for a, b in zip(pkts, pkts[1:]))
    marks = [m for m in turn if isinstance(m, dict) and m["type"] == "response.audio.opus"]
    assert [m["delta_id"] for m in marks] == [f"{tid}-d{n}" for n in range(1, 35)]
    assert all(m["turn_id"] == tid for m in marks)
    for n, mark in enumerate(marks, 1):
        end_sample = min(480 * n, 16160) - 1
        assert mark["sequence"] == seqs[0] + end_sample // 320, mark
    received: set[int] = set()
    for m in turn:                    # each mark arrives before the packet it names
        if isinstance(m, tuple):
            received.add(m[0])
        elif m["type"] == "response.audio.opus":
            assert m["sequence"] not in received
    assert isinstance(turn[-2], tuple) and turn[-1]["type"] == "response.end"
    audio = decode_all(pkts)
    assert tone_match(audio[3200:16000], 440, 16000) > 0.9


def test_replay_finished_names_a_marked_delta(osrv):
    async def go():
        c = await open_opus(osrv, agent_id="tone")
        msgs = await c.until(is_type("response.end"))
        marks = [m for m in msgs if isinstance(m, dict)
                 and m["type"] == "response.audio.opus"]
        await c.send(type="trigger.response.audio.replay_finished",
                     turn_id=marks[-1]["turn_id"],
                     last_delta_id_played=marks[-1]["delta_id"])
        await c.send(type="client.response.data", data=0)
        await c.until(is_type("response.data"))
        await c.close()
    run(go())
    session = last_session(osrv)
    assert not [e for e in osrv.events(session) if e["kind"] == "error"]
    assert ws_close(osrv, session)["replay_finished"] == 1


def test_barge_in_stops_the_opus_turn_and_spends_no_sequence_numbers(tmp_path):
    server = Server(tmp_path, "--codecs", "opus,pcm16", "--audio-speed", "1.5",
                    "--tone-seconds", "3", "--no-greeting", "--audio-chunk-ms", "50")
    try:
        async def go():
            c = await open_opus(server, agent_id="tone",
                                metadata={"turn_mode": "push_to_talk"})
            await c.send(type="client.response.text", content="play")
            msgs = await c.until(lambda m: isinstance(m, tuple))
            msgs += await c.until(lambda m: isinstance(m, tuple))
            await c.send(type="trigger.turn.start", role="user")
            msgs += await c.until(lambda m: isinstance(m, dict) and
                                  m["type"] == "turn.start" and m["role"] == "user")
            after = []
            try:
                while True:
                    m = await c.recv(0.5)
                    if m is None:
                        break
                    after.append(m)
            except asyncio.TimeoutError:
                pass
            await c.send(type="trigger.turn.end", role="user")     # the next reply
            nxt = await c.until(lambda m: isinstance(m, tuple), timeout=10)
            await c.close()
            return msgs, after, nxt
        msgs, after, nxt = run(go())
        assert not packets(after)
        assert not [m for m in after if m.get("type") == "response.end"]
        assert not [m for m in msgs if isinstance(m, dict)
                    and m["type"] == "response.end"]
        # The interrupted turn spent no sequence numbers on packets it never sent.
        assert nxt[-1][0] == max(p[0] for p in packets(msgs)) + 1
    finally:
        server.stop()
