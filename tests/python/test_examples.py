# SPDX-License-Identifier: Apache-2.0
"""examples/python run as a user would run them: subprocesses against the devserver."""

from __future__ import annotations

import os
import subprocess
import sys

from .support import BINDINGS, EXAMPLES, tone_burst, write_wav


def run_example(name: str, *args: str, timeout: float = 60, **env: str):
    full_env = {**os.environ, "PYTHONPATH": str(BINDINGS), **env}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=full_env)
    assert proc.returncode == 0, f"{name} exited {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def meaningful_lines(name: str) -> int:
    """Lines that are not blank, comments, imports or the docstring."""
    source = (EXAMPLES / name).read_text()
    while source.startswith("#"):  # a shebang, the SPDX licence line
        source = source.split("\n", 1)[1]
    body = source.split('"""', 2)[2] if source.startswith('"""') else source
    return sum(1 for line in body.splitlines()
               if line.strip() and not line.strip().startswith(("#", "import ", "from ")))


def test_quickstart(devserver, speech_wav):
    assert meaningful_lines("quickstart.py") <= 10
    server = devserver()
    out = run_example("quickstart.py", server.authorize_url, "echo", server.ws_url, speech_wav,
                      LAYERCODE_SECONDS="9")
    lines = out.splitlines()
    assert "response.text: Hello! Say something and I will repeat it." in lines
    assert any(line.startswith("user.transcript: ") for line in lines)
    assert any(line.startswith("response.text: You said ") for line in lines), out


def test_quickstart_settings_from_the_environment(devserver, speech_wav):
    server = devserver("--no-greeting")
    out = run_example("quickstart.py", LAYERCODE_AUTHORIZE_URL=server.authorize_url,
                      LAYERCODE_AGENT_ID="echo", LAYERCODE_WS_URL=server.ws_url,
                      LAYERCODE_WAV=str(speech_wav), LAYERCODE_SECONDS="7")
    assert "response.text: You said " in out


def test_push_to_talk(devserver, tmp_path):
    server = devserver("--turn-mode", "push_to_talk")
    utterance = write_wav(tmp_path / "utterance.wav", tone_burst(1.0))
    out = run_example("push_to_talk.py", server.authorize_url, "echo", server.ws_url, utterance)
    assert "user.transcript: [1.0 s of audio]" in out.splitlines()
    assert "response.text: You said 1.0 seconds of audio" in out.splitlines()
    assert len(server.received("trigger.turn.start")) == 1
    assert len(server.received("trigger.turn.end")) == 1

