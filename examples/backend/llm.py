# SPDX-License-Identifier: Apache-2.0
"""The example's "LLM": a tiny rule-based replier so the backend runs offline (weather,
time, jokes, greetings, lights, and a fallback that repeats what it heard), which reads the
conversation history the way a model would (it notices a topic asked before, an interrupted
reply, "what did I ask").

>>> PLUG A REAL LLM IN HERE <<<  `generate_reply(history)` is the one place to change: turn
`history` (history.Message: role, content, interrupted) into your model's messages and
yield its streamed text deltas, e.g. with the OpenAI SDK:

    stream = await client.chat.completions.create(model=..., stream=True, messages=[
        {"role": "system", "content": SYSTEM_PROMPT},
        *({"role": m.role, "content": m.content + (" [interrupted]" if m.interrupted else "")}
          for m in history if m.content)])
    async for chunk in stream:
        yield chunk.choices[0].delta.content or ""

The webhook (agent.py) cuts whatever this yields into sentences and streams each one to
Layercode as soon as it is complete. `ui_data` stands for a model's tool call: structured
data the device's UI gets as `response.data`."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
from typing import AsyncIterator

from history import Message

SYSTEM_PROMPT = ("You are a helpful voice assistant. Your words are spoken by a TTS model: "
                 "answer in short, plain sentences without markup.")
GREETING = ("Hello! I am the example backend for liblayercode. "
            "Ask me about the weather, the time, or a joke.")
WELCOME_BACK = "Welcome back! We were talking a moment ago. What else can I do for you?"

# Delay between tokens, seconds: about a fast model's streaming rate, so the sentence-by-
# sentence streaming is visible in the logs (and the first sentence leaves before the last
# is generated).
TOKEN_DELAY = (0.02, 0.045)

JOKES = (
    "Why did the microphone break up with the speaker? It felt it was always being talked over.",
    "I told my computer a joke about UDP. I am not sure it got it.",
    "Why do programmers prefer dark mode? Because light attracts bugs.",
)

TOPICS = (  # (topic, words that mean it), first match wins
    ("the lights", ("light", "lights", "lamp")),
    ("the weather", ("weather", "rain", "sunny", "temperature", "forecast")),
    ("the time", ("time", "clock", "date", "day is it")),
    ("a joke", ("joke", "funny", "laugh")),
    ("history", ("what did i ask", "what did i say", "what have i asked")),
    ("a greeting", ("hello", "hi", "hey", "good morning", "good evening")),
)


def topic_of(text: str) -> str | None:
    words = " " + re.sub(r"[^a-z' ]+", " ", text.lower()) + " "
    for topic, keys in TOPICS:
        if any(f" {key} " in words for key in keys):
            return topic
    return None


def _current_and_before(history: list[Message]) -> tuple[str, list[Message]]:
    """The newest user message's text and the messages before it."""
    for i in range(len(history) - 1, -1, -1):
        if history[i].role == "user":
            return history[i].content, history[:i]
    return "", list(history)


def _answer(topic: str | None, text: str, before: list[Message]) -> str:
    if topic == "the weather":
        return ("Today it is sunny with a high of twenty one degrees and a light breeze. "
                "A good day to be outside.")
    if topic == "the time":
        now = dt.datetime.now(dt.timezone.utc)
        return f"It is {now:%H:%M} UTC, on {now:%A}, the {now.day} of {now:%B}."
    if topic == "a joke":
        told = sum(1 for m in before if m.role == "user" and topic_of(m.content) == "a joke")
        return JOKES[told % len(JOKES)]
    if topic == "the lights":
        state = "off" if re.search(r"\boff\b", text.lower()) else "on"
        return f"Okay. I have turned the lights {state}."
    if topic == "history":
        asked = [m.content for m in before if m.role == "user" and m.content]
        if not asked:
            return "You have not asked me anything yet."
        return f'Before this, you said: "{asked[-1]}".'
    if topic == "a greeting":
        return "Hello there! How can I help you?"
    if not text.strip():
        return "Sorry, I did not catch that. Could you say it again?"
    return (f'You said: "{text}". I am a small offline example, so I only know about the '
            "weather, the time, jokes and the lights.")


def compose_reply(history: list[Message]) -> str:
    """The whole reply text for the newest user message in history."""
    text, before = _current_and_before(history)
    topic = topic_of(text)
    parts = []
    last_reply = next((m for m in reversed(before) if m.role == "assistant"), None)
    if last_reply is not None and last_reply.interrupted:
        heard = last_reply.content.strip()
        parts.append(f'Sorry, I will stop there. You heard me up to "{heard}".' if heard
                     else "Sorry, go ahead.")
    if topic not in (None, "history", "a greeting", "a joke") and any(
            m.role == "user" and topic_of(m.content) == topic for m in before):
        parts.append(f"You asked me about {topic} before.")
    parts.append(_answer(topic, text, before))
    return " ".join(parts)


async def generate_reply(history: list[Message]) -> AsyncIterator[str]:
    """The reply to the newest user message, streamed as token-sized text deltas."""
    for token in re.findall(r"\S+\s*", compose_reply(history)):
        await asyncio.sleep(random.uniform(*TOKEN_DELAY))
        yield token


def ui_data(history: list[Message]) -> dict | None:
    """Structured data for the device's UI (a real model's tool call), or None."""
    text, _ = _current_and_before(history)
    if topic_of(text) == "the lights":
        return {"action": "lights", "state": "off" if re.search(r"\boff\b", text.lower())
                else "on"}
    return None
