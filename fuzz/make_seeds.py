#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpora in fuzz/corpus/<target>/ (committed; rerun after editing).

Each seed starts with the target's configuration bytes (see the comment at the top of
fuzz/<target>.swift), then real-looking input: server WebSocket frames, HTTP responses,
Layercode server messages (doc/protocol.md §2) and authorize responses (doc/protocol.md §1).
"""
import base64
import json
import os
import shutil
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def frame(opcode, payload=b"", fin=True, rsv=0, mask=None, long_form=None):
    """A server frame (unmasked unless mask is given); long_form forces a 16/64-bit length."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    mbit = 0x80 if mask is not None else 0
    if long_form == 64 or n > 0xFFFF:
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    elif long_form == 16 or n >= 126:
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | n])
    if mask is not None:
        key = struct.pack(">I", mask)
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        head += key
    return head + payload


def js(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


PCM = base64.b64encode(struct.pack("<16h", *range(-8000, 8000, 1000))).decode()

SERVER_MESSAGES = {
    "turn_start_assistant": {"type": "turn.start", "role": "assistant", "turn_id": "turn_01"},
    "turn_start_user": {"type": "turn.start", "role": "user"},
    "response_audio": {"type": "response.audio", "content": PCM, "turn_id": "turn_01", "delta_id": "d_7"},
    "response_audio_numeric_ids": {"type": "response.audio", "content": "AAA=", "turn_id": 12, "delta_id": 3},
    "response_text": {"type": "response.text", "content": "Hello! How can I help you today? \u00e9\u4f60\U0001F600",
                      "turn_id": "turn_01"},
    "response_data": {"type": "response.data", "content": {"weather": [1.5, -2e3, None, True]},
                      "turn_id": "turn_01"},
    "response_end": {"type": "response.end", "turn_id": "turn_01"},
    "interim_delta": {"type": "user.transcript.interim_delta", "content": "what's the", "turn_id": "t2",
                      "delta_counter": 0},
    "delta": {"type": "user.transcript.delta", "content": "what's the weather", "turn_id": "t2",
              "delta_counter": 1},
    "transcript": {"type": "user.transcript", "content": "what's the weather like?", "turn_id": "t2"},
    "unknown_type": {"type": "session.update", "extra": {"nested": [[[]]]}},
}


def websocket():
    # byte 0: message limit index (0 = 1 MiB), byte 1: split seed.
    text = js(SERVER_MESSAGES["response_text"])
    audio = js(SERVER_MESSAGES["response_audio"])
    seeds = {
        "text": frame(1, text),
        "audio_16bit_length": frame(1, audio * 3),
        "binary": frame(2, bytes(range(40))),
        "fragmented_with_ping": frame(1, text[:10], fin=False) + frame(9, b"ping")
        + frame(0, text[10:30], fin=False) + frame(10, b"") + frame(0, text[30:]),
        "utf8_split_across_fragments": frame(1, "h\u00e9".encode()[:2], fin=False)
        + frame(0, "h\u00e9".encode()[2:] + "\U0001F600".encode()[:1], fin=False)
        + frame(0, "\U0001F600".encode()[1:]),
        "close_normal": frame(1, js(SERVER_MESSAGES["response_end"])) + frame(8, struct.pack(">H", 1000) + b"bye"),
        "close_empty": frame(8),
        "close_then_junk": frame(8, struct.pack(">H", 4000) + "d\u00e9j\u00e0".encode()) + b"\xff\xff",
        "non_minimal_64bit_length": frame(1, b'{"type":"response.end"}', long_form=64),
        "non_minimal_16bit_length": frame(2, b"xyz", long_form=16),
        "stream_of_messages": b"".join(frame(1, js(m)) for m in SERVER_MESSAGES.values()),
        "bad_masked": frame(1, b"hi", mask=0x37FA213D),
        "bad_rsv": frame(1, b"hi", rsv=0x40),
        "bad_utf8": frame(1, b"ok\xc3\x28"),
        "bad_close_code": frame(8, struct.pack(">H", 1005)),
        "bad_continuation": frame(0, b"x"),
        "partial_frame": frame(1, text)[:20],
    }
    configs = [(0, 0), (0, 1), (0, 7), (5, 3), (8, 4)]  # limits 1 MiB, 125, 300
    for name, data in seeds.items():
        for k, (limit, split) in enumerate(configs[:2] if name.startswith("bad") else configs):
            write("websocket", f"{name}_{k}", bytes([limit, split]) + data)


def http():
    # byte 0: bit 0 headOnly, bit 1 HEAD request, bits 2-4 header limit; byte 1 body limit;
    # byte 2 split seed.
    auth_ok = js({"client_session_key": "lc_sess_abc", "conversation_id": "conv_1",
                  "config": {"transcription": {"trigger": "automatic", "can_interrupt": True}}})
    crlf = b"\r\n"

    def resp(status_line, headers, body=b"", lf_only=False):
        nl = b"\n" if lf_only else crlf
        out = status_line.encode() + nl
        for h in headers:
            out += h.encode() + nl
        return out + nl + body

    def chunked(body, sizes):
        out = b""
        i = 0
        for k, n in enumerate(sizes):
            ext = b";ext=1" if k == 0 else b""
            out += format(n, "x").encode() + ext + crlf + body[i:i + n] + crlf
            i += n
        return out + b"0" + crlf + b"X-Checksum: abc" + crlf + crlf

    ws_leftover = frame(1, js(SERVER_MESSAGES["turn_start_assistant"]))
    seeds = {
        "authorize_ok": resp("HTTP/1.1 200 OK", ["Content-Type: application/json",
                                                 f"Content-Length: {len(auth_ok)}", "Connection: close"], auth_ok),
        "authorize_400": resp("HTTP/1.1 400 Bad Request", ["Content-Type: application/json", "Content-Length: 28"],
                              b'{"error":"invalid agent_id"}'),
        "authorize_402_chunked": resp("HTTP/1.1 402 Payment Required", ["Transfer-Encoding: chunked"],
                                      chunked(b'{"error":"insufficient balance"}', [5, 20, 7])),
        "chunked_ok": resp("HTTP/1.1 200 OK", ["Content-Type: application/json", "Transfer-Encoding: chunked"],
                           chunked(auth_ok, [1, 30, len(auth_ok) - 31])),
        "continue_then_ok": resp("HTTP/1.1 100 Continue", []) + resp("HTTP/1.1 200 OK", ["Content-Length: 2"], b"{}"),
        "no_content": resp("HTTP/1.1 204 No Content", ["Server: devserver"]),
        "until_eof": resp("HTTP/1.0 200 OK", ["Content-Type: text/plain"], b"body until close"),
        "lf_only": resp("HTTP/1.1 200 OK", ["Content-Length: 3"], b"abc", lf_only=True),
        "upgrade_with_frame": resp("HTTP/1.1 101 Switching Protocols",
                                   ["Upgrade: websocket", "Connection: Upgrade",
                                    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]) + ws_leftover,
        "multiple_content_length": resp("HTTP/1.1 200 OK", ["Content-Length: 4, 4", "content-length: 4"], b"abcd"),
        "te_not_chunked": resp("HTTP/1.1 200 OK", ["Transfer-Encoding: gzip", "Content-Length: 3"], b"xyz"),
        "bad_folding": resp("HTTP/1.1 200 OK", ["X-A: 1", " folded"], b""),
        "bad_conflicting_length": resp("HTTP/1.1 200 OK", ["Content-Length: 3", "Content-Length: 4"], b"abcd"),
        "bad_chunk_size": resp("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"], b"zz\r\n"),
        "chunked_small": resp("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"],
                              chunked(b"0123456789abcdef", [4, 4, 4, 4])),
        "keepalive_pipelined": resp("HTTP/1.1 200 OK", ["Content-Length: 2"], b"ok")
        + resp("HTTP/1.1 200 OK", ["Content-Length: 2"], b"no"),
    }
    # Limits: (1 MiB, 32 KiB), the 16-byte and 100-byte body limits, a 256-byte head limit.
    configs = [(0x00, 0, 0), (0x00, 0, 1), (0x00, 0, 9), (0x01, 0, 0), (0x02, 0, 4), (0x14, 6, 3),
               (0x00, 4, 5), (0x00, 5, 0)]
    for name, data in seeds.items():
        for k, config in enumerate(configs[:2] if name.startswith("bad") else configs):
            write("http", f"{name}_{k}", bytes(config) + data)


def json_seeds():
    # byte 0: maxDepth index (0 = 64).
    for name, msg in SERVER_MESSAGES.items():
        write("json", name, b"\x00" + js(msg))
    extra = {
        "pretty": b'\x00{\n  "type" : "response.text",\r\n\t"content": "a\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041"\n}\n',
        "surrogates": b'\x00["\\ud83d\\ude00", "\\u00e9", "\\uFFFF", "\xf0\x9f\x98\x80"]',
        "numbers": b'\x00[0, -0, 1.5, -2.25e-3, 1E+2, 123456789012345678, 9007199254740993, 1e308, 1e999, 5e-324]',
        "literals": b"\x00[true,false,null,{},[],\"\"]",
        "duplicate_keys": b'\x00{"type":"a","type":"response.end","k":1,"k":2}',
        "duplicate_key_drops_deeper_value": b'\x00{"a":{"b":[[1]]},"a":1}',
        "deep": b"\x06" + b"[" * 17 + b"]" * 17,
        "deep_objects": b"\x04" + b'{"a":' * 3 + b"1" + b"}" * 3,
        "many_keys": b"\x00" + js({f"key{i}": i for i in range(20)}),
        "scalar": b'\x00"just a string"',
        "bad_trailing_comma": b'\x00{"type":"x",}',
        "bad_leading_zero": b"\x00[01]",
        "bad_lone_surrogate": b'\x00"\\udc00"',
        "bad_utf8": b'\x00"\xc0\xaf"',
        "bad_control": b'\x00"a\x01b"',
    }
    for name, data in extra.items():
        write("json", name, data)


def authorize():
    # byte 0: status (bit 7 clear: table index; 0 = 200, 7 = 400, 9 = 402, 12 = 500),
    # byte 1: low status byte when bit 7 is set, byte 2: maxDepth index (0 = 64).
    ok = {"client_session_key": "lc_sess_4f2a", "conversation_id": "conv_9b1",
          "config": {"transcription": {"trigger": "automatic", "can_interrupt": True},
                     "vad": {"enabled": True, "gate_audio": True, "buffer_frames": 10,
                             "model": "v5", "positive_speech_threshold": 0.5,
                             "negative_speech_threshold": 0.35, "redemption_frames": 8,
                             "min_speech_frames": 3, "frame_samples": 512},
                     "voice": {"id": "alloy"}}}
    legacy = {"client_session_key": "k", "session_id": "sess_legacy",
              "config": {"transcription": {"trigger": "push_to_talk", "can_interrupt": False}}}
    odd_vad = {"client_session_key": "k", "conversation_id": "c",
               "config": {"transcription": {"trigger": "automatic"},
                          "vad": {"buffer_frames": 1e9, "redemption_frames": -4, "min_speech_frames": 1e400,
                                  "frame_samples": 0.4, "model": "legacy"}}}
    seeds = {
        "ok": (b"\x00\x00\x00", js(ok)),
        "ok_201": (b"\x01\x00\x00", js(ok)),
        "legacy_session_id": (b"\x00\x00\x00", js(legacy)),
        "odd_vad": (b"\x00\x00\x00", js(odd_vad).replace(b"Infinity", b"1e400")),
        "missing_trigger": (b"\x00\x00\x00", js({"client_session_key": "k", "conversation_id": "c", "config": {}})),
        "unknown_trigger": (b"\x00\x00\x00", js({"client_session_key": "k", "conversation_id": "c",
                                                  "config": {"transcription": {"trigger": "sometimes"}}})),
        "empty_key": (b"\x00\x00\x00", js(dict(ok, client_session_key=""))),
        "error_400": (b"\x07\x00\x00", js({"error": "invalid agent_id"})),
        "error_402": (b"\x09\x00\x00", js({"error": "insufficient balance"})),
        "error_message_field": (b"\x0c\x00\x00", js({"message": "upstream failed"})),
        "error_html_503": (b"\x81\xf7\x00", b"<html><body>503 Service Unavailable</body></html>"),
        "error_empty": (b"\x0d\x00\x00", b""),
        "shallow_depth": (b"\x00\x00\x03", js(ok)),
    }
    for name, (config, body) in seeds.items():
        write("authorize", name, config + body)


def ogg_crc(data):
    crc = 0
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def ogg_page(flags, granule, serial, seq, lacing, body, crc=None):
    head = b"OggS\x00" + bytes([flags]) + struct.pack("<QII", granule, serial, seq) + b"\x00\x00\x00\x00"
    page = head + bytes([len(lacing)]) + bytes(lacing) + body
    value = ogg_crc(page) if crc is None else crc
    return page[:22] + struct.pack("<I", value) + page[26:]


def lacing(size):
    return [255] * (size // 255) + [size % 255]


def opus_stream(packets, per_page=2, serial=0x1234, preskip=312, channels=2, tags=(b"liblayercode",)):
    head = b"OpusHead\x01" + bytes([channels]) + struct.pack("<HIhB", preskip, 16000, 0, 0)
    comments = [b"CONVERSATION_ID=conv_1", b"AGENT_ID=ag_1", b"DATE=2026-12-06T14:35:00Z"]
    tag = b"OpusTags" + struct.pack("<I", len(tags[0])) + tags[0] + struct.pack("<I", len(comments))
    tag += b"".join(struct.pack("<I", len(c)) + c for c in comments)
    out = ogg_page(2, 0, serial, 0, lacing(len(head)), head)
    out += ogg_page(0, 0, serial, 1, lacing(len(tag)), tag)
    seq, granule = 2, 0
    for i in range(0, len(packets), per_page):
        group = packets[i:i + per_page]
        granule += 960 * len(group)
        last = i + per_page >= len(packets)
        # The EOS page's granule: pre-skip + the real length (here 500 samples short).
        out += ogg_page(4 if last else 0, granule - (500 if last else 0), serial, seq,
                        sum((lacing(len(p)) for p in group), []), b"".join(group))
        seq += 1
    return out


def ogg():
    # byte 0: split seed, byte 1: bit 0 patch CRCs, bits 1-2 packet limit (0: 64 KiB).
    packets = [bytes([0xFC]) + bytes((i * 7 + k) & 0xFF for k in range(20 + 13 * i)) for i in range(6)]
    good = opus_stream(packets)
    seeds = {
        "opus_stream": b"\x00\x00" + good,
        "opus_stream_split": b"\x05\x00" + good,
        "opus_stream_patch_crc": b"\x03\x01" + good,
        "packet_255_and_510": b"\x00\x00" + opus_stream([bytes(255), bytes(510), b"\x01"]),
        "mono_one_page": b"\x01\x00" + opus_stream(packets[:3], per_page=3, channels=1),
        "bad_crc": b"\x00\x00" + good[:40] + bytes([good[40] ^ 1]) + good[41:],
        "no_bos": b"\x00\x01" + ogg_page(0, 0, 1, 0, [3], b"abc"),
        "continued_packet": b"\x00\x01" + ogg_page(2, 0, 9, 0, [1], b"x")
        + ogg_page(0, 2**64 - 1, 9, 1, [255], bytes(255)) + ogg_page(5, 960, 9, 2, [10], bytes(10)),
        "truncated": b"\x02\x00" + good[:-7],
        "small_limit": b"\x00\x04" + good,
    }
    for name, data in seeds.items():
        write("ogg", name, data)


def opus_header():
    """Opus profile binary messages (doc/opus-profile.md §3): header, then the packet."""
    def msg(seq, ts, packet, version=1, flags=0):
        return bytes([version, flags]) + seq.to_bytes(4, "big") + ts.to_bytes(4, "big") + packet
    seeds = {
        "one_byte_packet": msg(0, 0, b"\xfc"),
        "sequence_and_timestamp": msg(0x12345678, 0xFFFFFEC0, b"\x48\x01\x02\x03"),
        "flags_set": msg(1, 320, b"\x78\x10", flags=0xFF),
        "version_2": msg(0, 0, b"\xfc", version=2),
        "header_only": msg(0, 0, b""),
        "packet_640": msg(2, 640, b"\xfc" * 640),
        "packet_641": msg(2, 640, b"\xfc" * 641),
        "packet_1275": msg(3, 960, b"\xfc" * 1275),
        "packet_1276": msg(3, 960, b"\xfc" * 1276),
    }
    for name, data in seeds.items():
        write("opus_header", name, data)


if __name__ == "__main__":
    for target in ("websocket", "http", "json", "authorize", "opus_header", "ogg"):
        shutil.rmtree(os.path.join(ROOT, target), ignore_errors=True)
    websocket()
    http()
    json_seeds()
    authorize()
    opus_header()
    ogg()
    for target in sorted(os.listdir(ROOT)):
        files = os.listdir(os.path.join(ROOT, target))
        size = sum(os.path.getsize(os.path.join(ROOT, target, f)) for f in files)
        print(f"{target}: {len(files)} seeds, {size} bytes")
