# SPDX-License-Identifier: Apache-2.0
"""Offline speech recognition of the user's turns with pocketsphinx (en-us).

One Recognizer per devserver process; one RecognitionStream per user turn.
The client's 8 kHz PCM16 is interpolated to the model's 16 kHz by a windowed-
sinc FIR (upsample.py; measured better than decoding at 8 kHz with a narrowband
front end, see tests/devserver/test_asr.py) and decoded while it arrives, so
finish() only waits for the last few frames.

Processes and threads: each decoder lives in a child process of its own
(asr_worker.py), because pocketsphinx holds the GIL while it decodes and, run
in threads, stalled the event loop by up to 130 ms (at the end of an
utterance); with processes the loop lags at most a few ms (bench/asr_bench.py)
and decoding uses another core. A small thread pool drives them: a stream's
audio is decoded in the order it was fed, by at most one thread at a time, and
a decoder belongs to one stream from its first decoded frame until finish() or
cancel(). Decoders are expensive (about 0.45 s to start and 105 MB RSS each
with the general en-us model) so they are made as needed, at most
`max_streams`; a stream that finds them all busy buffers its audio and is
handed the next decoder freed (first come, first served). A decoder process
that dies or errs fails only its turn (finish() raises RecognitionError) and
its slot is refilled when needed.

phrases=[...] swaps the general language model for a trigram model of those
sentences (pocketsphinx.lm): far fewer words to confuse, for a demo or a test
whose user says known things. Words the dictionary lacks cannot be recognised;
they are listed in `unknown_words` and logged.

close() ends open streams and stops the decoder processes; they also exit on
their own when the devserver dies (their stdin closes).

Memory bound: a stream keeps at most `max_seconds` (default 300 s, the
session's own turn cap) of audio; what is fed beyond that is dropped, counted
in `audio_seconds` but not recognised, and logged once. Every stream must end
with finish() or cancel(), which return its decoder to the pool.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import io
import logging
import os
import tempfile
import threading
import time
from typing import Callable, Sequence

from asr_streams import RecognitionStream, RecognitionError  # noqa: F401 (re-export)
from asr_worker import RemoteDecoder

log = logging.getLogger("devserver.asr")

MAX_STREAM_SECONDS = 300.0
FEEDING = "8 kHz upsampled to 16 kHz by a 64-tap windowed-sinc FIR, decoder processes"


class Recognizer:
    """pocketsphinx en-us, shared by all sessions of a process."""

    def __init__(self, *, max_streams: int = 8, phrases: Sequence[str] | None = None,
                 max_seconds: float = MAX_STREAM_SECONDS,
                 phrase_model: str = "grammar") -> None:
        if max_streams < 1:
            raise ValueError("max_streams must be at least 1")
        self.max_streams = max_streams
        self.max_seconds = max_seconds
        self.available = False
        self.engine = "none"
        self.reason: str | None = None
        self.decoder_create_seconds: float | None = None
        self.unknown_words: list[str] = []
        self._lock = threading.Lock()
        self._free: list = []
        self._created = 0
        self._waiting: collections.deque = collections.deque()
        self._streams: set[RecognitionStream] = set()
        self._closed = False
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._kwargs: dict = {}
        try:
            import pocketsphinx  # noqa: F401
        except ImportError as exc:
            self.reason = (f"pocketsphinx is not installed ({exc}); "
                           "pip install -r tools/devserver/requirements.txt")
            return
        try:
            from importlib.metadata import version
            ps_version = version("pocketsphinx")
        except Exception:  # metadata missing in an odd install: still usable
            ps_version = "5.x"
        try:
            if phrases and phrase_model == "grammar":
                # A grammar naming a word the dictionary lacks does not load at all: the
                # phrases with such words are left out (and listed, below).
                known = _dictionary_words()
                self._kwargs["jsgf"] = _phrase_grammar(
                    [p for p in phrases if all(w in known for w in _words(p))])
            elif phrases:
                self._kwargs["lm"] = _phrase_lm(phrases)
            decoder, seconds = self._new_decoder()
        except Exception as exc:
            self.reason = f"pocketsphinx could not start with the en-us model: {exc}"
            return
        if phrases:
            words = sorted({w for p in phrases for w in p.lower().split()})
            try:
                self.unknown_words = decoder.unknown(words)
            except Exception as exc:
                decoder.close()
                self.reason = f"pocketsphinx failed: {exc}"
                return
            if self.unknown_words:
                log.warning("not in the pronunciation dictionary, never recognised: %s",
                            " ".join(self.unknown_words))
        self.decoder_create_seconds = seconds
        self._free.append(decoder)
        self._created = 1
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(max_streams, (os.cpu_count() or 1) + 1),
            thread_name_prefix="asr")
        self.available = True
        vocab = f", {len(phrases)} phrases" if phrases else ""
        self.engine = f"pocketsphinx {ps_version} (en-us{vocab}, {FEEDING})"

    # ---- public ------------------------------------------------------------------

    def stream(self, on_partial: Callable[[str], None] | None = None) -> RecognitionStream:
        """A stream for one user turn; call it on the event loop thread."""
        if not self.available:
            raise RecognitionError(f"speech recognition unavailable: {self.reason}")
        if self._closed:
            raise RecognitionError("recognizer is closed")
        stream = RecognitionStream(self, asyncio.get_running_loop(), on_partial,
                                   self.max_seconds)
        with self._lock:
            self._streams.add(stream)
        return stream

    async def transcribe(self, pcm8k: bytes) -> str:
        """The transcript of a whole 8 kHz PCM16 clip."""
        stream = self.stream()
        try:
            stream.feed(pcm8k)
            return await stream.finish()
        finally:
            stream.cancel()

    def close(self) -> None:
        """Cancel open streams and drop the decoders (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            streams = list(self._streams)
        for stream in streams:
            stream.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        with self._lock:
            free, self._free = self._free, []
        for decoder in free:
            decoder.close()
        for key in ("lm", "jsgf"):
            if key in self._kwargs:
                _unlink(self._kwargs[key])

    def stats(self) -> dict:
        with self._lock:
            return {"decoders": self._created, "free": len(self._free),
                    "waiting": len(self._waiting), "streams": len(self._streams)}

    def decoder_pids(self) -> list[int]:
        """Process ids of the decoders not in use (for tools and tests)."""
        with self._lock:
            return [decoder.pid for decoder in self._free]

    # ---- for RecognitionStream ------------------------------------------------------

    def _submit(self, fn: Callable[[], None]) -> None:
        assert self._executor is not None
        self._executor.submit(fn)

    def _acquire(self, stream: RecognitionStream):
        """A free decoder, or None after queueing the stream for the next one."""
        with self._lock:
            if self._free:
                return self._free.pop()
            if self._created < self.max_streams:
                self._created += 1
                create = True
            else:
                if stream not in self._waiting:
                    self._waiting.append(stream)
                return None
        if create:
            try:
                decoder, _ = self._new_decoder()
            except Exception:
                with self._lock:
                    self._created -= 1
                raise
            return decoder
        return None

    def _release(self, decoder, broken: bool = False) -> None:
        """Return a stream's decoder (its utterance ended) to the next waiter."""
        if broken:
            decoder.close()
            with self._lock:
                self._created -= 1
                waiter = self._waiting.popleft() if self._waiting else None
            if waiter is not None:        # its turn to make a decoder in the freed slot
                waiter._retry()
            return
        with self._lock:
            while decoder is not None and self._waiting:
                waiter = self._waiting.popleft()
                if waiter._adopt(decoder):
                    return
            if decoder is not None and not self._closed:
                self._free.append(decoder)
                return
        if decoder is not None:           # closed meanwhile
            decoder.close()

    def _unwait(self, stream: RecognitionStream) -> None:
        with self._lock:
            try:
                self._waiting.remove(stream)
            except ValueError:
                pass

    def _forget(self, stream: RecognitionStream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def _new_decoder(self) -> tuple[RemoteDecoder, float]:
        start = time.perf_counter()
        decoder = RemoteDecoder(self._kwargs)
        seconds = time.perf_counter() - start
        log.debug("pocketsphinx decoder process %d ready in %.2f s", decoder.pid, seconds)
        return decoder, seconds


def _phrase_lm(phrases: Sequence[str]) -> str:
    """An ARPA trigram model of `phrases` in a temp file (removed by close())."""
    from pocketsphinx.lm import ArpaBoLM
    lines = [" ".join(p.lower().split()) for p in phrases if p.strip()]
    if not lines:
        raise ValueError("phrases are all empty")
    model = ArpaBoLM(text="\n".join(lines), add_start=True, case="lower")
    model.compute()
    text = io.StringIO()
    model.write(text)
    fd, path = tempfile.mkstemp(prefix="devserver-asr-", suffix=".arpa")
    with os.fdopen(fd, "w") as out:
        out.write(text.getvalue())
    return path


def _words(phrase: str) -> list[str]:
    return "".join(c for c in phrase.lower() if c.isalpha() or c in " '").split()


def _dictionary_words() -> set[str]:
    """The words of pocketsphinx's en-us pronunciation dictionary."""
    import pocketsphinx
    path = os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")
    with open(path, encoding="utf-8") as fh:
        return {line.split(" ", 1)[0].split("(", 1)[0] for line in fh}


def _phrase_grammar(phrases: Sequence[str]) -> str:
    """A JSGF grammar whose sentences are `phrases`, in a temp file (removed by close()):
    the decoder then hears one of them (or a part of one), never other words."""
    lines = sorted({" ".join(_words(p)) for p in phrases} - {""})
    if not lines:
        raise ValueError("no phrase has only words the dictionary knows")
    fd, path = tempfile.mkstemp(prefix="devserver-asr-", suffix=".gram")
    with os.fdopen(fd, "w") as out:
        out.write("#JSGF V1.0;\ngrammar phrases;\npublic <phrase> = "
                  + " | ".join(lines) + " ;\n")
    return path


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
