# SPDX-License-Identifier: Apache-2.0
"""A live but slow TLS link is not a dead one (issue 9, item 4): the keepalive counts bytes
arriving on the socket as life, not only whole decrypted TLS records. A TCP proxy between
the client and a --tls devserver trickles the server's bytes (64 bytes every 50 ms, about
1.3 kB/s) while one ~6 kB message (one TLS record) crosses it, which takes several keepalive
timeouts; the session must stay up and the message arrive."""

from __future__ import annotations

import socket
import threading
import time
from typing import List

import pytest

from tls_support import WS_PATH, DevServer, layercode, shut_down  # skips without a library


class TrickleProxy:
    """Forwards 127.0.0.1:port to the upstream port; server-to-client bytes go through
    `chunk` bytes every `interval` seconds while `slow` is set, at full speed otherwise."""

    def __init__(self, upstream_port: int, chunk: int = 64, interval: float = 0.05) -> None:
        self.upstream_port = upstream_port
        self.chunk, self.interval = chunk, interval
        self.slow = threading.Event()
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: List[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, to_client: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while data:
                    if to_client and self.slow.is_set():
                        dst.sendall(data[:self.chunk])
                        data = data[self.chunk:]
                        time.sleep(self.interval)
                    else:
                        dst.sendall(data)
                        data = b""
        except OSError:
            pass
        finally:
            shut_down(src, dst)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        for s in self.sockets:
            s.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slow-link")
    srv = DevServer(workdir, "--tls", "--cert-dir", str(workdir / "certs"), "--host",
                    "localhost", "--no-greeting")
    yield srv
    srv.stop()


def test_keepalive_counts_partial_tls_records_on_a_slow_link(server):
    proxy = TrickleProxy(server.ready["port"])
    events: List[str] = []
    data: List[dict] = []
    lock = threading.Condition()

    def on_status(status) -> None:
        with lock:
            events.append(str(status))
            lock.notify_all()

    def on_data(content, turn_id) -> None:
        with lock:
            data.append(content)
            lock.notify_all()

    client = layercode.Client(
        agent_id="echo", audio="none", ca_file=server.ca_file,
        authorize_url=f"https://localhost:{server.ready['port']}/authorize",
        ws_url=f"wss://localhost:{proxy.port}{WS_PATH}",
        keepalive_interval_ms=500, keepalive_timeout_ms=1000,
        reconnect_base_ms=100, reconnect_max_delay_ms=400,
        on_status=on_status, on_data=on_data)
    try:
        client.connect().wait_connected(30)
        proxy.slow.set()
        pad = "p" * 6000                        # one TLS record of ~6 kB: ~5 s at 1.3 kB/s
        client.send_data({"pad": pad})
        with lock:
            lock.wait_for(lambda: data or "reconnecting" in events or "error" in events,
                          timeout=60)           # a hang guard
        proxy.slow.clear()
        stats = client.stats()
    finally:
        client.close()
        proxy.close()
    assert "reconnecting" not in events, events
    assert data and data[0].get("echo", {}).get("pad") == pad, (events, data)
    assert stats.reconnects == 0
