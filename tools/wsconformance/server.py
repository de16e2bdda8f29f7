# SPDX-License-Identifier: Apache-2.0
"""WebSocket conformance server: plays Autobahn-style test cases against an echo client.

The client under test connects to ``ws://HOST:PORT/runCase?case=ID`` (ID is a case id such
as ``6.4.1`` or a 1-based index into the case list), echoes every text and binary message,
and answers pings. This server does the RFC 6455 opening handshake itself and then writes raw
bytes: no WebSocket library sits between the cases and the socket, so a case can send any
malformed frame, split a frame across writes, or keep half of it back.

While a case plays, everything the client sends is parsed and checked (frames must be masked,
RSV bits clear, opcodes known, control frames short and unfragmented, text valid UTF-8, close
codes valid, nothing after the client's close frame). At the end the case's expectation turns
what was observed into a verdict:

  OK             the client did what the RFC asks, the way the case expects.
  NON-STRICT     acceptable but not the best behaviour: it failed the connection by dropping
                 TCP instead of sending the close code, used a different but acceptable code,
                 answered a close without a code, or failed an invalid UTF-8 message only
                 after the whole message (not "fail fast").
  INFORMATIONAL  the RFC leaves the outcome open (the detail says what happened).
  FAILED         a violation: wrong echo, missing or wrong close code, a connection not
                 failed when it must be, a malformed frame from the client.

Run it alone (``python server.py --port 9001``) to point any client at it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import socket
import struct
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable, Optional

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10
OPCODE_NAMES = {CONT: "continuation", TEXT: "text", BINARY: "binary", CLOSE: "close",
                PING: "ping", PONG: "pong"}

OK, NON_STRICT, INFORMATIONAL, FAILED, UNIMPLEMENTED = (
    "OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED")

# How long the server waits for the client, in seconds. Generous: the suite runs on loaded
# 2-core machines; a correct client never waits these out (they bound broken ones).
DEFAULT_TIMEOUTS = {
    # Echoes and pongs the case expects, before the server closes (plus per-MiB time).
    "echo": 20.0,
    # The client's answer to the server's close frame, or its failing of the connection.
    "close": 15.0,
    # Fail fast: how long the server keeps the rest of an invalid message back.
    "hold": 10.0,
}


def accept_value(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def upgrade_response(key: str, *, status: str = "101 Switching Protocols",
                     accept: Optional[str] = None, upgrade: Optional[str] = "websocket",
                     extra: str = "") -> bytes:
    """The server's answer to the opening handshake; the arguments break it on purpose."""
    head = f"HTTP/1.1 {status}\r\n"
    if upgrade is not None:
        head += f"Upgrade: {upgrade}\r\n"
    head += "Connection: Upgrade\r\n"
    head += f"Sec-WebSocket-Accept: {accept_value(key) if accept is None else accept}\r\n"
    return (head + extra + "\r\n").encode("ascii")


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
                 length: Optional[int] = None, mask: Optional[bytes] = None) -> bytes:
    """One server-to-client frame, unmasked unless `mask` (a 4-byte key, which a server must
    never use) is given. `length` overrides the declared payload length (to announce more
    than is sent); `rsv` is the three RSV bits as a number 0-7."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0x0F)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes((b0, m | n))
    elif n < 1 << 16:
        head = bytes((b0, m | 126)) + struct.pack(">H", n)
    else:
        head = bytes((b0, m | 127)) + struct.pack(">Q", n)
    if mask:
        return head + mask + unmask(payload, mask)
    return head + payload


def close_payload(code: Optional[int] = None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack(">H", code) + reason


def unmask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b""
    keystream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keystream, "little")).to_bytes(n, "little")


def close_code_valid_on_wire(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def describe_payload(payload: bytes) -> str:
    if len(payload) <= 24:
        return "0x" + binascii.hexlify(payload).decode() if payload else "empty"
    return f"{len(payload)} bytes"


class ClientGone(Exception):
    """The client ended the connection while the case was still sending."""


# MARK: - Parsing what the client sends


class ClientFrameParser:
    """Checks and reassembles the client's frames. Produces events:
    ("message", opcode, payload), ("ping", payload), ("pong", payload),
    ("close", code_or_None, reason_bytes) and ("violation", text); a violation stops it."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.fragments: list[bytes] = []
        self.message_opcode: Optional[int] = None
        self.closed = False
        self.broken = False

    def feed(self, data: bytes) -> list[tuple]:
        if self.broken:
            return []
        self.buffer += data
        events: list[tuple] = []
        while not self.broken:
            event = self._next()
            if event is None:
                break
            if event[0] != "fragment":
                events.append(event)
        return events

    def _violation(self, text: str) -> tuple:
        self.broken = True
        return ("violation", text)

    def _next(self) -> Optional[tuple]:
        buf = self.buffer
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F
        masked, n = bool(b1 & 0x80), b1 & 0x7F
        offset = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack_from(">H", buf, 2)[0]
            offset = 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from(">Q", buf, 2)[0]
            offset = 10
        if len(buf) < offset + 4 + n:
            # Check what the header alone can break before waiting for the payload.
            if not masked:
                return self._violation("client sent an unmasked frame")
            return None
        if self.closed:
            return self._violation(f"client sent a {OPCODE_NAMES.get(opcode, opcode)} frame "
                                   "after its close frame")
        if not masked:
            return self._violation("client sent an unmasked frame")
        key = bytes(buf[offset:offset + 4])
        payload = unmask(bytes(buf[offset + 4:offset + 4 + n]), key)
        del buf[:offset + 4 + n]
        if rsv:
            return self._violation(f"client set RSV bits {rsv:#x}")
        if opcode not in OPCODE_NAMES:
            return self._violation(f"client used reserved opcode {opcode}")
        if opcode >= CLOSE:
            if not fin or n > 125:
                return self._violation("client sent a fragmented or oversized control frame")
            if opcode == PING:
                return ("ping", payload)
            if opcode == PONG:
                return ("pong", payload)
            self.closed = True
            if not payload:
                return ("close", None, b"")
            if len(payload) == 1:
                return self._violation("client sent a close frame with a 1-byte payload")
            code = struct.unpack_from(">H", payload)[0]
            if not close_code_valid_on_wire(code):
                return self._violation(f"client sent close code {code}, which may not be sent")
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                return self._violation("client sent a close reason that is not UTF-8")
            return ("close", code, payload[2:])
        if opcode == CONT:
            if self.message_opcode is None:
                return self._violation("client sent a continuation frame with nothing to continue")
        else:
            if self.message_opcode is not None:
                return self._violation("client started a message inside a fragmented one")
            self.message_opcode = opcode
        self.fragments.append(payload)
        if not fin:
            return ("fragment",)
        message = b"".join(self.fragments)
        kind = self.message_opcode
        self.fragments = []
        self.message_opcode = None
        if kind == TEXT:
            try:
                message.decode("utf-8")
            except UnicodeDecodeError:
                return self._violation("client sent a text message that is not UTF-8")
        return ("message", kind, message)


# MARK: - One client connection


@dataclass
class Observed:
    """Everything seen from the client during one case."""
    messages: list = field(default_factory=list)        # [(opcode, payload)]
    pongs: list = field(default_factory=list)           # [payload]
    pings: list = field(default_factory=list)           # [payload]
    client_close: Optional[tuple] = None                # (code or None, reason bytes)
    client_close_first: bool = False                    # sent before the server's close
    tcp_closed: Optional[str] = None                    # "eof" or "reset: ..."
    violations: list = field(default_factory=list)
    server_close_sent: bool = False
    held_back_sent: bool = False                        # a fail-fast hold expired
    events: list = field(default_factory=list)          # (seconds, text), for the detail


class CaseConnection(asyncio.Protocol):
    """The server side of one case: the handshake, then the case's play and verdict."""

    def __init__(self, server: "ConformanceServer") -> None:
        self.server = server
        self.transport: Optional[asyncio.Transport] = None
        self.head = bytearray()
        self.upgraded = False
        self.parser = ClientFrameParser()
        self.seen = Observed()
        self.changed = asyncio.Event()
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.started = time.monotonic()
        self.case = None
        self.client_key = ""
        self.timeouts = server.timeouts

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.upgraded:
            self._client_bytes(data)
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > 16384:
                self._reject("request head longer than 16 KiB")
            return
        rest = bytes(self.head[end + 4:])
        self._handshake(bytes(self.head[:end]).decode("latin-1"))
        if self.upgraded and rest:
            self._client_bytes(rest)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.seen.tcp_closed is None:
            self.seen.tcp_closed = "eof" if exc is None else f"reset ({exc})"
            self._note(f"TCP {self.seen.tcp_closed}")
        self.can_write.set()
        self.changed.set()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    # Handshake

    def _reject(self, why: str, case_id: Optional[str] = None) -> None:
        body = why.encode()
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%s" % (len(body), body))
        self.transport.close()
        self.server.handshake_failed(case_id, why)

    def _handshake(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1":
            self._reject(f"bad request line {lines[0]!r}")
            return
        url = urllib.parse.urlsplit(parts[1])
        query = urllib.parse.parse_qs(url.query)
        case = self.server.lookup(query.get("case", [""])[0]) if url.path == "/runCase" else None
        if case is None:
            self._reject(f"no such case: {parts[1]}")
            return
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._reject(f"malformed header line {line!r}", case.id)
                return
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key", "")
        problems = []
        if "host" not in headers:
            problems.append("no Host header")
        if headers.get("upgrade", "").lower() != "websocket":
            problems.append("Upgrade is not websocket")
        if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
            problems.append("Connection lacks upgrade")
        if headers.get("sec-websocket-version") != "13":
            problems.append("Sec-WebSocket-Version is not 13")
        try:
            if len(base64.b64decode(key, validate=True)) != 16:
                problems.append("Sec-WebSocket-Key is not 16 bytes")
        except binascii.Error:
            problems.append("Sec-WebSocket-Key is not base64")
        if problems:
            self._reject("bad opening handshake: " + "; ".join(problems), case.id)
            return
        self.client_key = key
        if not case.manual_upgrade:
            self.transport.write(upgrade_response(key))
        self.upgraded = True
        self.case = case
        self.offered_extensions = headers.get("sec-websocket-extensions")
        self.server.case_started(self, case)

    # What the client sends

    def _client_bytes(self, data: bytes) -> None:
        for event in self.parser.feed(data):
            kind = event[0]
            if kind == "message":
                self.seen.messages.append((event[1], event[2]))
                self._note(f"client {OPCODE_NAMES[event[1]]} {describe_payload(event[2])}")
            elif kind == "ping":
                self.seen.pings.append(event[1])
                self._note(f"client ping {describe_payload(event[1])}")
            elif kind == "pong":
                self.seen.pongs.append(event[1])
                self._note(f"client pong {describe_payload(event[1])}")
            elif kind == "close":
                self.seen.client_close = (event[1], event[2])
                self.seen.client_close_first = not self.seen.server_close_sent
                self._note(f"client close {event[1]}")
            else:
                self.seen.violations.append(event[1])
                self._note(f"violation: {event[1]}")
        self.changed.set()

    def _note(self, text: str) -> None:
        self.seen.events.append((time.monotonic() - self.started, text))

    # The API cases play with

    @property
    def client_ended(self) -> bool:
        """The client sent its close frame, dropped TCP or broke the protocol."""
        s = self.seen
        return s.client_close is not None or s.tcp_closed is not None or bool(s.violations)

    async def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            if condition():
                return True
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                return condition()
        return True

    async def send(self, data: bytes, chop: Optional[int] = None, pause: float = 0.0) -> None:
        """Writes bytes, optionally in chops of `chop` bytes with `pause` seconds between
        (so they reach the client in separate reads). Raises ClientGone once TCP is down."""
        step = chop or max(len(data), 1)
        for i in range(0, max(len(data), 1), step):
            if self.transport.is_closing() or self.seen.tcp_closed is not None:
                raise ClientGone()
            self.transport.write(data[i:i + step])
            await self.can_write.wait()
            if pause:
                await asyncio.sleep(pause)
            elif chop:
                await asyncio.sleep(0)

    async def frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
                    length: Optional[int] = None, chop: Optional[int] = None,
                    pause: float = 0.0) -> None:
        await self.send(encode_frame(opcode, payload, fin=fin, rsv=rsv, length=length), chop, pause)

    async def message(self, opcode: int, payload: bytes, *, fragment: Optional[int] = None,
                      chop: Optional[int] = None, pause: float = 0.0) -> None:
        """One message, unfragmented or in frames of `fragment` bytes."""
        if not fragment or len(payload) <= fragment:
            await self.frame(opcode, payload, chop=chop, pause=pause)
            return
        pieces = [payload[i:i + fragment] for i in range(0, len(payload), fragment)]
        wire = b"".join(encode_frame(opcode if i == 0 else CONT, p, fin=i == len(pieces) - 1)
                        for i, p in enumerate(pieces))
        await self.send(wire, chop, pause)

    async def close(self, code: Optional[int] = None, reason: bytes = b"", **kw) -> None:
        self.seen.server_close_sent = True
        self._note(f"server close {code}")
        await self.frame(CLOSE, close_payload(code, reason), **kw)

    async def wait_pongs(self, count: int) -> bool:
        """Waits until `count` pongs arrived (a sync point inside a case)."""
        return await self.wait_until(lambda: len(self.seen.pongs) >= count or self.client_ended,
                                     self.timeouts["echo"])

    async def wait_messages(self, count: int) -> bool:
        return await self.wait_until(lambda: len(self.seen.messages) >= count or self.client_ended,
                                     self.timeouts["echo"])

    async def fail_fast_point(self) -> bool:
        """The bytes that make the message invalid were sent; the rest is held back. True if
        the client failed the connection in time (the case stops there). Otherwise the case
        goes on and sends the rest, and the verdict is at best NON-STRICT."""
        if await self.wait_until(lambda: self.client_ended, self.timeouts["hold"]):
            return True
        self.seen.held_back_sent = True
        self._note("fail-fast hold expired; sending the rest")
        return False

    def finish(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


# MARK: - Verdicts


@dataclass
class Verdict:
    verdict: str
    detail: str
    client_close: Optional[tuple] = None
    tcp: Optional[str] = None
    seconds: float = 0.0
    events: list = field(default_factory=list)   # (seconds, text) as seen by the server


def _describe_messages(messages: list) -> str:
    if not messages:
        return "none"
    shown = ", ".join(f"{OPCODE_NAMES[o]} {describe_payload(p)}" for o, p in messages[:4])
    return shown + (f" ... ({len(messages)} in all)" if len(messages) > 4 else "")


def compare_messages(expected: list, got: list) -> Optional[str]:
    """None when equal, else what differs."""
    for i, (want, have) in enumerate(zip(expected, got)):
        if want[0] != have[0]:
            return (f"echo {i + 1}: expected {OPCODE_NAMES[want[0]]}, got "
                    f"{OPCODE_NAMES[have[0]]}")
        if want[1] != have[1]:
            if len(want[1]) != len(have[1]):
                return f"echo {i + 1}: expected {len(want[1])} bytes, got {len(have[1])}"
            at = next(k for k in range(len(want[1])) if want[1][k] != have[1][k])
            return f"echo {i + 1}: payload differs at byte {at}"
    if len(got) != len(expected):
        return (f"expected {len(expected)} echo(es) ({_describe_messages(expected)}), got "
                f"{len(got)} ({_describe_messages(got)})")
    return None


def _code_text(close: Optional[tuple]) -> str:
    if close is None:
        return "no close frame"
    code, reason = close
    text = "close without a code" if code is None else f"close {code}"
    if reason:
        text += f" '{reason.decode('utf-8', 'replace')[:40]}'"
    return text


class Expectation:
    """Turns what the client did into a verdict; may still talk to the client first."""

    informational = False

    async def judge(self, c: CaseConnection) -> tuple[str, str]:
        raise NotImplementedError


def _size_allowance(messages: list) -> float:
    """Extra seconds for big echoes (debug builds on loaded machines are slow)."""
    return sum(len(p) for _, p in messages) / (1 << 20) * 2.0


@dataclass
class Echo(Expectation):
    """The connection stays up: the client echoes `messages` and answers with `pongs`; then
    the server closes with `close_code` and the client must answer the close."""
    messages: list = field(default_factory=list)
    pongs: list = field(default_factory=list)
    close_code: int = 1000
    # 2.10/2.11: answering only the latest of several pings is allowed (NON-STRICT).
    pongs_latest_only_ok: bool = False

    async def judge(self, c: CaseConnection) -> tuple[str, str]:
        s = c.seen
        await c.wait_until(lambda: (len(s.messages) >= len(self.messages)
                                    and len(s.pongs) >= len(self.pongs)) or c.client_ended,
                           c.timeouts["echo"] + _size_allowance(self.messages))
        if s.violations:
            return FAILED, s.violations[0]
        if c.client_ended:
            what = _code_text(s.client_close) if s.client_close else f"TCP {s.tcp_closed}"
            return FAILED, (f"client ended the connection ({what}); echoes "
                            f"{_describe_messages(s.messages)}")
        try:
            await c.close(self.close_code)
        except ClientGone:
            pass
        await c.wait_until(lambda: c.client_ended, c.timeouts["close"])
        if s.violations:
            return FAILED, s.violations[0]
        wrong = compare_messages(self.messages, s.messages)
        if wrong:
            return FAILED, wrong
        pong_note = ""
        if s.pongs != self.pongs:
            latest = self.pongs[-1:] if self.pongs else []
            if (self.pongs_latest_only_ok and s.pongs and s.pongs[-1:] == latest
                    and all(p in self.pongs for p in s.pongs)):
                pong_note = f"answered {len(s.pongs)} of {len(self.pongs)} pings"
            else:
                return FAILED, (f"expected pongs {[describe_payload(p) for p in self.pongs]}, "
                                f"got {[describe_payload(p) for p in s.pongs]}")
        if s.client_close is None:
            if s.tcp_closed is None:
                return FAILED, "client did not answer the server's close"
            return FAILED, f"client dropped TCP ({s.tcp_closed}) instead of answering the close"
        code = s.client_close[0]
        if code in (1000, self.close_code):
            if pong_note:
                return NON_STRICT, pong_note
            pongs = f", {len(s.pongs)} pong(s)" if s.pongs else ""
            return OK, (f"echoed {_describe_messages(s.messages)}{pongs}; "
                        f"{_code_text(s.client_close)}")
        if code is None:
            return NON_STRICT, "client answered the close without a code"
        return FAILED, f"client answered the close with {_code_text(s.client_close)}"


@dataclass
class Fail(Expectation):
    """The client must fail the connection: close frame with one of `codes` (OK), one of
    `non_strict_codes` or a TCP drop (NON-STRICT). Before that it echoes `messages` and
    answers with `pongs`, and nothing else."""
    codes: tuple = (1002,)
    non_strict_codes: tuple = ()
    messages: list = field(default_factory=list)
    pongs: list = field(default_factory=list)

    async def judge(self, c: CaseConnection) -> tuple[str, str]:
        s = c.seen
        await c.wait_until(lambda: c.client_ended, c.timeouts["close"])
        if s.violations:
            return FAILED, s.violations[0]
        if not c.client_ended:
            return FAILED, (f"client did not fail the connection (echoes "
                            f"{_describe_messages(s.messages)})")
        if s.client_close is not None and s.tcp_closed is None:
            # Like Autobahn's server: answer the client's close, then close TCP.
            try:
                await c.close(s.client_close[0])
            except ClientGone:
                pass
        wrong = compare_messages(self.messages, s.messages)
        if wrong:
            return FAILED, wrong
        if s.pongs != self.pongs:
            return FAILED, (f"expected pongs {[describe_payload(p) for p in self.pongs]}, "
                            f"got {[describe_payload(p) for p in s.pongs]}")
        late = " after the rest of the message (not fail-fast)" if s.held_back_sent else ""
        if s.client_close is None:
            return NON_STRICT, f"client dropped TCP without a close frame{late}"
        code = s.client_close[0]
        if code in self.codes:
            if late:
                return NON_STRICT, f"{_code_text(s.client_close)}, but only{late}"
            return OK, _code_text(s.client_close)
        if code in self.non_strict_codes:
            return NON_STRICT, f"{_code_text(s.client_close)}{late}; expected {self.codes[0]}"
        return FAILED, f"{_code_text(s.client_close)}; expected {self.codes[0]}"


@dataclass
class CloseReply(Expectation):
    """The case itself sent a close frame: the client must answer it with one of `codes`
    (None: an empty close). `drop` is the verdict when it drops TCP instead. The echoes before
    the close must be `messages`; with `messages_may_be_cut`, a prefix of them (the close was
    processed first) is INFORMATIONAL."""
    codes: tuple = (1000,)
    non_strict_codes: tuple = ()
    drop: str = FAILED
    messages: list = field(default_factory=list)
    messages_may_be_cut: bool = False
    informational: bool = False

    async def judge(self, c: CaseConnection) -> tuple[str, str]:
        s = c.seen
        await c.wait_until(lambda: c.client_ended, c.timeouts["close"]
                           + _size_allowance(self.messages))
        if s.violations:
            return FAILED, s.violations[0]
        if not c.client_ended:
            return FAILED, "client did not answer the server's close"
        note = ""
        wrong = compare_messages(self.messages, s.messages)
        if wrong:
            cut = (self.messages_may_be_cut and len(s.messages) < len(self.messages)
                   and compare_messages(self.messages[:len(s.messages)], s.messages) is None)
            if not cut:
                return FAILED, wrong
            note = f"; {len(s.messages)} of {len(self.messages)} echoes came before the close"
        if s.client_close is None:
            return self.drop, f"client dropped TCP ({s.tcp_closed}) without a close frame{note}"
        code = s.client_close[0]
        verdict = INFORMATIONAL if note else OK
        if code in self.codes:
            return verdict, _code_text(s.client_close) + note
        if code in self.non_strict_codes:
            return NON_STRICT, f"{_code_text(s.client_close)}; expected {self.codes[0]}{note}"
        return FAILED, f"{_code_text(s.client_close)}; expected {self.codes[0]}{note}"


@dataclass
class Reject(Expectation):
    """The server's upgrade response is wrong: the client must fail the connection by
    closing TCP, without sending a frame (the connection never became a WebSocket). The case
    also sends a text message, which a client that wrongly accepted would echo."""

    async def judge(self, c: CaseConnection) -> tuple[str, str]:
        s = c.seen
        await c.wait_until(lambda: s.tcp_closed is not None or bool(s.messages)
                           or c.client_ended, c.timeouts["close"])
        if s.messages:
            return FAILED, "client accepted the upgrade response and echoed a message"
        if s.violations:
            return FAILED, s.violations[0]
        if s.client_close is not None:
            return NON_STRICT, (f"client sent a close frame ({_code_text(s.client_close)}) on a "
                                "connection that never opened")
        if s.tcp_closed is None:
            return FAILED, "client kept the connection open"
        return OK, "client closed TCP without a frame"


# MARK: - The server


class ConformanceServer:
    """Listens on 127.0.0.1; `result(case_id)` resolves with the case's Verdict once the
    client's connection for it has been judged."""

    def __init__(self, cases: list, timeouts: Optional[dict] = None) -> None:
        self.cases = cases
        self.by_id = {c.id: c for c in cases}
        self.timeouts = dict(DEFAULT_TIMEOUTS, **(timeouts or {}))
        self.results: dict[str, asyncio.Future] = {}
        self.tasks: set = set()
        self.server: Optional[asyncio.AbstractServer] = None
        self.port = 0
        self.on_verdict: Optional[Callable[[str, Verdict], None]] = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: CaseConnection(self), host, port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self.tasks):
            task.cancel()

    def url(self, case_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/runCase?case={case_id}"

    def lookup(self, key: str):
        if key.isdigit() and 1 <= int(key) <= len(self.cases):
            return self.cases[int(key) - 1]
        return self.by_id.get(key)

    def result(self, case_id: str) -> asyncio.Future:
        if case_id not in self.results:
            self.results[case_id] = asyncio.get_running_loop().create_future()
        return self.results[case_id]

    def _resolve(self, case_id: str, verdict: Verdict) -> None:
        future = self.result(case_id)
        if not future.done():
            future.set_result(verdict)
            if self.on_verdict:
                self.on_verdict(case_id, verdict)

    def handshake_failed(self, case_id: Optional[str], why: str) -> None:
        if case_id is not None:
            self._resolve(case_id, Verdict(FAILED, why))

    def case_started(self, conn: CaseConnection, case) -> None:
        task = asyncio.get_running_loop().create_task(self._run(conn, case))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, conn: CaseConnection, case) -> None:
        try:
            try:
                await case.play(conn)
            except ClientGone:
                conn._note("client gone while the case was sending")
            verdict, detail = await case.expect.judge(conn)
            if getattr(case.expect, "informational", False) and verdict != FAILED:
                detail = f"{verdict}: {detail}"
                verdict = INFORMATIONAL
        except Exception as error:  # a bug in a case must not hang the run
            verdict, detail = FAILED, f"server error: {error!r}"
        finally:
            conn.finish()
        self._resolve(case.id, Verdict(verdict, detail, conn.seen.client_close,
                                       conn.seen.tcp_closed, time.monotonic() - conn.started,
                                       conn.seen.events))


async def _serve_forever(port: int) -> None:
    from cases import CASES  # noqa: E402 (standalone use only)
    server = ConformanceServer(CASES)
    server.on_verdict = lambda case_id, v: print(f"{case_id:10} {v.verdict:13} {v.detail}",
                                                 flush=True)
    await server.start(port=port)
    print(f"serving {len(CASES)} cases on ws://127.0.0.1:{server.port}/runCase?case=ID",
          flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    try:
        asyncio.run(_serve_forever(args.port))
    except KeyboardInterrupt:
        pass
