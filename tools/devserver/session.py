# SPDX-License-Identifier: Apache-2.0
"""One WebSocket session: the Layercode frontend protocol (doc/protocol.md section 2).

Client input is never trusted: a malformed frame or message is logged as a
protocol `error` and the session carries on; an unexpected failure inside the
server logs a traceback and closes only this session (code 1011).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from aiohttp import WSMsgType, web

import opus
import pcm
from agents import Agents, StreamedReply
from authorize import Grant
from eventlog import EventLog
from faultinject import Fault
from opuslink import Downlink, OpusSocket, Uplink
from session_faults import SessionFaults
from session_play import AfterUser, SessionPlayback, ready
from turns import AssistantTurn, Playout
from vad import EnergyVad, VadEvent
from webhook_agent import Bridge, WebhookReply

log = logging.getLogger("devserver.session")

# Automatic mode: a VAD turn is ended when no client audio at all arrives for this long
# after the client's VAD said vad_end (a client that gates its audio stops sending when
# it goes quiet; a vad_start within it continues the turn) ...
AUDIO_IDLE_END_SECONDS = 0.8
# ... or for this long without a vad_end (a client that stalls mid-sentence, or sends no
# vad_events at all).
AUDIO_STALL_END_SECONDS = 3.0
# Longest user turn kept (push-to-talk); later audio of the turn is dropped.
MAX_TURN_SECONDS = 300
MAX_TURN_BYTES = MAX_TURN_SECONDS * pcm.CLIENT_RATE * pcm.BYTES_PER_SAMPLE


def _strict_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class ProtocolError(Exception):
    """Bad client input: logged, the session continues."""


@dataclass
class UserTurn:
    turn_id: str
    source: str                      # "ptt" | "vad"
    audio: bytearray = field(default_factory=bytearray)
    overflow: bool = False


@dataclass
class Counters:
    messages_in: int = 0
    messages_out: int = 0
    audio_frames_in: int = 0
    audio_bytes_in: int = 0
    audio_chunks_out: int = 0
    audio_bytes_out: int = 0
    errors: int = 0
    replay_finished: int = 0
    replay_timeouts: int = 0
    interruptions: int = 0
    vad_hints: int = 0
    audio_frames_unheard: int = 0    # arrived while the assistant held the turn
    wire_bytes_in: int = 0           # message payloads received (text and binary)
    wire_bytes_out: int = 0          # message payloads sent


class Session(SessionFaults, SessionPlayback):
    def __init__(self, grant: Grant, ws: web.WebSocketResponse, *, opts,
                 eventlog: EventLog, agents: Agents, path: str, remote: str | None,
                 transport: asyncio.BaseTransport | None = None,
                 fault: Fault | None = None,
                 packet_faults: list[Fault] | None = None,
                 bridge: Callable[["Session"], "Bridge | None"] | None = None) -> None:
        self.grant = grant
        self.id = grant.session_id
        self.ws = ws
        self.opts = opts
        self.elog = eventlog
        self.agents = agents
        self.path = path
        self.remote = remote
        self.counts = Counters()
        self.ready = False
        self.vad = EnergyVad()
        self._send_lock = asyncio.Lock()
        self._assistant: list[AssistantTurn] = []     # queued or sending
        self._playing = Playout(opts.replay_timeout, self._replay_timed_out)
        self._user: UserTurn | None = None
        self._sent_deltas: set[str] = set()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._client_vad_quiet = False   # the client's last VAD hint was vad_end
        self._tasks: set[asyncio.Task] = set()
        self._closed_by: str | None = None
        self._close_code: int | None = None      # the code we sent, if we closed
        self._fatal = False
        self._close_reason: str | None = None
        self._started = time.monotonic()
        # Fault injection (faults.py): the socket's fault, whether it has fired, and
        # whether it finished the socket (nothing more is sent then).
        self.transport = transport
        self.fault = fault
        self._fault_fired = False
        self._fault_dead = False
        self._dropped = False
        # The Opus profile (doc/opus-profile.md), when this socket's key negotiated it.
        self.opus: OpusSocket | None = None
        self.uplink: Uplink | None = None
        self.downlink: Downlink | None = None
        if grant.codec == "opus":
            self.opus = OpusSocket(packet_faults or [], self._on_inject)
            self.uplink, self.downlink = self.opus.uplink, self.opus.downlink
            for f in packet_faults or []:
                self.elog.write(self.id, "fault", stage="packets", **f.describe())
        # The webhook bridge (webhook_agent.py), when this agent has a webhook.
        self.bridge: Bridge | None = bridge(self) if bridge is not None else None

    # ---- plumbing --------------------------------------------------------

    @property
    def automatic(self) -> bool:
        return self.grant.turn_mode == "automatic"

    def _next_turn_id(self) -> str:
        """Opaque and unique across sockets and conversations, as the cloud's are."""
        return str(uuid.uuid4())

    def _turn_start(self, role: str, turn_id: str) -> dict:
        msg = {"type": "turn.start", "role": role, "turn_id": turn_id}
        if self.grant.omit_turn_id:
            del msg["turn_id"]          # the cloud may omit it (doc/protocol.md section 5)
        return msg

    def _assistant_holds_turn(self) -> bool:
        """An assistant turn is queued, sending, or playing on the client."""
        return bool(self._playing) or any(not t.interrupted for t in self._assistant)

    def _spawn(self, coro: Awaitable, what: str) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                self._internal_error(what, exc)

        task.add_done_callback(done)
        return task

    def _internal_error(self, what: str, exc: BaseException) -> None:
        log.error("[%s] internal error in %s: %r", self.id, what, exc,
                  exc_info=(type(exc), exc, exc.__traceback__))
        self.elog.write(self.id, "error", error=f"internal server error in {what}: "
                                                f"{exc!r}", internal=True)
        self._fatal = True
        if not self.ws.closed:
            asyncio.ensure_future(self.close(1011, "internal server error"))

    def protocol_error(self, message: str, **fields) -> None:
        self.counts.errors += 1
        log.warning("[%s] protocol error: %s", self.id, message)
        self.elog.write(self.id, "error", error=message, **fields)

    async def send(self, msg: dict, *, audio_bytes: int | None = None,
                   guard: Callable[[], bool] | None = None) -> bool:
        """Send one JSON message. `guard` runs under the send lock and may veto
        the send (used to stop an interrupted turn's audio at once)."""
        data = json.dumps(msg, separators=(",", ":"), allow_nan=False)
        async with self._send_lock:
            if guard is not None and not guard():
                return False
            if self.ws.closed or self._fault_dead:
                return False
            try:
                await self.ws.send_str(data)
            except (ConnectionError, RuntimeError) as exc:
                log.info("[%s] send failed, peer gone: %r", self.id, exc)
                return False
            self.counts.messages_out += 1
            self.counts.wire_bytes_out += len(data)     # ASCII: json.dumps escapes
            if audio_bytes is not None:
                self.counts.audio_chunks_out += 1
                self.counts.audio_bytes_out += audio_bytes
            self.elog.message(self.id, "send", msg, precomputed_bytes=audio_bytes)
            if (audio_bytes is not None and self._fault_due("audio")
                    and self.counts.audio_chunks_out >= self.fault["after_chunks"]):
                self._fire_fault()
        return True

    async def send_opus(self, produce: Callable[[], list], *, audio_bytes: int | None,
                        guard: Callable[[], bool]) -> bool:
        """One response.audio chunk on an Opus socket: the marks (JSON) and packets
        (binary) it completes, sent together under one guard check (so
        --late-audio-chunks counts chunks, as on PCM). `produce` cuts them only once the
        guard passed: a vetoed chunk spends no sequence numbers."""
        async with self._send_lock:
            if not guard() or self.ws.closed or self._fault_dead:
                return False
            try:
                for item in produce():
                    if isinstance(item, dict):
                        data = json.dumps(item, separators=(",", ":"))
                        await self.ws.send_str(data)
                        self.counts.messages_out += 1
                        self.elog.message(self.id, "send", item)
                    else:
                        data = item
                        await self.ws.send_bytes(item)
                    self.counts.wire_bytes_out += len(data)
            except (ConnectionError, RuntimeError) as exc:
                log.info("[%s] send failed, peer gone: %r", self.id, exc)
                return False
            if audio_bytes is None:         # a turn's padded tail: no chunk of its own
                return True
            self.counts.audio_chunks_out += 1
            self.counts.audio_bytes_out += audio_bytes
            if self._fault_due("audio") and \
                    self.counts.audio_chunks_out >= self.fault["after_chunks"]:
                self._fire_fault()
        return True

    def _on_inject(self, action: str, sequence: int) -> None:
        self.elog.write(self.id, "opus_inject", action=action, sequence=sequence)

    async def _on_packet(self, data: bytes) -> None:
        """A binary uplink packet: decoded (concealing gaps) into 8 kHz PCM."""
        try:
            audio = self.uplink.feed(data)
        except opus.PacketError as exc:
            self.protocol_error(f"binary message: {exc}")
            return
        if audio:
            await self._on_pcm(audio)

    async def close(self, code: int, reason: str) -> None:
        """Server-initiated close (the first caller's code and reason are logged)."""
        if self._closed_by is None:
            self._closed_by = "server"
            self._close_reason = reason
            self._close_code = code
        if not self.ws.closed and not self._dropped:
            await self.ws.close(code=code, message=reason.encode("utf-8")[:120])

    # ---- main loop -------------------------------------------------------

    async def run(self) -> None:
        g = self.grant
        self.elog.write(self.id, "ws_open", path=self.path, remote=self.remote,
                        agent="webhook" if self.bridge is not None else g.agent,
                        webhook=self.bridge.target.url if self.bridge is not None else None, agent_id=g.agent_id, turn_mode=g.turn_mode,
                        can_interrupt=g.can_interrupt,
                        conversation_id=g.conversation_id, codec=g.codec)
        log.info("[%s] open: agent=%s mode=%s can_interrupt=%s conversation=%s",
                 self.id, "webhook" if self.bridge is not None else g.agent, g.turn_mode, g.can_interrupt, g.conversation_id)
        limit = None
        if self.opts.session_max_seconds > 0:
            limit = asyncio.get_running_loop().call_later(
                self.opts.session_max_seconds, self._duration_limit)
        if self._fault_due("open"):
            self._fire_fault()
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    self.counts.wire_bytes_in += len(msg.data.encode("utf-8", "replace"))
                    await self._on_text(msg.data)
                elif msg.type == WSMsgType.PING:
                    # Only without autoping (fault ignore_pings): answer until it fires.
                    if not self._fault_fired:
                        await self.ws.pong(msg.data)
                elif msg.type == WSMsgType.BINARY and self.uplink is not None:
                    self.counts.wire_bytes_in += len(msg.data)
                    await self._on_packet(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.counts.wire_bytes_in += len(msg.data)
                    self.protocol_error(
                        f"binary frame of {len(msg.data)} bytes (all frames must "
                        "be JSON text)")
                elif msg.type == WSMsgType.ERROR:
                    # e.g. a message over max_msg_size: aiohttp drops the link.
                    exc = self.ws.exception()
                    self.protocol_error(f"websocket error: {exc!r}")
                    if self._closed_by is None:
                        self._closed_by = "server"
                        self._close_reason = str(exc)
                        code = getattr(exc, "code", None)
                        self._close_code = int(code) if code else self.ws.close_code
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._internal_error("message handling", exc)
        finally:
            if limit is not None:
                limit.cancel()
            await self._shutdown()

    def _duration_limit(self) -> None:
        log.info("[%s] session duration limit reached", self.id)
        asyncio.ensure_future(self.close(1000, "session duration limit reached"))

    async def _shutdown(self) -> None:
        self._cancel_idle_timer()
        for turn in self._assistant:
            turn.interrupt(0)
        self._playing.interrupt()
        if not self.ws.closed and not self._dropped:
            if self._fatal:
                await self.close(1011, "internal server error")
            else:
                await self.close(1000, "session ended")
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.bridge is not None:
            self.bridge.close(self.remote)
        if self._closed_by is None:
            self._closed_by = "client"
        code = self._close_code if self._close_code is not None else self.ws.close_code
        c = self.counts
        self.elog.write(
            self.id, "ws_close", code=code, closed_by=self._closed_by,
            reason=self._close_reason,
            duration=round(time.monotonic() - self._started, 3),
            audio_frames_in=c.audio_frames_in, audio_bytes_in=c.audio_bytes_in,
            messages_in=c.messages_in, messages_out=c.messages_out,
            audio_chunks_out=c.audio_chunks_out, audio_bytes_out=c.audio_bytes_out,
            errors=c.errors, replay_finished=c.replay_finished,
            replay_timeouts=c.replay_timeouts, interruptions=c.interruptions,
            vad_hints=c.vad_hints, audio_frames_unheard=c.audio_frames_unheard,
            wire_bytes_in=c.wire_bytes_in, wire_bytes_out=c.wire_bytes_out,
            **(self.opus.counters() if self.opus is not None else {}))
        log.info("[%s] closed (code %s, by %s): %d audio frames / %d bytes in, "
                 "%d errors", self.id, code, self._closed_by,
                 c.audio_frames_in, c.audio_bytes_in, c.errors)

    async def _on_text(self, data: str) -> None:
        try:
            msg = json.loads(data, parse_constant=_strict_constant)
        except (ValueError, RecursionError) as exc:
            self.protocol_error(f"invalid JSON: {exc}", raw=data[:200])
            return
        if not isinstance(msg, dict):
            self.protocol_error("message is not a JSON object", raw=data[:200])
            return
        self.counts.messages_in += 1
        self.elog.message(self.id, "recv", msg)
        mtype = msg.get("type")
        if not isinstance(mtype, str):
            self.protocol_error("message has no string 'type'", raw=data[:200])
            return
        handler = _HANDLERS.get(mtype)
        if handler is None:
            self.protocol_error(f"unknown message type {mtype!r} ignored")
            return
        if not self.ready and mtype != "client.ready":
            self.protocol_error(f"{mtype} received before client.ready")
        try:
            await handler(self, msg)
        except ProtocolError as exc:
            self.protocol_error(f"{mtype}: {exc}")

    # ---- client messages -------------------------------------------------

    async def _on_ready(self, msg: dict) -> None:
        if self.ready:
            raise ProtocolError("duplicate client.ready ignored")
        self.ready = True
        if self._fault_due("ready"):
            self._fire_fault()
        if self.bridge is not None:
            reply = self.bridge.greeting()
            if reply is not None:
                self._queue_reply(lambda: ready(reply))
            return
        greeting = self.grant.greeting
        if greeting:
            agent = self.grant.agent
            self._queue_reply(lambda: self.agents.greeting(agent, greeting))

    async def _on_audio(self, msg: dict) -> None:
        if self.uplink is not None:
            raise ProtocolError("text client.audio on an Opus profile socket (audio "
                                "travels as binary packets)")
        try:
            audio = pcm.decode_client_audio(msg.get("content"))
        except pcm.AudioFormatError as exc:
            raise ProtocolError(str(exc)) from None
        await self._on_pcm(audio)

    async def _on_pcm(self, audio: bytes) -> None:
        """One frame of the user's 8 kHz audio (client.audio, or a decoded packet)."""
        self.counts.audio_frames_in += 1
        self.counts.audio_bytes_in += len(audio)
        self.elog.audio(self.id, "user", audio, pcm.CLIENT_RATE)
        if self._user is not None and self._user.source == "ptt":
            turn = self._user
            if len(turn.audio) + len(audio) > MAX_TURN_BYTES:
                if not turn.overflow:
                    turn.overflow = True
                    raise ProtocolError(f"user turn longer than {MAX_TURN_SECONDS} s; "
                                        "further audio of this turn is dropped")
                return
            turn.audio += audio
            if self.bridge is not None:
                self.bridge.hear(turn.turn_id, turn.audio)
            return
        if not self.automatic:
            return          # push-to-talk: audio outside a turn is dropped
        if (not self.grant.can_interrupt and not self.vad.in_speech
                and self._assistant_holds_turn()):
            # can_interrupt false: the user is not heard while the assistant holds the
            # turn (until replay_finished): no user turn starts, none is ended.
            self.counts.audio_frames_unheard += 1
            self.vad.reset()
            return
        for event in self.vad.feed(audio):
            await self._on_vad_event(event)
        if self.vad.in_speech:
            self._arm_idle_timer()
            if self.bridge is not None and self._user is not None:
                self.bridge.hear(self._user.turn_id, self.vad.turn_audio)

    async def _on_vad_events(self, msg: dict) -> None:
        """Client VAD events are hints, not turn boundaries (doc/protocol.md section 5): the
        server's own VAD, and the silence after a gating client stops sending, decide
        where a user turn starts and ends, so a short pause stays inside one turn."""
        event = msg.get("event")
        if event not in ("vad_start", "vad_end", "vad_model_failed"):
            raise ProtocolError(f"unknown vad event {event!r}")
        self.counts.vad_hints += 1
        # The one use of a hint: how long a pause in the audio may last inside a turn.
        self._client_vad_quiet = event == "vad_end"
        if self.vad.in_speech and self._user is not None and self._user.source == "vad":
            self._arm_idle_timer()

    async def _on_turn_start(self, msg: dict) -> None:
        role = msg.get("role", "user")
        if role != "user":
            raise ProtocolError(f"role must be 'user', got {role!r}")
        if self._user is not None:
            if self._user.source == "ptt":
                raise ProtocolError("turn already started; ignored")
            # A VAD turn in progress becomes the push-to-talk turn.
            self._cancel_idle_timer()
            end = self.vad.force_end()
            if end is not None:
                self._user.audio += end.audio
            self._user.source = "ptt"
            return
        self._interrupt()
        await self._begin_user_turn("ptt")

    async def _on_turn_end(self, msg: dict) -> None:
        role = msg.get("role", "user")
        if role != "user":
            raise ProtocolError(f"role must be 'user', got {role!r}")
        if self._user is None or self._user.source != "ptt":
            raise ProtocolError("no push-to-talk turn in progress; ignored")
        turn, self._user = self._user, None
        await self._end_user_turn(turn, bytes(turn.audio))

    async def _on_replay_finished(self, msg: dict) -> None:
        """Ends the assistant turn the client has finished playing (turns.Playout)."""
        self.counts.replay_finished += 1
        if self._fault_due("replay"):
            self._fire_fault()
        delta = msg.get("last_delta_id_played")
        if delta is not None and (not isinstance(delta, str)
                                  or delta not in self._sent_deltas):
            raise ProtocolError(f"last_delta_id_played {delta!r} was never sent")
        self._playing.replay_finished(msg.get("turn_id"), delta, self._assistant)

    async def _on_response_text(self, msg: dict) -> None:
        content = msg.get("content")
        if not isinstance(content, str):
            raise ProtocolError("content must be a string")
        if not content.strip():
            raise ProtocolError("empty content ignored")
        self._interrupt()
        ended = time.monotonic()
        turn_id = self._next_turn_id()
        await self.send({"type": "user.transcript", "content": content,
                         "turn_id": turn_id})
        after = AfterUser(turn_id, ended, "text")
        if self.bridge is not None:
            reply = self.bridge.message(content)
            self._queue_reply(lambda: ready(reply), after)
            return
        agent = self.grant.agent
        self._queue_reply(lambda: self.agents.answer_text(agent, content), after)

    async def _on_response_data(self, msg: dict) -> None:
        if "data" not in msg:
            raise ProtocolError("missing 'data'")
        if self.bridge is not None:
            self._spawn(self.bridge.data(msg["data"]), "webhook data")
            return
        await self.send({"type": "response.data", "content": {"echo": msg["data"]},
                         "turn_id": self._next_turn_id()})

    # ---- user turns ------------------------------------------------------

    async def _on_vad_event(self, event: VadEvent) -> None:
        if event.kind == "speech_start":
            if self.grant.can_interrupt:
                self._interrupt()
            await self._begin_user_turn("vad")
        elif self._user is not None and self._user.source == "vad":
            self._cancel_idle_timer()
            turn, self._user = self._user, None
            await self._end_user_turn(turn, event.audio)

    async def _begin_user_turn(self, source: str) -> None:
        self._user = UserTurn(self._next_turn_id(), source)
        await self.send(self._turn_start("user", self._user.turn_id))

    async def _end_user_turn(self, turn: UserTurn, audio: bytes) -> None:
        """Transcripts for a finished user turn, then the agent's reply.
        The caller has already detached `turn` from self._user."""
        after = AfterUser(turn.turn_id, time.monotonic(), turn.source)
        if self.bridge is not None:
            # Recognition and the webhook run in the reply's turn, so the socket's
            # messages keep being read meanwhile.
            self._queue_reply(lambda: self._bridge_answer(turn.turn_id, audio), after)
            return
        seconds = pcm.duration_seconds(audio, pcm.CLIENT_RATE)
        await self._send_transcripts(turn.turn_id, f"[{seconds:.1f} s of audio]")
        agent, say_text = self.grant.agent, self.grant.say_text
        self._queue_reply(lambda: self.agents.answer_audio(agent, audio, say_text), after)

    async def _send_transcripts(self, turn_id: str, text: str) -> None:
        for mtype in ("user.transcript.interim_delta", "user.transcript.delta"):
            await self.send({"type": mtype, "content": text, "turn_id": turn_id,
                             "delta_counter": 0})
        await self.send({"type": "user.transcript", "content": text,
                         "turn_id": turn_id})

    async def _bridge_answer(self, turn_id: str, audio: bytes) -> StreamedReply:
        """A finished user turn, bridged: its transcript, then the webhook's reply. Nothing
        recognised (a cough, a click) is no message, as no words are no turn."""
        text = await self.bridge.transcribe(turn_id, audio)
        if text is None:
            return StreamedReply()
        await self._send_transcripts(turn_id, text)
        if not text:
            log.info("[%s] nothing recognised in turn %s: no message", self.id, turn_id)
            return StreamedReply()
        return self.bridge.message(text)

    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        self._idle_timer = asyncio.get_running_loop().call_later(
            AUDIO_IDLE_END_SECONDS if self._client_vad_quiet else AUDIO_STALL_END_SECONDS,
            self._audio_idle)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _audio_idle(self) -> None:
        self._idle_timer = None
        event = self.vad.force_end()
        turn = self._user
        if event is None or turn is None or turn.source != "vad":
            return
        # Detach now, so audio handled before the task runs starts a new turn.
        self._user = None
        self._spawn(self._end_user_turn(turn, event.audio), "ending an idle VAD turn")

    # ---- assistant turns -------------------------------------------------

    def _interrupt(self) -> None:
        """Barge-in: stop all assistant audio now (synchronously, so no chunk
        of an interrupted turn is sent after the caller's next message). A turn whose
        audio is all sent but still playing on the client is interrupted too."""
        active = [t for t in self._assistant if not t.interrupted]
        playing = self._playing.interrupt()
        if not active and not playing:
            return
        self.counts.interruptions += 1
        for turn in active:
            turn.interrupt(self.opts.late_audio_chunks)
        if self.bridge is not None:
            for turn in playing:                 # all sent, still playing on the client
                if isinstance(turn.reply, WebhookReply):
                    self.bridge.cut_while_playing(turn.reply)
        log.info("[%s] barge-in: stopped %d assistant turn(s)", self.id,
                 len(active) + len(playing))

    def _replay_timed_out(self, turn: AssistantTurn, waited: float) -> None:
        self.counts.replay_timeouts += 1
        log.warning("[%s] no replay_finished for assistant turn %s after %.1f s: "
                    "ending it anyway (until now the user was %s)", self.id,
                    turn.turn_id, waited, "barging in" if self.grant.can_interrupt
                    else "not heard")
        self.elog.write(self.id, "replay_timeout", turn_id=turn.turn_id,
                        waited=round(waited, 3))


_HANDLERS: dict[str, Callable[[Session, dict], Awaitable[None]]] = {
    "client.ready": Session._on_ready,
    "client.audio": Session._on_audio,
    "vad_events": Session._on_vad_events,
    "trigger.turn.start": Session._on_turn_start,
    "trigger.turn.end": Session._on_turn_end,
    "trigger.response.audio.replay_finished": Session._on_replay_finished,
    "client.response.text": Session._on_response_text,
    "client.response.data": Session._on_response_data,
}
