#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make soak: a long full-duplex session through the real library against the devserver,
with the user barging in every 10 s, watching the memory of the process the library runs in.

The client (Python bindings, build/lib/liblayercode.so) runs in external-audio mode and this
script is its microphone and speaker, paced in real time: every 20 ms it writes 20 ms of
microphone audio (silence, or a 1.5 s voiced burst every SOAK_BARGE_IN_SECONDS) and reads
20 ms of agent audio. The devserver's tone agent answers every user turn with a 12 s tone
sent at real-time pace, longer than the gap between bursts, so each burst talks over agent
audio that is playing: the server sees the user speak and sends turn.start{user}, the
client drops the rest of the agent's turn (a barge-in), and the agent answers again.

VmRSS of this process (/proc/self/status) is sampled every second. The growth is measured
from the end of the warm-up (SOAK_WARMUP_SECONDS: the library's bounded buffers and queues
fill, the allocator settles) to the end. The Python event queue of the bindings is turned
off (event_queue_size=0, the script uses callbacks), so the script itself keeps nothing
that grows but the list of RSS samples.

Environment:
  SOAK_SECONDS          session length (default 300)
  SOAK_WARMUP_SECONDS   growth is measured from here (default 30)
  SOAK_BARGE_IN_SECONDS time between user bursts (default 10)
  SOAK_MAX_GROWTH_KB    fail at this growth or more (default 1024)
  SOAK_OUT              where the devserver log and soak.json go (default build/soak)

Exits 1 if RSS grew by SOAK_MAX_GROWTH_KB or more after the warm-up, or if the session did
not do what it says (it disconnected or failed, or a burst raised no turn.start{user}, or no
barge-in interrupted agent audio); 2 on a setup problem.
"""
from __future__ import annotations

import array
import json
import math
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bindings" / "python"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("LAYERCODE_LIBRARY", str(ROOT / "build" / "lib" / "liblayercode.so"))

import layercode  # noqa: E402
from devserver_process import DevServer  # noqa: E402

RATE = 16000
CHUNK = 320                      # 20 ms
TICK = CHUNK / RATE
BURST_SECONDS = 1.5
TONE_SECONDS = 12.0
FIRST_BURST = 5.0                # into the greeting tone


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def voiced_burst(seconds: float) -> bytes:
    """A speech-like burst (200 Hz with harmonics, 4 Hz syllables), loud enough for the
    devserver's energy VAD."""
    out = array.array("h")
    for i in range(int(seconds * RATE)):
        t = i / RATE
        env = 0.5 - 0.5 * math.cos(2 * math.pi * 4 * t)
        v = sum(math.sin(2 * math.pi * 200 * k * t) / k for k in (1, 2, 3))
        out.append(int(9000 * (0.3 + 0.7 * env) * v))
    return out.tobytes()


def wait_tick(next_tick: float) -> float:
    """The real-time pace of the audio loops: sleeps until next_tick + TICK and returns it;
    a loop that has fallen behind gets now instead (no burst to catch up)."""
    next_tick += TICK
    delay = next_tick - time.monotonic()
    if delay > 0:
        time.sleep(delay)
        return next_tick
    return time.monotonic()


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class Counters:
    """Written by the library's callbacks (loop thread), read by the pump."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.agent_speaking = False
        self.user_turns = 0
        self.assistant_turns = 0
        self.barge_ins = 0           # turn.start{user} while agent audio was playing
        self.messages = 0
        self.failures: list[str] = []

    def on_message(self, message: dict) -> None:
        with self.lock:
            self.messages += 1
            if message.get("type") != "turn.start":
                return
            if message.get("role") == "user":
                self.user_turns += 1
                if self.agent_speaking:
                    self.barge_ins += 1
            elif message.get("role") == "assistant":
                self.assistant_turns += 1

    def on_agent_speaking(self, speaking: bool) -> None:
        with self.lock:
            self.agent_speaking = speaking

    def on_disconnected(self, code: int, detail: str) -> None:
        with self.lock:
            self.failures.append(f"disconnected: {code} {detail}")

    def on_error(self, error: BaseException) -> None:
        with self.lock:
            self.failures.append(f"error: {error}")


def main() -> int:
    seconds = env_number("SOAK_SECONDS", 300)
    warmup = env_number("SOAK_WARMUP_SECONDS", 30)
    gap = env_number("SOAK_BARGE_IN_SECONDS", 10)
    max_growth_kb = env_number("SOAK_MAX_GROWTH_KB", 1024)
    out_dir = Path(os.environ.get("SOAK_OUT", ROOT / "build" / "soak"))
    if warmup >= seconds:
        print("soak: SOAK_WARMUP_SECONDS must be shorter than SOAK_SECONDS", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)

    server = DevServer(out_dir / "devserver", "--tone-seconds", str(TONE_SECONDS),
                       "--audio-speed", "1.0")
    counters = Counters()
    burst = voiced_burst(BURST_SECONDS)
    silence = bytes(2 * CHUNK)
    speaker = bytearray(2 * CHUNK)
    samples: list[tuple[float, int]] = []
    bursts = 0
    agent_samples = 0
    try:
        client = layercode.Client(
            "tone", server.authorize_url, ws_url=server.ws_url, audio="external",
            event_queue_size=0, on_message=counters.on_message,
            on_agent_speaking=counters.on_agent_speaking,
            on_disconnected=counters.on_disconnected, on_error=counters.on_error)
        client.connect().wait_connected(30)
        print(f"soak: {seconds:.0f} s full duplex against {server.ws_url}, a barge-in every "
              f"{gap:g} s, RSS growth measured after {warmup:g} s (pid {os.getpid()})",
              flush=True)
        start = time.monotonic()
        next_tick = start
        next_burst = start + FIRST_BURST
        next_sample = start
        last_burst_start = start + seconds - 5.0  # leave time for the last turn.start
        burst_pos = len(burst)
        while True:
            now = time.monotonic()
            if now - start >= seconds:
                break
            if now >= next_burst and now <= last_burst_start:
                burst_pos = 0
                bursts += 1
                next_burst += gap
            if burst_pos < len(burst):
                chunk = burst[burst_pos:burst_pos + 2 * CHUNK]
                burst_pos += len(chunk)
                if len(chunk) < 2 * CHUNK:
                    chunk += silence[len(chunk):]
            else:
                chunk = silence
            client.write_audio(chunk)
            agent_samples += client.read_audio_into(speaker)
            if now >= next_sample:
                samples.append((round(now - start, 2), rss_kb()))
                next_sample += 1.0
                with counters.lock:
                    if counters.failures:
                        break
                if len(samples) % 30 == 0:
                    with counters.lock:
                        print(f"soak: {now - start:5.0f} s  RSS {samples[-1][1]} kB  "
                              f"bursts {bursts}  user turns {counters.user_turns}  "
                              f"barge-ins {counters.barge_ins}", flush=True)
            next_tick = wait_tick(next_tick)
        elapsed = time.monotonic() - start
        stats = client.stats()
        client.close()
    finally:
        server.stop()

    after_warmup = [kb for t, kb in samples if t >= warmup]
    if not after_warmup:
        print("soak: no RSS sample after the warm-up", file=sys.stderr)
        return 1
    rss_warm, rss_end = after_warmup[0], samples[-1][1]
    growth = rss_end - rss_warm
    peak = max(kb for _, kb in samples)
    with counters.lock:
        c = {k: getattr(counters, k) for k in
             ("user_turns", "assistant_turns", "barge_ins", "messages", "failures")}
    summary = {
        "seconds": round(elapsed, 1), "warmup_seconds": warmup,
        "rss_kb_start": samples[0][1], "rss_kb_after_warmup": rss_warm,
        "rss_kb_end": rss_end, "rss_kb_peak": peak, "rss_growth_kb": growth,
        "max_growth_kb": max_growth_kb, "bursts": bursts, **c,
        "agent_samples_played": agent_samples,
        "audio_bytes_sent": stats.audio_bytes_sent,
        "audio_bytes_received": stats.audio_bytes_received,
        "messages_sent": stats.messages_sent, "messages_received": stats.messages_received,
        "barge_in_latency_p50_us": stats.barge_in_latency_p50_us,
        "barge_in_latency_p99_us": stats.barge_in_latency_p99_us,
        "underrun_samples": stats.underrun_samples, "reconnects": stats.reconnects,
        "rss_samples": samples,
    }
    (out_dir / "soak.json").write_text(json.dumps(summary, indent=1))

    print(f"soak: {elapsed:.0f} s, RSS {samples[0][1]} kB at start, {rss_warm} kB after the "
          f"{warmup:g} s warm-up, {rss_end} kB at the end (peak {peak} kB): "
          f"growth {growth:+d} kB (limit {max_growth_kb:.0f} kB)")
    print(f"soak: {bursts} bursts, {c['user_turns']} user turns, {c['barge_ins']} barge-ins "
          f"(agent audio playing), {c['assistant_turns']} assistant turns, "
          f"{c['messages']} messages received")
    print(f"soak: audio bytes sent {stats.audio_bytes_sent}, received "
          f"{stats.audio_bytes_received}; agent audio played {agent_samples / RATE:.1f} s; "
          f"barge-in latency p50 {stats.barge_in_latency_p50_us / 1000:.1f} ms, p99 "
          f"{stats.barge_in_latency_p99_us / 1000:.1f} ms  ({out_dir / 'soak.json'})")

    problems = list(c["failures"])
    if growth >= max_growth_kb:
        problems.append(f"RSS grew {growth} kB after the warm-up (limit {max_growth_kb:.0f})")
    if c["user_turns"] < bursts:
        problems.append(f"{bursts} bursts but {c['user_turns']} turn.start{{user}}")
    if c["barge_ins"] == 0:
        problems.append("no burst interrupted agent audio")
    for p in problems:
        print(f"soak: FAIL: {p}")
    if not problems:
        print("soak: OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
