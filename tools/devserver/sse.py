# SPDX-License-Identifier: Apache-2.0
"""An incremental Server-Sent Events parser (the WHATWG HTML "event stream" rules).

Bytes go in as they arrive from the socket, in pieces of any size; whole events come out.
Lines end with CRLF, LF or CR (a CR at the end of one piece and an LF at the start of the
next are one line end); a line starting with ":" is a comment; `field: value` loses one
space after the colon; several `data:` lines join with "\n"; a blank line dispatches the
event, and an event whose data is empty is not dispatched. A UTF-8 byte-order mark at the
very start is skipped. Bounded: a line or an event's data past `max_event_bytes` is an
`SSEError`, so a peer that never sends a line end cannot grow memory.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_EVENT_BYTES = 1 << 20


class SSEError(Exception):
    """The stream is not a valid event stream (or breaks this parser's bounds)."""


@dataclass
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEParser:
    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._buf = bytearray()
        self._skip_lf = False          # the last piece ended with CR
        self._started = False          # past a possible byte-order mark
        self._data: list[str] = []
        self._data_bytes = 0
        self._event = ""
        self._id: str | None = None
        self.comments = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events completed by `chunk`."""
        events: list[SSEEvent] = []
        buf = self._buf
        buf += chunk
        if not self._started:
            if len(buf) < 3 and b"\xef\xbb\xbf".startswith(bytes(buf)):
                return events          # maybe a BOM, cut short
            if buf.startswith(b"\xef\xbb\xbf"):
                del buf[:3]
            self._started = True
        start = 0
        n = len(buf)
        while start < n:
            if self._skip_lf:
                self._skip_lf = False
                if buf[start] == 0x0A:
                    start += 1
                    continue
            cr = buf.find(b"\r", start)
            lf = buf.find(b"\n", start)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = bytes(buf[start:end])
            if buf[end] == 0x0D:
                if end + 1 < n:
                    start = end + 2 if buf[end + 1] == 0x0A else end + 1
                else:
                    start = end + 1
                    self._skip_lf = True
            else:
                start = end + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        del buf[:start]
        if len(buf) > self.max_event_bytes:
            raise SSEError(f"an event stream line longer than {self.max_event_bytes} "
                           "bytes")
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SSEError(f"event stream is not UTF-8: {exc}") from None
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_bytes += len(raw) + 1
            if self._data_bytes > self.max_event_bytes:
                raise SSEError(f"an event's data is over {self.max_event_bytes} bytes")
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        # "retry" and unknown fields are ignored, as the standard says.
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, self._data, self._data_bytes = self._data, [], 0
        event, self._event = self._event, ""
        if not data:
            return None
        return SSEEvent("\n".join(data), event or "message", self._id)

    @property
    def pending(self) -> bool:
        """An event was begun and not dispatched (the stream ended mid-event)."""
        return bool(self._data) or bool(self._buf.strip())
