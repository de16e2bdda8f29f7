# SPDX-License-Identifier: Apache-2.0
"""The session recorder (record=, lc_options.record_path) end to end: the real library and
the devserver over loopback, external audio paced in real time (AudioPump), and the file
checked by tools we did not write: opusinfo, opusdec and ffprobe."""

from __future__ import annotations

import array
import json
import os
import logging
import re
import shutil
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

import layercode

from .support import RATE, AudioPump, Recorder, tone_burst

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("opusinfo", "opusdec", "ffprobe", "espeak-ng")),
    reason="needs opus-tools, ffmpeg and espeak-ng (tools/ensure-deps.sh)")

TONE_HZ = 1000.0
SENTENCE = "Hello there. I would like to book a table for two people tomorrow evening, please."


def recorded_client(make_client, server, **options):
    rec = Recorder()
    client = make_client(server, **options)
    for kind in layercode.EVENT_TYPES:
        client.on(kind, lambda *args, kind=kind: rec.add(kind, *args))
    return client, rec


def is_message(mtype, pred=lambda m: True):
    return lambda kind, args: kind == "message" and args[0].get("type") == mtype and pred(args[0])


def espeak(text: str, tmp_path: Path) -> np.ndarray:
    """espeak-ng speech at 16 kHz (int16)."""
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), text], check=True, timeout=60)
    with wave.open(str(wav)) as w:
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
    x = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    t = np.arange(int(len(x) * RATE / rate)) * rate / RATE
    y = np.interp(t, np.arange(len(x)), x)
    y *= 12000 / max(1.0, np.abs(y).max())
    return y.astype(np.int16)


def decode(path: Path, tmp_path: Path) -> np.ndarray:
    """opusdec --rate 16000: (samples, 2) float."""
    out = tmp_path / "decoded.wav"
    run = subprocess.run(["opusdec", "--rate", "16000", str(path), str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    with wave.open(str(out)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 16000
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float64).reshape(-1, 2)


def opusinfo(path: Path) -> tuple[str, float]:
    """opusinfo's report (asserted free of warnings and errors) and its playback length."""
    run = subprocess.run(["opusinfo", str(path)], capture_output=True, text=True, timeout=60)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert not re.search(r"WARNING|ERROR|error", report), report
    m = re.search(r"Playback length:\s*(\d+)m:([\d.]+)s", report)
    assert m, report
    return report, int(m.group(1)) * 60 + float(m.group(2))


def ffprobe(path: Path) -> dict:
    run = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
                          str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr
    return json.loads(run.stdout)


def band_limit(x: np.ndarray, hz: float, rate: int = RATE) -> np.ndarray:
    """x with everything above hz removed (the uplink is 8 kHz)."""
    spectrum = np.fft.rfft(x)
    spectrum[int(len(x) * hz / rate):] = 0
    return np.fft.irfft(spectrum, len(x))


def best_correlation(reference: np.ndarray, signal: np.ndarray) -> tuple[float, int]:
    """The highest normalized correlation of reference against any stretch of signal, and
    the offset (samples into signal) where it is."""
    n = len(signal) + len(reference)
    size = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(reference, size)), size)
    xc = xc[:len(signal) - len(reference) + 1]
    energy = np.convolve(signal ** 2, np.ones(len(reference)), "valid")
    norm = np.sqrt(energy * np.sum(reference ** 2)) + 1e-9
    score = xc / norm
    lag = int(np.argmax(score))
    return float(score[lag]), lag


def tone_share(x: np.ndarray, hz: float, rate: int = RATE) -> float:
    """The share of x's energy at hz (a windowed spectrum, ±30 Hz)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spectrum[np.abs(freqs - hz) < 30].sum() / spectrum.sum())


class Taped:
    """Stands in for the client in an AudioPump and keeps every chunk it wrote (microphone)
    and read (speaker) with the time of the call: the ground truth a recording is held to,
    also when the machine stalls the pump."""

    def __init__(self, client) -> None:
        self.client = client
        self.written: list[tuple[float, np.ndarray]] = []
        self.read: list[tuple[float, np.ndarray]] = []

    @property
    def closed(self) -> bool:
        return self.client.closed

    def write_audio(self, chunk) -> int:
        n = self.client.write_audio(chunk)
        self.written.append((time.monotonic(), np.array(chunk, dtype=np.float64)))
        return n

    def read_audio_into(self, out) -> int:
        n = self.client.read_audio_into(out)
        self.read.append((time.monotonic(), np.array(out, dtype=np.float64)))
        return n


def frame_levels(x: np.ndarray, frame: int = 320) -> np.ndarray:
    frames = len(x) // frame
    return np.sqrt((x[:frames * frame].reshape(frames, frame) ** 2).mean(axis=1))


def expected_levels(chunks: list[tuple[float, np.ndarray]], t0: float, frames: int) -> np.ndarray:
    """Per 20 ms frame of the session's timeline: the loudest chunk handled in it (a chunk
    of 20 ms handled at t covers [t - 20 ms, t])."""
    out = np.zeros(frames)
    for t, chunk in chunks:
        level = np.sqrt((chunk ** 2).mean())
        for k in {int((t - t0 - 0.02) / 0.02), int((t - t0) / 0.02)}:
            if 0 <= k < frames:
                out[k] = max(out[k], level)
    return out


def agreement(expected: np.ndarray, recorded: np.ndarray, slack: int = 3) -> tuple[float, float]:
    """(recall, precision) of two per-frame booleans, each frame matched within ±slack."""
    def near(mask: np.ndarray) -> np.ndarray:
        grown = mask.copy()
        for d in range(1, slack + 1):
            grown[d:] |= mask[:-d]
            grown[:-d] |= mask[d:]
        return grown
    recall = (expected & near(recorded)).sum() / max(1, expected.sum())
    precision = (recorded & near(expected)).sum() / max(1, recorded.sum())
    return float(recall), float(precision)


def last_true(mask: np.ndarray) -> float:
    return (np.nonzero(mask)[0].max() + 1) * 0.02


def converse(client, rec, pump, speech) -> float:
    """The recorded conversation: the greeting tone plays out, the microphone says
    `speech`, the agent's answer plays out, the client disconnects. Returns when it was
    disconnected (monotonic seconds)."""
    rec.wait(is_message("response.end"), timeout=15)  # the greeting tone was sent
    rec.wait(lambda kind, args: kind == "agent_speaking" and args[0] is False, timeout=15)
    t_say = time.monotonic()
    pump.say(array.array("h", speech.tobytes()))
    t_reply = rec.wait(is_message("response.end"), timeout=30, after=t_say)[0]
    rec.wait(lambda kind, args: kind == "agent_speaking" and args[0] is False, timeout=15, after=t_reply)
    pump.stopped.wait(0.5)
    client.disconnect()
    t_end = rec.wait(lambda kind, args: kind == "disconnected", timeout=10)[0]
    pump.stop()
    return t_end


def test_recording_of_a_session_checked_by_opusinfo_opusdec_and_ffprobe(make_client, devserver, tmp_path):
    """The tone agent greets with a 1 kHz tone and answers with it; the microphone says an
    espeak-ng sentence. Left = what was sent (the sentence), right = what was played (the
    tones), on the session's clock; the file's length is the session's."""
    speech = espeak(SENTENCE, tmp_path)
    server = devserver("--agent", "tone", "--audio-speed", "1.0", "--tone-seconds", "1.0",
                       "--tone-hz", str(TONE_HZ))
    path = tmp_path / "session.opus"
    client, rec = recorded_client(make_client, server, record=str(path), agent_id="tone")
    client.connect().wait_connected(10)
    t_connected, _, (conversation_id, _) = rec.wait(lambda kind, args: kind == "connected")
    tape = Taped(client)
    pump = AudioPump(tape)
    pump.start()
    t_end = converse(client, rec, pump, speech)
    assert not pump.errors
    assert client.stats().recorder_dropped_frames == 0
    session_seconds = t_end - t_connected

    report, seconds = opusinfo(path)
    assert "Channels: 2" in report, report
    assert abs(seconds - session_seconds) < 0.1, (seconds, session_seconds)
    probe = ffprobe(path)
    [stream] = probe["streams"]
    assert stream["codec_name"] == "opus" and stream["channels"] == 2, stream
    tags = {k.upper(): v for k, v in probe["format"].get("tags", {}).items()}
    tags.update({k.upper(): v for k, v in stream.get("tags", {}).items()})
    assert conversation_id and tags.get("CONVERSATION_ID") == conversation_id, tags
    assert tags.get("AGENT_ID") == "tone", tags
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tags.get("DATE", "")), tags
    assert tags.get("ENCODER", "").startswith("liblayercode "), tags

    pcm = decode(path, tmp_path)
    assert abs(len(pcm) / RATE - session_seconds) < 0.1
    usable = len(pcm) // 320 * 320  # whole 20 ms frames
    left, right = pcm[:usable, 0], pcm[:usable, 1]

    # Left: the sentence as sent (8 kHz on the wire). Its best-matching stretch of 0.6 s
    # (the pump may have been stalled elsewhere by a busy machine) correlates highly.
    reference = band_limit(speech.astype(np.float64), 3800)
    best = max(best_correlation(reference[i:i + 9600], left)
               for i in range(0, len(reference) - 9600, 4800))
    score, lag = best
    assert score > 0.6, f"left/microphone correlation {score:.2f}"
    # Right: the tone, 1 kHz wherever it is loud.
    frames = len(pcm) // 320
    left_loud, right_loud = frame_levels(left) > 200, frame_levels(right) > 1000
    assert right_loud.sum() > 50 and tone_share(right[np.repeat(right_loud, 320)], TONE_HZ) > 0.9
    # Both on the session's clock: loud where, and only where, the pump spoke and played
    # (each frame within ±60 ms).
    spoken = expected_levels(tape.written, t_connected, frames) > 400
    played = expected_levels(tape.read, t_connected, frames) > 2000
    left_match, right_match = agreement(spoken, left_loud), agreement(played, right_loud)
    print(f"recorder: session {session_seconds:.3f} s, opusinfo {seconds:.3f} s; left r={score:.2f}; "
          f"(recall, precision) left {left_match}, right {right_match}")
    assert min(left_match) > 0.9 and min(right_match) > 0.95, (left_match, right_match)
    # Each side only its own: the other channel holds the stereo coder's crosstalk only
    # (measured -44 dB).
    assert np.sqrt((right[np.repeat(left_loud & ~right_loud, 320)] ** 2).mean()) < 0.03 * np.sqrt(
        (left[np.repeat(left_loud & ~right_loud, 320)] ** 2).mean())
    assert np.sqrt((left[np.repeat(right_loud & ~left_loud, 320)] ** 2).mean()) < 0.03 * np.sqrt(
        (right[np.repeat(right_loud & ~left_loud, 320)] ** 2).mean())


def test_barge_in_cuts_the_right_channel_at_the_flush(make_client, devserver, tmp_path):
    """An 8 s tone interrupted by the user after about 1.5 s: the right channel stops where
    playout stopped, not at the end of what the server sent."""
    server = devserver("--agent", "tone", "--audio-speed", "1.0", "--tone-seconds", "8",
                       "--tone-hz", str(TONE_HZ))
    path = tmp_path / "barge.opus"
    client, rec = recorded_client(make_client, server, record=str(path), agent_id="tone")
    client.connect().wait_connected(10)
    t_connected = rec.wait(lambda kind, args: kind == "connected")[0]
    tape = Taped(client)
    pump = AudioPump(tape)
    pump.start()
    rec.wait(lambda kind, args: kind == "agent_speaking" and args[0] is True)
    pump.stopped.wait(1.5)
    pump.say(tone_burst(1.5))
    rec.wait(is_message("turn.start", lambda m: m.get("role") == "user"))
    rec.wait(lambda kind, args: kind == "agent_speaking" and args[0] is False)
    pump.stopped.wait(2.0)
    client.disconnect()
    rec.wait(lambda kind, args: kind == "disconnected", timeout=10)
    pump.stop()
    assert not pump.errors

    opusinfo(path)
    right = decode(path, tmp_path)[:, 1]
    frames = len(right) // 320
    played = expected_levels(tape.read, t_connected, frames) > 2000
    recorded = frame_levels(right) > 1000
    print(f"barge-in: playout stopped at {last_true(played):.2f} s, the recording's right channel at "
          f"{last_true(recorded):.2f} s, of {frames * 0.02:.2f} s")
    assert abs(last_true(played) - last_true(recorded)) < 0.06
    assert recorded.sum() * 0.02 < 5, "the whole 8 s tone was recorded"
    assert min(agreement(played, recorded)) > 0.95
    # Silence after the flush, for the rest of the recording (>= 1.5 s of it).
    after = right[int((last_true(recorded) + 0.06) * RATE):]
    assert len(after) > 1.5 * RATE and np.sqrt((after ** 2).mean()) < 300


def test_unwritable_record_path_fails_connect_naming_it(make_client, devserver, tmp_path):
    client = make_client(devserver(), record=str(tmp_path / "no-such-dir" / "x.opus"))
    with pytest.raises(layercode.InvalidArgumentError, match="no-such-dir/x.opus"):
        client.connect()
    assert client.status == layercode.Status.DISCONNECTED


@pytest.mark.parametrize("reader", [False, True])
def test_fifo_record_path_fails_connect_instead_of_hanging(make_client, devserver, tmp_path, reader):
    """Regression (review of issue 12): a FIFO as record_path hung lc_client_connect in
    open(2) while nobody read it, and would block the recorder's writes when someone does.
    Either way connect fails at once, naming the path."""
    fifo = tmp_path / "rec.fifo"
    os.mkfifo(fifo)
    held = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK) if reader else None
    try:
        client = make_client(devserver(), record=str(fifo))
        with pytest.raises(layercode.InvalidArgumentError, match="rec.fifo"):
            client.connect()
        assert client.status == layercode.Status.DISCONNECTED
    finally:
        if held is not None:
            os.close(held)


def test_session_that_never_connects_leaves_no_file(make_client, tmp_path, closed_port):
    path = tmp_path / "never.opus"
    client, rec = recorded_client(make_client, None, authorize_url=f"http://127.0.0.1:{closed_port}/authorize",
                                  record=str(path), reconnect_max_attempts=0)
    client.connect()
    rec.wait(lambda kind, args: kind == "disconnected" or (kind == "status" and str(args[0]) == "error"),
             timeout=15)
    client.close()
    assert not path.exists()


def test_write_error_stops_recording_not_the_session(make_client, devserver, caplog):
    """/dev/full takes the open but fails every write: the session runs on, the log says
    once that recording stopped."""
    layercode.set_library_log_level(logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger="layercode.library"):
            client, rec = recorded_client(make_client, devserver(), record="/dev/full", agent_id="tone")
            client.connect().wait_connected(10)
            pump = AudioPump(client)
            pump.start()
            rec.wait(lambda kind, args: kind == "agent_speaking" and args[0] is True)
            pump.stopped.wait(0.5)
            assert client.status == layercode.Status.CONNECTED
            client.disconnect()
            rec.wait(lambda kind, args: kind == "disconnected", timeout=10)
            pump.stop()
    finally:
        layercode.set_library_log_level(None)
    stopped = [r for r in caplog.records if "recording stopped" in r.getMessage()]
    assert len(stopped) == 1, [r.getMessage() for r in caplog.records]
    assert "/dev/full" in stopped[0].getMessage()
    assert [args[0] for args in rec.of("disconnected")] == [0], "a clean close"


def test_a_reconnect_continues_the_same_file(make_client, devserver, tmp_path):
    """The devserver drops the first socket mid-greeting; the client reconnects (same
    conversation). One file covers the whole session, across both connections."""
    server = devserver("--agent", "tone", "--audio-speed", "1.0", "--tone-seconds", "2")
    path = tmp_path / "reconnect.opus"
    client, rec = recorded_client(make_client, server, record=str(path), agent_id="tone",
                                  metadata={"devserver_fault": "drop_tcp_mid_turn"},
                                  reconnect_base_ms=50)
    client.connect().wait_connected(10)
    t_connected, _, (conversation_id, _) = rec.wait(lambda kind, args: kind == "connected")
    pump = AudioPump(client)
    pump.start()
    rec.wait(lambda kind, args: kind == "status" and str(args[0]) == "reconnecting", timeout=15)
    t_again = rec.wait(lambda kind, args: kind == "status" and str(args[0]) == "connected",
                       timeout=15, after=t_connected + 0.001)[0]
    pump.stopped.wait(1.0)
    client.disconnect()
    t_end = rec.wait(lambda kind, args: kind == "disconnected", timeout=10)[0]
    pump.stop()
    assert client.stats().reconnects == 1
    assert t_again > t_connected

    report, seconds = opusinfo(path)
    assert abs(seconds - (t_end - t_connected)) < 0.1, (seconds, t_end - t_connected)
    assert report.count("New logical stream") == 1, report
    tags = ffprobe(path)["streams"][0].get("tags", {})
    assert {k.upper(): v for k, v in tags.items()}.get("CONVERSATION_ID") == conversation_id


def test_recording_over_the_opus_wire_profile(make_client, devserver, tmp_path):
    """The same recording when the session speaks the Opus profile (16 kHz uplink frames,
    Opus agent packets decoded into playout): left the sentence as sent, right the tone."""
    speech = espeak(SENTENCE, tmp_path)
    server = devserver("--agent", "tone", "--audio-speed", "1.0", "--tone-seconds", "1.0",
                       "--tone-hz", str(TONE_HZ), "--codecs", "opus,pcm16")
    path = tmp_path / "opus-session.opus"
    client, rec = recorded_client(make_client, server, record=str(path), agent_id="tone",
                                  codecs="opus,pcm16")
    client.connect().wait_connected(10)
    t_connected = rec.wait(lambda kind, args: kind == "connected")[0]
    pump = AudioPump(client)
    pump.start()
    t_end = converse(client, rec, pump, speech)
    stats = client.stats()
    assert stats.wire_codec == 1 and stats.recorder_dropped_frames == 0  # LC_CODEC_OPUS

    _, seconds = opusinfo(path)
    assert abs(seconds - (t_end - t_connected)) < 0.1
    pcm = decode(path, tmp_path)
    usable = len(pcm) // 320 * 320
    left, right = pcm[:usable, 0], pcm[:usable, 1]
    reference = band_limit(speech.astype(np.float64), 7600)  # a 16 kHz uplink
    score, _ = max(best_correlation(reference[i:i + 9600], left)
                   for i in range(0, len(reference) - 9600, 4800))
    assert score > 0.6, f"left/microphone correlation {score:.2f}"
    right_loud = frame_levels(right) > 1000
    assert right_loud.sum() > 50 and tone_share(right[np.repeat(right_loud, 320)], TONE_HZ) > 0.9
