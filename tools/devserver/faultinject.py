# SPDX-License-Identifier: Apache-2.0
"""Fault injection: misbehaviour on demand, per conversation, for client robustness tests.

A fault is chosen per session by the authorize request's metadata
(`{"devserver_fault": ...}`) or, for sessions that do not name one, by `--fault` on the
command line. Each fault belongs to one stage of a connection:

  authorize   the authorize_session / authorize POST
  upgrade     the WebSocket upgrade request (a valid key was presented)
  session     an open WebSocket
  packets     the downlink packets of an Opus profile socket (doc/opus-profile.md): loss
              and reordering, every packet of the socket, seeded; unlike a session fault,
              both may apply to one socket

and applies to the first `times` opportunities of its stage in the conversation, after
skipping `skip` of them ("the 2nd and 3rd authorize of this conversation": skip 1, times
2; `times` 0 = every opportunity from then on). Counting is per conversation: a resume
(same conversation_id) continues the counts, an authorize without a conversation_id starts
a new conversation. So `{"devserver_fault": "drop_tcp_mid_turn"}` drops the first socket
only and a client's reconnect then succeeds; a list combines faults, e.g. drop the first
socket and refuse the next two authorizes with 503:

  [{"fault": "drop_tcp_mid_turn"}, {"fault": "authorize_503", "skip": 1, "times": 2}]

See README.md ("Fault injection") for every fault and its parameters.
"""

from __future__ import annotations

import json
import random
import struct
from dataclasses import dataclass, field

STAGES = ("authorize", "upgrade", "session", "packets")

# Common parameters of every fault; values are type-checked against these defaults.
COMMON = {"times": 1, "skip": 0}
# Session faults: when they fire.
TRIGGER = {"at": "audio", "after_chunks": 2}
TRIGGER_POINTS = ("open", "ready", "audio", "replay")

MIB = 1024 * 1024


@dataclass(frozen=True)
class FaultKind:
    name: str
    stage: str
    help: str
    params: dict = field(default_factory=dict)   # name -> default (its type is checked)


def _kinds() -> dict[str, FaultKind]:
    k: list[FaultKind] = []

    def add(name: str, stage: str, help: str, **params) -> None:
        if stage == "session":
            params = {**TRIGGER, **params}
        k.append(FaultKind(name, stage, help, params))

    # authorize
    add("authorize_status", "authorize", "answer `status` with {\"error\": ...}",
        status=500)
    for status in (400, 401, 402, 403, 404, 408, 429, 500, 502, 503):
        add(f"authorize_{status}", "authorize", f"answer {status} with {{\"error\": ...}}",
            status=status)
    add("authorize_slow", "authorize",
        "wait `seconds`, then answer normally (beyond the client's authorize timeout)",
        seconds=15.0)
    add("authorize_bad_json", "authorize",
        "answer 200 application/json with a truncated, malformed JSON body")
    add("authorize_reset", "authorize",
        "reset TCP (RST, SO_LINGER 0) instead of answering")
    # upgrade
    add("upgrade_status", "upgrade", "refuse the upgrade: plain HTTP `status`, no 101",
        status=503)
    for status in (400, 403, 404, 429, 500, 503):
        add(f"upgrade_{status}", "upgrade", f"refuse the upgrade with HTTP {status}",
            status=status)
    add("upgrade_bad_accept", "upgrade",
        "answer 101 with a wrong Sec-WebSocket-Accept, then wait for the client to hang up")
    add("upgrade_slow", "upgrade",
        "wait `seconds` before answering the upgrade (then answer normally)",
        seconds=15.0)
    # session: transport
    add("drop_tcp_mid_turn", "session",
        "close TCP (FIN) while sending agent audio: no close frame")
    add("reset_tcp_mid_turn", "session",
        "reset TCP (RST, SO_LINGER 0) while sending agent audio: no close frame")
    # session: close codes
    add("close", "session", "close with `code` and `reason`", code=1000,
        reason="devserver fault")
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1011, 1012, 1013, 4000, 4001, 4999):
        add(f"close_{code}", "session", f"close with code {code}", code=code,
            reason=f"devserver fault close_{code}")
    # session: malformed frames
    add("garbage_frames", "session",
        "`bytes` random bytes (seeded) instead of a frame; the first has RSV1 set so the "
        "frame is invalid at once", bytes=64, seed=1)
    add("invalid_utf8", "session", "a text frame whose payload is not UTF-8")
    add("oversized_frame", "session",
        "a text frame whose header declares `bytes` (16 MiB + 1) of payload, then "
        "`payload_bytes` of it (-1: all; streamed until the client hangs up)",
        bytes=16 * MIB + 1, payload_bytes=-1)
    add("fragmented_control", "session", "a ping frame without FIN (fragmented control)")
    add("reserved_opcode", "session", "a frame with reserved opcode `opcode` (3-7, 11-15)",
        opcode=3)
    add("rsv_bits", "session", "a text frame with RSV1 set (no extension negotiated)")
    add("masked_frame", "session", "a masked server frame (servers must not mask)")
    # session: flow
    add("stall_reading", "session",
        "stop reading the socket for `seconds` (the server still sends); then read again",
        seconds=30.0, at="ready")
    add("trickle", "session",
        "send one response.data message one byte every `interval_ms`", interval_ms=100,
        at="ready")
    add("flood", "session",
        "send `bytes`-byte response.data messages (many to a write) as fast as the "
        "transport drains, for `seconds` (0: until the client hangs up), reading as usual",
        bytes=1024, seconds=0.0, at="ready")
    add("ignore_pings", "session",
        "never answer pings on this socket (a client keepalive sees a dead link)",
        at="open")
    # session: hostile (hostile.py; bench/soak_hostile.py, with flood above)
    add("ping_flood", "session",
        "ping with `bytes` (0-125) of payload every `interval_ms` (0: as fast as the client "
        "reads) for `seconds`, not reading the socket meanwhile with `stall` (the client's "
        "pongs queue up)", seconds=30.0, interval_ms=0, bytes=125, stall=True, at="ready")
    add("huge_ids", "session",
        "`count` response.audio chunks (20 ms of silence) whose turn_id and delta_id are "
        "`bytes` characters each, all different, as fast as the client reads",
        count=1000, bytes=MIB, at="ready")
    # packets (opuslink.py): the socket's downlink packets, each with probability pct
    add("opus_loss", "packets",
        "drop `pct` % of the downlink Opus packets (seeded by `seed`; logged per packet)",
        pct=5.0, seed=1)
    add("opus_reorder", "packets",
        "swap `pct` % of the downlink Opus packets with the next one (seeded by `seed`; "
        "logged per packet)", pct=5.0, seed=1)
    return {kind.name: kind for kind in k}


KINDS = _kinds()

# Session faults after which the socket is finished: the session sends nothing more.
NON_TERMINAL = ("stall_reading", "trickle", "ignore_pings", "flood", "ping_flood",
                "huge_ids")


class FaultError(ValueError):
    """A fault spec that cannot be used (-> 400 at authorize, or a CLI error)."""


@dataclass
class Fault:
    """One configured fault with its per-conversation counter."""
    kind: FaultKind
    params: dict
    times: int
    skip: int
    seen: int = 0

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def stage(self) -> str:
        return self.kind.stage

    def describe(self) -> dict:
        return {"fault": self.name, **self.params}

    def take(self) -> bool:
        """Counts one opportunity of this fault's stage; True if the fault fires."""
        self.seen += 1
        if self.seen <= self.skip:
            return False
        return self.times == 0 or self.seen <= self.skip + self.times

    def __getitem__(self, key: str):
        return self.params[key]


def _check_value(fault: str, key: str, value, default):
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise FaultError(f"fault {fault}: {key} must be a {type(default).__name__}, "
                         f"got {value!r}")
    return value


def make_fault(spec) -> Fault:
    """A Fault from "name" or {"fault": name, param: value, ...}."""
    if isinstance(spec, str):
        spec = {"fault": spec}
    if not isinstance(spec, dict):
        raise FaultError(f"a fault must be a name or an object, got {spec!r}")
    name = spec.get("fault")
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise FaultError(f"unknown fault {name!r} (known: {', '.join(sorted(KINDS))})")
    defaults = {**COMMON, **kind.params}
    values = dict(defaults)
    for key, value in spec.items():
        if key == "fault":
            continue
        if key not in defaults:
            raise FaultError(f"fault {name}: unknown parameter {key!r} "
                             f"(known: {', '.join(sorted(defaults))})")
        values[key] = _check_value(name, key, value, defaults[key])
    times, skip = values.pop("times"), values.pop("skip")
    if times < 0 or skip < 0:
        raise FaultError(f"fault {name}: times and skip must be >= 0")
    if kind.stage == "session":
        if values["at"] not in TRIGGER_POINTS:
            raise FaultError(f"fault {name}: at must be one of {', '.join(TRIGGER_POINTS)}")
        if values["after_chunks"] < 1:
            raise FaultError(f"fault {name}: after_chunks must be >= 1")
    if "status" in values and (not 100 <= values["status"] <= 599
                               or values["status"] == 101):
        raise FaultError(f"fault {name}: status must be 100-599, not 101")
    if "code" in values and not (1000 <= values["code"] <= 4999):
        raise FaultError(f"fault {name}: code must be 1000-4999")
    if "opcode" in values and values["opcode"] not in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
        raise FaultError(f"fault {name}: opcode must be reserved (3-7, 11-15)")
    if values.get("payload_bytes", -1) < -1:
        raise FaultError(f"fault {name}: payload_bytes must be >= -1")
    if kind.name == "flood" and values["bytes"] < 64:
        raise FaultError(f"fault {name}: bytes must be >= 64")
    if name == "ping_flood" and values["bytes"] > 125:
        raise FaultError(f"fault {name}: bytes must be at most 125 (a control frame)")
    if "pct" in values and not 0 <= values["pct"] <= 100:
        raise FaultError(f"fault {name}: pct must be 0-100")
    for key in ("seconds", "interval_ms", "bytes", "count"):
        if key in values and values[key] < 0:
            raise FaultError(f"fault {name}: {key} must be >= 0")
    return Fault(kind, values, times, skip)


class FaultPlan:
    """The faults of one conversation and how often each stage has come up."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = faults

    @classmethod
    def parse(cls, value) -> "FaultPlan":
        specs = value if isinstance(value, list) else [value]
        return cls([make_fault(spec) for spec in specs])

    def __bool__(self) -> bool:
        return bool(self.faults)

    def next(self, stage: str) -> Fault | None:
        """Counts one opportunity of `stage` for every fault of that stage; the first that
        fires, or None."""
        fired = None
        for fault in self.faults:
            if fault.stage == stage and fault.take() and fired is None:
                fired = fault
        return fired

    def all(self, stage: str) -> list[Fault]:
        """Counts one opportunity of `stage` for every fault of that stage; all that
        fire (the packets stage: loss and reordering may combine)."""
        return [f for f in self.faults if f.stage == stage and f.take()]


def parse_cli(text: str) -> dict:
    """--fault NAME or NAME:key=value,key=value (values as JSON, else strings)."""
    name, _, rest = text.partition(":")
    spec: dict = {"fault": name.strip()}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, raw = item.partition("=")
        if not sep:
            raise FaultError(f"--fault {text!r}: expected key=value, got {item!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        spec[key.strip()] = value
    make_fault(spec)            # validate now: a bad flag fails at startup
    return spec


def plan_for(metadata: dict, cli_specs: list[dict]) -> FaultPlan:
    """The plan for a new conversation: metadata.devserver_fault, else the --fault specs."""
    if "devserver_fault" in metadata:
        value = metadata["devserver_fault"]
        if value is None or value == []:
            return FaultPlan([])
        try:
            return FaultPlan.parse(value)
        except FaultError as exc:
            raise FaultError(f"metadata.devserver_fault: {exc}") from None
    return FaultPlan.parse(cli_specs) if cli_specs else FaultPlan([])


# ---- raw WebSocket frames (server to client: never masked) ------------------------------

def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0,
          declared: int | None = None, mask: bytes | None = None) -> bytes:
    """One server frame. `declared` overrides the payload length in the header (the
    payload is then sent separately); `mask` sets the MASK bit with that key."""
    length = len(payload) if declared is None else declared
    head = bytearray([(0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0xF)])
    mbit = 0x80 if mask is not None else 0
    if length < 126:
        head.append(mbit | length)
    elif length <= 0xFFFF:
        head.append(mbit | 126)
        head += struct.pack(">H", length)
    else:
        head.append(mbit | 127)
        head += struct.pack(">Q", length)
    if mask is not None:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes(head) + (payload if declared is None else b"")


def garbage(count: int, seed: int) -> bytes:
    """`count` seeded random bytes; the first has RSV1 set (an invalid frame header
    whatever follows, so a client fails on it at once rather than waiting for a payload
    length the random header happened to declare)."""
    data = bytearray(random.Random(seed).randbytes(max(1, count)))
    data[0] |= 0x40
    return bytes(data[:count]) if count else b""


INVALID_UTF8_TEXT = b'{"type":"response.text","content":"bad \xff\xfe utf-8","turn_id":"x"}'
