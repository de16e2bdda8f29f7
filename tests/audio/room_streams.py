# SPDX-License-Identifier: Apache-2.0
"""What room.py measures about its own streams, and the helpers that keep them steady:
PulseAudio's latency figures (`pactl list`), a reader of the microphone sink's monitor and
where a written block shows up there (the output path's real latency), pacat underruns,
parec's pipe backlog, and streams of zeros that keep a null sink running."""
from __future__ import annotations

import array
import fcntl
import math
import os
import re
import subprocess
import termios
import threading
import time

import numpy as np

BLOCK = 160                      # 10 ms at 16 kHz, as room.py


class StreamLatency(threading.Thread):
    """Polls `pactl list` every 2 s for the two streams' latencies (named by stream name)."""

    def __init__(self, emit, names: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.emit, self.names = emit, names
        self.latest: dict[str, float] = {}
        self.stop = threading.Event()

    def poll(self) -> dict[str, float]:
        found = {}
        for kind in ("sink-inputs", "source-outputs"):
            out = subprocess.run(["pactl", "list", kind], capture_output=True, text=True,
                                 timeout=5).stdout
            for block in out.split("\n\n"):
                for key, name in self.names.items():
                    if f'media.name = "{name}"' not in block:
                        continue
                    buf = re.search(r"Buffer Latency: (\d+) usec", block)
                    dev = re.search(r"(?:Sink|Source) Latency: (\d+) usec", block)
                    if buf and dev:
                        found[key] = (int(buf.group(1)) + int(dev.group(1))) / 1000.0
        return found

    def run(self) -> None:
        while not self.stop.wait(0 if not self.latest else 2.0):
            try:
                found = self.poll()
            except (OSError, subprocess.SubprocessError):
                continue
            if found:
                self.latest = found
                self.emit("latency", **{f"{k}_ms": round(v, 2) for k, v in found.items()})
            elif not self.latest:
                self.stop.wait(0.2)


class Blocks:
    """The last `keep` 10 ms blocks of a stream with their wall times (bounded memory)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.first = 0                       # stream block number of samples[0]
        self.samples: list[np.ndarray] = []
        self.times: list[float] = []
        self.lock = threading.Lock()

    def add(self, block: np.ndarray, t: float) -> None:
        with self.lock:
            self.samples.append(block)
            self.times.append(t)
            if len(self.samples) > self.keep:
                del self.samples[0], self.times[0]
                self.first += 1

    def window(self) -> tuple[int, np.ndarray, list[float]]:
        with self.lock:
            return self.first, np.concatenate(self.samples or [np.zeros(0)]), list(self.times)


class MicMonitor(threading.Thread):
    """Reads the microphone sink's monitor, what the library captures (parec), block by
    block with arrival times: where a written sample shows up there, and when, is the real
    latency of the room's output path (its own queue, pacat, the sink)."""

    def __init__(self, device: str, fmt: list[str], keep: int) -> None:
        super().__init__(daemon=True)
        self.blocks = Blocks(keep)
        self.proc = subprocess.Popen(["parec", f"--device={device}",
                                      "--stream-name=lcroom-probe", *fmt],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def run(self) -> None:
        fd = self.proc.stdout.fileno()
        data = b""
        while True:
            try:
                chunk = os.read(fd, BLOCK * 2 - len(data))
            except OSError:
                return
            if not chunk:
                return
            data += chunk
            if len(data) == BLOCK * 2:
                self.blocks.add(np.frombuffer(data, dtype="<i2").astype(np.float64),
                                time.time())
                data = b""


def path_latency(written: Blocks, heard: Blocks, block: int) -> float | None:
    """Seconds from writing stream block `block` to its arrival at the monitor: the
    monitor's lag found by cross-correlating 1 s of what was written (noise, echo and
    talker: never periodic) around `block` with everything the monitor kept."""
    w_first, w, w_times = written.window()
    h_first, h, h_times = heard.window()
    lo = block - w_first - 50
    if lo < 0 or lo + 100 > len(w_times) or len(h) < 100 * BLOCK:
        return None
    ref = w[lo * BLOCK:(lo + 100) * BLOCK]
    n = 1 << int(math.ceil(math.log2(len(h) + len(ref))))
    corr = np.fft.irfft(np.fft.rfft(h, n) * np.conj(np.fft.rfft(ref, n)), n)[:len(h)]
    at = int(np.argmax(corr[:len(h) - len(ref) + 1]))          # sample in h where ref starts
    energy = float(np.sqrt(np.sum(ref ** 2) * np.sum(h[at:at + len(ref)] ** 2)))
    if energy <= 0 or corr[at] / energy < 0.5:
        return None                                             # not found: no estimate
    # sample (lo + 50) * BLOCK of w is sample at + 50 * BLOCK of h; the block holding it
    # arrived at h_times[...]; its last sample is what makes the block readable
    h_block = (at + 50 * BLOCK + BLOCK - 1) // BLOCK
    if h_block >= len(h_times):
        return None
    return h_times[h_block] - w_times[lo + 50]


class Underruns(threading.Thread):
    """Counts the "Stream underrun." lines of a pacat: the room wrote too late, the sink
    played silence, and its queue (the echo's delay) shifted."""

    def __init__(self, proc: subprocess.Popen) -> None:
        super().__init__(daemon=True)
        self.proc, self.count = proc, 0

    def run(self) -> None:
        for line in self.proc.stderr:
            if b"underrun" in line.lower():
                self.count += 1


def pipe_backlog(fd: int) -> int:
    """Bytes waiting in a pipe (FIONREAD): parec's data the room has not read yet."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


def feed_zeros(proc: subprocess.Popen) -> None:
    """Silence into a pacat for as long as it reads it (it reads at the sink's pace)."""
    zeros = b"\0" * (BLOCK * 2)
    try:
        while True:
            proc.stdin.write(zeros)
            proc.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass
