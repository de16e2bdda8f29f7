# SPDX-License-Identifier: Apache-2.0
"""A short `make bench-peers` in the suite (issue 14): the side-by-side harness
(bench/peers/run.py) with a 2 s window and one round, for our C external-audio client, the
minimal Python client, and the C client muted (connected, sending nothing). The JSON must
carry CPU, PSS and threads per run and a real-time verdict from the server's log: the two
streaming clients real time both ways, the muted one invalid. layercode-gym and callgrind
stay out (minutes of install and of valgrind); `make bench-peers` runs them."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_peers_harness_measures_each_client_and_flags_one_that_does_not_stream(tmp_path):
    env = dict(os.environ, BENCH_PEERS_WARMUP="2", BENCH_PEERS_WINDOW="2", BENCH_PEERS_ROUNDS="1",
               BENCH_PEERS_CLIENTS="c-external,py-minimal,c-external-muted",
               BENCH_PEERS_CALLGRIND="", BENCH_PEERS_LATENCY_SECONDS="0",
               BENCH_PEERS_OUT=str(tmp_path), BENCH_PEERS_VENV=str(tmp_path / "no-venv"))
    proc = subprocess.run([sys.executable, "bench/peers/run.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    with open(tmp_path / "peers.json") as f:
        result = json.load(f)
    runs = {r["client"]: r for r in result["runs"]}
    assert sorted(runs) == ["c-external", "c-external-muted", "py-minimal"], output
    for name, run in runs.items():
        assert isinstance(run["cpu_percent"], float) and run["cpu_percent"] >= 0, run
        assert run["pss_mib"] > 1, run
        assert run["threads"] >= 1, run
        assert len(run["loadavg"]) == 3 and run["devserver_cpu_percent"] >= 0, run
        assert "real_time" in run["server"], run
    for name in ("c-external", "py-minimal"):
        server = runs[name]["server"]
        assert runs[name]["valid"], runs[name]
        assert server["up_audio_s_per_s"] >= 0.9 and server["down_audio_s_per_s"] >= 0.9, server
    muted = runs["c-external-muted"]
    assert not muted["valid"] and muted["server"]["up_audio_s_per_s"] == 0, muted
    assert not result["medians"]["c-external-muted"]["valid"]
    assert result["medians"]["c-external"]["cpu_percent"] >= 0
    with open(tmp_path / "peers.md") as f:
        table = f.read()
    assert "| C program on the external-audio API, 1 session |" in table
    assert "**invalid**" in table
    assert "| client | CPU, % of one core | PSS, MiB | threads |" in proc.stdout
