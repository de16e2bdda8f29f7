# SPDX-License-Identifier: Apache-2.0
"""A private PulseAudio daemon with null sinks: real-time-paced audio devices with no sound
card. ALSA reaches them through the `pulse` plugin (libasound2-plugins), so the library's
ALSA backend runs exactly as on a board, at the pace of a real clock.

Two sinks keep the directions apart (no acoustic echo): the test plays the user's speech into
`lcmic` and the client captures `lcmic.monitor`; the client plays into `lcspk` and the test
records `lcspk.monitor`. The room sinks are joined on purpose: the client plays into
`roomspk` and captures `roommic.monitor`, and room.py (a simulated room: echo path, talker,
noise) reads `roomspk.monitor` and writes `roommic` (test_room_echo.py).
"""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

ASOUNDRC = """
pcm.lcmic { type pulse; device "lcmic.monitor" }
pcm.lcspk { type pulse; device "lcspk" }
pcm.lcspk44 { type pulse; device "lcspk44" }
pcm.roommic { type pulse; device "roommic.monitor" }
pcm.roomspk { type pulse; device "roomspk" }
"""


class PulseRig:
    def __init__(self):
        if not shutil.which("pulseaudio") or not shutil.which("pactl"):
            raise RuntimeError("pulseaudio not installed (tools/ensure-deps.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="lc-pulse-")
        self.runtime = os.path.join(self.dir, "runtime")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.runtime, mode=0o700)
        os.makedirs(self.home)
        with open(os.path.join(self.home, ".asoundrc"), "w") as f:
            f.write(ASOUNDRC)
        self.server = "unix:" + os.path.join(self.runtime, "pulse", "native")
        self.env = {**os.environ, "XDG_RUNTIME_DIR": self.runtime, "HOME": self.home,
                    "PULSE_SERVER": self.server}
        subprocess.run(
            ["pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1", "--disallow-exit",
             "--disable-shm=yes", "-L", "module-native-protocol-unix",
             "-L", "module-null-sink sink_name=lcmic rate=48000 channels=1",
             "-L", "module-null-sink sink_name=lcspk rate=48000 channels=2",
             "-L", "module-null-sink sink_name=lcspk44 rate=44100 channels=2",
             "-L", "module-null-sink sink_name=roommic rate=48000 channels=1",
             "-L", "module-null-sink sink_name=roomspk rate=48000 channels=1"],
            env=self.env, check=True, capture_output=True, timeout=20)
        for _ in range(100):
            if subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("pulseaudio did not come up")

    def play(self, wav):
        """Plays a WAV into the microphone sink (paced), in the background."""
        return subprocess.Popen(["paplay", "--device=lcmic", wav], env=self.env,
                                stderr=subprocess.DEVNULL)

    def record(self, path, sink="lcspk", rate=16000, channels=1):
        """Records what the client plays (a speaker sink's monitor) as a WAV."""
        return subprocess.Popen(["parec", f"--device={sink}.monitor", "--file-format=wav",
                                 f"--rate={rate}", f"--channels={channels}", "--format=s16le", path],
                                env=self.env, stderr=subprocess.DEVNULL)

    def close(self):
        subprocess.run(["pulseaudio", "--kill"], env=self.env, capture_output=True, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def player_rig(player):
    """A module fixture's body for tests that run the player on a private PulseAudio: skips
    when the player is not built, closes the rig afterwards."""
    if not os.access(player, os.X_OK):
        pytest.skip("build/bin/layercode-player missing: run make")
    rig = PulseRig()
    yield rig
    rig.close()
