# SPDX-License-Identifier: Apache-2.0
"""Per-conversation message history, kept the way Layercode's conversation-history guide
says (docs.layercode.com/explanations/conversation-history): the user's message is stored
at once, an empty assistant placeholder with the same turn_id before streaming starts, the
placeholder's text filled in when the reply completes; a webhook request aborted by a
barge-in leaves the placeholder, and the next message's `interruption_context` marks that
assistant turn interrupted with what the user actually heard.

Bounded: at most MAX_CONVERSATIONS conversations (the least recently used is dropped),
MAX_MESSAGES messages each (the oldest dropped), MAX_TEXT characters a message. In memory
only: a real deployment keeps this in its database, keyed the same way."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

log = logging.getLogger("backend.history")

MAX_CONVERSATIONS = 1000
MAX_MESSAGES = 40
MAX_TEXT = 2000


@dataclass
class Message:
    role: str                     # "user" or "assistant"
    turn_id: str
    content: str
    interrupted: bool = False
    complete: bool = True         # False: an assistant placeholder still streaming (or aborted)
    at: float = field(default_factory=time.time)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


class Conversations:
    def __init__(self, max_conversations: int = MAX_CONVERSATIONS,
                 max_messages: int = MAX_MESSAGES) -> None:
        self.max_conversations = max_conversations
        self.max_messages = max_messages
        self._convs: OrderedDict[str, list[Message]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._convs)

    def history(self, conversation_id: str) -> list[Message]:
        """The conversation's messages (a new, empty one if unknown); marks it recently used."""
        messages = self._convs.get(conversation_id)
        if messages is None:
            messages = self._convs[conversation_id] = []
            while len(self._convs) > self.max_conversations:
                dropped, _ = self._convs.popitem(last=False)
                log.info("conversation %s dropped (more than %d kept)", dropped,
                         self.max_conversations)
        else:
            self._convs.move_to_end(conversation_id)
        return messages

    def _append(self, conversation_id: str, message: Message) -> Message:
        messages = self.history(conversation_id)
        messages.append(message)
        del messages[:-self.max_messages]
        return message

    def add_user(self, conversation_id: str, turn_id: str, text: str) -> Message:
        return self._append(conversation_id, Message("user", turn_id, _clip(text)))

    def add_placeholder(self, conversation_id: str, turn_id: str) -> Message:
        return self._append(conversation_id,
                            Message("assistant", turn_id, "", complete=False))

    @staticmethod
    def complete(placeholder: Message, text: str) -> None:
        """The reply finished streaming: the placeholder becomes the final message."""
        placeholder.content = _clip(text)
        placeholder.complete = True

    def mark_interrupted(self, conversation_id: str, context: dict) -> Message | None:
        """Applies a message's `interruption_context` ({previous_turn_interrupted,
        words_heard, text_heard, assistant_turn_id}): the assistant message of that turn
        is marked interrupted and keeps only the text the user heard. Returns it, or None
        if the context says nothing was interrupted or the turn is not in the history."""
        if not isinstance(context, dict) or not context.get("previous_turn_interrupted"):
            return None
        turn_id = context.get("assistant_turn_id")
        heard = context.get("text_heard")
        heard = heard if isinstance(heard, str) else ""
        for message in reversed(self.history(conversation_id)):
            if message.role == "assistant" and (turn_id is None or message.turn_id == turn_id):
                message.interrupted = True
                message.complete = True
                message.content = _clip(heard)
                return message
        return None
