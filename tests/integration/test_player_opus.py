# SPDX-License-Identifier: Apache-2.0
"""The Opus wire profile end to end (doc/opus-profile.md): layercode-player against the
devserver speaking it (`--codecs opus,pcm16`), with the devserver's packet faults losing and
reordering downlink packets; and the chain a cellular device uses: player -> the relay
(`devserver --upstream`) -> a devserver speaking only Layercode's PCM JSON, with a barge-in
and an upstream that drops."""

from __future__ import annotations

import math
import time

import pytest

from .player_support import SAID, read_wav_mono16
from .test_player import UNGATED, session_args
from .test_player_audio import LivePlayer

OPUS = ["--codecs", "opus,pcm16"]
TONE_SECONDS = 4.0
WINDOW = 0.020


def window_rms(samples: list[int], rate: int) -> list[float]:
    n = int(rate * WINDOW)
    return [math.sqrt(sum(x * x for x in samples[i:i + n]) / n)
            for i in range(0, len(samples) - n + 1, n)]


def envelope(samples: list[int], rate: int) -> list[float]:
    return window_rms(samples, rate)


def best_correlation(a: list[float], b: list[float], max_lag: int) -> float:
    """The largest Pearson correlation of a with b shifted by 0..max_lag windows."""
    best = -1.0
    for lag in range(max_lag + 1):
        x, y = a[:len(b) - lag], b[lag:lag + len(a)]
        n = min(len(x), len(y))
        if n < 10:
            break
        x, y = x[:n], y[:n]
        mx, my = sum(x) / n, sum(y) / n
        sxy = sum((p - mx) * (q - my) for p, q in zip(x, y))
        sxx = sum((p - mx) ** 2 for p in x)
        syy = sum((q - my) ** 2 for q in y)
        if sxx > 0 and syy > 0:
            best = max(best, sxy / math.sqrt(sxx * syy))
    return best


def injected(server) -> tuple[list[int], int]:
    """(the dropped sequences, how many were reordered): what the devserver's packet faults
    did to the downlink."""
    records = [r for r in server.closed_session_log() if r.get("kind") == "opus_inject"]
    return ([r["sequence"] for r in records if r["action"] == "dropped"],
            sum(r["action"] == "reordered" for r in records))


@pytest.mark.parametrize("loss_pct", [5, 20])
def test_opus_tone_with_packet_loss_and_reordering_plays_without_gaps(devserver, player, tmp_path,
                                                                      loss_pct):
    """The tone agent's greeting over Opus with loss_pct % of its packets dropped and 5 %
    reordered: every lost 20 ms is concealed (FEC from the next packet, else PLC), so the
    tone plays for its whole length with no silent window, and the counters agree with what
    the devserver injected."""
    server = devserver(*OPUS, "--tone-seconds", str(TONE_SECONDS),
                       "--fault", f"opus_loss:pct={loss_pct},seed=11",
                       "--fault", "opus_reorder:pct=5,seed=12")
    out = tmp_path / "out.wav"
    run = player(*session_args(server, *OPUS, "--no-mic", "--output", out, "--duration", "6.5",
                               agent="tone"), timeout=30)
    assert run.returncode == 0, run.describe()
    assert run.of("connected")[0]["config"]["audio"]["codec"] == "opus"
    stats = run.stats
    assert stats["wire_codec"] == "opus", stats
    lost, reordered = injected(server)
    dropped = len(lost)
    assert dropped > 0 and reordered > 0, (lost, reordered)
    packets = round(TONE_SECONDS / WINDOW)
    assert stats["audio_frames_received"] == packets - dropped, (stats, dropped)
    concealed = stats["concealed_ms"] / 20
    # Each lost packet is one concealed period (a reordered one arrives in time: the jitter
    # buffer puts it back in place).
    assert dropped - 2 <= concealed <= dropped + reordered, (stats, dropped, reordered)
    assert 0 < stats["fec_recovered_frames"] <= concealed, stats
    played = stats["played_samples"] / 16000 + stats["concealed_ms"] / 1000
    assert abs(played - TONE_SECONDS) <= 0.1, stats

    rate, samples = read_wav_mono16(out)
    rms = window_rms(samples, rate)
    loud = [i for i, v in enumerate(rms) if v > 1000]
    assert loud, "no tone in the output"
    span = rms[loud[0]:loud[-1] + 1]
    assert abs(len(span) * WINDOW - TONE_SECONDS) <= 0.1, len(span)
    typical = sorted(span)[len(span) // 2]
    # Concealment may fade over a run of lost packets (Opus PLC attenuates), but a quiet
    # window only ever sits where packets were lost: the greeting's packets are numbered from
    # 0, window i of the tone holds packet i (± one, the windows are not packet-aligned).
    quiet = [i for i, v in enumerate(span) if v < 0.1 * typical]
    unexplained = [i for i in quiet if not {i - 1, i, i + 1} & set(lost)]
    assert not unexplained, \
        f"silent 20 ms windows inside the tone at {unexplained}, no packet lost there ({lost})"


def test_opus_speech_echo_keeps_its_shape(devserver, player, speech, tmp_path):
    """espeak-ng speech up over Opus (16 kHz), echoed by the devserver (decoded at its 8 kHz)
    and back down over Opus: the agent's audio follows the user's speech (20 ms envelopes
    correlate), and the uplink used the profile's binary packets."""
    server = devserver(*OPUS)
    out = tmp_path / "out.wav"
    run = player(*session_args(server, *OPUS, "--input", speech.mono16k, "--output", out,
                               "--duration", "8.5", *UNGATED), timeout=40)
    assert run.returncode == 0, run.describe()
    stats = run.stats
    assert stats["wire_codec"] == "opus", stats
    said = [SAID.search(m["message"].get("content", "")) for m in run.messages("response.text")]
    said = [float(m.group(1)) for m in said if m]
    assert said and 0.5 * speech.length <= said[0] <= speech.length + 1.5, said
    # The uplink: binary packets only, no client.audio text.
    log = server.closed_session_log()
    assert not [r for r in log if r.get("kind") == "recv" and r["msg"].get("type") == "client.audio"]

    in_rate, spoken = read_wav_mono16(speech.mono16k)
    out_rate, heard = read_wav_mono16(out)
    voice = envelope(spoken, in_rate)
    first = next(i for i, v in enumerate(voice) if v > 300)
    last = max(i for i, v in enumerate(voice) if v > 300)
    voice = voice[first:last + 1]
    echo = envelope(heard, out_rate)
    # The echo starts after the greeting, once the server has heard the end of the speech.
    r = best_correlation(voice, echo, len(echo) - len(voice))
    assert r > 0.7, f"the echo does not follow the speech (best envelope correlation {r:.2f})"


def test_opus_is_only_used_when_offered(devserver, player, tmp_path):
    """A devserver that speaks Opus answers a player that did not offer it with PCM JSON."""
    server = devserver(*OPUS, "--tone-seconds", "1")
    run = player(*session_args(server, "--no-mic", "--duration", "2.5", agent="tone"), timeout=30)
    assert run.returncode == 0, run.describe()
    assert run.stats["wire_codec"] == "pcm16", run.stats
    assert "audio" not in run.of("connected")[0]["config"], run.of("connected")
    assert run.stats["played_samples"] >= 16000 * 0.9, run.stats


# ---- the relay -------------------------------------------------------------------------

def relay_chain(devserver, *upstream_flags: str):
    """A devserver speaking PCM JSON only, and a relay in front of it."""
    upstream = devserver(*upstream_flags)
    relay = devserver("--upstream", upstream.authorize_url, "--upstream-ws", upstream.ws_url)
    return upstream, relay


def upstream_received(upstream, mtype: str) -> list[dict]:
    return [r["msg"] for r in upstream.records()
            if r.get("kind") == "recv" and r["msg"].get("type") == mtype]


def test_player_through_the_relay_to_a_pcm_server(devserver, player, speech, tmp_path):
    """player (Opus) -> relay -> devserver (PCM JSON): the echo session works end to end;
    the device's wire is Opus, the upstream's is Layercode's PCM JSON."""
    upstream, relay = relay_chain(devserver)
    out = tmp_path / "out.wav"
    run = player(*session_args(relay, *OPUS, "--input", speech.mono16k, "--output", out,
                               "--duration", "8.5", *UNGATED), timeout=40)
    assert run.returncode == 0, run.describe()
    assert run.stats["wire_codec"] == "opus", run.stats
    said = [SAID.search(m["message"].get("content", "")) for m in run.messages("response.text")]
    said = [float(m.group(1)) for m in said if m]
    assert said and 0.5 * speech.length <= said[0] <= speech.length + 1.5, said
    assert len(upstream_received(upstream, "client.audio")) > 100     # PCM JSON upstream
    assert run.stats["played_samples"] > 16000 * speech.length * 0.5, run.stats
    # The device's bytes on the wire are a fraction of what the upstream carried.
    up_close = [r for r in upstream.records() if r.get("kind") == "ws_close"]
    assert up_close and run.stats["wire_bytes_received"] * 4 < up_close[0]["wire_bytes_out"], \
        (run.stats, up_close)


def test_player_barge_in_through_the_relay(devserver, build, tmp_path):
    """Push-to-talk pressed (and held) while the agent's 8 s tone plays through the relay:
    playout stops at once (what was queued is dropped), the upstream hears the turn start
    and abandons its turn, and the rest of the tone is never played."""
    upstream, relay = relay_chain(devserver, "--turn-mode", "push_to_talk", "--tone-seconds", "8",
                                  "--audio-speed", "1")
    out = tmp_path / "out.wav"
    argv = [str(build.player), *session_args(relay, *OPUS, "--push-to-talk", "--output", str(out),
                                             "--duration", "6", agent="tone")]
    live = LivePlayer(argv)
    try:
        t_speak, _ = live.wait_event(lambda e: e["event"] == "agent_speaking" and e["speaking"])
        time.sleep(max(0.0, t_speak + 1.0 - time.monotonic()))
        live.proc.stdin.write(b"talk\n")
        live.proc.stdin.flush()
        # The user's turn stays open to the end: no answer comes to blur the count.
        live.wait_event(lambda e: e["event"] == "agent_speaking" and not e["speaking"])
        run = live.finish(30)
    finally:
        live.kill()
    assert run.returncode == 0, run.describe()
    assert run.stats["wire_codec"] == "opus", run.stats
    assert upstream_received(upstream, "trigger.turn.start"), upstream.records()
    # About 1 s of the 8 s tone played; never the rest.
    played = run.stats["played_samples"] / 16000
    assert 0.5 <= played <= 2.5, run.stats
    rate, samples = read_wav_mono16(out)
    loud = sum(1 for v in window_rms(samples, rate) if v > 1000) * WINDOW
    assert loud <= 2.5, f"{loud:.2f} s of tone in the output"


def test_player_reconnects_through_the_relay_when_the_upstream_drops(devserver, player, tmp_path):
    """The upstream drops its TCP connection mid turn: the relay closes the device socket
    (1011), the player reconnects through the relay (authorize again, same conversation)
    and speaks Opus on the new socket."""
    upstream, relay = relay_chain(devserver, "--tone-seconds", "3")
    run = player(*session_args(relay, *OPUS, "--no-mic", "--duration", "8",
                               "--metadata", '{"devserver_fault": "drop_tcp_mid_turn"}',
                               agent="tone"), timeout=40)
    assert run.returncode == 0, run.describe()
    statuses = run.statuses()
    assert "reconnecting" in statuses, statuses
    assert statuses.count("connected") == 2, statuses
    assert run.stats["wire_codec"] == "opus", run.stats
    authorizes = [r for r in upstream.records() if r.get("kind") == "authorize"]
    assert len(authorizes) == 2, authorizes
    assert len({a.get("conversation_id") for a in authorizes}) == 1, authorizes


def test_opus_reconnect_mid_turn_plays_the_next_socket_turn(devserver, player):
    """Regression (review of issue 12): the devserver drops TCP in the middle of an Opus
    turn; the new socket numbers its packets from 0 again. The turn the old socket left open
    must end there, or the new socket's packets are mapped with the old numbers and refused
    or dropped as late until a response.end: its greeting must play whole, with no protocol
    error."""
    server = devserver(*OPUS, "--tone-seconds", "2")
    run = player(*session_args(server, *OPUS, "--no-mic", "--duration", "7",
                               "--metadata", '{"devserver_fault": "drop_tcp_mid_turn"}',
                               agent="tone"), timeout=40)
    assert run.returncode == 0, run.describe()
    assert run.statuses().count("connected") == 2, run.statuses()
    assert not [e for e in run.errors() if e["code"] == -7], run.describe()   # LC_ERR_PROTOCOL
    stats = run.stats
    assert stats["wire_codec"] == "opus", stats
    # Part of the first greeting, then all 2 s of the second.
    assert stats["played_samples"] >= 2.0 * 16000, stats
    assert stats["late_frames"] == 0, stats
