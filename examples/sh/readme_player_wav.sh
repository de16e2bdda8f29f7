#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# README.md, "The example player", without a sound card: the README shows this file from
# its `build/bin` line on. AUTHORIZE_URL and AGENT_ID come from the environment (WS_URL
# too, for another server than Layercode's); question.wav is read from, and answer.wav
# written to, the current directory, which holds build/bin/layercode-player.
# tests/docs/test_readme_snippets.py runs it against the devserver.
set -eu
build/bin/layercode-player --authorize-url "$AUTHORIZE_URL" --agent-id "$AGENT_ID" \
    --ws-url "${WS_URL:-wss://api.layercode.com/v1/agents/web/websocket}" \
    --input question.wav --output answer.wav --json-events --duration 20
