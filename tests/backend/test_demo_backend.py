# SPDX-License-Identifier: Apache-2.0
"""`make demo-backend` (tools/demo_backend.py) end to end: the example backend, the
devserver bridging to it (--webhook), and the real player asking a spoken question. The
script itself checks that the recognised question reached the backend's webhook, that the
backend streamed a reply, and that the reply was spoken into the player's output WAV; it
exits 1 otherwise. Needs `make` (the player), and the devserver's bridge with speech
recognition (pocketsphinx) and its dashboard (the ready line's "dashboard")."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from .backend_support import ROOT

DEMO = ROOT / "tools" / "demo_backend.py"
PLAYER = ROOT / "build" / "bin" / "layercode-player"


def test_demo_backend_runs_a_spoken_question_through_the_backend(tmp_path):
    if not PLAYER.exists():
        pytest.skip("build artifacts missing (run `make`)")
    # TMPDIR: the logs the script keeps when it fails stay in this test's folder.
    proc = subprocess.run([sys.executable, str(DEMO), "--duration", "30",
                           "--output", str(tmp_path / "out.wav")],
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "TMPDIR": str(tmp_path)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r'recognised at the backend: "[^"]+"', out), out
    assert re.search(r'backend replied: "[^"]+"', out), out
    assert re.search(r"dashboard: https?://\S+", out), out
    # The backend's own log lines are shown: the webhook call and the streamed sentences.
    assert re.search(r'backend \| message conversation=\S+ turn=\S+ text="', out), out
    assert re.search(r'backend \|   tts turn=\S+ "', out), out
    assert "agent speech" in out


def test_demo_backend_stopped_by_sigterm_leaves_no_server_running(tmp_path):
    """Regression: SIGTERM ended the script without its clean-up, and the devserver and
    the backend it had started kept running."""
    if not PLAYER.exists():
        pytest.skip("build artifacts missing (run `make`)")
    proc = subprocess.Popen([sys.executable, str(DEMO), "--output", str(tmp_path / "o.wav")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    ports = []
    for line in proc.stdout:                   # the script says where both listen
        m = re.search(r"devserver \(an offline Layercode\) at http://127\.0\.0\.1:(\d+), "
                      r"webhook -> http://127\.0\.0\.1:(\d+)/", line)
        if m:
            ports = [int(m.group(1)), int(m.group(2))]
            break
    assert ports, "the demo never said where its servers listen"
    proc.send_signal(signal.SIGTERM)
    proc.stdout.read()
    assert proc.wait(30) != 0
    for port in ports:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served"
