# SPDX-License-Identifier: Apache-2.0
"""Push-to-talk: hold a user turn open while a WAV file is spoken, then print the answer.

    python push_to_talk.py AUTHORIZE_URL AGENT_ID WS_URL utterance.wav

The agent must use push-to-talk turns (the devserver: --turn-mode push_to_talk). The WAV is
mono 16-bit at any rate from 8000 to 48000 Hz; it is streamed in real time through
write_audio() between turn_start() and turn_end().
"""
import sys
import time
import wave

import layercode

authorize_url, agent_id, ws_url, wav_path = sys.argv[1:5]
with wave.open(wav_path) as wav:
    if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
        sys.exit(f"{wav_path}: need mono 16-bit PCM")
    rate = wav.getframerate()
    utterance = wav.readframes(wav.getnframes())

with layercode.Client(agent_id=agent_id, authorize_url=authorize_url, ws_url=ws_url,
                      input_sample_rate=rate) as client:
    client.connect().wait_connected()
    chunk = 2 * rate // 50  # bytes in 20 ms
    with client.talking():  # trigger.turn.start ... trigger.turn.end
        for start in range(0, len(utterance), chunk):
            client.write_audio(utterance[start:start + chunk])
            time.sleep(0.02)

    heard = False
    for event in client.events(timeout=20):
        kind = event.message_type
        if kind in ("user.transcript", "response.text"):
            print(f"{kind}: {event.message['content']}", flush=True)
        heard = heard or kind == "user.transcript"
        if heard and kind == "response.end":
            break
    else:
        sys.exit("no answer from the agent")
