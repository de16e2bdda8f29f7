# SPDX-License-Identifier: Apache-2.0
"""Real-time audio threads never allocate (doc/architecture.md, "Threads and data flow").

tests/c/rt_malloc_count.c interposes malloc & co. for the whole process and counts the calls
made on the audio threads while a live session with the devserver runs: the app's own audio
thread in external mode, the library's lc-wav thread in WAV mode, its lc-capture/lc-playback threads in ALSA mode (ALSA's
`null` devices: they do not pace, so those threads run flat out, which exercises the paths
all the more).
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB_DIR = os.path.join(ROOT, "build", "lib")


@pytest.fixture(scope="module")
def counter_binary(tmp_path_factory):
    if not os.path.exists(os.path.join(LIB_DIR, "liblayercode.so")):
        pytest.skip("build/lib/liblayercode.so missing: run make")
    out = str(tmp_path_factory.mktemp("rt") / "rt_malloc_count")
    subprocess.run(["cc", "-std=c11", "-O2", "-I", os.path.join(ROOT, "include"),
                    os.path.join(ROOT, "tests", "c", "rt_malloc_count.c"), "-L", LIB_DIR,
                    "-llayercode", "-lpthread", "-lm", "-Wl,-rpath," + LIB_DIR, "-o", out],
                   check=True)
    return out


@pytest.fixture(scope="module")
def devserver():
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "devserver", "devserver.py"),
                             "--port", "0", "--agent", "tone", "--tone-seconds", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = json.loads(proc.stdout.readline())
    yield ready
    proc.terminate()
    proc.wait(timeout=10)


def run_counter(binary, ready, mode, env=None):
    out = subprocess.run([binary, ready["authorize_url"], ready["ws"], mode, "2", "4"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_external_audio_thread_makes_no_allocations(counter_binary, devserver):
    result = run_counter(counter_binary, devserver, "external")
    assert result["audio_frames_sent"] > 100, result  # the mic really streamed
    assert result["played_samples"] > 0, result       # and agent audio really played
    assert result["audio_thread_allocations"] == 0, result


def test_alsa_capture_and_playback_threads_make_no_allocations(counter_binary, devserver):
    result = run_counter(counter_binary, devserver, "alsa",
                         {"LC_TEST_CAPTURE": "null", "LC_TEST_PLAYBACK": "null"})
    assert result["played_samples"] > 16000, result
    assert result["audio_thread_allocations"] == 0, result


def test_wav_device_thread_makes_no_allocations(counter_binary, devserver, tmp_path):
    mic = str(tmp_path / "mic.wav")
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "2", "-b", "16", mic,
                    "synth", "8", "sine", "300"], check=True)
    result = run_counter(counter_binary, devserver, "wav",
                         {"LC_TEST_CAPTURE": mic, "LC_TEST_PLAYBACK": str(tmp_path / "out.wav")})
    assert result["audio_frames_sent"] > 100, result
    assert result["played_samples"] > 0, result
    assert result["audio_thread_allocations"] == 0, result


@pytest.fixture(scope="module")
def opus_server():
    """The devserver speaking the Opus wire profile, losing 10 % of its downlink packets and
    reordering 5 %, so that the render thread decodes, recovers from FEC and conceals."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "devserver", "devserver.py"),
                             "--port", "0", "--agent", "tone", "--tone-seconds", "30",
                             "--codecs", "opus,pcm16",
                             "--fault", "opus_loss:pct=10,seed=7", "--fault", "opus_reorder:pct=5,seed=8"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = json.loads(proc.stdout.readline())
    yield ready
    proc.terminate()
    proc.wait(timeout=10)


def test_external_audio_thread_makes_no_allocations_decoding_opus_with_fec_and_plc(counter_binary,
                                                                                    opus_server):
    result = run_counter(counter_binary, opus_server, "external", {"LC_TEST_CODECS": "opus,pcm16"})
    assert result["wire_codec"] == 1, result          # the session really spoke Opus
    assert result["played_samples"] > 0, result
    assert result["fec_recovered_frames"] > 0, result  # FEC and PLC ran on the render path
    assert result["audio_frames_sent"] > 100, result
    assert result["audio_thread_allocations"] == 0, result


def test_alsa_playback_thread_makes_no_allocations_decoding_opus(counter_binary, opus_server):
    result = run_counter(counter_binary, opus_server, "alsa",
                         {"LC_TEST_CAPTURE": "null", "LC_TEST_PLAYBACK": "null",
                          "LC_TEST_CODECS": "opus,pcm16"})
    assert result["wire_codec"] == 1, result
    assert result["played_samples"] > 16000, result
    assert result["audio_thread_allocations"] == 0, result
