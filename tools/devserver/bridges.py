# SPDX-License-Identifier: Apache-2.0
"""Which sessions are bridged to a webhook, and what they share (one per devserver):
the webhook targets (`--webhook`/`--webhook-secret` for every agent, `--agents-config`
per agent_id, which wins), the HTTP client, the speech recogniser, and the requests that
outlive their session (`session.end`), which shutdown waits for, briefly.
"""

from __future__ import annotations

import asyncio
import logging
import os

from eventlog import EventLog
from webhook import Timeouts, WebhookClient, WebhookTarget, load_agents_config, target_from
from webhook_agent import Bridge

log = logging.getLogger("devserver.bridge")

SHUTDOWN_WAIT = 5.0      # seconds shutdown gives the last session.end requests


def add_arguments(parser, positive) -> None:
    """The devserver's webhook flags (README.md, "The webhook bridge")."""
    wh = parser.add_argument_group("webhook bridge (README.md, \"The webhook bridge\")")
    wh.add_argument("--webhook", default=None, metavar="URL",
                    help="act as Layercode toward this backend webhook: recognise the "
                         "user's speech, POST it, speak the SSE reply")
    wh.add_argument("--webhook-secret", default=None, metavar="S",
                    help="secret the webhook requests are signed with (default: "
                         "$LAYERCODE_WEBHOOK_SECRET)")
    wh.add_argument("--webhook-events", default=None, metavar="LIST",
                    help="events sent to --webhook, of session.start,message,data,"
                         "session.update,session.end (default: all)")
    wh.add_argument("--agents-config", default=None, metavar="FILE",
                    help='per-agent webhooks: {"agents": {"<agent_id>": {"webhook": '
                         'URL, "secret": S, "events": [...]}}}')
    wh.add_argument("--webhook-timeout", type=positive, default=30.0,
                    metavar="S", help="a webhook that does not answer, or sends no "
                    "event, for this long ends the turn (default %(default)s)")
    wh.add_argument("--asr", choices=("pocketsphinx", "none"), default="pocketsphinx",
                    help="speech recognition for bridged sessions; none: turns are "
                         "labelled \"[n.n s of audio]\" (default %(default)s)")
    wh.add_argument("--asr-phrases", default=None, metavar="FILE",
                    help="the sentences users will say, one per line: recognition then "
                         "expects only these (a small fixed vocabulary: far fewer errors)")


def check_arguments(parser, opts, relay: bool) -> None:
    if opts.asr_phrases and opts.asr == "none":
        parser.error("--asr-phrases needs recognition (not --asr none)")
    if relay and (opts.webhook or opts.agents_config):
        parser.error("a relay forwards sessions upstream; --webhook/--agents-config are "
                     "for the devserver itself")


MAX_PHRASES = 1000


def _phrases(path: str) -> list[str]:
    """--asr-phrases: one sentence per line (blank lines and # comments skipped)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [" ".join(line.split()) for line in fh]
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--asr-phrases {path}: {exc}") from None
    phrases = [line for line in lines if line and not line.startswith("#")]
    if not phrases or len(phrases) > MAX_PHRASES:
        raise ValueError(f"--asr-phrases {path}: expected 1..{MAX_PHRASES} sentences, "
                         f"got {len(phrases)}")
    return phrases


class Bridges:
    def __init__(self, opts, elog: EventLog, agents) -> None:
        """Raises ValueError for a bad configuration (the start-up error says why)."""
        self.opts = opts
        self.agents = agents
        self.default: WebhookTarget | None = None
        if opts.webhook:
            events = (opts.webhook_events.split(",") if opts.webhook_events else None)
            secret = opts.webhook_secret or os.environ.get("LAYERCODE_WEBHOOK_SECRET")
            self.default = target_from(opts.webhook, secret, events, "--webhook")
        elif opts.webhook_secret or opts.webhook_events:
            raise ValueError("--webhook-secret and --webhook-events need --webhook")
        self.per_agent = (load_agents_config(opts.agents_config)
                          if opts.agents_config else {})
        self.client = WebhookClient(elog, Timeouts(connect=opts.webhook_timeout,
                                                   idle=opts.webhook_timeout))
        self.recognizer = None
        self.phrases = _phrases(opts.asr_phrases) if opts.asr_phrases else None
        self._background: set[asyncio.Task] = set()

    @property
    def active(self) -> bool:
        return self.default is not None or bool(self.per_agent)

    def start(self) -> None:
        """Load the recogniser (start-up: it takes a moment) and say what turns become."""
        if not self.active:
            return
        for agent_id, t in self.per_agent.items():
            log.info("agent %s: webhook %s", agent_id, t.url)
        if self.default is not None:
            log.info("every other agent: webhook %s", self.default.url)
        if self.opts.asr == "none":
            log.warning("speech recognition off (--asr none): user turns reach the "
                        "webhook as \"[n.n s of audio]\" labels, not transcripts")
            return
        import asr                          # imports nothing optional itself
        self.recognizer = asr.Recognizer(phrases=self.phrases)
        if self.recognizer.available:
            log.info("speech recognition: %s", self.recognizer.engine)
        else:
            log.warning("speech recognition unavailable (%s): user turns reach the "
                        "webhook as \"[n.n s of audio]\" labels, not transcripts",
                        self.recognizer.reason)

    @property
    def asr_engine(self) -> str:
        r = self.recognizer
        return r.engine if r is not None and r.available else "none"

    def target_for(self, agent_id: str) -> WebhookTarget | None:
        return self.per_agent.get(agent_id, self.default)

    def for_session(self, session) -> Bridge | None:
        target = self.target_for(session.grant.agent_id)
        if target is None:
            return None
        return Bridge(session, target, self.client, self.agents, self.recognizer,
                      self._spawn)

    def _spawn(self, coro, what: str) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        if self._background:
            done, pending = await asyncio.wait(self._background, timeout=SHUTDOWN_WAIT)
            for t in pending:
                t.cancel()
            if pending:
                log.warning("%d webhook request(s) cut short by shutdown", len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        await self.client.close()
        if self.recognizer is not None:
            # Stops the decoder processes and removes the phrase grammar's temp file.
            await asyncio.to_thread(self.recognizer.close)
