# SPDX-License-Identifier: Apache-2.0
"""The dashboard's memory: per-session state built from the EventLog's records.

DashboardStore(eventlog) subscribes to every record (and both sides' audio) and keeps,
per session: who/when, the turns in order (user transcripts and recognition, the
assistant's text, first audio, interruption), the webhook calls with their SSE events and
timings, the latency per turn, faults and errors, and the audio of both sides.

Memory is bounded whatever clients and backends send (see the limits below): sessions,
turns, webhook calls and events, faults and errors are capped (the oldest dropped, and
counted); every text is cut to MAX_TEXT characters; each side keeps the FIRST
MAX_AUDIO_SECONDS of its audio (later audio is counted, not kept), and all sessions'
audio together at most MAX_AUDIO_TOTAL_BYTES (the audio of the oldest sessions, ended
ones first, is released to make room).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Callable

from dashboard_session import SessionState, clip

log = logging.getLogger("devserver.dashboard")

MAX_SESSIONS = 50
MAX_FORGOTTEN = 1000            # ids of dropped sessions remembered (late records ignored)
MAX_AUDIO_TOTAL_BYTES = 128 * 1024 * 1024

Listener = Callable[[str], None]


class DashboardStore:
    def __init__(self, eventlog=None, *, max_sessions: int = MAX_SESSIONS,
                 max_audio_total: int = MAX_AUDIO_TOTAL_BYTES, **session_limits) -> None:
        self.max_sessions = max_sessions
        self.max_audio_total = max_audio_total
        self.session_limits = session_limits
        self.sessions: OrderedDict[str, SessionState] = OrderedDict()
        self._forgotten: OrderedDict[str, None] = OrderedDict()
        self.sessions_dropped = 0
        self.version = 0
        self._listeners: list[Listener] = []
        if eventlog is not None:
            eventlog.subscribe(self.on_record)

    # ---- listeners (the SSE endpoint) ------------------------------------

    def listen(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def unlisten(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _notify(self, session_id: str) -> None:
        self.version += 1
        for fn in list(self._listeners):
            try:
                fn(session_id)
            except Exception:
                log.exception("dashboard listener failed; dropped")
                self.unlisten(fn)

    # ---- records ------------------------------------------------------------

    def on_record(self, record: dict, audio: bytes | None = None) -> None:
        """An EventLog subscriber: one record (and the PCM of an "audio" record)."""
        sid = record.get("session")
        if not isinstance(sid, str) or not sid or sid in self._forgotten:
            return                  # not a session's record, or a dropped session's
        sid = clip(sid, 200)
        state = self.sessions.get(sid)
        if state is None:
            state = self._add_session(sid, record)
        if record.get("kind") == "audio":
            if audio:
                state.add_audio(record, audio)
                self._cap_audio(state)
        else:
            state.apply(record)
        self._notify(sid)

    def _add_session(self, sid: str, record: dict) -> SessionState:
        while len(self.sessions) >= self.max_sessions:
            ended = [k for k, s in self.sessions.items() if s.ended is not None]
            victim = ended[0] if ended else next(iter(self.sessions))
            self._forget(victim)
        state = SessionState(sid, record.get("t"), **self.session_limits)
        self.sessions[sid] = state
        return state

    def _forget(self, sid: str) -> None:
        del self.sessions[sid]
        self.sessions_dropped += 1
        self._forgotten[sid] = None
        while len(self._forgotten) > MAX_FORGOTTEN:
            self._forgotten.popitem(last=False)

    def _cap_audio(self, current: SessionState) -> None:
        total = sum(s.audio_bytes() for s in self.sessions.values())
        if total <= self.max_audio_total:
            return
        order = sorted(self.sessions.values(),
                       key=lambda s: (s.ended is None, s.started or 0))
        for state in order:
            if total <= self.max_audio_total:
                break
            if state is current or not state.audio_bytes():
                continue
            total -= state.release_audio()

    # ---- views --------------------------------------------------------------

    def audio_bytes(self) -> int:
        return sum(s.audio_bytes() for s in self.sessions.values())

    def list_json(self) -> dict:
        items = [s.summary() for s in reversed(self.sessions.values())]
        return {"sessions": items, "dropped": self.sessions_dropped,
                "version": self.version}

    def detail_json(self, sid: str) -> dict | None:
        state = self.sessions.get(sid)
        return None if state is None else state.detail()

    def audio(self, sid: str, side: str) -> tuple[bytes, int] | None:
        state = self.sessions.get(sid)
        if state is None or side not in state.audio:
            return None
        buf = state.audio[side]
        return bytes(buf.data), buf.rate


def dumps(obj) -> str:
    """JSON for the API (anything odd a record carried becomes its repr)."""
    return json.dumps(obj, ensure_ascii=False, default=repr, allow_nan=False)
