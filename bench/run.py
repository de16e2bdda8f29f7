#!/usr/bin/env python3
"""`make bench`: the session-core numbers quoted in the README.

- library size: liblayercode.so stripped;
- connect latency (authorize + WebSocket open) on loopback, plain and TLS, p50/p90/max;
- CPU time of a 30 s full-duplex session (player streaming speech up, echo agent audio down),
  user+system seconds of the player process, and its peak RSS.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
SESSION_SECONDS = float(os.environ.get("BENCH_SESSION_SECONDS", "30"))


def devserver(work, tls):
    args = [sys.executable, os.path.join(ROOT, "tools/devserver/devserver.py"), "--port", "0",
            "--cert-dir", os.path.join(work, "certs")]
    if tls:
        args.append("--tls")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, json.loads(proc.stdout.readline())


def main():
    work = tempfile.mkdtemp(prefix="layercode-bench-")
    results = []
    lib = os.path.join(BUILD, "lib", "liblayercode.so")
    stripped = os.path.join(work, "lib.so")
    subprocess.run(["strip", "-o", stripped, os.path.realpath(lib)], check=True)
    results.append({"bench": "size", "stripped_bytes": os.path.getsize(stripped)})

    bench_bin = os.path.join(work, "connect_bench")
    subprocess.run(["cc", "-O2", "-std=c99", "-I", os.path.join(ROOT, "include"),
                    os.path.join(ROOT, "bench", "connect_bench.c"), "-L", os.path.join(BUILD, "lib"),
                    "-llayercode", "-lpthread", "-Wl,-rpath," + os.path.join(BUILD, "lib"),
                    "-o", bench_bin], check=True)
    for tls in (False, True):
        proc, ready = devserver(work, tls)
        try:
            out = subprocess.run([bench_bin, ready["authorize_url"], ready["ws"],
                                  ready["ca_file"] or "", "50"],
                                 check=True, capture_output=True, text=True, timeout=120).stdout
            results.append(json.loads(out))
        finally:
            proc.terminate(); proc.wait()

    speech = os.path.join(work, "speech.wav")
    subprocess.run(["espeak-ng", "-w", speech, "Hello agent, this is a benchmark of the native client."],
                   check=True)
    proc, ready = devserver(work, True)
    try:
        start = time.monotonic()
        player = subprocess.Popen(
            [os.path.join(BUILD, "bin", "layercode-player"),
             "--authorize-url", ready["authorize_url"], "--ws-url", ready["ws"],
             "--ca-file", ready["ca_file"], "--agent-id", "echo",
             "--input", speech, "--output", os.path.join(work, "out.wav"),
             "--duration", str(SESSION_SECONDS), "--json-events"],
            stdout=subprocess.DEVNULL)
        # wait4 gives this one child's own CPU time and peak RSS.
        _, status, usage = os.wait4(player.pid, 0)
        player.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        if player.returncode != 0:
            sys.exit(f"bench: player failed ({player.returncode})")
        cpu = usage.ru_utime + usage.ru_stime
        results.append({"bench": "session_cpu", "session_seconds": SESSION_SECONDS,
                        "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 3),
                        "cpu_percent_of_one_core": round(100 * cpu / wall, 2),
                        "player_max_rss_kib": usage.ru_maxrss})
    finally:
        proc.terminate(); proc.wait()
    shutil.rmtree(work, ignore_errors=True)
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
