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
    """Approximate bytes held by one queued event (0 for the end marker)."""
    if not hasattr(item, "type"):
        return 0
    cost = EVENT_OVERHEAD_BYTES
    for name in ("raw", "detail", "conversation_id", "turn_id", "device", "message_type"):
        value = getattr(item, name, None)
        if isinstance(value, str):
            cost += len(value)
    return cost


class EventQueue:
    """Thread-safe FIFO of at most ``max_events`` events and ``max_bytes`` bytes of them.

    A put beyond either bound drops the oldest events first and returns how many; an event
    larger than ``max_bytes`` on its own is still kept, alone."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._items: Deque[Tuple[Any, int]] = collections.deque()
        self._bytes = 0
        self._cond = threading.Condition(threading.Lock())

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
        with self._cond:
            while self._items and (len(self._items) >= self.max_events
                                   or self._bytes + cost > self.max_bytes):
                _, old_cost = self._items.popleft()
                self._bytes -= old_cost
                dropped += 1
            self._items.append((item, cost))
            self._bytes += cost
            self._cond.notify()
        return dropped

    def get(self, timeout: Optional[float] = None) -> Any:
        """The oldest event; raises queue.Empty after timeout seconds (None: wait)."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items), timeout):
                raise queue.Empty
            item, cost = self._items.popleft()
            self._bytes -= cost
            return item
