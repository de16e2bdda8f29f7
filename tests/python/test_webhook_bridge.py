# SPDX-License-Identifier: Apache-2.0
"""The Python binding against the devserver's webhook bridge and the example customer
backend (examples/backend), all real, over loopback: the backend's greeting, a spoken
question recognised and answered, a typed question, data answered as data, and the
session's end reported to the backend."""

from __future__ import annotations

import array
import subprocess
import sys
from pathlib import Path

import layercode

from .support import ROOT, RATE, AudioPump, Recorder, wait_until

sys.path.insert(0, str(ROOT / "tests"))
from backend.backend_support import SECRET, Backend  # noqa: E402

PHRASES = ROOT / "examples" / "backend" / "phrases.txt"


def spoken(text: str, work: Path) -> array.array:
    """espeak-ng speech at the pump's rate, 16-bit mono."""
    wav = work / "q.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text],
                   check=True)
    raw = subprocess.run(["sox", str(wav), "-r", str(RATE), "-c", "1", "-b", "16",
                          "-e", "signed", "-t", "raw", "-"], check=True,
                         capture_output=True).stdout
    return array.array("h", raw[:len(raw) - len(raw) % 2])


def message(mtype, pred=lambda m: True):
    return lambda kind, args: kind == "message" and args[0].get("type") == mtype \
        and pred(args[0])


def test_a_spoken_and_a_typed_question_through_the_bridge_to_the_example_backend(
        make_client, devserver, tmp_path):
    backend = Backend(tmp_path / "backend", {"LAYERCODE_WEBHOOK_SECRET": SECRET,
                                             "LAYERCODE_API_KEY": "dev-api-key"})
    try:
        server = devserver("--webhook", backend.agent_url, "--webhook-secret", SECRET,
                           "--asr-phrases", str(PHRASES))
        rec = Recorder()
        client = make_client(server, agent_id="kiosk")
        for kind in layercode.EVENT_TYPES:
            client.on(kind, lambda *args, kind=kind: rec.add(kind, *args))
        client.connect().wait_connected(10)
        pump = AudioPump(client)
        pump.start()
        t_greeting, _, _ = rec.wait(message("response.end"), timeout=30)

        pump.say(spoken("what is the weather today", tmp_path))
        t_heard, _, (heard,) = rec.wait(message("user.transcript"), timeout=30,
                                        after=t_greeting)
        t_reply, _, _ = rec.wait(message("response.end"), timeout=30, after=t_heard)
        client.send_text("what time is it")
        t_typed, _, _ = rec.wait(message("response.end"), timeout=30, after=t_reply + 1e-6)
        client.send_data({"button": "lights"})
        _, _, (data, _turn) = rec.wait(
            lambda k, a: k == "data" and isinstance(a[0], dict) and "received" in a[0],
            timeout=30)
        client.disconnect()
        assert client.wait_disconnected(10)
        pump.stop()
        log = backend.wait_for_log("session.end")
    finally:
        backend.stop()

    texts = [m["content"] for (m,) in rec.of("message") if m["type"] == "response.text"]
    assert texts, "no agent text"
    # What the user said reached the backend as the transcript the device was shown: words
    # of the phrase list (the recogniser expects those), not a "[n.n s of audio]" label.
    vocabulary = set(PHRASES.read_text().split())
    assert heard["content"] and set(heard["content"].split()) <= vocabulary, heard
    assert f'text="{heard["content"]}"' in log
    # The backend answered each question; its sentences were played to the speaker.
    assert pump.agent_audio_between(t_heard, t_typed) > RATE
    typed = [m["content"] for t, k, (m, *_) in rec.events
             if k == "message" and m["type"] == "response.text" and t_reply < t <= t_typed]
    assert "UTC" in " ".join(typed), typed                 # the backend's time answer
    assert data == {"received": {"button": "lights"}}
    assert rec.of("error") == []
    records = server.records()
    assert [r["outcome"] for r in records if r["kind"] == "webhook_end"].count("ok") >= 4
    wait_until(lambda: any(r["kind"] == "turn_latency" for r in server.records()), 5)
