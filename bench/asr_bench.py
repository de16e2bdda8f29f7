#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Measures tools/devserver/asr.py (issue 15): word error rate per sentence for
both ways of feeding the 16 kHz en-us model 8 kHz audio, decode CPU per second
of audio, finish() latency after the last frame, decoder creation time and
memory per decoder.

Clips: tests/devserver/asr_clips.py (espeak-ng -v en at 140 and 175 wpm, sox
to 8 kHz). The latency pass feeds each clip in 20 ms frames at real time (as a
client sends them) and times finish() from the call after the last frame to
its result; p50 over the clips; meanwhile a 5 ms ticker on the loop records how
late it wakes (loop lag: pocketsphinx holds the GIL while it decodes). CPU: time.process_time() of the whole process
over a pass fed as fast as possible, this process (upsampling, partials, pipes)
plus the decoder process (/proc/PID/stat); memory: VmRSS of a decoder process.

Writes bench/results/asr.json and prints a table. Options: --no-latency
(skip the real-time pass, about 20 s), --json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "devserver"))
sys.path.insert(0, str(ROOT / "tests" / "devserver"))

import asr  # noqa: E402
import upsample  # noqa: E402
from asr_clips import (PHRASES, frames, make_clips, narrowband_transcripts,  # noqa: E402
                       tools_missing, wer)


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child_cpu(rec: asr.Recognizer) -> float:
    """CPU seconds (user + system) of the recogniser's decoder processes."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for decoder in rec._free:
        fields = Path(f"/proc/{decoder.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


async def stream_clip(rec: asr.Recognizer, pcm: bytes, pace: float) -> tuple[str, float]:
    stream = rec.stream(lambda text: None)
    for frame in frames(pcm):
        stream.feed(frame)
        await asyncio.sleep(pace)
    start = time.perf_counter()
    text = await stream.finish()
    return text, time.perf_counter() - start


async def loop_lag(lags: list[float]) -> None:
    """How late a 5 ms sleep wakes up while streams decode (the GIL held by
    pocketsphinx in a worker delays the event loop)."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(0.005)
        lags.append(loop.time() - start - 0.005)


async def passes(rec, clips, latency: bool) -> dict:
    cpu0, child0 = time.process_time(), child_cpu(rec)
    fast = [await stream_clip(rec, pcm, 0) for _, _, pcm in clips]
    parent = time.process_time() - cpu0
    cpu = parent + child_cpu(rec) - child0
    audio = sum(len(pcm) for _, _, pcm in clips) / 16000
    out = {"texts": [t for t, _ in fast], "cpu_per_audio_second": cpu / audio,
           "parent_cpu_per_audio_second": parent / audio,
           "audio_seconds": audio}
    if latency:
        lags: list[float] = []
        ticker = asyncio.ensure_future(loop_lag(lags))
        paced = [await stream_clip(rec, pcm, 0.02) for _, _, pcm in clips]
        ticker.cancel()
        lags.sort()
        out["loop_lag_ms"] = {"p50": round(1000 * lags[len(lags) // 2], 1),
                              "p99": round(1000 * lags[int(len(lags) * 0.99)], 1),
                              "max": round(1000 * lags[-1], 1)}
        out["finish_latency_ms"] = [round(1000 * lat, 1) for _, lat in paced]
        out["finish_latency_p50_ms"] = round(1000 * statistics.median(
            lat for _, lat in paced), 1)
        out["paced_texts_equal"] = [t for t, _ in paced] == out["texts"]
    return out


def upsampler_cpu(clips) -> float:
    start = time.process_time()
    for _, _, pcm in clips:
        up = upsample.Upsampler2x()
        for frame in frames(pcm):
            up.feed(frame)
        up.flush()
    return (time.process_time() - start) / (sum(len(p) for _, _, p in clips) / 16000)


def decoder_costs(n: int = 3) -> dict:
    rec = asr.Recognizer(max_streams=n + 1)
    keep, seconds = [], []
    for _ in range(n):
        decoder, took = rec._new_decoder()
        keep.append(decoder)
        seconds.append(took)
    rss = [rss_kib(d.pid) for d in keep]
    for decoder in keep:
        decoder.close()
    rec.close()
    return {"create_seconds": [round(s, 3) for s in seconds],
            "rss_mib_per_decoder_process": round(sum(rss) / n / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if tools_missing():
        print(tools_missing(), file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp))
        costs = decoder_costs()
        rec = asr.Recognizer(max_streams=2)
        if not rec.available:
            print(rec.reason, file=sys.stderr)
            return 1
        general = asyncio.run(passes(rec, clips, not args.no_latency))
        rec.close()
        small = asr.Recognizer(max_streams=1, phrases=PHRASES)
        phrased = asyncio.run(passes(small, clips, False))
        small.close()
        narrow = narrowband_transcripts([p for _, _, p in clips], Path(tmp), 3800)
    rows = []
    for i, (text, speed, _) in enumerate(clips):
        rows.append({"sentence": text, "wpm": speed,
                     "upsampled": general["texts"][i],
                     "wer_upsampled": round(wer(text, general["texts"][i]), 2),
                     "narrowband_8k": narrow[i],
                     "wer_narrowband_8k": round(wer(text, narrow[i]), 2),
                     "phrases": phrased["texts"][i],
                     "wer_phrases": round(wer(text, phrased["texts"][i]), 2)})
    mean = {k: round(statistics.mean(r[k] for r in rows), 3)
            for k in ("wer_upsampled", "wer_narrowband_8k", "wer_phrases")}
    result = {"engine": rec.engine, "rows": rows, "mean_wer": mean,
              "cpu_per_audio_second": round(general["cpu_per_audio_second"], 3),
              "parent_cpu_per_audio_second": round(general["parent_cpu_per_audio_second"], 3),
              "cpu_per_audio_second_phrases": round(phrased["cpu_per_audio_second"], 3),
              "upsampler_cpu_per_audio_second": round(upsampler_cpu(clips), 4),
              "audio_seconds": round(general["audio_seconds"], 2), **costs}
    for key in ("finish_latency_ms", "finish_latency_p50_ms", "paced_texts_equal",
                "loop_lag_ms"):
        if key in general:
            result[key] = general[key]
    out = ROOT / "bench" / "results" / "asr.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    table = sys.stderr if args.json else sys.stdout
    for r in rows:
        print(f"{r['wpm']:>3} {r['sentence']!r:29} up {r['wer_upsampled']:.2f} "
              f"{r['upsampled']!r:32} 8k {r['wer_narrowband_8k']:.2f} "
              f"{r['narrowband_8k']!r:28} phr {r['wer_phrases']:.2f} {r['phrases']!r}",
              file=table)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}), file=table)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
