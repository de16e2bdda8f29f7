# SPDX-License-Identifier: Apache-2.0
"""Echo cancellation in the real audio path (issue 13, "How it is proven"): a simulated room.

layercode-player runs in ALSA mode on PulseAudio null sinks (pulse.py): it plays into
`roomspk` and captures `roommic.monitor`; room.py reads `roomspk.monitor`, passes it through
a clipping loudspeaker and a room impulse response (direct path DELAY_MS late, RT60 250 ms),
adds a near-end talker (another espeak-ng voice) and noise at -60 dBFS, and writes `roommic`.
The devserver runs in automatic turn mode with `can_interrupt`; its `say` agent speaks a long
text twice over (`--speech-repeat 2`: about 110 s), the greeting and every reply.

A barge-in is a `turn.start{role: user}` the devserver sends (what stops the agent), or a
client `vad_start` it receives; both are in its JSON-lines log with their time.time()
stamps. "The agent's first second" is measured from `far_onset`: when room.py first read
agent audio from the speaker monitor.

The 300 ms figure: room.py stamps the talker's onset when it wrote the 10 ms block holding
the onset's first sample, and adds what waited before it (pacat's pipe, measured, and the
pacat stream's buffer, as PulseAudio reports it): `t_audible`, when the onset reached the
sink the library captures from. It also finds the onset on a reader of that sink's monitor
(cross-correlation) afterwards; speech_onset() checks the two agree, so no queue is left
out. The barge-in latency is the devserver's stamp on its `turn.start{user}` minus
`t_audible`: one clock (the host's), each end stamped where the audio is, so it holds the
whole path: the library's capture period and device queue, its canceller and VAD, the uplink
and the server's VAD. No other assertion depends on wall time; counts are of log records.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pulse import PulseRig, player_rig

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from devserver_process import DevServer  # noqa: E402

PLAYER = ROOT / "build" / "bin" / "layercode-player"
ROOM = HERE / "room.py"

# Direct-path delay of the room's impulse response. The room's own streams add about 30 ms
# (parec, its 20 ms queue, pacat's buffer: room.py's `echo_delay_ms`), so the echo comes
# about 150 ms later than the library's device queues can tell it (the combined
# scene).
DELAY_MS = 120
# Direct-path gain of the echo: the agent's speech (espeak, about -25 dBFS RMS) comes back
# at about -35.5 dBFS, reverb included: above the client VAD's -38 dBFS and the devserver's
# -40, so without a canceller the agent's own voice is taken for the user (8 barge-ins in
# 15 s, as many as the devserver's interrupt-and-reply cycle of about 1.85 s allows), while
# the talker (same espeak level) is about 10 dB above the echo.
ECHO_GAIN = 0.2
AGENT_SECONDS = 61.0     # the agent talks for 60 s after its first second
BARGE_IN_LIMIT = 0.300   # seconds from the talker's onset to the devserver's turn.start
SPEECH_AT = 6.0          # the talker starts this long after the agent's onset

# About 55 s of espeak-ng speech (the devserver speaks at most 1000 characters a phrase).
AGENT_TEXT = (
    "Welcome to the station information desk. The next train to the airport leaves from "
    "platform nine in twelve minutes, and the one after that in half an hour. Tickets can be "
    "bought at the machines by the entrance or from the conductor on board, with a small "
    "surcharge. The museum on the main square opens at ten in the morning and closes at six "
    "in the evening, except on Mondays, when it is closed all day. The cafe next to the "
    "waiting room sells coffee, tea, sandwiches and a soup of the day, and it has tables "
    "by the window where you can watch the trains come in. If you have lost something, "
    "please ask at the lost property office on the first floor, which is open until eight. "
    "Bicycles may be taken on regional trains outside the rush hours, in the carriages "
    "marked with a bicycle sign. Thank you for travelling with us, and have a pleasant "
    "journey. The weather today is mild, with a light wind from the west and a chance of "
    "rain in the late afternoon, so an umbrella may be useful.")
# It starts on a voiced sound: the client VAD needs 100 ms of speech (5 frames of 20 ms above
# -38 dBFS), and a phrase that opens on a soft consonant and a stop ("Excuse me") reaches
# that only after 320 ms, whatever the path's latency.
TALKER_TEXT = "Wait, wait, where is the lost property office?"
TALKER_VOICE = "en-us+f3"   # the agent speaks with espeak-ng's default "en"


def player_has(flag: str) -> bool:
    if not os.access(PLAYER, os.X_OK):
        return False
    out = subprocess.run([str(PLAYER), "--help"], capture_output=True, text=True, timeout=10)
    return flag in out.stdout


HAS_AEC = player_has("--aec")
needs_aec = pytest.mark.skipif(not HAS_AEC, reason="layercode-player has no --aec yet "
                               "(issue 13: the canceller's integration)")


def no_aec_flags() -> list[str]:
    """Today's player has no canceller and no flags for it; once it has them, turn both the
    canceller and the half-duplex fallback off."""
    return ["--no-aec", "--no-half-duplex"] if HAS_AEC else []


@pytest.fixture(scope="module")
def rig():
    yield from player_rig(PLAYER)


@pytest.fixture(scope="module")
def talker(tmp_path_factory) -> Path:
    """The near-end user: TALKER_TEXT in another espeak-ng voice, 16 kHz mono."""
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} missing (tools/ensure-deps.sh installs it)")
    d = tmp_path_factory.mktemp("talker")
    raw, wav = d / "raw.wav", d / "talker.wav"
    subprocess.run(["espeak-ng", "-v", TALKER_VOICE, "-w", str(raw), TALKER_TEXT], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)],
                   check=True)
    return wav


@dataclass
class Session:
    room: list[dict]
    server: list[dict]
    player_rc: int
    player_out: str
    player_err: str
    events: list[dict] = field(default_factory=list)

    def room_one(self, kind: str) -> dict:
        found = [r for r in self.room if r["kind"] == kind]
        assert len(found) == 1, f"room.py logged {len(found)} {kind!r}: {self.room[-3:]}"
        return found[0]

    @property
    def far_onset(self) -> float:
        return self.room_one("far_onset")["t_read"]

    def user_turn_starts(self) -> list[float]:
        return [r["t"] for r in self.server if r.get("kind") == "send"
                and r["msg"].get("type") == "turn.start" and r["msg"].get("role") == "user"]

    def vad_starts(self) -> list[float]:
        return [r["t"] for r in self.server if r.get("kind") == "recv"
                and r["msg"].get("type") == "vad_events" and r["msg"].get("event") == "vad_start"]

    def barge_ins_after(self, t0: float) -> tuple[list[float], list[float]]:
        return ([t - self.far_onset for t in self.user_turn_starts() if t > t0],
                [t - self.far_onset for t in self.vad_starts() if t > t0])

    def far_active_seconds(self) -> int:
        """Whole seconds of the stream in which the agent was audible at the speaker."""
        return sum(1 for r in self.room if r["kind"] == "second" and r["far"] > -50)

    def describe(self) -> str:
        room = [r for r in self.room if r["kind"] != "second"]
        return (f"player exit {self.player_rc}\n--- player stderr\n{self.player_err[-2000:]}"
                f"\n--- room\n" + "\n".join(json.dumps(r) for r in room))


def room_settled(log: Path) -> bool:
    if not log.exists():
        return False
    latency = [json.loads(line) for line in log.read_text().splitlines() if '"latency"' in line]
    return any(r.get("pacat_ms", 1e9) < 100 and r.get("parec_ms", 1e9) < 100 for r in latency)


def converse(rig: PulseRig, tmp_path: Path, seconds: float, *, echo_gain: float,
             player_flags: list[str], talker: Path | None = None,
             devices: tuple[str, str] = ("roommic", "roomspk")) -> Session:
    """One session: the devserver, room.py, then the player for `seconds` on the ALSA
    `devices` (capture, playback); everything is stopped and its logs read back before
    returning."""
    room_log = tmp_path / "room.jsonl"
    argv = [sys.executable, str(ROOM), "--far", "roomspk.monitor", "--mic", "roommic",
            "--delay-ms", str(DELAY_MS), "--echo-gain", str(echo_gain), "--log", str(room_log)]
    if talker is not None:
        argv += ["--speech", str(talker), "--speech-at", str(SPEECH_AT)]
    server = DevServer(tmp_path / "devserver", "--agent", "say", "--greeting", AGENT_TEXT,
                       "--speech-repeat", "2", "--audio-speed", "1")
    try:
        room = subprocess.Popen(argv, env=rig.env, stdin=subprocess.DEVNULL)
        try:
            # the room's streams are up (their latency measured) before the player opens its
            # devices: the microphone hears the room's noise from its first period (a null
            # sink starts with a latency of seconds, then settles on what its streams ask)
            deadline = time.monotonic() + 20
            while not room_settled(room_log):
                assert room.poll() is None, "room.py exited early"
                assert time.monotonic() < deadline, "room.py's streams did not settle"
                time.sleep(0.05)
            run = subprocess.run(
                [str(PLAYER), "--authorize-url", server.authorize_url, "--ws-url",
                 server.ws_url, "--agent-id", "say",
                 "--metadata", json.dumps({"say_text": AGENT_TEXT}),
                 "--capture", devices[0], "--playback", devices[1], "--device-rate", "48000",
                 "--duration", str(seconds), "--json-events", *player_flags],
                env=rig.env, capture_output=True, text=True, timeout=seconds + 40)
        finally:
            if room.poll() is None:
                room.send_signal(signal.SIGTERM)
            try:
                room.wait(timeout=10)
            except subprocess.TimeoutExpired:
                room.kill()
                room.wait()
    finally:
        server.stop()
    records = server.records()
    room_records = [json.loads(line) for line in room_log.read_text().splitlines() if line]
    session = Session(room_records, records, run.returncode, run.stdout, run.stderr)
    session.events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    print(session.describe())
    assert run.returncode == 0, session.describe()
    # The room kept time (a machine too busy for it would make every count meaningless):
    # parec rarely stalled, and the room's queue rarely had to be cut back after an underrun.
    summary = session.room_one("summary")
    assert summary["late_reads"] <= 5 and summary["dropped_blocks"] <= 50, \
        f"room.py could not keep time\n{session.describe()}"
    return session


def speech_onset(session: Session) -> float:
    """When the talker's onset reached the microphone sink: written, plus what waited before
    it in pacat's pipe, plus the pacat stream's latency as PulseAudio reports it.
    Cross-checked against where the onset really showed up on the sink's monitor (room.py
    correlates what it wrote with what a monitor reader got): no queue left out."""
    onset = session.room_one("speech_onset")
    measured = session.room_one("speech_onset_measured")
    assert onset["pacat_ms"] is not None, session.describe()
    estimated = (onset["t_audible"] - onset["t_written"]) * 1000
    assert measured["path_ms"] <= estimated + 40, session.describe()
    return onset["t_audible"]


def barge_in_latency(session: Session) -> float:
    """The devserver's first turn.start{user} after the talker's onset, minus the onset."""
    onset = speech_onset(session)
    after = [t for t in session.user_turn_starts() if t > onset - 0.5]
    assert after, f"no barge-in after the talker's onset\n{session.describe()}"
    return after[0] - onset


@needs_aec
def test_room_agent_alone_no_barge_in(rig, tmp_path):
    """60 s of the agent's speech in the room, nobody speaking: no barge-in after the first
    second (no turn.start{user}, no vad_start), with AEC on (the default in ALSA mode)."""
    s = converse(rig, tmp_path, AGENT_SECONDS + 3, echo_gain=ECHO_GAIN, player_flags=[])
    assert s.far_active_seconds() >= AGENT_SECONDS - 3, s.describe()
    turns, vads = s.barge_ins_after(s.far_onset + 1.0)
    assert turns == [] and vads == [], (turns, vads, s.describe())


@needs_aec
def test_room_user_barges_in(rig, tmp_path, talker):
    """The talker speaks over the agent (with its echo in the room, AEC on): the barge-in
    happens, within 300 ms of speech onset, and not before the talker starts."""
    s = converse(rig, tmp_path, SPEECH_AT + 8, echo_gain=ECHO_GAIN, player_flags=[],
                 talker=talker)
    onset = speech_onset(s)
    early = [t - s.far_onset for t in s.user_turn_starts() if s.far_onset + 1 < t < onset]
    assert early == [], (early, s.describe())
    latency = barge_in_latency(s)
    print(f"barge-in {latency * 1000:.0f} ms after the talker's onset")
    assert 0 < latency <= BARGE_IN_LIMIT, (latency, s.describe())


def test_room_user_barges_in_without_echo(rig, tmp_path, talker):
    """The measurement itself, today: the same talker in a room with no echo path (echo gain
    0) and no canceller: the barge-in comes within 300 ms of the onset."""
    s = converse(rig, tmp_path, SPEECH_AT + 8, echo_gain=0.0, player_flags=no_aec_flags(),
                 talker=talker)
    early = [t for t in s.user_turn_starts() if t < speech_onset(s)]
    assert early == [], (early, s.describe())
    latency = barge_in_latency(s)
    print(f"barge-in {latency * 1000:.0f} ms after the talker's onset")
    assert 0 < latency <= BARGE_IN_LIMIT, (latency, s.describe())


def test_room_without_aec_barges_in_falsely(rig, tmp_path):
    """The room's echo with no canceller and no half-duplex gate: nobody speaks, and the agent
    interrupts itself again and again (the test above proves something only because of
    this one)."""
    s = converse(rig, tmp_path, 16.0, echo_gain=ECHO_GAIN, player_flags=no_aec_flags())
    turns, vads = s.barge_ins_after(s.far_onset + 1.0)
    print(f"false barge-ins in 15 s: {len(turns)} turn.start{{user}}, {len(vads)} vad_start")
    assert len(turns) >= 5, (turns, s.describe())
