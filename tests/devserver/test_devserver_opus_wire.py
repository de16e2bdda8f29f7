# SPDX-License-Identifier: Apache-2.0
"""The devserver's Opus downlink under injected loss and reordering (faults `opus_loss`,
`opus_reorder`: logged per packet, seeded), and the bytes on the wire of PCM JSON against
the Opus profile for the same audio."""

from __future__ import annotations

import base64

import pytest

from devserver_harness import Server, api_headers, run, tone8k
from opus_client import OpusClient, is_type, packets, tone16k


async def open_opus(server: Server, **kw) -> OpusClient:
    return await OpusClient.open(server.ready["layercode_authorize_url"],
                                 server.ready["ws"], headers=api_headers(), **kw)


def ws_close(server: Server, session: str) -> dict:
    return server.wait_event(lambda e: e["kind"] == "ws_close" and e["session"] == session)


# ---- loss and reordering injection ---------------------------------------------------

def _faulted_turn(server: Server, fault) -> tuple[list, str]:
    async def go():
        c = await open_opus(server, agent_id="tone", metadata={"devserver_fault": fault})
        msgs = await c.until(is_type("response.end"))
        await c.close()
        return msgs, c.auth["conversation_id"]
    msgs, conv = run(go())
    opened = server.wait_event(lambda e: e["kind"] == "ws_open"
                               and e["conversation_id"] == conv)
    return msgs, opened["session"]


@pytest.fixture(scope="module")
def lsrv(tmp_path_factory):
    """4 s of tone (200 packets), instant."""
    server = Server(tmp_path_factory.mktemp("lsrv"), "--codecs", "opus,pcm16",
                    "--audio-speed", "0", "--tone-seconds", "4")
    yield server
    server.stop()


@pytest.mark.parametrize("pct", [5, 20])
def test_opus_loss_drops_the_logged_packets(lsrv, pct):
    msgs, session = _faulted_turn(lsrv, {"fault": "opus_loss", "pct": pct, "seed": 3})
    seqs = [p[0] for p in packets(msgs)]
    close = ws_close(lsrv, session)
    injected = [e["sequence"] for e in lsrv.events(session)
                if e["kind"] == "opus_inject" and e["action"] == "dropped"]
    sent = close["opus_packets_out"] + close["opus_dropped_out"]
    missing = sorted(set(range(sent)) - set(seqs))
    print(f"opus_loss {pct} %: {len(missing)} of {sent} packets dropped")
    assert missing == sorted(injected) and len(injected) == close["opus_dropped_out"]
    assert 0 < len(injected) < sent * pct / 100 * 2.5
    assert seqs == sorted(seqs)
    # Seeded: the same fault drops the same packets on another conversation.
    again, session2 = _faulted_turn(lsrv, {"fault": "opus_loss", "pct": pct, "seed": 3})
    assert [p[0] for p in packets(again)] == seqs


@pytest.mark.parametrize("pct", [5, 20])
def test_opus_reorder_swaps_the_logged_packets(lsrv, pct):
    msgs, session = _faulted_turn(lsrv, {"fault": "opus_reorder", "pct": pct})
    seqs = [p[0] for p in packets(msgs)]
    injected = [e["sequence"] for e in lsrv.events(session)
                if e["kind"] == "opus_inject" and e["action"] == "reordered"]
    late = [s for i, s in enumerate(seqs) if i and s < seqs[i - 1]]
    print(f"opus_reorder {pct} %: {len(late)} of {len(seqs)} packets swapped")
    assert sorted(seqs) == list(range(len(seqs)))          # nothing lost
    assert late == injected and 0 < len(late) < len(seqs) * pct / 100 * 2.5
    for s in late:                                          # each swapped with the next
        i = seqs.index(s)
        assert seqs[i - 1] == s + 1


def test_loss_and_reorder_combine(lsrv):
    msgs, session = _faulted_turn(lsrv, [{"fault": "opus_loss", "pct": 10},
                                         {"fault": "opus_reorder", "pct": 10}])
    close = ws_close(lsrv, session)
    assert close["opus_dropped_out"] > 0 and close["opus_reordered_out"] > 0
    assert len(packets(msgs)) == close["opus_packets_out"]


# ---- bytes on the wire ---------------------------------------------------------------

def test_opus_needs_a_fraction_of_the_pcm_bytes(lsrv):
    """The same agent script (4 s of tone) on a PCM and an Opus socket."""
    async def go(offer):
        c = await OpusClient.open(lsrv.ready["layercode_authorize_url"], lsrv.ready["ws"],
                                  headers=api_headers(), agent_id="tone", offer=offer)
        await c.until(is_type("response.end"))
        await c.close()
        return c.wire_in
    pcm_bytes, opus_bytes = run(go(None)), run(go({"codecs": ["opus"]}))
    print(f"downlink for 4 s of agent audio: PCM JSON {pcm_bytes / 4:.0f} B/s, "
          f"Opus {opus_bytes / 4:.0f} B/s ({pcm_bytes / opus_bytes:.1f}x less)")
    assert opus_bytes < pcm_bytes / 4

    async def speak(offer):
        c = await OpusClient.open(lsrv.ready["layercode_authorize_url"], lsrv.ready["ws"],
                                  headers=api_headers(), offer=offer,
                                  metadata={"greeting": False})
        if c.opus:
            await c.send_audio(tone16k(2.0, 300))
        else:
            for i in range(0, 32000, 320):              # 8 kHz PCM JSON, 20 ms frames
                await c.send(type="client.audio", content=base64.b64encode(
                    tone8k(2.0)[i:i + 320]).decode())
        await c.close()
        return c.auth["conversation_id"]
    uplink = {}
    for name, offer in (("pcm", None), ("opus", {"codecs": ["opus"]})):
        conv = run(speak(offer))
        opened = lsrv.wait_event(lambda e: e["kind"] == "ws_open"
                                 and e["conversation_id"] == conv)
        uplink[name] = ws_close(lsrv, opened["session"])["wire_bytes_in"]
    print(f"uplink for 2 s of user audio: PCM JSON (8 kHz) {uplink['pcm'] / 2:.0f} B/s, "
          f"Opus (16 kHz) {uplink['opus'] / 2:.0f} B/s")
    assert uplink["opus"] < uplink["pcm"] / 2
