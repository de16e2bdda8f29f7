#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The example customer backend for a Layercode voice agent: `POST /authorize` (the device's
authorize endpoint; authorize.py) and `POST /agent` (the webhook Layercode calls; agent.py).
It talks to Layercode's real cloud as it is, and to the devserver (tools/devserver) the
same way.

    LAYERCODE_API_KEY=... LAYERCODE_WEBHOOK_SECRET=... \\
        python examples/backend/server.py --host 127.0.0.1 --port 8080

When listening it prints one JSON line on stdout,
`{"event":"ready","url":..,"agent":..,"authorize":..}` (an `{"event":"error"}` line and exit
1 if it cannot start), and logs to stderr: one line per request and one per streamed
sentence. SIGTERM/SIGINT exit 0."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from aiohttp import web  # noqa: E402

from agent import Agent  # noqa: E402
from authorize import DEFAULT_URL, Authorize  # noqa: E402

log = logging.getLogger("backend")

# Request bodies: a webhook event with a long transcript stays far below this.
MAX_BODY = 512 * 1024


@dataclass
class Settings:
    api_key: str | None
    webhook_secret: str | None
    agent_id: str | None
    authorize_url: str


def settings_from(opts, env=os.environ) -> Settings:
    return Settings(api_key=env.get("LAYERCODE_API_KEY") or None,
                    webhook_secret=env.get("LAYERCODE_WEBHOOK_SECRET") or None,
                    agent_id=env.get("LAYERCODE_AGENT_ID") or None,
                    authorize_url=(opts.authorize_url or env.get("LAYERCODE_AUTHORIZE_URL")
                                   or DEFAULT_URL))


def make_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    authorize = Authorize(settings)
    agent = Agent(settings.webhook_secret)
    app.router.add_post("/authorize", authorize.handle)
    app.router.add_post("/agent", agent.handle)

    async def close(_app) -> None:
        await authorize.close()
    app.on_cleanup.append(close)
    return app


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one")
    p.add_argument("--fd", type=int, default=None,
                   help="serve on this inherited, already listening TCP socket instead of "
                        "binding (socket activation; --host/--port are then ignored)")
    p.add_argument("--authorize-url", default=None,
                   help="Layercode's authorize_session URL (default: $LAYERCODE_AUTHORIZE_URL "
                        f"or {DEFAULT_URL})")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)


def _listening_socket(opts) -> socket.socket:
    if opts.fd is not None:
        sock = socket.socket(fileno=opts.fd)
        if sock.type != socket.SOCK_STREAM:
            raise OSError(f"--fd {opts.fd} is not a TCP socket")
        return sock
    family = socket.AF_INET6 if ":" in opts.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((opts.host, opts.port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _warn_missing(settings: Settings) -> None:
    if not settings.api_key:
        log.warning("LAYERCODE_API_KEY is not set: /authorize answers 500 until it is")
    if not settings.webhook_secret:
        log.warning("LAYERCODE_WEBHOOK_SECRET is not set: /agent answers 500 until it is")


async def serve(opts) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum, frame) -> None:
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:
            pass                      # loop already closed: shutdown under way

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    settings = settings_from(opts)
    try:
        sock = _listening_socket(opts)
    except OSError as exc:
        print(json.dumps({"event": "error", "error": str(exc)}), flush=True)
        log.error("cannot listen: %s", exc)
        return 1
    runner = web.AppRunner(make_app(settings), handle_signals=False, shutdown_timeout=3.0,
                           access_log=logging.getLogger("aiohttp.access")
                           if opts.verbose else None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    base = f"http://{host}:{port}"
    # Everything about start-up is logged before the ready line announces it.
    log.info("listening on %s (authorize_session at %s)", base, settings.authorize_url)
    _warn_missing(settings)
    print(json.dumps({"event": "ready", "url": base, "agent": base + "/agent",
                      "authorize": base + "/authorize"}), flush=True)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if opts.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not opts.verbose:
        logging.getLogger("asyncio").setLevel(logging.WARNING)
    try:
        status = asyncio.run(serve(opts))
    except KeyboardInterrupt:
        status = 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    return status


if __name__ == "__main__":
    sys.exit(main())
