# SPDX-License-Identifier: Apache-2.0
"""The dashboard's store (tools/devserver/dashboard_store.py): the state it builds from
record sequences of the EventLog's shapes, and its bounds whatever the records hold."""

from __future__ import annotations

import json
import tracemalloc

import pytest

import devserver_harness  # noqa: F401  (puts tools/devserver on sys.path)
from dashboard_support import S, conversation, rec, send

from dashboard_audio import MAX_AUDIO_SECONDS  # noqa: E402
from dashboard_store import DashboardStore  # noqa: E402


def test_store_builds_turns_calls_latency_faults_and_errors():
    store = DashboardStore()
    conversation(store)
    d = store.detail_json(S)
    assert d["agent_id"] == "my-agent" and d["conversation_id"] == "conv_1"
    assert d["started"] == 100.0 and d["ended"] == 105.0 and d["open"] is False
    turns = {t["turn_id"]: t for t in d["turns"]}
    assert [t["turn_id"] for t in d["turns"]] == ["a1", "u1", "a2", "u2"]
    assert turns["a1"]["text"] == "Hello!" and turns["a1"]["ended"] == 100.3
    assert turns["u1"]["transcript"] == "what is the weather today"
    assert turns["u1"]["asr"] == {"text": "what is the weather today",
                                  "engine": "pocketsphinx", "ms": 180.0, "audio_seconds": 1.9}
    assert turns["u1"]["latency_ms"] == 312.5 and turns["u1"]["latency_source"] == "devserver"
    assert turns["u1"]["trigger"] == "vad" and turns["u1"]["reply_turn_id"] == "a2"
    assert turns["a2"]["latency_ms"] == 312.5 and turns["a2"]["tts"] == "It is sunny."
    assert turns["a2"]["interrupted"] is True and turns["a1"]["interrupted"] is False
    assert turns["a2"]["webhook"] == ["w1"] and turns["u1"]["webhook"] == []
    w1, w2 = d["webhook_calls"]
    assert (w1["event"], w1["status"], w1["response_ms"], w1["first_event_ms"],
            w1["end_ms"], w1["outcome"]) == ("message", 200, 40.0, 95.5, 151.0, "ok")
    assert [e["ms"] for e in w1["events"]] == [95.5, 150.0]
    assert json.loads(w1["events"][0]["event"])["content"] == "It is sunny."
    assert w2["outcome"] == "timeout" and w2["error"] == "no SSE event in 30 s"
    assert [f["name"] for f in d["faults"]] == ["drop"]
    assert [e["kind"] for e in d["errors"]] == ["error", "webhook"]
    summary = store.list_json()["sessions"][0]
    assert summary["latency_p50_ms"] == 312.5 and summary["error_count"] == 2


def test_latency_is_derived_without_a_turn_latency_record():
    store = DashboardStore()
    conversation(store, with_latency_record=False)
    turns = {t["turn_id"]: t for t in store.detail_json(S)["turns"]}
    # From the first transcript message of u1 (103.0) to a2's first audio (103.4).
    assert turns["u1"]["latency_ms"] == pytest.approx(400.0)
    assert turns["u1"]["latency_source"] == "derived"
    assert turns["a1"]["latency_ms"] is None        # the greeting answers nobody


def test_sessions_are_capped_oldest_ended_first_and_late_records_ignored():
    store = DashboardStore(max_sessions=5)
    for i in range(3):
        store.on_record(rec(i, f"open{i}", "ws_open", agent="echo"))
    for i in range(20):
        store.on_record(rec(10 + i, f"s{i}", "ws_open", agent="echo"))
        store.on_record(rec(10 + i, f"s{i}", "ws_close", code=1000))
    ids = [s["id"] for s in store.list_json()["sessions"]]
    assert len(ids) == 5 and {"open0", "open1", "open2"} <= set(ids)
    assert ids[:2] == ["s19", "s18"] and store.sessions_dropped == 18
    store.on_record(rec(50, "s0", "send", msg={"type": "response.text", "content": "late",
                                               "turn_id": "x"}))
    assert "s0" not in store.sessions
    for i in range(10):                     # only open sessions left: the oldest goes
        store.on_record(rec(60 + i, f"n{i}", "ws_open"))
    assert len(store.sessions) == 5


def test_turns_events_and_texts_are_capped():
    store = DashboardStore(max_turns=10, max_webhook_calls=4, max_webhook_events=25,
                           max_notes=3)
    huge = "x" * 1_000_000
    for i in range(100):
        store.on_record(send(i, S, type="user.transcript", content=huge, turn_id=f"u{i}"))
        store.on_record(rec(i, S, "webhook_request", request_id=f"w{i}", event="message",
                            turn_id=f"u{i}", url=huge, body={"text": huge}))
        for k in range(20):
            store.on_record(rec(i, S, "webhook_event", request_id=f"w{i}", ms=k,
                                event={"type": "response.tts", "content": huge}))
        store.on_record(rec(i, S, "error", error=huge))
    d = store.detail_json(S)
    assert [t["turn_id"] for t in d["turns"]] == [f"u{i}" for i in range(90, 100)]
    assert d["turns_dropped"] == 90 and d["webhook_calls_dropped"] == 96
    assert [c["request_id"] for c in d["webhook_calls"]] == ["w96", "w97", "w98", "w99"]
    assert sum(len(c["events"]) for c in d["webhook_calls"]) <= 25
    assert len(d["errors"]) == 3 and d["errors_dropped"] == 97
    assert len(json.dumps(d)) < 200_000


def test_audio_keeps_the_first_five_minutes_per_side_and_a_total_budget():
    second16k = bytes(range(256)) * 125                 # 1 s of 16 kHz PCM16
    store = DashboardStore(max_audio_total=40 * 1024 * 1024)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for n in range(8):
            sid = f"a{n}"
            store.on_record(rec(n, sid, "ws_open"))
            for _ in range(int(MAX_AUDIO_SECONDS) + 60):
                store.on_record(rec(n, sid, "audio", side="agent", rate=16000), second16k)
                store.on_record(rec(n, sid, "audio", side="user", rate=8000),
                                second16k[:16000])
            store.on_record(rec(n, sid, "ws_close", code=1000))
            audio = store.detail_json(sid)["audio"]
            assert audio["agent"]["seconds"] == MAX_AUDIO_SECONDS
            assert audio["agent"]["dropped_seconds"] == 60.0
            assert audio["user"]["seconds"] == MAX_AUDIO_SECONDS
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert store.audio_bytes() <= 40 * 1024 * 1024 + 300 * (32000 + 16000)
    assert grown < 64 * 1024 * 1024, grown
    first = store.detail_json("a0")["audio"]["agent"]
    assert first["released"] is True and first["seconds"] == 0.0
    pcm, rate = store.audio("a7", "agent")
    assert rate == 16000 and pcm == second16k * int(MAX_AUDIO_SECONDS)
