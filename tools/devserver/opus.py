# SPDX-License-Identifier: Apache-2.0
"""Opus through ctypes on the system libopus (Debian's libopus0), and the binary packet
header of doc/opus-profile.md section 3. No PyPI package: only the shared library.

    enc = Encoder(bitrate=24000, fec=True, loss_pct=5)
    packet = enc.encode(pcm16_320_samples)          # one 20 ms frame at 16 kHz
    dec = Decoder(8000)                              # decode the 16 kHz stream at 8 kHz
    dec.decode(packet); dec.decode(None)             # PLC; dec.decode(nxt, fec=True)
    pack_header(seq, ts) + packet; unpack(message) -> (seq, ts, packet)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct

# opus_defines.h
OPUS_OK = 0
OPUS_APPLICATION_VOIP = 2048
OPUS_SET_BITRATE_REQUEST = 4002
OPUS_SET_VBR_REQUEST = 4006
OPUS_SET_COMPLEXITY_REQUEST = 4010
OPUS_SET_INBAND_FEC_REQUEST = 4012
OPUS_SET_PACKET_LOSS_PERC_REQUEST = 4014
OPUS_SET_DTX_REQUEST = 4016

RATE = 16000                 # the profile's audio: 16 kHz mono, 20 ms per packet
FRAME_SAMPLES = 320
FRAME_BYTES = FRAME_SAMPLES * 2
MAX_PACKET = 1275            # RFC 6716
VERSION = 1
HEADER = struct.Struct(">BBII")    # version, flags, sequence, timestamp
HEADER_BYTES = HEADER.size         # 10


class OpusError(RuntimeError):
    """libopus is missing, or refused a call."""


class PacketError(ValueError):
    """A binary message that is not a profile packet (doc section 3)."""


_lib = None


def library() -> ctypes.CDLL:
    """The loaded libopus; OpusError with a readable reason when it is missing."""
    global _lib
    if _lib is not None:
        return _lib
    names = ["libopus.so.0", ctypes.util.find_library("opus") or "libopus.so"]
    errors = []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError as exc:
            errors.append(str(exc))
    else:
        raise OpusError("libopus not found (install Debian's libopus0 or libopus-dev): "
                        + "; ".join(errors))
    p, i = ctypes.c_void_p, ctypes.c_int
    lib.opus_encoder_create.restype = p
    lib.opus_encoder_create.argtypes = [ctypes.c_int32, i, i, ctypes.POINTER(i)]
    lib.opus_encoder_destroy.argtypes = [p]
    lib.opus_encode.restype = ctypes.c_int32
    lib.opus_encode.argtypes = [p, ctypes.c_char_p, i, ctypes.c_char_p, ctypes.c_int32]
    lib.opus_decoder_create.restype = p
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, i, ctypes.POINTER(i)]
    lib.opus_decoder_destroy.argtypes = [p]
    lib.opus_decode.restype = i
    lib.opus_decode.argtypes = [p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_char_p, i, i]
    lib.opus_strerror.restype = ctypes.c_char_p
    lib.opus_strerror.argtypes = [i]
    lib.opus_encoder_ctl.restype = i      # variadic: no argtypes, ints passed as int
    _lib = lib
    return lib


def _error(code: int) -> str:
    return library().opus_strerror(code).decode(errors="replace")


class Encoder:
    """16 kHz mono VOIP encoder, 20 ms frames (doc section 6)."""

    def __init__(self, *, bitrate: int = 24000, complexity: int = 5, fec: bool = True,
                 loss_pct: int = 5, vbr: bool = True, dtx: bool = False) -> None:
        lib = library()
        err = ctypes.c_int(0)
        self._lib = lib
        self._st = lib.opus_encoder_create(RATE, 1, OPUS_APPLICATION_VOIP,
                                            ctypes.byref(err))
        if err.value != OPUS_OK or not self._st:
            raise OpusError(f"opus_encoder_create: {_error(err.value)}")
        self._out = ctypes.create_string_buffer(MAX_PACKET)
        for request, value in ((OPUS_SET_BITRATE_REQUEST, bitrate),
                               (OPUS_SET_COMPLEXITY_REQUEST, complexity),
                               (OPUS_SET_INBAND_FEC_REQUEST, int(fec)),
                               (OPUS_SET_PACKET_LOSS_PERC_REQUEST, loss_pct),
                               (OPUS_SET_VBR_REQUEST, int(vbr)),
                               (OPUS_SET_DTX_REQUEST, int(dtx))):
            self.ctl(request, value)

    def ctl(self, request: int, value: int) -> None:
        rc = self._lib.opus_encoder_ctl(ctypes.c_void_p(self._st), ctypes.c_int(request),
                                        ctypes.c_int(value))
        if rc != OPUS_OK:
            raise OpusError(f"opus_encoder_ctl({request}, {value}): {_error(rc)}")

    def encode(self, pcm16: bytes) -> bytes:
        """One 20 ms frame (320 samples, 640 bytes PCM16LE) -> one Opus packet."""
        if len(pcm16) != FRAME_BYTES:
            raise ValueError(f"a frame is {FRAME_BYTES} bytes of PCM16, got {len(pcm16)}")
        n = self._lib.opus_encode(self._st, pcm16, FRAME_SAMPLES, self._out, MAX_PACKET)
        if n < 0:
            raise OpusError(f"opus_encode: {_error(n)}")
        return self._out.raw[:n]

    def __del__(self) -> None:
        st, self._st = getattr(self, "_st", None), None
        if st:
            self._lib.opus_encoder_destroy(st)


class Decoder:
    """Mono decoder at `rate` (8000 gives the devserver's 8 kHz PCM from the 16 kHz
    stream). Each call returns one 20 ms frame of PCM16LE."""

    def __init__(self, rate: int = RATE) -> None:
        lib = library()
        err = ctypes.c_int(0)
        self._lib = lib
        self.rate = rate
        self.frame_samples = rate // 50
        self._st = lib.opus_decoder_create(rate, 1, ctypes.byref(err))
        if err.value != OPUS_OK or not self._st:
            raise OpusError(f"opus_decoder_create({rate}): {_error(err.value)}")
        self._out = ctypes.create_string_buffer(self.frame_samples * 2)

    def decode(self, packet: bytes | None, fec: bool = False) -> bytes:
        """`packet` decoded; None: concealment (PLC); fec=True: the frame *before*
        `packet`, rebuilt from its in-band FEC (PLC when it carries none)."""
        data, size = (None, 0) if packet is None else (packet, len(packet))
        n = self._lib.opus_decode(self._st, data, size, self._out, self.frame_samples,
                                  int(fec))
        if n < 0:
            raise PacketError(f"opus_decode: {_error(n)}")
        return self._out.raw[:2 * n]

    def __del__(self) -> None:
        st, self._st = getattr(self, "_st", None), None
        if st:
            self._lib.opus_decoder_destroy(st)


def pack_header(sequence: int, timestamp: int) -> bytes:
    return HEADER.pack(VERSION, 0, sequence & 0xFFFFFFFF, timestamp & 0xFFFFFFFF)


def pack(sequence: int, timestamp: int, packet: bytes) -> bytes:
    """One binary message: header + Opus packet."""
    if not 1 <= len(packet) <= MAX_PACKET:
        raise ValueError(f"an Opus packet is 1-{MAX_PACKET} bytes, got {len(packet)}")
    return pack_header(sequence, timestamp) + packet


def unpack(message: bytes) -> tuple[int, int, bytes]:
    """(sequence, timestamp, packet) of one binary message; PacketError when it is
    shorter than 11 bytes, of another version, or its packet is over 1275 bytes."""
    if len(message) <= HEADER_BYTES:
        raise PacketError(f"binary message of {len(message)} bytes: a packet is at "
                          f"least {HEADER_BYTES + 1}")
    version, _flags, sequence, timestamp = HEADER.unpack_from(message)
    if version != VERSION:
        raise PacketError(f"packet version {version}, expected {VERSION}")
    packet = bytes(message[HEADER_BYTES:])
    if len(packet) > MAX_PACKET:
        raise PacketError(f"Opus packet of {len(packet)} bytes (at most {MAX_PACKET})")
    return sequence, timestamp, packet
