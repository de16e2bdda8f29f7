# SPDX-License-Identifier: Apache-2.0
"""The devserver's fault injection (tools/devserver/faultinject.py), checked on the wire
with a raw RFC 6455 client: what each fault puts on the socket, and how faults are
selected and counted per conversation."""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import json
import os
import struct
import time
from urllib.parse import urlsplit

import aiohttp
import pytest

from devserver_harness import Server, api_headers, post_json, run

import faultinject  # noqa: E402  (tools/devserver, put on sys.path by the harness)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.fixture(scope="module")
def fsrv(tmp_path_factory):
    """Instant greeting audio (many chunks at once), 20 ms chunks."""
    server = Server(tmp_path_factory.mktemp("fsrv"), "--audio-speed", "0",
                    "--audio-chunk-ms", "20")
    yield server
    server.stop()
    # Faults are deliberate: none may crash a handler or leave an internal error.
    assert "Traceback" not in server.stderr(), server.stderr()
    assert not [e for e in server.events() if e["kind"] == "error" and e.get("internal")]


async def authorize(server: Server, fault=None, conversation_id: str | None = None,
                    **metadata) -> tuple[int, dict]:
    if fault is not None:
        metadata["devserver_fault"] = fault
    body = {"agent_id": "echo", "metadata": metadata}
    if conversation_id:
        body["conversation_id"] = conversation_id
    return await post_json(server.ready["layercode_authorize_url"], body, api_headers())


class RawWS:
    """A minimal WebSocket client over a plain asyncio stream: sees every byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 status: int, headers: dict, key: str) -> None:
        self.reader, self.writer = reader, writer
        self.status, self.headers, self.key = status, headers, key

    @classmethod
    async def connect(cls, server: Server, session_key: str) -> "RawWS":
        url = urlsplit(server.ready["ws"])
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {url.path}?client_session_key={session_key} HTTP/1.1\r\n"
                      f"Host: {url.netloc}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                      ).encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return cls(reader, writer, status, headers, key)

    @property
    def accept_ok(self) -> bool:
        want = base64.b64encode(hashlib.sha1((self.key + GUID).encode()).digest()).decode()
        return self.headers.get("sec-websocket-accept") == want

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n <= 0xFFFF:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.writer.write(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_json(self, **msg) -> None:
        self.send(0x1, json.dumps(msg).encode())

    async def frame_header(self, timeout: float = 10.0) -> tuple[int, int, int]:
        """(first byte, second byte, declared payload length) of the next frame."""
        b0, b1 = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", await self.reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", await self.reader.readexactly(8))[0]
        if b1 & 0x80:
            await self.reader.readexactly(4)
        return b0, b1, n

    async def frame(self, timeout: float = 10.0) -> tuple[int, bytes]:
        """(first byte, payload) of the next frame."""
        b0, _, n = await self.frame_header(timeout)
        return b0, await asyncio.wait_for(self.reader.readexactly(n), timeout)

    async def messages_until(self, pred, timeout: float = 10.0) -> list[dict]:
        out = []
        while True:
            b0, payload = await self.frame(timeout)
            assert b0 == 0x81, (hex(b0), payload[:80])
            out.append(json.loads(payload))
            if pred(out[-1]):
                return out

    def close(self) -> None:
        self.writer.close()


async def open_session(server: Server, fault=None, **metadata) -> tuple[RawWS, dict]:
    status, auth = await authorize(server, fault, **metadata)
    assert status == 200, auth
    ws = await RawWS.connect(server, auth["client_session_key"])
    assert ws.status == 101 and ws.accept_ok
    ws.send_json(type="client.ready")
    return ws, auth


def audio_count(msgs: list[dict]) -> int:
    return sum(1 for m in msgs if m["type"] == "response.audio")


def session_events(server: Server, kind: str, conversation_id: str) -> list[dict]:
    """Log events of `kind` for the sessions of one conversation."""
    sessions = {e["session"] for e in server.events() if e["kind"] == "ws_open"
                and e["conversation_id"] == conversation_id}
    return [e for e in server.events() if e["kind"] == kind and e["session"] in sessions]


def wait_session_event(server: Server, kind: str, conversation_id: str,
                       timeout: float = 10.0) -> dict:
    """The first `kind` event of the conversation's sessions, waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = session_events(server, kind, conversation_id)
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {kind} event for {conversation_id}"
        time.sleep(0.05)


# ---- selection and counting ------------------------------------------------------------

def test_fault_specs_are_validated(fsrv):
    async def go():
        for bad in ("nope", {"fault": "close", "code": 99}, {"fault": "close", "x": 1},
                    {"fault": "authorize_slow", "seconds": "1"}, 7,
                    [{"fault": "trickle", "at": "never"}], {"fault": "authorize_400",
                                                           "times": -1}):
            status, body = await authorize(fsrv, bad)
            assert status == 400, (bad, body)
            assert body["error"].startswith("metadata.devserver_fault"), body
    run(go())
    with pytest.raises(faultinject.FaultError):
        faultinject.parse_cli("close:code")
    assert faultinject.parse_cli("close:code=4001,reason=bye,times=0") == \
        {"fault": "close", "code": 4001, "reason": "bye", "times": 0}


def test_authorize_faults_answer_their_status(fsrv):
    async def go():
        for name, status in (("authorize_400", 400), ("authorize_402", 402),
                             ("authorize_500", 500), ("authorize_503", 503),
                             ({"fault": "authorize_status", "status": 418}, 418)):
            got, body = await authorize(fsrv, name)
            assert got == status
            assert body["error"].startswith("devserver fault authorize_")
    run(go())
    faults = [e for e in fsrv.events() if e["kind"] == "fault" and e["stage"] == "authorize"]
    assert {e["fault"] for e in faults} >= {"authorize_400", "authorize_402",
                                            "authorize_500", "authorize_status"}


def test_authorize_bad_json_and_slow(fsrv):
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.post(fsrv.ready["layercode_authorize_url"],
                                 json={"agent_id": "echo", "metadata": {
                                     "devserver_fault": "authorize_bad_json"}},
                                 headers=api_headers()) as resp:
                assert resp.status == 200
                assert resp.content_type == "application/json"
                text = await resp.text()
        with pytest.raises(ValueError):
            json.loads(text)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        status, body = await authorize(fsrv, {"fault": "authorize_slow", "seconds": 1.0})
        assert loop.time() - t0 >= 1.0      # the delay happened (lower bound only)
        assert status == 200 and body["client_session_key"]
    run(go())


def test_times_and_skip_count_per_conversation(fsrv):
    """Fault on the 2nd and 3rd authorize of a conversation only; the 4th succeeds."""
    plan = [{"fault": "authorize_503", "skip": 1, "times": 2}]

    async def go():
        status, first = await authorize(fsrv, plan)
        assert status == 200
        conv = first["conversation_id"]
        got = [(await authorize(fsrv, plan, conversation_id=conv))[0] for _ in range(3)]
        assert got == [503, 503, 200]
        # Another conversation has its own count.
        status, other = await authorize(fsrv, plan)
        assert status == 200 and other["conversation_id"] != conv
        # times 0: every opportunity.
        status, always = await authorize(fsrv, [{"fault": "authorize_500", "skip": 1,
                                                 "times": 0}])
        assert status == 200
        for _ in range(3):
            status, _ = await authorize(fsrv, None,
                                        conversation_id=always["conversation_id"])
            assert status == 500
    run(go())


def test_cli_default_fault_and_opt_out(tmp_path):
    server = Server(tmp_path, "--no-greeting", "--fault", "upgrade_503:times=0")
    try:
        async def go():
            status, auth = await authorize(server)
            assert status == 200
            ws = await RawWS.connect(server, auth["client_session_key"])
            assert ws.status == 503
            ws.close()
            # A session naming no fault ([]) opts out of the --fault default.
            status, auth = await authorize(server, [])
            ws = await RawWS.connect(server, auth["client_session_key"])
            assert ws.status == 101 and ws.accept_ok
            ws.close()
        run(go())
    finally:
        server.stop()


# ---- upgrade ---------------------------------------------------------------------------

def test_upgrade_refused_then_accepted(fsrv):
    async def go():
        status, auth = await authorize(fsrv, "upgrade_403", greeting=False)
        ws = await RawWS.connect(fsrv, auth["client_session_key"])
        assert ws.status == 403 and "sec-websocket-accept" not in ws.headers
        ws.close()
        # The fault is used up: the next attempt of the conversation upgrades.
        status, again = await authorize(fsrv, None,
                                        conversation_id=auth["conversation_id"])
        ws = await RawWS.connect(fsrv, again["client_session_key"])
        assert ws.status == 101 and ws.accept_ok
        ws.close()
    run(go())


def test_upgrade_bad_accept(fsrv):
    async def go():
        status, auth = await authorize(fsrv, "upgrade_bad_accept", greeting=False)
        ws = await RawWS.connect(fsrv, auth["client_session_key"])
        assert ws.status == 101
        assert ws.headers["upgrade"] == "websocket"
        assert ws.headers.get("sec-websocket-accept") and not ws.accept_ok
        ws.close()
    run(go())
    fsrv.wait_event(lambda e: e["kind"] == "ws_reject"
                    and e["reason"] == "devserver fault upgrade_bad_accept")


# ---- session: transport ------------------------------------------------------------------

def test_drop_tcp_mid_turn_ends_without_close_frame(fsrv):
    async def go():
        ws, auth = await open_session(fsrv, "drop_tcp_mid_turn")
        msgs = await ws.messages_until(lambda m: m["type"] == "response.audio"
                                       and m["delta_id"].endswith("-d2"))
        assert audio_count(msgs) == 2
        # Nothing more, not even a close frame: end of stream.
        assert await asyncio.wait_for(ws.reader.read(1), 10) == b""
        ws.close()
        return auth["conversation_id"]
    close = wait_session_event(fsrv, "ws_close", run(go()))
    assert close["code"] == 1006 and close["closed_by"] == "server"
    assert close["audio_chunks_out"] == 2


def test_reset_tcp_mid_turn(fsrv):
    """RST after the second chunk: the client reads at most two chunks, then the reset
    (data it had not read when the RST came may be lost)."""
    async def go():
        ws, auth = await open_session(fsrv, "reset_tcp_mid_turn")
        msgs = []
        with pytest.raises(ConnectionResetError) as info:
            while True:
                b0, payload = await ws.frame()
                assert b0 == 0x81, hex(b0)
                msgs.append(json.loads(payload))
        assert info.value.errno in (None, errno.ECONNRESET)
        assert audio_count(msgs) <= 2
        ws.close()
        return auth["conversation_id"]
    close = wait_session_event(fsrv, "ws_close", run(go()))
    assert close["code"] == 1006 and close["closed_by"] == "server"
    assert close["audio_chunks_out"] == 2


@pytest.mark.parametrize("name,code", [("close_1000", 1000), ("close_1001", 1001),
                                       ("close_1011", 1011), ("close_4000", 4000)])
def test_close_codes(fsrv, name, code):
    async def go():
        ws, auth = await open_session(fsrv, name)
        msgs = []
        while True:
            b0, payload = await ws.frame()
            if b0 == 0x88:
                break
            msgs.append(json.loads(payload))
        assert audio_count(msgs) == 2
        assert struct.unpack(">H", payload[:2])[0] == code
        assert payload[2:].decode() == f"devserver fault {name}"
        ws.send(0x8, payload[:2])
        ws.close()
        return auth["conversation_id"]
    close = wait_session_event(fsrv, "ws_close", run(go()))
    assert close["code"] == code and close["closed_by"] == "server"


# ---- session: malformed frames ----------------------------------------------------------

def _after_two_chunks(fsrv, fault, check) -> None:
    """Opens a session with `fault`, reads the first two audio chunks, then hands the
    next frame's header to check(first_byte, second_byte, length, ws)."""
    async def go():
        ws, _ = await open_session(fsrv, fault)
        await ws.messages_until(lambda m: m["type"] == "response.audio"
                                and m["delta_id"].endswith("-d2"))
        await check(ws)
        ws.close()
    run(go())


def test_garbage_frames(fsrv):
    async def check(ws):
        data = await asyncio.wait_for(ws.reader.readexactly(64), 10)
        assert data == faultinject.garbage(64, 1)
        assert data[0] & 0x40          # RSV1: invalid whatever follows
    _after_two_chunks(fsrv, "garbage_frames", check)


def test_invalid_utf8(fsrv):
    async def check(ws):
        b0, payload = await ws.frame()
        assert b0 == 0x81
        with pytest.raises(UnicodeDecodeError):
            payload.decode("utf-8")
    _after_two_chunks(fsrv, "invalid_utf8", check)


def test_oversized_frame_declares_16_mib_plus_one(fsrv):
    async def check(ws):
        b0, b1, n = await ws.frame_header()
        assert (b0, b1 & 0x7F, n) == (0x81, 127, 16 * 1024 * 1024 + 1)
        got = 0
        while got < 1 << 20:           # the payload follows
            chunk = await asyncio.wait_for(ws.reader.read(65536), 10)
            assert chunk
            got += len(chunk)
    _after_two_chunks(fsrv, "oversized_frame", check)


def test_fragmented_control_and_reserved_opcode_and_rsv(fsrv):
    async def fragmented(ws):
        b0, payload = await ws.frame()
        assert b0 == 0x09 and payload == b"frag"        # ping, FIN clear
    _after_two_chunks(fsrv, "fragmented_control", fragmented)

    async def reserved(ws):
        b0, _ = await ws.frame()
        assert b0 == 0x80 | 0xB
    _after_two_chunks(fsrv, {"fault": "reserved_opcode", "opcode": 11}, reserved)

    async def rsv(ws):
        b0, _ = await ws.frame()
        assert b0 == 0x80 | 0x40 | 0x1
    _after_two_chunks(fsrv, "rsv_bits", rsv)

    async def masked(ws):
        b0, b1, _ = await ws.frame_header()
        assert b0 == 0x81 and b1 & 0x80
    _after_two_chunks(fsrv, "masked_frame", masked)


def test_terminal_fault_stops_further_messages(fsrv):
    """After a malformed frame the session sends nothing more of its own."""
    async def check(ws):
        b0, _ = await ws.frame()
        assert b0 == 0x83
        with pytest.raises(asyncio.TimeoutError):
            await ws.frame(timeout=1.0)
    _after_two_chunks(fsrv, "reserved_opcode", check)


# ---- session: flow ----------------------------------------------------------------------

def test_trickle_sends_one_byte_at_a_time(fsrv):
    async def go():
        ws, _ = await open_session(fsrv, {"fault": "trickle", "interval_ms": 20},
                                   greeting=False)
        pieces = []

        def need() -> int:
            data = b"".join(pieces)
            return 2 if len(data) < 2 else 2 + (data[1] & 0x7F)   # a short frame
        while len(b"".join(pieces)) < need():
            pieces.append(await asyncio.wait_for(ws.reader.read(1024), 10))
            assert pieces[-1]
        data = b"".join(pieces)
        assert len(pieces) > 10 and all(len(p) <= 2 for p in pieces)
        assert data[0] == 0x81
        msg = json.loads(data[2:])
        assert msg["type"] == "response.data"
        assert msg["content"] == {"devserver_fault": "trickle"}
        ws.close()
    run(go())


def test_stall_reading_pauses_then_resumes(fsrv):
    """While stalled the server reads nothing (the reply to a data message only comes
    after the stall); then it serves the queued messages."""
    async def go():
        ws, auth = await open_session(fsrv, {"fault": "stall_reading", "seconds": 1.5},
                                      greeting=False)
        wait_session_event(fsrv, "fault", auth["conversation_id"])
        ws.send_json(type="client.response.data", data={"n": 1})
        msgs = await ws.messages_until(lambda m: m["type"] == "response.data")
        assert msgs[-1]["content"] == {"echo": {"n": 1}}
        ws.close()
        return auth["conversation_id"]
    conv = run(go())
    resumed = wait_session_event(fsrv, "fault_progress", conv)
    sessions = {o["session"] for o in session_events(fsrv, "ws_open", conv)}
    events = [e for e in fsrv.events() if e["session"] in sessions]
    recv = next(e for e in events if e["kind"] == "recv"
                and e["msg"]["type"] == "client.response.data")
    assert recv["t"] >= resumed["t"]       # read only after the stall ended


def test_ignore_pings(fsrv):
    async def go():
        ws, _ = await open_session(fsrv, "ignore_pings", greeting=False)
        ws.send(0x9, b"hello?")
        with pytest.raises(asyncio.TimeoutError):
            await ws.frame(timeout=1.5)
        ws.close()
        # Without the fault a ping is answered.
        ws, _ = await open_session(fsrv, None, greeting=False)
        ws.send(0x9, b"hello?")
        assert await ws.frame() == (0x8A, b"hello?")
        ws.close()
    run(go())


# ---- TLS: the no-ip-san profile and the SNI log -----------------------------------------

def test_no_ip_san_profile_and_sni_log(tmp_path):
    import socket
    import ssl
    server = Server(tmp_path, "--tls", "--cert-dir", str(tmp_path / "certs"),
                    "--cert-profile", "no-ip-san", "--no-greeting")
    try:
        ctx = ssl.create_default_context(cafile=server.ready["ca_file"])
        port = server.ready["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.version()
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                # Python sends no SNI for an IP address and checks the IP SANs.
                ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        assert info.value.verify_code == 64         # IP address mismatch
        hellos = [e for e in server.events() if e["kind"] == "tls_client_hello"]
        assert [e["sni"] for e in hellos] == ["localhost", None]
    finally:
        server.stop()


# ---- issue 9: authorize_reset, flood, no-san, a TLS drop without close_notify -------------

def test_authorize_reset(fsrv):
    async def go():
        with pytest.raises((aiohttp.ClientConnectionError, ConnectionResetError)):
            await authorize(fsrv, "authorize_reset")
        # The next authorize of a new conversation is answered as usual.
        status, _ = await authorize(fsrv)
        assert status == 200
    run(go())
    faults = [e for e in fsrv.events() if e["kind"] == "fault" and e["stage"] == "authorize"]
    assert "authorize_reset" in {e["fault"] for e in faults}


def test_flood_sends_until_the_client_closes(fsrv):
    async def go():
        ws, auth = await open_session(fsrv, {"fault": "flood", "bytes": 200}, greeting=False)
        for _ in range(2000):
            b0, payload = await ws.frame()
            assert b0 == 0x81 and len(payload) == 200, (hex(b0), len(payload))
            msg = json.loads(payload)
            assert msg["type"] == "response.data" and "flood" in msg["content"]
        ws.send(0x8, struct.pack(">H", 1000))
        ws.close()
        return auth["conversation_id"]
    progress = wait_session_event(fsrv, "fault_progress", run(go()))
    assert progress["fault"] == "flood" and progress["messages_sent"] >= 2000


def _tls_server(tmp_path, profile: str) -> Server:
    return Server(tmp_path, "--tls", "--cert-dir", str(tmp_path / "certs"),
                  "--cert-profile", profile, "--no-greeting")


def test_no_san_profile_names_the_host_only_in_its_cn(tmp_path):
    import socket
    import ssl
    server = _tls_server(tmp_path, "no-san")
    try:
        ctx = ssl.create_default_context(cafile=server.ready["ca_file"])
        # A client that still falls back to the CN (Python's default) accepts it: the chain
        # verifies and CN=localhost names the host ...
        ctx.hostname_checks_common_name = True
        with socket.create_connection(("127.0.0.1", server.ready["port"]), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                cert = tls.getpeercert()
        assert "subjectAltName" not in cert
        assert dict(x[0] for x in cert["subject"])["commonName"] == "localhost"
        # ... one that follows RFC 9525 refuses it.
        ctx.hostname_checks_common_name = False
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            with socket.create_connection(("127.0.0.1", server.ready["port"]), timeout=10) as raw:
                ctx.wrap_socket(raw, server_hostname="localhost")
        assert info.value.verify_code == 62         # hostname mismatch
    finally:
        server.stop()


def test_drop_tcp_mid_turn_over_tls_sends_no_close_notify(tmp_path):
    """Over TLS the drop is a crashed server's: TCP ends without a TLS close_notify (a
    client that insists on one sees SSLEOFError, not a clean end of stream)."""
    import socket
    import ssl
    server = _tls_server(tmp_path, "good")
    try:
        async def auth():
            return await post_json(server.ready["layercode_authorize_url"],
                                   {"agent_id": "echo", "metadata": {
                                       "devserver_fault": {"fault": "drop_tcp_mid_turn",
                                                           "at": "ready"}}},
                                   api_headers(), ssl_ctx=ctx)
        ctx = ssl.create_default_context(cafile=server.ready["ca_file"])
        status, grant = run(auth())
        assert status == 200, grant
        url = urlsplit(server.ready["ws"])
        raw = socket.create_connection(("localhost", url.port), timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
        key = base64.b64encode(os.urandom(16)).decode()
        tls.sendall((f"GET {url.path}?client_session_key={grant['client_session_key']} "
                     f"HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        payload = json.dumps({"type": "client.ready"}).encode()
        mask = os.urandom(4)
        tls.sendall(bytes([0x81, 0x80 | len(payload)]) + mask
                    + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        with pytest.raises(ssl.SSLEOFError):
            while tls.recv(65536):
                pass
        tls.close()
    finally:
        server.stop()
