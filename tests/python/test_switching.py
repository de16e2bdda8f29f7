# SPDX-License-Identifier: Apache-2.0
"""Switching audio during a session (JS SDK setAudioInput / setAudioOutput / setInputDevice,
and their callbacks) with the real engine: WAV files as microphone and speaker, paced in
real time, and ALSA's own device list for on_devices_changed."""

from __future__ import annotations

import array
import os
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import layercode
import pytest

from .support import LIBRARY, ROOT, Recorder, rms, tone_burst, write_wav


def wav_samples(path: Path) -> array.array:
    with wave.open(str(path), "rb") as w:
        data = array.array("h")
        data.frombytes(w.readframes(w.getnframes()))
    return data


def wait_for(pred, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def wav_client(server, mic: Path, speaker: Path, **options) -> "tuple[layercode.Client, Recorder]":
    rec = Recorder()
    client = layercode.Client("agent", server.authorize_url, ws_url=server.ws_url, audio="wav",
                              capture_device=mic, playback_device=speaker, **options)
    for kind in layercode.EVENT_TYPES:
        client.on(kind, lambda *args, kind=kind: rec.add(kind, *args))
    return client, rec


def test_switch_microphone_mid_session(devserver, tmp_path):
    server = devserver("--no-greeting")
    quiet = write_wav(tmp_path / "quiet.wav", array.array("h", bytes(2 * 16000 * 20)))
    loud = write_wav(tmp_path / "loud.wav", tone_burst(20.0))
    client, rec = wav_client(server, quiet, tmp_path / "out.wav", amplitude_rate_hz=50)
    with client:
        client.connect().wait_connected(20)
        time.sleep(0.5)
        assert max(level for (level,) in rec.of("user_amplitude")) < 0.01
        client.set_input_device(loud)
        assert rec.of("device_switched") == [(True, str(loud))]
        sent = client.stats().audio_frames_sent
        wait_for(lambda: any(level > 0.05 for (level,) in rec.of("user_amplitude")),
                 what="the new microphone's level")
        wait_for(lambda: client.stats().audio_frames_sent > sent + 25, what="audio from it")
        # A device that cannot open is refused and the old one keeps running.
        with pytest.raises(layercode.AudioError):
            client.set_input_device(tmp_path / "missing.wav")
        sent = client.stats().audio_frames_sent
        wait_for(lambda: client.stats().audio_frames_sent > sent + 10, what="audio after a refusal")
        assert len(rec.of("device_switched")) == 1
        client.disconnect()
        assert client.wait_disconnected(10)


def test_switch_speaker_mid_reply_keeps_the_queued_agent_audio(devserver, tmp_path):
    server = devserver("--agent", "tone", "--tone-seconds", "3")
    silence = write_wav(tmp_path / "silence.wav", array.array("h", bytes(2 * 16000 * 20)))
    first, second = tmp_path / "first.wav", tmp_path / "second.wav"
    client, rec = wav_client(server, silence, first)
    with client:
        client.connect().wait_connected(20)
        wait_for(lambda: (True,) in rec.of("agent_speaking"), what="the greeting to play")
        time.sleep(0.3)
        played = client.stats().played_samples
        client.set_output_device(second)
        assert rec.of("device_switched") == [(False, str(second))]
        wait_for(lambda: (False,) in rec.of("agent_speaking"), timeout=30, what="the end of the greeting")
        stats = client.stats()
        client.disconnect()
        assert client.wait_disconnected(10)
    assert stats.played_samples > played, "playout went on on the new speaker"
    assert stats.dropped_frames == 0, "same rate: nothing queued was lost"
    assert rms(wav_samples(first)) > 100 and rms(wav_samples(second)) > 100


def test_audio_output_off_discards_agent_audio_and_on_restores_it(make_client, devserver):
    server = devserver("--agent", "tone", "--tone-seconds", "2")
    client = make_client(server)
    changes = []
    client.on("audio_output_changed", changes.append)
    client.set_audio_output(False)
    client.connect().wait_connected(20)
    time.sleep(1.0)  # the greeting arrives meanwhile
    out = bytearray(2 * 16000)
    assert client.read_audio_into(out) == 0, "nothing is queued while output is off"
    client.set_audio_output(True)
    client.send_text("again")  # the tone agent answers any turn with audio
    wait_for(lambda: client.read_audio_into(out) > 0, what="agent audio once output is on")
    assert changes == [False, True]
    client.disconnect()


def test_audio_input_off_sends_no_microphone_audio(make_client, devserver):
    server = devserver("--no-greeting")
    client = make_client(server)
    changes = []
    client.on("audio_input_changed", changes.append)
    client.connect().wait_connected(20)
    burst = tone_burst(0.6)
    client.write_audio(burst)
    wait_for(lambda: client.stats().audio_frames_sent >= 25, what="audio while on")
    client.set_audio_input(False)
    time.sleep(0.2)
    sent = client.stats().audio_frames_sent
    for _ in range(3):
        client.write_audio(burst)
        time.sleep(0.2)
    assert client.stats().audio_frames_sent == sent
    client.set_audio_input(True)
    client.write_audio(burst)
    wait_for(lambda: client.stats().audio_frames_sent > sent + 20, what="audio once on again")
    assert changes == [False, True]
    client.disconnect()


def test_switching_devices_needs_a_device_mode(make_client):
    client = make_client()
    with pytest.raises(layercode.InvalidStateError):
        client.set_input_device("default")
    with pytest.raises(layercode.InvalidStateError):
        client.set_output_device("default")
    with pytest.raises(layercode.InvalidArgumentError):
        layercode.Client("agent", "http://127.0.0.1:9/authorize", audio="wav").set_input_device("")
    text_only = layercode.Client("agent", "http://127.0.0.1:9/authorize", audio="none")
    with pytest.raises(layercode.InvalidStateError):
        text_only.set_audio_input(True)
    with pytest.raises(layercode.InvalidStateError):
        text_only.set_audio_output(False)
    text_only.close()


DEVICES_CHANGED_CHILD = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, sys.argv[1])
    import layercode
    conf = sys.argv[2]
    changed = []
    c = layercode.Client("agent", "http://127.0.0.1:9/authorize", device_watch_ms=100,
                         on_devices_changed=lambda: changed.append(
                             [d.name for d in layercode.list_devices()]))
    time.sleep(0.5)
    assert changed == [], changed
    with open(conf, "a") as f:
        f.write('pcm.plugged { type null hint { show on description "Plugged in" } }\\n')
    deadline = time.monotonic() + 10
    while not changed and time.monotonic() < deadline:
        time.sleep(0.05)
    c.close()
    print(changed)
    assert changed and "plugged" in changed[0], changed
""")


def test_devices_changed_when_alsa_gains_a_device(tmp_path):
    # ALSA reads its configuration from ALSA_CONFIG_PATH and re-reads it when it changes:
    # a device appearing there is what a hot-plugged card looks like to the name hints.
    conf = tmp_path / "asound.conf"
    conf.write_text('pcm.builtin { type null hint { show on description "Built in" } }\n')
    env = dict(os.environ, ALSA_CONFIG_PATH=str(conf))
    env.setdefault("LAYERCODE_LIBRARY", str(LIBRARY))
    script = tmp_path / "child.py"
    script.write_text(DEVICES_CHANGED_CHILD)
    time.sleep(1.1)  # the appended line must give the file a new mtime
    result = subprocess.run([sys.executable, str(script), str(ROOT / "bindings" / "python"),
                             str(conf)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_audio_input_and_output_options_start_them_off(make_client, devserver):
    server = devserver("--agent", "tone", "--tone-seconds", "1")
    client = make_client(server, audio_input=False, audio_output=False)
    changes = []
    client.on("audio_input_changed", changes.append)
    client.on("audio_output_changed", changes.append)
    client.connect().wait_connected(20)
    client.write_audio(tone_burst(0.6))
    time.sleep(1.0)
    out = bytearray(2 * 16000)
    assert client.read_audio_into(out) == 0, "agent audio is discarded"
    assert client.stats().audio_frames_sent == 0, "no microphone audio is sent"
    assert client.stats().audio_frames_received > 0, "the greeting did arrive"
    assert changes == [], "starting off is not a change"
    client.set_audio_input(True)
    client.write_audio(tone_burst(0.6))
    wait_for(lambda: client.stats().audio_frames_sent > 0, what="audio once the input is on")
    assert changes == [True]
    client.disconnect()
