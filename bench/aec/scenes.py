#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The echo scenes of issue 13: pure files, no devices (16 kHz mono PCM16 WAV).

Each scene is a directory under build/aec-scenes/ (or the directory given) with:
- ref.wav:  what the canceller is given as the far end: what the speaker was asked to play,
            shifted 20 ms later ("late") or earlier ("early") in the misaligned scenes;
- mic.wav:  the microphone: the played signal through the simulated room, plus the near-end
            user (double-talk only) and noise;
- echo.wav: the echo alone as the microphone hears it (scoring: where the echo is);
- near.wav: the near-end user alone (scoring: where and how loud the user is; silent
            outside double-talk);
- scene.json: the parameters and the timeline (agent start, user window, nominal delay).

The room (per sample, 16 kHz):
    played --soft clip (speaker)--> * room impulse response --clock drift--> + user + noise
- the impulse response: the direct path after the echo delay (150 ms) at ECHO_GAIN, then an
  exponentially decaying tail (Gaussian, seeded) whose energy falls 60 dB in RT60 (250 ms);
- the speaker clips softly: c·tanh(x/c) with c = 0.7 of full scale, so the loudest peaks
  (0.9) come out about 3.5 dB lower and quiet speech is untouched: a nonlinearity no linear
  filter can model;
- clock drift: the capture clock runs 20 ppm slow against playback, so the echo is resampled
  (band-limited, windowed sinc) by 1 + 20e-6: it slides 0.4 ms over 20 s;
- noise: white, -60 dBFS (RMS against full-scale square, as the library's meters).

Scenes: plain (delay only, reference exact), combo-late and combo-early (delay + reverb +
clip + drift, the reference 20 ms late / early), double-talk (the combined room with the
reference exact, plus the user in a different espeak-ng voice for about 4 s mid-speech).
Deterministic: the same seed and the same espeak-ng give the same files.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave

import numpy as np

RATE = 16000
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "build", "aec-scenes")
SEED = 13

AGENT_VOICE = "en-us"          # espeak-ng's default American male voice
USER_VOICE = "en-gb+f3"        # a British female variant: a different speaker
AGENT_TEXT = (
    "Thank you for calling. I can help you book a table, check the opening hours, or answer "
    "questions about the menu. Tonight we have a grilled fish, a mushroom risotto, and a "
    "chocolate tart. The kitchen closes at ten, but the bar stays open until midnight. If "
    "you would like to reserve a table, tell me the time and how many people are coming.")
USER_TEXT = "Sorry to interrupt, can I book a table for four people at eight?"

LEAD_SECONDS = 0.5             # silence before the agent starts
TAIL_SECONDS = 0.6             # after the agent ends (the echo tail dies out)
AGENT_PEAK = 0.9               # played level, fraction of full scale
USER_PEAK = 0.5
USER_START_AFTER_AGENT = 8.0   # seconds after the agent's start
ECHO_DELAY_MS = 150
ECHO_GAIN = 0.3                # the direct path, -10.5 dB
RT60_MS = 250
REVERB_TO_DIRECT_DB = -3.0     # tail energy against the direct path's
CLIP_LEVEL = 0.7
DRIFT_PPM = 20.0
NOISE_DBFS = -60.0
SHIFT_MS = 20


def espeak(text: str, voice: str, work: str) -> np.ndarray:
    """espeak-ng speech at 16 kHz, float in [-1, 1) (sox resamples without dither)."""
    raw, out = os.path.join(work, "raw.wav"), os.path.join(work, "16k.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", raw, text], check=True,
                   timeout=120)
    subprocess.run(["sox", "-D", raw, "-r", str(RATE), "-c", "1", "-b", "16", out], check=True,
                   timeout=120)
    return read_wav(out)


def read_wav(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: not mono PCM16")
        if w.getframerate() != RATE:
            raise ValueError(f"{path}: {w.getframerate()} Hz, not {RATE}")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float64) / 32768.0


def write_wav(path: str, x: np.ndarray) -> None:
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def soft_clip(x: np.ndarray, level: float = CLIP_LEVEL) -> np.ndarray:
    return level * np.tanh(x / level)


def room_response(rng: np.random.Generator, delay_ms: float, gain: float,
                  rt60_ms: float | None) -> np.ndarray:
    """The direct path at delay_ms, then (rt60_ms) a decaying Gaussian tail starting 2 ms
    later whose energy is REVERB_TO_DIRECT_DB below the direct path's."""
    delay = int(round(delay_ms * RATE / 1000))
    if rt60_ms is None:
        h = np.zeros(delay + 1)
        h[delay] = gain
        return h
    tail_len = int(RATE * 1.2 * rt60_ms / 1000)
    t = np.arange(tail_len) / RATE
    # Amplitude falls by 10^(-3) (energy by 60 dB) in rt60.
    envelope = np.exp(-np.log(1000.0) * t / (rt60_ms / 1000))
    tail = rng.standard_normal(tail_len) * envelope
    tail *= gain * np.sqrt(10 ** (REVERB_TO_DIRECT_DB / 10) / np.sum(tail ** 2))
    start = delay + int(0.002 * RATE)
    h = np.zeros(start + tail_len)
    h[delay] = gain
    h[start:] += tail
    return h


def drift(x: np.ndarray, ppm: float, taps: int = 32) -> np.ndarray:
    """x read by a clock `ppm` slow: y[n] = x(n·(1 + ppm·1e-6)), band-limited interpolation
    (Blackman-windowed sinc, `taps` taps)."""
    ratio = 1.0 + ppm * 1e-6
    n_out = int(len(x) / ratio)
    y = np.empty(n_out)
    half = taps // 2
    padded = np.concatenate([np.zeros(half), x, np.zeros(half + 1)])
    k = np.arange(-half + 1, half + 1)
    for start in range(0, n_out, 8192):
        pos = np.arange(start, min(start + 8192, n_out)) * ratio
        base = np.floor(pos).astype(np.int64)
        frac = pos - base
        offsets = k[None, :] - frac[:, None]                   # sample index - position
        window = 0.42 + 0.5 * np.cos(np.pi * offsets / half) + 0.08 * np.cos(2 * np.pi * offsets / half)
        kernel = np.sinc(offsets) * window
        kernel /= kernel.sum(axis=1, keepdims=True)
        y[start:start + len(pos)] = np.sum(padded[base[:, None] + k[None, :] + half] * kernel, axis=1)
    return y


def shift(x: np.ndarray, ms: float) -> np.ndarray:
    """x delayed by ms (positive: later, negative: earlier), same length."""
    n = int(round(ms * RATE / 1000))
    if n == 0:
        return x.copy()
    out = np.zeros_like(x)
    if n > 0:
        out[n:] = x[:-n]
    else:
        out[:n] = x[-n:]
    return out


SCENES = {
    # name: (room with reverb + clip + drift, reference shift ms, user)
    "plain": (False, 0, False),
    "combo-late": (True, +SHIFT_MS, False),
    "combo-early": (True, -SHIFT_MS, False),
    "double-talk": (True, 0, True),
}


def build(out_dir: str, names: list[str]) -> dict:
    work = tempfile.mkdtemp(prefix="aec-scenes-")
    try:
        agent = espeak(AGENT_TEXT, AGENT_VOICE, work)
        user = espeak(USER_TEXT, USER_VOICE, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    agent *= AGENT_PEAK / np.max(np.abs(agent))
    user *= USER_PEAK / np.max(np.abs(user))
    lead = int(LEAD_SECONDS * RATE)
    total = lead + len(agent) + int(TAIL_SECONDS * RATE)
    played = np.zeros(total)
    played[lead:lead + len(agent)] = agent
    user_start = lead + int(USER_START_AFTER_AGENT * RATE)
    near_full = np.zeros(total)
    near_full[user_start:user_start + len(user)] = user[:total - user_start]

    index = {}
    for name in names:
        combined, ref_shift, with_user = SCENES[name]
        rng = np.random.default_rng(SEED)   # the same room and noise in every scene
        h = room_response(rng, ECHO_DELAY_MS, ECHO_GAIN, RT60_MS if combined else None)
        speaker = soft_clip(played) if combined else played
        echo = np.convolve(speaker, h)[:total]
        if combined:
            echo = drift(echo, DRIFT_PPM)
            echo = np.concatenate([echo, np.zeros(total - len(echo))])
        noise = rng.standard_normal(total) * 10 ** (NOISE_DBFS / 20)
        near = near_full if with_user else np.zeros(total)
        mic = echo + near + noise
        ref = shift(played, ref_shift)
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        for file, signal in (("mic", mic), ("ref", ref), ("echo", echo), ("near", near)):
            write_wav(os.path.join(d, file + ".wav"), signal)
        meta = {
            "scene": name, "rate": RATE, "seconds": round(total / RATE, 3),
            "agent_start_s": LEAD_SECONDS, "agent_end_s": round((lead + len(agent)) / RATE, 3),
            "echo_delay_ms": ECHO_DELAY_MS, "echo_gain": ECHO_GAIN,
            "rt60_ms": RT60_MS if combined else None,
            "reverb_to_direct_db": REVERB_TO_DIRECT_DB if combined else None,
            "speaker_clip_level": CLIP_LEVEL if combined else None,
            "drift_ppm": DRIFT_PPM if combined else 0.0,
            "reference_shift_ms": ref_shift, "noise_dbfs": NOISE_DBFS,
            "user": ({"start_s": round(user_start / RATE, 3),
                      "end_s": round(min(user_start + len(user), total) / RATE, 3)}
                     if with_user else None),
            "agent_voice": AGENT_VOICE, "user_voice": USER_VOICE if with_user else None,
            "seed": SEED,
        }
        with open(os.path.join(d, "scene.json"), "w") as f:
            json.dump(meta, f, indent=1)
        index[name] = meta
    return index


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=DEFAULT_OUT, help="directory for the scenes")
    p.add_argument("scenes", nargs="*", default=list(SCENES), help=" ".join(SCENES))
    args = p.parse_args(argv)
    unknown = [s for s in args.scenes if s not in SCENES]
    if unknown:
        p.error(f"unknown scene(s) {unknown}: {list(SCENES)}")
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            sys.exit(f"scenes: {tool} not found (tools/ensure-deps.sh installs it)")
    index = build(args.out, args.scenes)
    for name, meta in index.items():
        print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
