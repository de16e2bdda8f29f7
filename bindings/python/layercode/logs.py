# SPDX-License-Identifier: Apache-2.0
"""The library's own log lines, routed to Python's logging (lc_set_log_handler)."""

from __future__ import annotations

import logging
from typing import Optional

from . import _dispatch, _lib
from .errors import InvalidStateError, make_error


def set_library_log_level(level: Optional[int]) -> None:
    """Routes liblayercode's log lines at or above ``level`` (logging.DEBUG, INFO, WARNING
    or ERROR) to the logger "layercode.library"; None turns them off (the default: the
    library never prints by itself). Process-wide; the lines come from the library's
    event-loop thread."""
    if level is None:
        rc = _dispatch.set_log_handler(False, _lib.LC_LOG_ERROR)
    else:
        if level <= logging.DEBUG:
            max_level = _lib.LC_LOG_DEBUG
        elif level <= logging.INFO:
            max_level = _lib.LC_LOG_INFO
        elif level <= logging.WARNING:
            max_level = _lib.LC_LOG_WARN
        else:
            max_level = _lib.LC_LOG_ERROR
        rc = _dispatch.set_log_handler(True, max_level)
    if rc == _lib.LC_ERR_INVALID_STATE and _lib.lib.lc_set_log_handler is None:
        raise InvalidStateError(rc, "this liblayercode has no lc_set_log_handler")
    if rc < 0:
        raise make_error(rc, "lc_set_log_handler failed")
