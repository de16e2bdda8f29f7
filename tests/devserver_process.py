# SPDX-License-Identifier: Apache-2.0
"""The devserver as a subprocess for the test suites (tests/integration, tests/python):
tools/devserver/devserver.py on port 0, its ready line parsed, its JSON-lines log read back."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

ROOT = Path(__file__).resolve().parents[1]
DEVSERVER = ROOT / "tools" / "devserver" / "devserver.py"
DEVSERVER_PYTHON = os.environ.get("LAYERCODE_DEVSERVER_PYTHON", sys.executable)


def stop_process(proc: subprocess.Popen, stderr) -> int | None:
    """SIGTERM, then SIGKILL after 10 s; closes its stdout and our stderr file."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout:
        proc.stdout.close()
    stderr.close()
    return proc.returncode


class DevServer:
    """tools/devserver/devserver.py on port 0, logging to a JSON-lines file."""

    def __init__(self, workdir: Path, *flags: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "events.jsonl"
        self.stderr_path = workdir / "devserver.stderr"
        argv = [DEVSERVER_PYTHON, str(DEVSERVER), "--port", "0", "--log", str(self.log_path),
                *map(str, flags)]
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError(f"devserver did not start: {argv}\n{self.stderr()}")
        self.ready = json.loads(line)
        if self.ready.get("event") != "ready":
            self.stop()
            raise RuntimeError(f"devserver failed: {self.ready}\n{self.stderr()}")

    @property
    def authorize_url(self) -> str:
        return self.ready["authorize_url"]

    @property
    def ws_url(self) -> str:
        return self.ready["ws"]

    @property
    def ca_file(self) -> Optional[str]:
        return self.ready.get("ca_file")

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def records(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        text = self.log_path.read_text(encoding="utf-8")
        # Only whole lines: the server may be writing the next one.
        lines = text.split("\n")[:-1]
        return [json.loads(line) for line in lines if line.strip()]

    def received(self, mtype: str) -> list[dict]:
        """Client messages of one type the server received."""
        return [r["msg"] for r in self.records()
                if r.get("kind") == "recv" and r.get("msg", {}).get("type") == mtype]

    def wait_for(self, pred, timeout: float = 10.0) -> list[dict]:
        """The log once a record matches pred."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if any(pred(r) for r in records):
                return records
            if time.monotonic() > deadline:
                kinds = [r.get("kind") for r in records]
                raise AssertionError(f"devserver log: no matching record in {timeout} s; "
                                     f"kinds {kinds}")
            time.sleep(0.05)

    def closed_session_log(self, timeout: float = 10.0) -> list[dict]:
        """The log of the one WebSocket session, once it has closed."""
        records = self.wait_for(lambda r: r.get("kind") == "ws_close", timeout)
        opened = [r for r in records if r.get("kind") == "ws_open"]
        assert len(opened) == 1, f"expected one session, got {len(opened)}"
        session = opened[0]["session"]
        return [r for r in records if r.get("session") == session]

    def stop(self) -> None:
        stop_process(self.proc, self._stderr)


def devservers(tmp_path: Path) -> Iterator[Callable[..., DevServer]]:
    """The body of the suites' `devserver` fixtures (`yield from devservers(tmp_path)`):
    yields start(*flags) -> DevServer, each server in its own folder under tmp_path, and
    stops every server it started at teardown."""
    servers: list[DevServer] = []

    def start(*flags: str) -> DevServer:
        server = DevServer(tmp_path / f"devserver{len(servers)}", *flags)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# ---- audio -----------------------------------------------------------------------------
