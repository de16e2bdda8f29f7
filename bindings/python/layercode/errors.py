# SPDX-License-Identifier: Apache-2.0
"""One exception class per LC_ERR_* code (codes are never reused or renumbered)."""

from __future__ import annotations

import enum
from typing import Any, Dict, Optional, Tuple, Type

from . import _lib


class ErrorCode(enum.IntEnum):
    """The library's result codes: 0 is OK, negatives are errors."""

    OK = _lib.LC_OK
    INVALID_ARGUMENT = _lib.LC_ERR_INVALID_ARGUMENT
    INVALID_STATE = _lib.LC_ERR_INVALID_STATE
    NO_MEMORY = _lib.LC_ERR_NO_MEMORY
    AUTHORIZE = _lib.LC_ERR_AUTHORIZE
    NETWORK = _lib.LC_ERR_NETWORK
    TLS = _lib.LC_ERR_TLS
    PROTOCOL = _lib.LC_ERR_PROTOCOL
    TIMEOUT = _lib.LC_ERR_TIMEOUT
    CLOSED = _lib.LC_ERR_CLOSED
    AUDIO = _lib.LC_ERR_AUDIO
    TOO_LARGE = _lib.LC_ERR_TOO_LARGE
    INTERNAL = _lib.LC_ERR_INTERNAL


class LayercodeError(Exception):
    """A liblayercode failure.

    ``code`` is the LC_ERR_* value (an int; ``ErrorCode(code)`` names it when known),
    ``detail`` what the library said about it (lc_client_last_error or the callback's
    message: HTTP status and server message, OpenSSL reason, ...), possibly empty.
    """

    code: int
    detail: str

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        name = _lib.strerror(code)
        super().__init__(f"{name}: {detail}" if detail else name)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.code, self.detail))


class InvalidArgumentError(LayercodeError, ValueError):
    """LC_ERR_INVALID_ARGUMENT: a bad option or value (NULL, bad JSON, out of range)."""


class InvalidStateError(LayercodeError):
    """LC_ERR_INVALID_STATE: not allowed in the client's current state."""


class NoMemoryError(LayercodeError, MemoryError):
    """LC_ERR_NO_MEMORY."""


class AuthorizeError(LayercodeError):
    """LC_ERR_AUTHORIZE: the authorize endpoint refused (the HTTP status is in detail)."""


class NetworkError(LayercodeError):
    """LC_ERR_NETWORK: DNS, connect, connection reset."""


class TLSError(LayercodeError):
    """LC_ERR_TLS: handshake or certificate verification failed."""


class ProtocolError(LayercodeError):
    """LC_ERR_PROTOCOL: HTTP, WebSocket or Layercode protocol violation."""


class LCTimeoutError(LayercodeError, TimeoutError):
    """LC_ERR_TIMEOUT (also raised by the bindings' own waits). A TimeoutError too."""


class ClosedError(LayercodeError):
    """LC_ERR_CLOSED: the session (or, in these bindings, the client) is closed."""


class AudioError(LayercodeError):
    """LC_ERR_AUDIO: audio device or resampler failure."""


class TooLargeError(LayercodeError):
    """LC_ERR_TOO_LARGE: message or response over its configured limit."""


class InternalError(LayercodeError):
    """LC_ERR_INTERNAL."""


class CallbackError(Exception):
    """One of your callbacks raised. The original exception is ``__cause__`` (and
    ``exception``); ``callback`` names the event ("message", "status", ...). It is logged,
    stored as ``Client.callback_error``, queued as an "error" event and passed to on_error;
    it never reaches the library."""

    def __init__(self, callback: str, exception: BaseException) -> None:
        self.callback = callback
        self.exception = exception
        super().__init__(f"on_{callback} raised {type(exception).__name__}: {exception}")
        self.__cause__ = exception

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.callback, self.exception))


_BY_CODE: Dict[int, Type[LayercodeError]] = {
    _lib.LC_ERR_INVALID_ARGUMENT: InvalidArgumentError,
    _lib.LC_ERR_INVALID_STATE: InvalidStateError,
    _lib.LC_ERR_NO_MEMORY: NoMemoryError,
    _lib.LC_ERR_AUTHORIZE: AuthorizeError,
    _lib.LC_ERR_NETWORK: NetworkError,
    _lib.LC_ERR_TLS: TLSError,
    _lib.LC_ERR_PROTOCOL: ProtocolError,
    _lib.LC_ERR_TIMEOUT: LCTimeoutError,
    _lib.LC_ERR_CLOSED: ClosedError,
    _lib.LC_ERR_AUDIO: AudioError,
    _lib.LC_ERR_TOO_LARGE: TooLargeError,
    _lib.LC_ERR_INTERNAL: InternalError,
}


def error_for(code: int) -> Type[LayercodeError]:
    """The exception class for an LC_ERR_* code (LayercodeError for codes this version of
    the bindings does not know)."""
    return _BY_CODE.get(code, LayercodeError)


def make_error(code: int, detail: Optional[str] = "") -> LayercodeError:
    """An exception instance for code with detail."""
    return error_for(code)(code, detail or "")
