# SPDX-License-Identifier: Apache-2.0
"""README.md, "Embed it from Python": the snippet shown there is this file from `import os`
on (tests/docs/test_readme_snippets.py runs it against the devserver on real-time-paced
PulseAudio devices, and checks that the README still shows exactly this text)."""
import os

import layercode  # after make: pip install ./bindings/python (it bundles the library)

# authorize_url and ws_url go together: your backend's authorize endpoint with Layercode's
# socket (WS_URL unset), or the devserver's /authorize with its own ws_url.
with layercode.Client(agent_id=os.environ["AGENT_ID"],            # "ag-123"
                      authorize_url=os.environ["AUTHORIZE_URL"],
                      ws_url=os.environ.get("WS_URL"),            # None: Layercode's
                      audio="alsa") as client:                    # default mic and speaker
    client.connect().wait_connected()
    for event in client.events(timeout=60):                       # ends at "disconnected"
        if event.type == "message" and event.message_type == "response.text":
            print("agent:", event.message["content"], flush=True)
