# SPDX-License-Identifier: Apache-2.0
"""layercode-player's audio features end to end, against the devserver: push-to-talk (lines
on stdin, and keys on a terminal), level / speaking / mute events, periodic statistics, the
live status line, device listing, and ALSA mode through ALSA's own file and null plugins.

ALSA without a sound card: the tests write an asoundrc into a temporary HOME. Capture is
`type file` with an `infile`, playback `type file` writing a raw file, both over the `null`
plugin, behind `type plug` (which fixes the file formats: 48 kHz stereo in, 44.1 kHz stereo
out). The null plugin is not paced (it takes and gives audio as fast as the CPU goes), so
the rig paces both ends itself: `infile` and `file` are FIFOs, fed and drained in real time
by threads here. Fed 20 ms at a time, with the player's period also 20 ms, the file
plugin's reads are whole (it does not retry a short read).
"""

from __future__ import annotations

import array
import base64
import errno
import fcntl
import json
import math
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from .player_support import (FRAME_BYTES, FRAME_SECONDS, LC_OK, SAID, PlayerRun,
                             parse_json_events, read_wav_mono16, voiced_seconds)

# Fields every stats event carries (the new ones after the original set).
STATS_FIELDS = ["audio_frames_sent", "audio_bytes_sent", "audio_frames_received",
                "audio_bytes_received", "messages_sent", "messages_received",
                "input_samples_dropped", "playout_samples_dropped", "played_samples",
                "underrun_samples", "connect_time_us", "jitter_delay_ms", "jitter_target_ms",
                "concealed_ms", "interruptions", "interruption_ms", "late_frames",
                "dropped_frames", "capture_xruns", "playback_xruns"]

UNGATED = ["--metadata", '{"vad": {"gate_audio": false}}']


def base_args(server, agent: str = "echo") -> list[str]:
    return ["--authorize-url", server.authorize_url, "--ws-url", server.ws_url,
            "--agent-id", agent]


def session_records(server, timeout: float = 10.0) -> list[dict]:
    return server.closed_session_log(timeout)


def received(log: list[dict]) -> list[dict]:
    """What the server received: [{"t":..., "type":..., "msg":...}] in order."""
    return [{"t": r["t"], "type": r["msg"]["type"], "msg": r["msg"]}
            for r in log if r["kind"] == "recv"]


def said_seconds(run: PlayerRun) -> list[float]:
    found = [SAID.search(m["message"].get("content", "")) for m in run.messages("response.text")]
    return [float(m.group(1)) for m in found if m]


# ---- a player run watched live ---------------------------------------------------------

class LivePlayer:
    """The player as a subprocess whose stdout lines are timestamped as they arrive."""

    def __init__(self, argv: list[str], *, stdin=subprocess.PIPE, env=None,
                 stdout=subprocess.PIPE) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout,
                                     stderr=subprocess.PIPE, env=env)
        self.lines: list[tuple[float, str]] = []
        self._err = b""
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._read_err, daemon=True)]
        if stdout is subprocess.PIPE:
            self._threads.append(threading.Thread(target=self._read_out, daemon=True))
        for t in self._threads:
            t.start()

    def _read_out(self) -> None:
        for raw in self.proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), raw.decode("utf-8").rstrip("\n")))
                self._cond.notify_all()

    def _read_err(self) -> None:
        self._err = self.proc.stderr.read()

    def events(self) -> list[tuple[float, dict]]:
        with self._cond:
            return [(t, json.loads(line)) for t, line in self.lines]

    def wait_event(self, pred, timeout: float = 15.0, nth: int = 1) -> tuple[float, dict]:
        """The nth event (1-based) matching pred, with its arrival time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matches = [(t, e) for t, e in ((t, json.loads(line)) for t, line in self.lines)
                           if pred(e)]
                if len(matches) >= nth:
                    return matches[nth - 1]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._threads[-1].is_alive()):
                    raise AssertionError(f"no matching event in {timeout} s:\n{self.describe()}")
                self._cond.wait(min(left, 0.05))

    def finish(self, timeout: float = 30.0) -> PlayerRun:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"player did not exit in {timeout} s:\n{self.describe()}")
        for t in self._threads:
            t.join(10)
        stdout = "\n".join(line for _, line in self.lines) + ("\n" if self.lines else "")
        run = PlayerRun(self.argv, self.proc.returncode, stdout,
                        self._err.decode("utf-8", "replace"))
        if "--json-events" in self.argv:
            run.events = parse_json_events(stdout)
        return run

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def describe(self) -> str:
        out = "\n".join(line for _, line in self.lines)
        return f"$ {' '.join(self.argv)}\n--- stdout\n{out}\n--- stderr\n{self._err!r}"


# ---- push-to-talk ----------------------------------------------------------------------

def assert_turn_audio(recv: list[dict], n_turns: int) -> list[tuple[float, float, int]]:
    """client.audio only inside trigger.turn.start..end; returns (start, end, frames)."""
    starts = [i for i, m in enumerate(recv) if m["type"] == "trigger.turn.start"]
    ends = [i for i, m in enumerate(recv) if m["type"] == "trigger.turn.end"]
    assert len(starts) == n_turns and len(ends) == n_turns, \
        f"turn starts {starts}, ends {ends}: {[m['type'] for m in recv]}"
    audio = [i for i, m in enumerate(recv) if m["type"] == "client.audio"]
    turns = []
    for s, e in zip(starts, ends):
        assert s < e, (s, e)
        inside = [i for i in audio if s < i < e]
        t0, t1 = recv[s]["t"], recv[e]["t"]
        # The pre-roll (config.vad.buffer_frames = 10) comes at once right after the start,
        # with at most the current frame.
        burst = [i for i in inside if recv[i]["t"] - t0 < 0.010]
        assert len(burst) <= 11, f"{len(burst)} frames right after trigger.turn.start"
        live = (t1 - t0) / FRAME_SECONDS
        assert 0.8 * live <= len(inside) <= live + 10 + 0.1 * live + 2, \
            f"{len(inside)} frames in a {t1 - t0:.2f} s turn"
        turns.append((t0, t1, len(inside)))
    outside = [i for i in audio if not any(s < i < e for s, e in zip(starts, ends))]
    assert not outside, f"{len(outside)} client.audio outside the turns: " \
                        f"{[(recv[i]['t'], i) for i in outside[:5]]}"
    sizes = {recv[i]["msg"].get("content_bytes") for i in audio}
    assert sizes <= {FRAME_BYTES}, sizes
    return turns


def test_push_to_talk_lines_on_stdin(devserver, build, speech):
    """Not a terminal: each line on stdin toggles the turn."""
    server = devserver("--turn-mode", "push_to_talk")
    argv = [str(build.player), *base_args(server), "--json-events", "--push-to-talk",
            "--input", str(speech.mono16k), "--duration", "8"]
    live = LivePlayer(argv)
    try:
        t_conn, _ = live.wait_event(lambda e: e["event"] == "connected")
        time.sleep(max(0.0, t_conn + 1.0 - time.monotonic()))
        live.proc.stdin.write(b"talk\n")
        live.proc.stdin.flush()
        # About 3 s later, once the speech (speech.start..speech.end after the connection)
        # is over.
        end_at = t_conn + max(4.0, speech.end + 0.2)
        time.sleep(max(0.0, end_at - time.monotonic()))
        live.proc.stdin.write(b"done\n")
        live.proc.stdin.flush()
        run = live.finish(30)
    finally:
        live.kill()
    assert run.returncode == 0, run.describe()
    assert run.events[0]["event"] == "status", run.describe()
    assert [e["talking"] for e in run.of("talk")] == [True, False], run.describe()
    assert run.of("connected")[0]["config"]["transcription"]["trigger"] == "push_to_talk"

    log = session_records(server)
    recv = received(log)
    (t0, t1, frames), = assert_turn_audio(recv, 1)
    assert 2.5 < t1 - t0 < 5.0, f"turn lasted {t1 - t0:.2f} s"
    said = said_seconds(run)
    assert said, f"no echo of the turn:\n{run.describe()}"
    assert abs(said[0] - frames * FRAME_SECONDS) <= 0.15, (said, frames)
    assert run.stats["audio_frames_sent"] == frames, run.stats


def test_push_to_talk_wav_input_plays_only_while_talking(devserver, build, tmp_path):
    """--push-to-talk --input: the WAV is what the user says while holding the button, so
    it waits for the turn instead of passing unheard from the connection on. The file is
    1 s of voice then silence; the turn starts 2 s after the connection."""
    server = devserver("--turn-mode", "push_to_talk", "--no-greeting", "--log-audio-content")
    voice = tmp_path / "voice-first.wav"
    from .player_support import tone_burst, write_wav
    write_wav(voice, 16000, 1, tone_burst(16000, 0.0, 1.0) + [0] * 48000)
    argv = [str(build.player), *base_args(server), "--json-events", "--push-to-talk",
            "--input", str(voice), "--duration", "6"]
    live = LivePlayer(argv)
    try:
        t_conn, _ = live.wait_event(lambda e: e["event"] == "connected")
        time.sleep(max(0.0, t_conn + 2.0 - time.monotonic()))
        live.proc.stdin.write(b"talk\n")
        live.proc.stdin.flush()
        live.wait_event(lambda e: e["event"] == "talk" and e["talking"])
        time.sleep(1.6)
        live.proc.stdin.write(b"done\n")
        live.proc.stdin.flush()
        run = live.finish(30)
    finally:
        live.kill()
    assert run.returncode == 0, run.describe()
    recv = received(session_records(server))
    kinds = [m["type"] for m in recv]
    assert kinds.count("trigger.turn.start") == 1 and kinds.count("trigger.turn.end") == 1
    start, end = kinds.index("trigger.turn.start"), kinds.index("trigger.turn.end")
    pcm = b"".join(base64.b64decode(m["msg"]["content"]) for m in recv[start:end]
                   if m["type"] == "client.audio")
    frames = kinds[start:end].count("client.audio")
    samples = array.array("h", pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    # 8 kHz uplink: the pre-roll (silence: the file waited), then the file's second of
    # voice, whatever the delay before the turn.
    assert voiced_seconds(list(samples), 8000, 0.0, 1.5) >= 0.9, \
        f"the turn's first second is not the WAV's voice ({frames} frames sent)"


def test_push_to_talk_eof_ends_turn(devserver, build, speech):
    """End of input ends a turn in progress."""
    server = devserver("--turn-mode", "push_to_talk")
    argv = [str(build.player), *base_args(server), "--json-events", "--push-to-talk",
            "--input", str(speech.mono16k), "--duration", "5"]
    live = LivePlayer(argv)
    try:
        t_conn, _ = live.wait_event(lambda e: e["event"] == "connected")
        time.sleep(max(0.0, t_conn + 0.5 - time.monotonic()))
        live.proc.stdin.write(b"\n")
        live.proc.stdin.flush()
        time.sleep(max(0.0, t_conn + 2.0 - time.monotonic()))
        live.proc.stdin.close()
        t_eof = time.monotonic()
        t_off, _ = live.wait_event(lambda e: e["event"] == "talk" and not e["talking"], 5)
        run = live.finish(30)
    finally:
        live.kill()
    assert run.returncode == 0, run.describe()
    assert t_off - t_eof < 0.5, f"turn ended {t_off - t_eof:.2f} s after EOF"
    (t0, t1, frames), = assert_turn_audio(received(session_records(server)), 1)
    assert 1.0 < t1 - t0 < 2.2, t1 - t0


def _tty_flags(fd: int) -> tuple[bool, bool]:
    lflag = termios.tcgetattr(fd)[3]
    return bool(lflag & termios.ICANON), bool(lflag & termios.ECHO)


def test_push_to_talk_keys_on_a_tty(devserver, build):
    """A terminal: held SPACE (auto-repeat) talks until it stops repeating, 't' toggles,
    'm' mutes, 'q' quits; the terminal is restored."""
    server = devserver("--turn-mode", "push_to_talk", "--no-greeting")
    master, slave = pty.openpty()
    assert _tty_flags(slave) == (True, True)
    argv = [str(build.player), *base_args(server), "--json-events", "--push-to-talk",
            "--no-devices", "--duration", "30"]
    live = LivePlayer(argv, stdin=slave)
    try:
        live.wait_event(lambda e: e["event"] == "connected")
        assert _tty_flags(slave) == (False, False), "terminal not in raw mode"

        # SPACE held for ~1.2 s: the first press, then repeats every 40 ms after 400 ms.
        os.write(master, b" ")
        time.sleep(0.4)
        for _ in range(20):
            os.write(master, b" ")
            time.sleep(0.04)
        t_last = time.monotonic()
        t_off, _ = live.wait_event(lambda e: e["event"] == "talk" and not e["talking"], 5)
        assert 0.2 < t_off - t_last < 1.0, f"released {t_off - t_last:.2f} s after the last repeat"
        talks = [e["talking"] for _, e in live.events() if e["event"] == "talk"]
        assert talks == [True, False], talks

        # 'm' twice: muted, unmuted.
        os.write(master, b"m")
        live.wait_event(lambda e: e["event"] == "mute" and e["muted"], 5)
        os.write(master, b"m")
        live.wait_event(lambda e: e["event"] == "mute" and not e["muted"], 5)

        # 't' latches: no auto-release.
        is_talk = lambda e: e["event"] == "talk"  # noqa: E731
        os.write(master, b"t")
        live.wait_event(is_talk, 5, nth=3)
        time.sleep(1.0)
        talks = [e["talking"] for _, e in live.events() if is_talk(e)]
        assert talks == [True, False, True], talks
        os.write(master, b"t")
        live.wait_event(is_talk, 5, nth=4)

        os.write(master, b"q")
        run = live.finish(10)
        assert _tty_flags(slave) == (True, True), "terminal not restored after 'q'"
    finally:
        live.kill()
        os.close(master)
        os.close(slave)
    assert run.returncode == 0, run.describe()
    assert run.events[-1]["event"] == "stats" and run.events[-1]["final"], run.describe()
    assert [e["reason"] for e in run.of("disconnected")] == [LC_OK], run.describe()
    recv = received(session_records(server))
    assert_turn_audio(recv, 2)


def test_push_to_talk_tty_restored_on_sigint(devserver, build):
    server = devserver("--no-greeting")
    master, slave = pty.openpty()
    assert _tty_flags(slave) == (True, True)
    argv = [str(build.player), *base_args(server), "--json-events", "--push-to-talk",
            "--no-devices"]
    live = LivePlayer(argv, stdin=slave)
    try:
        live.wait_event(lambda e: e["event"] == "connected")
        assert _tty_flags(slave) == (False, False), "terminal not in raw mode"
        live.proc.send_signal(signal.SIGINT)
        run = live.finish(10)
        assert _tty_flags(slave) == (True, True), "terminal not restored after SIGINT"
    finally:
        live.kill()
        os.close(master)
        os.close(slave)
    assert run.returncode == 0, run.describe()
    assert run.events[-1]["event"] == "stats", run.describe()


# ---- levels, speaking, mute, statistics ------------------------------------------------

def windows(events: list[dict], flag_event: str) -> list[list[dict]]:
    """The amplitude events inside each true..false window of a speaking flag."""
    out, current = [], None
    for e in events:
        if e["event"] == flag_event:
            if e["speaking"]:
                current = []
            elif current is not None:
                out.append(current)
                current = None
        elif e["event"] == "amplitude" and current is not None:
            current.append(e)
    return out


def test_levels_and_speaking_events(devserver, player, speech):
    duration = 7.5
    server = devserver()
    run = player(*base_args(server), "--json-events", "--no-devices", "--input",
                 speech.mono16k, "--duration", duration, "--stats-interval", "1",
                 timeout=duration + 20)
    assert run.returncode == 0, run.describe()
    events = run.events

    amps = run.of("amplitude")
    assert 0.5 * duration * 20 <= len(amps) <= 1.15 * duration * 20, \
        f"{len(amps)} amplitude events in {duration} s at 20 Hz"
    assert all(0.0 <= a["user"] <= 1.0 and 0.0 <= a["agent"] <= 1.0 for a in amps)

    agent = [e["speaking"] for e in run.of("agent_speaking")]
    user = [e["speaking"] for e in run.of("user_speaking")]
    for flags, who in ((agent, "agent"), (user, "user")):
        assert flags and flags[0] is True and flags[-1] is False, f"{who}: {flags}"
        assert all(a != b for a, b in zip(flags, flags[1:])), f"{who}: {flags}"
    first = lambda name: next(i for i, e in enumerate(events)  # noqa: E731
                              if e["event"] == name and e["speaking"])
    assert first("agent_speaking") < first("user_speaking"), "greeting before the speech"

    greeting = windows(events, "agent_speaking")[0]
    assert greeting, "no amplitude events while the greeting played"
    assert max(a["agent"] for a in greeting) > 0.01, greeting
    # The speech file is digital silence until the speech starts (while the greeting plays).
    early = greeting[:len(greeting) * 2 // 3]
    assert max(a["user"] for a in early) < 0.001, early
    spoken = [a for w in windows(events, "user_speaking") for a in w]
    assert spoken and max(a["user"] for a in spoken) > 0.01, spoken

    periodic = [e for e in run.of("stats") if e["final"] is False]
    assert int(duration) - 2 <= len(periodic) <= int(duration) + 1, len(periodic)
    final = run.stats
    assert final["final"] is True and run.events[-1] is final
    for e in periodic + [final]:
        missing = [f for f in STATS_FIELDS + ["input_seconds", "output_seconds"] if f not in e]
        assert not missing, f"stats event lacks {missing}: {e}"
    sent = [e["audio_frames_sent"] for e in periodic]
    assert sent == sorted(sent), sent
    assert final["jitter_target_ms"] >= 0 and final["late_frames"] >= 0, final


def test_muted_sends_no_audio(devserver, player, speech):
    server = devserver()
    run = player(*base_args(server), "--json-events", "--no-devices", "--input",
                 speech.mono16k, "--muted", "--amplitude-rate", "0", "--duration", "5",
                 *UNGATED, timeout=25)
    assert run.returncode == 0, run.describe()
    assert [e["muted"] for e in run.of("mute")] == [True], run.describe()
    assert not run.of("amplitude"), "amplitude events with --amplitude-rate 0"
    recv = received(session_records(server))
    assert recv and recv[0]["type"] == "client.ready", recv[:3]
    assert not [m for m in recv if m["type"] in ("client.audio", "vad_events")], \
        [m["type"] for m in recv]
    assert run.stats["audio_frames_sent"] == 0, run.stats
    assert not said_seconds(run), run.describe()
    # Still listening: the greeting played.
    assert run.stats["played_samples"] > 0, run.stats


def test_no_mic_and_no_speaker(devserver, player, speech, tmp_path):
    server = devserver()
    run = player(*base_args(server), "--json-events", "--no-devices", "--input",
                 speech.mono16k, "--no-mic", "--duration", "3", *UNGATED, timeout=20)
    assert run.returncode == 0, run.describe()
    assert run.stats["audio_frames_sent"] == 0, run.stats
    assert not [m for m in received(session_records(server)) if m["type"] == "client.audio"]
    assert run.stats["played_samples"] > 0, run.stats

    server = devserver()
    out = tmp_path / "out.wav"
    run = player(*base_args(server), "--json-events", "--output", out, "--no-speaker",
                 "--duration", "3", timeout=20)
    assert run.returncode == 0, run.describe()
    assert run.messages("response.text"), "the greeting's text still arrives"
    assert run.stats["played_samples"] == 0, run.stats
    assert not run.of("agent_speaking"), run.describe()
    rate, samples = read_wav_mono16(out)
    assert rate == 16000 and samples and not any(samples), "--no-speaker output not silent"


# ---- the status line on a terminal ----------------------------------------------------

def run_on_a_tty(argv: list[str], columns: int, timeout: float,
                 env: dict | None = None) -> tuple[int, str, str]:
    """Runs the player with stdout on a pseudo-terminal `columns` wide (0: one that does not
    say); returns (exit status, what it wrote to the terminal, stderr)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=subprocess.PIPE, env=env)
    os.close(slave)
    data = b""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError as exc:  # EIO: the player closed the terminal
                    if exc.errno != errno.EIO:
                        raise
                    break
                if not chunk:
                    break
                data += chunk
            elif proc.poll() is not None:
                break
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
    return proc.returncode, data.decode("utf-8"), proc.stderr.read().decode(errors="replace")


ESCAPE = re.compile(r"\x1b\[[0-9]*[A-Za-z]")


def screen(text: str) -> tuple[list[str], list[str], list[str]]:
    """(meter lines, transcript lines of the status area, event lines) of terminal output.
    Status redraws end in ESC [K; the area is the meters, then the latest text below."""
    meters, texts, events = [], [], []
    for token in re.split(r"\r\n|\r|\n", text):
        clean = ESCAPE.sub("", token)
        if not clean:
            continue
        if not token.endswith("\x1b[K"):
            events.append(clean)
        elif "mic [" in clean:
            meters.append(clean)
        else:
            texts.append(clean)
    return meters, texts, events


def test_live_status_line_on_a_tty(devserver, build, speech):
    duration = 7.5
    server = devserver()
    argv = [str(build.player), *base_args(server), "--no-devices", "--input",
            str(speech.mono16k), "--duration", str(duration)]
    rc, text, err = run_on_a_tty(argv, 100, duration + 20)
    assert rc == 0, f"{err}\n{text!r}"

    meters, texts, lines = screen(text)
    assert 10 * duration * 0.5 <= len(meters) <= 20 * duration * 1.5, len(meters)
    assert all(len(s) <= 99 for s in meters + texts), max(meters + texts, key=len)
    assert any("agent [#" in s for s in meters), "agent meter never moved"
    assert any(s.startswith("connected") and "mic [#" in s for s in meters), \
        "mic meter never moved"
    assert any("speaking" in s for s in meters)
    assert any(s.startswith("agent: Hello!") for s in texts), "no agent text in the status area"
    # Event lines print normally, above the status area; what the user said once.
    assert any(line.startswith("agent: Hello!") for line in lines), lines
    assert len([line for line in lines if line.startswith("you")]) == 1, lines
    assert any(line.startswith("stats: ") for line in lines), lines
    # Nothing of the status area is left behind: after the last line the player printed,
    # either nothing (it cleared the area before that line and did not draw it again) or a
    # drawn area that ends cleared.
    tail = text.rsplit("\n", 1)[-1]
    assert tail == "" or tail.endswith("\r\x1b[K"), f"status area left behind: {tail!r}"


LONG_TEXT = " ".join(f"word{i}" for i in range(60))


def test_status_line_shows_a_long_transcript_in_the_terminal_width(devserver, build):
    """A transcript longer than the terminal: printed whole as a line (the terminal wraps
    it), and in the status area under the meters in the whole width, its end visible."""
    server = devserver("--no-greeting")
    argv = [str(build.player), *base_args(server), "--no-devices", "--text", LONG_TEXT,
            "--duration", "2.5"]
    for columns, env in ((60, None), (0, {**os.environ, "COLUMNS": "150"})):
        width = columns or 150
        rc, text, err = run_on_a_tty(argv, columns, 30, env=env)
        assert rc == 0, f"{err}\n{text!r}"
        meters, texts, lines = screen(text)
        assert f"agent: You said: {LONG_TEXT}" in lines, lines
        assert meters and all(len(s) <= width - 1 for s in meters + texts), \
            (width, max(meters + texts, key=len))
        scrolled = [t for t in texts if t.startswith("agent: ...") and t.endswith(" word59")]
        assert scrolled, (width, texts)
        assert max(len(t) for t in scrolled) == width - 1, (width, texts)


# ---- devices ---------------------------------------------------------------------------

def test_list_devices(player):
    run = player("--list-devices", timeout=20)
    assert run.returncode == 0, run.describe()
    lines = run.stdout.splitlines()
    null = [line for line in lines if line.split()[:1] == ["null"]]
    assert null and "in/out" in null[0], run.stdout

    run = player("--list-devices", "--json-events", timeout=20)
    assert run.returncode == 0, run.describe()
    devices = run.of("device")
    assert devices and len(devices) == len(run.events), run.stdout
    null = [d for d in devices if d["name"] == "null"]
    assert null and null[0]["input"] is True and null[0]["output"] is True, devices
    assert all(isinstance(d["description"], str) and "\n" not in d["description"]
               for d in devices)


def test_audio_usage_errors(player):
    base = ["--authorize-url", "http://127.0.0.1:1/a", "--agent-id", "echo"]
    for extra in (["--input", "x.wav", "--capture", "default"],
                  ["--output", "x.wav", "--playback", "default"],
                  ["--no-devices", "--capture", "hw:0"],
                  ["--input", "x.wav", "--device-rate", "48000"],
                  ["--device-rate", "7000"], ["--period-ms", "0"],
                  ["--amplitude-rate", "-1"], ["--stats-interval", "soon"],
                  ["--jitter-min-ms", "300", "--jitter-max-ms", "100"]):
        run = player(*base, *extra, timeout=10)
        assert run.returncode == 2, run.describe()
        assert "usage" in run.stderr.lower(), run.describe()
        assert run.stdout == "", run.describe()


# ---- ALSA mode -------------------------------------------------------------------------

CAPTURE_RATE, PLAYBACK_RATE = 48000, 44100
FRAME_BYTES_STEREO = 4  # S16_LE, 2 channels
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class AlsaRig:
    """An asoundrc in a temporary HOME with `lc_capture` (file/null reading a FIFO fed in
    real time) and `lc_playback` (file/null writing a FIFO drained in real time into
    out.raw); `pcm.!default` is both."""

    def __init__(self, d: Path, capture_raw: Path) -> None:
        self.home = d / "home"
        self.home.mkdir(parents=True)
        self.capture_raw = capture_raw
        self.cap_fifo, self.play_fifo = d / "capture.fifo", d / "playback.fifo"
        self.out = d / "out.raw"
        os.mkfifo(self.cap_fifo)
        os.mkfifo(self.play_fifo)
        (self.home / ".asoundrc").write_text(f"""
pcm.lc_capture_file {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{self.cap_fifo}"
    format "raw"
}}
pcm.lc_capture {{
    type plug
    slave {{ pcm "lc_capture_file"; rate {CAPTURE_RATE}; channels 2; format S16_LE }}
}}
pcm.lc_playback_file {{
    type file
    slave.pcm "null"
    file "{self.play_fifo}"
    format "raw"
}}
pcm.lc_playback {{
    type plug
    slave {{ pcm "lc_playback_file"; rate {PLAYBACK_RATE}; channels 2; format S16_LE }}
}}
pcm.!default {{
    type asym
    capture.pcm "lc_capture"
    playback.pcm "lc_playback"
}}
""")
        self.env = dict(os.environ, HOME=str(self.home))
        self.env.pop("ALSA_CONFIG_PATH", None)
        self.capture_opens: list[float] = []
        self.captured_seconds = 0.0
        self.playback_started: float | None = None
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._feed, daemon=True),
                         threading.Thread(target=self._drain, daemon=True)]
        for t in self._threads:
            t.start()

    def _feed(self) -> None:
        """capture_raw into the capture FIFO, 20 ms every 20 ms, then silence."""
        data = self.capture_raw.read_bytes()
        rate = CAPTURE_RATE * FRAME_BYTES_STEREO
        chunk = rate // 50
        while not self._stop.is_set():
            try:
                fd = os.open(self.cap_fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # no reader yet
                    raise
                time.sleep(0.005)
                continue
            self.capture_opens.append(time.monotonic())
            fcntl.fcntl(fd, fcntl.F_SETFL, 0)
            start, pos = time.monotonic(), 0
            try:
                while not self._stop.is_set():
                    piece = data[pos:pos + chunk]
                    os.write(fd, piece + bytes(chunk - len(piece)))
                    pos += chunk
                    self.captured_seconds = pos / rate
                    delay = start + pos / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
            except BrokenPipeError:
                pass
            finally:
                os.close(fd)

    def _drain(self) -> None:
        """The playback FIFO into out.raw, no faster than real time."""
        fd = os.open(self.play_fifo, os.O_RDWR)  # never EOF, never blocks the open
        try:
            fcntl.fcntl(fd, F_SETPIPE_SZ, 4096)
        except OSError:
            pass
        rate = PLAYBACK_RATE * FRAME_BYTES_STEREO
        total = 0
        with open(self.out, "wb") as f:
            while not self._stop.is_set():
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                if self.playback_started is None:
                    self.playback_started = time.monotonic()
                allowed = int((time.monotonic() - self.playback_started) * rate) + 4096 - total
                if allowed < FRAME_BYTES_STEREO:
                    time.sleep(0.005)
                    continue
                piece = os.read(fd, min(allowed, 65536))
                f.write(piece)
                f.flush()
                total += len(piece)
        os.close(fd)

    def stop(self) -> None:
        time.sleep(0.3)  # what the player wrote last
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def playback(self) -> list[int]:
        """The left channel of what was played, 44.1 kHz."""
        samples = array.array("h", self.out.read_bytes()[:len(self.out.read_bytes()) // 4 * 4])
        if sys.byteorder == "big":
            samples.byteswap()
        return list(samples[0::2])


@pytest.fixture
def alsa_rig(tmp_path, speech, build):
    """The rig, with the speech delayed 2 s more (the greeting then plays out whole)."""
    raw = tmp_path / "capture-48k-stereo.raw"
    proc = subprocess.run(["sox", str(speech.mono16k), "-r", str(CAPTURE_RATE), "-c", "2",
                           "-b", "16", "-e", "signed-integer", "-L", "-t", "raw", str(raw),
                           "pad", "2"], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    rig = AlsaRig(tmp_path / "alsa", raw)
    rig.speech_start = speech.start + 2.0
    rig.speech_end = speech.end + 2.0
    yield rig
    rig.stop()


def voiced_span(samples: list[int], rate: int, lo: float, hi: float,
                threshold: float = 400.0, window: float = 0.01) -> tuple[float, float] | None:
    """First and last voiced 10 ms window in [lo, hi) seconds."""
    n = int(rate * window)
    voiced = []
    for i in range(int(lo * rate), min(len(samples), int(hi * rate)) - n + 1, n):
        seg = samples[i:i + n]
        if math.sqrt(sum(x * x for x in seg) / n) > threshold:
            voiced.append(i / rate)
    return (voiced[0], voiced[-1] + window) if voiced else None


def greeting_pcm(log: list[dict]) -> list[int]:
    """The greeting's 16 kHz samples as the server sent them (--log-audio-content)."""
    sent = [r["msg"] for r in log if r["kind"] == "send"]
    turn = next(m["turn_id"] for m in sent
                if m["type"] == "turn.start" and m.get("role") == "assistant")
    pcm = b"".join(base64.b64decode(m["content"]) for m in sent
                   if m["type"] == "response.audio" and m.get("turn_id") == turn)
    samples = array.array("h", pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    return list(samples)


def test_alsa_end_to_end(devserver, build, alsa_rig):
    duration = 10.0
    server = devserver("--log-audio-content")
    argv = [str(build.player), *base_args(server), "--json-events", "--capture", "lc_capture",
            "--playback", "lc_playback", "--device-rate", "48000", "--period-ms", "20",
            "--duration", str(duration), *UNGATED]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, timeout=duration + 30, env=alsa_rig.env)
    elapsed = time.monotonic() - started
    alsa_rig.stop()
    run = PlayerRun(argv, proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    run.events = parse_json_events(run.stdout)
    rig = (f"player ran {elapsed:.2f} s; capture opened at "
           f"{[round(t - started, 2) for t in alsa_rig.capture_opens]} s, fed "
           f"{alsa_rig.captured_seconds:.2f} s")
    assert run.returncode == 0, run.describe()
    assert elapsed < duration + 10, rig
    assert len(alsa_rig.capture_opens) == 1, rig

    # The microphone: 20 ms frames for the whole session, paced by the device.
    log = session_records(server)
    recv = received(log)
    audio = [m for m in recv if m["type"] == "client.audio"]
    session = next(r for r in log if r["kind"] == "ws_close")["duration"]
    for length in (session, duration):
        expected = length / FRAME_SECONDS
        slack = 0.1 if length == session else 0.2
        assert abs(len(audio) - expected) <= slack * expected, \
            f"{len(audio)} client.audio in {length:.2f} s, expected ~{expected:.0f}; {rig}"
    span = audio[-1]["t"] - audio[0]["t"]
    assert abs(span - len(audio) * FRAME_SECONDS) < 0.1 * span, \
        f"{len(audio)} frames over {span:.2f} s: not real time; {rig}"
    assert {m["msg"]["content_bytes"] for m in audio} == {FRAME_BYTES}
    stats = run.stats
    assert stats["audio_frames_sent"] == len(audio), stats
    assert stats["input_samples_dropped"] == 0 and stats["capture_xruns"] == 0, stats
    assert "input_seconds" not in stats, "WAV-only field in ALSA mode"

    # The server's VAD heard the speech and the echo agent answered.
    said = said_seconds(run)
    length = alsa_rig.speech_end - alsa_rig.speech_start
    assert said and 0.5 * length <= said[0] <= length + 1.5, run.describe()
    assert [e["speaking"] for e in run.of("user_speaking")][:1] == [True], run.describe()

    # The speaker: 44.1 kHz stereo, as long as the session; the greeting at its own speed.
    played = alsa_rig.playback()
    seconds = len(played) / PLAYBACK_RATE
    assert duration - 0.5 < seconds < elapsed + 0.5, f"{seconds:.2f} s played"
    greeting_at = voiced_span(played, PLAYBACK_RATE, 0.0, alsa_rig.speech_start)
    assert greeting_at, "the greeting is not in the playback file"
    assert voiced_seconds(played, PLAYBACK_RATE, 0.0, alsa_rig.speech_start) >= 0.5
    original = greeting_pcm(log)
    sent_at = voiced_span(original, 16000, 0.0, len(original) / 16000)
    ratio = (greeting_at[1] - greeting_at[0]) / (sent_at[1] - sent_at[0])
    assert abs(ratio - 1.0) < 0.03, \
        f"greeting lasts {greeting_at[1] - greeting_at[0]:.3f} s played, " \
        f"{sent_at[1] - sent_at[0]:.3f} s sent: wrong rate"
    assert stats["played_samples"] > 0 and stats["playback_xruns"] == 0, stats
    echo = voiced_seconds(played, PLAYBACK_RATE, alsa_rig.speech_end + 0.3, seconds)
    assert echo >= 0.4, f"echo: {echo} s voiced"


def test_alsa_default_device(devserver, build, alsa_rig):
    """No audio flags: ALSA's "default" for both directions (here the rig's devices)."""
    duration = 4.0
    server = devserver()
    argv = [str(build.player), *base_args(server), "--json-events", "--period-ms", "20",
            "--duration", str(duration), *UNGATED]
    proc = subprocess.run(argv, capture_output=True, timeout=duration + 30, env=alsa_rig.env)
    alsa_rig.stop()
    run = PlayerRun(argv, proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    run.events = parse_json_events(run.stdout)
    assert run.returncode == 0, run.describe()
    assert alsa_rig.capture_opens, "default capture never opened"
    audio = [m for m in received(session_records(server)) if m["type"] == "client.audio"]
    assert abs(len(audio) - duration / FRAME_SECONDS) <= 0.1 * duration / FRAME_SECONDS
    played = alsa_rig.playback()
    assert voiced_seconds(played, PLAYBACK_RATE, 0.0, duration) >= 0.5, "no greeting played"
