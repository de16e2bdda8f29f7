# SPDX-License-Identifier: Apache-2.0
"""lc_client_poll_event and lc_set_log_handler against the devserver (tests/c/poll_events.c)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB_DIR = os.path.join(ROOT, "build", "lib")


def build(tmp_path, name: str, cc: str = "cc", lib_dir: str = LIB_DIR) -> str:
    """tests/c/NAME.c linked against lib_dir (skips without a library); cc and lib_dir:
    tests/cross's cross builds."""
    if not os.path.exists(os.path.join(lib_dir, "liblayercode.so")):
        pytest.skip(f"{lib_dir}/liblayercode.so missing: run make")
    binary = str(tmp_path / name)
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", os.path.join(ROOT, "include"),
                    os.path.join(ROOT, "tests", "c", name + ".c"), "-L", lib_dir, "-llayercode",
                    "-lpthread", "-Wl,-rpath," + lib_dir, "-o", binary], check=True)
    return binary


def run_against_devserver(argv_after_urls, *flags: str, runner=(), **run_options):
    """Runs argv[0] AUTHORIZE_URL WS_URL argv[1:] against a fresh devserver (behind runner,
    e.g. ("qemu-aarch64-static",) in tests/cross)."""
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "devserver", "devserver.py"),
                               "--port", "0", *flags], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(server.stdout.readline())
        binary, *rest = argv_after_urls
        return subprocess.run([*runner, binary, ready["authorize_url"], ready["ws"], *rest],
                              capture_output=True, text=True, **run_options)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_session_driven_by_polling_with_logging(tmp_path):
    run = run_against_devserver([build(tmp_path, "poll_events")], timeout=60)
    assert_polled_session(run)


def assert_polled_session(run):
    """poll_events.c's session went as it should (tests/cross reuses it)."""
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    events = [l for l in lines if l.startswith("event ")]
    assert events[0] == "event 1 1 ", events[:3]  # status connecting first
    assert any(l.startswith("log 2 connected: conversation") for l in lines), lines
    assert not any(l.startswith("log 3") for l in lines), "debug lines above the chosen level"
    assert "said=1" in lines[-1] and "dropped=0" in lines[-1], lines[-1]


def test_switching_and_failure_reason_from_c(tmp_path):
    """tests/c/switching.c: the device and audio switches, their callbacks, failure reason."""
    import array
    import math
    import wave
    binary = build(tmp_path, "switching")
    mics = []
    for name, amplitude in (("mic_a.wav", 0), ("mic_b.wav", 8000)):
        path = tmp_path / name
        samples = array.array("h", (int(amplitude * math.sin(2 * math.pi * 220 * i / 16000))
                                    for i in range(16000 * 30)))
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(samples.tobytes())
        mics.append(str(path))
    conf = tmp_path / "asound.conf"
    conf.write_text('pcm.builtin { type null hint { show on description "Built in" } }\n')
    env = dict(os.environ, ALSA_CONFIG_PATH=str(conf))
    run = run_against_devserver([binary, *mics, str(tmp_path / "out_a.wav"),
                                 str(tmp_path / "out_b.wav"), str(conf)], "--no-greeting",
                                timeout=120, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "result failures=0" in run.stdout
