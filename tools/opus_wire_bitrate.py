#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The Opus profile's uplink on the wire versus Layercode's PCM JSON, over real speech.

Speaks a few sentences with espeak-ng, encodes them as liblayercode's uplink does
(libopus through ctypes: VOIP, 16 kHz mono, 20 ms, VBR, in-band FEC, 5 % expected loss,
complexity 5) at several bitrates, and prints for each: Opus bytes/s, bytes/s on the
wire (10-byte packet header + masked WebSocket frame header), the ratio to PCM JSON's
client.audio on the wire (8 kHz, base64 in JSON, masked frame), and the decoded speech's
SNR and correlation with the input (delay-aligned), and the encoder's CPU per 20 ms frame.
Used to choose opus_bitrate's and opus_complexity's defaults (README, "Opus wire profile").

    tools/opus_wire_bitrate.py [--complexity C[,C...]] [BITRATE ...]

Without --complexity: complexity 5 at several bitrates; with it: each complexity at each
bitrate (default 16000).
"""
import array
import base64
import ctypes
import ctypes.util
import math
import subprocess
import sys
import tempfile
import time
import wave

TEXT = ("Hello, this is the kiosk. I would like to book a table for four people tomorrow "
        "evening at half past seven, near the window if possible. Can you also tell me "
        "whether you have vegetarian options, and how long the drive from the station is?")
RATE, FRAME = 16000, 320
APP_VOIP, SET_BITRATE, SET_COMPLEXITY, SET_FEC, SET_LOSS, SET_VBR, GET_LOOKAHEAD = (
    2048, 4002, 4010, 4012, 4014, 4006, 4027)


def speech():
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-w", f.name, TEXT], check=True)
        with wave.open(f.name) as w:
            rate, raw = w.getframerate(), w.readframes(w.getnframes())
    pcm = array.array("h", raw)
    # espeak-ng speaks at 22050 Hz: linear resampling to 16 kHz is enough for a size figure.
    out = array.array("h", (pcm[min(len(pcm) - 1, int(i * rate / RATE))]
                            for i in range(len(pcm) * RATE // rate)))
    return out[: len(out) // FRAME * FRAME]


def ws_frame_bytes(payload):  # client to server: masked
    return payload + 4 + (2 if payload < 126 else 4 if payload < 65536 else 10)


def main():
    opus = ctypes.CDLL(ctypes.util.find_library("opus") or "libopus.so.0")
    opus.opus_encoder_create.restype = ctypes.c_void_p
    opus.opus_decoder_create.restype = ctypes.c_void_p
    pcm = speech()
    seconds = len(pcm) / RATE
    # PCM JSON: 8 kHz frames of 160 samples, base64 in {"type":"client.audio","content":...}.
    json_len = len('{"type":"client.audio","content":""}') + len(base64.b64encode(bytes(320)))
    pcm_wire = ws_frame_bytes(json_len) * 50
    print(f"speech: {seconds:.1f} s; PCM JSON uplink on the wire: {pcm_wire} B/s")
    args = sys.argv[1:]
    complexities = [5]
    if args[:1] == ["--complexity"]:
        complexities = [int(c) for c in args[1].split(",")]
        args = args[2:]
    bitrates = [int(b) for b in args] or ([12000, 16000, 20000, 24000] if complexities == [5] else [16000])
    print("bitrate  complexity  opus B/s  wire B/s  ratio  SNR dB  corr  encode us/frame")
    for bitrate, complexity in ((b, c) for b in bitrates for c in complexities):
        err = ctypes.c_int()
        enc = opus.opus_encoder_create(RATE, 1, APP_VOIP, ctypes.byref(err))
        dec = opus.opus_decoder_create(RATE, 1, ctypes.byref(err))
        for req, val in ((SET_BITRATE, bitrate), (SET_COMPLEXITY, complexity), (SET_FEC, 1), (SET_LOSS, 5),
                         (SET_VBR, 1)):
            opus.opus_encoder_ctl(ctypes.c_void_p(enc), req, ctypes.c_int(val))
        look = ctypes.c_int()
        opus.opus_encoder_ctl(ctypes.c_void_p(enc), GET_LOOKAHEAD, ctypes.byref(look))
        packet = (ctypes.c_ubyte * 1275)()
        out = (ctypes.c_short * FRAME)()
        payload = wire = 0
        encode_seconds = 0.0
        decoded = array.array("h")
        for start in range(0, len(pcm), FRAME):
            frame = (ctypes.c_short * FRAME)(*pcm[start:start + FRAME])
            t0 = time.perf_counter()
            n = opus.opus_encode(ctypes.c_void_p(enc), frame, FRAME, packet, 1275)
            encode_seconds += time.perf_counter() - t0
            payload += n
            wire += ws_frame_bytes(10 + n)
            opus.opus_decode(ctypes.c_void_p(dec), packet, n, out, FRAME, 0)
            decoded.extend(out)
        d = look.value
        ref, got = pcm[: len(pcm) - d], decoded[d:]
        sig = sum(x * x for x in ref)
        noise = sum((x - y) ** 2 for x, y in zip(ref, got))
        corr = sum(x * y for x, y in zip(ref, got)) / math.sqrt(sig * sum(y * y for y in got))
        frames = len(pcm) // FRAME
        print(f"{bitrate:7d}  {complexity:10d}  {payload / seconds:8.0f}  {wire / seconds:8.0f}  "
              f"{pcm_wire / (wire / seconds):5.1f}  {10 * math.log10(sig / max(noise, 1)):6.1f}  {corr:.3f}"
              f"  {1e6 * encode_seconds / frames:15.0f}")
        opus.opus_encoder_destroy(ctypes.c_void_p(enc))
        opus.opus_decoder_destroy(ctypes.c_void_p(dec))


if __name__ == "__main__":
    main()
