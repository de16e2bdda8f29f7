#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Layercode-compatible development server for liblayercode tests and demos.

Usage: python tools/devserver/devserver.py [flags]   (see README.md)
Prints one JSON "ready" line on stdout, then logs to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import ssl
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from aiohttp import web  # noqa: E402

import bridges  # noqa: E402
import certs  # noqa: E402
import dashboard  # noqa: E402
import faultinject  # noqa: E402
import opus  # noqa: E402
from agents import MAX_SPEECH_REPEAT  # noqa: E402
from dashboard_store import DashboardStore  # noqa: E402
from eventlog import EventLog  # noqa: E402
from relay import Relay  # noqa: E402
from server import (AGENTS_AUTHORIZE, AGENTS_WS, LEGACY_AUTHORIZE,  # noqa: E402
                    LEGACY_WS, PROXY_AUTHORIZE, DevServer)

REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_CERT_DIR = os.path.join(REPO_ROOT, "build", "devserver-certs")
DEFAULT_GREETING = "Hello! Say something and I will repeat it."

log = logging.getLogger("devserver")


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def _speech_repeat(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_SPEECH_REPEAT:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_SPEECH_REPEAT}, got {text}")
    return value


def _non_negative(kind):
    def parse(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return value
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="devserver.py",
        description="Layercode-compatible development server (HTTP + WebSocket).")
    net = p.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    net.add_argument("--port", type=_non_negative(int), default=8787,
                     help="port; 0 picks a free one (default %(default)s)")
    net.add_argument("--tls", action="store_true", help="serve HTTPS/WSS")
    net.add_argument("--cert-dir", default=None,
                     help=f"where the test CA and server cert live (default {DEFAULT_CERT_DIR})")
    net.add_argument("--san", action="append", default=[], metavar="NAME",
                     help="extra subjectAltName for the server cert: DNS:x, IP:y, or a "
                          "bare name/address (repeatable)")
    net.add_argument("--cert-profile", choices=certs.PROFILES, default="good",
                     help="server certificate flavour for TLS negative tests")
    auth = p.add_argument_group("authorization")
    auth.add_argument("--api-key", default="dev-api-key",
                      help="Layercode API key authorize_session requires (default %(default)s)")
    auth.add_argument("--device-token", default=None,
                      help="bearer token the /authorize proxy requires from devices")
    auth.add_argument("--key-ttl", type=_positive(float), default=3600.0,
                      help="client_session_key lifetime in seconds (default %(default)s)")
    prof = p.add_argument_group("Opus profile and relay (doc/opus-profile.md)")
    prof.add_argument("--codecs", default=None, metavar="LIST",
                      help="codecs offered to clients that ask, preferred by the "
                           "client's order: opus,pcm16 (default pcm16: PCM only; the "
                           "relay's default is opus,pcm16)")
    prof.add_argument("--upstream", default=None, metavar="AUTHORIZE_URL",
                      help="run as a relay: forward device authorizes to this URL "
                           "(needs --upstream-ws)")
    prof.add_argument("--upstream-ws", default=None, metavar="WS_URL",
                      help="relay: the upstream's session socket URL (ws:// or wss://)")
    prof.add_argument("--upstream-ca", default=None, metavar="FILE",
                      help="relay: CA file to verify a https/wss upstream with "
                           "(default: the system's)")
    prof.add_argument("--relay-queue", type=_positive(int), default=256, metavar="N",
                      help="relay: messages queued per direction; a full queue holds "
                           "the other side back (default %(default)s)")
    prof.add_argument("--relay-sndbuf", type=_non_negative(int), default=65536,
                      metavar="BYTES", help="relay: SO_SNDBUF of device sockets, 0 = the "
                      "system's autotuning (default %(default)s)")
    prof.add_argument("--relay-stall-seconds", type=_positive(float), default=10.0,
                      metavar="S", help="relay: a side whose queue stays full this long "
                      "is not reading and is closed, 1008 (default %(default)s)")
    prof.add_argument("--relay-queue-bytes", type=_positive(int), default=4 * 1024 * 1024,
                      metavar="BYTES", help="relay: bytes queued per direction, held "
                      "back like a full --relay-queue (default %(default)s)")
    prof.add_argument("--relay-heartbeat", type=_non_negative(float), default=30.0,
                      metavar="S", help="relay: ping a device idle this long; one that "
                      "does not answer within S/2 is gone, 0 = never (default %(default)s)")
    beh = p.add_argument_group("session behaviour")
    beh.add_argument("--turn-mode", choices=("automatic", "push_to_talk"),
                     default="automatic", help="config.transcription.trigger "
                     "(default %(default)s; metadata.turn_mode overrides)")
    beh.add_argument("--no-interrupt", action="store_true",
                     help="can_interrupt false: user speech does not stop the agent")
    beh.add_argument("--omit-turn-id", action="store_true",
                     help="send turn.start without turn_id, as the cloud may "
                          "(metadata.omit_turn_id overrides)")
    beh.add_argument("--replay-timeout", type=_non_negative(float), default=10.0,
                     help="seconds (beyond the turn's audio) an assistant turn waits for "
                          "the client's replay_finished before it ends anyway "
                          "(default %(default)s)")
    beh.add_argument("--agent", choices=("echo", "tone", "say"), default="echo",
                     help="agent for agent_ids other than echo/tone/say")
    beh.add_argument("--greeting", default=DEFAULT_GREETING,
                     help="text the agent greets with after client.ready")
    beh.add_argument("--no-greeting", action="store_true", help="no greeting turn")
    beh.add_argument("--tone-hz", type=_positive(float), default=440.0,
                     help="tone agent frequency (default %(default)s)")
    beh.add_argument("--tone-seconds", type=_non_negative(float), default=2.0,
                     help="tone agent duration (default %(default)s)")
    beh.add_argument("--speech-repeat", type=_speech_repeat, default=1, metavar="N",
                     help="each spoken reply and greeting is played this many times in "
                          "a row: long agent speech (echo tests; default %(default)s)")
    beh.add_argument("--audio-chunk-ms", type=_positive(int), default=100,
                     help="duration of each response.audio chunk (default %(default)s)")
    beh.add_argument("--audio-speed", type=_non_negative(float), default=2.0,
                     help="agent audio pacing, x real time; 0 = all at once "
                          "(default %(default)s)")
    beh.add_argument("--late-audio-chunks", type=_non_negative(int), default=0,
                     help="after a barge-in, still send this many chunks of the "
                          "interrupted turn (to test client-side dropping)")
    beh.add_argument("--session-max-seconds", type=_non_negative(float), default=0.0,
                     help="close sessions (code 1000) after this long; 0 = unlimited")
    bridges.add_arguments(p, _positive(float))
    flt = p.add_argument_group("fault injection (README.md, \"Fault injection\")")
    flt.add_argument("--fault", action="append", default=[], metavar="SPEC",
                     help="fault for sessions whose metadata names none: NAME or "
                          "NAME:key=value,... (repeatable; --fault help lists them)")
    out = p.add_argument_group("logging")
    out.add_argument("--log", default=None, metavar="FILE", help="JSON-lines event log")
    out.add_argument("--log-audio-content", action="store_true",
                     help="keep base64 audio content in the event log")
    out.add_argument("--no-dashboard", action="store_true",
                     help="do not serve the dashboard at /dashboard/ (nor keep its "
                          "in-memory record of sessions)")
    out.add_argument("-v", "--verbose", action="store_true",
                     help="debug logging and HTTP access log on stderr")
    opts = p.parse_args(argv)
    if "help" in opts.fault:
        for kind in faultinject.KINDS.values():
            params = ", ".join(f"{k}={v!r}" for k, v in kind.params.items())
            print(f"{kind.name:22} [{kind.stage}] {kind.help}"
                  + (f" ({params})" if params else ""))
        p.exit(0)
    try:
        opts.fault = [faultinject.parse_cli(text) for text in opts.fault]
    except faultinject.FaultError as exc:
        p.error(f"--fault: {exc}")
    relay = opts.upstream is not None or opts.upstream_ws is not None
    if relay and not (opts.upstream and opts.upstream_ws):
        p.error("a relay needs both --upstream and --upstream-ws")
    bridges.check_arguments(p, opts, relay)
    if opts.upstream_ca and not relay:
        p.error("--upstream-ca is for a relay (--upstream)")
    codecs = opts.codecs if opts.codecs is not None else (
        "opus,pcm16" if relay else "pcm16")
    opts.codecs = [c.strip() for c in codecs.split(",") if c.strip()]
    unknown = [c for c in opts.codecs if c not in ("opus", "pcm16")]
    if unknown or not opts.codecs:
        p.error(f"--codecs: expected a list of opus, pcm16; got {codecs!r}")
    if "opus" in opts.codecs:
        try:
            opus.library()
        except opus.OpusError as exc:
            p.error(f"--codecs opus: {exc}")
    if opts.tone_hz >= 8000:
        p.error("--tone-hz must be below 8000 (Nyquist at 16 kHz)")
    if opts.audio_chunk_ms > 60000:
        p.error("--audio-chunk-ms must be at most 60000")
    return opts


def _url_host(host: str) -> str:
    """Host part for the advertised URLs (a wildcard bind is reached via loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to (e.g. both
    127.0.0.1 and ::1 for localhost), all on the same port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve --host {host!r}: {exc}") from None
    socks: list[socket.socket] = []
    seen = set()
    for family, stype, proto, _, addr in infos:
        if (family, addr[0]) in seen:
            continue
        seen.add((family, addr[0]))
        if socks:
            addr = (addr[0], socks[0].getsockname()[1], *addr[2:])
        sock = socket.socket(family, stype, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
        except OSError as exc:
            sock.close()
            if not socks:
                raise OSError(f"cannot listen on {host}:{port}: "
                              f"{exc.strerror or exc}") from None
            log.warning("not listening on %s too: %s", addr[0], exc.strerror or exc)
            continue
        socks.append(sock)
    return socks


def _tls_context(opts, eventlog: EventLog | None = None) -> tuple[ssl.SSLContext, str]:
    cert_dir = opts.cert_dir or DEFAULT_CERT_DIR
    try:
        os.makedirs(cert_dir, exist_ok=True)
    except OSError:
        if opts.cert_dir:
            raise
        cert_dir = tempfile.mkdtemp(prefix="devserver-certs-")
    files = certs.ensure_certs(cert_dir, opts.cert_profile, opts.san)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files["cert_file"], files["key_file"])
    if eventlog is not None:
        def client_hello(sslobj, server_name, _ctx) -> None:
            # OpenSSL calls this for every ClientHello; server_name is None without SNI.
            eventlog.write(None, "tls_client_hello", sni=server_name)
        ctx.sni_callback = client_hello
    return ctx, files["ca_file"]


def _fail(message: str) -> int:
    print(json.dumps({"event": "error", "error": message}), flush=True)
    log.error("%s", message)
    return 1


async def serve(opts) -> int:
    # Handle signals before anything is announced: a SIGTERM sent right after
    # the ready line must still shut down cleanly (exit 0).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum, frame) -> None:
        # Plain signal.signal (not loop.add_signal_handler): the handler stays in
        # place after the loop closes, so a repeated SIGTERM during shutdown
        # does not kill the process with a signal exit status.
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:
            pass            # loop already closed: shutdown is under way

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    try:
        eventlog = EventLog(opts.log, opts.log_audio_content)
    except OSError as exc:
        return _fail(f"cannot open --log {opts.log}: {exc}")
    ssl_ctx, ca_file = None, None
    if opts.tls:
        try:
            ssl_ctx, ca_file = _tls_context(opts, eventlog)
        except (certs.CertError, OSError, ssl.SSLError) as exc:
            eventlog.close()
            return _fail(f"TLS setup failed: {exc}")
    try:
        socks = _bind(opts.host, opts.port)
    except OSError as exc:
        eventlog.close()
        return _fail(str(exc))
    port = socks[0].getsockname()[1]
    try:
        dev = Relay(opts, eventlog) if opts.upstream else DevServer(opts, eventlog)
    except ValueError as exc:
        for sock in socks:
            sock.close()
        eventlog.close()
        return _fail(str(exc))
    app = dev.make_app()
    with_dashboard = not opts.no_dashboard and not opts.upstream
    if with_dashboard:
        dashboard.add_routes(app, DashboardStore(eventlog))
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=5.0,
                           access_log=logging.getLogger("aiohttp.access")
                           if opts.verbose else None)
    await runner.setup()
    for sock in socks:
        await web.SockSite(runner, sock, ssl_context=ssl_ctx).start()

    scheme = "https" if opts.tls else "http"
    base = f"{scheme}://{_url_host(opts.host)}:{port}"
    ws_base = f"{'wss' if opts.tls else 'ws'}://{_url_host(opts.host)}:{port}"
    ready = {
        "event": "ready",
        "http": base,
        "ws": ws_base + AGENTS_WS,
        "authorize_url": base + PROXY_AUTHORIZE,
        "layercode_authorize_url": base + AGENTS_AUTHORIZE,
        "ca_file": ca_file,
        "pid": os.getpid(),
        "port": port,
        "api_key": opts.api_key,
        "legacy_authorize_url": base + LEGACY_AUTHORIZE,
        "legacy_ws": ws_base + LEGACY_WS,
        "webhook": opts.webhook,
        "dashboard": base + "/dashboard/" if with_dashboard else None,
    }
    if opts.upstream:
        # A relay serves only the device side: /authorize and the session socket.
        ready.update(layercode_authorize_url=None, legacy_authorize_url=None,
                     legacy_ws=None, relay=True, upstream=opts.upstream,
                     upstream_ws=opts.upstream_ws)
    print(json.dumps(ready), flush=True)
    if opts.upstream:
        log.info("relay listening on %s (upstream %s, codecs %s)", base, opts.upstream,
                 ",".join(opts.codecs))
    else:
        log.info("listening on %s (turn mode %s, agent %s%s)", base, opts.turn_mode,
                 opts.agent, f", TLS profile {opts.cert_profile}" if opts.tls else "")

    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    eventlog.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    logging.basicConfig(stream=sys.stderr,
                        level=logging.DEBUG if opts.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not opts.verbose:
        logging.getLogger("asyncio").setLevel(logging.WARNING)
    try:
        status = asyncio.run(serve(opts))
    except KeyboardInterrupt:
        status = 0
    # Ignore late repeats of SIGTERM/SIGINT: interpreter shutdown would
    # otherwise restore the default action and die with a signal status.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    return status


if __name__ == "__main__":
    sys.exit(main())
