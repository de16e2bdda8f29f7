#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# README.md, "The example player", with a sound card: the README shows this file from its
# first `build/bin` line on. AUTHORIZE_URL and AGENT_ID come from the environment (WS_URL
# too, for another server than Layercode's); run it from the repository's top directory.
# tests/docs/test_readme_snippets.py runs it against the devserver on PulseAudio devices.
set -eu
build/bin/layercode-player --list-devices
build/bin/layercode-player --authorize-url "$AUTHORIZE_URL" --agent-id "$AGENT_ID" \
    --ws-url "${WS_URL:-wss://api.layercode.com/v1/agents/web/websocket}" \
    --capture default --playback default --push-to-talk      # hold SPACE to talk
