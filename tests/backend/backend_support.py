# SPDX-License-Identifier: Apache-2.0
"""The example backend (examples/backend/server.py) as a subprocess for tests/backend, and
the test's own, independent tools for talking to it: the webhook signature computed here
from the documented rule (not imported from the backend), and a small SSE parser."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "examples" / "backend" / "server.py"
SECRET = "test-webhook-secret"

sys.path.insert(0, str(ROOT / "tests"))
from devserver_process import DevServer, stop_process  # noqa: E402,F401  (DevServer: re-exported)


class Backend:
    """examples/backend/server.py on port 0 with the given environment."""

    def __init__(self, workdir: Path, env: dict[str, str], *flags: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = workdir / "backend.stderr"
        self._stderr = open(self.stderr_path, "wb")
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERCODE_")}
        argv = [sys.executable, str(SERVER), "--port", "0", *flags]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, env={**base_env, **env})
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError(f"backend did not start: {argv}\n{self.stderr()}")
        self.ready = json.loads(line)
        assert self.ready.get("event") == "ready", self.ready

    @property
    def agent_url(self) -> str:
        return self.ready["agent"]

    @property
    def authorize_url(self) -> str:
        return self.ready["authorize"]

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.stderr():
            if time.monotonic() > deadline:
                raise AssertionError(f"backend log: no {text!r} in {timeout} s:\n"
                                     + self.stderr())
            time.sleep(0.05)
        return self.stderr()

    def stop(self) -> int | None:
        return stop_process(self.proc, self._stderr)


# ---- the webhook side, written here from the documented rule --------------------------

def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` (doc/protocol.md §4)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode("utf-8"), str(t).encode() + b"." + body,
                      hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def check_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The same rule as a verifier (hmac.compare_digest), to check signature_header."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    t = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - t) <= tolerance and hmac.compare_digest(expected, fields["v1"])


def parse_sse(raw: bytes) -> list[dict]:
    """The `data:` events of an SSE stream, each JSON-decoded. Handles CRLF or LF line ends,
    comments, multi-line data; refuses a final event without its blank line."""
    text = raw.decode("utf-8").replace("\r\n", "\n")
    assert text == "" or text.endswith("\n\n"), f"SSE stream not ended by a blank line: {text!r}"
    events = []
    for block in text.split("\n\n"):
        data = [line[5:].removeprefix(" ") for line in block.split("\n")
                if line.startswith("data:")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


async def post_event(url: str, event: dict, secret: str = SECRET, *,
                     header: str | None = None, send_body: bytes | None = None,
                     timeout: float = 20.0) -> tuple[int, str, bytes]:
    """POSTs event signed with secret (or with `header` as given); `send_body` replaces
    the body actually sent (the signature still covers the event). (status, type, body)."""
    body = json.dumps(event).encode()
    if header is None:
        header = signature_header(secret, body)
    headers = {"Content-Type": "application/json"}
    if header != "":
        headers["layercode-signature"] = header
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        async with http.post(url, data=send_body if send_body is not None else body,
                             headers=headers) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()
