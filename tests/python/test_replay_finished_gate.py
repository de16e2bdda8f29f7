# SPDX-License-Identifier: Apache-2.0
"""A Layercode server may wait for trigger.response.audio.replay_finished before it hears the
user again (doc/protocol.md section 5); the devserver does (tools/devserver/README.md). Against
one that never gives up waiting (--replay-timeout 600) with can_interrupt false, the user is
heard after the greeting only because the library said the greeting had played."""

from __future__ import annotations

import layercode

from .support import AudioPump, Recorder, tone_burst


def test_user_is_heard_after_the_greeting_because_replay_finished_was_sent(make_client,
                                                                           devserver):
    server = devserver("--no-interrupt", "--replay-timeout", "600", "--agent", "tone",
                       "--tone-seconds", "1")
    rec = Recorder()
    client = make_client(server, agent_id="tone")
    for kind in layercode.EVENT_TYPES:
        client.on(kind, lambda *args, kind=kind: rec.add(kind, *args))
    client.connect().wait_connected(10)
    pump = AudioPump(client)
    pump.start()
    try:
        rec.wait(lambda kind, args: kind == "agent_speaking" and args[0] is True)
        t_done, _, _ = rec.wait(lambda kind, args: kind == "agent_speaking"
                                and args[0] is False)
        server.wait_for(lambda r: r.get("kind") == "recv" and r["msg"].get("type")
                        == "trigger.response.audio.replay_finished")
        pump.say(tone_burst(1.0))
        rec.wait(lambda kind, args: kind == "message" and args[0].get("type") == "turn.start"
                 and args[0].get("role") == "user", after=t_done)
        rec.wait(lambda kind, args: kind == "message"
                 and args[0].get("type") == "user.transcript", after=t_done)
    finally:
        pump.stop()
    assert not pump.errors
    finished = server.received("trigger.response.audio.replay_finished")
    greeting = [r["msg"] for r in server.records() if r.get("kind") == "send"
                and r["msg"].get("type") == "turn.start"][0]
    assert finished and finished[0]["turn_id"] == greeting["turn_id"], finished
    assert not [r for r in server.records() if r.get("kind") == "replay_timeout"]
