# SPDX-License-Identifier: Apache-2.0
"""Bounded audio for the dashboard: one side of a session as PCM16LE mono, and as WAV.

A buffer keeps the FIRST `max_seconds` of a side's audio (so the WAV starts where the
session did); later audio is counted in `dropped_bytes`, not kept. Agent audio arrives as
sent (ahead of real time), so the chunks are simply concatenated.
"""

from __future__ import annotations

import io
import logging
import wave

log = logging.getLogger("devserver.dashboard")

MAX_AUDIO_SECONDS = 300.0
SAMPLE_BYTES = 2


class AudioBuffer:
    def __init__(self, max_seconds: float = MAX_AUDIO_SECONDS) -> None:
        self.max_seconds = max_seconds
        self.data = bytearray()
        self.rate: int | None = None
        self.dropped_bytes = 0
        self.released = False           # freed to keep all sessions' audio in bounds

    def limit(self) -> int:
        cap = int(self.max_seconds * (self.rate or 0)) * SAMPLE_BYTES
        return max(cap, 0)

    def add(self, data: bytes, rate: int) -> None:
        if self.rate is None:
            self.rate = rate
        elif rate != self.rate:
            log.warning("dashboard: audio at %d Hz after %d Hz ignored", rate, self.rate)
            self.dropped_bytes += len(data)
            return
        if self.released:
            self.dropped_bytes += len(data)
            return
        room = self.limit() - len(self.data)
        room -= room % SAMPLE_BYTES
        keep = data[:max(room, 0)]
        self.data += keep
        self.dropped_bytes += len(data) - len(keep)

    def release(self) -> int:
        freed = len(self.data)
        self.dropped_bytes += freed
        self.data = bytearray()
        self.released = True
        return freed

    def seconds(self, nbytes: int) -> float:
        return round(nbytes / SAMPLE_BYTES / self.rate, 3) if self.rate else 0.0

    def describe(self) -> dict:
        return {"rate": self.rate, "seconds": self.seconds(len(self.data)),
                "dropped_seconds": self.seconds(self.dropped_bytes),
                "released": self.released}


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    """A RIFF WAV file: 16-bit mono PCM at `rate`."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_BYTES)
        w.setframerate(rate)
        w.writeframes(pcm[:len(pcm) - len(pcm) % SAMPLE_BYTES])
    return out.getvalue()
