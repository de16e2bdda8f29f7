# SPDX-License-Identifier: Apache-2.0
"""The synchronous Client: one lc_client and the Python side of its callbacks."""

from __future__ import annotations

import contextlib
import ctypes
import enum
import json
import logging
import os
import queue
import sys
import threading
import time
import weakref
from dataclasses import dataclass, fields, make_dataclass
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    TypeVar, Union, overload)

from . import _dispatch, _lib
from ._eventqueue import EventQueue
from ._lib import lib
from .errors import (CallbackError, ClosedError, InvalidArgumentError, InvalidStateError,
                     LayercodeError, LCTimeoutError, make_error)

logger = logging.getLogger("layercode")

F = TypeVar("F", bound=Callable[..., Any])

#: Events the Client reports, as ``on_<name>`` callbacks and as ``Event.type``.
EVENT_TYPES: Tuple[str, ...] = (
    "status", "connected", "disconnected", "error", "message", "data",
    "user_amplitude", "agent_amplitude", "user_speaking", "agent_speaking", "mute",
    "audio_input_changed", "audio_output_changed", "device_switched", "devices_changed",
)

#: failure_reason() names, by LC_FAILURE_* value.
FAILURE_REASONS = {
    _lib.LC_FAILURE_NONE: "none", _lib.LC_FAILURE_UNREACHABLE: "unreachable",
    _lib.LC_FAILURE_AUTHORIZE: "authorize", _lib.LC_FAILURE_TLS: "tls",
    _lib.LC_FAILURE_PROTOCOL: "protocol", _lib.LC_FAILURE_MAX_RETRIES: "max_retries",
    _lib.LC_FAILURE_CLOSED: "closed", _lib.LC_FAILURE_AUDIO: "audio",
}

#: Keyword options that map one to one onto lc_options integer fields (see layercode.h).
_INT_OPTIONS: Tuple[str, ...] = (
    "reconnect_max_attempts", "reconnect_base_ms", "reconnect_max_delay_ms",
    "keepalive_interval_ms", "keepalive_timeout_ms", "dns_timeout_ms",
    "tcp_connect_timeout_ms", "tls_timeout_ms", "upgrade_timeout_ms", "authorize_timeout_ms",
    "send_queue_max_bytes", "outage_buffer_ms", "max_message_bytes",
    "max_http_response_bytes", "device_watch_ms",
)

AudioBuffer = Any  # bytes-like PCM16, array('h'), or a numpy int16 array
StrPath = Union[str, "os.PathLike[str]"]


class Status(enum.IntEnum):
    """The client's status (LC_STATUS_*); str() gives the JS SDK's lowercase name."""

    DISCONNECTED = _lib.LC_STATUS_DISCONNECTED
    CONNECTING = _lib.LC_STATUS_CONNECTING
    CONNECTED = _lib.LC_STATUS_CONNECTED
    RECONNECTING = _lib.LC_STATUS_RECONNECTING
    ERROR = _lib.LC_STATUS_ERROR

    def __str__(self) -> str:
        return self.name.lower()


_AUDIO_MODES = {"external": _lib.LC_AUDIO_EXTERNAL, "none": _lib.LC_AUDIO_NONE,
                "alsa": _lib.LC_AUDIO_ALSA, "wav": _lib.LC_AUDIO_WAV}


@dataclass(frozen=True)
class Event:
    """One thing that happened on a client, as yielded by ``Client.events()`` and
    ``AsyncClient``. Only the fields of its ``type`` are set:

    ``status``: status. ``connected``: conversation_id, config. ``disconnected``: code
    (0 for a clean close, else the LC_ERR_* that ended the session), detail, error (None
    for a clean close). ``error``: code, detail, error (a LayercodeError, or a
    CallbackError with code 0 when one of your callbacks raised). ``message``: message
    (the parsed JSON object), message_type, raw. ``data``: data (the parsed "content"),
    turn_id, raw. ``user_amplitude``/``agent_amplitude``: level (0..1).
    ``user_speaking``/``agent_speaking``/``mute``/``audio_input_changed``/
    ``audio_output_changed``: active. ``device_switched``: is_input, device (its name).
    ``devices_changed``: no fields (call list_devices()).
    """

    type: str
    status: Optional[Status] = None
    conversation_id: Optional[str] = None
    config: Optional[Dict[str, Any]] = None
    code: int = 0
    detail: str = ""
    error: Optional[Exception] = None
    message: Optional[Dict[str, Any]] = None
    message_type: Optional[str] = None
    data: Any = None
    turn_id: Optional[str] = None
    level: Optional[float] = None
    active: Optional[bool] = None
    raw: Optional[str] = None
    is_input: Optional[bool] = None
    device: Optional[str] = None


def _stats_from_c(cls: Any, s: _lib.lc_stats) -> Any:
    # An older library fills only the struct_size bytes it knows: the rest reads as 0.
    known = s.struct_size
    values = {}
    for f in fields(cls):
        desc = getattr(_lib.lc_stats, f.name)
        kind = _STATS_TYPES[f.name]
        values[f.name] = kind(getattr(s, f.name)) if desc.offset + desc.size <= known else kind(0)
    return cls(**values)


#: Each lc_stats field's Python type: float for the C doubles (the echo figures in dB),
#: int for the rest.
_STATS_TYPES = {name: float if ctype is ctypes.c_double else int
                for name, ctype in _lib.lc_stats._fields_[1:]}


#: lc_stats: the client's counters, one attribute per lc_stats field but struct_size
#: (include/layercode.h documents each): int, or float for a C double. Built from _lib.lc_stats' field list, the one list
#: of them in these bindings. events_dropped and event_queue_bytes are the library's poll
#: queue, which these bindings never use (0; Client.event_queue_overflows counts what
#: events() lost).
Stats = make_dataclass(
    "Stats", [(name, kind) for name, kind in _STATS_TYPES.items()], frozen=True,
    namespace={"_from_c": classmethod(_stats_from_c),
               "__doc__": "lc_stats: the client's counters (see include/layercode.h for each "
                          "field)."})
Stats.__module__ = __name__


# ---- helpers ---------------------------------------------------------------------------

def _text(value: Optional[bytes]) -> str:
    return value.decode("utf-8", "replace") if value else ""


def _opt_text(value: Optional[bytes]) -> Optional[str]:
    return value.decode("utf-8", "replace") if value is not None else None


def _cstr(name: str, value: Any) -> Optional[bytes]:
    if value is None:
        return None
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, str):
        raw = value.encode("utf-8")
    elif isinstance(value, os.PathLike):
        raw = os.fsencode(value)
    else:
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if b"\0" in raw:
        raise InvalidArgumentError(_lib.LC_ERR_INVALID_ARGUMENT, f"{name} contains NUL")
    return raw


def _header_lines(headers: Union[Mapping[str, str], Sequence[str], None]) -> List[bytes]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        lines = [f"{k}: {v}" for k, v in headers.items()]
    elif isinstance(headers, (str, bytes)):
        raise TypeError('headers must be a dict or a list of "Name: Value" strings')
    else:
        lines = list(headers)
    out = []
    for line in lines:
        raw = _cstr("header", line)
        assert raw is not None
        out.append(raw)
    return out


def _pcm_argument(samples: AudioBuffer) -> Tuple[Any, int]:
    """(pointer argument, sample count) for PCM16 samples, without copying when the buffer
    is writable or bytes. The pointer argument keeps its buffer exported (and alive) until
    it is dropped."""
    if isinstance(samples, bytes):
        if len(samples) % 2:
            raise ValueError("PCM16 bytes must have an even length")
        return samples, len(samples) // 2
    dtype = getattr(samples, "dtype", None)
    if dtype is not None:  # numpy (never imported here: it stays optional)
        if dtype.kind != "i" or dtype.itemsize != 2:
            raise TypeError(f"audio arrays must be int16, not {dtype}")
        if dtype.byteorder == (">" if sys.byteorder == "little" else "<"):
            raise TypeError("audio arrays must be in native byte order")
        if not samples.flags["C_CONTIGUOUS"]:
            samples = samples.copy(order="C")
    view = memoryview(samples)
    if view.ndim > 1 and any(n != 1 for n in view.shape[1:]):
        # (frames, channels) would pass the channels off as consecutive mono samples.
        raise ValueError(f"audio must be mono: got shape {tuple(view.shape)}; downmix "
                         "first, e.g. samples.mean(axis=1).astype(numpy.int16)")
    if view.format in ("h", "@h", "=h", "<h" if sys.byteorder == "little" else ">h"):
        count = view.nbytes // 2
    elif view.itemsize == 1 and view.format in ("B", "b", "c", "@B", "@b", "=B"):
        if view.nbytes % 2:
            raise ValueError("PCM16 bytes must have an even length")
        count = view.nbytes // 2
    else:
        raise TypeError("audio must be PCM16: bytes-like, array('h') or an int16 array, "
                        f"not format {view.format!r}")
    if not view.c_contiguous:
        raise ValueError("audio buffers must be contiguous")
    if view.nbytes == 0:
        return None, 0
    if view.readonly:
        return (ctypes.c_char * view.nbytes).from_buffer_copy(view), count
    return (ctypes.c_char * view.nbytes).from_buffer(view), count


class _Handle:
    """Owns one lc_client pointer. Kept apart from Client so that weakref.finalize can free
    it without keeping the Client alive, and so that close() never frees the client while
    another thread is inside a call on it (the calls are short and non-blocking)."""

    __slots__ = ("ptr", "cid", "_cv", "_busy", "__weakref__")

    def __init__(self, ptr: int, cid: int) -> None:
        self.ptr: Optional[int] = ptr
        self.cid = cid
        self._cv = threading.Condition(threading.Lock())
        self._busy = 0

    def acquire(self) -> int:
        with self._cv:
            if self.ptr is None:
                raise ClosedError(_lib.LC_ERR_CLOSED, "the client is closed")
            self._busy += 1
            return self.ptr

    def release(self) -> None:
        with self._cv:
            self._busy -= 1
            if self._busy == 0:
                self._cv.notify_all()

    @property
    def closed(self) -> bool:
        return self.ptr is None

    def free(self) -> None:
        """lc_client_free, once. From then on the trampolines find no client for cid and
        return at once; lc_client_free (GIL released) waits for a callback in progress."""
        with self._cv:
            ptr = self.ptr
            if ptr is None:
                return
            self.ptr = None
            _dispatch.unregister(self.cid)
            while self._busy:
                self._cv.wait()
        lib.lc_client_free(ptr)


class _HandlerSlot:
    """``client.on_<name>``: read or assign the callback for one event type."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Optional["Client"], objtype: Any = None) -> Any:
        if obj is None:
            return self
        return obj._handlers.get(self.name)

    def __set__(self, obj: "Client", fn: Optional[Callable[..., Any]]) -> None:
        obj.on(self.name, fn)


_CLOSED = object()  # the events queue's end marker
_MISSING: Any = object()


class Client:
    """A Layercode voice-agent client (lc_client).

    audio: "external" (you call write_audio/read_audio), "alsa" (the library opens
    capture_device/playback_device, ALSA PCM names), "wav" (capture_device is a WAV file
    played as the microphone in real time, playback_device a WAV file the agent's voice is
    written to), or "none" (text only).

    Callbacks (``on_status=...`` here, ``client.on_status = f``, or ``@client.on("status")``)
    run on the library's event-loop thread and must be quick; an exception in one is
    logged, stored as ``callback_error``, queued as an "error" event and passed to
    on_error, never propagated into the library. Their arguments:

    on_status(Status), on_connected(conversation_id: str, config: dict),
    on_disconnected(code: int, detail: str) (code 0: a clean close),
    on_error(error: LayercodeError | CallbackError), on_message(message: dict),
    on_data(content, turn_id: str | None), on_user_amplitude(level: float),
    on_agent_amplitude(level: float), on_user_speaking(speaking: bool),
    on_agent_speaking(speaking: bool), on_mute(muted: bool),
    on_audio_input_changed(enabled: bool), on_audio_output_changed(enabled: bool),
    on_device_switched(is_input: bool, name: str), on_devices_changed().

    on_devices_changed is watched (device_watch_ms) only if given here or with
    audio="alsa": ALSA's device list is read every device_watch_ms for it.

    record: a path; each session is recorded there as Ogg Opus (stereo 16 kHz: left the
    microphone as sent, right the agent as played; lc_options.record_path). connect()
    raises InvalidArgumentError when the file cannot be opened.

    Every option left out (or None) keeps the library's default, from lc_options_init
    (include/layercode.h names each). Resilience options: reconnect_max_attempts
    (0 = never), reconnect_base_ms, reconnect_max_delay_ms, keepalive_interval_ms (0 = off),
    keepalive_timeout_ms, dns_timeout_ms, tcp_connect_timeout_ms, tls_timeout_ms,
    upgrade_timeout_ms, authorize_timeout_ms (0 = connect_timeout_ms), send_queue_max_bytes,
    outage_buffer_ms, max_message_bytes, max_http_response_bytes, device_watch_ms.

    codecs offers the compressed Opus wire profile (doc/opus-profile.md): "opus,pcm16" or
    ["opus", "pcm16"]; a server that speaks it (tools/devserver --codecs opus,pcm16, or its
    relay) may choose it, any other keeps Layercode's PCM JSON (the default, None). The
    codec chosen is on_connected's config["audio"]["codec"] and stats().wire_codec
    (0 PCM16, 1 Opus). opus_bitrate (bits/s, 6000..510000), opus_complexity (0..10) and
    opus_dtx tune the Opus uplink.

    Echo cancellation (doc/echo-cancellation.md): echo_cancellation (None: on with ALSA and
    WAV audio when an engine is built in, off for external audio; True/False), echo_engine
    ("webrtc-aec3", "webrtc-legacy", "speexdsp", "webrtc"; None: the best built in; see
    echo_engines_built()), noise_suppression, auto_gain, and half_duplex (None: on with ALSA
    audio when no canceller runs). With external audio, set_audio_delays() declares the
    device latencies. stats() has the echo figures (echo_engine,
    echo_return_loss_enhancement_db, residual_echo_level_dbfs, echo_delay_ms,
    double_talk_frames, ...).

    Every event is also queued for ``events()`` (at most ``event_queue_size`` events and
    ``event_queue_max_bytes`` of their text, 1 MiB by default; the oldest are dropped beyond
    either and counted in ``event_queue_overflows``; ``event_queue_size=0`` turns the queue
    off).
    """

    on_status = _HandlerSlot("status")
    on_connected = _HandlerSlot("connected")
    on_disconnected = _HandlerSlot("disconnected")
    on_error = _HandlerSlot("error")
    on_message = _HandlerSlot("message")
    on_data = _HandlerSlot("data")
    on_user_amplitude = _HandlerSlot("user_amplitude")
    on_agent_amplitude = _HandlerSlot("agent_amplitude")
    on_user_speaking = _HandlerSlot("user_speaking")
    on_agent_speaking = _HandlerSlot("agent_speaking")
    on_mute = _HandlerSlot("mute")
    on_audio_input_changed = _HandlerSlot("audio_input_changed")
    on_audio_output_changed = _HandlerSlot("audio_output_changed")
    on_device_switched = _HandlerSlot("device_switched")
    on_devices_changed = _HandlerSlot("devices_changed")

    def __init__(
        self,
        agent_id: str,
        authorize_url: str,
        *,
        ws_url: Optional[str] = None,
        headers: Union[Mapping[str, str], Sequence[str], None] = None,
        metadata: Union[Mapping[str, Any], str, None] = None,
        conversation_id: Optional[str] = None,
        ca_file: Optional[StrPath] = None,
        ca_dir: Optional[StrPath] = None,
        connect_timeout_ms: Optional[int] = None,
        audio: str = "external",  # "external" | "alsa" | "wav" | "none"
        input_sample_rate: Optional[int] = None,
        output_sample_rate: Optional[int] = None,
        capture_device: Optional[StrPath] = None,
        playback_device: Optional[StrPath] = None,
        device_sample_rate: Optional[int] = None,
        period_ms: Optional[int] = None,
        jitter_min_ms: Optional[int] = None,
        jitter_max_ms: Optional[int] = None,
        audio_input: Optional[bool] = None,
        audio_output: Optional[bool] = None,
        muted: Optional[bool] = None,
        amplitude_rate_hz: Optional[int] = None,
        record: Optional[StrPath] = None,
        codecs: Union[str, Sequence[str], None] = None,
        opus_bitrate: Optional[int] = None,
        opus_complexity: Optional[int] = None,
        opus_dtx: Optional[bool] = None,
        echo_cancellation: Optional[bool] = None,
        echo_engine: Optional[str] = None,
        noise_suppression: Optional[bool] = None,
        auto_gain: Optional[bool] = None,
        half_duplex: Optional[bool] = None,
        event_queue_size: int = 10000,
        event_queue_max_bytes: int = 1 << 20,
        on_status: Optional[Callable[[Status], Any]] = None,
        on_connected: Optional[Callable[[str, Dict[str, Any]], Any]] = None,
        on_disconnected: Optional[Callable[[int, str], Any]] = None,
        on_error: Optional[Callable[[Exception], Any]] = None,
        on_message: Optional[Callable[[Dict[str, Any]], Any]] = None,
        on_data: Optional[Callable[[Any, Optional[str]], Any]] = None,
        on_user_amplitude: Optional[Callable[[float], Any]] = None,
        on_agent_amplitude: Optional[Callable[[float], Any]] = None,
        on_user_speaking: Optional[Callable[[bool], Any]] = None,
        on_agent_speaking: Optional[Callable[[bool], Any]] = None,
        on_mute: Optional[Callable[[bool], Any]] = None,
        on_audio_input_changed: Optional[Callable[[bool], Any]] = None,
        on_audio_output_changed: Optional[Callable[[bool], Any]] = None,
        on_device_switched: Optional[Callable[[bool, str], Any]] = None,
        on_devices_changed: Optional[Callable[[], Any]] = None,
        **limits: int,
    ) -> None:
        # Everything the callbacks touch exists before the client can call back.
        self._handlers: Dict[str, Optional[Callable[..., Any]]] = {}
        self._listeners: List[Callable[[Event], None]] = []
        # event_queue_size 0: no queue (events() unavailable), e.g. under AsyncClient.
        if event_queue_max_bytes < 1:
            raise ValueError("event_queue_max_bytes must be positive")
        self._events: Optional[EventQueue] = (
            EventQueue(event_queue_size, event_queue_max_bytes) if event_queue_size > 0 else None)
        self.event_queue_overflows = 0
        self.callback_error: Optional[CallbackError] = None
        self._state = threading.Condition(threading.Lock())
        self._connecting = False       # connect() called, neither connected nor ended yet
        self._session_open = False     # connect() called, on_disconnected not yet seen
        self._session_error: Optional[LayercodeError] = None
        self._handle: Optional[_Handle] = None

        for name, fn in (("status", on_status), ("connected", on_connected),
                         ("disconnected", on_disconnected), ("error", on_error),
                         ("message", on_message), ("data", on_data),
                         ("user_amplitude", on_user_amplitude),
                         ("agent_amplitude", on_agent_amplitude),
                         ("user_speaking", on_user_speaking),
                         ("agent_speaking", on_agent_speaking), ("mute", on_mute),
                         ("audio_input_changed", on_audio_input_changed),
                         ("audio_output_changed", on_audio_output_changed),
                         ("device_switched", on_device_switched),
                         ("devices_changed", on_devices_changed)):
            if fn is not None:
                self.on(name, fn)

        mode = _AUDIO_MODES.get(str(audio).lower()) if isinstance(audio, str) else None
        if mode is None:
            raise InvalidArgumentError(_lib.LC_ERR_INVALID_ARGUMENT,
                                       f"audio must be one of {sorted(_AUDIO_MODES)}, "
                                       f"not {audio!r}")
        if metadata is None or isinstance(metadata, str):
            metadata_json = metadata
        elif isinstance(metadata, Mapping):
            metadata_json = json.dumps(dict(metadata))
        else:
            raise TypeError("metadata must be a dict (or JSON text)")
        if codecs is not None and not isinstance(codecs, str):
            codecs = ",".join(str(c) for c in codecs)

        opts = _lib.lc_options()
        rc = lib.lc_options_init_sized(ctypes.byref(opts), ctypes.sizeof(opts))
        if rc != _lib.LC_OK:
            raise make_error(rc, "lc_options_init_sized refused this lc_options layout")

        # The bytes objects must outlive lc_client_new (which copies them).
        strings = {
            "agent_id": _cstr("agent_id", agent_id),
            "authorize_url": _cstr("authorize_url", authorize_url),
            "metadata_json": _cstr("metadata", metadata_json),
            "conversation_id": _cstr("conversation_id", conversation_id),
            "ws_url": _cstr("ws_url", ws_url),
            "ca_file": _cstr("ca_file", ca_file),
            "ca_dir": _cstr("ca_dir", ca_dir),
            "capture_device": _cstr("capture_device", capture_device),
            "playback_device": _cstr("playback_device", playback_device),
            "record_path": _cstr("record", record),
            "wire_codecs": _cstr("codecs", codecs),
            "echo_engine": _cstr("echo_engine", echo_engine),
        }
        for field_name, raw in strings.items():
            setattr(opts, field_name, raw)
        lines = _header_lines(headers)
        header_array = (ctypes.c_char_p * max(1, len(lines)))(*lines)
        if lines:
            opts.authorize_headers = header_array
            opts.authorize_header_count = len(lines)

        # Only what the caller passed: every default is lc_options_init's (the library's).
        opts.audio_mode = mode
        for field_name, value in (("connect_timeout_ms", connect_timeout_ms),
                                  ("input_sample_rate", input_sample_rate),
                                  ("output_sample_rate", output_sample_rate),
                                  ("device_sample_rate", device_sample_rate),
                                  ("period_ms", period_ms), ("jitter_min_ms", jitter_min_ms),
                                  ("jitter_max_ms", jitter_max_ms),
                                  ("amplitude_rate_hz", amplitude_rate_hz),
                                  ("opus_bitrate", opus_bitrate),
                                  ("opus_complexity", opus_complexity)):
            if value is not None:
                setattr(opts, field_name, int(value))
        for field_name, flag in (("audio_input_enabled", audio_input),
                                 ("audio_output_enabled", audio_output),
                                 ("start_muted", muted), ("opus_dtx", opus_dtx),
                                 ("echo_cancellation", echo_cancellation),
                                 ("noise_suppression", noise_suppression),
                                 ("auto_gain", auto_gain), ("half_duplex", half_duplex)):
            if flag is not None:
                setattr(opts, field_name, 1 if flag else 0)
        for name, value in limits.items():
            if name not in _INT_OPTIONS:
                raise TypeError(f"Client() got an unexpected keyword argument {name!r}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgumentError(_lib.LC_ERR_INVALID_ARGUMENT,
                                           f"{name} must be a non-negative int, not {value!r}")
            setattr(opts, name, value)

        self._cid = _dispatch.register(self)
        _dispatch.install(opts, self._cid,
                          watch_devices=on_devices_changed is not None or mode == _lib.LC_AUDIO_ALSA)
        out = ctypes.c_void_p()
        rc = lib.lc_client_new(ctypes.byref(opts), ctypes.byref(out))
        if rc != _lib.LC_OK or not out.value:
            detail = _text(lib.lc_client_last_error(None))
            _dispatch.unregister(self._cid)
            raise make_error(rc if rc < 0 else _lib.LC_ERR_INTERNAL, detail)
        self._handle = _Handle(out.value, self._cid)
        # Frees the client if it is garbage-collected unclosed, and at interpreter exit.
        self._finalizer = weakref.finalize(self, self._handle.free)
        _dispatch.ensure_atexit()

    # ---- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Disconnects if needed and frees the client (lc_client_free). Idempotent. No
        callback runs after it returns (unless called from a callback of this client: the
        free then completes when that callback returns). Ends every events() iterator."""
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()
        with self._state:
            self._connecting = False
            self._session_open = False
            self._state.notify_all()
        self._put(_CLOSED)

    @property
    def closed(self) -> bool:
        return self._handle is None or self._handle.closed

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else str(self.status)
        return f"<layercode.Client #{getattr(self, '_cid', '?')} {state}>"

    # ---- calls -------------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any) -> int:
        """fn(ptr, *args); a negative result raises its exception, with the call's own
        detail: lc_client_last_error, this thread's "why did my call fail" (ctypes calls C
        on the calling OS thread, so no other thread's failure can show here)."""
        handle = self._handle
        if handle is None:
            raise ClosedError(_lib.LC_ERR_CLOSED, "the client is closed")
        ptr = handle.acquire()
        try:
            rc: int = fn(ptr, *args)
            if rc < 0:
                raise make_error(rc, _text(lib.lc_client_last_error(ptr)))
            return rc
        finally:
            handle.release()

    def connect(self) -> "Client":
        """Starts a session (authorize, then the WebSocket) and returns at once; progress
        arrives as events. wait_connected() blocks until it is live."""
        # Set before the call: the whole session may end before lc_client_connect returns.
        with self._state:
            before = (self._session_error, self._connecting, self._session_open)
            self._session_error = None
            self._connecting = True
            self._session_open = True
        try:
            self._call(lib.lc_client_connect)
        except BaseException:
            with self._state:  # refused (e.g. a session is already live): as it was
                self._session_error, self._connecting, self._session_open = before
                self._state.notify_all()
            raise
        return self

    def _not_on_library_thread(self, what: str) -> None:
        if threading.get_ident() == _dispatch.library_thread:
            raise InvalidStateError(_lib.LC_ERR_INVALID_STATE,
                                    f"{what} from a callback would wait forever: callbacks "
                                    "run on the thread that delivers the events")

    def wait_connected(self, timeout: Optional[float] = None) -> "Client":
        """Blocks until the session started by connect() is live. Raises the error that
        ended it (AuthorizeError, TLSError, ...), LCTimeoutError after timeout seconds, or
        InvalidStateError when no session is starting. Without a timeout the library's
        own (connect_timeout_ms for authorize, then for the WebSocket) bounds the wait."""
        self._not_on_library_thread("wait_connected()")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._state:
            while True:
                if self.closed:
                    raise ClosedError(_lib.LC_ERR_CLOSED, "the client is closed")
                status = self.status
                if status == Status.CONNECTED and not self._connecting:
                    return self
                if not self._connecting:
                    if self._session_error is not None:
                        raise self._session_error
                    raise InvalidStateError(_lib.LC_ERR_INVALID_STATE,
                                            f"not connecting (status {status})")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise LCTimeoutError(_lib.LC_ERR_TIMEOUT,
                                         f"not connected within {timeout} s")
                self._state.wait(remaining)

    def disconnect(self) -> None:
        """Ends the session (WebSocket close 1000) or abandons a connect in progress.
        Returns at once; a "disconnected" event follows. A no-op when disconnected."""
        self._call(lib.lc_client_disconnect)

    def wait_disconnected(self, timeout: Optional[float] = 10.0) -> bool:
        """Blocks until the session has ended (its on_disconnected ran). True if it has,
        False on timeout. True at once when no session is open."""
        self._not_on_library_thread("wait_disconnected()")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._state:
            while self._session_open:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._state.wait(remaining)
            return True

    @property
    def status(self) -> Status:
        """The current status (lc_client_status); DISCONNECTED once closed."""
        handle = self._handle
        if handle is None or handle.closed:
            return Status.DISCONNECTED
        try:
            return Status(self._call(lib.lc_client_status))
        except ClosedError:
            return Status.DISCONNECTED

    @property
    def last_error(self) -> str:
        """Why the session failed: the message of the last error the client reported on its
        own (the last "error" event; lc_client_failure_message), "" if none. A refused
        call's detail is on the exception it raised."""
        handle = self._handle
        if handle is None:
            return ""
        try:
            ptr = handle.acquire()
        except ClosedError:
            return ""
        try:
            if lib.lc_client_failure_message is None:  # a library older than the call
                return _text(lib.lc_client_last_error(ptr))
            buffer = ctypes.create_string_buffer(1024)
            length = lib.lc_client_failure_message(ptr, buffer, len(buffer))
            if length >= len(buffer):
                buffer = ctypes.create_string_buffer(length + 1)
                length = lib.lc_client_failure_message(ptr, buffer, len(buffer))
            return buffer.value.decode("utf-8", "replace") if length > 0 else ""
        finally:
            handle.release()

    def send_text(self, text: str) -> None:
        """Sends a typed user message (client.response.text); agent playback stops first.
        Raises InvalidStateError when not connected, TooLargeError over 64 KiB."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        raw = _cstr("text", text)
        self._call(lib.lc_client_send_text, raw)

    def send_data(self, data: Mapping[str, Any]) -> None:
        """Sends structured data (client.response.data); data must be a dict (a JSON
        object), else InvalidArgumentError. Does not interrupt playback."""
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(_lib.LC_ERR_INVALID_ARGUMENT,
                                       "data must be a JSON object (a dict), "
                                       f"not {type(data).__name__}")
        text = json.dumps(dict(data), ensure_ascii=False, allow_nan=False)
        self._call(lib.lc_client_send_data, text.encode("utf-8"))

    def turn_start(self) -> None:
        """Push-to-talk pressed: barge-in, then microphone audio is sent."""
        self._call(lib.lc_client_turn_start)

    def turn_end(self) -> None:
        """Push-to-talk released."""
        self._call(lib.lc_client_turn_end)

    @contextlib.contextmanager
    def talking(self) -> Iterator["Client"]:
        """``with client.talking():`` wraps turn_start() / turn_end()."""
        self.turn_start()
        try:
            yield self
        except BaseException:
            with contextlib.suppress(LayercodeError):
                self.turn_end()
            raise
        self.turn_end()

    def mute(self) -> None:
        """Mutes the microphone (works in any state, survives reconnects)."""
        self._call(lib.lc_client_mute)

    def unmute(self) -> None:
        self._call(lib.lc_client_unmute)

    @property
    def muted(self) -> bool:
        return bool(self._call(lib.lc_client_is_muted))

    @muted.setter
    def muted(self, value: bool) -> None:
        if value:
            self.mute()
        else:
            self.unmute()

    # ---- switching audio (JS SDK setAudioInput/setAudioOutput/setInputDevice) ----------

    def set_audio_input(self, enabled: bool) -> None:
        """Microphone on or off (off releases an ALSA/WAV capture device). Any state; kept
        across sessions. Raises AudioError if the device cannot reopen."""
        self._call(lib.lc_client_set_audio_input, 1 if enabled else 0)

    def set_audio_output(self, enabled: bool) -> None:
        """Agent audio on or off (off drops what is queued and discards what arrives)."""
        self._call(lib.lc_client_set_audio_output, 1 if enabled else 0)

    def set_input_device(self, name: StrPath) -> None:
        """Switches the microphone: an ALSA PCM name (audio="alsa") or a WAV path
        (audio="wav"). During a session the new device opens first; AudioError keeps
        the old one. InvalidStateError with external audio."""
        self._call(lib.lc_client_set_input_device, _cstr("name", name))

    def set_output_device(self, name: StrPath) -> None:
        """Switches the speaker, like set_input_device()."""
        self._call(lib.lc_client_set_output_device, _cstr("name", name))

    def set_audio_delays(self, playback_ms: int, capture_ms: int) -> None:
        """Declares the audio latencies the echo canceller cannot measure (external audio):
        playback_ms from read_audio() returning to the sound being audible, capture_ms from
        the microphone to write_audio() (lc_client_set_audio_delays; 0..1000 each)."""
        if lib.lc_client_set_audio_delays is None:
            raise InvalidStateError(_lib.LC_ERR_INVALID_STATE,
                                    "the loaded liblayercode predates lc_client_set_audio_delays")
        self._call(lib.lc_client_set_audio_delays, int(playback_ms), int(capture_ms))

    def failure_reason(self) -> Tuple[str, Optional[int]]:
        """Why the last session ended in error: ("none" | "unreachable" | "authorize" |
        "tls" | "protocol" | "max_retries" | "closed" | "audio", HTTP status or None)."""
        status = ctypes.c_int(0)
        rc = self._call(lib.lc_client_failure_reason, ctypes.byref(status))
        return FAILURE_REASONS.get(rc, str(rc)), (status.value or None)

    # ---- audio -------------------------------------------------------------------------

    def write_audio(self, samples: AudioBuffer) -> int:
        """Microphone PCM16 mono at input_sample_rate (external audio): bytes-like
        (native-endian), array('h') or a numpy int16 array, 1-D or one column
        (frames, 1); more channels raise ValueError (downmix first). Never blocks.
        Returns the samples accepted (fewer when the ring is full; the rest is dropped
        and counted)."""
        pointer, count = _pcm_argument(samples)
        if count == 0:
            return 0
        return self._call(lib.lc_client_write_audio, pointer, count)

    @overload
    def read_audio(self, count: int) -> bytes: ...
    @overload
    def read_audio(self, count: int, as_numpy: bool) -> Any: ...

    def read_audio(self, count: int, as_numpy: bool = False) -> Any:
        """count samples of agent PCM16 mono at output_sample_rate, padded with silence
        when none is queued: bytes, or a numpy int16 array with as_numpy=True. What this
        consumes counts as played. read_audio_into() also tells how much was agent audio."""
        if count < 0:
            raise ValueError("count must be >= 0")
        if as_numpy:
            try:
                import numpy
            except ImportError as exc:  # numpy is optional
                raise ImportError("read_audio(as_numpy=True) needs numpy") from exc
            array = numpy.zeros(count, dtype=numpy.int16)
            self.read_audio_into(array)
            return array
        buf = bytearray(count * 2)
        self.read_audio_into(buf)
        return bytes(buf)

    def read_audio_into(self, out: AudioBuffer) -> int:
        """Fills a writable PCM16 buffer (bytearray, array('h'), numpy int16 array) with
        agent audio and silence; returns how many samples were agent audio."""
        view = memoryview(out)
        if view.readonly:
            raise TypeError("read_audio_into needs a writable buffer")
        if not view.c_contiguous:
            raise ValueError("read_audio_into needs a contiguous buffer")
        pointer, count = _pcm_argument(out)
        if count == 0:
            return 0
        return self._call(lib.lc_client_read_audio, pointer, count)

    # ---- stats -------------------------------------------------------------------------

    def stats(self) -> Stats:
        """A snapshot of the client's counters (lc_client_get_stats)."""
        raw = _lib.lc_stats()
        raw.struct_size = ctypes.sizeof(raw)
        self._call(lib.lc_client_get_stats_sized, ctypes.byref(raw), ctypes.sizeof(raw))
        return Stats._from_c(raw)

    # ---- callbacks and events ----------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, fn: Optional[F]) -> Optional[F]: ...

    def on(self, event: str, fn: Any = _MISSING) -> Any:
        """Sets the callback for event ("message", "status", ...; see EVENT_TYPES).
        ``client.on("message", f)``; as a decorator ``@client.on("message")``;
        ``client.on("message", None)`` removes it. Takes effect for the next event."""
        return set_handler(self._handlers, event, fn)

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Yields events as they happen (blocking), ending after a "disconnected" event,
        when the client is closed, or once timeout seconds have passed in total. With no
        session open (before connect(), or after the session ended) it yields what is
        queued and ends at once instead of waiting for events that cannot come."""
        events = self._events
        if events is None:
            raise InvalidStateError(_lib.LC_ERR_INVALID_STATE,
                                    "this client was created with event_queue_size=0")
        self._not_on_library_thread("events()")
        return self._iterate_events(events, timeout)

    def _iterate_events(self, events: EventQueue,
                        timeout: Optional[float]) -> Iterator[Event]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            try:
                event = events.get_nowait()
            except queue.Empty:
                # _c_disconnected queues its event before it closes the session: a session
                # that is not open has nothing more to say.
                with self._state:
                    if not self._session_open:
                        return
                try:
                    event = events.get(timeout=remaining)
                except queue.Empty:
                    return
            if event is _CLOSED:
                self._put(_CLOSED)  # for any other iterator
                return
            yield event
            if event.type == "disconnected":
                return

    def _add_listener(self, listener: Callable[[Event], None]) -> None:
        """listener(event) runs on the library's thread for every event (AsyncClient)."""
        self._listeners.append(listener)

    @property
    def event_queue_bytes(self) -> int:
        """Bytes of events waiting in the events() queue (see event_queue_max_bytes)."""
        return self._events.bytes if self._events is not None else 0

    def _put(self, item: Any) -> None:
        events = self._events
        if events is not None:
            self.event_queue_overflows += events.put(item)

    def _emit(self, event: Event, *args: Any, queued: bool = False) -> None:
        """Queues event (unless already queued), tells the listeners, then runs the
        user's callback with args."""
        if not queued:
            self._put(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except BaseException:
                logger.exception("layercode: event listener failed")
        fn = self._handlers.get(event.type)
        if fn is not None:
            try:
                fn(*args)
            except BaseException as exc:
                self._callback_failed(event.type, exc)

    def _callback_failed(self, name: str, exc: BaseException) -> None:
        err = CallbackError(name, exc)
        self.callback_error = err
        logger.error("layercode: the on_%s callback raised", name, exc_info=exc)
        event = Event("error", detail=str(err), error=err)
        self._put(event)
        for listener in list(self._listeners):
            with contextlib.suppress(BaseException):
                listener(event)
        handler = self._handlers.get("error")
        if name != "error" and handler is not None:
            try:
                handler(err)
            except BaseException as again:
                self.callback_error = CallbackError("error", again)
                logger.error("layercode: the on_error callback raised", exc_info=again)

    # Called by the trampolines (library thread) with the raw C values.

    def _c_status(self, status: int) -> None:
        try:
            value = Status(status)
        except ValueError:  # a status a newer library added
            return
        if value == Status.ERROR:
            with self._state:
                self._connecting = False
                self._state.notify_all()
        self._emit(Event("status", status=value), value)

    def _c_connected(self, conversation_id: Optional[bytes], config_json: Optional[bytes]) -> None:
        cid = _text(conversation_id)
        raw = _text(config_json)
        try:
            config = json.loads(raw) if raw else {}
        except ValueError:
            config = {}
        with self._state:
            self._connecting = False
            self._state.notify_all()
        self._emit(Event("connected", conversation_id=cid, config=config, raw=raw), cid, config)

    def _c_disconnected(self, reason: int, message: Optional[bytes]) -> None:
        detail = _text(message)
        error = make_error(reason, detail) if reason < 0 else None
        event = Event("disconnected", code=reason, detail=detail, error=error)
        self._put(event)  # queued before the session closes: events() must see it
        with self._state:
            if error is not None and self._session_error is None:
                self._session_error = error
            self._connecting = False
            self._session_open = False
            self._state.notify_all()
        self._emit(event, reason, detail, queued=True)

    def _c_error(self, code: int, message: Optional[bytes]) -> None:
        detail = _text(message)
        error = make_error(code, detail)
        with self._state:
            if self._session_error is None:
                self._session_error = error
            self._state.notify_all()
        self._emit(Event("error", code=code, detail=detail, error=error), error)

    def _c_message(self, mtype: Optional[bytes], json_text: Optional[bytes]) -> None:
        kind = _text(mtype)
        raw = _text(json_text)
        try:
            message = json.loads(raw)
            if not isinstance(message, dict):
                message = {"type": kind, "value": message}
        except ValueError:
            message = {"type": kind}
        self._emit(Event("message", message=message, message_type=kind, raw=raw), message)

    def _c_data(self, content_json: Optional[bytes], turn_id: Optional[bytes]) -> None:
        raw = _text(content_json)
        try:
            content = json.loads(raw) if raw else None
        except ValueError:
            content = raw
        tid = _opt_text(turn_id)
        self._emit(Event("data", data=content, turn_id=tid, raw=raw), content, tid)

    def _c_level(self, kind: str, level: float) -> None:
        self._emit(Event(kind, level=level), level)

    def _c_flag(self, kind: str, on: int) -> None:
        active = bool(on)
        self._emit(Event(kind, active=active), active)

    def _c_device_switched(self, is_input: int, name: Optional[bytes]) -> None:
        device = _text(name)
        self._emit(Event("device_switched", is_input=bool(is_input), device=device),
                   bool(is_input), device)

    def _c_devices_changed(self) -> None:
        self._emit(Event("devices_changed"))


def set_handler(handlers: Dict[str, Any], event: str, fn: Any = _MISSING) -> Any:
    """The body of Client.on and AsyncClient.on: handlers[event] = fn (None removes it);
    without fn, a decorator that does so."""
    if event not in EVENT_TYPES:
        raise ValueError(f"unknown event {event!r}; one of {', '.join(EVENT_TYPES)}")
    if fn is _MISSING:
        def decorator(f: F) -> F:
            handlers[event] = f
            return f
        return decorator
    if fn is not None and not callable(fn):
        raise TypeError("a callback must be callable")
    if fn is None:
        handlers.pop(event, None)
    else:
        handlers[event] = fn
    return fn


def handler_args(event: Event) -> Tuple[Any, ...]:
    """The arguments the on_<event.type> callback takes for event."""
    kind = event.type
    if kind == "status":
        return (event.status,)
    if kind == "connected":
        return (event.conversation_id, event.config)
    if kind == "disconnected":
        return (event.code, event.detail)
    if kind == "error":
        return (event.error,)
    if kind == "message":
        return (event.message,)
    if kind == "data":
        return (event.data, event.turn_id)
    if kind in ("user_amplitude", "agent_amplitude"):
        return (event.level,)
    if kind == "device_switched":
        return (event.is_input, event.device)
    if kind == "devices_changed":
        return ()
    return (event.active,)
