# SPDX-License-Identifier: Apache-2.0
"""PCM16LE mono helpers: decoding client audio, tones, resampling, levels.

All audio is signed 16-bit little-endian mono. Client audio is 8 kHz, server
audio is 16 kHz (doc/protocol.md section 2). Only the stdlib is used.
"""

from __future__ import annotations

import array
import base64
import binascii
import math
import sys

CLIENT_RATE = 8000
SERVER_RATE = 16000
BYTES_PER_SAMPLE = 2

_LITTLE = sys.byteorder == "little"


class AudioFormatError(ValueError):
    """Client audio that is not valid base64 PCM16."""


def samples_from_bytes(data: bytes) -> array.array:
    """PCM16LE bytes -> array('h') in native order."""
    samples = array.array("h")
    samples.frombytes(data)
    if not _LITTLE:
        samples.byteswap()
    return samples


def bytes_from_samples(samples: array.array) -> bytes:
    """array('h') in native order -> PCM16LE bytes."""
    if _LITTLE:
        return samples.tobytes()
    swapped = array.array("h", samples)
    swapped.byteswap()
    return swapped.tobytes()


def decode_client_audio(content: object) -> bytes:
    """Validate and decode the base64 `content` of a client.audio message.

    Raises AudioFormatError with a readable reason.
    """
    if not isinstance(content, str):
        raise AudioFormatError(
            f"content must be a base64 string, got {type(content).__name__}")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AudioFormatError(f"content is not valid base64: {exc}") from None
    if len(data) % BYTES_PER_SAMPLE:
        raise AudioFormatError(
            f"content decodes to {len(data)} bytes, not a whole number of "
            "16-bit samples")
    return data


def encode_audio(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def tone(hz: float, seconds: float, rate: int = SERVER_RATE,
         amplitude: float = 0.5) -> bytes:
    """A sine at `hz`, `amplitude` of full scale, starting at phase 0.

    Generated from the absolute sample index, so any slicing of the result
    into chunks is phase-continuous across chunk boundaries.
    """
    count = max(0, int(round(seconds * rate)))
    peak = amplitude * 32767.0
    step = 2.0 * math.pi * hz / rate
    samples = array.array("h", (int(round(peak * math.sin(step * n)))
                                for n in range(count)))
    return bytes_from_samples(samples)


def upsample_2x(data: bytes) -> bytes:
    """8 kHz -> 16 kHz by linear interpolation.

    Every input sample is kept at an even output index; each odd output sample
    is the mean of its two neighbours (the very last one repeats the final
    input sample). So output[0::2] equals the input exactly.
    """
    src = samples_from_bytes(data)
    n = len(src)
    out = array.array("h", bytes(4 * n))
    if n == 0:
        return b""
    out[0::2] = src
    mids = array.array("h", ((src[i] + src[i + 1]) // 2 for i in range(n - 1)))
    mids.append(src[n - 1])
    out[1::2] = mids
    return bytes_from_samples(out)


def resample_linear(data: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample PCM16 mono by linear interpolation (fallback when sox is absent)."""
    src = samples_from_bytes(data)
    if src_rate == dst_rate or not src:
        return bytes(data)
    n_out = int(len(src) * dst_rate / src_rate)
    ratio = src_rate / dst_rate
    last = len(src) - 1
    out = array.array("h", bytes(2 * n_out))
    for i in range(n_out):
        pos = i * ratio
        j = int(pos)
        if j >= last:
            out[i] = src[last]
            continue
        frac = pos - j
        out[i] = int(round(src[j] + (src[j + 1] - src[j]) * frac))
    return bytes_from_samples(out)


def rms_dbfs(frame: bytes) -> float:
    """RMS level of a PCM16 frame in dBFS (full scale = 32768); -inf for digital silence."""
    samples = samples_from_bytes(frame)
    if not samples:
        return float("-inf")
    total = 0
    for s in samples:
        total += s * s
    if total == 0:
        return float("-inf")
    rms = math.sqrt(total / len(samples))
    return 20.0 * math.log10(rms / 32768.0)


def duration_seconds(data: bytes, rate: int) -> float:
    return len(data) / (BYTES_PER_SAMPLE * rate)


def chunks(data: bytes, chunk_ms: int, rate: int = SERVER_RATE) -> list[bytes]:
    """Split PCM into chunks of `chunk_ms` (the last may be shorter)."""
    size = max(BYTES_PER_SAMPLE, rate * chunk_ms // 1000 * BYTES_PER_SAMPLE)
    return [data[i:i + size] for i in range(0, len(data), size)]


def wav_to_pcm(wav: bytes) -> tuple[bytes, int, int, int]:
    """Extract (pcm, rate, channels, bits) from a RIFF/WAVE blob.

    Tolerates the bogus (streaming) chunk sizes espeak-ng writes with --stdout:
    the data chunk is taken to run to the end of the blob when its declared
    size is larger than what is there.
    """
    if len(wav) < 12 or wav[0:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos = 12
    fmt = None
    while pos + 8 <= len(wav):
        cid = wav[pos:pos + 4]
        size = int.from_bytes(wav[pos + 4:pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            tag = int.from_bytes(wav[body:body + 2], "little")
            channels = int.from_bytes(wav[body + 2:body + 4], "little")
            rate = int.from_bytes(wav[body + 4:body + 8], "little")
            bits = int.from_bytes(wav[body + 14:body + 16], "little")
            if tag != 1:
                raise ValueError(f"WAVE format tag {tag} is not PCM")
            fmt = (rate, channels, bits)
        elif cid == b"data":
            if fmt is None:
                raise ValueError("WAVE data chunk before fmt chunk")
            end = min(len(wav), body + size)
            pcm = wav[body:end]
            return (pcm[:len(pcm) - len(pcm) % 2],) + fmt
        pos = body + size + (size & 1)
    raise ValueError("WAVE file has no data chunk")


def downmix_to_mono(pcm: bytes, channels: int) -> bytes:
    if channels == 1:
        return pcm
    src = samples_from_bytes(pcm)
    frames = len(src) // channels
    out = array.array("h", (
        int(sum(src[f * channels + c] for c in range(channels)) / channels)
        for f in range(frames)))
    return bytes_from_samples(out)
