# SPDX-License-Identifier: Apache-2.0
"""The tables of bench/peers/run.py: medians per client, the Markdown of peers.md (and
stdout), and the plot (bench/peers/plot.py, run by the bench venv's Python: matplotlib)."""
from __future__ import annotations

import os
import statistics
import subprocess

LABELS = {
    "player": "`layercode-player` (C, WAV in/out)",
    "c-external": "C program on the external-audio API, 1 session",
    "c-external-muted": "C program, muted (sends nothing; must be invalid)",
    "py-bindings": "Python + our bindings, external audio",
    "py-minimal": "a minimal Python client (websockets + numpy, 100 ms chunks)",
    "layercode-gym": "layercode-gym 0.9.1 (does not decode or play the agent's audio)",
}


def run_line(run: dict) -> str:
    s = run.get("server", {})
    verdict = "real time" if run["valid"] else "INVALID"
    if "error" in run:
        return f"bench-peers: round {run['round']} {run['client']}: {run['error']}: {verdict}"
    return (f"bench-peers: round {run['round']} {run['client']}: CPU {run['cpu_percent']:.2f} %, "
            f"PSS {run['pss_mib']:.1f} MiB, {run['threads']} threads; at the server up "
            f"{s.get('up_audio_s_per_s', 0):.3f} / down {s.get('down_audio_s_per_s', 0):.3f} "
            f"audio s per s: {verdict}; load {run['loadavg'][0]:.2f}, devserver CPU "
            f"{run['devserver_cpu_percent']:.1f} %")


def medians(runs: list[dict], clients: list[str]) -> dict:
    """Per client: medians over its valid runs (over every measured run, marked, when none
    is valid), and ratios to the player's medians."""
    out = {}
    for name in clients:
        mine = [r for r in runs if r["client"] == name]
        valid = [r for r in mine if r["valid"]]
        use = valid or [r for r in mine if r.get("cpu_percent") is not None]
        row: dict = {"runs": len(mine), "valid_runs": len(valid), "valid": bool(valid)}
        if use:
            for key in ("cpu_percent", "pss_mib", "threads", "devserver_cpu_percent"):
                row[key] = round(statistics.median(r[key] for r in use), 3)
            row["loadavg_1min"] = round(statistics.median(r["loadavg"][0] for r in use), 2)
            for key in ("up_audio_s_per_s", "down_audio_s_per_s", "up_messages_per_s",
                        "down_chunks_per_s"):
                row[key] = round(statistics.median(r["server"][key] for r in use), 3)
        out[name] = row
    base = out.get("player", {})
    for row in out.values():
        for key in ("cpu_percent", "pss_mib"):
            if base.get(key) and row.get(key) is not None:
                row[f"{key}_ratio_to_player"] = round(row[key] / base[key], 2)
    return out


def fmt(value, spec: str = ".2f", suffix: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{suffix}"


def markdown(result: dict) -> str:
    lines = [f"Side by side ({result['rounds']} interleaved rounds, {result['warmup_s']:g} s "
             f"warm-up, {result['window_s']:g} s window, one devserver on loopback, plain ws; "
             f"medians of the valid runs; machine: {result['machine']['cpus']} CPUs):", "",
             "| client | CPU, % of one core | PSS, MiB | threads | real time at the server "
             "(up / down, audio s per s) | CPU / player | PSS / player | load (1 min) "
             "| devserver CPU % |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, m in result["medians"].items():
        rt = (f"{m['valid_runs']}/{m['runs']} valid" if m["valid"]
              else f"**invalid** ({m['valid_runs']}/{m['runs']})")
        if m.get("up_audio_s_per_s") is not None:
            rt += f" ({m['up_audio_s_per_s']:.2f} / {m['down_audio_s_per_s']:.2f})"
        lines.append(f"| {LABELS.get(name, name)} | {fmt(m.get('cpu_percent'))} % | "
                     f"{fmt(m.get('pss_mib'), '.1f')} | {fmt(m.get('threads'), '.0f')} | {rt} | "
                     f"{fmt(m.get('cpu_percent_ratio_to_player'))} | "
                     f"{fmt(m.get('pss_mib_ratio_to_player'))} | "
                     f"{fmt(m.get('loadavg_1min'))} | {fmt(m.get('devserver_cpu_percent'), '.1f')} |")
    ins = result.get("instructions")
    if ins and "skipped" not in ins:
        short, long = next(iter(ins.values()))["short_s"], next(iter(ins.values()))["long_s"]
        lines += ["", f"Instructions under callgrind (user space, all threads), sessions of "
                  f"{short:g} s and {long:g} s; marginal per audio second = "
                  f"(I{long:g} - I{short:g}) / the audio sent between them (about "
                  f"{long - short:g} s):", "",
                  "| client | instructions, short | instructions, long | M instructions per "
                  "audio second | / minimal Python |", "|---|---|---|---|---|"]
        for name, row in ins.items():
            if "error" in row:
                lines.append(f"| {LABELS.get(name, name)} | {row['error'][:80]} | | | |")
                continue
            lines.append(f"| {LABELS.get(name, name)} | {row['instructions_short'] / 1e6:.0f} M | "
                         f"{row['instructions_long'] / 1e6:.0f} M | "
                         f"{row['per_audio_second'] / 1e6:.1f} | "
                         f"{fmt(row.get('ratio_to_py_minimal'))} |")
    elif ins:
        lines += ["", f"Instructions: {ins['skipped']}."]
    lat = result.get("latency")
    if lat:
        lines += ["", f"Latency measured by the library (bench/latency_bench.c, external "
                  f"audio, {lat['seconds']:g} s, a barge-in every 2.5 s), ms:", "",
                  "| | p50 | p99 |", "|---|---|---|"]
        for key, label in (("uplink", "uplink"), ("downlink", "downlink"),
                           ("barge_in", "barge-in")):
            lines.append(f"| {label} | {lat[key + '_p50_us'] / 1000:.2f} | "
                         f"{lat[key + '_p99_us'] / 1000:.2f} |")
    lines += ["", "Every run (the load beside it):", "",
              "| round | client | CPU % | PSS MiB | threads | up / down at the server | "
              "played / received | verdict | load 1/5/15 | devserver CPU % |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        s = r.get("server", {})
        load = "/".join(f"{x:.2f}" for x in r.get("loadavg") or [])
        lines.append(f"| {r['round']} | {r['client']} | {fmt(r.get('cpu_percent'))} | "
                     f"{fmt(r.get('pss_mib'), '.1f')} | {fmt(r.get('threads'), '.0f')} | "
                     f"{fmt(s.get('up_audio_s_per_s'), '.3f')} / "
                     f"{fmt(s.get('down_audio_s_per_s'), '.3f')} | "
                     f"{fmt(r.get('played_ratio'), '.3f')} | "
                     f"{'real time' if r['valid'] else 'INVALID ' + r.get('error', '')} | "
                     f"{load} | {fmt(r.get('devserver_cpu_percent'), '.1f')} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, json_path: str, png: str, python: str) -> bool:
    """peers.png through bench/peers/plot.py; False when the bench venv or matplotlib is
    missing (the JSON and the table are written regardless)."""
    if not os.path.exists(python):
        return False
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot.py")
    proc = subprocess.run([python, script, json_path, png], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"bench-peers: no plot: {proc.stderr.strip()[-300:]}")
        return False
    return True
