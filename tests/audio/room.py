# SPDX-License-Identifier: Apache-2.0
"""A simulated room between a speaker sink and a microphone sink of a PulseRig (pulse.py).

    python room.py --far roomspk.monitor --mic roommic [options]      (PULSE_SERVER set)

It reads what the library plays (`parec --raw` on the speaker sink's monitor, 16 kHz mono,
10 ms blocks), passes it through a mildly clipping loudspeaker (tanh) and a room impulse
response (a direct path `--delay-ms` late, a few early reflections, an exponentially decaying
reverb tail of `--rt60-ms`; FFT overlap-add, block by block), adds the near-end talker (a WAV,
placed `--speech-at` seconds after the far end first becomes audible) and white noise
(`--noise-dbfs`), and writes the result (`pacat --raw`) into the sink whose monitor the
library captures. Both sinks run on the same daemon's clock, so the room writes exactly as
fast as it reads: its own queue stays at the `--prefill-ms` it starts with (the library
cannot know it; it adds to the echo delay, as does the pulse latency of both streams).
Before its own streams open, streams of zeros start both sinks and it waits until they
have settled (a null sink's first block is about 2 s long), so no backlog is left in a pipe.

It logs JSON lines (`--log`, flushed per line; every line has `t`, time.time()):
- `start`: the impulse response (delay, RT60, gain, taps), the block size, the talker;
- `latency` (every 2 s, from `pactl list`): the parec and pacat streams' buffer + device
  latency in ms;
- `far_onset`: the first block with far-end audio above -50 dBFS (`sample`, `t_read`);
- `speech_onset`: the block holding the talker's first sample above -40 dBFS: `sample`
  (stream position), `t_written` (when the block went to pacat), `pipe_ms` (what waited in
  pacat's pipe then, the onset's block included), `tail_ms` (how far the onset is from the
  end of what was written), `pacat_ms` (the stream's latency last reported), `t_audible`
  (t_written + pipe_ms - tail_ms + pacat_ms: when the onset reached the microphone sink);
- `second` (every second of stream): far, echo and near levels (RMS dBFS) of that second,
  and the running counts of the faults below;
- at the end (SIGTERM/SIGINT), measured on a reader of the microphone sink's monitor (what
  the library captures): `speech_onset_measured` (`path_ms`: from writing the onset to
  reading it there, found by cross-correlating what was written with what was read) and
  `mic_path` (the same at other points); then `summary`: blocks, `late_reads` (parec gave
  nothing for 30 ms), `behind` (4 blocks or more waited in parec's pipe: the room fell
  behind), `pacat_underruns` (the microphone sink ran dry and played silence),
  `dropped_blocks` (blocks not written because pacat's pipe held 20 ms over the prefill:
  how the room's queue, and so the echo delay, stays put after an underrun),
  `pacat_pipe_max_ms`, `echo_delay_ms` (speaker sink to microphone sink: parec + prefill +
  direct path + pacat), echo level (p50/max dBFS over the seconds with far-end audio), the
  last latencies.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import wave

import numpy as np

from room_streams import (Blocks, MicMonitor, StreamLatency, Underruns, feed_zeros,
                          path_latency, pipe_backlog)

RATE = 16000
BLOCK = 160                      # 10 ms (room_streams.BLOCK too)
FULL_SCALE = 32768.0


def dbfs(rms: float) -> float:
    return 20.0 * math.log10(max(rms, 1e-3) / FULL_SCALE)


def room_impulse_response(delay_ms: float, rt60_ms: float, gain: float,
                          seed: int = 13) -> np.ndarray:
    """Direct path at delay_ms with amplitude gain, three early reflections, then a
    Gaussian tail decaying 60 dB over rt60_ms (its energy about half the direct path's)."""
    rng = np.random.default_rng(seed)
    d = int(round(delay_ms * RATE / 1000))
    tail_len = int(rt60_ms * RATE / 1000)
    h = np.zeros(d + tail_len + 1)
    h[d] = 1.0
    for ms, a in ((4.0, 0.45), (9.5, -0.3), (17.0, 0.2)):
        h[d + int(ms * RATE / 1000)] += a
    if tail_len > 0:
        t = np.arange(tail_len) / RATE
        env = np.exp(-6.908 * t / (rt60_ms / 1000.0))
        tail = rng.standard_normal(tail_len) * env
        tail *= math.sqrt(0.5 / float(np.sum(tail ** 2)))
        start = d + int(20 * RATE / 1000)
        n = min(tail_len, len(h) - start)
        h[start:start + n] += tail[:n]
    return h * gain


def loudspeaker(x: np.ndarray, drive: float) -> np.ndarray:
    """A mildly clipping loudspeaker: tanh(drive*x)/drive on [-1, 1] (drive 0: linear)."""
    if drive <= 0:
        return x
    return np.tanh(drive * x) / drive


def read_wav16k(path: str) -> np.ndarray:
    with wave.open(path) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise SystemExit(f"{path}: need 16 kHz mono 16-bit")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def make_realtime() -> bool:
    """SCHED_FIFO for the room and the parec/pacat it starts (inherited), where allowed
    (root, or an RLIMIT_RTPRIO): a busy machine then delays its blocks less. Its loop
    always blocks on parec, so it cannot starve anything."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return True
    except (OSError, AttributeError):
        return False


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--far", default="roomspk.monitor", help="source to read (speaker monitor)")
    p.add_argument("--mic", default="roommic", help="sink to write (the microphone's)")
    p.add_argument("--delay-ms", type=float, default=100.0, help="direct-path delay, 30..150")
    p.add_argument("--rt60-ms", type=float, default=250.0, help="reverb decay to -60 dB")
    p.add_argument("--echo-gain", type=float, default=0.5,
                   help="direct-path gain of the echo (0: no echo)")
    p.add_argument("--drive", type=float, default=1.5,
                   help="loudspeaker soft clipping: tanh(drive*x)/drive (0: linear)")
    p.add_argument("--noise-dbfs", type=float, default=-60.0, help="white noise level")
    p.add_argument("--speech", default=None, help="near-end talker, 16 kHz mono WAV")
    p.add_argument("--speech-at", type=float, default=5.0,
                   help="seconds after the far end's onset where the WAV starts")
    p.add_argument("--speech-gain-db", type=float, default=0.0)
    p.add_argument("--prefill-ms", type=int, default=20,
                   help="silence written ahead: the room's own steady queue")
    p.add_argument("--latency-ms", type=int, default=10,
                   help="parec's --latency-msec (and the other streams')")
    p.add_argument("--play-latency-ms", type=int, default=30,
                   help="--latency-msec of the room's pacat: its buffer in PulseAudio, "
                        "which covers pacat's own scheduling delays")
    p.add_argument("--no-mic-monitor", dest="mic_monitor", action="store_false",
                   help="do not measure the output path on the microphone sink's monitor")
    p.add_argument("--log", default=None, help="JSON-lines log (default stderr)")
    a = p.parse_args()
    realtime = make_realtime()

    log = open(a.log, "a", buffering=1) if a.log else sys.stderr
    lock = threading.Lock()

    def emit(kind: str, **fields) -> None:
        with lock:
            log.write(json.dumps({"t": time.time(), "kind": kind, **fields}) + "\n")
            log.flush()

    h = room_impulse_response(a.delay_ms, a.rt60_ms, a.echo_gain)
    nfft = 1 << int(math.ceil(math.log2(len(h) + BLOCK - 1)))
    H = np.fft.rfft(h, nfft)
    overlap = np.zeros(nfft)
    speech = read_wav16k(a.speech) * 10 ** (a.speech_gain_db / 20) if a.speech else None
    onset_in_wav = 0
    if speech is not None:
        frames = speech[:len(speech) // BLOCK * BLOCK].reshape(-1, BLOCK)
        voiced = np.nonzero(np.sqrt((frames ** 2).mean(axis=1)) > FULL_SCALE * 0.01)[0]
        onset_in_wav = int(voiced[0]) * BLOCK if len(voiced) else 0
        # the first sample of that block above -40 dBFS
        block = speech[onset_in_wav:onset_in_wav + BLOCK]
        onset_in_wav += int(np.argmax(np.abs(block) > FULL_SCALE * 0.01))
    noise_rms = FULL_SCALE * 10 ** (a.noise_dbfs / 20)
    rng = np.random.default_rng(7)

    raw = ["--raw", f"--rate={RATE}", "--channels=1", "--format=s16le"]
    fmt = [*raw, f"--latency-msec={a.latency_ms}"]
    procs: list[subprocess.Popen] = []          # every process started, stopped at the end
    stopping = threading.Event()

    def on_signal(_sig, _frm):
        stopping.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return run_room(a, emit, h, nfft, H, overlap, speech, onset_in_wav, noise_rms, rng,
                        raw, fmt, procs, stopping, realtime)
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all(procs)


def stop_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_room(a, emit, h, nfft, H, overlap, speech, onset_in_wav, noise_rms, rng, raw, fmt,
             procs, stopping, realtime) -> int:
    # A null sink with no stream playing renders nothing (its monitor gives no samples at
    # all), and one that just got its first stream renders a first block of about 2 s before
    # it settles on the latency its streams ask for. Streams of zeros into both sinks start
    # them first; the room's own streams open once both have settled, so neither can sit
    # behind the other and leave a backlog in a pipe (a queue PulseAudio would not report).
    sinks = {a.far[:-8] if a.far.endswith(".monitor") else None, a.mic} - {None}
    for sink in sinks:
        keep = subprocess.Popen(["pacat", "--playback", f"--device={sink}",
                                 f"--stream-name=lcroom-keep-{sink}", *fmt],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        procs.append(keep)
        threading.Thread(target=feed_zeros, args=(keep,), daemon=True).start()
    lat = StreamLatency(emit, {f"keep-{sink}": f"lcroom-keep-{sink}" for sink in sinks})
    deadline = time.monotonic() + 15
    while True:
        found = lat.poll()
        if len(found) == len(sinks) and max(found.values()) < 50:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"room.py: the sinks did not settle: {found}")
        time.sleep(0.1)
    rec = subprocess.Popen(["parec", f"--device={a.far}", "--stream-name=lcroom-far", *fmt],
                           stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    procs.append(rec)
    play = subprocess.Popen(["pacat", "--playback", "--verbose", f"--device={a.mic}",
                             "--stream-name=lcroom-mic", *raw,
                             f"--latency-msec={a.play_latency_ms}"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    procs.append(play)
    underruns = Underruns(play)
    underruns.start()
    written = Blocks(keep=12000)          # 120 s
    monitor = None
    if a.mic_monitor:
        monitor = MicMonitor(f"{a.mic}.monitor", fmt, keep=12000)
        procs.append(monitor.proc)
        monitor.start()
    lat = StreamLatency(emit, {"parec": "lcroom-far", "pacat": "lcroom-mic"})

    emit("start", delay_ms=a.delay_ms, rt60_ms=a.rt60_ms, echo_gain=a.echo_gain,
         drive=a.drive, noise_dbfs=a.noise_dbfs, block=BLOCK, rate=RATE, taps=len(h),
         nfft=nfft, prefill_ms=a.prefill_ms, speech=a.speech, speech_at=a.speech_at,
         speech_onset_in_wav=onset_in_wav, realtime=realtime)
    blocks = late = behind = mic_pipe_max = mic_pipe = dropped = n_written = 0
    t_written = 0.0
    far_onset = None           # stream sample where the far end became audible
    speech_start = None        # stream sample where the WAV starts
    onset_logged = False
    onset_block = None
    onset_event: dict = {}
    per_second = {"far": 0.0, "echo": 0.0, "near": 0.0}
    echo_levels: list[float] = []
    n_bytes = BLOCK * 2
    try:
        play.stdin.write(b"\0" * (a.prefill_ms * RATE // 1000 * 2))
        play.stdin.flush()
        lat.start()
        fd = rec.stdout.fileno()
        while not stopping.is_set():
            data = b""
            t_wait = time.monotonic()
            while len(data) < n_bytes:
                chunk = os.read(fd, n_bytes - len(data))
                if not chunk:
                    raise EOFError("parec ended")
                data += chunk
            if blocks > 0 and time.monotonic() - t_wait > 0.030:
                late += 1
            if pipe_backlog(fd) >= 4 * n_bytes:
                behind += 1
            t_read = time.time()
            pos = blocks * BLOCK
            far = np.frombuffer(data, dtype="<i2").astype(np.float64)
            far_rms = float(np.sqrt(np.mean(far ** 2)))
            if far_onset is None and far_rms > FULL_SCALE * 10 ** (-50 / 20):
                far_onset = pos
                emit("far_onset", sample=pos, t_read=t_read)
                if speech is not None:
                    speech_start = pos + int(a.speech_at * RATE)
            spk = loudspeaker(far / FULL_SCALE, a.drive) * FULL_SCALE
            overlap += np.fft.irfft(np.fft.rfft(spk, nfft) * H, nfft)
            echo = overlap[:BLOCK].copy()
            overlap[:-BLOCK] = overlap[BLOCK:]
            overlap[-BLOCK:] = 0.0
            near = np.zeros(BLOCK)
            if speech_start is not None:
                lo = pos - speech_start
                if -BLOCK < lo < len(speech):
                    s0, s1 = max(lo, 0), min(lo + BLOCK, len(speech))
                    near[s0 - lo:s1 - lo] = speech[s0:s1]
            out = echo + near + rng.standard_normal(BLOCK) * noise_rms
            out = np.clip(np.round(out), -32768, 32767)
            onset_here = (speech_start is not None and not onset_logged
                          and pos <= speech_start + onset_in_wav < pos + BLOCK)
            blocks += 1
            # What waits for pacat in its pipe, a queue PulseAudio's figures leave out. It
            # stays put while both sinks keep time, and grows for good when the microphone
            # sink ran dry (a late block: PulseAudio plays silence, then waits to refill):
            # then a block is dropped, so the room's queue stays at its prefill.
            if (pipe_backlog(play.stdin.fileno()) >= (a.prefill_ms + 20) * RATE // 500
                    and not onset_here):
                dropped += 1
            else:
                play.stdin.write(out.astype("<i2").tobytes())
                play.stdin.flush()
                t_written = time.time()
                written.add(out, t_written)
                n_written += 1
                mic_pipe = pipe_backlog(play.stdin.fileno())
                mic_pipe_max = max(mic_pipe_max, mic_pipe)
            if onset_here:
                onset_logged = True
                # the onset is this far from the end of what was just written
                tail_ms = (pos + BLOCK - (speech_start + onset_in_wav)) / (RATE / 1000)
                pipe_ms = mic_pipe / (RATE / 500)
                pacat_ms = lat.latest.get("pacat")
                onset_block = n_written - 1
                onset_event = dict(sample=speech_start + onset_in_wav, t_read=t_read,
                                   t_written=t_written, pipe_ms=round(pipe_ms, 2),
                                   tail_ms=round(tail_ms, 2), pacat_ms=pacat_ms,
                                   t_audible=t_written + (pipe_ms - tail_ms
                                                          + (pacat_ms or 0)) / 1000.0)
                emit("speech_onset", **onset_event)
            per_second["far"] += float(np.sum(far ** 2))
            per_second["echo"] += float(np.sum(echo ** 2))
            per_second["near"] += float(np.sum(near ** 2))
            if blocks % 100 == 0:
                levels = {k: round(dbfs(math.sqrt(v / RATE)), 1) for k, v in per_second.items()}
                if levels["far"] > -50:
                    echo_levels.append(levels["echo"])
                emit("second", second=blocks // 100, late=late, behind=behind,
                     dropped=dropped, underruns=underruns.count, **levels)
                per_second = dict.fromkeys(per_second, 0.0)
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        pass
    finally:
        lat.stop.set()
        if monitor is not None:
            measured = {}
            for name, block in (("start", 200), ("end", n_written - 60),
                                ("speech_onset", onset_block)):
                if block is not None and block >= 0:
                    latency = path_latency(written, monitor.blocks, block)
                    if latency is not None:
                        measured[name] = latency
            if onset_block is not None and "speech_onset" in measured:
                onset = onset_event
                emit("speech_onset_measured", sample=onset["sample"],
                     t_written=onset["t_written"],
                     path_ms=round(measured["speech_onset"] * 1000, 2),
                     t_audible=onset["t_written"] + measured["speech_onset"])
            emit("mic_path", **{f"{k}_ms": round(v * 1000, 2) for k, v in measured.items()})
        stop_all(procs)               # (pacat's last underruns counted)
        echo_levels.sort()
        latest = lat.latest
        emit("summary", blocks=blocks, late_reads=late, behind=behind,
             pacat_underruns=underruns.count, far_onset=far_onset,
             pacat_pipe_max_ms=mic_pipe_max / (RATE / 500), dropped_blocks=dropped,
             # from the speaker sink to the microphone sink, beyond the library's own
             # device queues: parec, the room's queue, the impulse response, pacat
             echo_delay_ms=round(latest.get("parec", 0) + a.prefill_ms + a.delay_ms
                                 + latest.get("pacat", 0), 1),
             echo_active_seconds=len(echo_levels),
             echo_p50_dbfs=echo_levels[len(echo_levels) // 2] if echo_levels else None,
             echo_max_dbfs=echo_levels[-1] if echo_levels else None,
             latency_ms=lat.latest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
