# SPDX-License-Identifier: Apache-2.0
"""Hostile-server faults (faultinject.py): a server that pings a client whose pongs it does
not read, or sends audio with huge ids (the message flood is session.py's `flood`).
bench/soak_hostile.py (make soak-hostile) runs the library against each and its memory.

Each writes whole raw frames straight to the transport, as fast as the client reads them:
it waits whenever more than WRITE_BUFFER_LIMIT bytes are still unsent, so the server's own
memory stays bounded whatever the client does. Nothing is logged per message (a 1 MiB
message per log line would be the log's problem); a `fault_progress` line sums it up.
"""

from __future__ import annotations

import asyncio
import base64
import json

import faultinject as faults

FAULTS = ("ping_flood", "huge_ids")   # flood is session.py's
WRITE_BUFFER_LIMIT = 2 * 1024 * 1024
SILENCE_20MS = base64.b64encode(bytes(640)).decode()      # 20 ms at 16 kHz


async def _room(transport) -> bool:
    """Waits until the transport has room; False once it is closing."""
    while transport is not None and not transport.is_closing():
        if transport.get_write_buffer_size() <= WRITE_BUFFER_LIMIT:
            return True
        await asyncio.sleep(0.002)
    return False


async def run(session, fault) -> None:
    """Runs the fault; its `fault_progress` is logged even when the session ends first
    (the session cancels its tasks when the client goes)."""
    name, t = fault.name, session.transport
    progress: dict = {}
    try:
        if name == "ping_flood":
            await _ping_flood(t, progress, fault["seconds"], fault["interval_ms"],
                              fault["bytes"], fault["stall"])
        elif name == "huge_ids":
            await _huge_ids(t, progress, fault["count"], fault["bytes"])
        else:
            raise RuntimeError(f"no handler for fault {name}")
    finally:
        session.elog.write(session.id, "fault_progress", fault=name, **progress)


async def _ping_flood(transport, progress: dict, seconds: float, interval_ms: int,
                      size: int, stall: bool) -> None:
    """Pings for `seconds` (a batch per turn of the loop with interval_ms 0), not reading
    the socket meanwhile with `stall`: the client's pongs can only queue up."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    frame = faults.frame(0x9, b"p" * size)
    batch = 1 if interval_ms > 0 else 64
    progress.update(pings_sent=0, seconds=seconds)
    while loop.time() < end:
        if stall and transport.is_reading():
            transport.pause_reading()
        if not await _room(transport):
            break
        transport.write(frame * batch)
        progress["pings_sent"] += batch
        await asyncio.sleep(interval_ms / 1000.0)
    if stall and not transport.is_closing():
        transport.resume_reading()


async def _huge_ids(transport, progress: dict, count: int, size: int) -> None:
    """`count` response.audio chunks of 20 ms silence, each with its own turn_id and
    delta_id of `size` characters."""
    progress.update(chunks_sent=0, id_bytes=size)
    for i in range(count):
        if not await _room(transport):
            break
        tag = f"{i:08d}"
        msg = {"type": "response.audio", "content": SILENCE_20MS,
               "turn_id": tag + "t" * max(0, size - len(tag)),
               "delta_id": tag + "d" * max(0, size - len(tag))}
        transport.write(faults.frame(0x1, json.dumps(msg, separators=(",", ":")).encode()))
        progress["chunks_sent"] += 1
        await asyncio.sleep(0)
