# SPDX-License-Identifier: Apache-2.0
"""The side-by-side benchmark's Python client on our bindings (bindings/python), external
audio, paced like bench/peers/ext_client.c: every 20 ms on an absolute timeline it writes
20 ms of 48 kHz microphone audio (a raw s16le file, looped) and reads 20 ms of 16 kHz agent
audio, which it discards. The microphone is never gated (vad.gate_audio false).

usage: py_bindings_client.py AUTHORIZE_URL WS_URL SECONDS SPEECH.raw
SECONDS counts from the session's open; at the end one JSON line of the library's counters.
"""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
os.environ.setdefault("LAYERCODE_LIBRARY", os.path.join(ROOT, "build", "lib", "liblayercode.so"))

import layercode  # noqa: E402

IN_RATE, OUT_RATE, FRAME_MS = 48000, 16000, 20


def main() -> int:
    authorize_url, ws_url, seconds, speech_path = sys.argv[1:5]
    with open(speech_path, "rb") as f:
        speech = f.read()
    in_bytes = IN_RATE * FRAME_MS // 1000 * 2
    speech = speech[: len(speech) // in_bytes * in_bytes]  # whole frames, looped
    out = bytearray(OUT_RATE * FRAME_MS // 1000 * 2)
    client = layercode.Client("tone", authorize_url, ws_url=ws_url,
                              metadata={"vad": {"gate_audio": False}},
                              input_sample_rate=IN_RATE, output_sample_rate=OUT_RATE,
                              # Like the C client: no level events (the bindings install every
                              # callback, so the library would measure levels for nobody).
                              amplitude_rate_hz=0, event_queue_size=0)
    with client:
        client.connect().wait_connected(timeout=10)
        frames = int(float(seconds) * 1000 / FRAME_MS)
        period = FRAME_MS / 1000
        pos = 0
        deadline = time.monotonic()
        live = (layercode.Status.CONNECTED, layercode.Status.RECONNECTING)
        for _ in range(frames):
            if client.status not in live:
                break
            client.write_audio(speech[pos:pos + in_bytes])
            pos = (pos + in_bytes) % len(speech)
            client.read_audio_into(out)
            deadline += period
            delay = deadline - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        s = client.stats()
    print(json.dumps({"event": "stats", "final": True,
                      "audio_frames_sent": s.audio_frames_sent,
                      "audio_frames_received": s.audio_frames_received,
                      "received_samples": s.audio_bytes_received // 2,
                      "played_samples": s.played_samples,
                      "underrun_samples": s.underrun_samples,
                      "uplink_p50_us": s.uplink_latency_p50_us,
                      "uplink_p99_us": s.uplink_latency_p99_us}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
