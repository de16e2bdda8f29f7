# SPDX-License-Identifier: Apache-2.0
"""The queue behind ``Client.events()``: bounded by count and by bytes, oldest dropped first.

An event's cost is the text it carries (the raw JSON of a message, the detail, the ids) plus
a fixed 64: what the parsed message or config takes in Python is of the same order, so the
byte bound keeps a server that sends large messages from filling memory while nobody reads
``events()`` (a count alone let 10,000 messages of 1 MiB reach 962 MB).
"""

from __future__ import annotations

import collections
import queue
import threading
from typing import Any, Deque, Optional, Tuple

EVENT_OVERHEAD_BYTES = 64


def event_cost(item: Any) -> int:
    """Approximate bytes held by one queued event: its raw JSON and detail text (what can be
    large; ids and names are small) plus a fixed overhead. Cheap: it runs in every callback."""
    raw = getattr(item, "raw", None)
    detail = getattr(item, "detail", None)
    return EVENT_OVERHEAD_BYTES + (len(raw) if raw else 0) + (len(detail) if detail else 0)


class EventQueue:
    """Thread-safe FIFO of at most ``max_events`` events and ``max_bytes`` bytes of them.

    A put beyond either bound drops the oldest events first and returns how many; an event
    larger than ``max_bytes`` on its own is still kept, alone."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._items: Deque[Tuple[Any, int]] = collections.deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0  # get() calls waiting: put() notifies only then

    @property
    def bytes(self) -> int:
        """Bytes queued now (see event_cost)."""
        with self._cond:
            return self._bytes

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: Any) -> int:
        cost = event_cost(item)
        dropped = 0
        with self._lock:
            items = self._items
            while items and (len(items) >= self.max_events or self._bytes + cost > self.max_bytes):
                self._bytes -= items.popleft()[1]
                dropped += 1
            items.append((item, cost))
            self._bytes += cost
            if self._waiters:
                self._cond.notify()
        return dropped

    def get(self, timeout: Optional[float] = None) -> Any:
        """The oldest event; raises queue.Empty after timeout seconds (None: wait)."""
        with self._lock:
            self._waiters += 1
            try:
                if not self._cond.wait_for(lambda: bool(self._items), timeout):
                    raise queue.Empty
            finally:
                self._waiters -= 1
            item, cost = self._items.popleft()
            self._bytes -= cost
            return item

    def get_nowait(self) -> Any:
        """The oldest event at once; raises queue.Empty if there is none."""
        return self.get(timeout=0)
