# SPDX-License-Identifier: Apache-2.0
"""Energy voice-activity detector for automatic turn mode (8 kHz client audio).

RMS over 20 ms frames against a dBFS threshold. Speech starts after
`start_frames` consecutive loud frames (default 3 = 60 ms) and ends after
`end_frames` consecutive quiet frames (default 30 = 600 ms).

The turn's audio runs from the first loud frame of the run that started it
through the last frame before the end was declared (so it includes the
trailing silence that ended it), plus any partial frame still buffered when
the turn is ended early with `force_end`. A turn reaching `max_turn_seconds`
is ended there, like a silence would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pcm


@dataclass
class VadEvent:
    kind: str            # "speech_start" | "speech_end"
    audio: bytes = b""   # for speech_end: the turn's audio (8 kHz PCM16)


@dataclass
class EnergyVad:
    rate: int = pcm.CLIENT_RATE
    frame_ms: int = 20
    threshold_dbfs: float = -40.0
    start_frames: int = 3
    end_frames: int = 30
    max_turn_seconds: float = 300.0   # a turn this long is ended (speech_end)

    in_speech: bool = False
    _pending: bytearray = field(default_factory=bytearray)   # partial frame
    _onset: list = field(default_factory=list)               # loud run before start
    _turn: bytearray = field(default_factory=bytearray)
    _quiet: int = 0

    @property
    def frame_bytes(self) -> int:
        return self.rate * self.frame_ms // 1000 * pcm.BYTES_PER_SAMPLE

    def feed(self, data: bytes) -> list[VadEvent]:
        """Process audio; return the speech_start/speech_end events it caused."""
        events: list[VadEvent] = []
        self._pending += data
        size = self.frame_bytes
        while len(self._pending) >= size:
            frame = bytes(self._pending[:size])
            del self._pending[:size]
            event = self._frame(frame)
            if event is not None:
                events.append(event)
        return events

    def _frame(self, frame: bytes) -> VadEvent | None:
        loud = pcm.rms_dbfs(frame) >= self.threshold_dbfs
        if not self.in_speech:
            if not loud:
                self._onset.clear()
                return None
            self._onset.append(frame)
            if len(self._onset) < self.start_frames:
                return None
            self.in_speech = True
            self._quiet = 0
            self._turn = bytearray(b"".join(self._onset))
            self._onset.clear()
            return VadEvent("speech_start")
        self._turn += frame
        self._quiet = 0 if loud else self._quiet + 1
        if (self._quiet >= self.end_frames or len(self._turn)
                >= self.max_turn_seconds * self.rate * pcm.BYTES_PER_SAMPLE):
            return self._finish()
        return None

    @property
    def turn_audio(self) -> bytearray:
        """The turn's audio so far (grows until the turn ends; read, never change)."""
        return self._turn

    def force_start(self) -> bool:
        """Start a turn now (client vad_start hint). False if already in speech."""
        if self.in_speech:
            return False
        self.in_speech = True
        self._quiet = 0
        self._turn = bytearray(b"".join(self._onset))
        self._onset.clear()
        return True

    def reset(self) -> None:
        """Forget audio heard outside a turn (a speech onset, a partial frame)."""
        if not self.in_speech:
            self._onset.clear()
            self._pending.clear()

    def force_end(self) -> VadEvent | None:
        """End the current turn now (client vad_end, or audio stopped arriving)."""
        if not self.in_speech:
            return None
        self._turn += self._pending
        self._pending.clear()
        return self._finish()

    def _finish(self) -> VadEvent:
        audio = bytes(self._turn)
        self.in_speech = False
        self._quiet = 0
        self._turn = bytearray()
        self._onset.clear()
        return VadEvent("speech_end", audio)
