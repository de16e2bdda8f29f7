# SPDX-License-Identifier: Apache-2.0
"""The conformance cases, numbered and grouped like the Autobahn|Testsuite's client cases.

Each case is a `play` coroutine (what the server sends, given a server.CaseConnection) and
an expectation (server.Echo, server.Fail, server.CloseReply) that judges what the echo client
did. Cases marked local=True are ours, not Autobahn's (they extend a group: close codes the
suite does not list, UTF-8 split across fragments, our 16 MiB message limit); the report
marks them with "*". UNIMPLEMENTED lists the Autobahn groups we deliberately do not run.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Awaitable, Callable

from server import (BINARY, CLOSE, CONT, PING, PONG, TEXT, CloseReply, Echo, Expectation, Fail,
                    Reject, close_payload, encode_frame, upgrade_response)

# Pauses that make chops and frames arrive in separate reads at the client.
CHOP_PAUSE = 0.001
FRAME_PAUSE = 0.02

# The echo client's message limit: WebSocketClient.Options.maxMessageSize (16 MiB), which is
# also the library's default (ClientOptions.maxMessageBytes).
MAX_MESSAGE = 16 << 20


@dataclass
class Case:
    id: str
    description: str
    play: Callable[..., Awaitable[None]]
    expect: Expectation
    local: bool = False
    heavy: bool = False  # megabytes of payload: the runner gives it the machine to itself
    manual_upgrade: bool = False  # the play writes the upgrade response itself


CASES: list[Case] = []


def add(case_id: str, description: str, play, expect: Expectation, *, local: bool = False,
        heavy: bool = False, manual_upgrade: bool = False) -> None:
    CASES.append(Case(case_id, description, play, expect, local, heavy, manual_upgrade))


def frames(*specs) -> bytes:
    """Wire bytes of several frames: each spec is (opcode, payload[, fin[, rsv]])."""
    out = b""
    for spec in specs:
        opcode, payload = spec[0], spec[1]
        fin = spec[2] if len(spec) > 2 else True
        rsv = spec[3] if len(spec) > 3 else 0
        out += encode_frame(opcode, payload, fin=fin, rsv=rsv)
    return out


async def send_frames(s, specs, mode: str = "together") -> None:
    """Sends frames in one write ("together"), one write each with a pause ("frames") or
    byte by byte ("octets")."""
    if mode == "together":
        await s.send(frames(*specs))
    elif mode == "frames":
        for spec in specs:
            await s.send(frames(spec), pause=FRAME_PAUSE)
    else:
        await s.send(frames(*specs), chop=1, pause=CHOP_PAUSE)


HELLO = b"Hello, world!"


# MARK: - 0 Opening handshake (local: Autobahn has no client handshake cases)

def answer(**broken):
    """A play that writes the upgrade response (broken as asked) and a text message in one
    write: the frame arrives with the response head, or is echoed by a client that wrongly
    accepts the response."""
    async def play(s):
        await s.send(upgrade_response(s.client_key, **broken) + encode_frame(TEXT, HELLO))
    return play


async def upgrade_in_chops(s) -> None:
    await s.send(upgrade_response(s.client_key), chop=1, pause=CHOP_PAUSE)
    await s.frame(TEXT, HELLO)


def handshake_case(case_id: str, description: str, play, expect: Expectation) -> None:
    add(case_id, description, play, expect, local=True, manual_upgrade=True)


handshake_case("0.1", "101 response and a text frame in the same write", answer(),
               Echo([(TEXT, b"Hello, world!")]))
handshake_case("0.2", "101 response head in octet-wise chops", upgrade_in_chops,
               Echo([(TEXT, b"Hello, world!")]))
handshake_case("0.3", "101 response with 'Upgrade: WebSocket' and 'Connection: keep-alive, "
               "Upgrade' (tokens are case-insensitive)",
               lambda s: s.send(upgrade_response(s.client_key, upgrade="WebSocket").replace(
                   b"Connection: Upgrade", b"Connection: keep-alive, Upgrade")
                   + encode_frame(TEXT, b"Hello, world!")),
               Echo([(TEXT, b"Hello, world!")]))
handshake_case("0.4", "wrong Sec-WebSocket-Accept",
               answer(accept="dGhlIHNhbXBsZSBub25jZQ=="), Reject())
handshake_case("0.5", "status 200 instead of 101", answer(status="200 OK"), Reject())
handshake_case("0.6", "101 response without an Upgrade header", answer(upgrade=None), Reject())
handshake_case("0.7", "101 response selects an extension the client did not offer",
               answer(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"), Reject())
handshake_case("0.8", "101 response selects a subprotocol the client did not request",
               answer(extra="Sec-WebSocket-Protocol: chat\r\n"), Reject())


# MARK: - 1 Framing

for group, opcode, fill in (("1.1", TEXT, b"*"), ("1.2", BINARY, b"\xfe")):
    kind = "text" if opcode == TEXT else "binary"
    for i, n in enumerate((0, 125, 126, 127, 128, 65535, 65536), 1):
        payload = fill * n
        add(f"{group}.{i}", f"{kind} message, payload length {n}",
            lambda s, o=opcode, p=payload: s.frame(o, p), Echo([(opcode, payload)]))
    payload = fill * 65536
    add(f"{group}.8", f"{kind} message, payload length 65536, sent in chops of 997 octets",
        lambda s, o=opcode, p=payload: s.frame(o, p, chop=997, pause=CHOP_PAUSE),
        Echo([(opcode, payload)]))


add("1.3.1", "masked text frame from the server (only clients mask)",
    lambda s: s.send(encode_frame(TEXT, HELLO, mask=b"\x37\xfa\x21\x3d")), Fail(), local=True)


# MARK: - 2 Pings and pongs

add("2.1", "ping without payload", lambda s: s.frame(PING), Echo(pongs=[b""]))
add("2.2", "ping with a small text payload", lambda s: s.frame(PING, HELLO), Echo(pongs=[HELLO]))
BIN8 = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
add("2.3", "ping with a small binary payload", lambda s: s.frame(PING, BIN8), Echo(pongs=[BIN8]))
add("2.4", "ping with a 125-byte binary payload (the maximum)",
    lambda s: s.frame(PING, b"\xfe" * 125), Echo(pongs=[b"\xfe" * 125]))
add("2.5", "ping with a 126-byte payload (too long for a control frame)",
    lambda s: s.frame(PING, b"\xfe" * 126), Fail())
add("2.6", "ping with a 125-byte payload, sent in octet-wise chops",
    lambda s: s.frame(PING, b"\xfe" * 125, chop=1, pause=CHOP_PAUSE), Echo(pongs=[b"\xfe" * 125]))
add("2.7", "unsolicited pong without payload (ignored)", lambda s: s.frame(PONG), Echo())
add("2.8", "unsolicited pong with payload (ignored)",
    lambda s: s.frame(PONG, b"unsolicited pong payload"), Echo())
add("2.9", "unsolicited pong, then a ping: only the ping is answered",
    lambda s: send_frames(s, [(PONG, b"unsolicited pong payload"), (PING, b"ping payload")]),
    Echo(pongs=[b"ping payload"]))
TEN_PINGS = [b"payload-%d" % i for i in range(10)]
add("2.10", "10 pings with payloads",
    lambda s: send_frames(s, [(PING, p) for p in TEN_PINGS]),
    Echo(pongs=TEN_PINGS, pongs_latest_only_ok=True))
add("2.11", "10 pings with payloads, sent in octet-wise chops",
    lambda s: send_frames(s, [(PING, p) for p in TEN_PINGS], "octets"),
    Echo(pongs=TEN_PINGS, pongs_latest_only_ok=True))


# MARK: - 3 Reserved bits

add("3.1", "text message with RSV1 set", lambda s: s.frame(TEXT, HELLO, rsv=1), Fail())
for case_id, rsv, mode in (("3.2", 2, "together"), ("3.3", 3, "frames"), ("3.4", 4, "octets")):
    how = {"together": "", "frames": ", frame by frame",
           "octets": ", in octet-wise chops"}[mode]
    add(case_id, f"echoed text, then text with RSV={rsv}, then a ping{how}",
        lambda s, r=rsv, m=mode: send_frames(s, [(TEXT, HELLO), (TEXT, HELLO, True, r),
                                                 (PING, HELLO)], m),
        Fail(messages=[(TEXT, HELLO)]))
add("3.5", "binary message with RSV=5", lambda s: s.frame(BINARY, BIN8, rsv=5), Fail())
add("3.6", "ping with RSV=6", lambda s: s.frame(PING, HELLO, rsv=6), Fail())
add("3.7", "close with RSV=7", lambda s: s.frame(CLOSE, close_payload(1000), rsv=7), Fail())


# MARK: - 4 Opcodes

for group, first, kind in (("4.1", 3, "non-control"), ("4.2", 11, "control")):
    op = first
    add(f"{group}.1", f"frame with reserved {kind} opcode {op}", lambda s, o=op: s.frame(o),
        Fail())
    op += 1
    add(f"{group}.2", f"frame with reserved {kind} opcode {op} and a payload",
        lambda s, o=op: s.frame(o, b"reserved opcode payload"), Fail())
    for i in (3, 4, 5):
        op += 1
        payload = b"" if i == 3 else b"reserved opcode payload"
        add(f"{group}.{i}", f"echoed text, then reserved {kind} opcode {op}"
            f"{' with a payload' if payload else ''}, then a ping",
            lambda s, o=op, p=payload: send_frames(s, [(TEXT, HELLO), (o, p), (PING, HELLO)]),
            Fail(messages=[(TEXT, HELLO)]))


# MARK: - 5 Fragmentation

add("5.1", "ping in 2 fragments",
    lambda s: send_frames(s, [(PING, b"fragment1", False), (CONT, b"fragment2")]), Fail())
add("5.2", "pong in 2 fragments",
    lambda s: send_frames(s, [(PONG, b"fragment1", False), (CONT, b"fragment2")]), Fail())
TWO_FRAGMENTS = [(TEXT, b"fragment1", False), (CONT, b"fragment2")]
for case_id, mode, how in (("5.3", "together", ""), ("5.4", "frames", ", frame by frame"),
                           ("5.5", "octets", ", in octet-wise chops")):
    add(case_id, f"text message in 2 fragments{how}",
        lambda s, m=mode: send_frames(s, TWO_FRAGMENTS, m),
        Echo([(TEXT, b"fragment1fragment2")]))
WITH_PING = [(TEXT, b"fragment1", False), (PING, b"ping payload"), (CONT, b"fragment2")]
for case_id, mode, how in (("5.6", "together", ""), ("5.7", "octets", ", in octet-wise chops"),
                           ("5.8", "frames", ", frame by frame")):
    add(case_id, f"text message in 2 fragments with a ping between them{how}",
        lambda s, m=mode: send_frames(s, WITH_PING, m),
        Echo([(TEXT, b"fragment1fragment2")], pongs=[b"ping payload"]))
for first, fin in (("5.9", True), ("5.12", False)):
    base = int(first.split(".")[1])
    for k, (mode, how) in enumerate((("together", ""), ("frames", ", frame by frame"),
                                     ("octets", ", in octet-wise chops"))):
        add(f"5.{base + k}", f"continuation (FIN={int(fin)}) with nothing to continue, then a "
            f"text message{how}",
            lambda s, f=fin, m=mode: send_frames(
                s, [(CONT, b"non-continuation payload", f), (TEXT, HELLO)], m),
            Fail())
add("5.15", "text in 2 fragments, then continuation FIN=0 and FIN=1 with nothing to continue",
    lambda s: send_frames(s, [(TEXT, b"fragment1", False), (CONT, b"fragment2"),
                              (CONT, b"fragment3", False), (CONT, b"fragment4")]),
    Fail(messages=[(TEXT, b"fragment1fragment2")]))
for case_id, fin in (("5.16", False), ("5.17", True)):
    add(case_id, f"twice: continuation FIN={int(fin)} with nothing to continue, text FIN=0, "
        "continuation FIN=1",
        lambda s, f=fin: send_frames(s, [(CONT, b"fragment1", f), (TEXT, b"fragment2", False),
                                         (CONT, b"fragment3")] * 2),
        Fail())
add("5.18", "text FIN=0, then a new text frame instead of a continuation",
    lambda s: send_frames(s, [(TEXT, b"fragment1", False), (TEXT, b"fragment2")]), Fail())


async def five_fragments_with_pings(s, mode: str) -> None:
    """5.19/5.20: the server waits for each pong before it goes on with the message, so the
    client must answer pings while a fragmented message is still open."""
    await send_frames(s, [(TEXT, b"fragment1", False), (CONT, b"fragment2", False),
                          (PING, b"pongme 1!")], mode)
    if not await s.wait_pongs(1) or s.client_ended:
        return
    await send_frames(s, [(CONT, b"fragment3", False), (CONT, b"fragment4", False),
                          (PING, b"pongme 2!")], mode)
    if not await s.wait_pongs(2) or s.client_ended:
        return
    await send_frames(s, [(CONT, b"fragment5")], mode)


for case_id, mode, how in (("5.19", "frames", ""), ("5.20", "octets", ", in octet-wise chops")):
    add(case_id, f"text in 5 fragments, pings after fragments 2 and 4, each pong awaited{how}",
        lambda s, m=mode: five_fragments_with_pings(s, m),
        Echo([(TEXT, b"fragment1fragment2fragment3fragment4fragment5")],
             pongs=[b"pongme 1!", b"pongme 2!"]))


# MARK: - 6 UTF-8

def utf8_fail() -> Fail:
    return Fail(codes=(1007,), non_strict_codes=(1002,))


def in_pieces(opcode: int, payload: bytes, size: int) -> list:
    pieces = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    return [(opcode if i == 0 else CONT, p, i == len(pieces) - 1) for i, p in enumerate(pieces)]


add("6.1.1", "empty text message", lambda s: s.frame(TEXT), Echo([(TEXT, b"")]))
add("6.1.2", "text message of 3 empty fragments",
    lambda s: send_frames(s, [(TEXT, b"", False), (CONT, b"", False), (CONT, b"")]),
    Echo([(TEXT, b"")]))
add("6.1.3", "text message: empty fragment, non-empty fragment, empty final fragment",
    lambda s: send_frames(s, [(TEXT, b"", False), (CONT, b"middle frame payload", False),
                              (CONT, b"")]),
    Echo([(TEXT, b"middle frame payload")]))

HELLO_UTF8 = "Hello-µ@ßöäüàá-UTF-8!!".encode()
KOSME = "κόσμε".encode()
SPLIT = len("Hello-µ@ßöä".encode())  # a code point boundary near the middle
add("6.2.1", "valid UTF-8 text in one fragment", lambda s: s.frame(TEXT, HELLO_UTF8),
    Echo([(TEXT, HELLO_UTF8)]))
add("6.2.2", "valid UTF-8 text in 2 fragments, split on a code point boundary",
    lambda s: send_frames(s, [(TEXT, HELLO_UTF8[:SPLIT], False), (CONT, HELLO_UTF8[SPLIT:])]),
    Echo([(TEXT, HELLO_UTF8)]))
add("6.2.3", "valid UTF-8 text in 1-octet fragments (splitting code points)",
    lambda s: send_frames(s, in_pieces(TEXT, HELLO_UTF8, 1)), Echo([(TEXT, HELLO_UTF8)]))
add("6.2.4", "valid UTF-8 text 'κόσμε' in 1-octet fragments",
    lambda s: send_frames(s, in_pieces(TEXT, KOSME, 1)), Echo([(TEXT, KOSME)]))

INVALID = KOSME + b"\xed\xa0\x80" + b"edited"   # a UTF-16 surrogate in the middle
add("6.3.1", "invalid UTF-8 text (a surrogate) in one fragment",
    lambda s: s.frame(TEXT, INVALID), utf8_fail())
add("6.3.2", "invalid UTF-8 text (a surrogate) in 1-octet fragments",
    lambda s: send_frames(s, in_pieces(TEXT, INVALID, 1)), utf8_fail())

# 6.4: fail fast. The bytes that make the text invalid are sent, the rest is held back until
# the client fails the connection (OK) or a hold expires (then NON-STRICT at best).
PART1, PART2, PART3 = KOSME, b"\xf4\x90\x80\x80", b"edited"   # PART2: U+110000, out of range
WHOLE = PART1 + PART2 + PART3
CUT = len(PART1) + 1   # WHOLE[CUT] (0x90) is the first byte no valid text can have there


async def fragments_held(s, parts: list) -> None:
    """Text message in fragments; the fail-fast point comes before the last one."""
    await send_frames(s, [(TEXT if i == 0 else CONT, p, False) for i, p in enumerate(parts[:-1])],
                      "frames")
    if not await s.fail_fast_point():
        await s.frame(CONT, parts[-1])


async def chops_held(s, chops: list) -> None:
    """One text frame written in chops; the fail-fast point comes before the last one."""
    wire = encode_frame(TEXT, b"".join(chops))
    end = len(wire) - sum(len(c) for c in chops)   # the first chop carries the header
    start, pieces = 0, []
    for c in chops:
        end += len(c)
        pieces.append(wire[start:end])
        start = end
    for piece in pieces[:-1]:
        await s.send(piece, pause=FRAME_PAUSE)
    if not await s.fail_fast_point():
        await s.send(pieces[-1])


add("6.4.1", "invalid text in 3 fragments: valid, invalid (U+110000), valid; fail fast",
    lambda s: fragments_held(s, [PART1, PART2, PART3]), utf8_fail())
add("6.4.2", "as 6.4.1, the 2nd fragment ends at the octet that makes the text invalid",
    lambda s: fragments_held(s, [WHOLE[:CUT], WHOLE[CUT:CUT + 1], WHOLE[CUT + 1:]]), utf8_fail())
add("6.4.3", "as 6.4.1, but 3 chops of one frame",
    lambda s: chops_held(s, [PART1, PART2, PART3]), utf8_fail())
add("6.4.4", "as 6.4.2, but 3 chops of one frame",
    lambda s: chops_held(s, [WHOLE[:CUT], WHOLE[CUT:CUT + 1], WHOLE[CUT + 1:]]), utf8_fail())
add("6.4.5", "invalid sequence split across fragments: E0 ends one, 80 (overlong) starts the "
    "next; fail fast", lambda s: fragments_held(s, [KOSME + b"\xe0", b"\x80\x80edited", b"!"]),
    utf8_fail(), local=True)
add("6.4.6", "surrogate split over 3 fragments: ED | A0 80 | rest; fail fast",
    lambda s: fragments_held(s, [KOSME + b"\xed", b"\xa0\x80", b"edited"]), utf8_fail(),
    local=True)
add("6.4.7", "text message ends inside a 3-byte sequence begun in the previous fragment",
    lambda s: send_frames(s, [(TEXT, KOSME + b"\xce\xba\xe1", False), (CONT, b"\xbd")]),
    utf8_fail(), local=True)
add("6.4.8", "valid 4-byte sequence split over 4 fragments",
    lambda s: send_frames(s, in_pieces(TEXT, b"a\xf0\x9f\x98\x80b", 1)),
    Echo([(TEXT, b"a\xf0\x9f\x98\x80b")]), local=True)


def _utf8_groups() -> list:
    """Markus Kuhn's UTF-8 decoder stress test, grouped as Autobahn's 6.5 to 6.23:
    (title, [bytes, ...]); validity is what a strict decoder says (checked below)."""
    lonely = [b"".join(bytes((b, 0x20)) for b in range(lo, hi + 1))
              for lo, hi in ((0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD))]
    missing_last = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80",
                    b"\xfc\x80\x80\x80\x80", b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf",
                    b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    surrogates = [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf",
                  b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"]
    high, low = surrogates[:4], [b"\xed\xb0\x80", b"\xed\xbf\xbf"]
    noncharacters = [b"\xef\xbf\xbe", b"\xef\xbf\xbf"]
    for lead in (0xF0, 0xF1, 0xF2, 0xF3, 0xF4):
        for second in (0x8F, 0x9F, 0xAF, 0xBF):
            if lead == 0xF4 and second != 0x8F:
                continue  # beyond U+10FFFF
            for last in (0xBE, 0xBF):
                noncharacters.append(bytes((lead, second, 0xBF, last)))
    return [
        ("valid UTF-8 text", [b"hello\x24world", b"hello\xc2\xa2world",
                              b"hello\xe2\x82\xacworld", b"hello\xf0\xa4\xad\xa2world", KOSME]),
        ("every prefix of 'κόσμε'", [KOSME[:i] for i in range(1, len(KOSME) + 1)]),
        ("first sequence of each length", [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80",
                                           b"\xf0\x90\x80\x80"]),
        ("first 5- and 6-byte sequences", [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"]),
        ("last sequence of each length", [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf",
                                          b"\xf4\x8f\xbf\xbf"]),
        ("last 4-, 5- and 6-byte sequences", [b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf",
                                              b"\xfd\xbf\xbf\xbf\xbf\xbf"]),
        ("other boundaries", [b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbd",
                              b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80"]),
        ("unexpected continuation bytes", [b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80",
                                           b"\x80\xbf\x80\xbf", b"\x80\xbf\x80\xbf\x80",
                                           b"\x80\xbf\x80\xbf\x80\xbf",
                                           bytes(range(0x80, 0xC0))]),
        ("lonely start bytes", lonely),
        ("sequences missing their last continuation byte", missing_last),
        ("concatenated incomplete sequences", [b"".join(missing_last)]),
        ("impossible bytes", [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"]),
        ("overlong '/'", [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
                          b"\xf8\x80\x80\x80\xaf", b"\xfc\x80\x80\x80\x80\xaf"]),
        ("maximum overlong sequences", [b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf",
                                        b"\xf8\x87\xbf\xbf\xbf", b"\xfc\x83\xbf\xbf\xbf\xbf"]),
        ("overlong NUL", [b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
                          b"\xf8\x80\x80\x80\x80", b"\xfc\x80\x80\x80\x80\x80"]),
        ("single UTF-16 surrogates", surrogates),
        ("paired UTF-16 surrogates", [h + l for h in high for l in low]),
        ("non-characters (valid UTF-8)", noncharacters),
        ("Unicode specials (valid UTF-8)", [bytes((0xEF, 0xBF, b)) for b in range(0xB9, 0xC0)]),
    ]


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


UTF8_GROUP_TITLES: dict[str, str] = {}
for g, (title, sequences) in enumerate(_utf8_groups(), 5):
    UTF8_GROUP_TITLES[f"6.{g}"] = title
    for j, seq in enumerate(sequences, 1):
        shown = seq.hex() if len(seq) <= 12 else f"{seq[:8].hex()}... ({len(seq)} bytes)"
        if _is_utf8(seq):
            add(f"6.{g}.{j}", f"{title}: valid 0x{shown}", lambda s, p=seq: s.frame(TEXT, p),
                Echo([(TEXT, seq)]))
        else:
            add(f"6.{g}.{j}", f"{title}: invalid 0x{shown}", lambda s, p=seq: s.frame(TEXT, p),
                utf8_fail())


# MARK: - 7 Close handling

add("7.1.1", "echoed text message, then a normal close",
    lambda s: s.frame(TEXT, b"Hello World!"), Echo([(TEXT, b"Hello World!")]))
add("7.1.2", "two close frames: answered once",
    lambda s: send_frames(s, [(CLOSE, close_payload(1000)), (CLOSE, close_payload(1000))]),
    CloseReply())
add("7.1.3", "close, then a ping (ignored)",
    lambda s: send_frames(s, [(CLOSE, close_payload(1000)), (PING, HELLO)]), CloseReply())
add("7.1.4", "close, then a text message (ignored)",
    lambda s: send_frames(s, [(CLOSE, close_payload(1000)), (TEXT, HELLO)]), CloseReply())
add("7.1.5", "text fragment, close, final fragment (ignored)",
    lambda s: send_frames(s, [(TEXT, b"fragment1", False), (CLOSE, close_payload(1000)),
                              (CONT, b"fragment2")]), CloseReply())
BIG = (b"BAsd7&jh23" * 26215)[:256 << 10]
add("7.1.6", "256 KiB text message, a small one, close, ping (echoes may be cut by the close)",
    lambda s: send_frames(s, [(TEXT, BIG), (TEXT, b"Hello World!"),
                              (CLOSE, close_payload(1000)), (PING, b"")]),
    CloseReply(messages=[(TEXT, BIG), (TEXT, b"Hello World!")], messages_may_be_cut=True))


def server_close(code=None, reason: bytes = b"", payload=None):
    async def play(s):
        s.seen.server_close_sent = True
        await s.frame(CLOSE, close_payload(code, reason) if payload is None else payload)
    return play


add("7.3.1", "close with an empty payload", server_close(), CloseReply(codes=(1000, None)))
add("7.3.2", "close with a 1-byte payload", server_close(payload=b"\x03"),
    CloseReply(codes=(1002,), drop="NON-STRICT"))
add("7.3.3", "close with code 1000 and no reason", server_close(1000), CloseReply())
add("7.3.4", "close with code 1000 and a reason", server_close(1000, b"Hello World!"),
    CloseReply())
add("7.3.5", "close with code 1000 and a 123-byte reason (125-byte payload)",
    server_close(1000, b"*" * 123), CloseReply())
add("7.3.6", "close with code 1000 and a 124-byte reason (126-byte payload: too long)",
    server_close(1000, b"*" * 124), CloseReply(codes=(1002,), drop="NON-STRICT"))
add("7.3.7", "close with code 1000 and a reason, in octet-wise chops",
    lambda s: s.close(1000, b"Hello World!", chop=1, pause=CHOP_PAUSE), CloseReply(), local=True)
add("7.5.1", "close with a reason that is not UTF-8",
    server_close(1000, INVALID), CloseReply(codes=(1007,), non_strict_codes=(1002,),
                                            drop="NON-STRICT"))
VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
LOCAL_VALID_CODES = [1012, 1013, 1014]
for i, code in enumerate(VALID_CODES + LOCAL_VALID_CODES, 1):
    add(f"7.7.{i}", f"close with valid code {code}", server_close(code),
        CloseReply(codes=(code, 1000)), local=code in LOCAL_VALID_CODES)
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]
LOCAL_INVALID_CODES = [1015]
for i, code in enumerate(INVALID_CODES + LOCAL_INVALID_CODES, 1):
    add(f"7.9.{i}", f"close with invalid code {code}", server_close(code),
        CloseReply(codes=(1002,), drop="NON-STRICT"), local=code in LOCAL_INVALID_CODES)
for i, code in enumerate((5000, 65535), 1):
    add(f"7.13.{i}", f"close with code {code} (outside every range the RFC defines)",
        server_close(code), CloseReply(codes=(1000, code, 1002), drop="NON-STRICT",
                                       informational=True))


# MARK: - 9 Limits (a selection of Autobahn's 9.x sizes; no timing is judged)

def pattern(n: int) -> bytes:
    return (b"BAsd7&jh23" * (n // 10 + 1))[:n]


KIB, MIB = 1 << 10, 1 << 20
for group, opcode in (("9.1", TEXT), ("9.2", BINARY)):
    kind = "text" if opcode == TEXT else "binary"
    for k, n, label in ((1, 64 * KIB, "64 KiB"), (3, MIB, "1 MiB"), (6, 16 * MIB, "16 MiB")):
        payload = pattern(n) if opcode == TEXT else b"\xfe" * n
        add(f"{group}.{k}", f"{kind} message of {label}" + (" (the client's limit)"
                                                              if n == MAX_MESSAGE else ""),
            lambda s, o=opcode, p=payload: s.frame(o, p), Echo([(opcode, payload)]),
            heavy=n >= 4 * MIB)
for group, opcode in (("9.3", TEXT), ("9.4", BINARY)):
    kind = "text" if opcode == TEXT else "binary"
    payload = pattern(4 * MIB) if opcode == TEXT else b"\xfe" * (4 * MIB)
    for k, size, label in ((1, 64, "64 B"), (4, 4 * KIB, "4 KiB"), (8, MIB, "1 MiB")):
        add(f"{group}.{k}", f"4 MiB {kind} message in fragments of {label}",
            lambda s, o=opcode, p=payload, f=size: s.message(o, p, fragment=f),
            Echo([(opcode, payload)]), heavy=True)
for group, opcode in (("9.5", TEXT), ("9.6", BINARY)):
    kind = "text" if opcode == TEXT else "binary"
    payload = pattern(MIB) if opcode == TEXT else b"\xfe" * MIB
    add(f"{group}.1", f"1 MiB {kind} message written in chops of 64 octets",
        lambda s, o=opcode, p=payload: s.frame(o, p, chop=64), Echo([(opcode, payload)]))


async def round_trips(s, opcode: int, payload: bytes, count: int) -> None:
    """One message at a time, each echo awaited before the next is sent."""
    for i in range(count):
        await s.frame(opcode, payload)
        if not await s.wait_messages(i + 1) or s.client_ended:
            return


for group, opcode in (("9.7", TEXT), ("9.8", BINARY)):
    kind = "text" if opcode == TEXT else "binary"
    for k, n, label in ((2, 16, "16 B"), (6, 4 * KIB, "4 KiB")):
        payload = pattern(n) if opcode == TEXT else b"\xfe" * n
        add(f"{group}.{k}", f"1000 {kind} messages of {label}, one round trip each",
            lambda s, o=opcode, p=payload: round_trips(s, o, p, 1000),
            Echo([(opcode, payload)] * 1000))


async def oversized_frame(s) -> None:
    n = MAX_MESSAGE + 1
    await s.send(encode_frame(TEXT, b"", length=n) + pattern(KIB))
    if not await s.fail_fast_point():
        await s.send(pattern(n)[KIB:])


async def oversized_fragments(s) -> None:
    chunk = b"\xfe" * MIB
    await s.send(b"".join(encode_frame(BINARY if i == 0 else CONT, chunk, fin=False)
                          for i in range(MAX_MESSAGE // MIB)))
    await s.send(encode_frame(CONT, b"", length=1))
    if not await s.fail_fast_point():
        await s.send(b"\xfe")


add("9.9.1", "text frame declaring 16 MiB + 1 bytes: 1009 from the header, before the payload",
    oversized_frame, Fail(codes=(1009,), non_strict_codes=(1008,)), local=True, heavy=True)
add("9.9.2", "binary message in 1 MiB fragments whose total passes 16 MiB by one byte: 1009",
    oversized_fragments, Fail(codes=(1009,), non_strict_codes=(1008,)), local=True, heavy=True)
add("9.9.3", "frame with a 64-bit payload length whose most significant bit is set",
    lambda s: s.send(bytes((0x81, 127)) + struct.pack(">Q", (1 << 63) | 5) + b"hello"),
    Fail(codes=(1002,), non_strict_codes=(1009,)), local=True)


# MARK: - Not run

UNIMPLEMENTED = [
    ("10.1.1", "65536-byte text message echoed in auto-fragmented 1300-byte frames",
     "the client never fragments what it sends (it has no auto-fragmentation setting); "
     "the 65536-byte echo itself is case 1.1.7"),
    ("12.*", "permessage-deflate (RFC 7692): compressed messages of various sizes",
     "no extension is negotiated: the client offers none, and fails the connection when a "
     "server answers with Sec-WebSocket-Extensions"),
    ("13.*", "permessage-deflate parameters (no_context_takeover, max_window_bits)",
     "as 12.*: no extension is negotiated"),
]


def _check_table() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"


_check_table()
