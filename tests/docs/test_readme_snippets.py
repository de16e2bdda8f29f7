# SPDX-License-Identifier: Apache-2.0
"""Every code snippet of README.md is a real file under examples/ (issue 9, item 20: the
README's C snippet did not compile, looped unpaced, and failed silently on a wrong URL).

- The README's text of each C, Python and shell block is an exact excerpt of one of the
  snippet files (examples/c/readme_*.c, examples/python/readme_*.py,
  examples/sh/readme_*.sh; a fragment may drop a common indentation), and every snippet file
  is shown, so the two cannot drift apart.
- Each file is built (C: strict C99, warnings are errors) and run against the devserver as
  a user would run it: the C and Python programs with the environment the README names,
  the ALSA ones on a private PulseAudio whose null sinks are ALSA's `default` devices
  (real-time paced, no sound card), the player scripts from a directory holding build/.
- The devserver ends each session after a few seconds (close 1000), which is how the
  programs come to a clean end; the assertions are about what was said and done, never
  about how long it took.
"""
from __future__ import annotations

import array
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import wave
import zipfile
from pathlib import Path

import pytest

from docs_support import (BUILD, LIB, LIB_DIR, PLAYER, README, ROOT, DefaultDevicesRig,
                          DevServer, fenced_blocks, run)
from devserver_process import devservers  # on sys.path through docs_support

GREETING = "Hello! Say something and I will repeat it."  # the devserver's default
SNIPPET_FILES = {
    "c": sorted((ROOT / "examples" / "c").glob("readme_*.c")),
    "python": sorted((ROOT / "examples" / "python").glob("readme_*.py")),
    "sh": sorted((ROOT / "examples" / "sh").glob("readme_*.sh")),
}
CFLAGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O1"]
SESSION_SECONDS = "6"  # the devserver closes each socket (1000) after this


@pytest.fixture(scope="module", autouse=True)
def library():
    if not LIB.exists() or not PLAYER.exists():
        pytest.skip("build/lib/liblayercode.so or the player missing: run make")


@pytest.fixture
def devserver(tmp_path):
    yield from devservers(tmp_path)


@pytest.fixture(scope="module")
def rig():
    r = DefaultDevicesRig()
    yield r
    r.close()


def snippet_env(server: DevServer) -> dict:
    return {"AGENT_ID": "echo", "AUTHORIZE_URL": server.authorize_url, "WS_URL": server.ws_url}


def compile_snippet(name: str, out_dir: Path) -> Path:
    exe = out_dir / Path(name).stem
    proc = run(["cc", *CFLAGS, "-I", ROOT / "include", ROOT / "examples" / "c" / name,
                "-L", LIB_DIR, "-llayercode", f"-Wl,-rpath,{LIB_DIR}", "-o", exe])
    assert proc.returncode == 0, proc.describe
    return exe


def is_excerpt(block: str, source: str) -> bool:
    """block's lines appear as consecutive lines of source, up to a common indentation."""
    want = block.splitlines()
    lines = source.splitlines()
    for i in range(len(lines) - len(want) + 1):
        window = lines[i:i + len(want)]
        if window == want or textwrap.dedent("\n".join(window)).splitlines() == want:
            return True
    return False


# ---- the README's text is the files' text --------------------------------------------------

def test_readme_snippets_are_excerpts_of_tested_files():
    blocks = [b for b in fenced_blocks(README.read_text()) if b[0] in SNIPPET_FILES]
    assert len(blocks) >= 6, f"fewer README snippets than expected: {blocks}"
    shown = set()
    for lang, body, line in blocks:
        sources = [f for f in SNIPPET_FILES[lang] if is_excerpt(body, f.read_text())]
        names = [str(f.relative_to(ROOT)) for f in SNIPPET_FILES[lang]]
        assert sources, (f"README.md line {line}: this {lang} block is not an excerpt of any "
                         f"of {names}; change the file (which the tests run) and copy it "
                         f"into the README:\n{body}")
        shown.update(sources)
    unshown = [str(f.relative_to(ROOT)) for files in SNIPPET_FILES.values() for f in files
               if f not in shown]
    assert not unshown, f"snippet files the README does not show: {unshown}"


def test_readme_c_snippet_is_the_whole_program():
    """The main C snippet is not a fragment: from its first line to main's closing brace."""
    source = (ROOT / "examples" / "c" / "readme_client.c").read_text()
    shown = source[source.index("\n#define") + 1:]
    assert any(body == shown for lang, body, _ in fenced_blocks(README.read_text())
               if lang == "c"), "README.md does not show examples/c/readme_client.c whole"
    for needed in ("#include <stdio.h>", "on_error", "nanosleep", "lc_client_free(c);"):
        assert needed in shown, needed


# ---- C ---------------------------------------------------------------------------------

def test_readme_c_snippet_compiles_and_talks(devserver, tmp_path):
    exe = compile_snippet("readme_client.c", tmp_path)
    server = devserver("--session-max-seconds", SESSION_SECONDS)
    proc = run([exe], snippet_env(server), timeout=60)
    assert proc.returncode == 0, proc.describe
    assert f'response.text: {{"type":"response.text","content":"{GREETING}"' in proc.stdout, \
        proc.describe
    assert proc.stderr == "", proc.describe
    # One session, which the program left when the server ended it (not by giving up).
    assert len(server.received("client.ready")) == 1
    records = server.records()
    assert sum(r.get("kind") == "ws_open" for r in records) == 1, records[-5:]
    assert any(r.get("kind") == "ws_close" for r in records), records[-5:]


def test_readme_c_snippet_reports_a_wrong_url_through_on_error(devserver, tmp_path):
    """Without on_error a wrong authorize URL failed silently."""
    exe = compile_snippet("readme_client.c", tmp_path)
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    proc = run([exe], {"AGENT_ID": "echo",
                       "AUTHORIZE_URL": f"http://127.0.0.1:{closed}/authorize"}, timeout=60)
    assert proc.returncode == 1, proc.describe
    assert proc.stderr.startswith("error: "), proc.describe
    assert f"127.0.0.1:{closed}" in proc.stderr, proc.describe


def test_readme_c_snippet_says_which_option_is_missing(tmp_path):
    exe = compile_snippet("readme_client.c", tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("AGENT_ID", "AUTHORIZE_URL")}
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30, env=env)
    assert proc.returncode == 1, proc
    assert "agent_id" in proc.stderr, proc


def test_readme_alsa_snippet_plays_the_agent_on_default_devices(rig, devserver, tmp_path):
    exe = compile_snippet("readme_alsa.c", tmp_path)
    server = devserver("--session-max-seconds", SESSION_SECONDS)
    proc = run([exe], {**rig.env, **snippet_env(server)}, timeout=60)
    assert proc.returncode == 0, proc.describe
    lines = proc.stdout.splitlines()
    assert "agent speaking: yes" in lines and "agent speaking: no" in lines, proc.describe
    assert proc.stderr == "", proc.describe


# ---- Python ------------------------------------------------------------------------------

def test_readme_python_snippet_talks_on_default_devices(rig, devserver):
    server = devserver("--session-max-seconds", SESSION_SECONDS)
    env = {**rig.env, **snippet_env(server), "PYTHONPATH": str(ROOT / "bindings" / "python"),
           "LAYERCODE_LIBRARY": str(LIB)}
    proc = run([sys.executable, ROOT / "examples" / "python" / "readme_client.py"], env,
               timeout=90)
    assert proc.returncode == 0, proc.describe
    assert f"agent: {GREETING}" in proc.stdout.splitlines(), proc.describe


# ---- shell ---------------------------------------------------------------------------------

def user_dir(tmp_path: Path) -> Path:
    """A directory like the repository's top for the player scripts: build/ and nothing else
    of the tree, so whatever they write lands here."""
    d = tmp_path / "cwd"
    d.mkdir()
    (d / "build").symlink_to(BUILD)
    return d


def write_tone_wav(path: Path, seconds: float, lead_in: float) -> None:
    """16 kHz mono: silence, then a voiced-sounding burst the VADs take for speech."""
    rate = 16000
    samples = array.array("h", bytes(2 * int(lead_in * rate)))
    for i in range(int(seconds * rate)):
        t = i / rate
        env = 0.5 - 0.5 * math.cos(2 * math.pi * 4 * t)
        v = sum(math.sin(2 * math.pi * 200 * k * t) / k for k in (1, 2, 3))
        samples.append(int(9000 * (0.3 + 0.7 * env) * v))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def test_readme_player_wav_snippet_runs(devserver, tmp_path):
    cwd = user_dir(tmp_path)
    write_tone_wav(cwd / "question.wav", 1.5, lead_in=2.8)
    server = devserver("--session-max-seconds", "8")
    proc = run(["sh", ROOT / "examples" / "sh" / "readme_player_wav.sh"], snippet_env(server),
               timeout=60, cwd=cwd)
    assert proc.returncode == 0, proc.describe
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "connected" for e in events), proc.describe
    said = [e for e in events if e.get("event") == "message"
            and "You said" in json.dumps(e)]
    assert said, f"the echo agent did not answer the question:\n{proc.describe}"
    with wave.open(str(cwd / "answer.wav")) as w:
        assert w.getnframes() > 0


def player_pid(shell: subprocess.Popen, timeout: float = 30) -> int:
    """The player the script started (the shell's child)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{shell.pid}/task/{shell.pid}/children").read_text().split()
        except FileNotFoundError:
            children = []
        for pid in children:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if b"--push-to-talk" in argv:
                return int(pid)
        time.sleep(0.05)
    raise AssertionError("the script did not start the push-to-talk player")


def test_readme_player_alsa_snippet_talks_on_default_devices(rig, devserver, tmp_path):
    """The sound-card player, push-to-talk: not a terminal, so lines on stdin are the key."""
    server = devserver("--turn-mode", "push_to_talk", "--no-greeting")
    shell = subprocess.Popen(["sh", str(ROOT / "examples" / "sh" / "readme_player_alsa.sh")],
                             cwd=user_dir(tmp_path), env={**rig.env, **snippet_env(server)},
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        player = player_pid(shell)
        server.wait_for(lambda r: r.get("kind") == "recv"
                        and r["msg"].get("type") == "client.ready", 30)
        shell.stdin.write(b"talk\n")
        shell.stdin.flush()
        server.wait_for(lambda r: r.get("kind") == "recv"
                        and r["msg"].get("type") == "client.audio", 30)
        shell.stdin.write(b"done\n")
        shell.stdin.flush()
        server.wait_for(lambda r: r.get("kind") == "send"
                        and r["msg"].get("type") == "response.text", 30)
        os.kill(player, signal.SIGTERM)
        out, err = shell.communicate(timeout=30)
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()
    describe = f"exit {shell.returncode}\n--- stdout\n{out.decode()}--- stderr\n{err.decode()}"
    assert shell.returncode == 0, describe
    assert "default" in out.decode(), f"--list-devices did not list default:\n{describe}"
    assert len(server.received("trigger.turn.start")) == 1, describe
    assert len(server.received("trigger.turn.end")) == 1, describe


def test_readme_make_snippet_names_real_targets():
    """`make demo` and `make test` are not run here (this suite is part of `make test`):
    make -n checks both targets exist."""
    script = (ROOT / "examples" / "sh" / "readme_make.sh").read_text()
    targets = [line.split()[1] for line in script.splitlines() if line.startswith("make ")]
    assert targets == ["demo", "test"], targets
    proc = run(["make", "-n", *targets], cwd=ROOT)
    assert proc.returncode == 0, proc.describe


def test_readme_boards_snippet_builds_what_the_board_gets():
    """The "Raspberry Pi and other boards" commands, run as the README shows them: the
    aarch64 library, player and header, and the aarch64 wheel with that library inside."""
    script = ROOT / "examples" / "sh" / "readme_boards.sh"
    if shutil.which("aarch64-linux-gnu-gcc") is None and not os.environ.get("CI"):
        pytest.skip("aarch64-linux-gnu-gcc missing: run tools/ensure-deps.sh as root")
    proc = run(["sh", script], cwd=ROOT, timeout=1800)
    assert proc.returncode == 0, proc.describe
    out = BUILD / "aarch64"
    for path in (out / "lib" / "liblayercode.so.0", out / "bin" / "layercode-player"):
        header = path.read_bytes()[:20]
        # ELF, 64-bit, little-endian; e_machine 183 is EM_AARCH64.
        assert header[:4] == b"\x7fELF" and header[4] == 2 and header[18] == 183, path
    assert (out / "include" / "layercode.h").read_text() == (ROOT / "include" / "layercode.h").read_text()
    wheels = list((ROOT / "dist").glob("layercode-*-py3-none-manylinux_2_36_aarch64.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as whl:
        libs = [n for n in whl.namelist() if n.endswith(".so") or ".so." in n]
        assert libs, whl.namelist()
        assert all(whl.read(n)[18] == 183 for n in libs), libs
