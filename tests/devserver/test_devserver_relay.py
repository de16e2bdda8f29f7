# SPDX-License-Identifier: Apache-2.0
"""The relay (doc/opus-profile.md section 7): an Opus client -> `devserver.py --upstream`
-> a PCM devserver. Authorize forwarding, pass-through for PCM devices, the audio chain,
barge-in, close codes both ways, an upstream that drops, a device that never reads, one
that vanishes (no pong), one whose message is too big, and the queues' byte cap."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from urllib.parse import urlsplit

import aiohttp
import pytest

from devserver_harness import DEVICE_TOKEN, Server, audio_of, run
from opus_client import (OpusClient, decode_all, is_type, packets, tone16k, tone_match,
                         wait_closed)

DEVICE = {"Authorization": f"Bearer {DEVICE_TOKEN}"}


def start_relay(workdir, upstream: Server, *args: str) -> Server:
    return Server(workdir, "--upstream", upstream.ready["authorize_url"],
                  "--upstream-ws", upstream.ready["ws"], *args)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A PCM devserver (instant audio, device token) behind a relay."""
    up = Server(tmp_path_factory.mktemp("up"), "--audio-speed", "0",
                "--device-token", DEVICE_TOKEN, "--tone-seconds", "1")
    relay = start_relay(tmp_path_factory.mktemp("relay"), up)
    yield up, relay
    relay.stop()
    up.stop()
    assert "Traceback" not in relay.stderr(), relay.stderr()


async def open_device(relay: Server, **kw) -> OpusClient:
    kw.setdefault("headers", DEVICE)
    return await OpusClient.open(relay.ready["authorize_url"], relay.ready["ws"], **kw)


def relay_close(relay: Server, after: float = 0.0) -> dict:
    return relay.wait_event(lambda e: e["kind"] == "relay_close" and e["t"] >= after,
                            timeout=10)


def upstream_close(up: Server, conversation_id: str) -> dict:
    opened = up.wait_event(lambda e: e["kind"] == "ws_open"
                           and e["conversation_id"] == conversation_id)
    return up.wait_event(lambda e: e["kind"] == "ws_close"
                         and e["session"] == opened["session"], timeout=10)


def test_relay_ready_line_names_the_device_side(chain):
    up, relay = chain
    assert relay.ready["relay"] is True
    assert relay.ready["authorize_url"].endswith("/authorize")
    assert relay.ready["upstream"] == up.ready["authorize_url"]
    assert relay.ready["layercode_authorize_url"] is None


def test_relay_answers_opus_and_strips_the_offer_upstream(chain):
    up, relay = chain
    async def go():
        c = await open_device(relay, agent_id="tone", ready=False)
        await c.close()
        return c.auth
    auth = run(go())
    assert auth["config"]["audio"] == {"codec": "opus", "sample_rate": 16000,
                                       "frame_ms": 20}
    opened = up.wait_event(lambda e: e["kind"] == "ws_open"
                           and e["conversation_id"] == auth["conversation_id"])
    assert opened["codec"] == "pcm16"             # upstream speaks standard Layercode


def test_relay_passes_pcm_devices_through_unchanged(chain):
    up, relay = chain
    async def go():
        c = await open_device(relay, agent_id="tone", offer=None)
        msgs = await c.until(is_type("response.end"))
        await c.close()
        return c.auth, msgs
    auth, msgs = run(go())
    assert "audio" not in auth["config"]
    assert all(isinstance(m, dict) for m in msgs)
    assert len(b"".join(audio_of(msgs))) == 2 * 16000          # the 1 s tone as PCM
    close = relay.wait_event(lambda e: e["kind"] == "relay_close"
                             and e["codec"] == "pcm16")
    assert close["upstream_bytes_in"] == close["device_bytes_out"]     # verbatim


def test_relay_refusals_come_back_unchanged(chain):
    up, relay = chain
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.post(relay.ready["authorize_url"], json={"agent_id": "echo"},
                                 headers={"Authorization": "Bearer wrong"}) as resp:
                auth = resp.status, await resp.json()
            url = relay.ready["ws"] + "?client_session_key=nope"
            with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                await http.ws_connect(url)
            return auth, exc.value.status
    (status, body), ws_status = run(go())
    assert (status, body) == (401, {"error": "invalid device token"})
    assert ws_status == 401


def test_relay_chain_echoes_an_opus_tone(chain):
    up, relay = chain
    async def go():
        c = await open_device(relay, metadata={"greeting": False,
                                               "turn_mode": "push_to_talk"})
        await c.send(type="trigger.turn.start", role="user")
        lost = await c.send_audio(tone16k(1.0, 400), lose_every=9)
        await c.send(type="trigger.turn.end", role="user")
        msgs = await c.until(is_type("response.end"))
        await c.close()
        return lost, msgs
    lost, msgs = run(go())
    text = [m["type"] for m in msgs if isinstance(m, dict)]
    assert "response.audio" not in text and "response.audio.opus" in text
    assert text.index("user.transcript") < text.index("response.end")
    echo = decode_all(packets(msgs))
    assert tone_match(echo[3200:-3200], 400, 16000) > 0.9
    close = relay.wait_event(lambda e: e["kind"] == "relay_close"
                             and e.get("opus_packets_in"))
    assert close["codec"] == "opus" and close["opus_lost_in"] == lost == 5
    assert close["opus_concealed_in"] == 5
    print(f"relay wire bytes: device in {close['device_bytes_in']}, upstream out "
          f"{close['upstream_bytes_out']}; upstream in {close['upstream_bytes_in']}, "
          f"device out {close['device_bytes_out']}")
    assert close["device_bytes_out"] < close["upstream_bytes_in"] / 4


def test_relay_barge_in_drops_the_interrupted_turn(tmp_path):
    up = Server(tmp_path / "up", "--audio-speed", "1.5", "--tone-seconds", "3",
                "--no-greeting", "--audio-chunk-ms", "50")
    relay = start_relay(tmp_path / "relay", up)
    try:
        async def go():
            c = await open_device(relay, agent_id="tone", headers={},
                                  metadata={"turn_mode": "push_to_talk"})
            await c.send(type="client.response.text", content="play")
            first = await c.until(lambda m: isinstance(m, tuple))
            await c.until(lambda m: isinstance(m, tuple))
            await c.send(type="trigger.turn.start", role="user")
            msgs = await c.until(lambda m: isinstance(m, dict) and
                                 m["type"] == "turn.start" and m["role"] == "user")
            after = []
            try:
                while (m := await c.recv(0.6)) is not None:
                    after.append(m)
            except asyncio.TimeoutError:
                pass
            await c.close()
            return first, msgs, after
        first, msgs, after = run(go())
        tid = next(m["turn_id"] for m in first if isinstance(m, dict)
                   and m["type"] == "turn.start" and m["role"] == "assistant")
        assert not packets(after)
        assert not [m for m in after + msgs if isinstance(m, dict)
                    and m["type"] == "response.end"]
        assert not [m for m in after if m.get("turn_id") == tid]
        assert relay_close(relay)["interrupted_turns"] == 1
    finally:
        relay.stop()
        up.stop()


def test_relay_carries_close_codes_both_ways(chain):
    up, relay = chain
    async def go():
        c = await open_device(relay, agent_id="tone", metadata={
            "devserver_fault": {"fault": "close_4001", "at": "ready"}})
        code = await wait_closed(c.ws)
        await c.http.close()
        d = await open_device(relay, agent_id="tone", ready=False)
        await d.ws.close(code=4000)
        await d.http.close()
        return code, d.auth["conversation_id"]
    code, conv = run(go())
    assert code == 4001
    assert upstream_close(up, conv)["code"] == 4000


def test_relay_upstream_drop_closes_the_device_which_reauthorizes(chain):
    """The upstream drops TCP mid turn: the device sees 1011, re-authorizes through the
    relay (the same conversation) and gets a whole turn on its new socket."""
    up, relay = chain
    async def go():
        c = await open_device(relay, agent_id="tone",
                              metadata={"devserver_fault": "drop_tcp_mid_turn"})
        code = await wait_closed(c.ws)
        await c.http.close()
        conv = c.auth["conversation_id"]
        d = await open_device(relay, agent_id="tone", conversation_id=conv)
        msgs = await d.until(is_type("response.end"))
        await d.close()
        return code, d.auth, msgs
    code, auth, msgs = run(go())
    assert code == 1011
    assert auth["config"]["audio"]["codec"] == "opus"
    assert len(packets(msgs)) == 50                             # 1 s of tone


def raw_device(relay: Server, agent_id: str) -> tuple[dict, socket.socket]:
    """A device on a bare socket: authorizes (Opus), upgrades, sends client.ready, and
    from then on neither reads nor answers anything (as a device that lost power)."""
    async def authorize():
        async with aiohttp.ClientSession() as http:
            async with http.post(relay.ready["authorize_url"], json={
                    "agent_id": agent_id, "audio": {"codecs": ["opus"]}}) as resp:
                return await resp.json()
    auth = run(authorize())
    u = urlsplit(relay.ready["ws"])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((u.hostname, u.port))
    sock.sendall((f"GET {u.path}?client_session_key={auth['client_session_key']} "
                  f"HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    frame = json.dumps({"type": "client.ready"}).encode()
    sock.sendall(bytes([0x81, 0x80 | len(frame)]) + bytes(4) + frame)  # zero mask
    return auth, sock


def read_to_end(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(1 << 16):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_relay_closes_a_device_that_never_reads(tmp_path):
    up = Server(tmp_path / "up", "--audio-speed", "0", "--tone-seconds", "120")
    relay = start_relay(tmp_path / "relay", up, "--relay-queue", "16",
                        "--relay-stall-seconds", "1")
    try:
        auth, sock = raw_device(relay, "tone")
        # The device reads nothing from here on.
        full = relay.wait_event(lambda e: e["kind"] == "relay_queue_full", timeout=30)
        assert full["side"] == "device"
        close = relay_close(relay)
        assert close["closed_by"] == "device_not_reading" and close["code"] == 1008
        assert upstream_close(up, auth["conversation_id"])["closed_by"] == "client"
        read_to_end(sock)                       # the relay let go: the stream ends
        sock.close()
    finally:
        relay.stop()
        up.stop()


def test_relay_closes_a_device_that_stops_answering_pings(tmp_path):
    """A device gone without a FIN (power lost, NAT timeout) while the upstream is idle:
    the relay's heartbeat pings it, gets no pong, and closes the upstream with 1001. A
    live device idle as long is pinged too, answers, and stays."""
    up = Server(tmp_path / "up", "--audio-speed", "0", "--no-greeting")
    relay = start_relay(tmp_path / "relay", up, "--relay-heartbeat", "1")
    try:
        auth, sock = raw_device(relay, "echo")
        async def live():
            c = await open_device(relay, headers={})
            # Reading (aiohttp answers pings then; each one restarts receive's own
            # timeout, hence wait_for), sending nothing.
            idle = []
            with pytest.raises(asyncio.TimeoutError):
                while (m := await asyncio.wait_for(c.recv(10.0), 4.0)) is not None:
                    idle.append(m)
                idle.append("closed")
            await c.send(type="client.response.data", data="still here")
            msgs = await c.until(is_type("response.data"))
            await c.close()
            return idle, msgs
        idle, msgs = run(live())
        assert idle == [] and msgs[-1]["content"] == {"echo": "still here"}
        closes = [e for e in relay.events() if e["kind"] == "relay_close"]
        assert [e["closed_by"] for e in closes][:1] == ["device_timeout"]
        assert closes[0]["code"] == 1006
        assert upstream_close(up, auth["conversation_id"])["code"] == 1001
        data = read_to_end(sock)
        assert data.startswith(b"HTTP/1.1 101 ") and b"\x89\x00" in data     # a ping
        sock.close()
    finally:
        relay.stop()
        up.stop()


def test_relay_closes_a_device_message_over_1_mib_with_1009(chain):
    up, relay = chain
    async def go():
        c = await open_device(relay, metadata={"greeting": False})
        await c.send(type="client.response.data", data="x" * 1000_000)     # fits
        msgs = await c.until(is_type("response.data"))
        await c.send(type="client.response.data", data="x" * (1 << 20))    # too big
        code = await wait_closed(c.ws)
        await c.http.close()
        return msgs, code, c.auth["conversation_id"]
    msgs, code, conv = run(go())
    assert len(msgs[-1]["content"]["echo"]) == 1000_000
    assert code == 1009
    close = relay.wait_event(lambda e: e["kind"] == "relay_close"
                             and e["closed_by"] == "device_error", timeout=10)
    assert close["code"] == 1009
    assert upstream_close(up, conv)["code"] == 1001


def test_relay_bounds_its_queues_in_bytes(tmp_path):
    """A device sends 300 KiB messages (each under its 1 MiB cap) to an upstream that
    stopped reading: the relay queues at most --relay-queue-bytes of them (not
    --relay-queue messages, 75 MiB), holds the device back, and closes the upstream as
    not reading (1008; the device gets 1011)."""
    cap = 1 << 20
    up = Server(tmp_path / "up", "--audio-speed", "0", "--no-greeting")
    relay = start_relay(tmp_path / "relay", up, "--relay-queue-bytes", str(cap),
                        "--relay-stall-seconds", "1")
    try:
        async def go():
            c = await open_device(relay, headers={}, offer=None, metadata={
                "devserver_fault": {"fault": "stall_reading", "seconds": 60,
                                    "at": "ready"}})
            big = json.dumps({"type": "client.response.data", "data": "x" * 300 * 1024})
            async def flood():
                for _ in range(400):            # 120 MiB: far past every buffer
                    await c.ws.send_str(big)
            sender = asyncio.ensure_future(flood())
            code = await wait_closed(c.ws, 30)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await c.http.close()
            return code
        code = run(go())
        full = relay.wait_event(lambda e: e["kind"] == "relay_queue_full", timeout=10)
        assert full["side"] == "up"
        assert full["queued"] < 256 and cap // 2 < full["queued_bytes"] <= cap
        close = relay_close(relay)
        assert close["closed_by"] == "up_not_reading" and close["code"] == 1008
        assert cap // 2 < close["up_queue_peak_bytes"] <= cap
        assert close["device_bytes_in"] > 2 * cap      # more went through than it held
        assert code == 1011
    finally:
        relay.stop()
        up.stop()


def test_relay_serves_devices_over_tls_from_a_tls_upstream(tmp_path):
    certs = str(tmp_path / "certs")
    up = Server(tmp_path / "up", "--audio-speed", "0", "--tone-seconds", "0.5", "--tls",
                "--cert-dir", certs)
    assert up.ready["ws"].startswith("wss://")
    relay = start_relay(tmp_path / "relay", up, "--tls", "--cert-dir", certs,
                        "--upstream-ca", up.ready["ca_file"])
    try:
        ctx = ssl.create_default_context(cafile=relay.ready["ca_file"])
        async def go():
            c = await open_device(relay, agent_id="tone", headers={}, ssl_ctx=ctx)
            msgs = await c.until(is_type("response.end"))
            await c.close()
            return msgs
        assert relay.ready["ws"].startswith("wss://")
        assert len(packets(run(go()))) == 25
        # Without the upstream's CA the relay refuses to talk to it: 502.
        untrusting = start_relay(tmp_path / "untrusting", up)
        try:
            async def authorize():
                async with aiohttp.ClientSession() as http:
                    async with http.post(untrusting.ready["authorize_url"],
                                         json={"agent_id": "tone"}) as resp:
                        return resp.status, await resp.json()
            status, body = run(authorize())
            assert status == 502 and "upstream unreachable" in body["error"]
        finally:
            untrusting.stop()
    finally:
        relay.stop()
        up.stop()


def test_relay_sigterm_closes_both_sides_with_1001(tmp_path):
    up = Server(tmp_path / "up", "--audio-speed", "0", "--no-greeting")
    relay = start_relay(tmp_path / "relay", up)
    try:
        async def go():
            c = await open_device(relay, headers={})
            await c.send(type="client.response.data", data=1)
            await c.until(is_type("response.data"))
            relay.proc.terminate()
            code = await wait_closed(c.ws)
            await c.http.close()
            return code, c.auth["conversation_id"]
        code, conv = run(go())
        assert code == 1001
        assert upstream_close(up, conv)["code"] == 1001
        assert relay.stop() == 0
    finally:
        relay.stop(check=False)
        up.stop()


def test_relay_reports_text_audio_from_an_opus_device_and_goes_on(chain):
    up, relay = chain
    async def go():
        c = await open_device(relay, metadata={"greeting": False})
        await c.send(type="client.audio", content="AAAA")
        await c.ws.send_bytes(b"\x01\x00")
        await c.send(type="client.response.data", data="after")
        msgs = await c.until(is_type("response.data"))
        await c.close()
        return msgs, c.auth["conversation_id"]
    msgs, conv = run(go())
    assert msgs[-1]["content"] == {"echo": "after"}
    close = relay.wait_event(lambda e: e["kind"] == "relay_close"
                             and e.get("device_errors"))
    assert close["device_errors"] == 2 and close["opus_bad_in"] == 1
    assert upstream_close(up, conv)["audio_frames_in"] == 0    # nothing got through


def test_relay_injects_downlink_loss_from_its_fault_flag(tmp_path):
    up = Server(tmp_path / "up", "--audio-speed", "0", "--tone-seconds", "2")
    relay = start_relay(tmp_path / "relay", up, "--fault", "opus_loss:pct=20,seed=5")
    try:
        async def go():
            c = await open_device(relay, agent_id="tone", headers={})
            msgs = await c.until(is_type("response.end"))
            await c.close()
            return msgs
        seqs = {p[0] for p in packets(run(go()))}
        close = relay.wait_event(lambda e: e["kind"] == "relay_close")
        dropped = [e["sequence"] for e in relay.events()
                   if e["kind"] == "opus_inject" and e["action"] == "dropped"]
        assert dropped and sorted(set(range(100)) - seqs) == sorted(dropped)
        assert close["opus_dropped_out"] == len(dropped)
    finally:
        relay.stop()
        up.stop()
