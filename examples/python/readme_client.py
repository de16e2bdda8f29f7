"""README.md, "Embed it from Python": the snippet shown there is this file from `import os`
on (tests/docs/test_readme_snippets.py runs it against the devserver on real-time-paced
PulseAudio devices, and checks that the README still shows exactly this text)."""
import os

import layercode            # PYTHONPATH=bindings/python, or pip install ./bindings/python

with layercode.Client(agent_id=os.environ["AGENT_ID"],            # "ag-123"
                      authorize_url=os.environ["AUTHORIZE_URL"],  # your backend's
                      ws_url=os.environ.get("WS_URL"),            # None: Layercode's
                      audio="alsa") as client:                    # default mic and speaker
    client.connect().wait_connected()
    for event in client.events(timeout=60):                       # ends at "disconnected"
        if event.type == "message" and event.message_type == "response.text":
            print("agent:", event.message["content"], flush=True)
