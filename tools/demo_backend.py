#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make demo-backend`: the device, an offline Layercode and the customer's backend, talking.

Starts the example backend (examples/backend/server.py) and the devserver in bridge mode
(`--webhook URL --webhook-secret S`: it transcribes the device's speech, POSTs it to the
backend's webhook, and speaks the backend's SSE reply), then runs build/bin/layercode-player
with a question spoken by espeak-ng ("what is the weather today") as its microphone. The
player authorizes through the backend's /authorize, so the device never sees the API key.

The log shows the conversation from both ends: `backend |` lines are the backend's (the
recognised text arriving at its webhook, each sentence it streams back), `player  |` lines
the device's. The agent's voice goes to build/demo-backend-out.wav; at the end the script
prints the dashboard's address and what the WAV holds (duration, agent speech and its RMS,
the reply after the question), and exits 1 if the question did not reach the backend or no
reply was spoken back. `--keep-open S` keeps the devserver and the backend up S seconds
afterwards, to look at the dashboard.

The two servers need each other's address: the devserver the backend's webhook URL, the
backend the devserver's authorize_session URL. This script binds the backend's listening
socket itself first (port 0: a free port, no race), starts the devserver with that URL,
then starts the backend on the inherited socket (`server.py --fd N`) with the devserver's
authorize URL in LAYERCODE_AUTHORIZE_URL. Connections made in between wait in the socket's
backlog, so nothing is lost whichever comes first.
"""
from __future__ import annotations

import argparse
import array
import json
import math
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
PLAYER = os.path.join(BUILD, "bin", "layercode-player")
DEVSERVER = os.path.join(ROOT, "tools", "devserver", "devserver.py")
# The sentences the example backend understands: the devserver's recogniser expects only
# these (pocketsphinx on open speech gets most of espeak-ng's words wrong).
PHRASES = os.path.join(ROOT, "examples", "backend", "phrases.txt")
BACKEND = os.path.join(ROOT, "examples", "backend", "server.py")
OUT_WAV = os.path.join(BUILD, "demo-backend-out.wav")
QUESTION = "what is the weather today"
AGENT_ID = "demo-agent"
SPEECH_DBFS = -45.0          # a 20 ms frame louder than this is agent speech
_MESSAGE = re.compile(r'message conversation=\S+ turn=(\S+) text=("(?:[^"\\]|\\.)*")')
_TTS = re.compile(r'tts turn=(\S+) ("(?:[^"\\]|\\.)*")')

_print_lock = threading.Lock()


def say(prefix: str, line: str) -> None:
    with _print_lock:
        print(f"{prefix} {line}", flush=True)


def make_question(path: str, delay: float) -> float:
    """The question as a 16 kHz WAV after `delay` s of silence; returns when it ends (s)."""
    spoken = path + ".spoken.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", spoken, QUESTION],
                   check=True)
    subprocess.run(["sox", spoken, "-r", "16000", "-c", "1", "-b", "16", path,
                    "pad", str(delay)], check=True)
    with wave.open(path) as w:
        return w.getnframes() / w.getframerate()


def read_ready(proc: subprocess.Popen, what: str, timeout: float = 60) -> dict:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        status = proc.poll()
        raise RuntimeError(f"{what} did not start: " + (f"exited with status {status}"
                           if status is not None else f"no ready line in {timeout:g} s"))
    msg = json.loads(line)
    if msg.get("event") != "ready":
        raise RuntimeError(f"{what} failed to start: {msg.get('error', msg)}")
    return msg


def pump(stream, prefix: str, keep: list[str]) -> threading.Thread:
    """Prints a child's lines with a prefix as they come (and keeps them)."""
    def run() -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            keep.append(line)
            # The backend's log lines without their timestamp/logger prefix.
            shown = line.split(" INFO: ", 1)[-1] if " INFO: " in line else line
            say(prefix, shown)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wav_report(path: str, question_end: float) -> dict:
    """Duration, agent speech (20 ms frames above SPEECH_DBFS) and its RMS, and the speech
    after the question ended (the reply)."""
    with wave.open(path) as w:
        rate, width, frames = w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())
    assert width == 2, f"{path}: {8 * width}-bit, expected 16-bit"
    samples = array.array("h")
    samples.frombytes(frames)
    step = rate // 50
    speech = after = 0
    energy = 0.0
    for start in range(0, len(samples) - step + 1, step):
        frame = samples[start:start + step]
        ms = sum(s * s for s in frame) / step
        if ms > 0 and 10 * math.log10(ms / 32768.0 ** 2) > SPEECH_DBFS:
            speech += 1
            energy += ms
            if start / rate >= question_end:
                after += 1
    rms = 10 * math.log10(energy / speech / 32768.0 ** 2) if speech else float("-inf")
    return {"duration": len(samples) / rate, "speech": speech / 50, "rms_dbfs": rms,
            "reply_speech": after / 50}


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-open", type=float, default=0, metavar="S",
                        help="keep the devserver and backend up S seconds after the player")
    parser.add_argument("--duration", type=float, default=30,
                        help="seconds the player stays connected (default 30)")
    parser.add_argument("--question-delay", type=float, default=9,
                        help="seconds of silence before the question, so the greeting has "
                             "been heard (default 9)")
    parser.add_argument("--output", default=OUT_WAV, metavar="WAV",
                        help=f"where the player writes the agent's voice (default {OUT_WAV})")
    args = parser.parse_args()
    # SIGTERM (a test runner, a supervisor) ends it like Ctrl-C: through the clean-up below,
    # so the devserver and the backend are never left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not os.access(PLAYER, os.X_OK):
        sys.exit("demo-backend: build first (make)")
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            sys.exit(f"demo-backend: {tool} is needed (tools/ensure-deps.sh installs it)")
    work = tempfile.mkdtemp(prefix="layercode-demo-backend-")
    speech = os.path.join(work, "question.wav")
    question_end = make_question(speech, args.question_delay)
    secret, api_key = secrets.token_hex(16), "demo-" + secrets.token_hex(8)
    devserver = backend = None
    backend_lines: list[str] = []
    ok = False
    try:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        webhook = f"http://127.0.0.1:{listener.getsockname()[1]}/agent"
        dev_err = open(os.path.join(work, "devserver.stderr"), "w")
        devserver = subprocess.Popen(
            [sys.executable, DEVSERVER, "--port", "0", "--api-key", api_key,
             "--webhook", webhook, "--webhook-secret", secret,
             "--asr-phrases", PHRASES, "--log", os.path.join(work, "devserver.jsonl")],
            stdout=subprocess.PIPE, stderr=dev_err, stdin=subprocess.DEVNULL, text=True)
        try:
            ready = read_ready(devserver, "devserver (in bridge mode: --webhook)")
        except RuntimeError:
            dev_err.flush()
            with open(dev_err.name) as f:
                for line in f.read()[-3000:].splitlines():
                    say("devsrv  |", line)
            raise
        env = {**os.environ, "LAYERCODE_API_KEY": api_key, "LAYERCODE_WEBHOOK_SECRET": secret,
               "LAYERCODE_AGENT_ID": AGENT_ID,
               "LAYERCODE_AUTHORIZE_URL": ready["layercode_authorize_url"]}
        backend = subprocess.Popen(
            [sys.executable, BACKEND, "--fd", str(listener.fileno())],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            pass_fds=[listener.fileno()], env=env, text=True)
        listener.close()
        pump(backend.stderr, "backend |", backend_lines)
        backend_ready = read_ready(backend, "example backend")
        dashboard = ready.get("dashboard")
        say("demo    |", f"devserver (an offline Layercode) at {ready['http']}, "
                        f"webhook -> {webhook}")
        say("demo    |", f"dashboard: {dashboard or '(this devserver serves none)'}")
        cmd = [PLAYER, "--authorize-url", backend_ready["authorize"], "--ws-url", ready["ws"],
               "--agent-id", AGENT_ID, "--input", speech, "--output", args.output,
               "--duration", f"{args.duration:g}"]
        say("demo    |", f'asking "{QUESTION}" after {args.question_delay:g} s: '
                        + " ".join(cmd))
        if os.path.exists(args.output):
            os.remove(args.output)          # a stale one must not pass for this run's
        player_lines: list[str] = []
        player = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, text=True)
        printer = pump(player.stdout, "player  |", player_lines)
        try:
            rc = player.wait(args.duration + 60)      # hang guard
        except subprocess.TimeoutExpired:
            player.kill()
            rc = player.wait()
            say("demo    |", "the player did not exit: killed")
        printer.join(5)
        ok = summarise(rc, backend_lines, question_end, dashboard, args.output)
        if args.keep_open > 0:
            say("demo    |", f"keeping the devserver and the backend up {args.keep_open:g} s "
                            f"(dashboard: {dashboard}); Ctrl-C ends it")
            try:
                time.sleep(args.keep_open)
            except KeyboardInterrupt:
                pass
    except RuntimeError as exc:
        say("demo    |", f"FAILED: {exc}")
    finally:
        stop(backend)
        stop(devserver)
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            say("demo    |", f"logs kept in {work}")
    return 0 if ok else 1


def summarise(rc: int, backend_lines: list[str], question_end: float,
              dashboard: str | None, output: str) -> bool:
    """Prints what happened; True if the question reached the backend and was answered."""
    time.sleep(0.2)                  # the backend's last lines
    heard = [(m.group(1), json.loads(m.group(2)))
             for m in map(_MESSAGE.search, list(backend_lines)) if m]
    streamed = [(m.group(1), json.loads(m.group(2)))
                for m in map(_TTS.search, list(backend_lines)) if m]
    say("demo    |", f"player exited {rc}")
    problems = []
    if not heard:
        problems.append("no message reached the backend's webhook")
    for turn, text in heard:       # usually one; two if the recogniser split the question
        say("demo    |", f'recognised at the backend: "{text}"')
        if re.fullmatch(r"\[[0-9.]+ s of audio\]", text):
            problems.append("the devserver could not transcribe (pocketsphinx missing?): "
                            "the backend got an audio label, not words")
        reply = " ".join(s for t, s in streamed if t == turn)
        say("demo    |", f'backend replied: "{reply}"' if reply else
            "backend replied nothing to it (aborted by a barge-in?)")
    replied = {turn for turn, _ in streamed}
    if heard and not any(turn in replied for turn, _ in heard):
        problems.append("the backend streamed no reply to the question")
    if os.path.exists(output):
        r = wav_report(output, question_end)
        say("demo    |", f"{output}: {r['duration']:.1f} s; agent speech {r['speech']:.1f} s "
                        f"at {r['rms_dbfs']:.1f} dBFS RMS; after the question (from "
                        f"{question_end:.1f} s): {r['reply_speech']:.1f} s")
        if r["reply_speech"] < 0.5:
            problems.append("no reply spoken into the output WAV after the question")
    else:
        problems.append(f"the player wrote no {output}")
    if rc != 0:
        problems.append(f"the player exited {rc}")
    say("demo    |", f"dashboard: {dashboard}" if dashboard else "dashboard: none")
    for problem in problems:
        say("demo    |", f"PROBLEM: {problem}")
    return not problems


if __name__ == "__main__":
    sys.exit(main())
