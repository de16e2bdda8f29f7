# SPDX-License-Identifier: Apache-2.0
"""The C trampolines: one module-level ctypes callback per callback slot of lc_options,
created once and alive for the whole process (STYLE §14).

``user_data`` is an integer client id, never a Python object pointer. The trampolines look
the id up in ``_clients`` (id -> weakref to the Client) and return at once when the client
is gone, is being freed, or the interpreter is exiting. Nothing raised in Python ever
unwinds into the library: the Client reports its users' exceptions itself, and anything
else is logged here.

Callbacks arrive on the library's event-loop thread; ctypes takes the GIL for the duration
of each call. Keep what runs here short: the audio of every client waits on that thread.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any, Dict, Optional

from . import _lib

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client

logger = logging.getLogger("layercode")

_clients: Dict[int, "weakref.ref[Client]"] = {}
_ids = itertools.count(1)
_lock = threading.Lock()
# Set at interpreter exit: from then on every trampoline returns at once.
_exiting = False
_atexit_registered = False


def _at_exit() -> None:
    global _exiting
    _exiting = True
    # No log line may call into an interpreter that is being torn down.
    if _log_installed:
        set_log_handler(False, _lib.LC_LOG_ERROR)


def ensure_atexit() -> None:
    """Registers the exit hook once. Called right after a weakref.finalize exists, so that
    (atexit being last-in, first-out) it runs before weakref.finalize's own exit hook frees
    the clients still alive: no user callback runs at exit. Either order would be safe:
    both hooks run while the interpreter is intact."""
    global _atexit_registered
    with _lock:
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True


def register(client: "Client") -> int:
    """A new id for client (never reused), looked up by the trampolines."""
    with _lock:
        cid = next(_ids)
        _clients[cid] = weakref.ref(client)
    return cid


def unregister(cid: int) -> None:
    _clients.pop(cid, None)


# The thread the library calls back on (one per process), once it has.
library_thread: Optional[int] = None


def lookup(user_data: Optional[int]) -> Optional["Client"]:
    """The live client registered as user_data; None if gone, or at interpreter exit."""
    if _exiting or user_data is None:
        return None
    ref = _clients.get(user_data)
    return ref() if ref is not None else None


def _called_back(user_data: Optional[int]) -> Optional["Client"]:
    """lookup() for the trampolines, which also note the library's thread."""
    global library_thread
    if _exiting:
        return None
    library_thread = threading.get_ident()
    return lookup(user_data)


def _internal_failure(where: str) -> None:
    try:
        logger.exception("layercode: internal error in the %s trampoline", where)
    except BaseException:  # the interpreter may be going away: never raise into C
        pass


# ---- the trampolines -------------------------------------------------------------------
# Each one: look up, hand the raw C values to the client, swallow everything.

def _on_status(user_data: Optional[int], status: int) -> None:
    try:
        client = _called_back(user_data)
        if client is not None:
            client._c_status(status)
    except BaseException:
        _internal_failure("status")


def _on_connected(user_data: Optional[int], conversation_id: Optional[bytes],
                  config_json: Optional[bytes]) -> None:
    try:
        client = _called_back(user_data)
        if client is not None:
            client._c_connected(conversation_id, config_json)
    except BaseException:
        _internal_failure("connected")


def _on_disconnected(user_data: Optional[int], reason: int, message: Optional[bytes]) -> None:
    try:
        client = _called_back(user_data)
        if client is not None:
            client._c_disconnected(reason, message)
    except BaseException:
        _internal_failure("disconnected")


def _on_error(user_data: Optional[int], code: int, message: Optional[bytes]) -> None:
    try:
        client = _called_back(user_data)
        if client is not None:
            client._c_error(code, message)
    except BaseException:
        _internal_failure("error")


def _on_message(user_data: Optional[int], mtype: Optional[bytes],
                json_text: Optional[bytes]) -> None:
    try:
        client = _called_back(user_data)
        if client is not None:
            client._c_message(mtype, json_text)
    except BaseException:
        _internal_failure("message")


def _on_data(user_data: Optional[int], content_json: Optional[bytes],
             turn_id: Optional[bytes]) -> None:
    try:
        client = _called_back(user_data)
        if client is not None:
            client._c_data(content_json, turn_id)
    except BaseException:
        _internal_failure("data")


def _amplitude(kind: str) -> Any:
    def trampoline(user_data: Optional[int], level: float) -> None:
        try:
            client = _called_back(user_data)
            if client is not None:
                client._c_level(kind, level)
        except BaseException:
            _internal_failure(kind)
    trampoline.__name__ = f"_on_{kind}"
    return _lib.lc_amplitude_fn(trampoline)


def _flag(kind: str) -> Any:
    def trampoline(user_data: Optional[int], on: int) -> None:
        try:
            client = _called_back(user_data)
            if client is not None:
                client._c_flag(kind, on)
        except BaseException:
            _internal_failure(kind)
    trampoline.__name__ = f"_on_{kind}"
    return _lib.lc_flag_fn(trampoline)


STATUS = _lib.lc_status_fn(_on_status)
CONNECTED = _lib.lc_connected_fn(_on_connected)
DISCONNECTED = _lib.lc_disconnected_fn(_on_disconnected)
ERROR = _lib.lc_error_fn(_on_error)
MESSAGE = _lib.lc_message_fn(_on_message)
DATA = _lib.lc_data_fn(_on_data)
USER_AMPLITUDE = _amplitude("user_amplitude")
AGENT_AMPLITUDE = _amplitude("agent_amplitude")
USER_SPEAKING = _flag("user_speaking")
AGENT_SPEAKING = _flag("agent_speaking")
MUTE = _flag("mute")
AUDIO_INPUT_CHANGED = _flag("audio_input_changed")
AUDIO_OUTPUT_CHANGED = _flag("audio_output_changed")


def _on_device_switched(user_data: Optional[int], is_input: int, name: Optional[bytes]) -> None:
    try:
        client = _called_back(user_data)
        if client is not None:
            client._c_device_switched(is_input, name)
    except BaseException:
        _internal_failure("device_switched")


def _on_devices_changed(user_data: Optional[int]) -> None:
    try:
        client = _called_back(user_data)
        if client is not None:
            client._c_devices_changed()
    except BaseException:
        _internal_failure("devices_changed")


DEVICE_SWITCHED = _lib.lc_device_switched_fn(_on_device_switched)
DEVICES_CHANGED = _lib.lc_devices_changed_fn(_on_devices_changed)


def install(opts: "_lib.lc_options", cid: int, watch_devices: bool = False) -> None:
    """Points every callback slot of opts at its trampoline, with cid as user_data.
    on_devices_changed only with watch_devices: setting it makes the library poll ALSA."""
    opts.user_data = cid
    opts.on_status = STATUS
    opts.on_connected = CONNECTED
    opts.on_disconnected = DISCONNECTED
    opts.on_error = ERROR
    opts.on_message = MESSAGE
    opts.on_data = DATA
    opts.on_user_amplitude = USER_AMPLITUDE
    opts.on_agent_amplitude = AGENT_AMPLITUDE
    opts.on_user_speaking = USER_SPEAKING
    opts.on_agent_speaking = AGENT_SPEAKING
    opts.on_mute = MUTE
    opts.on_audio_input_changed = AUDIO_INPUT_CHANGED
    opts.on_audio_output_changed = AUDIO_OUTPUT_CHANGED
    opts.on_device_switched = DEVICE_SWITCHED
    if watch_devices:
        opts.on_devices_changed = DEVICES_CHANGED


# ---- the library's log (lc_set_log_handler, process-wide) ----------------------------

library_logger = logging.getLogger("layercode.library")
_LOG_LEVELS = {_lib.LC_LOG_ERROR: logging.ERROR, _lib.LC_LOG_WARN: logging.WARNING,
               _lib.LC_LOG_INFO: logging.INFO, _lib.LC_LOG_DEBUG: logging.DEBUG}
_log_installed = False


def _on_log(user_data: Optional[int], level: int, message: Optional[bytes]) -> None:
    try:
        if _exiting:
            return
        library_logger.log(_LOG_LEVELS.get(level, logging.DEBUG),
                           message.decode("utf-8", "replace") if message else "")
    except BaseException:
        pass  # a failing log handler must not become a log line, nor reach C


LOG = _lib.lc_log_fn(_on_log)


def set_log_handler(on: bool, max_level: int) -> int:
    """Installs (on) or removes the log trampoline; returns lc_set_log_handler's result."""
    global _log_installed
    fn = _lib.lib.lc_set_log_handler
    if fn is None:
        return _lib.LC_ERR_INVALID_STATE
    ensure_atexit()
    rc: int = fn(LOG if on else _lib.lc_log_fn(), None, max_level)
    if rc == _lib.LC_OK:
        _log_installed = on
    return rc


# ---- device listing (synchronous, on the calling thread) -------------------------------

_device_lists: Dict[int, list] = {}


def _on_device(user_data: Optional[int], name: Optional[bytes], description: Optional[bytes],
               is_input: int, is_output: int) -> None:
    try:
        sink = _device_lists.get(user_data) if user_data is not None else None
        if sink is not None:
            sink.append((name, description, is_input, is_output))
    except BaseException:
        _internal_failure("device")


DEVICE = _lib.lc_device_fn(_on_device)


def collect_devices() -> "tuple[int, list]":
    """(lc_list_devices' result, [(name, description, is_input, is_output) as C values])."""
    key = next(_ids)
    sink: list = []
    _device_lists[key] = sink
    try:
        rc = _lib.lib.lc_list_devices(DEVICE, key)
    finally:
        _device_lists.pop(key, None)
    return rc, sink
