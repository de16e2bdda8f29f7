# SPDX-License-Identifier: Apache-2.0
"""A short `make soak-hostile` in the suite (issue 9, item 11): a server that stalls and
pings, floods, and sends huge ids, one phase each, and the client process's RSS stays within
the bound its configured limits give (bench/soak_hostile.py states the bound). Before the
bounds were fixed, each phase grew the process by about 500 MB within seconds.

The check is on memory, not time: each phase runs about 5 s after a 5 s warm-up."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_hostile_server_keeps_client_memory_bounded(tmp_path):
    env = dict(os.environ, SOAK_SECONDS="15", SOAK_OUT=str(tmp_path))
    proc = subprocess.run([sys.executable, "bench/soak_hostile.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    for phase in ("stall+ping", "flood", "huge ids"):
        assert f"soak-hostile: {phase}" in output, output
    assert "soak-hostile: OK" in output, output
