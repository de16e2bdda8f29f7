# SPDX-License-Identifier: Apache-2.0
"""A pocketsphinx decoder in a child process, driven over pipes (asr.py's pool).

Why a process: pocketsphinx's Python binding holds the GIL while it decodes
(a few ms per 20 ms frame, tens of ms to end an utterance), which stalled the
devserver's event loop when the decoders ran in threads; in a child process
the decoding runs beside the loop (and on another core). The parent's worker
thread waits on the pipe, which releases the GIL.

Protocol (binary, one request at a time, each answered):
request  = op (1 byte) + length (4 bytes, big-endian) + payload
response = b"+" or b"!" (error) + length + UTF-8 text
ops: S start an utterance (payload: the cepstral mean to start from),
     A audio (16 kHz PCM16LE), H interim hypothesis, E end the utterance
     (answers the final hypothesis), U which of these words (space-separated)
     the dictionary lacks, Q quit. The child answers b"+" once its decoder is
     loaded (or b"!" and the reason) before the first request.

Run as `python asr_worker.py '<json Decoder kwargs>'`; it exits when its stdin
closes, so a parent that dies takes its decoders with it.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import time

log = logging.getLogger("devserver.asr")

REPLY_TIMEOUT = 30.0      # a hang guard: no request takes near this long
START_TIMEOUT = 60.0      # loading the model (about 0.5 s normally)
_HEADER = struct.Struct(">cI")


class DecoderError(RuntimeError):
    """The decoder process failed, died or did not answer."""


class RemoteDecoder:
    """The parent's handle on one decoder process. One thread at a time."""

    def __init__(self, kwargs: dict) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), json.dumps(kwargs)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.pid = self._proc.pid
        try:
            self._reply(START_TIMEOUT)
        except DecoderError:
            self.close()
            raise

    def start(self, cmn: str) -> None:
        self._call(b"S", cmn.encode())

    def process(self, audio16k: bytes) -> None:
        self._call(b"A", audio16k)

    def hypothesis(self) -> str:
        return self._call(b"H")

    def end(self) -> str:
        return self._call(b"E")

    def unknown(self, words: list[str]) -> list[str]:
        return self._call(b"U", " ".join(words).encode()).split()

    def close(self) -> None:
        """Stop the process (idempotent)."""
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write(_HEADER.pack(b"Q", 0))
            except OSError:
                pass
        for stream in (self._proc.stdin, self._proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _call(self, op: bytes, payload: bytes = b"") -> str:
        try:
            self._proc.stdin.write(_HEADER.pack(op, len(payload)) + payload)
        except (OSError, ValueError) as exc:
            raise DecoderError(f"decoder process {self.pid} is gone ({exc})") from None
        return self._reply(REPLY_TIMEOUT)

    def _reply(self, timeout: float) -> str:
        status, length = _HEADER.unpack(self._read(_HEADER.size, timeout))
        text = self._read(length, timeout).decode("utf-8", "replace") if length else ""
        if status != b"+":
            raise DecoderError(f"decoder process {self.pid}: {text}")
        return text

    def _read(self, n: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        data = b""
        while len(data) < n:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                raise DecoderError(f"decoder process {self.pid} did not answer "
                                   f"within {timeout:.0f} s")
            chunk = os.read(fd, n - len(data))
            if not chunk:
                code = self._proc.poll()
                raise DecoderError(f"decoder process {self.pid} exited (code {code})")
            data += chunk
        return data


# ---- the child -----------------------------------------------------------------------

def _serve(kwargs: dict) -> int:
    # Ctrl-C in a terminal reaches the whole process group: the devserver shuts
    # down and closes our stdin, which ends this loop without a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp, out = sys.stdin.buffer, sys.stdout.buffer

    def answer(ok: bool, text: str = "") -> None:
        body = text.encode("utf-8")
        out.write(_HEADER.pack(b"+" if ok else b"!", len(body)) + body)
        out.flush()

    try:
        from pocketsphinx import Decoder
        decoder = Decoder(loglevel="FATAL", **kwargs)
    except Exception as exc:
        answer(False, f"{type(exc).__name__}: {exc}")
        return 1
    answer(True)
    while True:
        header = inp.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return 0                      # parent closed the pipe
        op, length = _HEADER.unpack(header)
        payload = inp.read(length) if length else b""
        if len(payload) < length:
            return 0
        try:
            if op == b"Q":
                return 0
            answer(True, _handle(decoder, op, payload))
        except Exception as exc:
            answer(False, f"{type(exc).__name__}: {exc}")


def _handle(decoder, op: bytes, payload: bytes) -> str:
    if op == b"S":
        decoder.reinit_feat()           # fresh noise statistics (see asr_streams.CMN_PRIOR)
        decoder.set_cmn(payload.decode())
        decoder.start_utt()
        return ""
    if op == b"A":
        decoder.process_raw(payload, False, False)
        return ""
    if op in (b"H", b"E"):
        if op == b"E":
            decoder.end_utt()
        hyp = decoder.hyp()
        return hyp.hypstr if hyp is not None else ""
    if op == b"U":
        return " ".join(w for w in payload.decode().split()
                        if decoder.lookup_word(w) is None)
    raise ValueError(f"unknown op {op!r}")


if __name__ == "__main__":
    sys.exit(_serve(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
