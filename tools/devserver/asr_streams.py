# SPDX-License-Identifier: Apache-2.0
"""One user turn's recognition: RecognitionStream (created by asr.Recognizer).

feed() runs on the event loop and only queues audio; a drain job on the
recogniser's worker pool takes the queue in order, gets a decoder (a free one,
a new one while fewer than max_streams exist, or else it queues the stream and
the next decoder released is handed to it by Recognizer._release), upsamples
and decodes. Only one drain job per stream exists at a time (`_running`), so a
decoder is never used by two threads. Partial hypotheses go to on_partial on
the loop (call_soon_threadsafe). finish() flushes and ends the utterance;
cancel() drops the queue and returns the decoder from a worker.

Lock order: the recogniser's lock before a stream's lock (Recognizer._release
calls _adopt holding its own); a stream never calls into the recogniser while
holding its own lock.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from typing import TYPE_CHECKING, Callable

import upsample

if TYPE_CHECKING:
    from asr import Recognizer

log = logging.getLogger("devserver.asr")

BYTES_PER_SECOND = 16000          # 8 kHz PCM16 mono
PARTIAL_EVERY_BYTES = 3200        # look at the interim hypothesis every 0.2 s of audio

# Cepstral mean each utterance starts from. pocketsphinx otherwise carries the
# mean (and its noise estimate) over from whatever the decoder heard last, so
# the same audio would come out differently depending on which pooled decoder
# took it. This prior is the mean of real (human) telephone-band speech through
# this pipeline: pocketsphinx's test/data/goforward.raw, 16 kHz -> 8 kHz with
# sox, upsampled by upsample.py; it recognised espeak-ng speech better than the
# model's own wideband initial mean (mean WER 0.85 vs 0.885, test_asr.py).
CMN_PRIOR = ("31.9201,21.3246,-34.1982,33.0546,-12.7478,-5.56278,13.431,"
             "-20.9496,12.2849,-10.6868,-7.36726,6.88138,-8.88246")


class RecognitionError(RuntimeError):
    """Recognition failed or was misused (the message says why)."""


class RecognitionStream:
    def __init__(self, recognizer: "Recognizer", loop: asyncio.AbstractEventLoop,
                 on_partial: Callable[[str], None] | None, max_seconds: float) -> None:
        self._rec = recognizer
        self._loop = loop
        self._on_partial = on_partial
        self._max_bytes = int(max_seconds * BYTES_PER_SECOND)
        self._lock = threading.Lock()
        self._pending: collections.deque[bytes] = collections.deque()
        self._decoder = None
        self._running = False
        self._finishing = False
        self._cancelled = False
        self._done = False             # result known (finished or cancelled)
        self._done_event = asyncio.Event()
        self._result = ""
        self._error: str | None = None
        self._fed = 0
        self._kept = 0
        self.truncated = False
        # worker-only state (the one running drain job owns it)
        self._up = upsample.Upsampler2x()
        self._in_utt = False
        self._since_partial = 0
        self._last_partial = ""

    @property
    def audio_seconds(self) -> float:
        """Audio fed so far, including any beyond the cap."""
        return self._fed / BYTES_PER_SECOND

    @property
    def kept_seconds(self) -> float:
        """Audio kept for recognition (at most the recogniser's max_seconds)."""
        return self._kept / BYTES_PER_SECOND

    # ---- event loop side -------------------------------------------------------------

    def feed(self, pcm8k: bytes) -> None:
        """Queue 8 kHz PCM16LE (any length); never blocks."""
        if self._cancelled:
            return
        if self._finishing:
            raise RecognitionError("feed() after finish()")
        self._fed += len(pcm8k)
        room = self._max_bytes - self._kept
        if len(pcm8k) > room:
            if not self.truncated:
                self.truncated = True
                log.warning("recognition stream over %.0f s of audio: the rest of the "
                            "turn is not recognised", self._max_bytes / BYTES_PER_SECOND)
            pcm8k = pcm8k[:max(room, 0)]
        if not pcm8k:
            return
        self._kept += len(pcm8k)
        with self._lock:
            self._pending.append(bytes(pcm8k))
        self._kick()

    async def finish(self) -> str:
        """The final transcript ("" if nothing was recognised or the stream was cancelled)."""
        if not self._finishing and not self._cancelled:
            self._finishing = True
            with self._lock:
                idle = not self._pending and self._decoder is None and not self._running
            if idle:               # nothing ever fed: no decoder needed
                self._set_result("")
            else:
                self._kick()
        await self._done_event.wait()
        if self._error is not None:
            raise RecognitionError(self._error)
        return self._result

    def cancel(self) -> None:
        """Drop the turn; its decoder goes back to the pool. Idempotent."""
        with self._lock:
            if self._cancelled or self._done:
                return
            self._cancelled = True
            self._pending.clear()
            cleanup = not self._running and self._decoder is not None
            if cleanup:
                self._running = True
        self._rec._unwait(self)
        if cleanup:
            self._submit(self._drain)
        self._set_result("")

    def _kick(self) -> None:
        with self._lock:
            if self._running or self._cancelled or self._done:
                return
            if not self._pending and not self._finishing:
                return
            self._running = True
        self._submit(self._drain)

    def _submit(self, job: Callable[[], None]) -> None:
        try:
            self._rec._submit(job)
        except RuntimeError:          # pool shut down (recogniser closed): finish here
            job()

    def _set_result(self, text: str, error: str | None = None) -> None:
        """Record the outcome once; wakes finish() on the loop thread."""
        with self._lock:
            if self._done:
                return
            self._done = True
            self._result, self._error = text, error
        self._rec._forget(self)
        self._on_loop(self._done_event.set)

    def _on_loop(self, fn: Callable[..., None], *args) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            fn(*args)
            return
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:          # loop closed: nobody is waiting any more
            pass

    def _emit_partial(self, text: str) -> None:
        if self._done or self._cancelled or self._on_partial is None:
            return
        try:
            self._on_partial(text)
        except Exception:
            log.exception("on_partial callback failed")

    # ---- recogniser side (under the recogniser's lock) -----------------------------------

    def _adopt(self, decoder) -> bool:
        """Take a released decoder; False if this stream no longer needs one."""
        with self._lock:
            if self._cancelled or self._done or self._decoder is not None:
                return False
            self._decoder = decoder
            if self._running:         # the job that queued us is still looping
                return True
            self._running = True
        try:
            self._rec._submit(self._drain)
        except RuntimeError:          # pool shut down: the decoder stays with the pool
            with self._lock:
                self._decoder, self._running = None, False
            return False
        return True

    def _retry(self) -> None:
        """A decoder slot freed up (one broke): try to get one again."""
        with self._lock:
            if self._cancelled or self._done or self._running or self._decoder is not None:
                return
            self._running = True
        self._submit(self._drain)

    # ---- worker side --------------------------------------------------------------------

    def _drain(self) -> None:
        """The stream's one running job: decode the queue in order, then stop."""
        try:
            while True:
                with self._lock:
                    decoder, cancelled = self._decoder, self._cancelled
                if cancelled:
                    self._close_decoder(decoder)
                    return
                if decoder is None:
                    decoder = self._rec._acquire(self)
                    with self._lock:
                        if decoder is not None:
                            self._decoder = decoder
                        elif self._decoder is None:   # queued; _adopt restarts us
                            self._running = False
                            return
                    continue
                with self._lock:
                    chunk = self._pending.popleft() if self._pending else None
                    if chunk is None and not self._finishing:
                        self._running = False
                        return
                if chunk is None:
                    self._finalize(decoder)
                    return
                self._decode(decoder, chunk)
        except Exception as exc:
            log.exception("speech recognition failed")
            with self._lock:
                decoder, self._decoder = self._decoder, None
                self._running = False
            if decoder is not None:
                self._rec._release(decoder, broken=True)
            self._set_result("", f"speech recognition failed: {exc}")

    def _decode(self, decoder, chunk: bytes) -> None:
        if not self._in_utt:
            decoder.start(CMN_PRIOR)   # a fresh front end from CMN_PRIOR
            self._in_utt = True
        audio = self._up.feed(chunk)
        if audio:
            decoder.process(audio)
        self._since_partial += len(chunk)
        if self._on_partial is None or self._since_partial < PARTIAL_EVERY_BYTES:
            return
        self._since_partial = 0
        text = decoder.hypothesis()
        if text and text != self._last_partial:
            self._last_partial = text
            self._on_loop(self._emit_partial, text)

    def _finalize(self, decoder) -> None:
        text = ""
        if self._in_utt:
            tail = self._up.flush()
            if tail:
                decoder.process(tail)
            text = decoder.end()
            self._in_utt = False
        self._give_back(decoder)
        self._set_result(text)

    def _close_decoder(self, decoder) -> None:
        """Cancelled: end any utterance and return the decoder."""
        if decoder is not None and self._in_utt:
            self._in_utt = False
            try:
                decoder.end()
            except Exception:
                log.exception("ending a cancelled utterance failed")
                with self._lock:
                    self._decoder, self._running = None, False
                self._rec._release(decoder, broken=True)
                return
        self._give_back(decoder)

    def _give_back(self, decoder) -> None:
        with self._lock:
            self._decoder = None
            self._running = False
        if decoder is not None:
            self._rec._release(decoder)
