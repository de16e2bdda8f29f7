# SPDX-License-Identifier: Apache-2.0
"""Helpers for the end-to-end tests (tests/integration): running layercode-player and
the devserver, making and reading WAV files. The fixtures are in conftest.py."""

from __future__ import annotations

import array
import json
import math
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("LAYERCODE_BUILD_DIR", ROOT / "build"))
DEVSERVER = ROOT / "tools" / "devserver" / "devserver.py"
# The devserver needs aiohttp: by default the interpreter running pytest (the project venv).
DEVSERVER_PYTHON = os.environ.get("LAYERCODE_DEVSERVER_PYTHON", sys.executable)

# Error codes from include/layercode.h.
LC_OK = 0
LC_ERR_AUTHORIZE = -4
LC_ERR_NETWORK = -5
LC_ERR_TLS = -6

# Every client.audio frame: 20 ms of PCM16 at 8 kHz.
FRAME_SECONDS = 0.020
FRAME_BYTES = 320


# ---- build artifacts -------------------------------------------------------------------

@dataclass(frozen=True)
class Build:
    dir: Path
    player: Path
    lib: Path
    # tests/cross: the player runs behind runner (qemu) with env added to os.environ.
    runner: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)


# ---- the player ------------------------------------------------------------------------

@dataclass
class PlayerRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    events: list[dict] = field(default_factory=list)

    def of(self, event: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == event]

    def statuses(self) -> list[str]:
        return [e["status"] for e in self.of("status")]

    def messages(self, mtype: str | None = None) -> list[dict]:
        return [e for e in self.of("message") if mtype is None or e.get("type") == mtype]

    def errors(self) -> list[dict]:
        return self.of("error")

    @property
    def stats(self) -> dict:
        """The final stats event (--stats-interval adds periodic ones, "final": false)."""
        stats = [e for e in self.of("stats") if e.get("final", True)]
        assert len(stats) == 1, f"expected one final stats event:\n{self.describe()}"
        return stats[0]

    def describe(self) -> str:
        return (f"$ {' '.join(self.argv)}\nexit {self.returncode}\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}")


def parse_json_events(stdout: str) -> list[dict]:
    """Every line of --json-events output must be one JSON object."""
    events = []
    for n, line in enumerate(stdout.splitlines(), 1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"stdout line {n} is not JSON ({exc}): {line!r}") from None
        assert isinstance(event, dict) and isinstance(event.get("event"), str), line
        events.append(event)
    return events


def run_player(build: Build, *args: str, timeout: float = 30.0) -> PlayerRun:
    argv = [*build.runner, str(build.player), *map(str, args)]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout,
                              env={**os.environ, **build.env})
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode("utf-8", "replace")
        err = (exc.stderr or b"").decode("utf-8", "replace")
        raise AssertionError(f"player timed out after {timeout} s: {' '.join(argv)}\n"
                             f"--- stdout\n{out}--- stderr\n{err}") from None
    # Strict UTF-8: the player must pass text through (or replace) without breaking it.
    stdout = proc.stdout.decode("utf-8")
    run = PlayerRun(argv, proc.returncode, stdout, proc.stderr.decode("utf-8", "replace"))
    if "--json-events" in args:
        run.events = parse_json_events(stdout)
    return run


# ---- the devserver: tests/devserver_process.py ------------------------------------------

sys.path.insert(0, str(ROOT / "tests"))
from devserver_process import DevServer  # noqa: E402


@dataclass(frozen=True)
class Speech:
    mono16k: Path           # 16 kHz mono 16-bit
    stereo48k: Path         # 48 kHz stereo 24-bit (WAVE_FORMAT_EXTENSIBLE)
    start: float            # seconds of leading silence
    end: float              # where the speech ends, seconds from the file's start
    synthesized: bool       # True: a tone burst stands in for speech (no espeak-ng)

    @property
    def length(self) -> float:
        return self.end - self.start


# Leading silence: the devserver's greeting (about 2.6 s of speech) plays first, and the
# user speaking over it would interrupt it.
LEAD_IN = 2.8
PHRASE = "Hello, this is a test."


def _run_tool(*argv: str) -> None:
    proc = subprocess.run(argv, capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')}")


def write_wav(path: Path, rate: int, channels: int, samples: list[int]) -> None:
    """16-bit WAV; samples are interleaved."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(array.array("h", samples).tobytes())


def tone_burst(rate: int, lead_in: float, seconds: float) -> list[int]:
    """Silence, then a voiced-sounding burst (200 Hz with harmonics, 4 Hz syllables)."""
    out = [0] * int(lead_in * rate)
    for i in range(int(seconds * rate)):
        t = i / rate
        env = 0.5 - 0.5 * math.cos(2 * math.pi * 4 * t)
        v = sum(math.sin(2 * math.pi * 200 * k * t) / k for k in (1, 2, 3))
        out.append(int(9000 * (0.3 + 0.7 * env) * v))
    return out


def make_speech(d: Path) -> Speech:
    """A short spoken phrase after LEAD_IN s of silence, as 16 kHz mono and 48 kHz stereo
    WAVs in d: espeak-ng and sox when present, else a synthesized tone burst."""
    mono, stereo = d / "speech-16k-mono.wav", d / "speech-48k-stereo.wav"
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak and sox:
        raw = d / "espeak.wav"
        _run_tool(espeak, "-w", str(raw), PHRASE)
        _run_tool(sox, str(raw), "-r", "16000", "-c", "1", "-b", "16", str(mono),
                  "pad", str(LEAD_IN))
        _run_tool(sox, str(raw), "-r", "48000", "-c", "2", "-b", "24", str(stereo),
                  "pad", str(LEAD_IN))
        with wave.open(str(raw)) as w:
            length = w.getnframes() / w.getframerate()
        return Speech(mono, stereo, LEAD_IN, LEAD_IN + length, synthesized=False)
    length = 1.5
    write_wav(mono, 16000, 1, tone_burst(16000, LEAD_IN, length))
    burst48 = tone_burst(48000, LEAD_IN, length)
    write_wav(stereo, 48000, 2, [s for v in burst48 for s in (v, v)])
    return Speech(mono, stereo, LEAD_IN, LEAD_IN + length, synthesized=True)


def read_wav_mono16(path: Path) -> tuple[int, list[int]]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1, f"{path}: {w.getnchannels()} channels"
        assert w.getsampwidth() == 2, f"{path}: {8 * w.getsampwidth()}-bit"
        rate = w.getframerate()
        samples = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    return rate, list(samples)


def voiced_seconds(samples: list[int], rate: int, start: float, end: float,
                   threshold: float = 300.0, window: float = 0.05) -> float:
    """Seconds of [start, end) whose 50 ms windows have an RMS above threshold."""
    n = int(rate * window)
    lo, hi = max(0, int(start * rate)), min(len(samples), int(end * rate))
    voiced = 0
    for i in range(lo, hi - n + 1, n):
        seg = samples[i:i + n]
        if math.sqrt(sum(x * x for x in seg) / n) > threshold:
            voiced += 1
    return voiced * window


SAID = re.compile(r"You said (\d+(?:\.\d+)?) seconds of audio")
