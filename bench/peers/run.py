#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make bench-peers` (issue 14): our clients side by side with the alternatives.

Every client streams the same 48 kHz speech up and plays (or drops) the same 16 kHz tone
down, against ONE devserver process on loopback (plain ws; the tone agent's greeting is a
tone as long as the run, --audio-speed 1, --no-interrupt, so it plays continuously):

  player         build/bin/layercode-player, --input/--output WAV
  c-external     bench/peers/ext_client.c: the external-audio API, one session
  py-bindings    bench/peers/py_bindings_client.py: Python + bindings/python
  py-minimal     bench/peers/minimal_client.py: websockets + numpy, 100 ms chunks
  layercode-gym  bench/peers/gym_adapter.py: layercode-gym 0.9.1 (PyPI), unpatched

Per run: WARMUP seconds, then a WINDOW over which the client's CPU (utime+stime, waited-for
children included, /proc/PID/stat) is taken; PSS (smaps_rollup) and threads at the window's
end; the load average and the devserver's own CPU beside it. The window is checked for real
time at the server (its --log): client.audio seconds received and response.audio seconds
sent per second for that session; below 95 % either way the run is invalid (kept, marked).
ROUNDS interleaved rounds (A B C D E, A B C D E, ...); medians of the valid runs.

Then instruction counts under valgrind --tool=callgrind of 5 s and 25 s sessions: the
marginal instructions per audio second (I25 - I5) / the audio sent in between, about 20 s
(bench/peers/callgrind.py); and the
library's latency figures from bench/latency_bench.c (barge-ins need a conversation).

Writes OUT/peers.json, OUT/peers.md and OUT/peers.png (OUT: bench/results); prints the
table. `run.py --rerender` writes the tables and the plot again from OUT/peers.json. Environment knobs (defaults): BENCH_PEERS_WARMUP (10), BENCH_PEERS_WINDOW (60),
BENCH_PEERS_ROUNDS (3), BENCH_PEERS_CLIENTS (all five, comma-separated),
BENCH_PEERS_CALLGRIND (player,c-external,py-minimal,py-bindings; "" for none),
BENCH_PEERS_LATENCY_SECONDS (30; 0 for none), BENCH_PEERS_OUT (bench/results),
BENCH_PEERS_VENV (.venv-bench: layercode-gym and matplotlib, bench/requirements-peers.txt).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "build")
sys.path.insert(0, HERE)

import callgrind  # noqa: E402
import measure  # noqa: E402
import report  # noqa: E402

ALL_CLIENTS = ("player", "c-external", "py-bindings", "py-minimal", "layercode-gym")
TAIL = 3.0          # seconds a client runs past the window's end
PARAGRAPH = ("The quick brown fox jumps over the lazy dog. A native client for voice agents "
             "should cost little on the wire, little in memory and little in power. This "
             "paragraph is spoken again and again, pauses included, for as long as the "
             "benchmark runs.")


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def env_list(name: str, default: tuple[str, ...]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [x.strip() for x in value.split(",") if x.strip()]


class Bench:
    def __init__(self, work: str) -> None:
        self.work = work
        self.warmup = env_float("BENCH_PEERS_WARMUP", 10)
        self.window = env_float("BENCH_PEERS_WINDOW", 60)
        self.rounds = int(env_float("BENCH_PEERS_ROUNDS", 3))
        self.clients = env_list("BENCH_PEERS_CLIENTS", ALL_CLIENTS)
        self.callgrind = env_list("BENCH_PEERS_CALLGRIND",
                                  ("player", "c-external", "py-minimal", "py-bindings"))
        self.latency_seconds = env_float("BENCH_PEERS_LATENCY_SECONDS", 30)
        self.out = os.environ.get("BENCH_PEERS_OUT", os.path.join(ROOT, "bench", "results"))
        venv = os.environ.get("BENCH_PEERS_VENV", os.path.join(ROOT, ".venv-bench"))
        self.bench_python = os.path.join(venv, "bin", "python")
        for name in self.clients + self.callgrind:
            if name not in ALL_CLIENTS + ("c-external-muted",):
                sys.exit(f"bench-peers: unknown client {name!r} (one of {', '.join(ALL_CLIENTS)})")
        if "layercode-gym" in self.clients and not os.path.exists(self.bench_python):
            sys.exit(f"bench-peers: layercode-gym needs {venv} (make bench-peers creates it)")
        self.speech_seconds = self.warmup + self.window + TAIL + 10

    # ---- setup -------------------------------------------------------------------------

    def prepare(self) -> None:
        """The microphone: espeak-ng speech at 48 kHz mono 16-bit: repeated to cover a run
        as WAV (the player, layercode-gym), once as WAV and raw s16le for the clients that
        loop it (C, bindings, the minimal client)."""
        spoken = os.path.join(self.work, "spoken.wav")
        subprocess.run(["espeak-ng", "-w", spoken, PARAGRAPH], check=True)
        once = float(subprocess.run(["soxi", "-D", spoken], check=True, capture_output=True,
                                    text=True).stdout)
        repeat = max(0, int(self.speech_seconds / once))
        self.wav = os.path.join(self.work, "speech48k.wav")
        self.raw = os.path.join(self.work, "speech48k.raw")
        subprocess.run(["sox", spoken, "-r", "48000", "-b", "16", "-e", "signed", "-c", "1",
                        self.wav, "repeat", str(repeat)], check=True)
        # The clients that loop their input themselves get the paragraph once, so that none
        # holds a minute of audio in memory (the player streams its WAV from the file).
        self.wav_once = os.path.join(self.work, "speech48k-once.wav")
        subprocess.run(["sox", spoken, "-r", "48000", "-b", "16", "-e", "signed", "-c", "1",
                        self.wav_once], check=True)
        subprocess.run(["sox", self.wav_once, "-t", "raw", self.raw], check=True)
        self.ext_client = self.compile("ext_client.c", "ext_client")

    def compile(self, source: str, name: str) -> str:
        out_dir = os.path.join(BUILD, "bench", "peers")
        os.makedirs(out_dir, exist_ok=True)
        out = os.path.join(out_dir, name)
        src = source if os.path.isabs(source) else os.path.join(HERE, source)
        subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
                        "-I", os.path.join(ROOT, "include"), src,
                        "-L", os.path.join(BUILD, "lib"), "-llayercode", "-lpthread", "-lm",
                        "-Wl,-rpath," + os.path.join(BUILD, "lib"), "-o", out], check=True)
        return out

    def devserver(self, extra: list[str]) -> tuple[subprocess.Popen, dict]:
        args = [sys.executable, os.path.join(ROOT, "tools", "devserver", "devserver.py"),
                "--port", "0", "--no-dashboard", "--cert-dir", os.path.join(self.work, "certs")] + extra
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        ready = json.loads(proc.stdout.readline())
        if ready.get("event") != "ready":
            sys.exit(f"bench-peers: devserver: {ready}")
        return proc, ready

    def command(self, name: str, seconds: float) -> list[str]:
        a, w, s = self.ready["authorize_url"], self.ready["ws"], f"{seconds:g}"
        if name == "player":
            return [os.path.join(BUILD, "bin", "layercode-player"), "--authorize-url", a,
                    "--ws-url", w, "--agent-id", "tone",
                    "--metadata", '{"vad": {"gate_audio": false}}',
                    "--input", self.wav, "--output", os.path.join(self.work, "player-out.wav"),
                    # JSON events for the final stats; no level events (nothing shows them).
                    "--duration", s, "--json-events", "--amplitude-rate", "0"]
        if name == "c-external":
            return [self.ext_client, a, w, s, self.raw]
        if name == "c-external-muted":
            return [self.ext_client, a, w, s, self.raw, "mute"]
        if name == "py-bindings":
            return [sys.executable, os.path.join(HERE, "py_bindings_client.py"), a, w, s,
                    self.raw]
        if name == "py-minimal":
            return [sys.executable, os.path.join(HERE, "minimal_client.py"), a, w, s, self.wav_once]
        if name == "layercode-gym":
            return [self.bench_python, os.path.join(HERE, "gym_adapter.py"), a, w, s,
                    self.wav, os.path.join(self.work, "gym")]
        raise ValueError(name)

    # ---- one run -----------------------------------------------------------------------

    def run_one(self, name: str, round_no: int) -> dict:
        seconds = self.warmup + self.window + TAIL
        self.log.mark()
        stdout = open(os.path.join(self.work, f"{name}-{round_no}.out"), "w+")
        stderr = open(os.path.join(self.work, f"{name}-{round_no}.err"), "w+")
        start = time.monotonic()
        proc = subprocess.Popen(self.command(name, seconds), stdout=stdout, stderr=stderr,
                                cwd=self.work)
        run: dict = {"client": name, "round": round_no, "warmup_s": self.warmup,
                     "window_s": self.window}
        try:
            time.sleep(max(0.0, start + self.warmup - time.monotonic()))
            w0, m0 = time.time(), time.monotonic()
            c0, s0 = measure.cpu_seconds(proc.pid), measure.cpu_seconds(self.server.pid)
            time.sleep(max(0.0, m0 + self.window - time.monotonic()))
            c1, s1 = measure.cpu_seconds(proc.pid), measure.cpu_seconds(self.server.pid)
            w1, m1 = time.time(), time.monotonic()
            run.update(cpu_percent=round(100 * (c1 - c0) / (m1 - m0), 3),
                       pss_mib=round(measure.pss_kib(proc.pid) / 1024, 2),
                       threads=measure.threads(proc.pid),
                       loadavg=measure.loadavg(),
                       devserver_cpu_percent=round(100 * (s1 - s0) / (m1 - m0), 2))
        except (FileNotFoundError, ProcessLookupError, RuntimeError) as exc:
            run.update(cpu_percent=None, pss_mib=None, threads=None, loadavg=measure.loadavg(),
                       error=f"the client exited before the window's end ({exc!r})")
            w0 = w1 = time.time()
        try:
            proc.wait(timeout=TAIL + 30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=10)
        run["exit_code"] = proc.returncode
        if "error" not in run:
            run["server"] = self.log.window(w0, w1)
        else:
            run["server"] = {"real_time": False}
        stdout.seek(0)
        finals = [json.loads(l) for l in stdout if '"final":' in l.replace(" ", "")
                  and l.lstrip().startswith("{")]
        if finals:
            run["client_stats"] = finals[-1]
        # Chunks played: what the client consumed of what it received (its own counters).
        run["played_ratio"] = measure.played_ratio(run.get("client_stats"))
        played_ok = run["played_ratio"] is None or run["played_ratio"] >= measure.REAL_TIME_MIN
        run["valid"] = bool(run["server"].get("real_time")) and played_ok and "error" not in run
        stdout.close()
        stderr.close()
        return run

    # ---- the whole bench ---------------------------------------------------------------

    def main(self) -> dict:
        self.prepare()
        log_path = os.path.join(self.work, "devserver.jsonl")
        self.log = measure.ServerLog(log_path)
        self.server, self.ready = self.devserver(
            ["--agent", "tone", "--tone-seconds", f"{self.speech_seconds + 30:g}",
             "--audio-speed", "1", "--no-interrupt", "--log", log_path])
        runs = []
        started = time.time()
        try:
            for r in range(1, self.rounds + 1):
                for name in self.clients:
                    run = self.run_one(name, r)
                    runs.append(run)
                    print(report.run_line(run), file=sys.stderr, flush=True)
            instructions = callgrind.measure_all(self, self.callgrind)
        finally:
            self.server.terminate()
            self.server.wait()
        result = {"bench": "peers", "started": started, "warmup_s": self.warmup,
                  "window_s": self.window, "rounds": self.rounds, "runs": runs,
                  "machine": {"cpus": os.cpu_count()},
                  "medians": report.medians(runs, self.clients),
                  "instructions": instructions,
                  "latency": self.latency()}
        result["elapsed_s"] = round(time.time() - started, 1)
        return result

    def latency(self) -> dict | None:
        """The library's latency figures (lc_stats: uplink, downlink, barge-in p50/p99) in a
        scripted conversation with barge-ins (bench/latency_bench.c), external audio."""
        if self.latency_seconds <= 0:
            return None
        exe = self.compile(os.path.join(ROOT, "bench", "latency_bench.c"), "latency_bench")
        proc, ready = self.devserver(["--tone-seconds", "3"])
        try:
            text = subprocess.run([exe, ready["authorize_url"], ready["ws"],
                                   f"{self.latency_seconds:g}"], check=True,
                                  capture_output=True, text=True, timeout=600).stdout
        finally:
            proc.terminate()
            proc.wait()
        return json.loads(text.strip().splitlines()[-1])


def write_outputs(result: dict, out: str, bench_python: str) -> None:
    """peers.json, peers.md, peers.png in OUT; the table to stdout."""
    os.makedirs(out, exist_ok=True)
    json_path = os.path.join(out, "peers.json")
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    table = report.markdown(result)
    plotted = report.plot(result, json_path, os.path.join(out, "peers.png"), bench_python)
    with open(os.path.join(out, "peers.md"), "w") as f:
        f.write(table + ("\n![CPU, PSS and latency per client](peers.png)\n" if plotted else ""))
    print(table)
    print(f"bench-peers: {json_path}, peers.md" + (", peers.png" if plotted else
          " (no plot: matplotlib missing)") + f"; {result['elapsed_s']} s")


def rerender(out: str, bench_python: str) -> None:
    """--rerender: the tables and the plot again from OUT/peers.json's raw figures (after a
    change to how they are summarised), without measuring anything."""
    with open(os.path.join(out, "peers.json")) as f:
        result = json.load(f)
    result["medians"] = report.medians(result["runs"], list(result["medians"]))
    rows = result.get("instructions")
    if rows and "skipped" not in rows:
        for row in rows.values():
            callgrind.finish_row(row)
        callgrind.ratios(rows)
    write_outputs(result, out, bench_python)


def main() -> int:
    out = os.environ.get("BENCH_PEERS_OUT", os.path.join(ROOT, "bench", "results"))
    venv = os.environ.get("BENCH_PEERS_VENV", os.path.join(ROOT, ".venv-bench"))
    if sys.argv[1:] == ["--rerender"]:
        rerender(out, os.path.join(venv, "bin", "python"))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as work:
        bench = Bench(work)
        result = bench.main()
        write_outputs(result, bench.out, bench.bench_python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
