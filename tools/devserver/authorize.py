# SPDX-License-Identifier: Apache-2.0
"""Session authorization: Layercode's authorize_session, the customer-backend
proxy, the legacy pipelines variant, and the single-use client_session_key store.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import socket
import struct
import time
from dataclasses import dataclass, field

from aiohttp import web

from eventlog import EventLog
from faultinject import Fault, FaultError, FaultPlan, plan_for

log = logging.getLogger("devserver.authorize")

AGENTS = ("echo", "tone", "say")
TURN_MODES = ("automatic", "push_to_talk")
API_AGENTS = "agents"        # /v1/agents/web/...
API_PIPELINES = "pipelines"  # legacy /v1/pipelines/...

# config.vad carries the fields the JS SDK reads (src/index.ts, VadConfigSchema), as the
# cloud sends them. The values are this server's: which ones the cloud picks per agent is
# not documented (README.md, "Differences from the cloud"); metadata.vad overrides them.
DEFAULT_VAD = {
    "enabled": True,
    "gate_audio": True,
    "buffer_frames": 10,
    "model": "v5",
    "frame_samples": 512,
    "positive_speech_threshold": 0.5,
    "negative_speech_threshold": 0.35,
    "redemption_frames": 8,
    "min_speech_frames": 3,
    "pre_speech_pad_frames": 1,
}

# Keys stay known this long after expiring, so late use reports "expired"
# rather than "unknown".
_EXPIRED_GRACE = 3600.0


@dataclass
class Grant:
    """What an authorized client_session_key entitles the socket to."""
    key: str
    session_id: str
    api: str
    agent_id: str
    conversation_id: str
    metadata: dict
    turn_mode: str
    can_interrupt: bool
    agent: str
    say_text: str | None
    greeting: str | None          # None: no greeting
    expires_at: float             # time.monotonic()
    omit_turn_id: bool = False    # turn.start without turn_id (the cloud may omit it)
    used: bool = False
    revoked: bool = False         # the conversation was authorized again: key rotated
    config: dict = field(default_factory=dict)
    faults: FaultPlan | None = None   # the conversation's fault plan (faults.py)
    codec: str = "pcm16"          # "opus": the socket speaks doc/opus-profile.md


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.agent_id: str | None = None


# The Opus profile's answer (doc/opus-profile.md section 1).
OPUS_ANSWER = {"codec": "opus", "sample_rate": 16000, "frame_ms": 20}


def negotiate(offer, server_codecs: list[str]) -> str:
    """The codec for a socket: the first of the client's offered `audio.codecs` this
    server takes; "pcm16" without a (well-formed) offer."""
    codecs = offer.get("codecs") if isinstance(offer, dict) else None
    if isinstance(codecs, list):
        for codec in codecs:
            if isinstance(codec, str) and codec in server_codecs:
                return codec
    return "pcm16"


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _strict_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Authorizer:
    def __init__(self, opts, log: EventLog) -> None:
        self.opts = opts
        self.log = log
        self._keys: dict[str, Grant] = {}
        self._conversations: set[str] = set()
        # Each conversation's fault plan, fixed when the conversation is created.
        self._plans: dict[str, FaultPlan] = {}

    # ---- key store -------------------------------------------------------

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, g in self._keys.items()
                    if now > g.expires_at + _EXPIRED_GRACE]:
            del self._keys[key]

    def check_key(self, key: str | None, api: str) -> Grant:
        """The grant for a socket's key, or AuthError (401/403). Does not consume it."""
        if not key:
            raise AuthError(401, "missing client_session_key")
        grant = self._keys.get(key)
        if grant is None:
            raise AuthError(401, "invalid client_session_key")
        if grant.used:
            raise AuthError(403, "client_session_key already used")
        if grant.revoked:
            raise AuthError(401, "client_session_key revoked: the conversation was "
                                 "authorized again")
        if time.monotonic() > grant.expires_at:
            raise AuthError(401, "client_session_key expired")
        if grant.api != api:
            raise AuthError(401, f"client_session_key was issued by the {grant.api} "
                                 f"API, not {api}")
        return grant

    def _revoke_unused(self, conversation_id: str) -> None:
        """Re-authorizing a conversation rotates its key: earlier keys not yet used to
        open a socket stop working (doc/protocol.md section 5). Open sockets stay open."""
        for grant in self._keys.values():
            if grant.conversation_id == conversation_id and not grant.used:
                grant.revoked = True

    @staticmethod
    def consume(grant: Grant) -> None:
        grant.used = True

    # ---- authorization ---------------------------------------------------

    def fault_plan(self, raw_body: bytes, api: str) -> FaultPlan | None:
        """The fault plan an authorize request belongs to: its conversation's, or a new
        one from its metadata (or --fault). None for a body authorize() will refuse
        anyway. Raises AuthError (400) for a bad metadata.devserver_fault."""
        try:
            body = json.loads(raw_body.decode("utf-8"), parse_constant=_strict_constant)
        except (ValueError, RecursionError):
            return None
        if not isinstance(body, dict):
            return None
        conv_field = "session_id" if api == API_PIPELINES else "conversation_id"
        conversation_id = body.get(conv_field)
        if isinstance(conversation_id, str) and conversation_id in self._plans:
            return self._plans[conversation_id]
        metadata = body.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        try:
            return plan_for(metadata, self.opts.fault)
        except FaultError as exc:
            raise AuthError(400, str(exc)) from None

    def authorize(self, raw_body: bytes, api: str,
                  plan: FaultPlan | None = None) -> dict:
        """Validate a request body and issue a key. Raises AuthError (400/402)."""
        legacy = api == API_PIPELINES
        id_field = "pipeline_id" if legacy else "agent_id"
        conv_field = "session_id" if legacy else "conversation_id"
        try:
            body = (json.loads(raw_body.decode("utf-8"),
                               parse_constant=_strict_constant) if raw_body else None)
        except (ValueError, RecursionError) as exc:
            raise AuthError(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise AuthError(400, "request body must be a JSON object")
        agent_id = body.get(id_field)
        if not isinstance(agent_id, str) or not agent_id.strip():
            raise AuthError(400, f"{id_field} is required (a non-empty string)")
        try:
            return self._issue(api, body, agent_id, conv_field, plan)
        except AuthError as exc:
            exc.agent_id = agent_id
            raise

    def _issue(self, api: str, body: dict, agent_id: str, conv_field: str,
               plan: FaultPlan | None) -> dict:
        metadata = body.get("metadata")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise AuthError(400, "metadata must be a JSON object")
        sdk_version = body.get("sdk_version")
        if sdk_version is not None and not isinstance(sdk_version, str):
            raise AuthError(400, "sdk_version must be a string")
        if agent_id == "insufficient-balance":
            raise AuthError(402, "insufficient balance")
        conversation_id = body.get(conv_field)
        if conversation_id is not None:
            if not isinstance(conversation_id, str):
                raise AuthError(400, f"{conv_field} must be a string")
            if conversation_id not in self._conversations:
                raise AuthError(400, "conversation not found")
        else:
            prefix = "sess_" if api == API_PIPELINES else "conv_"
            conversation_id = prefix + secrets.token_hex(12)

        grant = self._grant(api, agent_id, conversation_id, metadata)
        if api == API_AGENTS and negotiate(body.get("audio"), self.opts.codecs) == "opus":
            grant.codec = "opus"
            grant.config["audio"] = dict(OPUS_ANSWER)
        self._revoke_unused(conversation_id)
        if plan is not None:
            self._plans.setdefault(conversation_id, plan)
        grant.faults = self._plans.get(conversation_id)
        self._conversations.add(conversation_id)
        self._prune()
        self._keys[grant.key] = grant
        return {"client_session_key": grant.key, conv_field: conversation_id,
                "config": grant.config}

    def _grant(self, api: str, agent_id: str, conversation_id: str,
               metadata: dict) -> Grant:
        opts = self.opts
        turn_mode = metadata.get("turn_mode", opts.turn_mode)
        if turn_mode not in TURN_MODES:
            raise AuthError(400, "metadata.turn_mode must be 'automatic' or "
                                 "'push_to_talk'")
        can_interrupt = metadata.get("can_interrupt", not opts.no_interrupt)
        if not isinstance(can_interrupt, bool):
            raise AuthError(400, "metadata.can_interrupt must be a boolean")
        agent = metadata.get("agent", agent_id if agent_id in AGENTS else opts.agent)
        if agent not in AGENTS:
            raise AuthError(400, "metadata.agent must be one of " + ", ".join(AGENTS))
        omit_turn_id = metadata.get("omit_turn_id", opts.omit_turn_id)
        if not isinstance(omit_turn_id, bool):
            raise AuthError(400, "metadata.omit_turn_id must be a boolean")
        say_text = metadata.get("say_text")
        if say_text is not None and not isinstance(say_text, str):
            raise AuthError(400, "metadata.say_text must be a string")
        greeting = None if opts.no_greeting else opts.greeting
        if "greeting" in metadata:
            value = metadata["greeting"]
            if value is False or value is None:
                greeting = None
            elif isinstance(value, str):
                greeting = value
            else:
                raise AuthError(400, "metadata.greeting must be a string or false")
        vad = dict(DEFAULT_VAD)
        if "vad" in metadata:
            if not isinstance(metadata["vad"], dict):
                raise AuthError(400, "metadata.vad must be a JSON object")
            vad.update(metadata["vad"])
        config = {"transcription": {"trigger": turn_mode,
                                    "can_interrupt": can_interrupt},
                  "vad": vad}
        return Grant(
            key=secrets.token_urlsafe(32),
            session_id="sess_" + secrets.token_hex(6),
            api=api, agent_id=agent_id, conversation_id=conversation_id,
            metadata=metadata, turn_mode=turn_mode, can_interrupt=can_interrupt,
            agent=agent, say_text=say_text, greeting=greeting,
            omit_turn_id=omit_turn_id, expires_at=time.monotonic() + opts.key_ttl, config=config)

    # ---- HTTP handlers ---------------------------------------------------

    async def _respond(self, request: web.Request, api: str,
                       check_api_key: bool) -> web.Response:
        grant_session = None
        agent_id = None
        conversation_id = None
        codec = None
        try:
            # Layercode answers a bad or missing API key with 400 (doc/protocol.md 1.3, 5).
            if check_api_key and not _same(bearer_token(request), self.opts.api_key):
                raise AuthError(400, "invalid api key")
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise AuthError(413, "request body too large") from None
            plan = self.fault_plan(raw, api)
            fault = plan.next("authorize") if plan else None
            if fault is not None:
                early = await self._authorize_fault(request, fault)
                if early is not None:
                    return early
            result = self.authorize(raw, api, plan)
            status = 200
            grant = self._keys[result["client_session_key"]]
            grant_session = grant.session_id
            agent_id = grant.agent_id
            conversation_id = grant.conversation_id
            codec = grant.codec
        except AuthError as exc:
            status, result = exc.status, {"error": exc.message}
            agent_id = exc.agent_id
        self.log.write(grant_session, "authorize", status=status, path=request.path,
                       agent_id=agent_id, conversation_id=conversation_id,
                       error=result.get("error"), codec=codec)
        return web.json_response(result, status=status)

    async def _authorize_fault(self, request: web.Request,
                               fault: Fault) -> web.Response | None:
        """Applies an authorize fault: a response to send instead, or None to go on
        (after a delay); raises AuthError for a refusal."""
        log.warning("fault %s on %s", fault.name, request.path)
        self.log.write(None, "fault", stage="authorize", path=request.path,
                       **fault.describe())
        if fault.name == "authorize_slow":
            await asyncio.sleep(fault["seconds"])
            return None
        if fault.name == "authorize_reset":
            transport = request.transport
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError()   # nothing more to answer on this connection
        if fault.name == "authorize_bad_json":
            self.log.write(None, "authorize", status=200, path=request.path,
                           agent_id=None, conversation_id=None,
                           error="devserver fault authorize_bad_json")
            return web.Response(status=200, content_type="application/json",
                                body=b'{"client_session_key": "k", "conversation_id": ')
        raise AuthError(fault["status"], f"devserver fault {fault.name}")

    async def handle_layercode(self, request: web.Request) -> web.Response:
        """POST /v1/agents/web/authorize_session (Layercode's own endpoint)."""
        return await self._respond(request, API_AGENTS, check_api_key=True)

    async def handle_legacy(self, request: web.Request) -> web.Response:
        """POST /v1/pipelines/authorize_session (pre Sep 2025 API)."""
        return await self._respond(request, API_PIPELINES, check_api_key=True)

    async def handle_proxy(self, request: web.Request) -> web.Response:
        """POST /authorize: the customer's backend. Checks the device token, then
        authorizes in-process as if it had called Layercode with the API key."""
        token = self.opts.device_token
        if token is not None and not _same(bearer_token(request), token):
            result = {"error": "invalid device token"}
            self.log.write(None, "authorize", status=401, path=request.path,
                           agent_id=None, conversation_id=None,
                           error=result["error"])
            return web.json_response(result, status=401)
        return await self._respond(request, API_AGENTS, check_api_key=False)
