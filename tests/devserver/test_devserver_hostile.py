# SPDX-License-Identifier: Apache-2.0
"""The hostile faults (tools/devserver/hostile.py) that bench/soak_hostile.py runs the library
against: what each puts on the wire, checked with aiohttp's client."""

from __future__ import annotations

import json

import aiohttp
import pytest

from devserver_harness import Server, api_headers, post_json, run

import faultinject  # noqa: E402  (tools/devserver, put on sys.path by the harness)


@pytest.fixture(scope="module")
def hsrv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("hsrv"), "--no-greeting")
    yield server
    server.stop()
    assert "Traceback" not in server.stderr(), server.stderr()


async def open_socket(server: Server, fault: dict, http: aiohttp.ClientSession):
    status, auth = await post_json(server.ready["layercode_authorize_url"],
                                   {"agent_id": "echo",
                                    "metadata": {"devserver_fault": fault}}, api_headers())
    assert status == 200, auth
    ws = await http.ws_connect(server.ready["ws"] + "?client_session_key="
                               + auth["client_session_key"], autoping=False)
    await ws.send_str(json.dumps({"type": "client.ready"}))
    return ws, auth["conversation_id"]


def progress(server: Server, fault: str) -> dict:
    return server.wait_event(lambda e: e["kind"] == "fault_progress" and e["fault"] == fault,
                             10)


def test_ping_flood_pings_without_reading(hsrv):
    async def go():
        async with aiohttp.ClientSession() as http:
            ws, _ = await open_socket(hsrv, {"fault": "ping_flood", "seconds": 0.5}, http)
            pings = []
            while len(pings) < 200:
                msg = await ws.receive(5)
                assert msg.type == aiohttp.WSMsgType.PING, msg
                pings.append(msg.data)
            await ws.close()
            return pings
    pings = run(go())
    assert set(pings) == {b"p" * 125}
    assert progress(hsrv, "ping_flood")["pings_sent"] >= 200


def test_flood_sends_big_messages_back_to_back(hsrv):
    async def go():
        async with aiohttp.ClientSession() as http:
            ws, _ = await open_socket(hsrv, {"fault": "flood", "seconds": 0.2,
                                             "bytes": 65536}, http)
            sizes = []
            while len(sizes) < 5:
                msg = await ws.receive(5)
                assert msg.type == aiohttp.WSMsgType.TEXT
                data = json.loads(msg.data)
                assert data["type"] == "response.data"
                sizes.append(len(msg.data))
            await ws.close()
            return sizes
    assert set(run(go())) == {65536}
    assert progress(hsrv, "flood")["messages_sent"] >= 5


def test_huge_ids_are_all_different(hsrv):
    async def go():
        async with aiohttp.ClientSession() as http:
            ws, _ = await open_socket(hsrv, {"fault": "huge_ids", "count": 4, "bytes": 5000},
                                      http)
            chunks = [json.loads((await ws.receive(5)).data) for _ in range(4)]
            await ws.close()
            return chunks
    chunks = run(go())
    assert all(c["type"] == "response.audio" for c in chunks)
    assert all(len(c["turn_id"]) == 5000 == len(c["delta_id"]) for c in chunks)
    assert len({c["turn_id"] for c in chunks}) == 4
    assert progress(hsrv, "huge_ids")["chunks_sent"] == 4


def test_hostile_fault_parameters_are_checked():
    with pytest.raises(faultinject.FaultError):
        faultinject.make_fault({"fault": "ping_flood", "bytes": 126})
    with pytest.raises(faultinject.FaultError):
        faultinject.make_fault({"fault": "huge_ids", "count": -1})
    with pytest.raises(faultinject.FaultError):
        faultinject.make_fault({"fault": "flood", "stall": True})
