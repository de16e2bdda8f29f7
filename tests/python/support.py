# SPDX-License-Identifier: Apache-2.0
"""Helpers for the Python binding tests: the devserver, synthetic speech, and a pump that
plays the part of a microphone and a speaker at real-time pace (external audio)."""

from __future__ import annotations

import array
import json
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
import wave
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

ROOT = Path(__file__).resolve().parents[2]
BINDINGS = ROOT / "bindings" / "python"
EXAMPLES = ROOT / "examples" / "python"
BUILD_DIR = Path(os.environ.get("LAYERCODE_BUILD_DIR", ROOT / "build"))
LIBRARY = BUILD_DIR / "lib" / "liblayercode.so"
DEVSERVER = ROOT / "tools" / "devserver" / "devserver.py"
DEVSERVER_PYTHON = os.environ.get("LAYERCODE_DEVSERVER_PYTHON", sys.executable)

RATE = 16000
CHUNK = 320            # 20 ms at 16 kHz
CHUNK_SECONDS = CHUNK / RATE


sys.path.insert(0, str(ROOT / "tests"))
from devserver_process import DevServer  # noqa: E402


def wait_until(pred, timeout: float = 30.0, what: str = "condition"):
    """Polls `pred` every 50 ms until it returns something truthy, and returns that; fails
    the test after `timeout` seconds, naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def tone_burst(seconds: float, lead_in: float = 0.0, rate: int = RATE) -> array.array:
    """Silence, then a voiced-sounding burst (200 Hz with harmonics, 4 Hz syllables): loud
    enough for the devserver's energy VAD and the client's."""
    out = array.array("h", bytes(2 * int(lead_in * rate)))
    for i in range(int(seconds * rate)):
        t = i / rate
        env = 0.5 - 0.5 * math.cos(2 * math.pi * 4 * t)
        v = sum(math.sin(2 * math.pi * 200 * k * t) / k for k in (1, 2, 3))
        out.append(int(9000 * (0.3 + 0.7 * env) * v))
    return out


def write_wav(path: Path, samples: array.array, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def rms(samples: array.array) -> float:
    return math.sqrt(sum(x * x for x in samples) / len(samples)) if samples else 0.0


@dataclass
class Played:
    """One chunk the pump read from the client: when, how much was agent audio, its RMS."""

    t: float
    agent_samples: int
    rms: float


class AudioPump(threading.Thread):
    """Microphone and speaker for an external-audio client, every 20 ms of real time:
    writes the next chunk of `source` (then silence), reads a chunk of agent audio.

    Holds the client only through a weak reference, re-taken each tick, so the client can
    be garbage-collected while the pump runs: the pump then stops."""

    def __init__(self, client: object, source: Optional[array.array] = None) -> None:
        super().__init__(daemon=True)
        self._client = weakref.ref(client)
        self._lock = threading.Lock()
        self._source = array.array("h", source or [])
        self._pos = 0
        self.played: List[Played] = []
        self.errors: List[BaseException] = []
        self.stopped = threading.Event()
        self.ticks = 0

    def say(self, samples: array.array) -> None:
        """Queues samples to speak next (after what is still queued)."""
        with self._lock:
            self._source = self._source[self._pos:] + samples
            self._pos = 0

    @property
    def speaking(self) -> bool:
        with self._lock:
            return self._pos < len(self._source)

    def run(self) -> None:
        out = array.array("h", bytes(2 * CHUNK))
        next_tick = time.monotonic()
        try:
            while not self.stopped.is_set():
                client = self._client()
                if client is None or client.closed:
                    return
                with self._lock:
                    chunk = self._source[self._pos:self._pos + CHUNK]
                    self._pos += len(chunk)
                if len(chunk) < CHUNK:
                    chunk.extend([0] * (CHUNK - len(chunk)))
                client.write_audio(chunk)
                got = client.read_audio_into(out)
                self.played.append(Played(time.monotonic(), got, rms(out)))
                self.ticks += 1
                del client
                next_tick += CHUNK_SECONDS
                delay = next_tick - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_tick = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            from layercode import ClosedError
            if not isinstance(exc, ClosedError):
                self.errors.append(exc)

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join(5)

    def agent_audio_between(self, start: float, end: float) -> int:
        return sum(p.agent_samples for p in self.played if start <= p.t < end)


@dataclass
class Recorder:
    """Collects a client's events (from callbacks) with their arrival times."""

    events: List[tuple] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, kind: str, *args: object) -> None:
        with self.cond:
            self.events.append((time.monotonic(), kind, args))
            self.cond.notify_all()

    def wait(self, pred: Callable[[str, tuple], bool], timeout: float = 15.0,
             after: float = 0.0) -> tuple:
        """The first (time, kind, args) since `after` that matches pred, waiting for it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for item in self.events:
                    if item[0] >= after and pred(item[1], item[2]):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    kinds = [k for _, k, _ in self.events]
                    raise AssertionError(f"no matching event in {timeout} s; got {kinds}")
                self.cond.wait(remaining)

    def of(self, kind: str) -> List[tuple]:
        with self.cond:
            return [args for _, k, args in self.events if k == kind]
