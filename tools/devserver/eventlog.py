# SPDX-License-Identifier: Apache-2.0
"""JSON-lines event log: one object per line, flushed per line.

Every line: {"t": unix_time_float, "session": id-or-null, "kind": ..., ...}.
Audio `content` (client.audio, response.audio) is replaced by
"content_bytes": N (decoded length) unless audio content logging is on, in
which case both are written.

Subscribers (the dashboard, dashboard.py) get every record as it is written, whether or
not there is a file, and also the decoded audio of both sides (`audio`), which never goes
to the file. A subscriber runs on the event loop and must be quick; one that raises is
logged and dropped.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import sys
import time
from typing import IO, Callable

log = logging.getLogger("devserver.eventlog")

# fn(record, audio): `audio` is the PCM16LE of an "audio" record, else None.
Subscriber = Callable[[dict, "bytes | None"], None]

AUDIO_TYPES = ("client.audio", "response.audio")


def elide_audio(msg: dict, keep_content: bool) -> dict:
    """A copy of `msg` fit for the log (audio content replaced by its size)."""
    if msg.get("type") not in AUDIO_TYPES or "content" not in msg:
        return msg
    out = dict(msg)
    content = msg.get("content")
    size = None
    if isinstance(content, str):
        try:
            size = len(base64.b64decode(content, validate=True))
        except (binascii.Error, ValueError):
            size = None
    out["content_bytes"] = size
    if not keep_content:
        del out["content"]
    return out


class EventLog:
    def __init__(self, path: str | None, log_audio_content: bool = False) -> None:
        self.log_audio_content = log_audio_content
        self._fh: IO[str] | None = None
        self._subscribers: list[Subscriber] = []
        if path:
            # Line buffered append: concurrent readers (tests) see whole lines.
            self._fh = open(path, "a", encoding="utf-8", buffering=1)

    @property
    def enabled(self) -> bool:
        return self._fh is not None or bool(self._subscribers)

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def _publish(self, record: dict, audio: bytes | None) -> None:
        for fn in list(self._subscribers):
            try:
                fn(record, audio)
            except Exception:
                log.exception("event subscriber failed; dropped")
                self._subscribers.remove(fn)

    def audio(self, session: str, side: str, data: bytes, rate: int) -> None:
        """Audio that crossed the socket, decoded (side "user" or "agent"): for
        subscribers only."""
        if self._subscribers:
            self._publish({"t": time.time(), "session": session, "kind": "audio",
                           "side": side, "rate": rate}, data)

    def write(self, session: str | None, kind: str, **fields) -> None:
        if not self.enabled:
            return
        record = {"t": time.time(), "session": session, "kind": kind}
        record.update(fields)
        if self._subscribers:
            self._publish(record, None)
        if self._fh is None:
            return
        try:
            line = json.dumps(record, ensure_ascii=False, default=repr)
            self._fh.write(line + "\n")
            self._fh.flush()
        except (OSError, ValueError) as exc:
            print(f"devserver: cannot write log: {exc}", file=sys.stderr)

    def message(self, session: str | None, kind: str, msg: dict,
                precomputed_bytes: int | None = None) -> None:
        """Log a protocol message (kind 'recv' or 'send')."""
        if not self.enabled:
            return
        if (precomputed_bytes is not None and msg.get("type") in AUDIO_TYPES
                and not self.log_audio_content):
            logged = {k: v for k, v in msg.items() if k != "content"}
            logged["content_bytes"] = precomputed_bytes
        else:
            logged = elide_audio(msg, self.log_audio_content)
        self.write(session, kind, msg=logged)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
