# SPDX-License-Identifier: Apache-2.0
"""Assistant turns on the wire: queued one after another, each sent as its parts become
ready (agents.Part: text, audio, data, an error), audio in `--audio-chunk-ms` chunks paced
at `--audio-speed` across the whole turn (a mixin of session.Session).

A turn's `turn.start{assistant}` goes out with its first part, so a webhook that fails
before saying anything leaves no empty turn behind. When the reply answers a user turn,
the time from the end of that turn to the first agent audio sent is logged
(`turn_latency`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import pcm
from agents import NO_DATA, Part, Reply, StreamedReply
from turns import AssistantTurn


async def ready(reply: StreamedReply) -> StreamedReply:
    """A reply that is there already, as `_queue_reply` takes it."""
    return reply


@dataclass
class AfterUser:
    """The user turn a reply answers: its id, when it ended, what ended it."""
    turn_id: str
    ended_at: float                  # time.monotonic()
    trigger: str                     # "vad" | "ptt" | "text"


class SessionPlayback:
    def _queue_reply(self, produce: Callable[[], Awaitable[Reply | StreamedReply]],
                     after: AfterUser | None = None) -> None:
        """Play a reply after any assistant turn still playing."""
        prev = self._assistant[-1].task if self._assistant else None
        turn = AssistantTurn()
        self._assistant.append(turn)
        turn.task = self._spawn(self._play(turn, prev, produce, after), "assistant turn")
        turn.task.add_done_callback(lambda _t: self._assistant.remove(turn))

    async def _play(self, turn: AssistantTurn, prev: asyncio.Task | None,
                    produce: Callable[[], Awaitable[Reply | StreamedReply]],
                    after: AfterUser | None) -> None:
        if prev is not None and not prev.done():
            await asyncio.wait([prev])
        if turn.interrupted:
            return
        reply = await produce()
        if turn.interrupted:
            return
        stream = reply if isinstance(reply, StreamedReply) else StreamedReply(reply)
        turn.reply = stream
        pace = _Pace()
        tid = None
        async with contextlib.aclosing(stream.parts(turn)) as parts:
            async for part in parts:
                if turn.interrupted:
                    return
                if part.error is not None:
                    await self.send({"type": "error", "error": part.error,
                                     **({"turn_id": tid} if tid else {})})
                    continue
                if tid is None:
                    turn.turn_id = tid = stream.turn_id or self._next_turn_id()
                    if not await self.send(self._turn_start("assistant", tid)):
                        return
                if part.text is not None:
                    await self.send({"type": "response.text", "content": part.text,
                                     "turn_id": tid})
                if part.data is not NO_DATA:
                    await self.send({"type": "response.data", "content": part.data,
                                     "turn_id": tid})
                if part.audio and not await self._send_audio(turn, tid, part, pace, after):
                    return
        if tid is None or turn.interrupted:
            return
        down = self.downlink
        if down is not None and down.active and down.turn_id == tid:
            # The last packet, padded (doc/opus-profile.md section 4).
            if not await self.send_opus(down.end_turn, audio_bytes=None,
                                        guard=turn.may_send_audio):
                return
        if not turn.interrupted and await self.send({"type": "response.end",
                                                     "turn_id": tid}):
            if not turn.interrupted:
                self._playing.sent(turn)

    async def _send_audio(self, turn: AssistantTurn, tid: str, part: Part,
                          pace: "_Pace", after: AfterUser | None) -> bool:
        """One part's audio, chunked and paced; False once nothing more may be sent.
        Sets `part.play_start`: when the client starts playing it, by a model of its
        playout (real time, from when the chunk arrives or the audio before it ends)."""
        speed = self.opts.audio_speed
        down = self.downlink
        if down is not None and not (down.active and down.turn_id == tid):
            down.begin_turn(tid)
        for chunk in pcm.chunks(part.audio, self.opts.audio_chunk_ms):
            if pace.start is None:
                pace.start = time.monotonic()
            elif speed > 0 and not turn.interrupted:
                delay = pace.start + pace.played / speed - time.monotonic()
                if delay > 0:
                    try:
                        await asyncio.wait_for(turn.stop.wait(), delay)
                    except asyncio.TimeoutError:
                        pass
            pace.n += 1
            delta_id = f"{tid}-d{pace.n}"
            if down is not None:
                sent = await self.send_opus(
                    lambda: down.add(tid, delta_id, chunk), audio_bytes=len(chunk),
                    guard=turn.may_send_audio)
            else:
                sent = await self.send(
                    {"type": "response.audio", "content": pcm.encode_audio(chunk),
                     "turn_id": tid, "delta_id": delta_id},
                    audio_bytes=len(chunk), guard=turn.may_send_audio)
            if not sent:
                return False
            self.elog.audio(self.id, "agent", chunk, pcm.SERVER_RATE)
            start = max(time.monotonic(), turn.play_clock)
            turn.play_clock = start + pcm.duration_seconds(chunk, pcm.SERVER_RATE)
            if part.play_start is None:
                part.play_start = start
            if turn.first_audio_at is None:
                turn.first_audio_at = time.monotonic()
                if after is not None:
                    if self.bridge is not None:
                        self.bridge.turn_latency((turn.first_audio_at - after.ended_at)
                                                 * 1000)
                    self.elog.write(self.id, "turn_latency", turn_id=after.turn_id,
                                    assistant_turn_id=tid, trigger=after.trigger,
                                    ms=round((turn.first_audio_at - after.ended_at)
                                             * 1000, 1))
            self._sent_deltas.add(delta_id)
            turn.last_delta = delta_id
            pace.played += pcm.duration_seconds(chunk, pcm.SERVER_RATE)
            turn.audio_seconds = pace.played
        return True


@dataclass
class _Pace:
    start: float | None = None       # when the turn's first chunk went out
    played: float = 0.0              # seconds of audio sent so far
    n: int = 0                       # chunks sent (delta ids)
