# SPDX-License-Identifier: Apache-2.0
"""Calling a customer's webhook as Layercode does (doc/protocol.md section 4).

Every request is a JSON POST signed with the agent's secret:
`layercode-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
Replies are Server-Sent Events whose `data` is one JSON object each (`response.tts`,
`response.data`, `response.end`), read as they arrive (sse.py); a `data` event may instead
be answered with plain JSON. Each request is logged as it goes (kinds webhook_request,
webhook_response, webhook_event, webhook_end), which the dashboard shows.

Bounds, so a backend cannot hang a session or grow memory: `connect_timeout` for the
connection and the response headers, `idle_timeout` between two events, `total_timeout`
for a whole reply, at most `MAX_EVENTS` events and `MAX_REPLY_BYTES` read per reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import AsyncIterator

import aiohttp

from eventlog import EventLog
from sse import SSEError, SSEParser

log = logging.getLogger("devserver.webhook")

EVENTS = ("session.start", "message", "data", "session.update", "session.end")
MAX_EVENTS = 10_000
MAX_REPLY_BYTES = 8 << 20
MAX_JSON_REPLY_BYTES = 1 << 20


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `layercode-signature` header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body,
                   hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class WebhookError(Exception):
    """A request that did not give a usable reply; `outcome` is "error" or "timeout"."""

    def __init__(self, message: str, outcome: str = "error") -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class WebhookTarget:
    url: str
    secret: str
    events: tuple[str, ...] = EVENTS

    def wants(self, event: str) -> bool:
        return event in self.events


def target_from(url: str, secret: str | None, events: list | tuple | None,
                where: str) -> WebhookTarget:
    """A checked target (ValueError saying what is wrong, and where)."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"{where}: webhook must be an http:// or https:// URL, got "
                         f"{url!r}")
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"{where}: a webhook needs a non-empty secret (the requests "
                         "are signed with it)")
    chosen = tuple(events) if events is not None else EVENTS
    bad = [e for e in chosen if e not in EVENTS]
    if bad or "message" not in chosen:
        raise ValueError(f"{where}: events must include 'message' and be among "
                         f"{', '.join(EVENTS)}; got {list(chosen)}")
    return WebhookTarget(url, secret, chosen)


def load_agents_config(path: str) -> dict[str, WebhookTarget]:
    """The per-agent webhooks of an --agents-config file:
    {"agents": {"<agent_id>": {"webhook": URL, "secret": S, "events": [...]?}}}."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(f"--agents-config {path}: {exc}") from None
    agents = doc.get("agents") if isinstance(doc, dict) else None
    if not isinstance(agents, dict):
        raise ValueError(f"--agents-config {path}: expected {{\"agents\": {{...}}}}")
    out = {}
    for agent_id, entry in agents.items():
        where = f"--agents-config {path}, agent {agent_id!r}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object")
        out[agent_id] = target_from(entry.get("webhook"), entry.get("secret"),
                                    entry.get("events"), where)
    return out


@dataclass
class Timeouts:
    connect: float = 10.0
    idle: float = 30.0
    total: float = 300.0


@dataclass
class Call:
    """One request in flight (what the log and the caller know of it)."""
    request_id: str
    event: str
    started: float = field(default_factory=time.monotonic)
    status: int | None = None
    first_event_ms: float | None = None
    complete: bool = False           # the reply's last event is out (a caller may stop)

    def ms(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 1)


class WebhookClient:
    """One per devserver: a connection pool, the timeouts, the log."""

    _ids = itertools.count(1)

    def __init__(self, elog: EventLog, timeouts: Timeouts) -> None:
        self.elog = elog
        self.timeouts = timeouts
        self._http: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=self.timeouts.connect,
                                              sock_connect=self.timeouts.connect),
                auto_decompress=True)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _begin(self, session_id: str, target: WebhookTarget, body: dict) -> tuple[Call, bytes, dict]:
        call = Call(f"wh{next(self._ids)}", body["type"])
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream, application/json",
                   "layercode-signature": sign(target.secret, raw, int(time.time()))}
        self.elog.write(session_id, "webhook_request", request_id=call.request_id,
                        event=call.event, turn_id=body.get("turn_id"), url=target.url,
                        body=body)
        return call, raw, headers

    def _end(self, session_id: str, call: Call, outcome: str,
             error: str | None = None) -> None:
        self.elog.write(session_id, "webhook_end", request_id=call.request_id,
                        ms=call.ms(), outcome=outcome, error=error)
        if error is not None:
            log.warning("[%s] webhook %s (%s): %s", session_id, call.event, outcome, error)

    async def events(self, session_id: str, target: WebhookTarget,
                     body: dict) -> AsyncIterator[dict]:
        """POST `body` and yield the reply's events (JSON objects) as they arrive. A plain
        JSON reply (to a `data` event) is yielded as one `response.data`. Raises
        WebhookError; a caller that stops early (barge-in) aborts the request."""
        call, raw, headers = self._begin(session_id, target, body)
        outcome, error = "aborted", None
        deadline = time.monotonic() + self.timeouts.total
        try:
            try:
                async with asyncio.timeout(self.timeouts.connect):
                    resp = await self._client().post(target.url, data=raw, headers=headers)
            except TimeoutError:
                raise WebhookError(f"no response from {target.url} within "
                                   f"{self.timeouts.connect:g} s", "timeout") from None
            except aiohttp.ClientError as exc:
                raise WebhookError(f"cannot reach {target.url}: {exc}") from None
            try:
                call.status = resp.status
                self.elog.write(session_id, "webhook_response",
                                request_id=call.request_id, status=resp.status,
                                ms=call.ms(), content_type=resp.content_type)
                if resp.status // 100 != 2:
                    text = await _bounded_text(resp, 300)
                    raise WebhookError(f"{target.url} answered {resp.status}"
                                       + (f": {text}" if text else ""))
                if call.event in ("session.end", "session.update"):
                    pass                 # any 2xx acknowledges these; the body is unread
                elif resp.content_type == "text/event-stream":
                    async for event in self._stream(session_id, call, resp, deadline):
                        yield event
                elif resp.content_type == "application/json" and call.event == "data":
                    try:
                        content = await asyncio.wait_for(
                            self._json_reply(session_id, call, resp), self.timeouts.idle)
                    except asyncio.TimeoutError:
                        raise WebhookError(f"data reply not complete after "
                                           f"{self.timeouts.idle:g} s", "timeout") from None
                    call.complete = True
                    yield {"type": "response.data", "content": content}
                else:
                    raise WebhookError(f"{target.url} answered with content type "
                                       f"{resp.content_type!r}, not text/event-stream")
            finally:
                resp.close()             # an unread reply is cut, never pooled
            outcome = "ok"
        except WebhookError as exc:
            outcome, error = exc.outcome, str(exc)
            raise
        finally:
            self._end(session_id, call, "ok" if call.complete else outcome, error)

    async def _stream(self, session_id: str, call: Call, resp: aiohttp.ClientResponse,
                      deadline: float) -> AsyncIterator[dict]:
        parser = SSEParser()
        received = 0
        count = 0
        last_event = time.monotonic()        # comments and partial events do not count
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise WebhookError(f"reply not finished after {self.timeouts.total:g} s",
                                   "timeout")
            if now - last_event >= self.timeouts.idle:
                raise WebhookError(
                    f"no event for {self.timeouts.idle:g} s and no response.end", "timeout")
            wait = min(last_event + self.timeouts.idle, deadline) - now
            try:
                chunk = await asyncio.wait_for(resp.content.readany(), wait)
            except asyncio.TimeoutError:
                continue                     # the checks above say which limit it was
            except aiohttp.ClientError as exc:
                raise WebhookError(f"reply broken off: {exc}") from None
            if not chunk:
                if parser.pending:
                    raise WebhookError("reply ended in the middle of an event")
                raise WebhookError("reply ended without response.end")
            received += len(chunk)
            if received > MAX_REPLY_BYTES:
                raise WebhookError(f"reply over {MAX_REPLY_BYTES} bytes")
            try:
                events = parser.feed(chunk)
            except SSEError as exc:
                raise WebhookError(f"malformed event stream: {exc}") from None
            if events:
                last_event = time.monotonic()
            for ev in events:
                count += 1
                if count > MAX_EVENTS:
                    raise WebhookError(f"reply over {MAX_EVENTS} events")
                msg = _event_json(ev.data)
                if call.first_event_ms is None:
                    call.first_event_ms = call.ms()
                self.elog.write(session_id, "webhook_event", request_id=call.request_id,
                                ms=call.ms(), event=msg)
                if msg["type"] == "response.end":
                    call.complete = True
                    yield msg
                    return
                yield msg

    async def _json_reply(self, session_id: str, call: Call,
                          resp: aiohttp.ClientResponse):
        raw = await _bounded_read(resp, MAX_JSON_REPLY_BYTES)
        try:
            content = json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise WebhookError(f"data reply is not JSON: {exc}") from None
        self.elog.write(session_id, "webhook_event", request_id=call.request_id,
                        ms=call.ms(), event={"type": "response.data", "content": content})
        return content

    async def post(self, session_id: str, target: WebhookTarget, body: dict) -> None:
        """A request whose reply only acknowledges (session.update, session.end)."""
        async for _ in self.events(session_id, target, body):
            pass


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _event_json(data: str) -> dict:
    try:
        msg = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise WebhookError(f"event data is not JSON ({exc}): {data[:120]!r}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise WebhookError(f"event is not a JSON object with a 'type': {data[:120]!r}")
    return msg


async def _bounded_read(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    data = bytearray()
    while True:
        chunk = await resp.content.read(65536)
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > limit:
            raise WebhookError(f"reply over {limit} bytes")


async def _bounded_text(resp: aiohttp.ClientResponse, limit: int) -> str:
    try:
        raw = await asyncio.wait_for(resp.content.read(limit), 2.0)
    except (asyncio.TimeoutError, aiohttp.ClientError):
        return ""
    return " ".join(raw.decode("utf-8", "replace").split())
