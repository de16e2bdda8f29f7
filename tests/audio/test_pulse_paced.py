# SPDX-License-Identifier: Apache-2.0
"""The library's ALSA backend end to end at real-time pace: layercode-player in ALSA mode
on PulseAudio null sinks (see pulse.py), against the devserver's echo agent."""
import json
import os
import subprocess
import sys
import threading
import time
import wave

import pytest

from pulse import player_rig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYER = os.path.join(ROOT, "build", "bin", "layercode-player")
DURATION = 12.0


@pytest.fixture(scope="module")
def rig():
    yield from player_rig(PLAYER)


def start_devserver(tmp_path, *extra):
    log = tmp_path / "devserver.jsonl"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "devserver", "devserver.py"),
                             "--port", "0", "--log", str(log), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = json.loads(proc.stdout.readline())
    ready["log"] = log
    return proc, ready


@pytest.fixture
def devserver(tmp_path):
    proc, ready = start_devserver(tmp_path)
    yield ready
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("speech") / "speech.wav")
    subprocess.run(["espeak-ng", "-w", path, "Hello agent, can you hear me through the sound card?"],
                   check=True)
    return path


def rms(samples):
    return (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


def test_alsa_full_duplex_at_real_time_pace(rig, devserver, speech, tmp_path):
    recording = str(tmp_path / "speaker.wav")
    recorder = rig.record(recording)
    player = subprocess.Popen(
        [PLAYER, "--authorize-url", devserver["authorize_url"], "--ws-url", devserver["ws"],
         "--agent-id", "echo", "--capture", "lcmic", "--playback", "lcspk",
         "--device-rate", "48000", "--duration", str(DURATION), "--json-events"],
        env=rig.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = []
    connected = threading.Event()

    def read_events():
        for line in player.stdout:
            event = json.loads(line)
            events.append(event)
            if event.get("event") == "connected":
                connected.set()

    reader = threading.Thread(target=read_events)
    reader.start()
    assert connected.wait(15), f"player never connected: {player.stderr.read() if player.poll() is not None else ''}"
    time.sleep(3.0)  # let the greeting play out
    talker = rig.play(speech)
    started = time.monotonic()
    rc = player.wait(timeout=DURATION + 20)
    wall = time.monotonic() - started
    reader.join(timeout=5)
    talker.wait(timeout=10)
    recorder.terminate()
    recorder.wait(timeout=10)
    assert rc == 0, player.stderr.read()

    stats = [e for e in events if e.get("event") == "stats"][-1]
    log = [json.loads(l) for l in open(devserver["log"]) if l.strip()]
    received = [e["msg"] for e in log if e.get("kind") == "recv"]
    audio = [m for m in received if m.get("type") == "client.audio"]
    # Gated by the client VAD: only the speech (and its pre-roll/hangover) goes up, in
    # real time: no more frames than the wall clock allows.
    assert 40 <= len(audio) <= wall / 0.02 * 1.1, (len(audio), wall)
    assert all(m["content_bytes"] == 320 for m in audio)
    assert any(m.get("type") == "vad_events" and m.get("event") == "vad_start" for m in received)
    texts = [e["message"].get("content", "") for e in events
             if e.get("event") == "message" and e.get("type") == "response.text"]
    assert any("You said" in t for t in texts), texts
    assert stats["audio_frames_sent"] == len(audio)
    assert stats["played_samples"] > 16000, stats  # greeting + echo reached the speaker

    with wave.open(recording) as w:
        assert w.getframerate() == 16000
        frames = w.readframes(w.getnframes())
    import array
    samples = array.array("h", frames)
    loud = [rms(samples[i:i + 1600]) for i in range(0, len(samples) - 1600, 1600)]
    assert sum(1 for r in loud if r > 300) >= 10, "the speaker sink received no agent voice"


def test_tone_agent_plays_at_44100_stereo_without_clicks(rig, tmp_path):
    """The tone agent's 440 Hz greeting through ALSA at 44.1 kHz stereo (16 kHz agent audio
    resampled by the library): right frequency, both channels, continuous, no clicks."""
    proc, ready = start_devserver(tmp_path, "--agent", "tone", "--tone-seconds", "2")
    recording = str(tmp_path / "tone.wav")
    recorder = rig.record(recording, sink="lcspk44", rate=44100, channels=2)
    try:
        run = subprocess.run(
            [PLAYER, "--authorize-url", ready["authorize_url"], "--ws-url", ready["ws"],
             "--agent-id", "tone", "--no-mic", "--capture", "lcmic", "--playback", "lcspk44",
             "--device-rate", "44100", "--duration", "4", "--json-events",
             "--stats-interval", "0.5"],
            env=rig.env, capture_output=True, text=True, timeout=30)
    finally:
        recorder.terminate()
        recorder.wait(timeout=10)
        proc.terminate()
        proc.wait(timeout=10)
    assert run.returncode == 0, run.stderr
    every = [json.loads(l) for l in run.stdout.splitlines() if '"stats"' in l]
    stats = every[-1]
    assert stats["concealed_ms"] == 0 and stats["playback_xruns"] == 0, stats
    # The playback device's own queue (snd_pcm_delay), read by the driver after each write:
    # a real (paced) device holds some audio, never more than its buffer (a few periods).
    delays = [s["device_delay_ms"] for s in every]
    assert max(delays) > 0, delays
    assert max(delays) < 1000, delays

    import array
    with wave.open(recording) as w:
        assert (w.getframerate(), w.getnchannels()) == (44100, 2)
        samples = array.array("h", w.readframes(w.getnframes()))
    left, right = samples[0::2], samples[1::2]
    assert left == right, "mono agent audio must reach both channels alike"
    voiced = [i for i, s in enumerate(left) if abs(s) > 2000]
    assert voiced, "no tone was played"
    first, last = voiced[0], voiced[-1]
    assert 1.9 <= (last - first) / 44100 <= 2.1, f"tone lasted {(last - first) / 44100:.3f} s"
    body = left[first + 2205:last - 2205]  # inside the tone, away from its own start and end
    crossings = sum(1 for a, b in zip(body, body[1:]) if (a < 0) != (b < 0))
    frequency = crossings / 2 / (len(body) / 44100)
    assert abs(frequency - 440) < 5, f"{frequency:.1f} Hz"
    # 440 Hz at half scale moves at most 2*pi*440*16384/44100 ~ 1027 per sample: a larger
    # step is a click or a gap.
    max_step = max(abs(b - a) for a, b in zip(body, body[1:]))
    assert max_step < 1200, f"discontinuity of {max_step} in the played tone"
