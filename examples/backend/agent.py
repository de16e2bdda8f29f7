# SPDX-License-Identifier: Apache-2.0
"""POST /agent: the webhook Layercode calls (docs.layercode.com/api-reference/webhook-sse-api).

Each request is checked first: its `layercode-signature` must sign the raw body with
LAYERCODE_WEBHOOK_SECRET (signature.py), else 401 before the body is even parsed. Then by
event `type`:
- `session.start`: the greeting (or a welcome back to a known conversation), over SSE;
- `message`: the user's text; history.py records it, the "LLM" (llm.py) replies, streamed
  as Server-Sent Events sentence by sentence: `data: {"type":"response.tts","content":..,
  "turn_id":..}`, an optional `response.data`, and a final `response.end`;
- `data`: structured JSON from the device, answered with plain JSON (`{"received": ..}`),
  which Layercode relays to the device as `response.data`;
- `session.update`, `session.end`: logged (recording status; transcript and durations), 200.
A barge-in makes Layercode abort the request: the reply stops, its placeholder stays in the
history, and the next message's `interruption_context` marks it interrupted."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import AsyncIterator

from aiohttp import web

import llm
import signature
from history import Conversations

log = logging.getLogger("backend.agent")

# A sentence is flushed at its end mark; text without one is flushed at a space once it
# is this long (bounded buffering whatever the model streams).
MAX_SENTENCE = 600
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+")
TRANSCRIPT_LOG_ITEMS = 50


LOG_TEXT = 300               # characters of a text a log line shows


def _q(text) -> str:
    """Text quoted for one log line (JSON string: newlines and quotes escaped), cut to
    LOG_TEXT characters."""
    text = text if isinstance(text, str) else str(text)
    return json.dumps(text if len(text) <= LOG_TEXT else text[:LOG_TEXT] + "…",
                      ensure_ascii=False)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def sentences(tokens: AsyncIterator[str]) -> AsyncIterator[str]:
    """Regroups streamed text deltas into whole sentences, each yielded once complete."""
    buf = ""
    async for token in tokens:
        buf += token
        while True:
            match = _SENTENCE_END.search(buf)
            if match:
                cut = match.end()
            elif len(buf) > MAX_SENTENCE:
                cut = buf.rfind(" ", 0, MAX_SENTENCE) + 1 or MAX_SENTENCE
            else:
                break
            sentence, buf = buf[:cut].strip(), buf[cut:]
            if sentence:
                yield sentence
    if buf.strip():
        yield buf.strip()


async def _tokens_of(text: str) -> AsyncIterator[str]:
    for token in re.findall(r"\S+\s*", text):
        yield token


async def _while_connected(request: web.Request,
                           tokens: AsyncIterator[str]) -> AsyncIterator[str]:
    """tokens until Layercode drops the request: then ConnectionResetError at the next
    token, so a model that is still generating between two sentences stops there too."""
    async for token in tokens:
        if request.transport is None or request.transport.is_closing():
            raise ConnectionResetError("the webhook request was aborted")
        yield token


class SSE:
    """One Server-Sent Events reply."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response = web.StreamResponse(status=200, headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.response.content_type = "text/event-stream"

    async def open(self) -> None:
        await self.response.prepare(self.request)

    async def send(self, event: dict) -> None:
        await self.response.write(b"data: " + json.dumps(event).encode() + b"\n\n")

    async def close(self) -> None:
        await self.response.write_eof()


class Agent:
    def __init__(self, secret: str | None, conversations: Conversations | None = None) -> None:
        self.secret = secret
        self.conversations = conversations or Conversations()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.secret:
            log.error("webhook refused: LAYERCODE_WEBHOOK_SECRET is not set")
            return _error(500, "LAYERCODE_WEBHOOK_SECRET is not set on the backend")
        raw = await request.read()     # bounded by the app's client_max_size (413 beyond)
        try:
            signature.verify(self.secret, request.headers.get(signature.HEADER, ""), raw)
        except signature.SignatureError as exc:
            log.warning("webhook refused (401): %s", exc)
            return _error(401, f"invalid signature: {exc}")
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            return _error(400, "body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return _error(400, "body is not a JSON object with a string `type`")
        kind = body["type"]
        conversation = body.get("conversation_id")
        if kind in ("message", "session.start") and not (
                isinstance(conversation, str) and conversation):
            return _error(400, f"{kind} without a conversation_id")
        if kind == "message":
            return await self.message(request, body)
        if kind == "session.start":
            return await self.session_start(request, body)
        if kind == "data":
            log.info("data conversation=%s turn=%s data=%s", conversation,
                     body.get("turn_id"), _q(json.dumps(body.get("data"))))
            return web.json_response({"received": body.get("data")})
        if kind == "session.update":
            log.info("session.update session=%s recording_status=%s recording_url=%s%s",
                     body.get("session_id"), body.get("recording_status"),
                     body.get("recording_url"),
                     f" error={_q(body['error_message'])}" if body.get("error_message") else "")
            return web.json_response({"ok": True})
        if kind == "session.end":
            self.log_session_end(body)
            return web.json_response({"ok": True})
        log.info("%s conversation=%s: event type not handled (200, ignored)", kind,
                 conversation)
        return web.json_response({"ignored": kind})

    async def message(self, request: web.Request, body: dict) -> web.StreamResponse:
        conversation, turn_id = body["conversation_id"], body.get("turn_id")
        text = body.get("text") if isinstance(body.get("text"), str) else ""
        marked = self.conversations.mark_interrupted(conversation,
                                                     body.get("interruption_context"))
        log.info("message conversation=%s turn=%s text=%s%s", conversation, turn_id, _q(text),
                 f" (interrupted turn {marked.turn_id} heard {_q(marked.content)})"
                 if marked else "")
        history = self.conversations.history(conversation)
        self.conversations.add_user(conversation, str(turn_id), text)
        placeholder = self.conversations.add_placeholder(conversation, str(turn_id))
        data = llm.ui_data(history)
        return await self.stream(request, turn_id, llm.generate_reply(history),
                                 placeholder, data)

    async def session_start(self, request: web.Request, body: dict) -> web.StreamResponse:
        conversation, turn_id = body["conversation_id"], body.get("turn_id")
        known = bool(self.conversations.history(conversation))
        log.info("session.start conversation=%s session=%s turn=%s%s", conversation,
                 body.get("session_id"), turn_id, " (known conversation)" if known else "")
        placeholder = self.conversations.add_placeholder(conversation, str(turn_id))
        text = llm.WELCOME_BACK if known else llm.GREETING
        return await self.stream(request, turn_id, _tokens_of(text), placeholder, None)

    async def stream(self, request: web.Request, turn_id, tokens: AsyncIterator[str],
                     placeholder, data: dict | None) -> web.StreamResponse:
        sse = SSE(request)
        started, said = time.monotonic(), []
        try:
            await sse.open()
            if data is not None:
                await sse.send({"type": "response.data", "content": data, "turn_id": turn_id})
                log.info("  data turn=%s %s", turn_id, _q(json.dumps(data)))
            async for sentence in sentences(_while_connected(request, tokens)):
                # The trailing space: Layercode joins the response.tts texts as one stream
                # (an LLM's deltas) and cuts it at sentence ends followed by whitespace, so
                # each sentence is complete on arrival and never glued to the next.
                await sse.send({"type": "response.tts", "content": sentence + " ",
                                "turn_id": turn_id})
                said.append(sentence)
                log.info("  tts turn=%s %s", turn_id, _q(sentence))
            await sse.send({"type": "response.end", "turn_id": turn_id})
            await sse.close()
        except (ConnectionError, asyncio.CancelledError) as exc:
            # Layercode aborts the request on a barge-in: the placeholder stays, and the
            # next message's interruption_context says what the user heard.
            log.info("  aborted turn=%s after %d sentences (%s): placeholder kept", turn_id,
                     len(said), type(exc).__name__)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return sse.response
        self.conversations.complete(placeholder, " ".join(said))
        log.info("  end turn=%s (%d sentences, %.2f s)", turn_id, len(said),
                 time.monotonic() - started)
        return sse.response

    @staticmethod
    def log_session_end(body: dict) -> None:
        transcript = body.get("transcript") if isinstance(body.get("transcript"), list) else []
        log.info("session.end conversation=%s session=%s duration=%s ms "
                 "transcription=%s s tts=%s s latency=%s transcript=%d items",
                 body.get("conversation_id"), body.get("session_id"), body.get("duration"),
                 body.get("transcription_duration_seconds"), body.get("tts_duration_seconds"),
                 body.get("latency"), len(transcript))
        for item in transcript[:TRANSCRIPT_LOG_ITEMS]:
            if isinstance(item, dict):
                log.info("  %s: %s", item.get("role"), _q(item.get("text", "")))
