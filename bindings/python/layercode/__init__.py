# SPDX-License-Identifier: Apache-2.0
"""Python bindings for liblayercode, a native client for Layercode's real-time voice agents.

    import layercode

    with layercode.Client(agent_id="...", authorize_url="https://example.com/authorize",
                          audio="alsa") as client:
        client.connect().wait_connected()
        for event in client.events(timeout=60):
            if event.type == "message":
                print(event.message)

See README.md. The library is found through $LAYERCODE_LIBRARY, a copy bundled in this
package, the soname liblayercode.so.0, or ctypes.util.find_library("layercode").
"""

from __future__ import annotations

from ._lib import lib as _lib_handle
from .aio import AsyncClient
from .client import EVENT_TYPES, Client, Event, Stats, Status
from .devices import Device, list_devices
from .logs import set_library_log_level
from .errors import (AudioError, AuthorizeError, CallbackError, ClosedError, ErrorCode,
                     InternalError, InvalidArgumentError, InvalidStateError, LayercodeError,
                     LCTimeoutError, NetworkError, NoMemoryError, ProtocolError, TLSError,
                     TooLargeError, error_for)

#: Version of these bindings.
__version__ = "0.1.0"


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH" (lc_version)."""
    return _lib_handle.lc_version().decode("ascii")


def version_number() -> int:
    """The loaded library's MAJOR * 10000 + MINOR * 100 + PATCH (lc_version_number)."""
    return int(_lib_handle.lc_version_number())


def echo_engines_built() -> list:
    """The echo engines the loaded library was built with, best first, by the names
    Client(echo_engine=...) takes ("webrtc-aec3", "webrtc-legacy", "speexdsp"); [] when
    none (or the library predates echo cancellation)."""
    if _lib_handle.lc_echo_engines_built is None:
        return []
    mask = int(_lib_handle.lc_echo_engines_built())
    return [_lib_handle.lc_echo_engine_name(e).decode("ascii") for e in (1, 2, 3) if mask & (1 << e)]


def library_path() -> str:
    """Path (or name) the library was loaded from."""
    return str(_lib_handle.dll._name)


__all__ = [
    "AsyncClient", "AudioError", "AuthorizeError", "CallbackError", "Client", "ClosedError",
    "Device", "EVENT_TYPES", "ErrorCode", "Event", "InternalError", "InvalidArgumentError",
    "InvalidStateError", "LCTimeoutError", "LayercodeError", "NetworkError", "NoMemoryError",
    "ProtocolError", "Stats", "Status", "TLSError", "TooLargeError", "__version__",
    "echo_engines_built", "error_for", "library_path", "list_devices", "set_library_log_level", "version",
    "version_number",
]
