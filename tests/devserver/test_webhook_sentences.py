# SPDX-License-Identifier: Apache-2.0
"""Where the bridge cuts a streamed reply into spoken sentences (webhook_agent.SentenceChunker)."""

from __future__ import annotations

import devserver_harness  # noqa: F401  (puts tools/devserver on sys.path)
from webhook_agent import MAX_SENTENCE_CHARS, SentenceChunker


def chunks(*texts: str) -> list[list[str]]:
    c = SentenceChunker()
    return [c.add(t) for t in texts] + [c.flush()]


def test_token_deltas_make_a_sentence_when_its_end_and_the_next_space_are_in():
    assert chunks("The wea", "ther is", " sunny.", " Any", "thing else?") == \
        [[], [], [], ["The weather is sunny."], [], ["Anything else?"]]


def test_events_that_are_whole_sentences_without_spaces_are_still_two_sentences():
    """Regression (dashboard review): "It is sunny." then "Anything else?" came out as
    one sentence, "It is sunny.Anything else?"."""
    assert chunks("It is sunny.", "Anything else?") == \
        [[], ["It is sunny."], ["Anything else?"]]


def test_a_decimal_or_a_lower_case_continuation_is_not_a_sentence_end():
    assert chunks("It is 3.", "5 degrees.") == [[], [], ["It is 3.5 degrees."]]
    assert chunks("e.g.", "this one.") == [[], [], ["e.g.this one."]]


def test_line_breaks_quotes_and_runs_of_punctuation():
    assert chunks('He said "hi!" then\nleft?! Yes') == \
        [['He said "hi!"', "then", "left?!"], ["Yes"]]


def test_text_without_a_sentence_end_is_cut_at_a_space_within_the_bound():
    words = ("word " * 200).strip()
    out = chunks(words)
    assert all(len(s) <= MAX_SENTENCE_CHARS for part in out for s in part)
    assert " ".join(s for part in out for s in part) == words
