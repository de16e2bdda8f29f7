# SPDX-License-Identifier: Apache-2.0
"""Instruction counts for bench/peers/run.py: each client under valgrind --tool=callgrind
(user-space instructions of every thread; perf is not supported on this machine) for a
short and a long session against the same devserver; the marginal instructions per audio
second, (I_long - I_short) / (long - short), cancel start-up and teardown out. Noise-free:
the same run gives the same count within a fraction of a percent, whatever the load."""
from __future__ import annotations

import json
import os
import shutil
import subprocess


def session_lengths() -> tuple[float, float]:
    short, long = (float(x) for x in
                   os.environ.get("BENCH_PEERS_CALLGRIND_SECONDS", "5,25").split(","))
    return short, long


def instructions(out_file: str) -> int:
    """The Ir total of a callgrind output file (its "summary:" or "totals:" line)."""
    with open(out_file) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no summary in {out_file}")


def audio_seconds(stats: dict | None) -> float | None:
    """Seconds of audio the client sent, from its final counters: 20 ms frames (ours) or
    100 ms chunks (the minimal Python client)."""
    if not stats:
        return None
    if "audio_frames_sent" in stats:
        return stats["audio_frames_sent"] * 0.020
    if "audio_chunks_sent" in stats:
        return stats["audio_chunks_sent"] * 0.100
    return None


def finish_row(row: dict) -> None:
    """The marginal instructions per audio second: over the audio the client actually sent
    between the two sessions where it says (a session's clock may start before the first
    frame, e.g. the player's --duration), else over the sessions' nominal lengths."""
    if "instructions_long" not in row or "instructions_short" not in row:
        return
    a_short = audio_seconds(row.get("client_stats_short"))
    a_long = audio_seconds(row.get("client_stats_long"))
    if a_short is not None and a_long is not None and a_long > a_short:
        row["audio_seconds_between"] = round(a_long - a_short, 3)
    else:
        row["audio_seconds_between"] = row["long_s"] - row["short_s"]
    row["per_audio_second"] = round((row["instructions_long"] - row["instructions_short"])
                                    / row["audio_seconds_between"])


def ratios(rows: dict) -> None:
    base = rows.get("py-minimal", {}).get("per_audio_second")
    for row in rows.values():
        if base and row.get("per_audio_second"):
            row["ratio_to_py_minimal"] = round(row["per_audio_second"] / base, 2)


def measure_all(bench, names: list[str]) -> dict | None:
    if not names:
        return None
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is not installed"}
    short, long = session_lengths()
    rows = {}
    for name in names:
        row: dict = {"short_s": short, "long_s": long}
        for label, seconds in (("short", short), ("long", long)):
            out_file = os.path.join(bench.work, f"callgrind.{name}.{seconds:g}")
            cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                   "--trace-children=no"] + bench.command(name, seconds)
            proc = subprocess.run(cmd, cwd=bench.work, capture_output=True, text=True,
                                  timeout=seconds * 20 + 300)
            if proc.returncode != 0 or not os.path.exists(out_file):
                row["error"] = f"{label}: exit {proc.returncode}: {proc.stderr[-400:]}"
                break
            row[f"instructions_{label}"] = instructions(out_file)
            stats = [l for l in proc.stdout.splitlines() if '"final":' in l.replace(" ", "")]
            if stats:
                row[f"client_stats_{label}"] = json.loads(stats[-1])
        rows[name] = row
        finish_row(row)
        print(f"bench-peers: callgrind {name}: "
              + (f"{row['per_audio_second'] / 1e6:.1f} M instructions per audio second"
                 if "per_audio_second" in row else row["error"]), flush=True)
    ratios(rows)
    return rows
