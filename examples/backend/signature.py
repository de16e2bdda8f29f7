# SPDX-License-Identifier: Apache-2.0
"""The webhook signature check: Layercode signs every webhook request with the header
`layercode-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
The signed text is the raw body as received (never a re-serialisation of parsed JSON),
compared in constant time, with a 5-minute tolerance either side of the clock."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "layercode-signature"
TOLERANCE_SECONDS = 300
# A real header is about 80 characters; anything far longer is not worth parsing.
MAX_HEADER_CHARS = 1024


class SignatureError(Exception):
    """Why a request's signature was refused (said in the 401 reply)."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for body at timestamp (for tools that call a webhook)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def parse(header: str) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures) of a header value; SignatureError if malformed."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    if len(header) > MAX_HEADER_CHARS:
        raise SignatureError(f"{HEADER} header too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {HEADER} header (expected t=...,v1=...)")
        if key == "t":
            if not value.isdigit() or len(value) > 12:
                raise SignatureError(f"malformed timestamp in {HEADER}")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        raise SignatureError(f"malformed {HEADER} header (expected t=...,v1=...)")
    return timestamp, signatures


def verify(secret: str, header: str, body: bytes, now: float | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> None:
    """Returns if header signs body with secret within tolerance, else SignatureError."""
    timestamp, signatures = parse(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"timestamp outside the {tolerance} s tolerance")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    # compare_digest on every candidate (no early exit on the first mismatch's position).
    matched = False
    for candidate in signatures:
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            matched = True
    if not matched:
        raise SignatureError("signature does not match")
