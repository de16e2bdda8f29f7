#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make bench-webhook`: spoken turns through the devserver's webhook bridge to the
example backend (examples/backend), timed, and the recogniser's word error rate.

A client streams espeak-ng questions as 8 kHz `client.audio` in real time, with silence
between them (a client that does not gate its microphone), and waits for each answer.
Per turn it prints:
- end of speech -> first agent audio, at the client: from the last speech frame sent to
  the first `response.audio` of the answer received (includes the server VAD's 600 ms
  of trailing silence that ends a turn);
- the server's `turn_latency`: from the end of the turn to the first audio sent, and its
  parts: recognition after the turn ended (`asr`), the webhook's time to its first
  event, the rest (speech synthesis of the first sentence, sending);
- what was recognised, and the word error rate against the question.
Results go to bench/results/webhook_latency.json as well.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from devserver_process import DevServer  # noqa: E402

SECRET = "bench-webhook-secret"
QUESTIONS = ["what is the weather today", "what time is it", "tell me a joke",
             "turn on the lights", "hello how are you", "what is the weather today",
             "tell me a joke", "what time is it", "turn off the lights",
             "thank you goodbye"]
FRAME = 320                       # 20 ms at 8 kHz, 16-bit


def speech8k(text: str, work: str) -> bytes:
    wav = os.path.join(work, "q.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", wav, text], check=True)
    raw = subprocess.run(["sox", wav, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed",
                          "-t", "raw", "-"], check=True, capture_output=True).stdout
    return raw[:len(raw) - len(raw) % FRAME]


def wer(ref: str, hyp: str) -> tuple[int, int]:
    """(edits, reference words): word-level Levenshtein distance."""
    r, h = ref.lower().split(), hyp.lower().split()
    d = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return d[len(h)], len(r)


class Backend:
    def __init__(self, env: dict) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "examples", "backend", "server.py"),
             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the example backend did not start")
        self.ready = json.loads(line)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def converse(server: DevServer, questions: list[bytes]) -> list[dict]:
    turns = []
    async with aiohttp.ClientSession() as http:
        async with http.post(server.ready["layercode_authorize_url"],
                             json={"agent_id": "bench"},
                             headers={"Authorization": "Bearer dev-api-key"}) as r:
            key = (await r.json())["client_session_key"]
        ws = await http.ws_connect(server.ws_url + "?client_session_key=" + key)
        await ws.send_json({"type": "client.ready"})
        inbox: asyncio.Queue = asyncio.Queue()

        async def reader():
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    inbox.put_nowait((time.monotonic(), json.loads(msg.data)))

        read = asyncio.ensure_future(reader())
        start = time.monotonic()
        sent = 0

        async def send(pcm: bytes) -> None:
            nonlocal sent
            for i in range(0, len(pcm), FRAME):
                due = start + sent * 0.02
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await ws.send_json({"type": "client.audio",
                                    "content": base64.b64encode(pcm[i:i + FRAME]).decode()})
                sent += 1

        async def until_end() -> dict:
            """Silence goes on (the microphone stays open) until the answer has ended."""
            seen = {}
            while True:
                while not inbox.empty():
                    t, m = inbox.get_nowait()
                    if m["type"] == "response.audio" and "first_audio" not in seen:
                        seen["first_audio"] = t
                    if m["type"] == "response.end":
                        await ws.send_json({"type": "trigger.response.audio.replay_finished",
                                            "reason": "completed", "turn_id": m["turn_id"]})
                        seen["end"] = t
                        return seen
                await send(bytes(FRAME))

        await until_end()                       # the greeting
        for q in questions:
            await send(bytes(FRAME * 25))
            await send(q)
            spoken_end = time.monotonic()
            seen = await until_end()
            turns.append({"client_ms": round((seen["first_audio"] - spoken_end) * 1000, 1)})
        await ws.close()
        read.cancel()
    return turns


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--no-phrases", action="store_true",
                    help="open recognition (the general model), not examples/backend's "
                         "phrases.txt")
    ap.add_argument("--out", default=None, help="default bench/results/"
                    "webhook_latency.json (webhook_latency_open.json with --no-phrases)")
    args = ap.parse_args()
    args.out = args.out or os.path.join(
        ROOT, "bench", "results",
        "webhook_latency_open.json" if args.no_phrases else "webhook_latency.json")
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            sys.exit(f"bench-webhook: {tool} is needed")
    texts = (QUESTIONS * (args.turns // len(QUESTIONS) + 1))[:args.turns]
    work = tempfile.mkdtemp(prefix="bench-webhook-")
    audio = [speech8k(t, work) for t in texts]
    env = dict(os.environ, LAYERCODE_WEBHOOK_SECRET=SECRET, LAYERCODE_API_KEY="unused")
    backend = Backend(env)
    phrases = [] if args.no_phrases else [
        "--asr-phrases", os.path.join(ROOT, "examples", "backend", "phrases.txt")]
    server = DevServer(Path(work) / "srv", "--webhook", backend.ready["agent"],
                       "--webhook-secret", SECRET, "--no-dashboard", *phrases)
    try:
        turns = asyncio.run(converse(server, audio))
        records = server.records()
    finally:
        server.stop()
        backend.stop()
    by_kind = {}
    for r in records:
        by_kind.setdefault(r["kind"], []).append(r)
    lat = by_kind.get("turn_latency", [])[-len(turns):]
    asr = by_kind.get("asr", [])[-len(turns):]
    requests = {r["request_id"]: r for r in by_kind.get("webhook_request", [])
                if r["event"] == "message"}
    first = {}
    for e in by_kind.get("webhook_event", []):
        if e["request_id"] in requests and e["request_id"] not in first:
            first[e["request_id"]] = e["ms"]
    first_ms = [first[k] for k in requests][-len(turns):]
    edits = words = 0
    print(f"{'turn':>4} {'client ms':>9} {'server ms':>9} {'asr ms':>7} {'webhook ms':>10}"
          "  recognised (reference)")
    for i, (t, text) in enumerate(zip(turns, texts)):
        t["server_ms"] = lat[i]["ms"] if i < len(lat) else None
        t["asr_ms"] = asr[i]["ms"] if i < len(asr) else None
        t["webhook_first_event_ms"] = first_ms[i] if i < len(first_ms) else None
        t["recognised"] = asr[i]["text"] if i < len(asr) else ""
        t["reference"] = text
        e, n = wer(text, t["recognised"])
        edits, words = edits + e, words + n
        print(f"{i + 1:>4} {t['client_ms']:>9} {t['server_ms']!s:>9} {t['asr_ms']!s:>7} "
              f"{t['webhook_first_event_ms']!s:>10}  {t['recognised']!r} ({text!r})")

    def p50(key):
        vals = [t[key] for t in turns if t.get(key) is not None]
        return round(statistics.median(vals), 1) if vals else None
    summary = {"turns": len(turns), "client_ms_p50": p50("client_ms"),
               "server_ms_p50": p50("server_ms"), "asr_ms_p50": p50("asr_ms"),
               "webhook_first_event_ms_p50": p50("webhook_first_event_ms"),
               "wer": round(edits / words, 3) if words else None,
               "engine": asr[0]["engine"] if asr else None,
               "phrases": not args.no_phrases}
    print(json.dumps(summary))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"summary": summary, "turns": turns}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
