# SPDX-License-Identifier: Apache-2.0
"""One socket's Opus profile (doc/opus-profile.md): the uplink's packets back to the 8 kHz
PCM the session logic uses, and the agent's 16 kHz PCM cut into 20 ms packets per turn
with `response.audio.opus` delta marks. Used by the devserver's sessions (session.py) and
by the relay (relay.py); the downlink's loss/reorder injection (faults `opus_loss`,
`opus_reorder`) lives here too.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable

import opus

# A sequence gap longer than this is not concealed frame by frame (a client that was
# away, or a bogus sequence): at most this many frames of PLC, then the stream resumes.
MAX_CONCEALED_FRAMES = 50
SEQ_MOD = 1 << 32
# The downlink encoder: 24 kbit/s, in-band FEC on, expected loss at least 10 %. Measured
# with libopus 1.3 (SILK wideband, 20 ms): at 24 kbit/s it puts no FEC into the packets
# below about 8 % expected loss, so 5 % would leave FEC switched on but empty.
DOWNLINK_BITRATE = 24000
MIN_LOSS_PCT = 10


@dataclass
class UplinkStats:
    packets: int = 0          # decoded
    lost: int = 0             # missing sequence numbers
    concealed: int = 0        # frames filled in for them (FEC or PLC)
    fec: int = 0              # of which decoded from the next packet's in-band FEC (PLC inside libopus if it has none)
    late: int = 0             # arrived below the highest sequence seen: dropped
    bad: int = 0              # not a packet (header, size, undecodable)


class Uplink:
    """Binary uplink messages -> 8 kHz PCM16 (doc sections 3 and 5). A sequence gap is
    concealed: PLC for all but the last missing frame, which is rebuilt from the arriving
    packet's FEC. A timestamp step with consecutive sequences is a pause: nothing added."""

    def __init__(self, rate: int = 8000) -> None:
        self.decoder = opus.Decoder(rate)
        self.next_seq: int | None = None
        self.stats = UplinkStats()

    def feed(self, message: bytes) -> bytes:
        """PCM for one binary message (the concealed frames first); b"" for a late
        packet; PacketError (counted in `bad`) for a message that is not a packet."""
        try:
            seq, _ts, packet = opus.unpack(message)
        except opus.PacketError:
            self.stats.bad += 1
            raise
        gap = 0
        if self.next_seq is not None:
            ahead = (seq - self.next_seq) % SEQ_MOD
            if ahead >= SEQ_MOD // 2:
                self.stats.late += 1
                return b""
            gap = ahead
        out = bytearray()
        if gap:
            self.stats.lost += gap
            conceal = min(gap, MAX_CONCEALED_FRAMES)
            for _ in range(conceal - 1):
                out += self.decoder.decode(None)
            out += self.decoder.decode(packet, fec=True)
            self.stats.concealed += conceal
            self.stats.fec += 1
        try:
            out += self.decoder.decode(packet)
        except opus.PacketError:
            self.stats.bad += 1
            raise
        self.next_seq = (seq + 1) % SEQ_MOD
        self.stats.packets += 1
        return bytes(out)


@dataclass
class Impairment:
    """Downlink loss and reordering (faults opus_loss / opus_reorder), seeded."""
    loss_pct: float = 0.0
    reorder_pct: float = 0.0
    seed: int = 1

    @classmethod
    def from_faults(cls, faults) -> "Impairment | None":
        imp = cls()
        for fault in faults:
            if fault.name == "opus_loss":
                imp.loss_pct, imp.seed = fault["pct"], fault["seed"]
            elif fault.name == "opus_reorder":
                imp.reorder_pct = fault["pct"]
                if not any(f.name == "opus_loss" for f in faults):
                    imp.seed = fault["seed"]
        return imp if imp.loss_pct or imp.reorder_pct else None


@dataclass
class DownlinkStats:
    packets: int = 0          # sent (after injection)
    dropped: int = 0          # injected loss
    reordered: int = 0        # injected swaps
    marks: int = 0


class Downlink:
    """The agent's audio as packets (doc section 4): per turn, PCM is cut every 20 ms
    (the remainder carried across chunks), each delta's end is marked before the packet
    it ends in, and the turn's end is padded to a whole packet. `on_inject(action, seq)`
    hears every injected drop/reorder."""

    def __init__(self, impairment: Impairment | None = None,
                 on_inject: Callable[[str, int], None] | None = None) -> None:
        loss = max(MIN_LOSS_PCT, int(impairment.loss_pct)) if impairment else MIN_LOSS_PCT
        self.encoder = opus.Encoder(bitrate=DOWNLINK_BITRATE, fec=True,
                                    loss_pct=min(100, loss))
        self.seq = 0
        self.next_ts = 0
        self._clock0 = time.monotonic()
        self.turn_id: str | None = None
        self.active = False           # a turn is open (its turn_id may be None)
        self._buf = bytearray()
        self._ts0 = 0                 # timestamp of the turn's next packet
        self._marks: dict[int, list[dict]] = {}     # sequence -> marks
        self._ends = 0                # samples of the turn taken in so far
        self._turn_seq0 = 0
        self.imp = impairment
        self._rng = random.Random(impairment.seed) if impairment else None
        self._held: bytes | None = None
        self._held_seq = 0
        self.on_inject = on_inject
        self.stats = DownlinkStats()

    def begin_turn(self, turn_id: str | None) -> None:
        """A new turn: what is left of the last one (interrupted) is dropped. Its clock
        starts at the later of the socket's running time and the last packet's end."""
        self.drop_turn()
        self.turn_id = turn_id
        self.active = True
        now = int((time.monotonic() - self._clock0) * opus.RATE)
        if (now - self.next_ts) % SEQ_MOD < SEQ_MOD // 2:
            self.next_ts = now % SEQ_MOD
        self._turn_seq0 = self.seq
        self._ends = 0

    def drop_turn(self) -> None:
        """Barge-in: the turn's remainder, its pending marks and a held packet go."""
        self._buf.clear()
        self._marks.clear()
        self._held = None
        self.turn_id = None
        self.active = False

    def add(self, turn_id: str | None, delta_id: str | None, pcm16k: bytes) -> list:
        """One response.audio chunk: the items it completes, in send order (a dict is a
        JSON text message, bytes a binary one). Another turn_id begins a new turn."""
        if not self.active or turn_id != self.turn_id:
            self.begin_turn(turn_id)
        pcm16k = pcm16k[:len(pcm16k) - len(pcm16k) % 2]
        if pcm16k:
            self._ends += len(pcm16k) // 2
            if delta_id is not None:
                end_seq = (self._turn_seq0 + (self._ends - 1) // opus.FRAME_SAMPLES) \
                    % SEQ_MOD
                self._marks.setdefault(end_seq, []).append(
                    {"type": "response.audio.opus", "turn_id": turn_id,
                     "delta_id": delta_id, "sequence": end_seq})
            self._buf += pcm16k
        items: list = []
        while len(self._buf) >= opus.FRAME_BYTES:
            frame = bytes(self._buf[:opus.FRAME_BYTES])
            del self._buf[:opus.FRAME_BYTES]
            self._emit(frame, items)
        return items

    def end_turn(self) -> list:
        """response.end: the remainder padded to a whole packet, and a held packet."""
        items: list = []
        if self._buf:
            frame = bytes(self._buf) + bytes(opus.FRAME_BYTES - len(self._buf))
            self._buf.clear()
            self._emit(frame, items)
        if self._held is not None:
            items.append(self._held)
            self._held = None
        self._marks.clear()
        self.turn_id = None
        self.active = False
        return items

    def _emit(self, frame: bytes, items: list) -> None:
        seq = self.seq
        self.seq = (seq + 1) % SEQ_MOD
        ts = self.next_ts
        self.next_ts = (ts + opus.FRAME_SAMPLES) % SEQ_MOD
        for mark in self._marks.pop(seq, ()):
            items.append(mark)
            self.stats.marks += 1
        message = opus.pack(seq, ts, self.encoder.encode(frame))
        if self._rng is not None:
            roll = self._rng.random() * 100.0
            if roll < self.imp.loss_pct:
                self.stats.dropped += 1
                self._inject("dropped", seq)
                return
            if self._held is None and roll < self.imp.loss_pct + self.imp.reorder_pct:
                self._held, self._held_seq = message, seq     # sent after the next one
                return
        items.append(message)
        self.stats.packets += 1
        if self._held is not None:
            items.append(self._held)
            self.stats.packets += 1
            self.stats.reordered += 1
            self._inject("reordered", self._held_seq)
            self._held = None

    def _inject(self, action: str, seq: int) -> None:
        if self.on_inject is not None:
            self.on_inject(action, seq)


class OpusSocket:
    """Both directions of one Opus profile socket, and their counters for the log."""

    def __init__(self, packet_faults: list,
                 on_inject: Callable[[str, int], None] | None = None) -> None:
        self.uplink = Uplink(8000)
        self.downlink = Downlink(Impairment.from_faults(packet_faults), on_inject)

    def counters(self) -> dict:
        up, down = self.uplink.stats, self.downlink.stats
        return {"codec": "opus", "opus_packets_in": up.packets, "opus_lost_in": up.lost,
                "opus_concealed_in": up.concealed, "opus_fec_in": up.fec,
                "opus_late_in": up.late, "opus_bad_in": up.bad,
                "opus_packets_out": down.packets, "opus_dropped_out": down.dropped,
                "opus_reordered_out": down.reordered, "opus_marks_out": down.marks}
