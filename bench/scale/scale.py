#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make bench-scale`: N sessions in one process (issue 14, item 2).

For each N: fresh servers, then bench/scale/scale.c (one process, N external-audio clients,
one pacing thread, 48 kHz in and out) streams speech up and plays the servers' 16 kHz tone;
after a warm-up it marks a window, and this script samples every server at the window's
start and end (client.audio messages per session, CPU from /proc). A row is real time when
every client connected, no pacing tick started more than a period late, the window saw no
underrun, late or dropped frame, every session's server received at least 97 % of its 50
client.audio messages a second and every client received at least 97 % of its 10 agent
chunks a second.

Servers: bench/scale/loadserver.c by default (one epoll thread; `--server devserver` runs
the Python devserver instead, whose per-message cost is what the README's sizing of it
measures: it cannot serve hundreds of sessions on one core). Sessions are spread over
ceil(N / per-server) server processes. With two or more CPUs the client is pinned to CPU 0
and the servers to CPU 1 (taskset), so the two never compete; BENCH_SCALE_PIN=none lets
the scheduler place them.

Knobs (environment, or the flags of the same name): BENCH_SCALE_N="1,10,50,100,200,500",
BENCH_SCALE_WINDOW=20 (s), BENCH_SCALE_WARMUP=5 (s), BENCH_SCALE_SERVER=loadserver,
BENCH_SCALE_PER_SERVER (sessions per server process; 250 for the load server, 20 for the
devserver), BENCH_SCALE_PIN="0:1" (client CPUs:server CPUs), BENCH_SCALE_RATE=48000, BENCH_SCALE_RT=1
(the pacing thread SCHED_FIFO, as an audio app's thread would run, where allowed).
Writes bench/results/scale.json and scale.md (--out-dir), prints the table.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
BIN = os.path.join(BUILD, "bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")
UPLINK_PER_S = 50       # client.audio messages a second: one per 20 ms frame
DOWNLINK_PER_S = 10     # response.audio chunks a second: 100 ms each
REAL_TIME_SHARE = 0.97
SPEECH = ("The quick brown fox jumps over the lazy dog. A native client for voice agents "
          "should cost little on the wire, little in memory and little in power, even with "
          "hundreds of sessions in one process.")


def compile_if_stale(source, out, flags):
    if os.path.exists(out) and os.path.getmtime(out) >= max(
            os.path.getmtime(source), os.path.getmtime(os.path.join(BUILD, "lib", "liblayercode.so"))):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", source, "-o", out] + flags,
                   check=True)
    return out


def build():
    lib = os.path.join(BUILD, "lib")
    client = compile_if_stale(os.path.join(ROOT, "bench/scale/scale.c"), os.path.join(BIN, "scale"),
                              ["-I", os.path.join(ROOT, "include"), "-L", lib, "-llayercode",
                               "-lpthread", "-lm", "-Wl,-rpath," + lib])
    server = compile_if_stale(os.path.join(ROOT, "bench/scale/loadserver.c"),
                              os.path.join(BIN, "loadserver"), ["-lcrypto", "-lm"])
    return client, server


def speech_wav(rate):
    """espeak-ng speech at `rate`, made once (None without espeak-ng/sox: scale.c's tone)."""
    out = os.path.join(BIN, f"scale_speech_{rate}.wav")
    if os.path.exists(out):
        return out
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "speech.wav")
        subprocess.run(["espeak-ng", "-w", raw, SPEECH], check=True)
        subprocess.run(["sox", raw, "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer",
                        out], check=True)
    return out


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy():
    """{"cpu": (busy, total), "cpu0": ..., ...} in clock ticks, from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            name, *v = line.split()
            v = [int(x) for x in v]
            out[name] = (sum(v) - v[3] - v[4], sum(v))
    return out


def busy_pct(a, b, names):
    """Busy time of the CPUs `names` between two machine_busy() samples, % of one core."""
    pct = 0.0
    for name in names:
        (b0, t0), (b1, t1) = a[name], b[name]
        cores = os.cpu_count() if name == "cpu" else 1
        pct += (b1 - b0) / max(1, t1 - t0) * 100 * cores
    return pct


def cpu_list(spec):
    """"0", "0,1" or "0-1" as /proc/stat names; None (not pinned): the whole machine."""
    if not spec:
        return ["cpu"]
    names = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        names += [f"cpu{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return names


def taskset(cpus):
    return ["taskset", "-c", cpus] if cpus else []


class Server:
    """One server process: the load server, or the devserver with an event log (the only
    place the devserver counts messages inside a window)."""

    def __init__(self, kind, loadserver, cpus, work, index):
        self.kind = kind
        self.tick_gap_max_ms = None
        self.log = None
        if kind == "loadserver":
            args = [loadserver]
        else:
            self.log = os.path.join(work, f"devserver{index}.jsonl")
            if os.path.exists(self.log):        # an earlier row's
                os.remove(self.log)
            args = [sys.executable, os.path.join(ROOT, "tools/devserver/devserver.py"), "--port", "0", "--no-dashboard",
                    "--cert-dir", os.path.join(work, "certs"), "--log", self.log, "--no-interrupt",
                    "--audio-speed", "1", "--tone-seconds", "600"]
        self.proc = subprocess.Popen(taskset(cpus) + args, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.ready = json.loads(self.proc.stdout.readline())
        if self.ready.get("event") != "ready":
            raise RuntimeError(f"{kind} did not start: {self.ready}")
        self.pid = self.ready["pid"] if kind == "loadserver" else self.proc.pid

    def urls(self):
        return [self.ready["authorize_url"], self.ready["ws"]]

    def sample(self):
        """(wall time, CPU seconds, {session: client.audio count} or None)."""
        t = time.time()
        cpu = proc_cpu_seconds(self.pid)
        if self.kind != "loadserver":
            return t, cpu, None
        with urllib.request.urlopen(self.ready["stats_url"], timeout=10) as r:
            stats = json.load(r)
        self.tick_gap_max_ms = stats["tick_gap_max_ms"]
        return t, cpu, {s["id"]: s["audio_in"] for s in stats["sessions"]}

    def devserver_counts(self, t0, t1):
        """client.audio received per session between wall times t0 and t1 (event log)."""
        counts = {}
        with open(self.log) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("kind") == "ws_open":
                    counts.setdefault(rec["session"], 0)
                elif (rec.get("kind") == "recv" and t0 <= rec["t"] <= t1
                        and rec.get("msg", {}).get("type") == "client.audio"):
                    counts[rec["session"]] = counts.get(rec["session"], 0) + 1
        return counts

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_row(n, cfg, client_bin, loadserver, wav, work):
    per = cfg.per_server or (250 if cfg.server == "loadserver" else 20)
    servers = [Server(cfg.server, loadserver, cfg.server_cpus, work, i)
               for i in range(max(1, math.ceil(n / per)))]
    args = taskset(cfg.client_cpus) + [client_bin, "-n", str(n), "--rate", str(cfg.rate),
                                      "--warmup", str(cfg.warmup), "--window", str(cfg.window),
                                      "--muted", str(cfg.muted)]
    if wav:
        args += ["--wav", wav]
    if cfg.rt:
        args += ["--rt"]
    for s in servers:
        args += s.urls()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # scale.c ends by itself (connect timeout, warm-up, window); a hang is killed, not waited on.
    watchdog = threading.Timer(cfg.warmup + cfg.window + 240, proc.kill)
    watchdog.start()
    stderr = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()
    marks, result, connected = {}, None, None
    try:
        for line in proc.stdout:
            event = json.loads(line)
            kind = event.get("event")
            if kind in ("window_start", "window_end"):
                marks[kind] = ([s.sample() for s in servers], machine_busy(), time.time())
            elif kind == "connected":
                connected = event
            elif kind == "result":
                result = event
        proc.wait(cfg.warmup + cfg.window + 120)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # The load servers' longest tick gap in the window (read at window_end).
        gaps = [s.tick_gap_max_ms for s in servers if s.tick_gap_max_ms is not None]
        for s in servers:
            s.stop()
    if result is None or len(marks) != 2:
        raise RuntimeError(f"scale -n {n} failed (exit {proc.returncode}): {''.join(stderr)[-2000:]}")
    (a, busy0, t0), (b, busy1, t1) = marks["window_start"], marks["window_end"]
    seconds = t1 - t0
    rates = []
    for s, (ta, _, ca), (tb, _, cb) in zip(servers, a, b):
        if ca is None:
            counts = s.devserver_counts(ta, tb)
            rates += [c / (tb - ta) for c in counts.values()]
        else:
            rates += [(cb[k] - ca.get(k, 0)) / (tb - ta) for k in cb]
    server_cpu = sum(sb[1] - sa[1] for sa, sb in zip(a, b)) / seconds * 100
    busy = busy_pct(busy0, busy1, ["cpu"])
    on_client_cpus = busy_pct(busy0, busy1, cpu_list(cfg.client_cpus))
    row = {k: v for k, v in result.items() if k != "event"}
    row.update({
        "server": cfg.server, "server_processes": len(servers), "sessions_at_server": len(rates),
        "server_cpu_pct": round(server_cpu, 2),
        "server_msgs_per_s_min": round(min(rates), 2) if rates else 0.0,
        "server_msgs_per_s_mean": round(sum(rates) / len(rates), 2) if rates else 0.0,
        "connect_seconds": connected["seconds"] if connected else None,
        "server_tick_gap_max_ms": max(gaps) if gaps else None,
        "machine_busy_pct": round(busy, 1),
        "machine_busy_others_pct": round(busy - result["cpu_pct"] - server_cpu, 1),
        # Other work on the client's own CPUs (with the servers elsewhere): what it competed with.
        "client_cpus_others_pct": round(on_client_cpus - result["cpu_pct"]
                                        - (server_cpu if not cfg.client_cpus else 0), 1),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "client_cpus": cfg.client_cpus or "any", "server_cpus": cfg.server_cpus or "any",
    })
    row["real_time"], row["why_not"] = verdict(row, n)
    return row


def verdict(row, n):
    """Real time, and if not, every reason why."""
    why = []
    if row["connected"] != n:
        why.append(f"{n - row['connected']} not connected")
    if row["sessions_at_server"] != n:
        why.append(f"{row['sessions_at_server']} sessions at the servers")
    if row["late_ticks"] or row["skipped_ticks"]:
        why.append(f"{row['late_ticks']} late and {row['skipped_ticks']} skipped pacing ticks")
    for key in ("underrun_samples", "late_frames", "dropped_frames"):
        if row[key]:
            why.append(f"{row[key]} {key}")
    if row["server_msgs_per_s_min"] < REAL_TIME_SHARE * UPLINK_PER_S:
        why.append(f"a session's server received {row['server_msgs_per_s_min']} client.audio/s")
    if row["min_frames_received"] < REAL_TIME_SHARE * DOWNLINK_PER_S * row["window_s"]:
        why.append(f"a client received {row['min_frames_received']} agent chunks in "
                   f"{row['window_s']:.0f} s")
    return not why, why


def fit(xs, ys):
    """Least squares y = a + b x: (a, b), or None for fewer than two distinct x."""
    if len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def summary(rows):
    rt = [r for r in rows if r["real_time"]]
    out = {"largest_real_time_n": max((r["n"] for r in rt), default=0)}
    # The CPU fit takes every row where the client did all of its work (no tick skipped,
    # every session streamed in full), real time or not: a few late ticks on a busy
    # machine leave the work per session unchanged, a saturated client does not.
    done = [r for r in rows if r["skipped_ticks"] == 0 and r["connected"] == r["n"]
            and r["server_msgs_per_s_min"] >= REAL_TIME_SHARE * UPLINK_PER_S]
    out["cpu_fit_ns"] = [r["n"] for r in done]
    cpu = fit([r["n"] for r in done], [r["cpu_pct"] for r in done])
    if cpu:
        # % of one core per session = 10 ms of CPU per session-second per 1 %.
        out["cpu_fit_intercept_pct"] = round(cpu[0], 3)
        out["cpu_pct_per_session"] = round(cpu[1], 4)
        out["cpu_ms_per_session_second"] = round(cpu[1] * 10, 3)
    pss = fit([r["n"] for r in rows], [r["pss_kib"] / 1024 for r in rows])
    if pss:
        out["pss_fit_intercept_mib"] = round(pss[0], 2)
        out["pss_mib_per_session"] = round(pss[1], 3)
    return out


def markdown(rows, summ, cfg):
    head = ("| N | client CPU, % of one core | per session | PSS MiB | per session | threads | "
            "pacing thread µs per session per tick (mean) | late ticks | underrun samples | late / dropped frames | client.audio/s per session "
            "at the server (min / mean) | server CPU % (processes; longest tick gap, ms) | others' CPU %: machine / "
            "client's CPU | real time |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        gap = "-" if r["server_tick_gap_max_ms"] is None else f"{r['server_tick_gap_max_ms']:.0f}"
        lines.append(
            f"| {r['n']} | {r['cpu_pct']:.1f} | {r['cpu_pct'] / r['n']:.3f} | {r['pss_kib'] / 1024:.1f} | "
            f"{r['pss_kib'] / 1024 / r['n']:.2f} | {r['threads']} | {r['tick_work_us_mean'] / r['n']:.1f} | "
            f"{r['late_ticks'] + r['skipped_ticks']} | "
            f"{r['underrun_samples']} | {r['late_frames']} / {r['dropped_frames']} | "
            f"{r['server_msgs_per_s_min']:.1f} / {r['server_msgs_per_s_mean']:.1f} | "
            f"{r['server_cpu_pct']:.1f} ({r['server_processes']}; {gap}) | {r['machine_busy_others_pct']:.0f} / "
            f"{r['client_cpus_others_pct']:.0f} | "
            f"{'yes' if r['real_time'] else 'no: ' + '; '.join(r['why_not'])} |")
    lines.append("")
    lines.append(f"Largest N in real time: {summ['largest_real_time_n']}.")
    if "cpu_ms_per_session_second" in summ:
        lines.append(f"CPU per session-second (least squares over the rows where every session "
                     f"streamed in full, N = {', '.join(map(str, summ['cpu_fit_ns']))}): "
                     f"{summ['cpu_ms_per_session_second']} ms ({summ['cpu_pct_per_session']} % of "
                     f"one core per session, {summ['cpu_fit_intercept_pct']} % at N = 0).")
    if "pss_mib_per_session" in summ:
        lines.append(f"PSS per added session (least squares): {summ['pss_mib_per_session']} MiB.")
    lines.append(f"Window {cfg.window:g} s after a {cfg.warmup:g} s warm-up; {cfg.rate} Hz external "
                 f"audio in and out; pacing thread {'SCHED_FIFO' if cfg.rt else 'normal priority'}; server: {cfg.server}; client CPUs {cfg.client_cpus or 'any'}, "
                 f"server CPUs {cfg.server_cpus or 'any'}; \"others' CPU\" is busy time that was "
                 f"neither the client nor the servers (other work), on the whole machine and on the "
                 f"client's CPUs. The pacing thread's time is wall time inside a tick (its writes and "
                 f"reads into every session, preemption included).")
    return "\n".join(lines) + "\n"


def config(argv):
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", default=env("BENCH_SCALE_N", "1,10,50,100,200,500"))
    p.add_argument("--window", type=float, default=float(env("BENCH_SCALE_WINDOW", "20")))
    p.add_argument("--warmup", type=float, default=float(env("BENCH_SCALE_WARMUP", "5")))
    p.add_argument("--server", choices=("loadserver", "devserver"),
                   default=env("BENCH_SCALE_SERVER", "loadserver"))
    p.add_argument("--per-server", type=int, default=int(env("BENCH_SCALE_PER_SERVER", "0")))
    p.add_argument("--pin", default=env("BENCH_SCALE_PIN", "0:1"))
    p.add_argument("--rate", type=int, default=int(env("BENCH_SCALE_RATE", "48000")))
    p.add_argument("--rt", type=int, default=int(env("BENCH_SCALE_RT", "0")),
                   help="1: the pacing thread runs SCHED_FIFO where allowed (as an audio app's)")
    p.add_argument("--muted", type=int, default=0,
                   help="the first K sessions never send audio (the smoke test's 'no' row)")
    p.add_argument("--out-dir", default=os.path.join(ROOT, "bench", "results"))
    cfg = p.parse_args(argv)
    cfg.client_cpus = cfg.server_cpus = None
    if cfg.pin != "none" and (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        cfg.client_cpus, cfg.server_cpus = cfg.pin.split(":")
    return cfg


def main(argv=None):
    cfg = config(argv)
    client_bin, loadserver = build()
    wav = speech_wav(cfg.rate)
    rows = []
    started = time.time()
    with tempfile.TemporaryDirectory() as work:
        for n in [int(x) for x in cfg.n.split(",") if x.strip()]:
            row = run_row(n, cfg, client_bin, loadserver, wav, work)
            rows.append(row)
            print(f"scale: N={n}: client {row['cpu_pct']:.1f} % CPU, PSS {row['pss_kib'] / 1024:.1f} MiB, "
                  f"server {row['server_cpu_pct']:.1f} %, real time: "
                  f"{'yes' if row['real_time'] else 'no (' + '; '.join(row['why_not']) + ')'}",
                  file=sys.stderr, flush=True)
    summ = summary(rows)
    doc = {"rows": rows, "summary": summ, "input": "speech WAV" if wav else "tone",
           "rate": cfg.rate, "window_s": cfg.window, "warmup_s": cfg.warmup, "server": cfg.server,
           "seconds": round(time.time() - started, 1), "cpus": os.cpu_count()}
    os.makedirs(cfg.out_dir, exist_ok=True)
    with open(os.path.join(cfg.out_dir, "scale.json"), "w") as f:
        json.dump(doc, f, indent=1)
    table = markdown(rows, summ, cfg)
    with open(os.path.join(cfg.out_dir, "scale.md"), "w") as f:
        f.write("# N sessions in one process (make bench-scale)\n\n" + table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
