# SPDX-License-Identifier: Apache-2.0
"""The webhook bridge of one session: the devserver acting as Layercode toward a customer's
backend (doc/protocol.md section 4; tools/devserver/README.md, "The webhook bridge").

- The user's speech is recognised while it arrives (asr.py); the final text goes to the
  webhook as a `message` (typed `client.response.text` skips recognition).
- The reply's `response.tts` text is spoken (espeak-ng) a sentence at a time as soon as
  each sentence is complete, each sentence also sent as `response.text`; `response.data`
  is relayed; `response.end` ends the turn.
- A barge-in cancels the reply at once: the request is cut, and the next `message` says
  what of the interrupted turn the user heard (`interruption_context`).
- `session.start` asks for the greeting, `data` relays `client.response.data`,
  `session.end` reports the transcript and durations (no `session.update`: the
  devserver keeps no recording to report).
- A failing webhook ends the turn with a log line and an `error` message to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import re
import time

import pcm
from agents import Agents, Part, StreamedReply
from asr_streams import RecognitionError
from webhook import WebhookClient, WebhookError, WebhookTarget

log = logging.getLogger("devserver.bridge")

QUEUED_PARTS = 4             # sentences spoken ahead of the one being sent
MAX_SENTENCE_CHARS = 400     # a run of text without a sentence end is cut here
TRANSCRIPT_ENTRIES = 1000    # session.end keeps the latest this many turns
MAX_DATA_IN_FLIGHT = 4       # data requests of one session at a time

_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+|\n+")
_ENDS_SENTENCE = re.compile(r"[.!?][\"')\]]*$")


class SentenceChunker:
    """Streamed text in, whole sentences out. The texts of a reply's `response.tts` events
    are one stream (token deltas carry their own spaces); a sentence ends at . ! ? followed
    by whitespace, or at a line break, or where one event ends a sentence and the next
    starts with a capital letter ("It is sunny." then "Anything else?")."""

    def __init__(self) -> None:
        self._buf = ""

    def add(self, text: str) -> list[str]:
        if text[:1].isupper() and _ENDS_SENTENCE.search(self._buf):
            self._buf += " "
        self._buf += text
        out = []
        while True:
            m = _SENTENCE_END.search(self._buf)
            if m is None:
                break
            out.append(self._buf[:m.end()])
            self._buf = self._buf[m.end():]
        while len(self._buf) > MAX_SENTENCE_CHARS:
            cut = self._buf.rfind(" ", 0, MAX_SENTENCE_CHARS) + 1 or MAX_SENTENCE_CHARS
            out.append(self._buf[:cut])
            self._buf = self._buf[cut:]
        return [s.strip() for s in out if s.strip()]

    def flush(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []


class WebhookReply(StreamedReply):
    """One webhook request (session.start or message) as an assistant turn. The request's
    body is made when the turn's parts are first asked for, that is once the turns before
    it are over: so it carries their interruption_context, and a reply that never got to
    speak (a second barge-in first) never posts."""

    def __init__(self, bridge: "Bridge", kind: str, fields: dict) -> None:
        super().__init__()
        self.bridge = bridge
        self.kind = kind
        self.fields = fields
        self.turn_id = fields["turn_id"]
        self.requested = False           # the backend has seen this turn's request
        self.complete = False            # ... and its whole reply came
        self.spoken: list[Part] = []     # the parts with speech, in order
        self.text: list[str] = []
        self.noted: dict | None = None   # its entry in the session's transcript

    async def parts(self, turn):
        queue: asyncio.Queue = asyncio.Queue(QUEUED_PARTS)
        producer = asyncio.ensure_future(self._produce(queue))
        stop = asyncio.ensure_future(turn.stop.wait())
        get = None
        try:
            while True:
                get = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({get, stop},
                                             return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    break
                part, get = get.result(), None
                if part is None:
                    break
                if part.text is not None:
                    self.spoken.append(part)
                yield part
        finally:
            for task in (get, stop, producer):
                if task is not None:
                    task.cancel()
            await asyncio.gather(producer, return_exceptions=True)
            self.bridge.turn_over(self, turn)

    async def _produce(self, queue: asyncio.Queue) -> None:
        """Posts the request and turns its events into parts; ends with None (on
        cancellation nothing: the consumer is gone)."""
        b = self.bridge
        body = b.request_body(self)
        self.requested = True
        chunker = SentenceChunker()
        try:
            async with contextlib.aclosing(
                    b.client.events(b.session.id, b.target, body)) as events:
                async for ev in events:
                    kind = ev["type"]
                    if kind == "response.tts":
                        content = ev.get("content")
                        if not isinstance(content, str):
                            raise WebhookError("response.tts without string content")
                        for sentence in chunker.add(content):
                            await queue.put(await self._speak(sentence))
                    elif kind == "response.data":
                        await queue.put(Part(data=ev.get("content")))
                    elif kind == "response.end":
                        break
                    else:
                        log.warning("[%s] webhook event %r ignored", b.session.id, kind)
            self.complete = True
            for sentence in chunker.flush():
                await queue.put(await self._speak(sentence))
        except WebhookError as exc:
            await queue.put(Part(error=f"webhook {self.kind}: {exc}"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:        # never a hung turn, whatever went wrong here
            log.exception("[%s] webhook reply failed", b.session.id)
            await queue.put(Part(error=f"webhook {self.kind}: internal error {exc!r}"))
        await queue.put(None)

    async def _speak(self, sentence: str) -> Part:
        self.text.append(sentence)
        audio = await self.bridge.agents.speak(sentence)
        self.bridge.tts_seconds += pcm.duration_seconds(audio, pcm.SERVER_RATE)
        return Part(text=sentence, audio=audio)

    def heard(self) -> tuple[int, str]:
        """Words and text the user has heard so far: each part's audio plays on the client
        from `play_start` (session_play's model of the client's playout: in real time, a
        part after the one before it), the part playing cut in proportion."""
        now = time.monotonic()
        words: list[str] = []
        for part in self.spoken:
            if part.play_start is None or now <= part.play_start:
                break
            seconds = pcm.duration_seconds(part.audio, pcm.SERVER_RATE)
            sw = part.text.split()
            share = 1.0 if seconds <= 0 else min(1.0, (now - part.play_start) / seconds)
            words += sw[:int(len(sw) * share)]
            if share < 1.0:
                break
        return len(words), " ".join(words)


class Bridge:
    """The webhook side of one session (session.Session holds one when its agent has a
    webhook)."""

    def __init__(self, session, target: WebhookTarget, client: WebhookClient,
                 agents: Agents, recognizer, background) -> None:
        self.session = session
        self.target = target
        self.client = client
        self.agents = agents
        self.recognizer = recognizer
        self.background = background        # spawns a task that outlives the session
        self.started_at = time.time()
        self.tts_seconds = 0.0
        self.user_seconds = 0.0
        self.latencies: list[float] = []
        self.transcript: list[dict] = []
        self.interruption: dict | None = None
        self._stream = None                 # asr stream of the user turn in progress
        self._stream_turn: str | None = None
        self._fed = 0
        self._data_in_flight = 0

    # ---- requests ----------------------------------------------------------

    def _body(self, kind: str, **fields) -> dict:
        g = self.session.grant
        body = {"type": kind, "session_id": g.session_id,
                "conversation_id": g.conversation_id}
        if g.metadata:
            body["metadata"] = g.metadata
        body.update(fields)
        return body

    def greeting(self) -> WebhookReply | None:
        if not self.target.wants("session.start"):
            return None
        return WebhookReply(self, "session.start", {"turn_id": self.session._next_turn_id()})

    def message(self, text: str) -> WebhookReply:
        return WebhookReply(self, "message", {"text": text,
                                              "turn_id": self.session._next_turn_id()})

    def request_body(self, reply: WebhookReply) -> dict:
        """The body of `reply`'s request, made as it goes out: a message records the user's
        words and carries the interruption of the turn before, if the user cut one off."""
        fields = dict(reply.fields)
        if reply.kind == "message":
            if self.interruption is not None:
                fields["interruption_context"], self.interruption = self.interruption, None
            self._note("user", fields["text"])
        return self._body(reply.kind, **fields)

    async def data(self, data) -> None:
        """client.response.data: relayed to the webhook; its reply's data to the client.
        At most MAX_DATA_IN_FLIGHT at a time per session (more: an error to the client)."""
        if not self.target.wants("data"):
            return
        s = self.session
        if self._data_in_flight >= MAX_DATA_IN_FLIGHT:
            await s.send({"type": "error", "error": "webhook data: more than "
                          f"{MAX_DATA_IN_FLIGHT} data requests in flight; this one dropped"})
            return
        self._data_in_flight += 1
        turn_id = s._next_turn_id()
        try:
            async with contextlib.aclosing(self.client.events(
                    s.id, self.target, self._body("data", data=data,
                                                  turn_id=turn_id))) as events:
                async for ev in events:
                    if ev["type"] == "response.data":
                        await s.send({"type": "response.data",
                                      "content": ev.get("content"), "turn_id": turn_id})
                    elif ev["type"] == "response.end":
                        break
                    else:
                        log.warning("[%s] %s in a reply to data ignored (a data event "
                                    "does not speak)", s.id, ev["type"])
        except WebhookError as exc:
            await s.send({"type": "error", "error": f"webhook data: {exc}"})
        finally:
            self._data_in_flight -= 1

    def turn_over(self, reply: WebhookReply, turn) -> None:
        """An assistant turn's parts are done: record what it said, and if the user cut
        it off while its request was out, what the next message's interruption_context
        says (a reply that came whole and said nothing was cut off from nothing). A turn
        whose audio was all sent may still be cut off while the client plays it
        (`cut_while_playing`)."""
        if turn.interrupted and reply.requested and (reply.spoken or not reply.complete):
            self._interrupted(reply)
        elif reply.text:
            reply.noted = self._note("assistant", " ".join(reply.text))

    def cut_while_playing(self, reply: WebhookReply) -> None:
        """A barge-in while the client still played the turn (its request had ended)."""
        self._interrupted(reply)

    def _interrupted(self, reply: WebhookReply) -> None:
        words, heard = reply.heard()
        self.interruption = {"previous_turn_interrupted": True, "words_heard": words,
                             "text_heard": heard, "assistant_turn_id": reply.turn_id}
        if reply.noted is not None:                  # the transcript keeps what was heard
            if heard:
                reply.noted["text"] = heard
            elif reply.noted in self.transcript:
                self.transcript.remove(reply.noted)
        elif heard:
            reply.noted = self._note("assistant", heard)

    def turn_latency(self, ms: float) -> None:
        """End of a user turn to the first audio of its answer (the latest
        TRANSCRIPT_ENTRIES, for session.end's median)."""
        self.latencies.append(ms)
        del self.latencies[:-TRANSCRIPT_ENTRIES]

    def _note(self, role: str, text: str) -> dict:
        entry = {"role": role, "text": text, "timestamp": time.time()}
        self.transcript.append(entry)
        del self.transcript[:-TRANSCRIPT_ENTRIES]
        return entry

    # ---- recognition -------------------------------------------------------

    def hear(self, turn_id: str, audio) -> None:
        """The user turn `turn_id` has `audio` so far (8 kHz PCM16; it only grows):
        the recogniser gets what it has not had yet."""
        if self.recognizer is None or not self.recognizer.available:
            return
        if self._stream_turn != turn_id:
            self._drop_stream()
            self._stream_turn, self._fed = turn_id, 0
            self._stream = self.recognizer.stream(
                lambda text, t=turn_id: self._partial(t, text))
        if len(audio) > self._fed:
            self._stream.feed(bytes(audio[self._fed:]))
            self._fed = len(audio)

    def _partial(self, turn_id: str, text: str) -> None:
        s = self.session
        if not text or self._stream_turn != turn_id:
            return
        s._spawn(s.send({"type": "user.transcript.interim_delta", "content": text,
                         "turn_id": turn_id, "delta_counter": 0},
                        guard=lambda: self._stream_turn == turn_id),
                 "interim transcript")

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        self._stream, self._stream_turn = None, None

    async def transcribe(self, turn_id: str, audio: bytes) -> str | None:
        """The final text of a finished user turn ("[n.n s of audio]" without a
        recogniser: a label, logged as such, never a transcript); None if recognition
        failed (the client is told)."""
        seconds = pcm.duration_seconds(audio, pcm.CLIENT_RATE)
        self.user_seconds += seconds
        if self.recognizer is None or not self.recognizer.available:
            text = f"[{seconds:.1f} s of audio]"
            self.session.elog.write(self.session.id, "asr", turn_id=turn_id, text=text,
                                    engine="none", ms=0.0, audio_seconds=seconds)
            return text
        self.hear(turn_id, audio)
        stream = self._stream
        self._stream, self._stream_turn = None, None   # no interim after this point
        began = time.monotonic()
        try:
            text = await stream.finish()
        except asyncio.CancelledError:
            stream.cancel()
            raise
        except RecognitionError as exc:
            log.warning("[%s] speech recognition failed: %s", self.session.id, exc)
            self.session.elog.write(self.session.id, "error",
                                    error=f"speech recognition failed: {exc}", internal=True)
            await self.session.send({"type": "error", "turn_id": turn_id,
                                     "error": f"speech recognition failed: {exc}"})
            return None
        ms = round((time.monotonic() - began) * 1000, 1)
        self.session.elog.write(self.session.id, "asr", turn_id=turn_id, text=text,
                                engine=self.recognizer.engine, ms=ms,
                                audio_seconds=seconds)
        log.info("[%s] heard %r (%.1f s of audio, recognised in %.0f ms)",
                 self.session.id, text, seconds, ms)
        return text

    # ---- the end -----------------------------------------------------------

    def close(self, remote: str | None) -> None:
        """The socket closed: session.end goes out in the background,
        so a slow backend never holds the session open."""
        self._drop_stream()
        ended = time.time()
        lat = sorted(self.latencies)
        end = self._body(
            "session.end", agent_id=self.session.grant.agent_id,
            started_at=_iso(self.started_at), ended_at=_iso(ended),
            duration=round((ended - self.started_at) * 1000),
            transcription_duration_seconds=round(self.user_seconds, 3),
            tts_duration_seconds=round(self.tts_seconds, 3),
            latency=round(lat[len(lat) // 2], 1) if lat else None,
            ip_address=remote, country_code=None, recording_status="disabled",
            transcript=list(self.transcript))
        if self.target.wants("session.end"):
            self.background(self._post(end), "webhook session.end")

    async def _post(self, body: dict) -> None:
        try:
            await self.client.post(self.session.id, self.target, body)
        except WebhookError:
            pass                # logged by the client


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
