# SPDX-License-Identifier: Apache-2.0
"""A minimal Python Layercode client written the way the public Python examples do it:
websockets + numpy, the authorize POST to the backend, then the session socket; 100 ms
`client.audio` chunks of 8 kHz PCM16 (downsampled from the 48 kHz microphone with numpy),
and every `response.audio` base64-decoded into a numpy array (the "speaker" drops it after
counting its samples). Uplink paced on an absolute timeline with asyncio.sleep.

usage: minimal_client.py AUTHORIZE_URL WS_URL SECONDS SPEECH48K.wav
SECONDS counts from the socket's open; at the end one JSON line of counters.
"""
import asyncio
import base64
import json
import sys
import time
import urllib.request
import wave

import numpy as np
import websockets

CHUNK_MS = 100
WIRE_RATE = 8000


def authorize(url: str) -> dict:
    """POST {"agent_id"} to the backend's authorize endpoint (blocking, before the loop)."""
    body = json.dumps({"agent_id": "tone"}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def load_speech(path: str) -> np.ndarray:
    """The microphone: 48 kHz mono PCM16 WAV, downsampled to 8 kHz (mean of 6)."""
    with wave.open(path, "rb") as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    factor = rate // WIRE_RATE
    pcm = pcm[: len(pcm) // factor * factor].reshape(-1, factor).mean(axis=1)
    return pcm.astype(np.int16)


async def run(ws_url: str, key: str, seconds: float, speech: np.ndarray) -> dict:
    counters = {"audio_chunks_sent": 0, "audio_chunks_received": 0, "received_samples": 0,
                "played_samples": 0}
    chunk = WIRE_RATE * CHUNK_MS // 1000
    async with websockets.connect(f"{ws_url}?client_session_key={key}",
                                  max_size=None) as ws:
        await ws.send(json.dumps({"type": "client.ready"}))

        async def receive() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "response.audio":
                    pcm = base64.b64decode(msg["content"])
                    counters["audio_chunks_received"] += 1
                    counters["received_samples"] += len(pcm) // 2
                    pcm = np.frombuffer(pcm, dtype=np.int16)
                    counters["played_samples"] += len(pcm)

        receiver = asyncio.create_task(receive())
        start = time.monotonic()
        pos = 0
        for n in range(int(seconds * 1000 / CHUNK_MS)):
            if receiver.done():
                break
            piece = speech[pos:pos + chunk]
            pos = (pos + chunk) % (len(speech) - chunk)
            await ws.send(json.dumps({"type": "client.audio",
                                      "content": base64.b64encode(piece.tobytes()).decode()}))
            counters["audio_chunks_sent"] += 1
            await asyncio.sleep(max(0.0, start + (n + 1) * CHUNK_MS / 1000 - time.monotonic()))
        receiver.cancel()
    return counters


def main() -> int:
    authorize_url, ws_url, seconds, speech_path = sys.argv[1:5]
    speech = load_speech(speech_path)
    session = authorize(authorize_url)
    counters = asyncio.run(run(ws_url, session["client_session_key"], float(seconds), speech))
    print(json.dumps({"event": "stats", "final": True, **counters}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
