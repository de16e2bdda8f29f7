# SPDX-License-Identifier: Apache-2.0
"""ALSA device listing (lc_list_devices)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from . import _dispatch
from .errors import make_error


@dataclass(frozen=True)
class Device:
    """One ALSA PCM: the name to pass as capture_device/playback_device, a human
    description, and whether it captures and/or plays."""

    name: str
    description: str
    is_input: bool
    is_output: bool


def list_devices() -> List[Device]:
    """Every ALSA PCM from ALSA's name hints (stable names such as "default", "null",
    "plughw:CARD=...,DEV=0")."""
    rc, raw = _dispatch.collect_devices()
    if rc < 0:
        raise make_error(rc, "lc_list_devices failed")
    return [Device(name.decode("utf-8", "replace") if name else "",
                   description.decode("utf-8", "replace") if description else "",
                   bool(is_input), bool(is_output))
            for name, description, is_input, is_output in raw]
