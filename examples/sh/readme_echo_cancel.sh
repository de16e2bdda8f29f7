#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# README.md, "Echo": the README shows this file from its first `pactl` line on (the same
# commands are in include/layercode.h and doc/layercode-player.1). With PulseAudio, or
# PipeWire's pipewire-pulse, it adds an echo-cancelled microphone and speaker and makes
# them the defaults, so ALSA's `default` (or `pulse`) devices are echo-cancelled.
# tests/docs/test_echo_docs.py runs it on a private PulseAudio and a session on top.
set -eu
pactl load-module module-echo-cancel aec_method=webrtc source_name=echocancel sink_name=echocancel_sink
pactl set-default-source echocancel
pactl set-default-sink echocancel_sink
