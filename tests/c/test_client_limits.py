# SPDX-License-Identifier: Apache-2.0
"""Regressions of issue 9 for the C API and the client's memory, from C programs:

- tests/c/last_error_threads.c: lc_client_last_error() from 4 threads at once, under ASan;
- tests/c/option_checks.c: what lc_client_new() refuses (reserved or malformed authorize
  headers, invalid UTF-8 in any string option), the metadata text sent unchanged, the
  authorize URL's query kept out of the log, ALSA's messages routed to the log handler;
- tests/c/event_queue.c: the lc_client_poll_event queue, bounded by bytes, only for pollers;
- tests/c/idle_client_memory.c: what an idle client allocates (mallinfo2), not RSS timing.

The authorize server of option_checks is a small recording HTTP server in this process (the
library talks to it over loopback); the others use the devserver.
"""
from __future__ import annotations

import http.server
import json
import re
import sys
import threading

import pytest

from test_c_api import (ASAN_ENV, ASAN_FLAGS, ROOT, TESTS, assert_checks_passed,  # noqa: F401
                        compile_c, devserver, library, run)

sys.path.insert(0, str(ROOT / "tests"))
from devserver_process import DevServer  # noqa: E402

# A number a double cannot hold, a trailing zero, an escape and spacing: all must survive.
METADATA = '{"big": 9007199254740993, "price": 1.50, "text": "caf\\u00e9", "nested": {"a": [1, 2e3]}}'
SECRET = "s3cret-token-value"


# ---- lc_client_last_error across threads -------------------------------------------------

@pytest.mark.parametrize("build", ["asan", "plain"])
def test_last_error_is_memory_safe_across_threads(tmp_path, build):
    exe = compile_c(TESTS / "last_error_threads.c", tmp_path / build,
                    ASAN_FLAGS if build == "asan" else [])
    env = ASAN_ENV if build == "asan" else {}   # with make sanitize's LSan suppression
    proc = run([exe, "20000"], env)
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.describe
    assert proc.returncode == 0, proc.describe
    assert "SUMMARY 160000 reads, 0 bad" in proc.stdout, proc.describe


# ---- option checks, metadata, log redaction, ALSA messages -------------------------------

class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        type(self).requests.append({"path": self.path, "headers": self.headers.items(),
                                    "body": body})
        if self.path.startswith("/hangup"):
            self.close_connection = True  # no answer at all: the client's error names the URL
            return
        reply = b'{"error": "recording server: refused on purpose"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def option_checks(tmp_path_factory):
    """Runs tests/c/option_checks.c once against the recording server."""
    _Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        exe = compile_c(TESTS / "option_checks.c", tmp_path_factory.mktemp("option_checks") / "oc")
        base = f"http://127.0.0.1:{server.server_address[1]}"
        proc = run([exe, f"{base}/authorize?token={SECRET}&x=1", METADATA,
                    f"{base}/hangup?token={SECRET}"], timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    proc.requests = list(_Recorder.requests)
    proc.logs = [line for line in proc.stdout.splitlines() if line.startswith("log ")]
    return proc


def _checks(proc, prefix: str) -> list[str]:
    lines = [line for line in proc.stdout.splitlines()
             if re.match(rf"(PASS|FAIL) {re.escape(prefix)}", line)]
    assert lines, f"no check starting with {prefix!r}\n{proc.describe}"
    return lines


def test_option_checks_ran_to_the_end(option_checks):
    assert_checks_passed(option_checks)


def test_authorize_headers_refuse_reserved_names_and_control_characters(option_checks):
    lines = _checks(option_checks, "authorize header") + _checks(option_checks, "malformed") \
        + _checks(option_checks, "ordinary headers")
    assert len(lines) == 16 + 9 + 1
    failed = [line for line in lines if line.startswith("FAIL")]
    assert not failed, "\n".join(failed)
    # None of them reached the server with a second Host or Content-Length.
    for request in option_checks.requests:
        names = [name.lower() for name, _ in request["headers"]]
        for reserved in ("host", "content-length", "transfer-encoding", "connection"):
            assert names.count(reserved) <= 1, request["headers"]


def test_invalid_utf8_options_are_refused(option_checks):
    lines = _checks(option_checks, "invalid UTF-8 in")
    assert len(lines) == 10
    failed = [line for line in lines if line.startswith("FAIL")]
    assert not failed, "\n".join(failed)


def test_metadata_json_numbers_pass_through_unchanged(option_checks):
    bodies = [r["body"].decode() for r in option_checks.requests if r["path"].startswith("/authorize")
              and '"big"' in r["body"].decode()]
    assert bodies, option_checks.describe
    for body in bodies:
        assert '"metadata":' + METADATA in body, body  # byte for byte, spacing included
        assert json.loads(body)["metadata"]["big"] == 9007199254740993


def test_authorize_url_query_is_redacted_in_logs(option_checks):
    assert option_checks.requests and SECRET in option_checks.requests[0]["path"]  # it was sent
    assert SECRET not in option_checks.stdout, \
        [line for line in option_checks.logs if SECRET in line]
    connecting = [line for line in option_checks.logs if "connecting: authorize" in line]
    assert any("/authorize?<redacted>" in line for line in connecting), connecting
    # The error of a request that got no answer names the URL, redacted as well.
    assert any("/hangup?<redacted>" in line and "connection closed" in line
               for line in option_checks.logs if line.startswith("log 0 ")), option_checks.logs


def test_alsa_messages_go_to_the_log_handler_not_stderr(option_checks):
    assert option_checks.stderr == "", option_checks.describe
    alsa = [line for line in option_checks.logs if "ALSA lib" in line]
    assert any("lc_no_such_pcm" in line for line in alsa), option_checks.logs
    assert all(line.startswith(f"log 1 ") for line in alsa), alsa  # LC_LOG_WARN


# ---- the poll-event queue ------------------------------------------------------------------

@pytest.fixture(scope="module")
def event_queue(tmp_path_factory):
    return compile_c(TESTS / "event_queue.c", tmp_path_factory.mktemp("event_queue") / "eq")


def test_poll_queue_holds_nothing_for_a_callback_app(event_queue, devserver):
    assert_checks_passed(run([event_queue, devserver["authorize_url"], devserver["ws"],
                              "callbacks"], timeout=120))


def test_poll_queue_is_bounded_by_bytes_and_counts_drops(event_queue, devserver):
    assert_checks_passed(run([event_queue, devserver["authorize_url"], devserver["ws"],
                              "polling"], timeout=120))


def test_poll_queue_after_a_first_poll_gets_every_event_as_well(event_queue, devserver):
    assert_checks_passed(run([event_queue, devserver["authorize_url"], devserver["ws"],
                              "both"], timeout=120))


# ---- what an idle client allocates ---------------------------------------------------------

def test_idle_client_allocates_no_audio_buffers(tmp_path):
    exe = compile_c(TESTS / "idle_client_memory.c", tmp_path / "idle_client_memory")
    proc = run([exe, "50"])
    assert proc.returncode == 0, proc.describe
    assert "SUMMARY 50 clients per mode, 0 failed" in proc.stdout, proc.describe


def test_connected_client_buffers_are_sized_once(tmp_path):
    exe = compile_c(TESTS / "idle_client_memory.c", tmp_path / "idle_client_memory")
    server = DevServer(tmp_path / "devserver", "--no-greeting")
    try:
        proc = run([exe, "5", server.authorize_url, server.ws_url], timeout=120)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.describe
    assert "PASS connected external: 5/5 connected" in proc.stdout, proc.describe
