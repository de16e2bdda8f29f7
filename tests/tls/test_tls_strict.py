# SPDX-License-Identifier: Apache-2.0
"""Strict TLS through the Python bindings against the devserver's test PKI (--tls and its
cert profiles): a certificate that does not verify (wrong host, expired, self-signed,
unknown CA) is LC_ERR_TLS with the OpenSSL reason in the detail; an IP-literal URL is
checked against the certificate's IP SANs and never sends SNI; a DNS name sends SNI (the
devserver logs every ClientHello's server name); a trailing dot names the same host."""

from __future__ import annotations

import re
import socket
import struct
import threading
from typing import Dict, List, Optional, Tuple

import pytest

from tls_support import WS_PATH, DevServer, layercode, shut_down  # skips without a library


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """tls_server(profile, host="127.0.0.1") -> a --tls devserver with that cert profile.
    One CA for all (one cert dir); servers start one at a time, so each loads its own
    server.pem before the next profile rewrites it."""
    workdir = tmp_path_factory.mktemp("tls")
    started: Dict[Tuple[str, str], DevServer] = {}

    def get(profile: str, host: str = "127.0.0.1", *flags: str) -> DevServer:
        key = (profile, host, *flags)
        if key not in started:
            name = f"{profile}-{host.replace(':', '_')}-{len(started)}"
            started[key] = DevServer(workdir / name, "--tls", "--cert-dir",
                                     str(workdir / "certs"), "--cert-profile", profile,
                                     "--host", host, "--no-greeting", *flags)
        return started[key]

    yield get
    for server in started.values():
        server.stop()


class Attempt:
    """One connect of a text-only client to https://HOST:PORT (authorize, then wss)."""

    def __init__(self, server: DevServer, host: str, ca_file: Optional[str] = "server"
                 ) -> None:
        port = server.ready["port"]
        ca = server.ca_file if ca_file == "server" else ca_file
        self.statuses: List[str] = []
        self.errors: List[layercode.LayercodeError] = []
        self.connected = 0
        lock = threading.Lock()

        def on_status(status) -> None:
            with lock:
                self.statuses.append(str(status))

        def on_error(error) -> None:
            with lock:
                self.errors.append(error)

        def on_connected(conversation_id, config) -> None:
            with lock:
                self.connected += 1

        hello_before = len(_client_hellos(server))
        client = layercode.Client(agent_id="echo", authorize_url=f"https://{host}:{port}/authorize",
                                  ws_url=f"wss://{host}:{port}{WS_PATH}", ca_file=ca,
                                  audio="none", on_status=on_status, on_error=on_error,
                                  on_connected=on_connected)
        self.error: Optional[BaseException] = None
        self.reason: Optional[Tuple[str, Optional[int]]] = None
        try:
            client.connect().wait_connected(30)
            client.disconnect()
            assert client.wait_disconnected(10)
        except layercode.LayercodeError as exc:
            self.error = exc
            if hasattr(client, "failure_reason"):
                self.reason = client.failure_reason()
        finally:
            client.close()
        self.sni = [h["sni"] for h in _client_hellos(server)[hello_before:]]


def _client_hellos(server: DevServer) -> List[dict]:
    return [r for r in server.records() if r.get("kind") == "tls_client_hello"]


def _authorizes(server: DevServer) -> int:
    return sum(1 for r in server.records() if r.get("kind") == "authorize")


# ---- certificates that must not verify ----------------------------------------------------

REFUSED = [
    # profile, URL host, expected OpenSSL verify reason (in the error detail)
    ("wrong-host", "localhost", r"hostname mismatch"),
    ("expired", "localhost", r"certificate has expired"),
    ("self-signed", "localhost", r"self[- ]signed certificate"),
    ("no-ip-san", "127.0.0.1", r"IP address mismatch"),
]


@pytest.mark.parametrize("profile,host,reason", REFUSED, ids=[r[0] for r in REFUSED])
def test_certificate_that_does_not_verify_is_a_tls_error(tls_server, profile, host, reason):
    server = tls_server(profile)
    authorizes = _authorizes(server)
    attempt = Attempt(server, host)
    assert isinstance(attempt.error, layercode.TLSError), attempt.error
    assert attempt.error.code == layercode.ErrorCode.TLS
    # A useful detail: which host, and OpenSSL's verify reason.
    assert re.search(reason, attempt.error.detail), attempt.error.detail
    assert "certificate verify failed" in attempt.error.detail
    assert attempt.statuses == ["connecting", "error"]
    assert [e.code for e in attempt.errors] == [layercode.ErrorCode.TLS]
    assert attempt.connected == 0
    # The authorize request never reached the server: the handshake stopped it.
    assert _authorizes(server) == authorizes
    assert len(attempt.sni) == 1


def test_unknown_ca_is_a_tls_error(tls_server):
    """Without ca_file the system store is used; it does not trust the test CA."""
    attempt = Attempt(tls_server("good"), "localhost", ca_file=None)
    assert isinstance(attempt.error, layercode.TLSError), attempt.error
    assert "unable to get local issuer certificate" in attempt.error.detail


def test_certificate_without_subject_alt_name_is_refused_despite_matching_cn(tls_server):
    """A certificate with no subjectAltName whose subject CN is the host (CN=localhost): the
    CN names nothing (RFC 9525, browsers), so the handshake fails as a host mismatch."""
    server = tls_server("no-san")
    attempt = Attempt(server, "localhost")
    assert isinstance(attempt.error, layercode.TLSError), attempt.error
    assert re.search(r"hostname mismatch", attempt.error.detail), attempt.error.detail
    assert attempt.connected == 0
    assert len(attempt.sni) == 1


@pytest.mark.parametrize("profile,host,reason", REFUSED, ids=[r[0] for r in REFUSED])
def test_tls_failure_reason(tls_server, profile, host, reason):
    if not hasattr(layercode.Client, "failure_reason"):
        pytest.skip("layercode.Client has no failure_reason() (the reconnect contract's "
                    "getter)")
    attempt = Attempt(tls_server(profile), host)
    assert attempt.reason == ("tls", None)


# ---- names: IP literals, SNI, trailing dot -------------------------------------------------

def test_ipv4_literal_verifies_against_the_ip_san_without_sni(tls_server):
    server = tls_server("good")                 # SAN includes IP:127.0.0.1
    attempt = Attempt(server, "127.0.0.1")
    assert attempt.error is None, attempt.error
    assert attempt.connected == 1
    assert attempt.sni == [None, None]          # authorize and WebSocket: no SNI


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_ipv6_literal_verifies_against_the_ip_san_without_sni(tls_server):
    server = tls_server("good", "::1")          # SAN includes IP:::1
    attempt = Attempt(server, "[::1]")
    assert attempt.error is None, attempt.error
    assert attempt.sni == [None, None]


def test_dns_name_sends_sni_lowercased(tls_server):
    server = tls_server("good")
    attempt = Attempt(server, "LocalHost")
    assert attempt.error is None, attempt.error
    assert attempt.sni == ["localhost", "localhost"]


def test_trailing_dot_host_matches_the_certificate(tls_server):
    """https://localhost.:PORT is the same host as localhost: resolved as given, verified
    and sent as SNI without the dot (certificates never carry it)."""
    server = tls_server("good")
    attempt = Attempt(server, "localhost.")
    if isinstance(attempt.error, layercode.NetworkError) and \
            "cannot resolve" in attempt.error.detail:
        try:
            socket.getaddrinfo("localhost.", 443)
        except socket.gaierror:
            pytest.skip("this machine's resolver cannot resolve 'localhost.' (no DNS for "
                        "it, and neither glibc's files lookup nor the library special-case "
                        "localhost names as RFC 6761 suggests)")
    assert attempt.error is None, attempt.error
    assert attempt.sni == ["localhost", "localhost"]


# ---- regressions: two client bugs these tests found (fixed) ------------------------------

def _can_bind(address: str) -> bool:
    try:
        with socket.socket() as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _can_bind("127.0.0.8"), reason="127.0.0.8 is not a local address")
def test_leading_zero_ipv4_is_not_connected_as_one_address_and_verified_as_another(
        tls_server):
    """https://127.0.0.010:PORT must not be verified against one address and connected to
    another: the server listens on 127.0.0.8 only, its certificate names 127.0.0.10 (not
    127.0.0.8). Refusing the URL, or verifying the address actually connected, both fail
    this connect; connecting means the identity check covered the wrong address."""
    server = tls_server("good", "127.0.0.8", "--san", "IP:127.0.0.10")
    assert Attempt(server, "127.0.0.8").error is not None      # the cert is not for .8
    # Refused as a URL: getaddrinfo would read "010" as octal 8, the certificate check as 10.
    with pytest.raises(layercode.InvalidArgumentError, match="ambiguous IPv4"):
        Attempt(server, "127.0.0.010")


class _ResettingListener:
    """A TCP listener that reads the ClientHello of each connection and then resets it
    (SO_LINGER 0), or forwards it to `forward_port` when its number is in `forward`."""

    def __init__(self, forward_port: Optional[int] = None, forward=()) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.forward_port = forward_port
        self.forward = set(forward)
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted in self.forward:
                upstream = socket.create_connection(("127.0.0.1", self.forward_port))
                for a, b in ((conn, upstream), (upstream, conn)):
                    threading.Thread(target=self._pump, args=(a, b), daemon=True).start()
                continue
            conn.settimeout(10)
            try:
                conn.recv(4096)             # the ClientHello
            except OSError:
                pass
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            shut_down(src, dst)

    def close(self) -> None:
        self.sock.close()


def test_reset_during_tls_handshake_is_a_network_failure():
    listener = _ResettingListener()
    try:
        client = layercode.Client(agent_id="echo", audio="none",
                                  authorize_url=f"https://127.0.0.1:{listener.port}/authorize",
                                  ws_url=f"wss://127.0.0.1:{listener.port}{WS_PATH}")
        try:
            with pytest.raises(layercode.LayercodeError) as info:
                client.connect().wait_connected(30)
            reason = client.failure_reason() if hasattr(client, "failure_reason") else None
        finally:
            client.close()
    finally:
        listener.close()
    assert isinstance(info.value, layercode.NetworkError), info.value
    if reason is not None:
        assert reason[0] == "unreachable", reason


def test_reset_during_tls_handshake_of_a_reconnect_is_retried(tls_server):
    """The first socket is dropped mid-greeting (devserver fault drop_tcp_mid_turn); the
    reconnect's first WebSocket connection is reset during its TLS handshake (a transient
    network failure); the next attempt must go through."""
    server = tls_server("good", "127.0.0.1", "--audio-speed", "0")
    # Connection 1: the first socket; 2: reset in the handshake; 3 on: forwarded.
    listener = _ResettingListener(server.ready["port"], forward={1, 3, 4, 5, 6})
    events: List[str] = []
    lock = threading.Condition()

    def record(kind: str):
        def callback(*args) -> None:
            with lock:
                events.append(str(args[0]) if kind == "status" else kind)
                lock.notify_all()
        return callback

    client = layercode.Client(
        agent_id="echo", audio="none", ca_file=server.ca_file,
        metadata={"devserver_fault": "drop_tcp_mid_turn",
                  "greeting": "Hello there, this greeting is dropped."},
        authorize_url=f"https://127.0.0.1:{server.ready['port']}/authorize",
        ws_url=f"wss://127.0.0.1:{listener.port}{WS_PATH}",
        on_status=record("status"), on_connected=record("on_connected"),
        on_error=record("on_error"))
    try:
        client.connect()
        with lock:
            lock.wait_for(lambda: events.count("on_connected") >= 2 or "on_error" in events
                          or "disconnected" in events, timeout=60)
        assert listener.accepted >= 2, events            # the reset happened
        assert "reconnecting" in events, events
        assert events.count("on_connected") == 2, (events, client.last_error)
        assert "on_error" not in events, (events, client.last_error)
        assert client.stats().reconnects == 1
    finally:
        client.close()
        listener.close()
