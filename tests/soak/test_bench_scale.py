# SPDX-License-Identifier: Apache-2.0
"""`make bench-scale` in small (issue 14, item 2): two sessions in one process against the
load server for a 2 s window, one of them muted so that it never streams. The JSON has
every column of the table, the streaming session reached the server, and the verdict is
"not real time" because the muted session's server counted no client.audio: the verdict
is computed from the servers' counts, not assumed.

The checks are on counts and the verdict's reasons, never on timing."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "scale"))

import scale  # noqa: E402


def test_scale_smoke_json_and_a_session_that_never_streams_is_not_real_time(tmp_path):
    proc = subprocess.run([sys.executable, "bench/scale/scale.py", "--n", "2", "--window", "2",
                           "--warmup", "2", "--muted", "1", "--out-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "scale.json").read_text())
    (row,) = doc["rows"]
    assert row["n"] == 2 and row["connected"] == 2 and row["sessions_at_server"] == 2, row
    for key in ("cpu_pct", "pss_kib", "threads", "late_ticks", "underrun_samples", "late_frames",
                "dropped_frames", "server_cpu_pct", "server_msgs_per_s_min",
                "server_msgs_per_s_mean", "machine_busy_pct"):
        assert key in row, key
    assert row["pss_kib"] > 0 and row["threads"] >= 2, row
    assert row["frames_sent"] > 0, row                   # the unmuted session streamed ...
    assert row["server_msgs_per_s_mean"] > 10, row      # ... and its server counted it
    assert row["server_msgs_per_s_min"] == 0, row       # the muted one sent nothing
    assert row["real_time"] is False, row
    assert any("client.audio/s" in why for why in row["why_not"]), row["why_not"]
    assert doc["summary"]["largest_real_time_n"] == 0, doc["summary"]
    table = (tmp_path / "scale.md").read_text()
    assert "| 2 |" in table and "no: " in table, table


def test_scale_verdict_names_every_reason_and_fit_is_least_squares():
    row = {"connected": 3, "sessions_at_server": 3, "late_ticks": 0, "skipped_ticks": 0,
           "underrun_samples": 0, "late_frames": 0, "dropped_frames": 0,
           "server_msgs_per_s_min": 50.0, "min_frames_received": 200, "window_s": 20.0}
    assert scale.verdict(row, 3) == (True, [])
    late = dict(row, late_ticks=2, underrun_samples=160, server_msgs_per_s_min=30.0)
    ok, why = scale.verdict(late, 4)
    assert not ok and len(why) == 5, why         # connected, sessions, ticks, underruns, rate
    assert scale.fit([1, 2, 3], [2.5, 4.5, 6.5]) == (0.5, 2.0)
    assert scale.fit([5, 5], [1, 2]) is None
