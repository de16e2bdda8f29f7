#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make demo`: a full voice session against the local Layercode-compatible devserver.

Starts tools/devserver with TLS (a CA it generates), makes a spoken question with espeak-ng,
and runs build/bin/layercode-player with it as the microphone. The player prints the
conversation for people: who said what, the session's status and its statistics (on a
terminal, with a live line of level meters); `tools/demo.py --json-events` (or
`make demo DEMO_FLAGS=--json-events`) prints every event as a JSON line instead. The agent's
voice (a greeting, then the echo of the question) is written to build/demo-out.wav.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
PLAYER = os.path.join(BUILD, "bin", "layercode-player")
OUT_WAV = os.path.join(BUILD, "demo-out.wav")
DURATION = "16"
# The question starts after the greeting has played (about 3 s), so the agent is not interrupted.
QUESTION_DELAY_SECONDS = "4"


def make_speech(path):
    text = "Hello agent. This is the native Layercode client speaking."
    spoken = path + ".spoken.wav"
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", spoken, text], check=True)
    else:  # a tone burst still makes a turn for the echo agent
        subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", spoken,
                        "synth", "1.5", "sine", "300"], check=True)
    subprocess.run(["sox", spoken, path, "pad", QUESTION_DELAY_SECONDS], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-events", action="store_true",
                        help="every event as a JSON line (levels included), not the transcript")
    args = parser.parse_args()
    if not os.access(PLAYER, os.X_OK):
        sys.exit("demo: build first (make)")
    work = tempfile.mkdtemp(prefix="layercode-demo-")
    speech = os.path.join(work, "speech.wav")
    make_speech(speech)
    server = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tools", "devserver", "devserver.py"),
         "--port", "0", "--tls", "--cert-dir", os.path.join(work, "certs"),
         "--log", os.path.join(work, "devserver.jsonl")],
        stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(server.stdout.readline())
        print(f"demo: devserver at {ready['http']} (TLS, CA {ready['ca_file']})", file=sys.stderr)
        cmd = [PLAYER, "--authorize-url", ready["authorize_url"], "--ws-url", ready["ws"],
               "--agent-id", "echo", "--ca-file", ready["ca_file"],
               "--input", speech, "--output", OUT_WAV, "--duration", DURATION]
        if args.json_events:
            cmd.append("--json-events")
        print("demo: " + " ".join(cmd), file=sys.stderr)
        rc = subprocess.run(cmd, timeout=60).returncode
        print(f"demo: player exited {rc}; agent audio in {OUT_WAV}", file=sys.stderr)
        sys.exit(rc)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
