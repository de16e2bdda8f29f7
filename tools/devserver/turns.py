# SPDX-License-Identifier: Apache-2.0
"""Assistant turns as the client hears them (doc/protocol.md section 5).

An assistant turn lasts from when its reply is queued until the client says its audio has
played: `trigger.response.audio.replay_finished` after `response.end`. Until then the
assistant holds the turn: with `can_interrupt` false the user is not heard, with it true
speech is a barge-in. A client that never says so is penalised: the turn ends only when
its audio could have played out plus the replay timeout (README.md, "Session behaviour").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class AssistantTurn:
    late_budget: int = 0             # chunks still allowed after interruption
    interrupted: bool = False
    turn_id: str | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    last_delta: str | None = None    # the last delta_id sent
    audio_seconds: float = 0.0       # audio sent
    first_audio_at: float | None = None   # time.monotonic() of the first chunk sent
    play_clock: float = 0.0          # when the client will have played all audio sent
    reply: object = None             # the StreamedReply being sent (the webhook bridge's)
    # last_delta_id_played of a replay_finished that arrived before response.end
    early_replay: str | None = None
    replay_timer: asyncio.TimerHandle | None = None

    def interrupt(self, late_chunks: int) -> None:
        if not self.interrupted:
            self.interrupted = True
            self.late_budget = late_chunks
            self.stop.set()

    def may_send_audio(self) -> bool:
        """Checked under the send lock right before each audio chunk."""
        if not self.interrupted:
            return True
        if self.late_budget > 0:
            self.late_budget -= 1
            return True
        return False


class Playout:
    """The assistant turns whose audio is all sent and that the client is still playing."""

    def __init__(self, timeout: float,
                 on_timeout: Callable[[AssistantTurn, float], None]) -> None:
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.turns: list[AssistantTurn] = []

    def __bool__(self) -> bool:
        return bool(self.turns)

    def sent(self, turn: AssistantTurn) -> None:
        """`response.end` went out: wait for the client to have played it."""
        if turn.early_replay is not None and turn.early_replay == turn.last_delta:
            return              # the client already played it all
        self.turns.append(turn)
        wait = turn.audio_seconds + self.timeout
        turn.replay_timer = asyncio.get_running_loop().call_later(
            wait, self._timed_out, turn, wait)

    def replay_finished(self, turn_id, delta: str | None,
                        sending: list[AssistantTurn]) -> None:
        """Ends the turn the client has finished playing: the one it names, else the oldest
        one waiting (the JS SDK sends no turn_id). One that arrives while its turn is still
        sending (the client's playout ran dry between chunks) ends it only if it names the
        turn's last delta, checked when the turn has sent it all."""
        named = isinstance(turn_id, str) and bool(turn_id)
        for turn in self.turns:
            if not named or turn.turn_id == turn_id:
                self._end(turn)
                return
        for turn in sending:
            if (turn.turn_id == turn_id if named else turn.turn_id is not None) \
                    and not turn.interrupted:
                turn.early_replay = delta
                return
        # an interrupted or unknown turn: nothing to end

    def interrupt(self) -> list[AssistantTurn]:
        """Barge-in: every turn still playing ends now; those turns."""
        turns, self.turns = self.turns, []
        for turn in turns:
            self._cancel(turn)
        return turns

    def _end(self, turn: AssistantTurn) -> None:
        self._cancel(turn)
        self.turns.remove(turn)

    @staticmethod
    def _cancel(turn: AssistantTurn) -> None:
        if turn.replay_timer is not None:
            turn.replay_timer.cancel()
            turn.replay_timer = None

    def _timed_out(self, turn: AssistantTurn, waited: float) -> None:
        turn.replay_timer = None
        if turn in self.turns:
            self.turns.remove(turn)
            self.on_timeout(turn, waited)
