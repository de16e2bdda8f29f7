# SPDX-License-Identifier: Apache-2.0
"""One session's dashboard state, built record by record (dashboard_store.py owns these).

Turns are keyed by turn_id, in the order first seen. A user turn's latency is the devserver's
`turn_latency` record when there is one (source "devserver"); otherwise it is derived here
(source "derived"): from the user turn's first transcript message (the end of the turn) to
the first response.audio of the next assistant turn. An assistant turn is "interrupted" when
the user starts a turn (turn.start user, trigger.turn.start) before its response.end.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict

from dashboard_audio import AudioBuffer, MAX_AUDIO_SECONDS

MAX_TURNS = 200
MAX_WEBHOOK_CALLS = 100
MAX_WEBHOOK_EVENTS = 500         # SSE events kept per session, over all its calls
MAX_NOTES = 100                  # faults, and errors, each
MAX_TEXT = 1000                  # characters of any one text kept

TRANSCRIPTS = ("user.transcript.interim_delta", "user.transcript.delta", "user.transcript")


def clip(value, limit: int = MAX_TEXT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more]"


def num(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fields(record: dict, skip=("t", "session", "kind")) -> dict:
    """A record's own fields, each cut to size (for faults and errors)."""
    out = {}
    for key in list(record)[:20]:
        if key in skip:
            continue
        value = record[key]
        out[clip(key, 100)] = value if num(value) is not None or value is None \
            or isinstance(value, bool) else clip(value, 300)
    return out


def _joined(text: str, more: str) -> str:
    """Texts sent in parts (a sentence per response.text): spaced like the speech."""
    if text and more and not text[-1].isspace() and not more[0].isspace():
        return text + " " + more
    return text + more


class Capped:
    """A list keeping at most `limit` items: the oldest are dropped and counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list = []
        self.dropped = 0

    def add(self, item) -> None:
        self.items.append(item)
        if len(self.items) > self.limit:
            del self.items[0]
            self.dropped += 1


class SessionState:
    def __init__(self, sid: str, t, *, max_turns: int = MAX_TURNS,
                 max_webhook_calls: int = MAX_WEBHOOK_CALLS,
                 max_webhook_events: int = MAX_WEBHOOK_EVENTS,
                 max_notes: int = MAX_NOTES,
                 max_audio_seconds: float = MAX_AUDIO_SECONDS) -> None:
        self.id = sid
        self.started = num(t)
        self.ended: float | None = None
        self.info: dict = {}
        self.close: dict = {}
        self.max_turns = max_turns
        self.turns: OrderedDict[str, dict] = OrderedDict()
        self.turns_dropped = 0
        self.max_calls = max_webhook_calls
        self.calls: OrderedDict[str, dict] = OrderedDict()
        self.calls_dropped = 0
        self.max_events = max_webhook_events
        self.events_kept = 0
        self.events_dropped = 0
        self.faults = Capped(max_notes)
        self.errors = Capped(max_notes)
        self.audio = {"user": AudioBuffer(max_audio_seconds),
                      "agent": AudioBuffer(max_audio_seconds)}
        self._pending_start: float | None = None    # a turn.start without turn_id
        self._awaiting_reply: dict | None = None    # user turn whose latency is derived
        self.last_t = self.started

    # ---- audio ----------------------------------------------------------------

    def add_audio(self, record: dict, data: bytes) -> None:
        side = record.get("side")
        rate = record.get("rate")
        if side in self.audio and isinstance(rate, int) and 1000 <= rate <= 192000:
            self.audio[side].add(data, rate)

    def audio_bytes(self) -> int:
        return sum(len(b.data) for b in self.audio.values())

    def release_audio(self) -> int:
        return sum(b.release() for b in self.audio.values())

    # ---- records ---------------------------------------------------------------

    def apply(self, r: dict) -> None:
        kind = r.get("kind")
        t = num(r.get("t"))
        if t is not None:
            self.last_t = t
            if self.started is None:
                self.started = t
        if kind == "ws_open":
            self.started = t if t is not None else self.started
            self.info = {k: clip(r.get(k), 200) for k in
                         ("agent", "agent_id", "turn_mode", "conversation_id", "codec",
                          "remote") if r.get(k) is not None}
        elif kind == "ws_close":
            self.ended = t if t is not None else self.last_t
            self.close = _fields(r)
        elif kind in ("send", "recv") and isinstance(r.get("msg"), dict):
            self._message(kind, r["msg"], t)
        elif kind in ("fault", "fault_progress", "opus_inject"):
            self.faults.add({"t": t, "kind": kind, **_fields(r)})
        elif kind in ("error", "replay_timeout", "ws_reject"):
            self.errors.add({"t": t, "kind": kind, **_fields(r)})
        elif kind == "asr":
            turn = self._turn(r.get("turn_id"), "user", t)
            if turn is not None:
                turn["asr"] = {k: (num(r.get(k)) if k != "engine" and k != "text"
                                   else clip(r.get(k), MAX_TEXT))
                               for k in ("text", "engine", "ms", "audio_seconds")
                               if r.get(k) is not None}
        elif kind == "turn_latency":
            self._latency(r)
        elif isinstance(kind, str) and kind.startswith("webhook_"):
            self._webhook(kind, r, t)

    def _turn(self, turn_id, role: str, t) -> dict | None:
        if not isinstance(turn_id, str) or not turn_id:
            return None
        turn_id = clip(turn_id, 200)
        turn = self.turns.get(turn_id)
        if turn is None:
            start = self._pending_start if self._pending_start is not None else t
            self._pending_start = None
            turn = {"turn_id": turn_id, "role": role, "t": start, "transcript": None,
                    "interim": None, "text": "", "tts": "", "first_audio": None,
                    "audio_chunks": 0, "audio_bytes": 0, "ended": None,
                    "interrupted": False, "latency_ms": None, "latency_source": None,
                    "trigger": None, "reply_turn_id": None, "asr": None,
                    "transcript_t": None}
            self.turns[turn_id] = turn
            if len(self.turns) > self.max_turns:
                self.turns.popitem(last=False)
                self.turns_dropped += 1
        return turn

    def _user_starts(self) -> None:
        for turn in self.turns.values():
            if turn["role"] == "assistant" and turn["ended"] is None and \
                    not turn["interrupted"]:
                turn["interrupted"] = True

    def _message(self, kind: str, msg: dict, t) -> None:
        mtype = msg.get("type")
        tid = msg.get("turn_id")
        if kind == "recv":
            if mtype == "trigger.turn.start":
                self._user_starts()
            return
        if mtype == "turn.start":
            role = "assistant" if msg.get("role") == "assistant" else "user"
            if role == "user":
                self._user_starts()
            if self._turn(tid, role, t) is None:
                self._pending_start = t
        elif mtype in TRANSCRIPTS:
            turn = self._turn(tid, "user", t)
            if turn is None:
                return
            if turn["transcript_t"] is None:
                turn["transcript_t"] = t
                self._awaiting_reply = turn
            if mtype == "user.transcript":
                turn["transcript"] = clip(msg.get("content"))
            else:
                turn["interim"] = clip(msg.get("content"))
        elif mtype == "response.text":
            turn = self._turn(tid, "assistant", t)
            if turn is not None and len(turn["text"]) < MAX_TEXT:
                turn["text"] = clip(_joined(turn["text"], clip(msg.get("content"))))
        elif mtype == "response.audio":
            turn = self._turn(tid, "assistant", t)
            if turn is None:
                return
            turn["audio_chunks"] += 1
            turn["audio_bytes"] += int(num(msg.get("content_bytes")) or 0)
            if turn["first_audio"] is None:
                turn["first_audio"] = t
                self._derive_latency(turn, t)
        elif mtype == "response.end":
            turn = self._turn(tid, "assistant", t)
            if turn is not None:
                turn["ended"] = t

    def _derive_latency(self, reply: dict, t) -> None:
        user = self._awaiting_reply
        self._awaiting_reply = None
        if user is None or user["latency_source"] == "devserver" or t is None \
                or user["transcript_t"] is None:
            return
        ms = round((t - user["transcript_t"]) * 1000.0, 1)
        user.update(latency_ms=ms, latency_source="derived",
                    reply_turn_id=reply["turn_id"])
        if reply["latency_source"] != "devserver":
            reply.update(latency_ms=ms, latency_source="derived")

    def _latency(self, r: dict) -> None:
        ms = num(r.get("ms"))
        user = self._turn(r.get("turn_id"), "user", num(r.get("t")))
        if user is None or ms is None:
            return
        reply_id = r.get("assistant_turn_id")
        user.update(latency_ms=round(ms, 1), latency_source="devserver",
                    trigger=clip(r.get("trigger"), 20) if r.get("trigger") else None,
                    reply_turn_id=clip(reply_id, 200) if isinstance(reply_id, str)
                    else None)
        reply = self.turns.get(user["reply_turn_id"] or "")
        if reply is not None:
            reply.update(latency_ms=round(ms, 1), latency_source="devserver")
        if self._awaiting_reply is user:
            self._awaiting_reply = None

    def _webhook(self, kind: str, r: dict, t) -> None:
        rid = r.get("request_id")
        if not isinstance(rid, (str, int)) or isinstance(rid, bool):
            return
        rid = clip(str(rid), 200)
        call = self.calls.get(rid)
        if call is None:
            call = {"request_id": rid, "t": t, "event": None, "turn_id": None,
                    "url": None, "body": None, "status": None, "response_ms": None,
                    "first_event_ms": None, "events": [], "events_dropped": 0,
                    "end_ms": None, "outcome": None, "error": None}
            self.calls[rid] = call
            if len(self.calls) > self.max_calls:
                _, old = self.calls.popitem(last=False)
                self.events_kept -= len(old["events"])
                self.calls_dropped += 1
        if kind == "webhook_request":
            call.update(t=t, event=clip(r.get("event"), 100), url=clip(r.get("url"), 500),
                        body=clip(r.get("body")),
                        turn_id=clip(r.get("turn_id"), 200) if r.get("turn_id") else None)
        elif kind == "webhook_response":
            call.update(status=num(r.get("status")), response_ms=num(r.get("ms")))
        elif kind == "webhook_event":
            self._webhook_event(call, r)
        elif kind == "webhook_end":
            call.update(end_ms=num(r.get("ms")), outcome=clip(r.get("outcome"), 50),
                        error=clip(r.get("error"), 1000) if r.get("error") else None)
            if call["outcome"] != "ok":
                self.errors.add({"t": t, "kind": "webhook", "request_id": rid,
                                 "outcome": call["outcome"], "error": call["error"]})

    def _webhook_event(self, call: dict, r: dict) -> None:
        ms = num(r.get("ms"))
        event = r.get("event")
        if call["first_event_ms"] is None:
            call["first_event_ms"] = ms
        if isinstance(event, dict) and event.get("type") == "response.tts":
            turn = self.turns.get(event.get("turn_id")) if isinstance(
                event.get("turn_id"), str) else None
            if turn is not None and turn["role"] == "assistant" and \
                    len(turn["tts"]) < MAX_TEXT:
                turn["tts"] = clip(_joined(turn["tts"], clip(event.get("content"))))
        if self.events_kept >= self.max_events:
            call["events_dropped"] += 1
            self.events_dropped += 1
            return
        call["events"].append({"ms": ms, "event": clip(event, 300)})
        self.events_kept += 1

    # ---- views ------------------------------------------------------------------

    def _latencies(self) -> list[float]:
        return [t["latency_ms"] for t in self.turns.values()
                if t["role"] == "user" and t["latency_ms"] is not None]

    def summary(self) -> dict:
        lat = sorted(self._latencies())
        return {"id": self.id, **self.info, "started": self.started, "ended": self.ended,
                "open": self.ended is None,
                "turn_count": len(self.turns) + self.turns_dropped,
                "webhook_call_count": len(self.calls) + self.calls_dropped,
                "fault_count": len(self.faults.items) + self.faults.dropped,
                "error_count": len(self.errors.items) + self.errors.dropped,
                "latency_p50_ms": lat[len(lat) // 2] if lat else None}

    def detail(self) -> dict:
        calls = list(self.calls.values())
        turns = []
        for turn in self.turns.values():
            out = {k: v for k, v in turn.items() if k != "transcript_t"}
            out["webhook"] = [c["request_id"] for c in calls if c["turn_id"] and
                              c["turn_id"] == turn["turn_id"]]
            turns.append(out)
        return {**self.summary(), "close": self.close, "turns": turns,
                "turns_dropped": self.turns_dropped, "webhook_calls": calls,
                "webhook_calls_dropped": self.calls_dropped,
                "webhook_events_dropped": self.events_dropped,
                "faults": self.faults.items, "faults_dropped": self.faults.dropped,
                "errors": self.errors.items, "errors_dropped": self.errors.dropped,
                "audio": {side: buf.describe() for side, buf in self.audio.items()}}
