# SPDX-License-Identifier: Apache-2.0
"""The dev server's agents: what the assistant says and plays for each turn.

- echo: plays back the user's turn audio (8 kHz upsampled to 16 kHz by linear
  interpolation, see pcm.upsample_2x), preceded by "You said N.N seconds of
  audio"; a typed message is answered with the speech of "You said: <text>".
- tone: a sine at --tone-hz for --tone-seconds (also its greeting audio).
- say:  speaks metadata.say_text (or DEFAULT_SAY_TEXT); a typed message is
  spoken back as is.
Speech comes from espeak-ng (speech.py); when it is unavailable the tone is
played instead. With --speech-repeat N, speech (greeting, say, echo's text replies) is
played N times in a row (1..MAX_SPEECH_REPEAT): minutes of agent speech.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator

import pcm
from speech import Speech

DEFAULT_SAY_TEXT = ("This is the Layercode development server speaking. "
                    "The quick brown fox jumps over the lazy dog.")
MAX_SPEECH_REPEAT = 20    # --speech-repeat N: 1..20 copies of each phrase


@dataclass
class Reply:
    text: str | None
    audio: bytes          # 16 kHz mono PCM16LE


NO_DATA = object()


@dataclass
class Part:
    """A piece of an assistant turn as it becomes ready: each is sent in order."""
    text: str | None = None          # response.text
    audio: bytes = b""               # response.audio chunks (16 kHz PCM16LE)
    data: object = NO_DATA           # response.data content
    error: str | None = None         # an error message for the client (the turn ends)
    play_start: float | None = None  # set when sent: when the client starts playing it


class StreamedReply:
    """An assistant turn whose parts arrive over time (the webhook bridge). `turn_id`,
    when set, is the id the turn must carry (the webhook's); `parts(turn)` stops when the
    turn is interrupted (turns.AssistantTurn.stop)."""
    turn_id: str | None = None

    def __init__(self, reply: Reply | None = None) -> None:
        self._reply = reply

    async def parts(self, turn) -> AsyncIterator[Part]:
        if self._reply is not None:
            yield Part(text=self._reply.text, audio=self._reply.audio)


class Agents:
    def __init__(self, opts, speech: Speech) -> None:
        self.opts = opts
        self.speech = speech
        self._tone: bytes | None = None

    def tone(self) -> bytes:
        if self._tone is None:
            self._tone = pcm.tone(self.opts.tone_hz, self.opts.tone_seconds,
                                  pcm.SERVER_RATE, 0.5)
        return self._tone

    def tone_text(self) -> str:
        return f"Here is a {self.opts.tone_hz:g} Hz tone."

    async def speak(self, text: str) -> bytes:
        audio = await self.speech.synthesize(text)
        audio = audio if audio is not None else self.tone()
        return audio * self.opts.speech_repeat

    async def greeting(self, agent: str, text: str) -> Reply:
        audio = self.tone() if agent == "tone" else await self.speak(text)
        return Reply(text, audio)

    async def answer_audio(self, agent: str, audio_8k: bytes,
                           say_text: str | None) -> Reply:
        """Reply to a spoken user turn (audio at 8 kHz)."""
        if agent == "echo":
            seconds = pcm.duration_seconds(audio_8k, pcm.CLIENT_RATE)
            return Reply(f"You said {seconds:.1f} seconds of audio",
                         pcm.upsample_2x(audio_8k))
        if agent == "tone":
            return Reply(self.tone_text(), self.tone())
        text = say_text or DEFAULT_SAY_TEXT
        return Reply(text, await self.speak(text))

    async def answer_text(self, agent: str, content: str) -> Reply:
        """Reply to a typed user message (client.response.text)."""
        if agent == "echo":
            text = f"You said: {content}"
            return Reply(text, await self.speak(text))
        if agent == "tone":
            return Reply(self.tone_text(), self.tone())
        return Reply(content, await self.speak(content))
