"""examples/python run as a user would run them: subprocesses against the devserver."""

from __future__ import annotations

import os
import subprocess
import sys

from .support import BINDINGS, EXAMPLES, tone_burst, write_wav


def run_example(name: str, *args: str, timeout: float = 60, **env: str):
    full_env = {**os.environ, "PYTHONPATH": str(BINDINGS), **env}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=full_env)
    assert proc.returncode == 0, f"{name} exited {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def meaningful_lines(name: str) -> int:
    """Lines that are not blank, comments, imports or the docstring."""
    source = (EXAMPLES / name).read_text()
    body = source.split('"""', 2)[2] if source.startswith('"""') else source
    return sum(1 for line in body.splitlines()
               if line.strip() and not line.strip().startswith(("#", "import ", "from ")))


def test_quickstart(devserver, speech_wav):
    assert meaningful_lines("quickstart.py") <= 10
    server = devserver()
    out = run_example("quickstart.py", server.authorize_url, "echo", server.ws_url, speech_wav,
                      LAYERCODE_SECONDS="9")
    lines = out.splitlines()
    assert "response.text: Hello! Say something and I will repeat it." in lines
    assert any(line.startswith("user.transcript: ") for line in lines)
    assert any(line.startswith("response.text: You said ") for line in lines), out


def test_quickstart_settings_from_the_environment(devserver, speech_wav):
    server = devserver("--no-greeting")
    out = run_example("quickstart.py", LAYERCODE_AUTHORIZE_URL=server.authorize_url,
                      LAYERCODE_AGENT_ID="echo", LAYERCODE_WS_URL=server.ws_url,
                      LAYERCODE_WAV=str(speech_wav), LAYERCODE_SECONDS="7")
    assert "response.text: You said " in out


def test_push_to_talk(devserver, tmp_path):
    server = devserver("--turn-mode", "push_to_talk")
    utterance = write_wav(tmp_path / "utterance.wav", tone_burst(1.0))
    out = run_example("push_to_talk.py", server.authorize_url, "echo", server.ws_url, utterance)
    assert "user.transcript: [1.0 s of audio]" in out.splitlines()
    assert "response.text: You said 1.0 seconds of audio" in out.splitlines()
    assert len(server.received("trigger.turn.start")) == 1
    assert len(server.received("trigger.turn.end")) == 1


def readme_python_snippet() -> str:
    readme = (EXAMPLES.parents[1] / "README.md").read_text()
    section = readme.split("## Embed it from Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```\n", 1)[0]


def test_readme_python_snippet_sets_ws_url_and_runs_against_the_devserver(devserver, speech_wav):
    """The README's Python snippet is examples/python/readme_quickstart.py, word for word,
    and it reaches the devserver's socket (ws_url), not Layercode's cloud: run on ALSA's
    default devices (a private PulseAudio with null sinks), it hears the greeting and the
    echo of what was played into its microphone."""
    assert readme_python_snippet() == (EXAMPLES / "readme_quickstart.py").read_text()
    sys.path.insert(0, str(EXAMPLES.parents[1] / "tests" / "audio"))
    from pulse import PulseRig

    rig = PulseRig()
    try:
        for command in (["pactl", "set-default-sink", "lcspk"],
                        ["pactl", "set-default-source", "lcmic.monitor"]):
            subprocess.run(command, env=rig.env, check=True, capture_output=True, timeout=20)
        server = devserver("--session-max-seconds", "9")
        player = rig.play(str(speech_wav))  # 2.8 s of silence, then the burst
        try:
            env = {**rig.env, "PYTHONPATH": str(BINDINGS), "LAYERCODE_AGENT_ID": "echo",
                   "LAYERCODE_AUTHORIZE_URL": server.authorize_url,
                   "LAYERCODE_WS_URL": server.ws_url}
            proc = subprocess.run([sys.executable, str(EXAMPLES / "readme_quickstart.py")],
                                  capture_output=True, text=True, timeout=60, env=env)
        finally:
            player.kill()
            player.wait()
    finally:
        rig.close()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    lines = proc.stdout.splitlines()
    assert "agent: Hello! Say something and I will repeat it." in lines, out
    assert any(line.startswith("agent: You said ") for line in lines), out
    assert server.received("client.ready"), out
