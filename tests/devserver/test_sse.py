# SPDX-License-Identifier: Apache-2.0
"""The event-stream parser (tools/devserver/sse.py) against the WHATWG rules: line ends,
comments, multi-line data, fields, the byte-order mark, events cut anywhere, bounds."""

from __future__ import annotations

import pytest

import devserver_harness  # noqa: F401  (puts tools/devserver on sys.path)
from sse import SSEError, SSEParser

STREAM = (b"\xef\xbb\xbf: a comment first\r\n"
          b"data: {\"type\": \"response.tts\",\r\n"
          b"data:  \"content\": \"two lines\"}\r\n"
          b"\r\n"
          b"event: custom\n"
          b"id: 7\n"
          b"retry: 100\n"
          b"unknown-field: ignored\n"
          b"data\n"
          b"data:x\n"
          b"\n"
          b":keepalive\r"
          b"data: last\r"
          b"\r")


def events(parser: SSEParser, pieces) -> list[tuple[str, str, str | None]]:
    out = []
    for piece in pieces:
        out += [(e.event, e.data, e.id) for e in parser.feed(piece)]
    return out


EXPECTED = [("message", '{"type": "response.tts",\n "content": "two lines"}', None),
            ("custom", "\nx", "7"),
            ("message", "last", "7")]


def test_a_whole_stream_in_one_piece():
    parser = SSEParser()
    assert events(parser, [STREAM]) == EXPECTED
    assert parser.comments == 2 and not parser.pending


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_the_same_stream_cut_into_pieces_of_any_size(size):
    """Cuts fall inside the byte-order mark, between CR and LF, inside UTF-8 and fields."""
    pieces = [STREAM[i:i + size] for i in range(0, len(STREAM), size)]
    assert events(SSEParser(), pieces) == EXPECTED


def test_every_two_way_cut():
    for cut in range(len(STREAM) + 1):
        assert events(SSEParser(), [STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_cr_then_lf_in_the_next_piece_is_one_line_end():
    p = SSEParser()
    assert events(p, [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == \
        [("message", "a\nb", None)]


def test_no_event_without_a_blank_line_and_empty_data_dispatches_nothing():
    p = SSEParser()
    assert events(p, [b"event: x\n\n", b"data: half"]) == []
    assert p.pending
    assert events(p, [b"\n\n"]) == [("message", "half", None)]
    # "data:" with nothing after it is an empty line of data: an event with data "".
    assert events(SSEParser(), [b"data:\n\n"]) == [("message", "", None)]


def test_utf8_split_across_pieces():
    text = "caf\u00e9 \u2013 \U0001F600".encode()
    data = b"data: " + text + b"\n\n"
    for cut in range(len(data)):
        assert events(SSEParser(), [data[:cut], data[cut:]]) == \
            [("message", text.decode(), None)]


def test_invalid_utf8_is_an_error():
    with pytest.raises(SSEError, match="UTF-8"):
        SSEParser().feed(b"data: \xff\xfe\n\n")


def test_a_line_that_never_ends_is_bounded():
    p = SSEParser(max_event_bytes=1000)
    p.feed(b"data: " + b"x" * 900)
    with pytest.raises(SSEError, match="longer than 1000"):
        p.feed(b"x" * 200)


def test_an_event_of_many_lines_is_bounded():
    p = SSEParser(max_event_bytes=1000)
    with pytest.raises(SSEError, match="over 1000 bytes"):
        for _ in range(200):
            p.feed(b"data: 0123456789\n")
