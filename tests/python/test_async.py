# SPDX-License-Identifier: Apache-2.0
"""AsyncClient: the callbacks bridged onto an asyncio loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

import layercode
from layercode import Status


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_async_session(devserver):
    server = devserver()

    async def main():
        loop_thread = threading.get_ident()
        threads, data = set(), []

        async def on_data(content, turn_id):  # a coroutine callback runs as a task
            await asyncio.sleep(0)
            data.append(content)

        async with layercode.AsyncClient(
                agent_id="echo", authorize_url=server.authorize_url, ws_url=server.ws_url,
                on_status=lambda status: threads.add(threading.get_ident()),
                on_data=on_data) as client:
            assert await client.connect(timeout=10) is client
            assert client.status == Status.CONNECTED
            client.send_text("async hello")
            client.send_data({"k": "v"})
            seen = []
            async for event in client:
                seen.append(event)
                if event.type == "message" and \
                        event.message.get("content") == "You said: async hello":
                    await client.disconnect()
            assert seen[-1].type == "disconnected" and seen[-1].code == 0
            assert client.status == Status.DISCONNECTED
            assert threads == {loop_thread}  # callbacks ran on the loop
            assert data == [{"echo": {"k": "v"}}]
            stats = client.stats()
            assert stats.messages_sent >= 3
        assert client.closed
        # After close, iteration ends at once.
        assert [e async for e in client] == []

    run(main())


def test_async_connect_failure_raises(devserver):
    server = devserver()

    async def main():
        async with layercode.AsyncClient(agent_id="insufficient-balance",
                                         authorize_url=server.authorize_url,
                                         ws_url=server.ws_url) as client:
            with pytest.raises(layercode.AuthorizeError) as info:
                await client.connect(timeout=10)
            assert "402" in info.value.detail
            # The failed session's events are still there to read.
            types = [e.type async for e in client.events(timeout=2)]
            assert "error" in types and types[-1] == "disconnected"

    run(main())


def test_async_connect_timeout_and_events_timeout(closed_port):
    import socket

    async def main():
        with socket.socket() as listener:  # accepts, never answers
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            url = f"http://127.0.0.1:{listener.getsockname()[1]}/authorize"
            async with layercode.AsyncClient(agent_id="echo", authorize_url=url) as client:
                with pytest.raises(layercode.LCTimeoutError):
                    await client.connect(timeout=0.3)
                events = [e async for e in client.events(timeout=0.3)]
                assert all(isinstance(e, layercode.Event) for e in events)

    run(main())


def test_async_callback_exception_is_reported(devserver, caplog):
    server = devserver("--no-greeting")

    async def main():
        errors = []
        async with layercode.AsyncClient(agent_id="echo", authorize_url=server.authorize_url,
                                         ws_url=server.ws_url, amplitude_rate_hz=0,
                                         on_error=errors.append) as client:
            @client.on("connected")
            async def broken(conversation_id, config):
                raise RuntimeError("async boom")

            await client.connect(timeout=10)
            for _ in range(50):
                if errors:
                    break
                await asyncio.sleep(0.02)
            assert isinstance(client.callback_error, layercode.CallbackError)
            assert isinstance(errors[0].__cause__, RuntimeError)

    run(main())


def test_async_client_needs_a_running_loop(devserver):
    server = devserver()
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        layercode.AsyncClient(agent_id="echo", authorize_url=server.authorize_url)
