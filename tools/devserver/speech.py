# SPDX-License-Identifier: Apache-2.0
"""Text to 16 kHz PCM16 speech with espeak-ng (+ sox), cached per phrase.

Pipeline: `espeak-ng -v en --stdout --stdin` (text on stdin, so text starting
with '-' is never taken for an option) -> WAV -> `sox -t wav - -r 16000 -b 16
-e signed -c 1 -t raw -`. Without sox the WAV is parsed and resampled in
Python (linear interpolation). Without espeak-ng (or when it fails) the
synthesizer returns None and the caller falls back to a tone.
"""

from __future__ import annotations

import asyncio
import logging
import shutil

import pcm

log = logging.getLogger("devserver.speech")

_TIMEOUT = 30.0
_MAX_TEXT = 1000      # characters spoken per phrase; longer text is cut
_MAX_CACHE = 256      # cached phrases; the oldest is dropped beyond this


class Speech:
    def __init__(self, voice: str = "en") -> None:
        self.voice = voice
        self.espeak = shutil.which("espeak-ng")
        self.sox = shutil.which("sox")
        self._cache: dict[str, bytes | None] = {}
        self._pending: dict[str, asyncio.Task] = {}
        self._warned = False
        if not self.espeak:
            self._warn("espeak-ng not found: speech falls back to a tone")
        elif not self.sox:
            log.warning("sox not found: resampling espeak-ng output in Python")

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message)

    @property
    def available(self) -> bool:
        return self.espeak is not None

    async def synthesize(self, text: str) -> bytes | None:
        """16 kHz mono PCM16LE for `text`, or None when speech is unavailable."""
        text = " ".join(text.split())[:_MAX_TEXT]
        if not text or not self.espeak:
            return None
        if text in self._cache:
            return self._cache[text]
        task = self._pending.get(text)
        if task is None:
            # A task of its own, so a caller cancelled mid-way (barge-in, socket
            # closed) neither aborts nor wedges synthesis for later callers.
            task = asyncio.ensure_future(self._produce(text))
            self._pending[text] = task
        return await asyncio.shield(task)

    async def _produce(self, text: str) -> bytes | None:
        try:
            audio = await self._run(text)
        except Exception as exc:  # synthesis failure must not kill a session
            self._warn(f"speech synthesis failed ({exc}); falling back to a tone")
            audio = None
        if len(self._cache) >= _MAX_CACHE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[text] = audio
        self._pending.pop(text, None)
        return audio

    async def _run(self, text: str) -> bytes:
        wav = await _pipe([self.espeak, "-v", self.voice, "--stdout", "--stdin"],
                          text.encode("utf-8"))
        if self.sox:
            raw = await _pipe([self.sox, "-q", "-t", "wav", "-", "-r",
                               str(pcm.SERVER_RATE), "-b", "16", "-e", "signed",
                               "-c", "1", "-t", "raw", "-"], wav)
            return raw[:len(raw) - len(raw) % 2]
        data, rate, channels, bits = pcm.wav_to_pcm(wav)
        if bits != 16:
            raise ValueError(f"espeak-ng produced {bits}-bit audio")
        data = pcm.downmix_to_mono(data, channels)
        return pcm.resample_linear(data, rate, pcm.SERVER_RATE)


async def _pipe(argv: list[str], stdin: bytes) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), _TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{argv[0]} timed out") from None
    if proc.returncode != 0:
        detail = err.decode("utf-8", "replace").strip()[:200]
        raise RuntimeError(f"{argv[0]} exited with {proc.returncode}: {detail}")
    if not out:
        raise RuntimeError(f"{argv[0]} produced no output")
    return out
