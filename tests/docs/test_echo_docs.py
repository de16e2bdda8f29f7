# SPDX-License-Identifier: Apache-2.0
"""What to do about echo is documented, and the documented commands work (issue 9, item
25: with the speaker audible to the microphone the agent interrupted itself, and nothing
said what to do).

- README.md, include/layercode.h (by the audio modes) and the player's man page each name
  push-to-talk, a headset, `can_interrupt` off and the sound server's echo canceller, with
  the same `pactl` commands (examples/sh/readme_echo_cancel.sh, which the README shows).
- Those commands, run on a private PulseAudio, give echo-cancelled default devices, and the
  README's ALSA program (`"default"` devices) then records from the echo-cancelled source
  and plays to the echo-cancelled sink through a whole session with the devserver.
"""
from __future__ import annotations

import re
import subprocess
import time

import pytest

from docs_support import LIB, README, ROOT, DefaultDevicesRig, DevServer, run

SCRIPT = ROOT / "examples" / "sh" / "readme_echo_cancel.sh"
HEADER = ROOT / "include" / "layercode.h"
MAN_PAGE = ROOT / "doc" / "layercode-player.1"


def normalized(text: str) -> str:
    """Prose and commands as one line: comment stars, line continuations, backticks and
    runs of white space gone."""
    text = text.replace("\\\n", " ").replace("`", "")
    text = re.sub(r"\n\s*\*(?!/)", " ", text)
    return " ".join(text.split())


def commands() -> list[str]:
    return [" ".join(line.split()) for line in SCRIPT.read_text().splitlines()
            if line.startswith("pactl ")]


def man_text() -> str:
    proc = run(["groff", "-man", "-Tutf8", "-rHY=0", "-rLL=300n", "-P-cbou", MAN_PAGE])
    assert proc.returncode == 0, proc.describe
    return proc.stdout.replace("\u2212", "-").replace("\u2010", "-")


@pytest.mark.parametrize("name", ["README.md", "include/layercode.h", "doc/layercode-player.1"])
def test_echo_advice_is_documented(name):
    text = normalized(man_text() if name.endswith(".1") else (ROOT / name).read_text())
    cmds = commands()
    assert len(cmds) == 3 and "module-echo-cancel" in cmds[0], cmds
    for cmd in cmds:
        assert cmd in text, f"{name} lacks the command: {cmd}"
    lowered = text.lower()
    for advice in ("push-to-talk", "headset", "can_interrupt", "pipewire", "echo cancel"):
        assert advice in lowered, f"{name} does not mention {advice}"
    assert "default" in text


@pytest.fixture
def rig():
    r = DefaultDevicesRig()
    yield r
    r.close()


def pactl_short(rig, what: str) -> list[list[str]]:
    out = subprocess.run(["pactl", "list", "short", what], env=rig.env, capture_output=True,
                         text=True, timeout=10, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def index_of(rig, what: str, name: str) -> str:
    for row in pactl_short(rig, what):
        if row[1] == name:
            return row[0]
    raise AssertionError(f"no {name} among the {what}: {pactl_short(rig, what)}")


def test_documented_echo_cancel_commands_carry_a_session(rig, tmp_path):
    if not LIB.exists():
        pytest.skip("build/lib/liblayercode.so missing: run make")
    proc = run(["sh", SCRIPT], rig.env, timeout=30)
    assert proc.returncode == 0, proc.describe
    info = run(["pactl", "info"], rig.env).stdout
    assert "Default Source: echocancel" in info and "Default Sink: echocancel_sink" in info, info
    source = index_of(rig, "sources", "echocancel")
    sink = index_of(rig, "sinks", "echocancel_sink")

    exe = tmp_path / "readme_alsa"
    build = run(["cc", "-std=c99", "-Wall", "-Werror", "-I", ROOT / "include",
                 ROOT / "examples" / "c" / "readme_alsa.c", "-L", LIB.parent, "-llayercode",
                 f"-Wl,-rpath,{LIB.parent}", "-o", exe])
    assert build.returncode == 0, build.describe
    server = DevServer(tmp_path / "devserver", "--session-max-seconds", "6")
    try:
        app = subprocess.Popen([str(exe)], env={**rig.env, "AGENT_ID": "echo",
                                                "AUTHORIZE_URL": server.authorize_url,
                                                "WS_URL": server.ws_url},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            recording = playing = False
            deadline = time.monotonic() + 30
            while not (recording and playing) and app.poll() is None \
                    and time.monotonic() < deadline:
                recording = any(row[1] == source for row in pactl_short(rig, "source-outputs"))
                playing = any(row[1] == sink for row in pactl_short(rig, "sink-inputs"))
                time.sleep(0.1)
            out, err = app.communicate(timeout=60)
        finally:
            if app.poll() is None:
                app.kill()
                app.wait()
    finally:
        server.stop()
    describe = f"exit {app.returncode}\n--- stdout\n{out}--- stderr\n{err}"
    assert recording, f"the app never recorded from the echo-cancelled source\n{describe}"
    assert playing, f"the app never played to the echo-cancelled sink\n{describe}"
    assert app.returncode == 0, describe
    assert "agent speaking: yes" in out.splitlines(), describe
