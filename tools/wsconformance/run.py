#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the WebSocket conformance suite: starts the case server (server.py), runs the echo
client (layercode-wsecho, our WebSocketClient) once per case, and prints a report table and a
summary line. Exit status 1 if any case is FAILED.

  python3 tools/wsconformance/run.py                 # build the echo client, run every case
  python3 tools/wsconformance/run.py --cases 6.4.* 7.9.*  --verbose
  python3 tools/wsconformance/run.py --client PATH --json report.json
  python3 tools/wsconformance/run.py --client python3 --client-arg my_client.py --cases 1.*
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from cases import CASES, UNIMPLEMENTED  # noqa: E402
from server import (FAILED, INFORMATIONAL, NON_STRICT, OK, UNIMPLEMENTED as UNIMPL,  # noqa: E402
                    ConformanceServer, Verdict)

VERDICTS = (OK, NON_STRICT, INFORMATIONAL, FAILED, UNIMPL)


def build_echo_client(swift: str = "swift", configuration: str = "debug") -> str:
    """Builds layercode-wsecho with SwiftPM and returns its path."""
    flags = ["-c", configuration, "-j", "2"]
    subprocess.run([swift, "build", "--product", "layercode-wsecho", *flags], cwd=ROOT,
                   check=True)
    bin_dir = subprocess.run([swift, "build", "--show-bin-path", "-c", configuration], cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout.strip()
    return os.path.join(bin_dir, "layercode-wsecho")


@dataclass
class Result:
    case_id: str
    description: str
    verdict: str
    detail: str
    local: bool = False
    client: Optional[dict] = None          # the echo client's JSON line
    client_close: Optional[list] = None    # [code or None, reason] the server received
    seconds: float = 0.0
    events: list = field(default_factory=list)

    @property
    def close_code(self) -> Optional[int]:
        return self.client_close[0] if self.client_close else None


@dataclass
class Report:
    results: list
    seconds: float

    def counts(self) -> dict:
        counts = {v: 0 for v in VERDICTS}
        for r in self.results:
            counts[r.verdict] += 1
        return counts

    def summary(self) -> str:
        c = self.counts()
        ran = len(self.results) - c[UNIMPL]
        return (f"{ran} cases: {c[OK]} OK, {c[NON_STRICT]} NON-STRICT, "
                f"{c[INFORMATIONAL]} INFORMATIONAL, {c[FAILED]} FAILED; "
                f"{c[UNIMPL]} UNIMPLEMENTED (excluded); {self.seconds:.1f} s")

    @property
    def failed(self) -> list:
        return [r for r in self.results if r.verdict == FAILED]


def describe_client(outcome: Optional[dict]) -> str:
    if not outcome:
        return "no outcome"
    sent = outcome.get("sent_code")
    sent_text = f", sent {sent}" if sent is not None else ""
    if outcome.get("result") == "closed":
        code = outcome.get("peer_code")
        return f"closed (peer code {'none' if code is None else code}{sent_text})"
    return f"failed{sent_text}: {outcome.get('error', '?')}"


async def run_case(server: ConformanceServer, client_path: str, case, timeout: float,
                   client_args: list) -> Result:
    started = time.monotonic()
    problem = None
    outcome = None
    proc = await asyncio.create_subprocess_exec(
        client_path, *client_args, server.url(case.id),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        problem = f"echo client still running after {timeout:.0f} s (killed)"
    if problem is None and proc.returncode != 0:
        problem = (f"echo client exited with status {proc.returncode}: "
                   f"{err.decode(errors='replace').strip()[-300:]}")
    lines = out.decode(errors="replace").strip().splitlines()
    if lines:
        try:
            outcome = json.loads(lines[-1])
        except ValueError:
            problem = problem or f"echo client printed no JSON: {lines[-1][:200]!r}"
    elif problem is None:
        problem = "echo client printed nothing"

    try:
        # The server judges once the connection is over; the client has exited by now.
        verdict: Verdict = await asyncio.wait_for(asyncio.shield(server.result(case.id)),
                                                  server.timeouts["close"] + 15)
    except asyncio.TimeoutError:
        verdict = Verdict(FAILED, "the server saw no connection for this case")
    detail = verdict.detail
    final = verdict.verdict
    # What the client says it sent must be what arrived (a close frame queued but never
    # flushed would otherwise pass as a TCP drop).
    sent = outcome.get("sent_code") if outcome else None
    received = verdict.client_close[0] if verdict.client_close else None
    if sent is not None and sent != received and final != UNIMPL:
        final = FAILED
        detail = (f"client reports sending close {sent}, the server received "
                  f"{'none' if verdict.client_close is None else received}; {detail}")
    if problem:
        final, detail = FAILED, f"{problem}; server: {detail}"
    close = None
    if verdict.client_close is not None:
        code, reason = verdict.client_close
        close = [code, reason.decode("utf-8", "replace")]
    return Result(case.id, case.description, final, detail, case.local, outcome, close,
                  time.monotonic() - started,
                  [f"{t:7.3f}s {text}" for t, text in getattr(verdict, "events", [])])


async def run_suite(client_path: str, *, cases=None, jobs: int = 4, timeouts=None,
                    client_args=(), case_timeout: float = 90.0, progress=None) -> Report:
    """Runs `cases` (default: all) and returns the Report (UNIMPLEMENTED rows included)."""
    selected = CASES if cases is None else cases
    server = ConformanceServer(CASES, timeouts)
    await server.start()
    slots = asyncio.Semaphore(jobs)
    heavy_turn = asyncio.Lock()
    started = time.monotonic()

    async def one(case) -> Result:
        # A heavy case (megabytes of payload) takes every slot, so it runs alone.
        need = jobs if case.heavy else 1
        if case.heavy:
            async with heavy_turn:
                for _ in range(need):
                    await slots.acquire()
        else:
            await slots.acquire()
        try:
            result = await run_case(server, client_path, case,
                                    case_timeout * (3 if case.heavy else 1), list(client_args))
        finally:
            for _ in range(need):
                slots.release()
        if progress:
            progress(result)
        return result

    try:
        results = list(await asyncio.gather(*(one(c) for c in selected)))
    finally:
        await server.stop()
    if cases is None:
        results += [Result(case_id, description, UNIMPL, reason)
                    for case_id, description, reason in UNIMPLEMENTED]
    return Report(results, time.monotonic() - started)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def print_report(report: Report, verbose: bool = False, out=sys.stdout) -> None:
    print(f"{'case':9} {'verdict':13} {'description':58} detail", file=out)
    for r in report.results:
        mark = "*" if r.local else " "
        detail = r.detail
        if r.client and r.verdict != UNIMPL:
            detail += f" | client {describe_client(r.client)}"
        print(f"{r.case_id + mark:9} {r.verdict:13} {_short(r.description, 58):58} "
              f"{_short(detail, 140) if not verbose else detail}", file=out)
        if verbose and r.verdict in (FAILED, NON_STRICT):
            for line in r.events:
                print(f"{'':24}{line}", file=out)
    print("* a local case (not in the Autobahn suite)", file=out)
    print(report.summary(), file=out)


def write_json(report: Report, path: str) -> None:
    with open(path, "w") as f:
        json.dump({"summary": report.summary(), "counts": report.counts(),
                   "seconds": report.seconds,
                   "results": [{"case": r.case_id, "local": r.local,
                                "description": r.description, "verdict": r.verdict,
                                "detail": r.detail, "client": r.client,
                                "client_close": r.client_close, "seconds": round(r.seconds, 3)}
                               for r in report.results]}, f, indent=1)


def write_markdown_case_list(path: str) -> None:
    """The case list for doc/websocket-conformance.md."""
    from server import CloseReply, Echo, Fail, Reject

    def codes(values) -> str:
        return "/".join("empty" if c is None else str(c) for c in values)

    def expectation(case) -> str:
        e = case.expect
        if isinstance(e, Echo):
            parts = []
            if e.messages:
                parts.append(f"echo {len(e.messages)}" if len(e.messages) > 1 else "echo")
            if e.pongs:
                parts.append(f"{len(e.pongs)} pong{'s' if len(e.pongs) > 1 else ''}")
            return (" + ".join(parts) or "nothing") + f", then clean close {e.close_code}"
        if isinstance(e, Fail):
            before = f"echo {len(e.messages)}, then " if e.messages else ""
            lenient = f" ({codes(e.non_strict_codes)}: NON-STRICT)" if e.non_strict_codes else ""
            return before + f"fail: close {codes(e.codes)}{lenient}"
        if isinstance(e, CloseReply):
            text = f"answer the close with {codes(e.codes)}"
            if e.non_strict_codes:
                text += f" ({codes(e.non_strict_codes)}: NON-STRICT)"
            if e.drop != FAILED:
                text += f"; TCP drop: {e.drop}"
            return text + (" (informational)" if e.informational else "")
        if isinstance(e, Reject):
            return "fail: close TCP without a frame"
        return type(e).__name__

    with open(path, "w") as f:
        f.write("| case | description | expected |\n|---|---|---|\n")
        for case in CASES:
            mark = " \\*" if case.local else ""
            desc = case.description.replace("|", "\\|")
            f.write(f"| {case.id}{mark} | {desc} | {expectation(case)} |\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", help="echo client to test (default: build layercode-wsecho)")
    parser.add_argument("--swift", default=os.environ.get("SWIFT", "swift"))
    parser.add_argument("--release", action="store_true", help="build the client in release mode")
    parser.add_argument("--cases", nargs="*", help="case ids or patterns (6.4.*); default all")
    parser.add_argument("--jobs", type=int, default=4, help="cases run at once (default 4)")
    parser.add_argument("--client-arg", action="append", default=[],
                        help="argument passed to the client before the URL (repeatable)")
    parser.add_argument("--hold", type=float, help="fail-fast hold in seconds (default 10)")
    parser.add_argument("--close-timeout", type=float,
                        help="seconds the server waits for a close or failure (default 15)")
    parser.add_argument("--echo-timeout", type=float,
                        help="seconds the server waits for echoes (default 20, +2 per MiB)")
    parser.add_argument("--json", help="write the full report as JSON here")
    parser.add_argument("--markdown-cases", help="write the case list as a Markdown table")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="full details, and the event log of FAILED/NON-STRICT cases")
    args = parser.parse_args(argv)

    if args.markdown_cases:
        write_markdown_case_list(args.markdown_cases)
        return 0
    client = args.client or build_echo_client(args.swift, "release" if args.release else "debug")
    selected = None
    if args.cases:
        selected = [c for c in CASES if any(fnmatch.fnmatchcase(c.id, p) for p in args.cases)]
        if not selected:
            parser.error("no case matches " + " ".join(args.cases))
    timeouts = {name: value for name, value in (("hold", args.hold),
                                                 ("close", args.close_timeout),
                                                 ("echo", args.echo_timeout)) if value}
    report = asyncio.run(run_suite(client, cases=selected, jobs=max(1, args.jobs),
                                   timeouts=timeouts, client_args=args.client_arg))
    print_report(report, args.verbose)
    if args.json:
        write_json(report, args.json)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
