import os

import layercode  # after make: pip install ./bindings/python (it bundles the library)

# authorize_url and ws_url go together: your backend's authorize endpoint with Layercode's
# socket (ws_url None, the default), or the devserver's /authorize with its own ws_url.
with layercode.Client(agent_id=os.environ["LAYERCODE_AGENT_ID"],
                      authorize_url=os.environ["LAYERCODE_AUTHORIZE_URL"],
                      ws_url=os.environ.get("LAYERCODE_WS_URL"),
                      audio="alsa") as client:          # default microphone and speaker
    client.connect().wait_connected()
    for event in client.events(timeout=60):             # ends at "disconnected"
        if event.type == "message" and event.message_type == "response.text":
            print("agent:", event.message["content"], flush=True)
