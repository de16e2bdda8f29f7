# SPDX-License-Identifier: Apache-2.0
"""Talk to a Layercode agent and print what is said.

    python quickstart.py AUTHORIZE_URL AGENT_ID [WS_URL [WAV]]

Each argument may come from the environment instead: LAYERCODE_AUTHORIZE_URL,
LAYERCODE_AGENT_ID, LAYERCODE_WS_URL (default: Layercode's), LAYERCODE_WAV (a WAV file
spoken as the microphone; without one the default ALSA devices are used) and
LAYERCODE_SECONDS (how long to run, default 30).
"""
import os
import sys

import layercode

args = dict(zip(["authorize_url", "agent_id", "ws_url", "wav"], sys.argv[1:]))
setting = lambda name: args.get(name) or os.environ.get("LAYERCODE_" + name.upper())
wav = setting("wav")
with layercode.Client(agent_id=setting("agent_id"), authorize_url=setting("authorize_url"),
                      ws_url=setting("ws_url"), audio="wav" if wav else "alsa",
                      capture_device=wav) as client:
    client.connect().wait_connected()
    for event in client.events(timeout=float(setting("seconds") or 30)):
        if event.type == "message" and event.message_type in ("user.transcript", "response.text"):
            print(f"{event.message_type}: {event.message['content']}", flush=True)
