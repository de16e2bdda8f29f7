# SPDX-License-Identifier: Apache-2.0
"""replay_finished with agent audio off (issue 9 item 13): like the JS SDK, one per
assistant turn, sent at once at its response.end with the last delta id received, so a
text-only device never leaves the server waiting. Checked in the devserver's JSON-lines log
of what the client sent; turn ids are compared as opaque strings."""

from __future__ import annotations

import time

import pytest

REPLAY = "trigger.response.audio.replay_finished"


def turns_and_replays(server):
    """(turn ids the server ended, in order; the last delta id it sent per turn;
    the replay_finished messages the client sent)."""
    ended, last_delta, replays = [], {}, []
    for r in server.records():
        msg = r.get("msg") or {}
        if r.get("kind") == "send" and msg.get("type") == "response.end":
            ended.append(msg.get("turn_id"))
        elif r.get("kind") == "send" and msg.get("type") == "response.audio":
            last_delta[msg.get("turn_id")] = msg.get("delta_id")
        elif r.get("kind") == "recv" and msg.get("type") == REPLAY:
            replays.append(msg)
    return ended, last_delta, replays


def wait_turns(server, turns: int, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        ended, last_delta, replays = turns_and_replays(server)
        if len(ended) >= turns and len(replays) >= turns:
            return ended, last_delta, replays
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(ended)} turns ended, {len(replays)} replay_finished sent "
                                 f"(want {turns} of each)")
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["audio_output_option", "set_audio_output", "text_only"])
def test_audio_output_off_sends_replay_finished_once_per_turn(make_client, devserver, how):
    server = devserver("--agent", "tone", "--tone-seconds", "0.5")
    options = {"audio_output_option": {"audio_output": False},
               "text_only": {"audio": "none"}}.get(how, {})
    client = make_client(server, **options)
    if how == "set_audio_output":
        client.set_audio_output(False)
    client.connect().wait_connected(20)
    wait_turns(server, 1)                 # the greeting
    client.send_text("again")             # the tone agent answers every turn with audio
    ended, last_delta, replays = wait_turns(server, 2)
    time.sleep(0.3)                       # nothing more follows
    ended, last_delta, replays = turns_and_replays(server)
    assert [m["turn_id"] for m in replays] == ended, "one per assistant turn, in order"
    for m in replays:
        assert m["reason"] == "completed"
        assert m["last_delta_id_played"] == last_delta.get(m["turn_id"]), m
    assert client.stats().played_samples == 0, "nothing was played"
    assert not [r for r in server.records() if r.get("kind") == "error"], "the server took them"
    client.disconnect()
    assert client.wait_disconnected(10)
