# SPDX-License-Identifier: Apache-2.0
"""AsyncClient: the Client for asyncio.

The library calls back on its own thread; every event is handed to the asyncio loop with
``loop.call_soon_threadsafe`` and everything else (callbacks, the event iterator, the
futures of connect() and disconnect()) happens on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import weakref
from typing import Any, AsyncIterator, Callable, Dict, Mapping, Optional, Set

from . import _lib
from ._eventqueue import event_cost
from .client import (_MISSING, EVENT_TYPES, AudioBuffer, Client, Event, Stats, Status,
                     handler_args, set_handler)
from .errors import (CallbackError, ClosedError, LayercodeError, LCTimeoutError,
                     make_error)

logger = logging.getLogger("layercode")

_CLOSED = object()


class AsyncClient:
    """``async with AsyncClient(agent_id=..., authorize_url=...) as c:``

    Takes the Client's arguments. Callbacks (``on_message=...``, ``c.on("message", f)``)
    run on the asyncio loop and may be coroutine functions (run as tasks). Create it inside
    a running loop. Methods that never block (send_text, turn_start, write_audio, ...) are
    plain methods; connect() and disconnect() are coroutines that wait for the outcome, and
    the device switches (set_audio_input/output, set_input/output_device) are coroutines
    that run the blocking call in the loop's default executor.
    """

    def __init__(self, agent_id: str, authorize_url: str, *, event_queue_size: int = 10000,
                 event_queue_max_bytes: int = 1 << 20, **options: Any) -> None:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("create AsyncClient inside a running asyncio event loop "
                               "(in a coroutine)") from None
        self._handlers: Dict[str, Callable[..., Any]] = {}
        for name in EVENT_TYPES:
            fn = options.pop(f"on_{name}", None)
            if fn is not None:
                self.on(name, fn)
        if "devices_changed" in self._handlers:
            # The Client installs the device watch only when it has this callback; the
            # real handler runs here, on the asyncio loop.
            options["on_devices_changed"] = _no_op
        if event_queue_max_bytes < 1:
            raise ValueError("event_queue_max_bytes must be positive")
        self._queue: "asyncio.Queue[Any]" = asyncio.Queue(maxsize=max(1, event_queue_size))
        # Bytes of the queued events (event_cost), bounded like Client's events() queue.
        self._queue_max_bytes = event_queue_max_bytes
        self._queue_bytes = 0
        self.event_queue_overflows = 0
        self.callback_error: Optional[CallbackError] = None
        self._connect_waiters: Set["asyncio.Future[None]"] = set()
        self._disconnect_waiters: Set["asyncio.Future[None]"] = set()
        self._attempt_error: Optional[LayercodeError] = None
        self._session_open = False
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._closed = False

        #: The underlying synchronous Client (its own event queue is off).
        self.client = Client(agent_id, authorize_url, event_queue_size=0, **options)

        # No reference from the Client back to self: dropping the AsyncClient frees both.
        loop, me = self._loop, weakref.ref(self)

        def forward(event: Event) -> None:  # the library's thread
            target = me()
            if target is None:
                return
            try:
                loop.call_soon_threadsafe(target._deliver, event)
            except RuntimeError:  # the loop is closed
                pass

        self.client._add_listener(forward)

    # ---- lifetime ----------------------------------------------------------------------

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Frees the client (idempotent); ends iterators and fails pending waits."""
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.client.close()
        self._session_open = False
        closed = ClosedError(_lib.LC_ERR_CLOSED, "the client was closed")
        self._settle(self._connect_waiters, closed)
        self._settle(self._disconnect_waiters, None)
        self._put(_CLOSED)

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"<layercode.AsyncClient {self.client!r}>"

    # ---- sessions ----------------------------------------------------------------------

    async def connect(self, timeout: Optional[float] = None) -> "AsyncClient":
        """Starts a session and returns once it is live. Raises the error that ended it
        (AuthorizeError, TLSError, ...), or LCTimeoutError after timeout seconds (the
        attempt is then abandoned)."""
        if self._closed:
            raise ClosedError(_lib.LC_ERR_CLOSED, "the client is closed")
        waiter: "asyncio.Future[None]" = self._loop.create_future()
        self._connect_waiters.add(waiter)
        self._attempt_error = None
        try:
            # Events reach the loop only after this coroutine yields: no race here.
            self.client.connect()
            self._session_open = True
            try:
                await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                with contextlib.suppress(LayercodeError):
                    self.client.disconnect()
                raise LCTimeoutError(_lib.LC_ERR_TIMEOUT,
                                     f"not connected within {timeout} s") from None
        finally:
            self._connect_waiters.discard(waiter)
        return self

    async def disconnect(self, timeout: Optional[float] = 10.0) -> None:
        """Ends the session and waits for its "disconnected" event (at most timeout s)."""
        if self._closed:
            return
        if not self._session_open:
            self.client.disconnect()
            return
        waiter: "asyncio.Future[None]" = self._loop.create_future()
        self._disconnect_waiters.add(waiter)
        try:
            self.client.disconnect()
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            raise LCTimeoutError(_lib.LC_ERR_TIMEOUT,
                                 f"not disconnected within {timeout} s") from None
        finally:
            self._disconnect_waiters.discard(waiter)

    # ---- events ------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.events()

    async def events(self, timeout: Optional[float] = None) -> AsyncIterator[Event]:
        """Yields events, ending after a "disconnected" event, when the client is closed,
        or once timeout seconds have passed in total. With no session open (before
        connect(), or after the session ended) it yields what is queued and ends at once,
        as Client.events() does."""
        deadline = None if timeout is None else self._loop.time() + timeout
        while True:
            if not self._session_open and self._queue.empty():
                return  # the session's "disconnected" was queued before it closed
            try:
                if deadline is None:
                    event = await self._queue.get()
                    self._queue_bytes -= event_cost(event)
                else:
                    remaining = deadline - self._loop.time()
                    if remaining <= 0:
                        return
                    event = await asyncio.wait_for(self._queue.get(), remaining)
                    self._queue_bytes -= event_cost(event)
            except asyncio.TimeoutError:
                return
            if event is _CLOSED:
                self._put(_CLOSED)
                return
            yield event
            if event.type == "disconnected":
                return

    def on(self, event: str, fn: Any = _MISSING) -> Any:
        """As Client.on; the callback runs on the asyncio loop and may be async."""
        return set_handler(self._handlers, event, fn)

    @property
    def event_queue_bytes(self) -> int:
        """Bytes of events waiting in the events() queue (see event_queue_max_bytes)."""
        return self._queue_bytes

    def _put(self, item: Any) -> None:
        cost = event_cost(item)
        while not self._queue.empty() and (self._queue.full()
                                           or self._queue_bytes + cost > self._queue_max_bytes):
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue_bytes -= event_cost(self._queue.get_nowait())
                self.event_queue_overflows += 1
        self._queue.put_nowait(item)
        self._queue_bytes += cost

    @staticmethod
    def _settle(waiters: Set["asyncio.Future[None]"], error: Optional[BaseException]) -> None:
        for waiter in list(waiters):
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        waiters.clear()

    def _deliver(self, event: Event) -> None:
        """On the loop: track the session, queue the event, run the callback."""
        if self._closed:
            return
        kind = event.type
        if kind == "connected":
            self._settle(self._connect_waiters, None)
        elif kind == "error" and isinstance(event.error, LayercodeError):
            if self._attempt_error is None:
                self._attempt_error = event.error
        elif kind == "status" and event.status == Status.ERROR:
            self._settle(self._connect_waiters, self._attempt_error or
                         make_error(_lib.LC_ERR_INTERNAL, "status error"))
        elif kind == "disconnected":
            self._session_open = False
            error = self._attempt_error or event.error or \
                ClosedError(_lib.LC_ERR_CLOSED, event.detail or "disconnected")
            self._settle(self._connect_waiters, error)
            self._settle(self._disconnect_waiters, None)
        self._put(event)
        fn = self._handlers.get(kind)
        if fn is not None:
            self._run_handler(kind, fn, handler_args(event))

    def _run_handler(self, kind: str, fn: Callable[..., Any], args: Any) -> None:
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(lambda t, k=kind: self._task_done(k, t))
        except Exception as exc:
            self._callback_failed(kind, exc)

    def _task_done(self, kind: str, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._callback_failed(kind, task.exception())  # type: ignore[arg-type]

    def _callback_failed(self, kind: str, exc: BaseException) -> None:
        err = CallbackError(kind, exc)
        self.callback_error = err
        logger.error("layercode: the on_%s callback raised", kind, exc_info=exc)
        self._put(Event("error", detail=str(err), error=err))
        handler = self._handlers.get("error")
        if kind != "error" and handler is not None:
            self._run_handler("error", handler, (err,))

    # ---- the rest is the Client's (none of it blocks but the device switches) ----------

    @property
    def status(self) -> Status:
        return self.client.status

    @property
    def last_error(self) -> str:
        return self.client.last_error

    @property
    def muted(self) -> bool:
        return self.client.muted

    @muted.setter
    def muted(self, value: bool) -> None:
        self.client.muted = value

    def mute(self) -> None:
        self.client.mute()

    def unmute(self) -> None:
        self.client.unmute()

    def send_text(self, text: str) -> None:
        self.client.send_text(text)

    def send_data(self, data: Mapping[str, Any]) -> None:
        self.client.send_data(data)

    def turn_start(self) -> None:
        self.client.turn_start()

    def turn_end(self) -> None:
        self.client.turn_end()

    def talking(self) -> "contextlib.AbstractContextManager[Client]":
        return self.client.talking()

    def write_audio(self, samples: AudioBuffer) -> int:
        return self.client.write_audio(samples)

    def read_audio(self, count: int, as_numpy: bool = False) -> Any:
        return self.client.read_audio(count, as_numpy)

    def read_audio_into(self, out: AudioBuffer) -> int:
        return self.client.read_audio_into(out)

    def stats(self) -> Stats:
        return self.client.stats()

    def set_audio_delays(self, playback_ms: int, capture_ms: int) -> None:
        """As Client.set_audio_delays (the library's loop applies it at once, as mute())."""
        self.client.set_audio_delays(playback_ms, capture_ms)

    # ---- device switching: the library opens the new device before it returns, which
    # may take as long as the device does, so these run in the loop's default executor.

    async def set_audio_input(self, enabled: bool) -> None:
        """As Client.set_audio_input, without blocking the loop."""
        await self._loop.run_in_executor(None, self.client.set_audio_input, enabled)

    async def set_audio_output(self, enabled: bool) -> None:
        """As Client.set_audio_output, without blocking the loop."""
        await self._loop.run_in_executor(None, self.client.set_audio_output, enabled)

    async def set_input_device(self, name: Any) -> None:
        """As Client.set_input_device (AudioError keeps the old device), without blocking
        the loop."""
        await self._loop.run_in_executor(None, self.client.set_input_device, name)

    async def set_output_device(self, name: Any) -> None:
        """As Client.set_output_device, without blocking the loop."""
        await self._loop.run_in_executor(None, self.client.set_output_device, name)

    def failure_reason(self) -> "tuple[str, Optional[int]]":
        return self.client.failure_reason()


def _no_op() -> None:
    pass
