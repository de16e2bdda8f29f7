#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make soak-hostile: the library against a hostile server, with the memory of the process it
runs in bounded by the limits it was configured with (issue 9, item 11).

One phase per hostile behaviour of the devserver (tools/devserver/hostile.py), each in a
process of its own (a calm warm-up session, then the phase on a new connection), so each
phase is measured from its own baseline; SOAK_SECONDS is split between them:

  stall+ping  the server stops reading and pings as fast as the client reads: the client's
              pongs and its microphone audio (streamed, gate_audio false) can only queue
  flood       response.data messages of SOAK_FLOOD_BYTES, back to back
  huge ids    response.audio chunks whose turn_id and delta_id are SOAK_ID_BYTES each, all
              different, far faster than the app plays them

The client (Python bindings, build/lib/liblayercode.so, external audio) runs with the default
limits but max_message_bytes = SOAK_MAX_MESSAGE_BYTES; this script is its microphone and
speaker in real time and registers no callback that keeps anything (event_queue_size=0).
VmRSS of this process is sampled every 0.25 s. A phase passes when its peak stays within
the bound over the warm-up's RSS:

  send_queue_max_bytes + 4 x max_message_bytes + SOAK_SLACK_KB (default 16384)

(the queued audio, a few messages being read or handed over, the allocator's slack).
SOAK_MAX_GROWTH_KB replaces the whole bound. A phase whose RSS passes SOAK_RSS_CAP_MB
(default 512) is stopped there, so the soak cannot take the machine down. The time
disconnect() takes to end each phase is printed too (a flooded event loop must still obey).

Environment: SOAK_SECONDS (default 60), SOAK_WARMUP_SECONDS (5), SOAK_FLOOD_BYTES (262144),
SOAK_ID_BYTES (262144), SOAK_ID_COUNT (1000), SOAK_MAX_MESSAGE_BYTES (1048576),
SOAK_SLACK_KB, SOAK_MAX_GROWTH_KB, SOAK_RSS_CAP_MB, SOAK_OUT (build/soak-hostile).
Exits 1 if a phase exceeds the bound or the session misbehaves, 2 on a setup problem.
make test runs a short one (tests/soak); `make soak-hostile` prints what it measured.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import CHUNK, ROOT, env_number, rss_kb, voiced_burst, wait_tick  # noqa: E402

import layercode  # noqa: E402  (soak put the bindings on sys.path)
from devserver_process import DevServer  # noqa: E402

SEND_QUEUE_MAX_BYTES = 262144          # the library's default (layercode.h)


def phases(seconds: float, flood_bytes: int, id_bytes: int, id_count: int) -> list:
    each = seconds / 3
    return [
        ("stall+ping", {"fault": "ping_flood", "seconds": each, "stall": True}),
        ("flood", {"fault": "flood", "seconds": each, "bytes": flood_bytes}),
        ("huge ids", {"fault": "huge_ids", "count": id_count, "bytes": id_bytes}),
    ], each


class Watch:
    """What the library's callbacks report (loop thread), read by the pump."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.ended = threading.Event()
        self.errors: list[str] = []
        self.reconnects = 0

    def on_connected(self, conversation_id, config) -> None:
        self.connected.set()

    def on_status(self, status) -> None:
        if str(status) == "reconnecting":
            with self.lock:
                self.reconnects += 1

    def on_error(self, error) -> None:
        with self.lock:
            self.errors.append(str(error))

    def on_disconnected(self, code, detail) -> None:
        self.ended.set()


def run_phase(server: DevServer, name: str, fault, seconds: float, max_message: int,
              cap_kb: int, samples: list) -> dict:
    watch = Watch()
    metadata = {"greeting": False, "vad": {"gate_audio": False}}
    if fault is not None:
        metadata["devserver_fault"] = fault
    client = layercode.Client(
        "echo", server.authorize_url, ws_url=server.ws_url, audio="external",
        metadata=metadata, event_queue_size=0, max_message_bytes=max_message,
        on_connected=watch.on_connected, on_status=watch.on_status,
        on_error=watch.on_error, on_disconnected=watch.on_disconnected)
    mic = voiced_burst(1.0)
    speaker = bytearray(2 * CHUNK)
    start_kb = rss_kb()
    peak_kb = start_kb
    capped = None                       # seconds into the phase when RSS passed the cap
    client.connect()
    if not watch.connected.wait(30):
        client.close()
        return {"phase": name, "problem": "did not connect"}
    start = time.monotonic()
    next_tick = next_sample = start
    pos = 0
    while time.monotonic() - start < seconds and not watch.ended.is_set():
        chunk = mic[pos:pos + 2 * CHUNK]
        pos = (pos + 2 * CHUNK) % len(mic)
        client.write_audio(chunk)
        client.read_audio_into(speaker)
        now = time.monotonic()
        if now >= next_sample:
            kb = rss_kb()
            samples.append((name, round(now - start, 2), kb))
            peak_kb = max(peak_kb, kb)
            next_sample += 0.25
            if kb > cap_kb:
                capped = round(now - start, 1)
                break
        next_tick = wait_tick(next_tick)
    stats = client.stats()
    t0 = time.monotonic()
    client.disconnect()
    ended = client.wait_disconnected(120)
    disconnect_s = time.monotonic() - t0
    client.close()
    with watch.lock:
        errors, reconnects = list(watch.errors), watch.reconnects
    return {"phase": name, "fault": fault, "seconds": round(time.monotonic() - start, 1),
            "rss_kb_start": start_kb, "rss_kb_peak": peak_kb, "rss_kb_end": rss_kb(),
            "capped": capped, "disconnect_seconds": round(disconnect_s, 2),
            "disconnected_in_time": bool(ended), "errors": errors[:5],
            "reconnects": reconnects, "messages_received": stats.messages_received,
            "bytes_received": stats.audio_bytes_received,
            "audio_frames_sent": stats.audio_frames_sent,
            "send_queue_dropped_frames": getattr(stats, "send_queue_dropped_frames", None)}


RESULT_MARK = "SOAK-HOSTILE-RESULT "


class _Urls:
    def __init__(self, authorize_url: str, ws_url: str) -> None:
        self.authorize_url, self.ws_url = authorize_url, ws_url


def child_main(spec: dict) -> int:
    """One phase in this process: the calm warm-up, then the hostile phase."""
    server = _Urls(spec["authorize_url"], spec["ws_url"])
    samples: list = []
    calm = run_phase(server, "warm-up", None, spec["warmup"], spec["max_message"],
                     spec["cap_kb"], samples)
    result = run_phase(server, spec["name"], spec["fault"], spec["seconds"],
                       spec["max_message"], spec["cap_kb"], samples)
    result["warmup_rss_kb"] = calm.get("rss_kb_end")
    result["rss_samples"] = samples
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


def run_child(spec: dict, timeout: float) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                           json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
    return {"phase": spec["name"],
            "problem": f"client process exit {proc.returncode}: {tail}"}


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        return child_main(json.loads(sys.argv[2]))
    seconds = env_number("SOAK_SECONDS", 60)
    warmup = env_number("SOAK_WARMUP_SECONDS", 5)
    flood_bytes = int(env_number("SOAK_FLOOD_BYTES", 262144))
    id_bytes = int(env_number("SOAK_ID_BYTES", 262144))
    id_count = int(env_number("SOAK_ID_COUNT", 1000))
    max_message = int(env_number("SOAK_MAX_MESSAGE_BYTES", 1 << 20))
    slack_kb = env_number("SOAK_SLACK_KB", 16384)
    bound_kb = env_number("SOAK_MAX_GROWTH_KB",
                          (SEND_QUEUE_MAX_BYTES + 4 * max_message) / 1024 + slack_kb)
    cap_kb = int(env_number("SOAK_RSS_CAP_MB", 512) * 1024)
    out_dir = Path(os.environ.get("SOAK_OUT", ROOT / "build" / "soak-hostile"))
    if max(flood_bytes, 2 * id_bytes + 1024) > max_message:
        print("soak-hostile: SOAK_FLOOD_BYTES and 2 x SOAK_ID_BYTES must fit in "
              "SOAK_MAX_MESSAGE_BYTES (else the client just refuses them)", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    plan, each = phases(seconds, flood_bytes, id_bytes, id_count)
    log = out_dir / "devserver" / "events.jsonl"
    if log.exists():
        log.unlink()                    # this run's faults only
    server = DevServer(out_dir / "devserver", "--no-greeting")
    results = []
    try:
        print(f"soak-hostile: {len(plan)} hostile phases of {each:.0f} s, each in its own "
              f"process after a {warmup:g} s calm session; bound: {bound_kb:.0f} kB over "
              f"the warm-up's RSS (send queue {SEND_QUEUE_MAX_BYTES} B + 4 x "
              f"max_message_bytes {max_message} B + {slack_kb:.0f} kB)", flush=True)
        for name, fault in plan:
            spec = {"name": name, "fault": fault, "seconds": each, "warmup": warmup,
                    "max_message": max_message, "cap_kb": cap_kb,
                    "authorize_url": server.authorize_url, "ws_url": server.ws_url}
            result = run_child(spec, timeout=each + warmup + 300)
            results.append(result)
            if "problem" in result:
                print(f"soak-hostile: {name:10} {result['problem']}", flush=True)
                continue
            base_kb = result["warmup_rss_kb"]
            result["growth_kb"] = result["rss_kb_peak"] - base_kb
            stopped = ("" if result["capped"] is None else
                       f", STOPPED at the cap after {result['capped']} s")
            print(f"soak-hostile: {name:10} peak RSS {result['rss_kb_peak']} kB "
                  f"({result['growth_kb']:+d} kB over the warm-up's {base_kb} kB, bound "
                  f"{bound_kb:.0f}{stopped}); "
                  f"{result['messages_received']} messages in, send queue dropped "
                  f"{result['send_queue_dropped_frames']} frames, disconnect took "
                  f"{result['disconnect_seconds']} s, {result['reconnects']} reconnects",
                  flush=True)
    finally:
        server.stop()
    progress = [r for r in server.records() if r.get("kind") == "fault_progress"]
    (out_dir / "soak-hostile.json").write_text(json.dumps(
        {"bound_kb": bound_kb, "phases": results, "server": progress}, indent=1))
    for p in progress:
        print("soak-hostile: server " + ", ".join(f"{k} {v}" for k, v in p.items()
                                                  if k not in ("t", "session", "kind")))
    problems = []
    for r in results:
        if "problem" in r:
            problems.append(f"{r['phase']}: {r['problem']}")
            continue
        if r["growth_kb"] > bound_kb:
            problems.append(f"{r['phase']}: RSS grew {r['growth_kb']} kB (bound "
                            f"{bound_kb:.0f} kB){', stopped at the cap' if r['capped'] is not None else ''}")
        if not r["disconnected_in_time"]:
            problems.append(f"{r['phase']}: disconnect() did not end the session in 120 s")
    for p in problems:
        print(f"soak-hostile: FAIL: {p}")
    if not problems:
        print("soak-hostile: OK")
    print(f"soak-hostile: details in {out_dir / 'soak-hostile.json'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
