# SPDX-License-Identifier: Apache-2.0
"""Drives layercode-gym 0.9.1 (PyPI, pinned in bench/requirements-peers.txt; an
independent Python implementation of Layercode's client) against the devserver, unpatched:
its own LayercodeClient authorizes, opens the socket, sends client.ready, consumes every
event (it keeps response.audio as base64 strings: it neither decodes nor plays them) and
streams the user's audio with its own _send_user_audio_chunked (pydub loads the WAV and
resamples it to 8 kHz; 100 ms chunks with LAYERCODE_CHUNK_INTERVAL-style pacing).

The adapter's parts, all outside the package:
- Settings with the devserver's URLs (gym hard-codes Layercode's socket URL in
  Settings.load), audio storage off (no ffmpeg) and chunk_interval 0.1 s, so its uplink
  runs at about real time;
- a simulator that answers the first user turn with the speech file;
- one user turn queued as soon as the greeting's text has arrived: gym starts a user turn
  only after 3 s of assistant silence, and the tone agent's greeting never goes silent.

usage: gym_adapter.py AUTHORIZE_URL WS_URL SECONDS SPEECH48K.wav OUTPUT_DIR
SECONDS: the whole run, from start; then the adapter stops the client and exits.
"""
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

from layercode_gym.client import LayercodeClient
from layercode_gym.config import Settings
from layercode_gym.simulator.protocols import UserRequest, UserResponse


class SpeakTheFile:
    """UserSimulatorProtocol: every user turn is the speech file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.turns = 0

    async def get_response(self, request: UserRequest) -> UserResponse:
        self.turns += 1
        return UserResponse(text=None, audio_path=self.path, data=())


async def drive(client: LayercodeClient, seconds: float) -> None:
    task = asyncio.create_task(client.run())
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    # The greeting's response.text, then one user turn (gym's own queue and handler).
    while not client._accumulated_assistant_text and not task.done() and loop.time() < end:
        await asyncio.sleep(0.05)
    if not task.done():
        client._user_turn_queue.put_nowait("bench")
    try:
        await asyncio.wait_for(asyncio.shield(task), max(0.0, end - loop.time()))
    except asyncio.TimeoutError:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


def main() -> int:
    authorize_url, ws_url, seconds, speech, out_dir = sys.argv[1:6]
    parts = urlsplit(authorize_url)
    settings = dataclasses.replace(
        Settings.load(), server_url=f"{parts.scheme}://{parts.netloc}",
        authorize_path=parts.path, websocket_url=ws_url, agent_id="tone",
        output_root=Path(out_dir), store_audio=False, chunk_ms=100, chunk_interval=0.1)
    simulator = SpeakTheFile(Path(speech))
    client = LayercodeClient(simulator=simulator, settings=settings)
    asyncio.run(drive(client, float(seconds)))
    print(json.dumps({"event": "stats", "final": True, "user_turns": simulator.turns}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
