# SPDX-License-Identifier: Apache-2.0
"""A reconnect resumes the conversation with its audio (issue 9 item 12): the greeting the
server sends on the new socket is played and reported, even when the old socket had a turn
with the same id that the user talked over. Turn ids are compared as opaque strings (the
devserver numbers them per socket today; the cloud uses UUIDs): nothing here depends on
their shape."""

from __future__ import annotations

import time

from .support import AudioPump, wait_until

REPLAY = "trigger.response.audio.replay_finished"


def socket_log(server, index: int) -> list:
    """The log records of the index-th socket the server opened ([] until it opens)."""
    records = server.records()
    opened = [r["session"] for r in records if r.get("kind") == "ws_open"]
    if len(opened) <= index:
        return []
    return [r for r in records if r.get("session") == opened[index]]


def reported_turns(records) -> list:
    """Turn ids of the turns this socket ended that the client reported played."""
    ended = [r["msg"].get("turn_id") for r in records
             if r.get("kind") == "send" and r["msg"].get("type") == "response.end"]
    replayed = {r["msg"].get("turn_id") for r in records
                if r.get("kind") == "recv" and r["msg"].get("type") == REPLAY}
    return [t for t in ended if t in replayed]


def test_reconnect_plays_the_resumed_greeting_after_the_user_spoke(make_client, devserver):
    # Each turn's audio in one chunk: the fault drops the first socket once its second turn's
    # audio is sent, before that turn's response.end; the resumed socket is left alone.
    server = devserver("--agent", "tone", "--tone-seconds", "1", "--audio-chunk-ms", "60000")
    fault = {"fault": "drop_tcp_mid_turn", "after_chunks": 2}
    client = make_client(server, metadata={"devserver_fault": fault},
                         reconnect_base_ms=50, reconnect_max_delay_ms=100)
    pump = AudioPump(client)
    pump.start()
    try:
        client.connect().wait_connected(20)
        wait_until(lambda: reported_turns(socket_log(server, 0)), what="the greeting played")
        client.send_text("again")  # the user's turn; the agent's answer is cut by the drop
        wait_until(lambda: client.stats().reconnects == 1, what="the reconnect")
        resumed_at = time.monotonic()
        greeting = wait_until(lambda: reported_turns(socket_log(server, 1)),
                              what="the resumed greeting played and reported")
        assert len(greeting) == 1
        assert pump.agent_audio_between(resumed_at, time.monotonic()) > 0, \
            "the resumed greeting was heard"
        assert client.stats().reconnects == 1
    finally:
        pump.stop()
    assert not pump.errors, pump.errors
    client.disconnect()
    assert client.wait_disconnected(10)
