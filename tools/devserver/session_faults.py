# SPDX-License-Identifier: Apache-2.0
"""A session's fault injection (faultinject.py; README.md, "Fault injection"): when the
socket's session fault fires and what it does on the wire. Mixed into session.Session."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct

import faultinject as faults
import hostile
from faultinject import Fault

log = logging.getLogger("devserver.session")


class SessionFaults:
    """The fault half of a Session (it provides id, ws, elog, fault, transport, ...)."""

    def _fault_due(self, point: str) -> bool:
        return (self.fault is not None and not self._fault_fired
                and self.fault["at"] == point)

    def _fire_fault(self) -> None:
        """Fires the socket's fault now. Called synchronously at the trigger point (under
        the send lock for "audio"), so a terminal fault stops every later send at once."""
        fault = self.fault
        self._fault_fired = True
        if fault.name not in faults.NON_TERMINAL:
            self._fault_dead = True
        if fault.name == "stall_reading" and self.transport is not None:
            self.transport.pause_reading()      # now, before anything else is read
        log.warning("[%s] fault %s", self.id, fault.name)
        self.elog.write(self.id, "fault", stage="session", **fault.describe())
        self._spawn(self._run_fault(fault), f"fault {fault.name}")

    def _write_raw(self, data: bytes) -> bool:
        t = self.transport
        if t is None or t.is_closing():
            return False
        t.write(data)
        return True

    async def _run_fault(self, fault: Fault) -> None:
        name = fault.name
        if name in ("drop_tcp_mid_turn", "reset_tcp_mid_turn"):
            self._drop(reset=name == "reset_tcp_mid_turn", reason=f"devserver fault {name}")
        elif name == "close" or name.startswith("close_"):
            await self.close(fault["code"], fault["reason"])
        elif name == "stall_reading":
            await self._stall(fault["seconds"])
        elif name == "trickle":
            await self._trickle(fault["interval_ms"] / 1000.0)
        elif name == "flood":
            await self._flood(fault["bytes"], fault["seconds"])
        elif name == "ignore_pings":
            pass                    # run() stops answering pings from now on
        elif name in hostile.FAULTS:
            await hostile.run(self, fault)
        else:
            async with self._send_lock:
                await self._bad_frame(fault)

    def _drop(self, reset: bool, reason: str) -> None:
        """Ends the TCP connection without a close frame: FIN, or RST with reset."""
        if self._closed_by is None:
            self._closed_by = "server"
            self._close_reason = reason
            self._close_code = 1006
        self._dropped = True
        t = self.transport
        if t is None or t.is_closing():
            return
        if not reset:
            if t.get_extra_info("ssl_object") is None:
                t.close()       # what was sent still arrives, then FIN
                return
            # Over TLS, close() would send close_notify first: a clean end, not the drop a
            # crashed server or a NAT timeout gives. FIN without close_notify instead
            # (what asyncio's TLS layer still buffers is lost, as in a crash).
            sock = t.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            t.abort()
            return
        sock = t.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        t.abort()               # RST: the peer may lose data it has not read yet

    async def _bad_frame(self, fault: Fault) -> None:
        name = fault.name
        if name == "garbage_frames":
            self._write_raw(faults.garbage(fault["bytes"], fault["seed"]))
        elif name == "invalid_utf8":
            self._write_raw(faults.frame(0x1, faults.INVALID_UTF8_TEXT))
        elif name == "fragmented_control":
            self._write_raw(faults.frame(0x9, b"frag", fin=False))
        elif name == "reserved_opcode":
            self._write_raw(faults.frame(fault["opcode"], b"reserved"))
        elif name == "rsv_bits":
            self._write_raw(faults.frame(0x1, b'{"type":"response.data"}', rsv=0x4))
        elif name == "masked_frame":
            self._write_raw(faults.frame(0x1, b'{"type":"response.data","content":{}}',
                                         mask=b"\x12\x34\x56\x78"))
        elif name == "oversized_frame":
            size, payload = fault["bytes"], fault["payload_bytes"]
            await self._oversized(size, size if payload < 0 else min(size, payload))
        else:
            raise RuntimeError(f"no handler for fault {name}")

    async def _oversized(self, size: int, payload: int) -> None:
        """A text frame declaring `size` bytes, then `payload` bytes of it: JSON-ish
        ASCII, written as the transport drains and abandoned when the client hangs up."""
        if not self._write_raw(faults.frame(0x1, b"", declared=size)):
            return
        chunk = b'{"type":"response.text","content":"' + b"a" * (64 * 1024)
        sent = 0
        while sent < payload:
            t = self.transport
            if t is None or t.is_closing():
                break
            if t.get_write_buffer_size() > 1 << 20:
                await asyncio.sleep(0.01)
                continue
            part = chunk[:payload - sent]
            t.write(part)
            sent += len(part)
            await asyncio.sleep(0)
        self.elog.write(self.id, "fault_progress", fault="oversized_frame",
                        payload_bytes_sent=sent, declared=size)

    async def _stall(self, seconds: float) -> None:
        """Stops reading the socket for `seconds` (re-pausing if aiohttp's own flow
        control resumes it), then reads again. Sending goes on meanwhile."""
        t = self.transport
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            if t is None or t.is_closing():
                return
            if t.is_reading():
                t.pause_reading()
            await asyncio.sleep(min(0.1, left))
        if t is not None and not t.is_closing():
            t.resume_reading()
        self.elog.write(self.id, "fault_progress", fault="stall_reading",
                        resumed_after=seconds)

    async def _trickle(self, interval: float) -> None:
        """One response.data message written a byte at a time."""
        async with self._send_lock:
            if self.ws.closed:
                return
            msg = {"type": "response.data", "content": {"devserver_fault": "trickle"},
                   "turn_id": self._next_turn_id()}
            data = faults.frame(0x1, json.dumps(msg, separators=(",", ":")).encode())
            for i in range(len(data)):
                if not self._write_raw(data[i:i + 1]):
                    return
                if i + 1 < len(data):
                    await asyncio.sleep(interval)
            self.counts.messages_out += 1
            self.elog.message(self.id, "send", msg)

    async def _flood(self, size: int, seconds: float) -> None:
        """The same response.data frame (`size` bytes in all), many to a write, written as
        fast as the transport drains, for `seconds` (0: until the client hangs up)."""
        head = b'{"type":"response.data","turn_id":"flood","content":{"flood":"'
        tail = b'"}}'
        data = faults.frame(0x1, head + b"a" * max(0, size - len(head) - len(tail)) + tail)
        per_write = max(1, (256 << 10) // len(data))
        blob = data * per_write
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds if seconds > 0 else None
        sent = 0
        try:
            while end is None or loop.time() < end:
                t = self.transport
                if t is None or t.is_closing() or self.ws.closed:
                    break
                if t.get_write_buffer_size() > 1 << 20:
                    await asyncio.sleep(0.001)
                    continue
                t.write(blob)
                sent += per_write
                await asyncio.sleep(0)      # let the reader see the client's close
        finally:                            # also when the session's end cancels it
            self.elog.write(self.id, "fault_progress", fault="flood", messages_sent=sent)
