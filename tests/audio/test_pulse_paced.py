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

from pulse import PulseRig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYER = os.path.join(ROOT, "build", "bin", "layercode-player")
DURATION = 12.0


@pytest.fixture(scope="module")
def rig():
    if not os.access(PLAYER, os.X_OK):
        pytest.skip("build/bin/layercode-player missing: run make")
    r = PulseRig()
    yield r
    r.close()


@pytest.fixture
def devserver(tmp_path):
    log = tmp_path / "devserver.jsonl"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "devserver", "devserver.py"),
                             "--port", "0", "--log", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = json.loads(proc.stdout.readline())
    ready["log"] = log
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
