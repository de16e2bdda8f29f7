# SPDX-License-Identifier: Apache-2.0
"""layercode-player end to end: the real player and library against the real devserver.

Each session test runs the player in real time (a few seconds each), so the file as a whole
stays well under two minutes.
"""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
import time

from .player_support import (ROOT, FRAME_BYTES, FRAME_SECONDS, LC_ERR_AUTHORIZE, LC_ERR_NETWORK,
                             LC_ERR_TLS, LC_OK, SAID, PlayerRun, parse_json_events,
                             read_wav_mono16, voiced_seconds)

# Long enough for greeting, speech (from 2.8 s), the server's end of turn (+0.6 s of
# silence) and the echo (speech + 0.6 s) to play out.
ECHO_DURATION = 7.5

# The flags the player documents and later tests rely on.
FLAGS = ["--authorize-url", "--agent-id", "--ws-url", "--header", "--metadata",
         "--conversation-id", "--ca-file", "--ca-dir", "--connect-timeout-ms",
         "--reconnect-attempts", "--input",
         "--output", "--no-devices", "--capture", "--playback", "--device-rate",
         "--period-ms", "--jitter-min-ms", "--jitter-max-ms", "--no-mic", "--no-speaker",
         "--muted", "--record", "--push-to-talk", "--list-devices", "--text", "--duration",
         "--json-events", "--amplitude-rate", "--stats-interval", "--help", "--version"]

# The library gates the microphone with its VAD (doc/protocol.md "Audio gating"): only speech
# and its pre-roll are sent. Tests that count frames against the clock stream everything.
UNGATED = ["--metadata", '{"vad": {"gate_audio": false}}']

CERT_FAILURE = re.compile(r"certificate|verif", re.IGNORECASE)


def session_args(server, *extra: str, agent: str = "echo") -> list[str]:
    """A session in WAV mode (--no-devices: no sound card; --input/--output may follow)."""
    return ["--authorize-url", server.authorize_url, "--ws-url", server.ws_url,
            "--agent-id", agent, "--json-events", "--no-devices", *extra]


def assert_frames_match_duration(run: PlayerRun, duration: float) -> dict:
    stats = run.stats
    frames = stats["audio_frames_sent"]
    expected = duration / FRAME_SECONDS
    assert abs(frames - expected) <= 0.1 * expected, \
        f"{frames} audio frames sent in {duration} s, expected ~{expected:.0f}"
    assert stats["audio_bytes_sent"] == FRAME_BYTES * frames, stats
    assert stats["input_samples_dropped"] == 0, stats
    assert abs(stats["input_seconds"] - duration) < 0.05, stats
    return stats


def assert_client_audio_logged(session_log: list[dict], stats: dict) -> None:
    """What the server received is what the player says it sent, in 20 ms frames."""
    received = [r["msg"] for r in session_log if r["kind"] == "recv"]
    assert received, "the server received nothing"
    assert received[0]["type"] == "client.ready", \
        f"first client message is {received[0]['type']}, not client.ready"
    audio = [m for m in received if m["type"] == "client.audio"]
    sizes = {m.get("content_bytes") for m in audio}
    assert sizes == {FRAME_BYTES}, f"client.audio sizes {sizes}, expected only {FRAME_BYTES}"
    assert len(audio) == stats["audio_frames_sent"], \
        f"server got {len(audio)} client.audio, player reports {stats['audio_frames_sent']}"
    errors = [r for r in session_log if r["kind"] == "error"]
    assert not errors, f"the server logged protocol errors: {errors}"
    closed = [r for r in session_log if r["kind"] == "ws_close"]
    assert closed and closed[-1]["closed_by"] == "client" and closed[-1]["code"] == 1000, closed


def assert_echo_session(run: PlayerRun, server, out_wav, speech, duration: float) -> None:
    assert run.returncode == 0, run.describe()
    statuses = run.statuses()
    assert statuses[:2] == ["connecting", "connected"], statuses
    assert statuses[-1] == "disconnected", statuses
    assert run.events[-1]["event"] == "stats", run.describe()

    connected = run.of("connected")
    assert len(connected) == 1, run.describe()
    assert isinstance(connected[0]["conversation_id"], str) and connected[0]["conversation_id"]
    assert connected[0]["config"]["transcription"]["trigger"] == "automatic"

    # The greeting: turn.start{assistant}, response.text, response.end of one turn.
    messages = run.messages()
    assert messages, run.describe()
    first = messages[0]["message"]
    assert messages[0]["type"] == "turn.start" and first["role"] == "assistant", first
    greeting_turn = first.get("turn_id")
    greeting = [m for m in messages if m["message"].get("turn_id") == greeting_turn]
    types = [m["type"] for m in greeting]
    assert "response.text" in types and "response.end" in types, types
    assert types.index("response.text") < types.index("response.end"), types

    # The echo: the server heard the speech and says how long it was.
    said = [SAID.search(m["message"].get("content", "")) for m in run.messages("response.text")]
    said = [float(m.group(1)) for m in said if m]
    assert said, f"no 'You said' response:\n{run.describe()}"
    assert 0.5 * speech.length <= said[0] <= speech.length + 1.5, \
        f"echoed {said[0]} s of a {speech.length:.2f} s phrase"
    assert run.messages("user.transcript"), run.describe()

    disconnected = run.of("disconnected")
    assert len(disconnected) == 1 and disconnected[0]["reason"] == LC_OK, disconnected

    stats = assert_frames_match_duration(run, duration)
    assert abs(stats["output_seconds"] - duration) < 0.05, stats
    assert stats["audio_frames_received"] > 0 and stats["played_samples"] > 0, stats
    assert stats["connect_time_us"] > 0, stats

    assert_client_audio_logged(server.closed_session_log(), stats)

    # What the speaker played: 16 kHz mono, as long as the session, with the greeting
    # before the speech and the echo after it.
    rate, samples = read_wav_mono16(out_wav)
    assert rate == 16000
    assert abs(len(samples) / rate - duration) < 0.05, f"{len(samples) / rate} s of output"
    greeting_voiced = voiced_seconds(samples, rate, 0.0, speech.start)
    assert greeting_voiced >= 0.5, f"greeting: {greeting_voiced} s voiced"
    echo_start = speech.end + 0.3
    echo_end = speech.end + 0.6 + speech.length + 1.0
    echo_voiced = voiced_seconds(samples, rate, echo_start, echo_end)
    assert echo_voiced >= min(0.4, 0.3 * speech.length), \
        f"echo region {echo_start:.2f}..{echo_end:.2f} s: only {echo_voiced} s voiced"


def test_echo_session_over_ws(devserver, player, speech, tmp_path):
    server = devserver()
    out = tmp_path / "out.wav"
    run = player(*session_args(server, "--input", speech.mono16k, "--output", out,
                               "--duration", ECHO_DURATION, *UNGATED),
                 timeout=ECHO_DURATION + 20)
    assert_echo_session(run, server, out, speech, ECHO_DURATION)


def test_echo_session_over_tls(devserver, player, speech, cert_dir, tmp_path):
    server = devserver("--tls", "--cert-dir", cert_dir)
    assert server.authorize_url.startswith("https://"), server.ready
    assert server.ws_url.startswith("wss://"), server.ready
    assert server.ready["ca_file"], server.ready
    out = tmp_path / "out.wav"
    run = player(*session_args(server, "--ca-file", server.ready["ca_file"],
                               "--input", speech.mono16k, "--output", out,
                               "--duration", ECHO_DURATION, *UNGATED),
                 timeout=ECHO_DURATION + 20)
    assert_echo_session(run, server, out, speech, ECHO_DURATION)


def assert_tls_failure(run: PlayerRun, server) -> None:
    assert run.returncode != 0, run.describe()
    tls_errors = [e for e in run.errors() if e["code"] == LC_ERR_TLS]
    assert tls_errors, f"no TLS error event:\n{run.describe()}"
    assert any(CERT_FAILURE.search(e["message"]) for e in tls_errors), \
        f"TLS error does not mention certificate verification:\n{run.describe()}"
    assert run.stderr.startswith("layercode-player: "), run.describe()
    assert not run.of("connected"), run.describe()
    # The handshake failed, so no HTTP request reached the server.
    assert not [r for r in server.records() if r["kind"] == "authorize"]


def test_tls_untrusted_ca_fails(devserver, player, cert_dir):
    server = devserver("--tls", "--cert-dir", cert_dir)
    run = player(*session_args(server, "--duration", "10"), timeout=30)
    assert_tls_failure(run, server)


def test_tls_wrong_hostname_fails(devserver, player, cert_dir):
    # The certificate names localhost, 127.0.0.1 and ::1 only.
    server = devserver("--host", "127.0.0.2", "--tls", "--cert-dir", cert_dir)
    assert server.authorize_url.startswith("https://127.0.0.2:"), server.ready
    run = player(*session_args(server, "--ca-file", server.ready["ca_file"],
                               "--duration", "10"), timeout=30)
    assert_tls_failure(run, server)


def test_send_text(devserver, player):
    server = devserver()
    run = player(*session_args(server, "--text", "hello there", "--duration", "4"),
                 timeout=25)
    assert run.returncode == 0, run.describe()
    texts = [r["msg"] for r in server.closed_session_log()
             if r["kind"] == "recv" and r["msg"]["type"] == "client.response.text"]
    assert [t["content"] for t in texts] == ["hello there"], texts
    replies = [m["message"]["content"] for m in run.messages("response.text")]
    assert any("hello there" in r for r in replies), run.describe()


def test_authorize_insufficient_balance(devserver, player):
    server = devserver()
    run = player(*session_args(server, "--duration", "10", agent="insufficient-balance"),
                 timeout=30)
    assert run.returncode != 0, run.describe()
    errors = [e for e in run.errors() if e["code"] == LC_ERR_AUTHORIZE]
    assert errors, f"no authorize error event:\n{run.describe()}"
    assert any("402" in e["message"] and "insufficient balance" in e["message"]
               for e in errors), run.describe()
    assert "authorize failed" in run.stderr, run.describe()
    assert not run.of("connected"), run.describe()
    assert [r["status"] for r in server.records() if r["kind"] == "authorize"] == [402]


def test_authorize_unreachable(player, closed_port):
    run = player("--authorize-url", f"http://127.0.0.1:{closed_port}/authorize",
                 "--ws-url", f"ws://127.0.0.1:{closed_port}/v1/agents/web/websocket",
                 "--agent-id", "echo", "--json-events", "--no-devices", "--duration", "10",
                 timeout=30)
    assert run.returncode != 0, run.describe()
    assert any(e["code"] == LC_ERR_NETWORK for e in run.errors()), run.describe()
    assert "network" in run.stderr, run.describe()


def test_48k_stereo_input(devserver, player, speech):
    duration = 6.5
    server = devserver()
    run = player(*session_args(server, "--input", speech.stereo48k, "--duration", duration,
                               *UNGATED), timeout=duration + 20)
    assert run.returncode == 0, run.describe()
    stats = assert_frames_match_duration(run, duration)
    assert_client_audio_logged(server.closed_session_log(), stats)
    # The speech got through at the right rate: the echo agent measured it.
    said = [SAID.search(m["message"].get("content", "")) for m in run.messages("response.text")]
    said = [float(m.group(1)) for m in said if m]
    assert said, run.describe()
    assert 0.5 * speech.length <= said[0] <= speech.length + 1.5, said


def test_server_closes_session(devserver, player):
    server = devserver("--session-max-seconds", "2")
    started = time.monotonic()
    run = player(*session_args(server), timeout=20)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.describe()
    disconnected = run.of("disconnected")
    assert len(disconnected) == 1 and disconnected[0]["reason"] == LC_OK, run.describe()
    assert 1.5 < elapsed < 10, elapsed
    assert 1.5 < run.stats["output_seconds"] < 3.5, run.stats


def test_sigint_disconnects_cleanly(devserver, build):
    server = devserver()
    argv = [str(build.player), *session_args(server)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Wait for the session to be live.
        deadline = time.monotonic() + 15
        seen = b""
        while b'"event":"connected"' not in seen:
            left = deadline - time.monotonic()
            assert left > 0 and proc.poll() is None, f"not connected: {seen!r}"
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if ready:
                seen += proc.stdout.readline()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    events = parse_json_events((seen + out).decode("utf-8"))
    assert proc.returncode == 0, err.decode(errors="replace")
    assert events[-1]["event"] == "stats", events
    assert [e["reason"] for e in events if e["event"] == "disconnected"] == [LC_OK], events
    closed = [r for r in server.closed_session_log() if r["kind"] == "ws_close"]
    assert closed[-1]["closed_by"] == "client" and closed[-1]["code"] == 1000, closed


def test_help_lists_every_flag(player):
    run = player("--help", timeout=10)
    assert run.returncode == 0, run.describe()
    missing = [f for f in FLAGS if f not in run.stdout]
    assert not missing, f"--help does not mention {missing}:\n{run.stdout}"


def test_usage_errors_exit_2(player):
    for args in ([], ["--agent-id", "echo"], ["--authorize-url", "http://127.0.0.1:1/a"],
                 ["--authorize-url", "http://127.0.0.1:1/a", "--agent-id", "echo", "--nope"],
                 ["--authorize-url", "http://127.0.0.1:1/a", "--agent-id", "echo",
                  "--duration", "soon"]):
        run = player(*args, timeout=10)
        assert run.returncode == 2, run.describe()
        assert "usage" in run.stderr.lower(), run.describe()
        assert run.stdout == "", run.describe()


def test_json_event_strings_are_escaped(devserver, player):
    """Text with quotes, backslashes, control characters and non-ASCII survives the trip
    through the server and the player's JSON output intact."""
    text = 'say "hi" \\ tab\there — ünïcödé ✓ 🎉'
    server = devserver()
    run = player(*session_args(server, "--text", text, "--duration", "2.5"), timeout=20)
    assert run.returncode == 0, run.describe()
    transcripts = [m["message"]["content"] for m in run.messages("user.transcript")]
    assert text in transcripts, run.describe()
    # The raw JSON objects embedded in events are objects, not strings.
    assert all(isinstance(m["message"], dict) for m in run.messages())
    json.dumps(run.events)  # round-trips


# ---- what people read (issue 9, item 26) ----------------------------------------------

def plain_args(server, *extra: str) -> list[str]:
    """A WAV-mode session printed for people (no --json-events; stdout is a pipe)."""
    return ["--authorize-url", server.authorize_url, "--ws-url", server.ws_url,
            "--agent-id", "echo", "--no-devices", *extra]


def test_usage_error_prints_the_error_and_a_pointer_to_help_not_the_whole_help(player):
    run = player("--authorize-url", "http://127.0.0.1:1/a", "--agent-id", "echo", "--nope",
                 timeout=10)
    assert run.returncode == 2, run.describe()
    lines = run.stderr.splitlines()
    assert lines[0] == "layercode-player: unknown option '--nope'", run.describe()
    assert len(lines) <= 2 and "--help" in lines[-1], run.describe()
    assert run.stdout == "", run.describe()


def test_user_transcript_prints_once_and_connect_prints_a_config_summary(
        devserver, player, speech):
    server = devserver()
    run = player(*plain_args(server, "--input", speech.mono16k, "--duration", ECHO_DURATION),
                 timeout=ECHO_DURATION + 20)
    assert run.returncode == 0, run.describe()
    lines = run.stdout.splitlines()
    # The server sends an interim delta, a final delta and the whole user.transcript.
    heard = [line for line in lines if line.startswith("you")]
    assert len(heard) == 1 and heard[0].startswith("you: ["), run.describe()
    connected = [line for line in lines if line.startswith("* connected:")]
    assert len(connected) == 1, run.describe()
    assert connected[0].endswith("; trigger automatic, can_interrupt true"), connected
    assert "{" not in connected[0] and "transcription" not in run.stdout, run.describe()


def test_verbose_prints_the_full_config_on_connect(devserver, player):
    server = devserver("--no-interrupt")
    run = player(*plain_args(server, "-v", "--duration", "1.5"), timeout=20)
    assert run.returncode == 0, run.describe()
    lines = run.stdout.splitlines()
    summary = next(line for line in lines if line.startswith("* connected:"))
    assert summary.endswith("; trigger automatic, can_interrupt false"), summary
    config = [line for line in lines if line.startswith("* config: ")]
    assert len(config) == 1, run.describe()
    assert json.loads(config[0][len("* config: "):])["transcription"]["can_interrupt"] is False


def test_list_devices_shows_default_first(player, build, tmp_path):
    for flags in ((), ("--json-events",)):
        run = player("--list-devices", *flags, timeout=20)
        assert run.returncode == 0, run.describe()
        if flags:
            names = [d["name"] for d in run.of("device")]
            assert run.of("device")[0]["input"] and run.of("device")[0]["output"]
        else:
            names = [line.split()[0] for line in run.stdout.splitlines()]
            assert run.stdout.splitlines()[0].split()[1] == "in/out", run.stdout
        assert names[0] == "default" and names.count("default") == 1, names
        assert "null" in names, names
    # A configuration that describes its default: listed once, first, in its own words.
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        'pcm.!default { type plug; slave.pcm "null"; '
        'hint { show on; description "Test default" } }\n')
    proc = subprocess.run([str(build.player), "--list-devices"], capture_output=True,
                          text=True, timeout=20, env={"HOME": str(home), "PATH": "/usr/bin"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[0] == "default" and lines[0].endswith("Test default"), lines
    assert [line.split()[0] for line in lines].count("default") == 1, lines


def test_demo_prints_a_readable_transcript_by_default(build):
    root = ROOT  # make demo runs build/bin/layercode-player of this tree
    proc = subprocess.run([sys.executable, str(root / "tools" / "demo.py")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "agent: Hello! Say something and I will repeat it." in lines, proc.stdout
    assert any(line.startswith("you: ") for line in lines), proc.stdout
    assert any(line.startswith("agent: You said ") for line in lines), proc.stdout
    # The question waits for the greeting: nobody interrupts it.
    assert lines.index("agent: Hello! Say something and I will repeat it.") \
        < lines.index("* response end") < lines.index("* turn start: user"), proc.stdout
    assert not [line for line in lines if line.startswith("{")], proc.stdout

    proc = subprocess.run([sys.executable, str(root / "tools" / "demo.py"), "--json-events"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = parse_json_events(proc.stdout)
    assert any(e["event"] == "amplitude" for e in events)
    assert any(e["event"] == "message" and e["type"] == "user.transcript" for e in events)
