# SPDX-License-Identifier: Apache-2.0
"""POST /authorize: the device's authorize endpoint. It calls Layercode's authorize_session
with the API key from the environment (the device never sees the key) and returns
Layercode's status and body unchanged, so the device gets its client_session_key (or
Layercode's own error).

The device's body may carry `agent_id` (else LAYERCODE_AGENT_ID), `conversation_id` (to
resume), `metadata`, `sdk_version` and the audio codec offer; only those fields are passed
on. A real deployment authenticates its device here first (its own session, token, ...)
and would set `metadata` itself rather than trust the device's."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
from aiohttp import web

log = logging.getLogger("backend.authorize")

DEFAULT_URL = "https://api.layercode.com/v1/agents/web/authorize_session"
PASSED_ON = ("conversation_id", "metadata", "sdk_version", "audio")
TIMEOUT_SECONDS = 15
MAX_UPSTREAM_BODY = 64 * 1024


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class Authorize:
    def __init__(self, settings) -> None:
        # settings: api_key, agent_id and authorize_url (read per request; server.Settings).
        self.settings = settings
        self._client: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    def _session(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))
        return self._client

    async def handle(self, request: web.Request) -> web.Response:
        api_key = self.settings.api_key
        if not api_key:
            log.error("authorize refused: LAYERCODE_API_KEY is not set")
            return _error(500, "LAYERCODE_API_KEY is not set on the backend")
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (UnicodeDecodeError, ValueError):
            return _error(400, "body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "body is not a JSON object")
        agent_id = body.get("agent_id") or self.settings.agent_id
        if not isinstance(agent_id, str) or not agent_id:
            return _error(400, "no agent_id in the body and LAYERCODE_AGENT_ID is not set")
        upstream = {"agent_id": agent_id}
        upstream.update((k, body[k]) for k in PASSED_ON if body.get(k) is not None)
        url = self.settings.authorize_url
        try:
            async with self._session().post(
                    url, json=upstream,
                    headers={"Authorization": f"Bearer {api_key}"}) as resp:
                payload = await resp.content.read(MAX_UPSTREAM_BODY + 1)
                status, ctype = resp.status, resp.headers.get("Content-Type",
                                                              "application/json")
        except asyncio.TimeoutError:
            log.error("authorize_session at %s: no answer in %d s", url, TIMEOUT_SECONDS)
            return _error(504, f"Layercode authorize_session did not answer in "
                               f"{TIMEOUT_SECONDS} s")
        except aiohttp.ClientError as exc:
            log.error("authorize_session at %s unreachable: %s", url, exc)
            return _error(502, f"Layercode authorize_session unreachable: {exc}")
        if len(payload) > MAX_UPSTREAM_BODY:
            return _error(502, "Layercode authorize_session answered with an oversized body")
        log.info("authorize agent=%s conversation=%s -> %d", agent_id,
                 upstream.get("conversation_id"), status)
        return web.Response(status=status, body=payload,
                            content_type=ctype.split(";")[0].strip() or "application/json")
