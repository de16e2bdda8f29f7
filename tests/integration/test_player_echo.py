# SPDX-License-Identifier: Apache-2.0
"""layercode-player's echo flags (issue 13; doc/echo-cancellation.md, the man page):
--aec/--no-aec, --echo-engine, --ns, --agc and --half-duplex/--no-half-duplex reach the
library, and the final stats say which engine ran. --input/--output files against the
devserver (external audio: echo cancellation is off unless --aec); a few seconds each."""

from __future__ import annotations

import ctypes

import pytest

from .player_support import write_wav
from .test_player import session_args

DURATION = 2.0
NAMES = {1: "webrtc-aec3", 2: "webrtc-legacy", 3: "speexdsp"}


def engines_built(build) -> list[str]:
    """The library's engines, best first (lc_echo_engines_built)."""
    lib = ctypes.CDLL(str(build.lib))
    lib.lc_echo_engines_built.restype = ctypes.c_uint
    mask = lib.lc_echo_engines_built()
    return [name for bit, name in NAMES.items() if mask & (1 << bit)]


def echo_session(player, server, tmp_path, *flags: str):
    mic = tmp_path / "mic.wav"
    write_wav(mic, 16000, 1, [0] * int(16000 * (DURATION + 2)))
    return player(*session_args(server, "--input", mic, "--output", tmp_path / "out.wav",
                                "--duration", DURATION, *flags), timeout=DURATION + 20)


@pytest.mark.parametrize("flags, engine", [
    ([], "none"),  # files: external audio, where the library's default is off
    (["--aec"], "best"),
    (["--aec", "--echo-engine", "speexdsp"], "speexdsp"),
    (["--aec", "--echo-engine", "webrtc"], "webrtc"),
    (["--aec", "--ns", "--agc"], "best"),
    (["--no-aec"], "none"),
    (["--no-aec", "--half-duplex"], "none"),
], ids=["default", "aec", "speexdsp", "webrtc", "ns-agc", "no-aec", "half-duplex"])
def test_echo_flags_choose_what_runs(devserver, player, build, tmp_path, flags, engine):
    built = engines_built(build)
    if engine == "best":
        engine = built[0]
    elif engine == "webrtc":
        webrtc = [name for name in built if name.startswith("webrtc-")]
        if not webrtc:
            pytest.skip("no WebRTC engine built in")
        engine = webrtc[0]
    run = echo_session(player, devserver(), tmp_path, *flags)
    assert run.returncode == 0, run.describe()
    stats = run.stats
    assert stats["echo_engine"] == engine, stats
    if engine == "none":
        assert stats["echo_frames"] == 0 or "--half-duplex" in flags, stats
    else:
        assert stats["echo_frames"] >= 100, stats  # 10 ms frames over DURATION s
        assert stats["half_duplex_gated_frames"] == 0, stats


def test_unknown_echo_engine_fails_naming_the_engines_built(devserver, player, build, tmp_path):
    run = echo_session(player, devserver(), tmp_path, "--echo-engine", "nope")
    assert run.returncode != 0, run.describe()
    assert "nope" in run.stderr, run.describe()
    for name in engines_built(build):
        assert name in run.stderr, run.describe()
