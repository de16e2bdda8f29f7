# SPDX-License-Identifier: Apache-2.0
"""Shared by the documentation tests (tests/docs): paths, running commands, Markdown code
blocks, and a private PulseAudio whose null sinks are ALSA's `default` devices (real-time
paced, no sound card)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
LIB_DIR = BUILD / "lib"
LIB = LIB_DIR / "liblayercode.so"
PLAYER = BUILD / "bin" / "layercode-player"
README = ROOT / "README.md"

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "audio"))
from devserver_process import DevServer  # noqa: E402,F401
from pulse import PulseRig  # noqa: E402


def run(argv, env: dict | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kw)
    proc.describe = (f"$ {' '.join(map(str, argv))}\nexit {proc.returncode}\n"
                     f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}")
    return proc


def fenced_blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, body, line number) of every fenced code block of a Markdown text."""
    blocks = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```\s*$", text, re.M | re.S):
        blocks.append((m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1))
    return blocks


class DefaultDevicesRig(PulseRig):
    """PulseRig (tests/audio/pulse.py) with ALSA's `default` PCM going to PulseAudio, whose
    default source is the `lcmic` sink's monitor and default sink `lcspk`: what `default`
    means on a desktop or a board running PulseAudio or PipeWire."""

    def __init__(self) -> None:
        super().__init__()
        with open(os.path.join(self.home, ".asoundrc"), "a") as f:
            f.write("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
        for args in (["set-default-sink", "lcspk"], ["set-default-source", "lcmic.monitor"]):
            subprocess.run(["pactl", *args], env=self.env, check=True, capture_output=True,
                           timeout=10)
