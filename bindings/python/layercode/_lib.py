# SPDX-License-Identifier: Apache-2.0
"""Loading liblayercode and declaring its C ABI (include/layercode.h) for ctypes.

Only this module knows the C names. Every function gets its argtypes and restype, and the
structs that cross the ABI (lc_options, lc_stats, lc_event) are declared field by field in
the header's order, once: client.py builds Stats from lc_stats' list and takes every option
default from lc_options_init. They begin with ``struct_size``, which is always ctypes.sizeof
of the class, so the library knows which version of the struct it was handed (doc/abi.md).

When the header grows, add the new fields at the end of the structs and the new functions
to ``_SIGNATURES`` (or ``_OPTIONAL``, so that an older library still loads).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_float, c_int,
                    c_int32, c_int64, c_size_t, c_uint, c_uint64, c_void_p)
from typing import Any, Callable, List, Optional

#: The library major version these bindings speak (soname liblayercode.so.<major>).
ABI_MAJOR = 0
#: The oldest library version (LC_VERSION_NUMBER) these bindings were written against.
MIN_VERSION_NUMBER = 100

ENV_VAR = "LAYERCODE_LIBRARY"
SONAME = f"liblayercode.so.{ABI_MAJOR}"

# ---- constants (layercode.h) -----------------------------------------------------------

LC_OK = 0
LC_ERR_INVALID_ARGUMENT = -1
LC_ERR_INVALID_STATE = -2
LC_ERR_NO_MEMORY = -3
LC_ERR_AUTHORIZE = -4
LC_ERR_NETWORK = -5
LC_ERR_TLS = -6
LC_ERR_PROTOCOL = -7
LC_ERR_TIMEOUT = -8
LC_ERR_CLOSED = -9
LC_ERR_AUDIO = -10
LC_ERR_TOO_LARGE = -11
LC_ERR_INTERNAL = -12

LC_STATUS_DISCONNECTED = 0
LC_STATUS_CONNECTING = 1
LC_STATUS_CONNECTED = 2
LC_STATUS_RECONNECTING = 3
LC_STATUS_ERROR = 4

LC_AUDIO_EXTERNAL = 0
LC_AUDIO_NONE = 1
LC_AUDIO_ALSA = 2
LC_AUDIO_WAV = 3

LC_ECHO_ENGINE_NONE = 0
LC_ECHO_ENGINE_WEBRTC_AEC3 = 1
LC_ECHO_ENGINE_WEBRTC_LEGACY = 2
LC_ECHO_ENGINE_SPEEX = 3

LC_EVENT_STATUS = 1
LC_EVENT_CONNECTED = 2
LC_EVENT_DISCONNECTED = 3
LC_EVENT_ERROR = 4
LC_EVENT_MESSAGE = 5
LC_EVENT_DATA = 6
LC_EVENT_USER_AMPLITUDE = 7
LC_EVENT_AGENT_AMPLITUDE = 8
LC_EVENT_USER_SPEAKING = 9
LC_EVENT_AGENT_SPEAKING = 10
LC_EVENT_MUTE = 11
LC_EVENT_AUDIO_INPUT_CHANGED = 12
LC_EVENT_AUDIO_OUTPUT_CHANGED = 13
LC_EVENT_DEVICE_SWITCHED = 14
LC_EVENT_DEVICES_CHANGED = 15

LC_FAILURE_NONE = 0
LC_FAILURE_UNREACHABLE = 1
LC_FAILURE_AUTHORIZE = 2
LC_FAILURE_TLS = 3
LC_FAILURE_PROTOCOL = 4
LC_FAILURE_MAX_RETRIES = 5
LC_FAILURE_CLOSED = 6
LC_FAILURE_AUDIO = 7

LC_LOG_ERROR = 0
LC_LOG_WARN = 1
LC_LOG_INFO = 2
LC_LOG_DEBUG = 3

# ---- callback types --------------------------------------------------------------------
# c_void_p user_data arrives in Python as an int (or None for NULL); strings as bytes/None.

lc_status_fn = CFUNCTYPE(None, c_void_p, c_int)
lc_connected_fn = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p)
lc_disconnected_fn = CFUNCTYPE(None, c_void_p, c_int, c_char_p)
lc_error_fn = CFUNCTYPE(None, c_void_p, c_int, c_char_p)
lc_message_fn = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p)
lc_data_fn = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p)
lc_amplitude_fn = CFUNCTYPE(None, c_void_p, c_float)
lc_flag_fn = CFUNCTYPE(None, c_void_p, c_int)
lc_device_fn = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p, c_int, c_int)
lc_device_switched_fn = CFUNCTYPE(None, c_void_p, c_int, c_char_p)
lc_devices_changed_fn = CFUNCTYPE(None, c_void_p)
lc_log_fn = CFUNCTYPE(None, c_void_p, c_int, c_char_p)


# ---- structs ---------------------------------------------------------------------------

class lc_options(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("agent_id", c_char_p),
        ("authorize_url", c_char_p),
        ("authorize_headers", POINTER(c_char_p)),
        ("authorize_header_count", c_size_t),
        ("metadata_json", c_char_p),
        ("conversation_id", c_char_p),
        ("ws_url", c_char_p),
        ("ca_file", c_char_p),
        ("ca_dir", c_char_p),
        ("connect_timeout_ms", c_int),
        ("audio_mode", c_int),
        ("input_sample_rate", c_int),
        ("output_sample_rate", c_int),
        ("user_data", c_void_p),
        ("on_status", lc_status_fn),
        ("on_connected", lc_connected_fn),
        ("on_disconnected", lc_disconnected_fn),
        ("on_error", lc_error_fn),
        ("on_message", lc_message_fn),
        ("on_data", lc_data_fn),
        ("capture_device", c_char_p),
        ("playback_device", c_char_p),
        ("device_sample_rate", c_int),
        ("period_ms", c_int),
        ("jitter_min_ms", c_int),
        ("jitter_max_ms", c_int),
        ("audio_input_enabled", c_int),
        ("audio_output_enabled", c_int),
        ("start_muted", c_int),
        ("amplitude_rate_hz", c_int),
        ("on_user_amplitude", lc_amplitude_fn),
        ("on_agent_amplitude", lc_amplitude_fn),
        ("on_user_speaking", lc_flag_fn),
        ("on_agent_speaking", lc_flag_fn),
        ("on_mute", lc_flag_fn),
        ("reconnect_max_attempts", c_int),
        ("reconnect_base_ms", c_int),
        ("reconnect_max_delay_ms", c_int),
        ("keepalive_interval_ms", c_int),
        ("keepalive_timeout_ms", c_int),
        ("dns_timeout_ms", c_int),
        ("tcp_connect_timeout_ms", c_int),
        ("tls_timeout_ms", c_int),
        ("upgrade_timeout_ms", c_int),
        ("authorize_timeout_ms", c_int),
        ("send_queue_max_bytes", c_size_t),
        ("outage_buffer_ms", c_int),
        ("max_message_bytes", c_size_t),
        ("max_http_response_bytes", c_size_t),
        ("on_audio_input_changed", lc_flag_fn),
        ("on_audio_output_changed", lc_flag_fn),
        ("on_device_switched", lc_device_switched_fn),
        ("on_devices_changed", lc_devices_changed_fn),
        ("device_watch_ms", c_int),
        # Added after 0.1.0 (doc/abi.md).
        ("record_path", c_char_p),
        ("wire_codecs", c_char_p),
        ("opus_bitrate", c_int),
        ("opus_complexity", c_int),
        ("opus_dtx", c_int),
        ("echo_cancellation", c_int),
        ("echo_engine", c_char_p),
        ("noise_suppression", c_int),
        ("auto_gain", c_int),
        ("half_duplex", c_int),
        ("reserved1", c_int),
    ]


class lc_stats(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("audio_frames_sent", c_uint64),
        ("audio_bytes_sent", c_uint64),
        ("audio_frames_received", c_uint64),
        ("audio_bytes_received", c_uint64),
        ("messages_sent", c_uint64),
        ("messages_received", c_uint64),
        ("input_samples_dropped", c_uint64),
        ("playout_samples_dropped", c_uint64),
        ("played_samples", c_uint64),
        ("underrun_samples", c_uint64),
        ("connect_time_us", c_int64),
        ("jitter_delay_ms", c_int32),
        ("jitter_target_ms", c_int32),
        ("concealed_ms", c_int64),
        ("interruptions", c_int64),
        ("interruption_ms", c_int64),
        ("late_frames", c_uint64),
        ("dropped_frames", c_uint64),
        ("capture_xruns", c_uint64),
        ("playback_xruns", c_uint64),
        ("uplink_latency_p50_us", c_int64),
        ("uplink_latency_p99_us", c_int64),
        ("downlink_latency_p50_us", c_int64),
        ("downlink_latency_p99_us", c_int64),
        ("barge_in_latency_p50_us", c_int64),
        ("barge_in_latency_p99_us", c_int64),
        ("events_dropped", c_uint64),
        ("reconnects", c_uint64),
        ("send_queue_dropped_frames", c_uint64),
        ("outage_dropped_frames", c_uint64),
        ("event_queue_bytes", c_uint64),
        ("protocol_errors", c_uint64),
        ("device_delay_ms", c_int64),
        ("recorder_dropped_frames", c_uint64),
        ("fec_recovered_frames", c_uint64),
        ("wire_bytes_sent", c_uint64),
        ("wire_bytes_received", c_uint64),
        ("wire_codec", c_int32),
        ("echo_engine", c_int32),
        ("echo_return_loss_enhancement_db", c_double),
        ("residual_echo_level_dbfs", c_double),
        ("echo_delay_ms", c_int64),
        ("double_talk_frames", c_uint64),
        ("echo_frames", c_uint64),
        ("echo_reference_late_frames", c_uint64),
        ("half_duplex_gated_frames", c_uint64),
    ]


class lc_event(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("type", c_int),
        ("code", c_int),
        ("level", c_float),
        ("text", c_char_p),
        ("json", c_char_p),
        ("turn_id", c_char_p),
    ]


# ---- finding the library ---------------------------------------------------------------

def _package_candidates() -> List[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    found = glob.glob(os.path.join(here, "liblayercode.so*"))
    # The unversioned name first, then the shortest versioned one (the soname).
    return sorted(found, key=lambda p: (len(os.path.basename(p)), p))


def load_library() -> ctypes.CDLL:
    """Loads liblayercode: $LAYERCODE_LIBRARY, a copy bundled in this package, the
    versioned soname on the loader's path, then ctypes.util.find_library("layercode")."""
    tried: List[str] = []

    env = os.environ.get(ENV_VAR)
    if env:
        try:
            return ctypes.CDLL(env)
        except OSError as exc:
            # An explicit choice that fails is an error, not a reason to load another copy.
            raise ImportError(f"cannot load liblayercode from ${ENV_VAR}={env!r}: {exc}") \
                from exc

    tried.append(f"${ENV_VAR} (not set)")
    for path in _package_candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as exc:
            tried.append(f"{path} ({exc})")
    if not _package_candidates():
        tried.append(f"{os.path.dirname(os.path.abspath(__file__))}/liblayercode.so* (none)")

    try:
        return ctypes.CDLL(SONAME)
    except OSError as exc:
        tried.append(f"{SONAME} via the dynamic loader ({exc})")

    name = ctypes.util.find_library("layercode")
    if name:
        try:
            return ctypes.CDLL(name)
        except OSError as exc:
            tried.append(f"find_library('layercode') -> {name} ({exc})")
    else:
        tried.append("ctypes.util.find_library('layercode') (not found)")

    raise ImportError("liblayercode not found. Tried:\n  " + "\n  ".join(tried) +
                      "\nBuild it (make in the liblayercode checkout), then either set "
                      f"{ENV_VAR}=/path/to/build/lib/{SONAME}; or reinstall this package "
                      "after make (pip install ./bindings/python bundles "
                      f"build/lib/{SONAME}); or install the wheel `make wheel` builds "
                      "(pip install dist/layercode-*.whl, the library inside); or "
                      f"`make install` so the dynamic loader finds {SONAME}")


# ---- declarations ----------------------------------------------------------------------

_SIGNATURES: "dict[str, tuple[Any, list[Any]]]" = {
    "lc_version": (c_char_p, []),
    "lc_version_number": (c_int, []),
    "lc_strerror": (c_char_p, [c_int]),
    "lc_options_init_sized": (c_int, [POINTER(lc_options), c_size_t]),
    "lc_client_new": (c_int, [POINTER(lc_options), POINTER(c_void_p)]),
    "lc_client_free": (None, [c_void_p]),
    "lc_client_connect": (c_int, [c_void_p]),
    "lc_client_disconnect": (c_int, [c_void_p]),
    "lc_client_status": (c_int, [c_void_p]),
    "lc_client_write_audio": (c_int, [c_void_p, c_void_p, c_size_t]),
    "lc_client_read_audio": (c_int, [c_void_p, c_void_p, c_size_t]),
    "lc_client_send_text": (c_int, [c_void_p, c_char_p]),
    "lc_client_send_data": (c_int, [c_void_p, c_char_p]),
    "lc_client_turn_start": (c_int, [c_void_p]),
    "lc_client_turn_end": (c_int, [c_void_p]),
    "lc_client_mute": (c_int, [c_void_p]),
    "lc_client_unmute": (c_int, [c_void_p]),
    "lc_client_is_muted": (c_int, [c_void_p]),
    "lc_client_last_error": (c_char_p, [c_void_p]),
    "lc_client_get_stats_sized": (c_int, [c_void_p, POINTER(lc_stats), c_size_t]),
    "lc_list_devices": (c_int, [lc_device_fn, c_void_p]),
    "lc_client_set_audio_input": (c_int, [c_void_p, c_int]),
    "lc_client_set_audio_output": (c_int, [c_void_p, c_int]),
    "lc_client_set_input_device": (c_int, [c_void_p, c_char_p]),
    "lc_client_set_output_device": (c_int, [c_void_p, c_char_p]),
    "lc_client_failure_reason": (c_int, [c_void_p, POINTER(c_int)]),
}

# Functions a newer library may have; None when the loaded one lacks them.
_OPTIONAL: "dict[str, tuple[Any, list[Any]]]" = {
    "lc_client_poll_event_sized": (c_int, [c_void_p, POINTER(lc_event), c_size_t, c_int]),
    "lc_set_log_handler": (c_int, [lc_log_fn, c_void_p, c_int]),
    "lc_client_failure_message": (c_int, [c_void_p, c_char_p, c_size_t]),
    "lc_client_set_audio_delays": (c_int, [c_void_p, c_int, c_int]),
    "lc_echo_engines_built": (c_uint, []),
    "lc_echo_engine_name": (c_char_p, [c_int]),
}


class _Lib:
    """The loaded library with every function declared. Attribute access is the C call
    (through ctypes.CDLL, which releases the GIL for the duration of each call)."""

    def __init__(self, dll: ctypes.CDLL) -> None:
        self.dll = dll
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(dll, name)  # AttributeError: a library older than the header
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        for name, (restype, argtypes) in _OPTIONAL.items():
            fn = getattr(dll, name, None)
            if fn is not None:
                fn.restype = restype
                fn.argtypes = argtypes
            setattr(self, name, fn)

    def __getattr__(self, name: str) -> Callable[..., Any]:  # for type checkers only
        raise AttributeError(name)


def _open() -> _Lib:
    dll = load_library()
    try:
        lib = _Lib(dll)
    except AttributeError as exc:
        raise ImportError(f"{dll._name}: not a compatible liblayercode ({exc})") from exc
    number = lib.lc_version_number()
    if number // 10000 != ABI_MAJOR or number < MIN_VERSION_NUMBER:
        raise ImportError(f"{dll._name}: liblayercode {lib.lc_version().decode()} is not "
                          f"compatible with these bindings (need {ABI_MAJOR}.x, "
                          f">= {MIN_VERSION_NUMBER})")
    return lib


lib: _Lib = _open()


def strerror(code: int) -> str:
    text: Optional[bytes] = lib.lc_strerror(code)
    return text.decode("utf-8", "replace") if text else "unknown error"
