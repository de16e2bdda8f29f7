# SPDX-License-Identifier: Apache-2.0
"""Barge-in through the webhook bridge, against a scripted backend (webhook_backend.py):
the request is cut, and the next `message` says what of the cut turn the user heard
(`interruption_context`), whichever way the turn was cut and however its audio played."""

from __future__ import annotations

import asyncio

from devserver_harness import of_type, run
from webhook_backend import Backend, opened, sse, with_bridge


def _story(req_text: str, story: str):
    async def reply(req, resp):
        tid = req.body.get("turn_id")
        if req.body["type"] == "message" and req.body["text"] == req_text:
            await resp.write(sse({"type": "response.tts", "content": story, "turn_id": tid}))
            while True:                       # never ends (the barge-in cuts it)
                await resp.write(b": still thinking\n\n")
                await asyncio.sleep(0.05)
        if req.body["type"] == "message":
            await resp.write(sse({"type": "response.tts", "content": "Okay.",
                                  "turn_id": tid}))
        await resp.write(sse({"type": "response.end", "turn_id": tid}))
    return reply


def test_barge_in_aborts_the_request_and_the_next_message_says_what_was_heard(tmp_path):
    reply = _story("tell me a story",
                   "Once upon a time there was a very long story. It went on.")

    async def go(server, backend):
        client = await opened(server, backend)
        await client.send(type="client.response.text", content="tell me a story")
        story = await client.until(of_type("response.audio"))
        story_req, = await backend.wait("message")
        await asyncio.sleep(0.5)              # the user hears some of it
        await client.send(type="trigger.turn.start", role="user")
        await asyncio.wait_for(story_req.aborted.wait(), 10)
        await client.send(type="client.audio", content="")   # an empty frame is fine
        await client.send(type="trigger.turn.end", role="user")
        story_tid = next(m for m in story if m["type"] == "turn.start")["turn_id"]
        after = await client.until(lambda m: m["type"] == "response.end"
                                   and m["turn_id"] != story_tid)
        await client.close()
        second = (await backend.wait("message", 2))[1]
        return story_tid, after, second.body, server.events()

    story_tid, after, second, events = run(with_bridge(tmp_path, reply, go,
                                                   "--turn-mode", "push_to_talk"))
    ctx = second["interruption_context"]
    assert ctx["previous_turn_interrupted"] is True
    assert ctx["assistant_turn_id"] == story_tid
    assert isinstance(ctx["words_heard"], int) and isinstance(ctx["text_heard"], str)
    assert len(ctx["text_heard"].split()) == ctx["words_heard"]
    assert "Once upon a time".startswith(" ".join(ctx["text_heard"].split()[:4])) \
        or ctx["words_heard"] == 0
    ends = [e for e in events if e["kind"] == "webhook_end"]
    assert [e["outcome"] for e in ends if e["request_id"] == ends[1]["request_id"]] \
        == ["aborted"]
    assert not any(m["type"] == "response.end" and m["turn_id"] == story_tid
                   for m in after)


def test_a_typed_barge_in_carries_the_context_of_the_turn_it_cut(tmp_path):
    """Regression (review): the typed text that interrupts went out before the interrupted
    turn was recorded, so its context landed on the message after."""
    async def go(server, backend):
        client = await opened(server, backend)
        await client.send(type="client.response.text", content="tell me a story")
        story = await client.until(of_type("response.audio"))
        await client.send(type="client.response.text", content="stop that")
        await client.until(lambda m: m["type"] == "response.text" and m["content"] == "Okay.")
        await client.close()
        return story, [r.body for r in await backend.wait("message", 2)]

    story, (first, second) = run(with_bridge(
        tmp_path, _story("tell me a story", "Once upon a time there was a story. It goes on."),
        go))
    assert "interruption_context" not in first
    ctx = second["interruption_context"]
    assert ctx["assistant_turn_id"] == first["turn_id"] == story[-1]["turn_id"]
    assert ctx["previous_turn_interrupted"] is True


def test_a_barge_in_while_the_client_still_plays_a_finished_reply_is_reported(tmp_path):
    """Regression (review): a reply whose audio was all sent, cut off while the client still
    played it, left no interruption_context."""
    async def go(server, backend):
        client = await opened(server, backend)
        await client.send(type="client.response.text", content="first")
        first = await client.until(of_type("response.end"))   # all sent; not yet played
        await client.send(type="client.response.text", content="second")
        await client.until(lambda m: m["type"] == "response.end"
                           and m["turn_id"] != first[-1]["turn_id"])
        await client.close()
        return first, (await backend.wait("message", 2))[1].body

    long = " ".join(["This sentence takes a while to say."] * 4)
    first, second = run(with_bridge(tmp_path, Backend.say(long), go))
    ctx = second["interruption_context"]
    assert ctx["assistant_turn_id"] == first[-1]["turn_id"]
    assert ctx["words_heard"] < len(long.split())


def test_words_heard_follow_the_clients_playout_across_a_pause_in_the_reply(tmp_path):
    """Regression (review): a sentence that arrived after the backend paused was counted as
    heard from when the first audio went out, as if playout had never stopped."""
    long = " ".join(f"word{n}" for n in range(40)) + ". "
    paused = asyncio.Event()

    async def reply(req, resp):
        tid = req.body.get("turn_id")
        if req.body["type"] == "message" and req.body["text"] == "go":
            await resp.write(sse({"type": "response.tts", "content": "Hello there. ",
                                  "turn_id": tid}))
            await asyncio.sleep(3)            # the model thinks; the client plays it out
            paused.set()
            await resp.write(sse({"type": "response.tts", "content": long,
                                  "turn_id": tid}))
            await asyncio.sleep(60)
        if req.body["type"] == "message":
            await resp.write(sse({"type": "response.tts", "content": "Okay.",
                                  "turn_id": tid}))
        await resp.write(sse({"type": "response.end", "turn_id": tid}))

    async def go(server, backend):
        client = await opened(server, backend)
        await client.send(type="client.response.text", content="go")
        await client.until(lambda m: m["type"] == "response.text"
                           and m["content"].startswith("word0"), timeout=30)
        await asyncio.sleep(0.5)
        await client.send(type="client.response.text", content="stop")
        await client.until(lambda m: m["type"] == "response.text" and m["content"] == "Okay.")
        await client.close()
        return (await backend.wait("message", 2))[1].body

    ctx = run(with_bridge(tmp_path, reply, go))["interruption_context"]
    # "Hello there." was played out during the pause; of the long sentence, at most what
    # plays in the time it took to send "stop" (0.5 s and the loop's delays), never all.
    assert ctx["text_heard"].startswith("Hello there.")
    assert 2 <= ctx["words_heard"] < 2 + 20, ctx
