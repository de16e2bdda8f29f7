#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Voice onset to `vad_start` on the wire (issue 14): how long after the first loud sample
of the user's speech the server receives the client's `vad_events{vad_start}`.

The rig is tests/audio's (pulse.py): a private PulseAudio with null sinks, the player in
ALSA mode capturing `lcmic.monitor` through ALSA's `pulse` plugin at 48 kHz and playing into
`lcspk` (no echo path), against the devserver (`--log`, agent `say` answering "OK.").

- The talker is one WAV (48 kHz) of N spoken words, each after a few seconds of quiet room
  noise (-60 dBFS), played into `lcmic` with paplay.
- The reference: a second recorder of `lcmic.monitor` asking PulseAudio for 5 ms of latency,
  each chunk stamped (time.time()) as it arrives. Its sample k entered the monitor at
  t0 + k / 48000, t0 taken from the earliest-arriving chunk (the null sink runs on the
  system clock); the onset is the first sample louder than -30 dBFS (|x| > 1036) after a
  quiet gap. No chunk arrives before its samples entered, so t0 is late by the reference's
  smallest latency at most (the null sink hands the monitor blocks of a few ms): every
  figure here may be short by that much, never long.
- The capture device's share: bench/onset_probe.py, an ALSA capture opened as AlsaPCM opens
  it (same period and buffer), on the same source: when the read holding each onset
  returned, and snd_pcm_delay after it.
- The player's `user_speaking` events (flushed per line, stamped by this script as they
  arrive): when the client VAD fired (the loop thread's callback, right after the session
  queued vad_start).
- The devserver's log: when `vad_start` arrived at the server (`t` of the recv line). Both
  stamps are within about a millisecond of each other, so "VAD fired -> at the server" can
  come out slightly negative: the send is below this bench's resolution.

Parts reported per onset: onset -> read by the probe (PulseAudio and the ALSA plugin), read
-> VAD fired (the library's capture ring and loop, resampling, the echo stage, and the VAD's
frames: with the devserver's config.vad, min_speech_frames 3 of 32 ms, the VAD needs 5
speech frames of 20 ms), VAD fired -> at the server.

Writes bench/results/onset.json and prints a table. Options: --onsets N (default 12),
--no-aec, --period-ms MS, --json (one JSON line on stdout, the table on stderr).
"""
import argparse
import array
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "audio"))
from pulse import PulseRig  # noqa: E402

PLAYER = os.path.join(ROOT, "build", "bin", "layercode-player")
RATE = 48000
LOUD = 1036                 # -30 dBFS: the "first loud sample"
GAP_SECONDS = 3.0           # quiet room before each word
WORDS = ["Stop.", "Wait a moment.", "Hello there.", "Excuse me.", "No, listen.",
         "Hey agent.", "Sorry, one thing.", "Hold on.", "Actually no.", "Question."]


def espeak(text, path):
    raw = path + ".raw.wav"
    subprocess.run(["espeak-ng", "-w", raw, text], check=True, capture_output=True)
    subprocess.run(["sox", raw, "-r", str(RATE), "-c", "1", "-b", "16", path],
                   check=True, capture_output=True)
    os.unlink(raw)
    with wave.open(path) as w:
        return array.array("h", w.readframes(w.getnframes()))


def build_talker(work, onsets, gain_db=0.0):
    """The talker's WAV and the sample index of each word's first loud sample."""
    rng = random.Random(14)
    noise = lambda n: array.array("h", (int(rng.gauss(0, 33)) for _ in range(n)))  # -60 dBFS
    out = array.array("h")
    marks = []
    words = {}
    for i in range(onsets):
        text = WORDS[i % len(WORDS)]
        if text not in words:
            words[text] = espeak(text, os.path.join(work, f"w{len(words)}.wav"))
        word = words[text]
        if gain_db:
            g = 10 ** (gain_db / 20)
            word = array.array("h", (int(s * g) for s in word))
        out += noise(int(GAP_SECONDS * RATE))
        first = next(k for k, s in enumerate(word) if abs(s) > LOUD)
        marks.append(len(out) + first)
        mixed = noise(len(word))
        for k, s in enumerate(word):
            mixed[k] = max(-32768, min(32767, mixed[k] + s))
        out += mixed
    out += noise(int(2.0 * RATE))
    path = os.path.join(work, "talker.wav")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(out.tobytes())
    return path, marks, len(out) / RATE


class Probe:
    """bench/onset_probe.py: an ALSA capture opened as the library opens it, on the same
    source: when each onset reached the application (the capture device's share)."""

    def __init__(self, rig, period_ms):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "bench", "onset_probe.py"), "lcmic",
             str(period_ms), "4"], env=rig.env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        self.geometry = json.loads(self.proc.stdout.readline() or "{}")
        self.reads = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.reads.append(json.loads(line))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=5)
        return self.reads


class Reference:
    """lcmic.monitor at 5 ms latency, every chunk stamped on arrival."""

    def __init__(self, rig):
        self.proc = subprocess.Popen(
            ["parec", "--device=lcmic.monitor", "--raw", "--format=s16le", f"--rate={RATE}",
             "--channels=1", "--latency-msec=5"], env=rig.env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        self.data = bytearray()
        self.chunks = []   # (arrival time, samples received so far)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 4096)
            now = time.time()
            if not chunk:
                return
            self.data += chunk
            self.chunks.append((now, len(self.data) // 2))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=5)
        samples = array.array("h", bytes(self.data[:len(self.data) // 2 * 2]))
        # The earliest any chunk could have been in the monitor: sample k at t0 + k / RATE.
        t0 = min(t - n / RATE for t, n in self.chunks)
        latencies = sorted(t - (t0 + n / RATE) for t, n in self.chunks)
        return samples, t0, latencies


def find_onsets(samples, t0, quiet_seconds=1.0):
    """Wall times of the first loud sample after each quiet stretch of `quiet_seconds`."""
    onsets = []
    last_loud = -10 ** 9
    quiet = int(quiet_seconds * RATE)
    for k, s in enumerate(samples):
        if s > LOUD or s < -LOUD:
            if k - last_loud > quiet:
                onsets.append(t0 + k / RATE)
            last_loud = k
    return onsets


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def summary(values):
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(percentile(values, 50), 1),
            "p90": round(percentile(values, 90), 1), "max": round(max(values), 1),
            "min": round(min(values), 1)}


def run(args):
    if not os.access(PLAYER, os.X_OK):
        sys.exit("bench/onset.py: build/bin/layercode-player missing: run make")
    work = tempfile.mkdtemp(prefix="layercode-onset-")
    talker_wav, marks, talker_seconds = build_talker(work, args.onsets, args.talker_gain_db)
    rig = PulseRig()
    log = os.path.join(work, "devserver.jsonl")
    server = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tools", "devserver", "devserver.py"), "--port", "0", "--no-dashboard",
         "--agent", "say", "--no-greeting", "--log", log],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    player = reference = talker = probe = None
    events = []
    try:
        ready = json.loads(server.stdout.readline())
        duration = talker_seconds + 6
        cmd = [PLAYER, "--authorize-url", ready["authorize_url"], "--ws-url", ready["ws"],
               "--agent-id", "say", "--metadata", json.dumps({"say_text": args.agent_text}),
               "--capture", "lcmic", "--playback", "lcspk", "--device-rate", str(RATE),
               "--duration", str(duration), "--json-events", "--amplitude-rate", "0",
               "--stats-interval", "1"]
        if args.period_ms:
            cmd += ["--period-ms", str(args.period_ms)]
        if args.no_aec:
            cmd += ["--no-aec"]
        player = subprocess.Popen(cmd, env=rig.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        connected = threading.Event()

        def read_events():
            for line in player.stdout:
                now = time.time()
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                event["_t"] = now
                events.append(event)
                if event.get("event") == "connected":
                    connected.set()

        reader = threading.Thread(target=read_events, daemon=True)
        reader.start()
        if not connected.wait(20):
            sys.exit("bench/onset.py: the player did not connect: " + player.stderr.read())
        time.sleep(1.0)
        reference = Reference(rig)
        probe = Probe(rig, args.period_ms or 10)
        time.sleep(0.5)
        talker = rig.play(talker_wav)
        talker.wait(timeout=talker_seconds + 30)
        time.sleep(1.0)
        samples, t0, ref_latencies = reference.stop()
        reference = None
        probe_reads, geometry = probe.stop(), probe.geometry
        probe = None
        player.wait(timeout=duration + 30)
        reader.join(timeout=5)
    finally:
        for proc in (talker, player):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        if reference is not None:
            reference.stop()
        if probe is not None:
            probe.stop()
        server.terminate()
        server.wait(timeout=10)
        rig.close()

    onsets = find_onsets(samples, t0)
    received = [json.loads(l) for l in open(log) if l.strip()]
    starts = [e["t"] for e in received if e.get("kind") == "recv"
              and e["msg"].get("type") == "vad_events" and e["msg"].get("event") == "vad_start"]
    fired = [e["_t"] for e in events if e.get("event") == "user_speaking" and e.get("speaking")]
    stats = [e for e in events if e.get("event") == "stats"]

    def first_after(times, t, within=1.5):
        later = [x for x in times if t - 0.05 <= x <= t + within]
        return later[0] if later else None

    delivered = [r["t"] for r in probe_reads]
    ms = lambda a, b: None if a is None or b is None else round((b - a) * 1000, 1)
    rows = []
    for t in onsets:
        wire, vad = first_after(starts, t), first_after(fired, t)
        device = first_after(delivered, t)
        rows.append({"onset": round(t, 4), "onset_to_capture_read_ms": ms(t, device),
                     "capture_read_to_vad_ms": ms(device, vad),
                     "onset_to_vad_ms": None if vad is None else round((vad - t) * 1000, 1),
                     "vad_to_wire_ms": None if vad is None or wire is None
                     else round((wire - vad) * 1000, 1),
                     "onset_to_wire_ms": None if wire is None else round((wire - t) * 1000, 1)})
    total = [r["onset_to_wire_ms"] for r in rows if r["onset_to_wire_ms"] is not None]
    to_vad = [r["onset_to_vad_ms"] for r in rows if r["onset_to_vad_ms"] is not None]
    to_wire = [r["vad_to_wire_ms"] for r in rows if r["vad_to_wire_ms"] is not None]
    last = stats[-1] if stats else {}
    column = lambda key: [r[key] for r in rows if r[key] is not None]
    result = {
        "bench": "onset_to_vad_start",
        "onsets_played": len(marks), "onsets_heard": len(onsets), "vad_starts": len(starts),
        "missed": sum(1 for r in rows if r["onset_to_wire_ms"] is None),
        "onset_to_wire_ms": summary(total),
        "onset_to_vad_fired_ms": summary(to_vad),
        "vad_fired_to_wire_ms": summary(to_wire),
        "onset_to_capture_read_ms": summary(column("onset_to_capture_read_ms")),
        "capture_read_to_vad_ms": summary(column("capture_read_to_vad_ms")),
        "capture_delay_after_read_ms": summary([r["delay_frames"] / RATE * 1000 for r in probe_reads]),
        "capture_device": {k: round(v / RATE * 1000, 2) if k != "rate" else v
                           for k, v in geometry.items()},
        "reference_latency_ms": summary([x * 1000 for x in ref_latencies]),
        "uplink_latency_p50_ms": last.get("uplink_latency_p50_ms"),
        "talker_gain_db": args.talker_gain_db, "aec": not args.no_aec, "period_ms": args.period_ms or 10,
        "device_rate": RATE, "goal_ms": 150,
        "rows": rows,
    }
    return result


def table(r):
    lines = ["| part | p50 ms | p90 ms | max ms |", "|---|---|---|---|"]
    for name, key in (("onset -> read by an ALSA capture like the library's (device)", "onset_to_capture_read_ms"),
                      ("read -> VAD fired (ring, loop, resampling, VAD frames)", "capture_read_to_vad_ms"),
                      ("onset -> VAD fired (player's user_speaking event)", "onset_to_vad_fired_ms"),
                      ("VAD fired -> vad_start at the server", "vad_fired_to_wire_ms"),
                      ("**onset -> vad_start at the server**", "onset_to_wire_ms"),
                      ("snd_pcm_delay after the read", "capture_delay_after_read_ms"),
                      ("reference recorder's own latency", "reference_latency_ms")):
        s = r[key]
        lines.append(f"| {name} | {s.get('p50', '-')} | {s.get('p90', '-')} | {s.get('max', '-')} |")
    lines.append(f"\n{r['onsets_heard']} onsets heard of {r['onsets_played']} played, "
                 f"{r['vad_starts']} vad_start received, {r['missed']} missed; "
                 f"AEC {'on' if r['aec'] else 'off'}, period {r['period_ms']} ms, "
                 f"capture device (ms) {r['capture_device']}, "
                 f"goal <= {r['goal_ms']} ms")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--onsets", type=int, default=12)
    parser.add_argument("--no-aec", action="store_true")
    parser.add_argument("--period-ms", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--talker-gain-db", type=float, default=0.0,
                        help="the words' level against espeak-ng's (about -20 dBFS RMS)")
    parser.add_argument("--agent-text", default="OK.",
                        help="what the agent says after each word (a long text: the words "
                             "come while the agent speaks, a barge-in without echo)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "onset.json"))
    args = parser.parse_args()
    result = run(args)
    if args.out:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    text = table(result)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
        print(text, file=sys.stderr)
    else:
        print(text)


if __name__ == "__main__":
    main()
