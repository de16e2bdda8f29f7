#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fault matrix: the real liblayercode (through the Python bindings) against the devserver's
injected faults (tools/devserver/README.md, "Fault injection"), one client process per
fault so a crash is reported as one. Prints one row per fault: the expected outcome (from
the reconnect contract), what happened (status sequence, errors, failure reason, recovery)
and a verdict; exits 1 if any row fails.

    .venv/bin/python tools/faults.py               # or: make faults
    .venv/bin/python tools/faults.py --only close_4000 --only trickle -v
    .venv/bin/python tools/faults.py --list
    .venv/bin/python tools/faults.py --json build/faults.json

tests/faults/test_faults.py runs the same rows (ROWS) as pytest cases.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
BINDINGS = ROOT / "bindings" / "python"
LIBRARY = Path(os.environ.get("LAYERCODE_BUILD_DIR", ROOT / "build")) / "lib" / "liblayercode.so"
RESULT_MARK = "FAULT-RESULT "

# ---- the matrix ------------------------------------------------------------------------

# Reconnect settings for rows that reconnect: quick, so a row takes seconds.
FAST_RECONNECT = {"reconnect_base_ms": 100, "reconnect_max_delay_ms": 400}


@dataclass(frozen=True)
class Expect:
    """What the contract (reconnect-contract.md) says must happen."""

    statuses: Tuple[str, ...]                 # exact sequence of on_status values
    errors: Tuple[str, ...] = ()              # on_error codes, in order (ErrorCode names)
    # Code of the on_disconnected that ended the session (None: still connected).
    disconnected: Optional[str] = None        # "OK" or an ErrorCode name
    reason: Tuple[str, Optional[int]] = ("NONE", None)   # client.failure_reason()
    reconnects: Optional[int] = None          # stats.reconnects, when it matters
    connects: int = 1                         # on_connected count (same conversation)
    client_close: Optional[int] = None        # close code the client sent (server log)
    data: Optional[dict] = None               # an on_data content that must arrive
    send_queue_drops: bool = False            # stats.send_queue_dropped_frames > 0
    alt_errors: Tuple[Tuple[str, ...], ...] = ()   # other acceptable error sequences

    def summary(self) -> str:
        end = self.statuses[-1]
        parts = []
        if "reconnecting" in self.statuses and end == "connected":
            parts.append(f"reconnect x{self.reconnects or 1}, same conversation")
        elif end == "connected":
            parts.append("stays up")
        elif end == "disconnected":
            parts.append("disconnected OK, no error")
        else:
            parts.append("error " + "/".join(self.errors))
        if self.client_close:
            parts.append(f"client closes {self.client_close}")
        if self.reason[0] != "NONE":
            parts.append(f"reason {self.reason[0]}" + (f" {self.reason[1]}" if self.reason[1]
                                                         else ""))
        if self.data is not None:
            parts.append("message arrives")
        if self.send_queue_drops:
            parts.append("send queue drops audio")
        return "; ".join(parts)


@dataclass(frozen=True)
class Row:
    name: str
    fault: Any                                # metadata.devserver_fault
    expect: Expect
    server: str = "plain"                     # "plain" or "tls-<cert profile>"
    options: Dict[str, Any] = field(default_factory=dict)   # layercode.Client kwargs
    metadata: Dict[str, Any] = field(default_factory=dict)
    scenario: str = "session"     # "session" | "stall" | "disconnect_reconnecting" |
    #                               "text_after_greeting" (send_text once the greeting played)
    until: str = "end"                        # "end" | "reconnected" | "data"
    timeout: float = 45.0                     # seconds the client process may take
    note: str = ""

    @property
    def checks_resumed_audio(self) -> bool:
        """A row that reconnects into a greeting: the resumed socket's greeting must play
        and its replay_finished reach the server, not only the socket reopen (issue 9)."""
        return self.until.startswith("reconnected") and self.metadata.get("greeting", True) \
            is not False

    @property
    def needs_reconnect(self) -> bool:
        """Rows whose expected outcome is the reconnect contract's (not the 0.1 client's)."""
        return ("reconnecting" in self.expect.statuses or self.expect.reconnects is not None
                or self.expect.send_queue_drops
                or any(k.startswith(("reconnect_", "keepalive_", "send_queue", "authorize_t"))
                       for k in self.options))


def _protocol(name: str, fault: Any, close: int, error: str = "PROTOCOL") -> Row:
    return Row(name, fault, Expect(("connecting", "connected", "error"), (error,), error,
                                   ("PROTOCOL", None), client_close=close))


def _refused_initial(name: str, fault: Any, error: str, reason: Tuple[str, Optional[int]],
                     **kw) -> Row:
    return Row(name, fault, Expect(("connecting", "error"), (error,), error, reason,
                                   connects=0), **kw)


ROWS: List[Row] = [
    # Transport drops while the agent speaks: reconnect, same conversation.
    Row("drop_tcp_mid_turn", "drop_tcp_mid_turn",
        Expect(("connecting", "connected", "reconnecting", "connected"), reconnects=1,
               connects=2), options=FAST_RECONNECT, until="reconnected"),
    Row("reset_tcp_mid_turn", "reset_tcp_mid_turn",
        Expect(("connecting", "connected", "reconnecting", "connected"), reconnects=1,
               connects=2), options=FAST_RECONNECT, until="reconnected"),
    # A drop after the greeting played through: the resumed socket's greeting must play.
    Row("drop_after_greeting_played", {"fault": "drop_tcp_mid_turn", "at": "replay"},
        Expect(("connecting", "connected", "reconnecting", "connected"), reconnects=1,
               connects=2), options=FAST_RECONNECT, until="reconnected"),
    # Typed text barges in on the finished greeting, then the reply's socket drops: the
    # resumed greeting is a new turn and must play (issue 9, item 12).
    Row("drop_after_text_turn", {"fault": "drop_tcp_mid_turn", "after_chunks": 35},
        Expect(("connecting", "connected", "reconnecting", "connected"), reconnects=1,
               connects=2), options=FAST_RECONNECT, scenario="text_after_greeting",
        until="reconnected"),
    # Close codes.
    Row("close_1000", "close_1000",
        Expect(("connecting", "connected", "disconnected"), disconnected="OK")),
    # 1001, going away (a deploy, a restart): the same conversation resumes.
    Row("close_1001", "close_1001",
        Expect(("connecting", "connected", "reconnecting", "connected"), reconnects=1,
               connects=2), options=FAST_RECONNECT, until="reconnected"),
    Row("close_1011", "close_1011",
        Expect(("connecting", "connected", "reconnecting", "connected"), reconnects=1,
               connects=2), options=FAST_RECONNECT, until="reconnected"),
    Row("close_4000", "close_4000",
        Expect(("connecting", "connected", "error"), ("CLOSED",), "CLOSED",
               ("CLOSED", None))),
    # Malformed frames: the client closes with the RFC 6455 code, final error.
    _protocol("garbage_frames", "garbage_frames", 1002),
    _protocol("invalid_utf8", "invalid_utf8", 1007),
    # The whole 16 MiB + 1 payload follows the header: the client fails on the header and
    # closes with unread data, so its kernel resets the connection and the server may
    # never read the 1009 (it is checked in the next row, where no payload follows).
    Row("oversized_frame", "oversized_frame",
        Expect(("connecting", "connected", "error"), ("TOO_LARGE",), "TOO_LARGE",
               ("PROTOCOL", None))),
    _protocol("oversized_frame_header_only", {"fault": "oversized_frame", "payload_bytes": 0},
              1009, error="TOO_LARGE"),
    _protocol("fragmented_control", "fragmented_control", 1002),
    _protocol("reserved_opcode", "reserved_opcode", 1002),
    _protocol("rsv_bits", "rsv_bits", 1002),
    _protocol("masked_frame", "masked_frame", 1002),
    # Flow.
    Row("stall_reading", {"fault": "stall_reading", "seconds": 10.0},
        Expect(("connecting", "connected"), send_queue_drops=True,
               data={"echo": {"after_stall": True}}),
        metadata={"greeting": False, "vad": {"gate_audio": False}}, scenario="stall",
        timeout=90.0, note="server reads nothing for 10 s while the app writes mic audio "
                           "at ~50x real time"),
    Row("trickle", {"fault": "trickle", "interval_ms": 100},
        Expect(("connecting", "connected"), data={"devserver_fault": "trickle"}),
        metadata={"greeting": False}, until="data"),
    Row("ignore_pings", "ignore_pings",
        Expect(("connecting", "connected", "reconnecting", "connected"), reconnects=1,
               connects=2),
        options={**FAST_RECONNECT, "keepalive_interval_ms": 1000,
                 "keepalive_timeout_ms": 2000},
        metadata={"greeting": False}, until="reconnected",
        note="keepalive: the server stops answering pings on the first socket"),
    # Authorize (initial connect: never retried).
    _refused_initial("authorize_400", "authorize_400", "AUTHORIZE", ("AUTHORIZE", 400)),
    _refused_initial("authorize_402", "authorize_402", "AUTHORIZE", ("AUTHORIZE", 402)),
    _refused_initial("authorize_500", "authorize_500", "AUTHORIZE", ("AUTHORIZE", 500)),
    _refused_initial("authorize_slow", {"fault": "authorize_slow", "seconds": 6.0},
                     "TIMEOUT", ("UNREACHABLE", None), options={"connect_timeout_ms": 1500}),
    _refused_initial("authorize_bad_json", "authorize_bad_json", "PROTOCOL",
                     ("PROTOCOL", None)),
    # Upgrade (initial connect).
    # (lc_client_failure_reason gives the refused upgrade's HTTP status, layercode.h.)
    _refused_initial("upgrade_403", "upgrade_403", "PROTOCOL", ("PROTOCOL", 403)),
    _refused_initial("upgrade_503", "upgrade_503", "PROTOCOL", ("PROTOCOL", 503)),
    _refused_initial("upgrade_bad_accept", "upgrade_bad_accept", "PROTOCOL",
                     ("PROTOCOL", None)),
    # TLS (initial connect; a cert profile per devserver).
    _refused_initial("tls_expired", None, "TLS", ("TLS", None), server="tls-expired"),
    _refused_initial("tls_self_signed", None, "TLS", ("TLS", None),
                     server="tls-self-signed"),
    _refused_initial("tls_wrong_host", None, "TLS", ("TLS", None), server="tls-wrong-host"),
    # Faults during reconnect attempts.
    Row("reconnect_authorize_503_twice",
        [{"fault": "drop_tcp_mid_turn"}, {"fault": "authorize_503", "skip": 1, "times": 2}],
        Expect(("connecting", "connected", "reconnecting", "connected"), reconnects=1,
               connects=2), options=FAST_RECONNECT, until="reconnected",
        note="503 is retried with backoff; the 3rd attempt succeeds"),
    Row("reconnect_authorize_403",
        [{"fault": "drop_tcp_mid_turn"}, {"fault": "authorize_403", "skip": 1, "times": 0}],
        Expect(("connecting", "connected", "reconnecting", "error"), ("AUTHORIZE",),
               "AUTHORIZE", ("AUTHORIZE", 403)), options=FAST_RECONNECT,
        note="a 4xx during reconnect is final"),
    Row("reconnect_max_retries",
        [{"fault": "drop_tcp_mid_turn"}, {"fault": "upgrade_503", "skip": 1, "times": 0}],
        # "LC_ERR_NETWORK (or the last attempt's code)": here a refused upgrade, PROTOCOL;
        # the reason carries that refusal's status (layercode.h, lc_client_failure_reason).
        Expect(("connecting", "connected", "reconnecting", "error"), ("PROTOCOL",),
               "PROTOCOL", ("MAX_RETRIES", 503), alt_errors=(("NETWORK",),)),
        options={**FAST_RECONNECT, "reconnect_max_attempts": 3},
        note="every upgrade after the first refused with 503: gives up after 3 attempts"),
    Row("reconnect_close_1011_three_times", {"fault": "close_1011", "times": 3},
        Expect(("connecting", "connected", "reconnecting", "connected", "reconnecting",
                "connected", "reconnecting", "connected"), reconnects=3, connects=4),
        options=FAST_RECONNECT, until="reconnected:4",
        note="the first three sockets are closed 1011 mid-greeting; each reconnect "
             "succeeds and the fourth socket stays"),
    Row("disconnect_while_reconnecting",
        [{"fault": "drop_tcp_mid_turn"}, {"fault": "upgrade_503", "skip": 1, "times": 0}],
        Expect(("connecting", "connected", "reconnecting", "disconnected"),
               disconnected="OK"),
        options={"reconnect_base_ms": 2000, "reconnect_max_delay_ms": 4000,
                 "reconnect_max_attempts": 5},
        scenario="disconnect_reconnecting",
        note="disconnect() while reconnecting stops it"),
]

# Every drop, reset and stall row again over TLS (a devserver with a good certificate): an
# established TLS session that loses its TCP connection (no close_notify, a reset, a peer
# that stops reading or answering) must end the same way as over plain TCP.
TLS_TWINS = ("drop_tcp_mid_turn", "reset_tcp_mid_turn", "stall_reading", "trickle",
             "ignore_pings", "reconnect_authorize_503_twice", "reconnect_authorize_403",
             "reconnect_max_retries", "disconnect_while_reconnecting")
ROWS += [dataclasses.replace(row, name=row.name + "_tls", server="tls-good")
         for row in ROWS if row.name in TLS_TWINS]

ROWS_BY_NAME = {row.name: row for row in ROWS}
SERVERS = ("plain", "tls-good", "tls-expired", "tls-self-signed", "tls-wrong-host")


# ---- features of the loaded library -----------------------------------------------------

def client_options(layercode) -> set:
    """Keyword options layercode.Client takes: its named parameters, plus the lc_options
    integer fields it accepts through **kwargs (layercode.client._INT_OPTIONS)."""
    params = inspect.signature(layercode.Client.__init__).parameters
    names = set(params)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        names |= set(getattr(sys.modules["layercode.client"], "_INT_OPTIONS", ()))
    return names


def library_features() -> Dict[str, bool]:
    """What the bindings and library in this tree support of the reconnect contract."""
    _import_layercode()
    import layercode
    params = client_options(layercode)
    return {
        "reconnect": "reconnect_max_attempts" in params,
        "keepalive": "keepalive_interval_ms" in params,
        "send_queue_stats": "send_queue_dropped_frames" in
        {f.name for f in dataclasses.fields(layercode.Stats)},
        "failure_reason": hasattr(layercode.Client, "failure_reason"),
    }


def missing_features(row: Row, features: Dict[str, bool]) -> List[str]:
    """Features the row's expected outcome depends on that this library lacks."""
    need = []
    if row.needs_reconnect:
        need.append("reconnect")
    if any(k.startswith("keepalive_") for k in row.options):
        need.append("keepalive")
    if row.expect.send_queue_drops:
        need.append("send_queue_stats")
    return [n for n in need if not features.get(n)]


def _import_layercode() -> None:
    if "LAYERCODE_LIBRARY" not in os.environ and LIBRARY.exists():
        os.environ["LAYERCODE_LIBRARY"] = str(LIBRARY)
    if str(BINDINGS) not in sys.path:
        sys.path.insert(0, str(BINDINGS))


# ---- the client process ------------------------------------------------------------------

def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child_main(spec: Dict[str, Any]) -> int:
    """Runs one client against one fault; prints RESULT_MARK + JSON observations."""
    _import_layercode()
    import layercode

    t0 = time.monotonic()
    lock = threading.Condition()
    obs: Dict[str, Any] = {"statuses": [], "errors": [], "connected": [], "disconnected": [],
                           "data": [], "timeline": [], "unsupported_options": [],
                           "notes": []}

    def note(kind: str, value: Any) -> None:
        with lock:
            obs["timeline"].append([round(time.monotonic() - t0, 3), kind, value])
            lock.notify_all()

    def on_status(status) -> None:
        with lock:
            obs["statuses"].append(str(status))
        note("status", str(status))

    def on_connected(conversation_id, config) -> None:
        with lock:
            obs["connected"].append(conversation_id)
        note("connected", conversation_id)

    def on_disconnected(code, detail) -> None:
        name = "OK" if code == 0 else _code_name(layercode, code)
        with lock:
            obs["disconnected"].append({"code": name, "detail": detail})
        note("disconnected", name)

    def on_error(error) -> None:
        code = getattr(error, "code", 0)
        entry = {"code": _code_name(layercode, code), "detail": getattr(error, "detail",
                                                                           str(error))}
        with lock:
            obs["errors"].append(entry)
        note("error", entry["code"])

    def on_data(content, turn_id) -> None:
        with lock:
            obs["data"].append(content)
        note("data", content)

    # The app's speaker (spec["audio_check"]): reads agent audio in real time, counting the
    # agent samples played since the last on_connected and whether playout then drained.
    audio = {"played": 0, "at_connect": 0, "drained_after": None}

    def on_agent_speaking(speaking: bool) -> None:
        with lock:
            if not speaking and audio["played"] > audio["at_connect"]:
                audio["drained_after"] = audio["played"]
        note("agent_speaking", speaking)

    def on_connected_audio(conversation_id, config) -> None:
        with lock:
            audio["at_connect"] = audio["played"]
            audio["drained_after"] = None
        on_connected(conversation_id, config)

    client = _make_client(
        layercode, spec["options"], obs,
        agent_id="echo", authorize_url=spec["authorize_url"], ws_url=spec["ws_url"],
        ca_file=spec.get("ca_file"), metadata=spec["metadata"], audio="external",
        on_status=on_status, on_disconnected=on_disconnected, on_error=on_error,
        on_data=on_data, event_queue_size=0,
        **({"on_connected": on_connected_audio, "on_agent_speaking": on_agent_speaking}
           if spec.get("audio_check") else {"on_connected": on_connected}))

    def wait(pred: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with lock:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                lock.wait(left)
            return True

    def ended() -> bool:
        return bool(obs["disconnected"])

    budget = spec["timeout"] - 5
    client.connect()
    speaker_stop = threading.Event()

    def speaker() -> None:
        out = bytearray(2 * 320)                        # 20 ms at 16 kHz
        next_tick = time.monotonic()
        while not speaker_stop.is_set():
            played = client.read_audio_into(out)
            with lock:
                audio["played"] += played
            next_tick += 0.02
            speaker_stop.wait(max(0.0, next_tick - time.monotonic()))

    speaker_thread = threading.Thread(target=speaker, daemon=True)
    if spec.get("audio_check"):
        speaker_thread.start()
    scenario, until = spec["scenario"], spec["until"]
    if scenario == "stall":
        _stall_scenario(client, spec, obs, wait, ended, budget)
    elif scenario == "disconnect_reconnecting":
        if wait(lambda: "reconnecting" in obs["statuses"] or ended(), budget / 2):
            if not ended():
                note("app", "disconnect() while reconnecting")
                client.disconnect()
        wait(ended, budget / 2)
    elif until.startswith("reconnected"):
        if scenario == "text_after_greeting":
            wait(lambda: audio["drained_after"] is not None or ended(), 20)
            note("app", "send_text after the greeting")
            client.send_text("hello")
        want = int(until.partition(":")[2] or 2)
        wait(lambda: len(obs["connected"]) >= want or ended(), budget)
    elif until == "data":
        wait(lambda: bool(obs["data"]) or ended(), budget)
    else:
        wait(ended, budget)
    if spec.get("audio_check"):
        # The resumed socket's greeting: played through, then replay_finished is sent.
        wait(lambda: audio["drained_after"] is not None or ended(), 20)
        obs["resumed_audio"] = {"samples": audio["played"] - audio["at_connect"],
                                "drained": audio["drained_after"] is not None}
    # Anything that follows the outcome (a late error, a spurious reconnect) shows too.
    wait(lambda: False, 0.5)
    speaker_stop.set()
    if speaker_thread.is_alive():
        speaker_thread.join(5)

    with lock:
        obs["final_status"] = str(client.status)
        # The outcome is what happened up to here; teardown events are kept apart.
        outcome = {k: list(obs[k]) for k in ("statuses", "errors", "connected",
                                             "disconnected", "data", "timeline")}
    obs["failure_reason"] = failure_reason(client)
    obs["stats"] = dataclasses.asdict(client.stats())
    obs["last_error"] = client.last_error
    # Teardown (not part of the outcome): leave cleanly.
    if obs["final_status"] in ("connected", "reconnecting", "connecting"):
        client.disconnect()
        if not client.wait_disconnected(10):
            obs["notes"].append("disconnect() did not end the session within 10 s")
    client.close()
    with lock:
        obs["teardown_statuses"] = obs["statuses"][len(outcome["statuses"]):]
        obs["teardown_errors"] = obs["errors"][len(outcome["errors"]):]
        obs.update(outcome)
    obs["elapsed"] = round(time.monotonic() - t0, 3)
    obs["rss_kb"] = _rss_kb()
    obs["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(RESULT_MARK + json.dumps(obs), flush=True)
    return 0


def _make_client(layercode, options: Dict[str, Any], obs: Dict[str, Any], **kwargs):
    """layercode.Client(**kwargs, **options); options these bindings do not take are left
    out and listed in obs["unsupported_options"] (the row then reports what is missing)."""
    params = client_options(layercode)
    obs["unsupported_options"] = [k for k in options if k not in params]
    return layercode.Client(**kwargs, **{k: v for k, v in options.items() if k in params})


def failure_reason(client) -> Optional[List[Any]]:
    """[NAME, http_status or None] from client.failure_reason(); None if it has none."""
    if not hasattr(client, "failure_reason"):
        return None
    name, http = client.failure_reason()
    return [str(name).upper(), http]


def _code_name(layercode, code: int) -> str:
    try:
        return layercode.ErrorCode(code).name
    except ValueError:
        return str(code)


def _stall_scenario(client, spec, obs, wait, ended, budget) -> None:
    """While the server does not read: write mic audio much faster than real time, watch
    the send queue; afterwards the session must still work (a data round trip)."""
    import array
    if not wait(lambda: bool(obs["connected"]) or ended(), 20):
        return
    stall = float(spec["fault"]["seconds"]) if isinstance(spec["fault"], dict) else 30.0
    chunk = array.array("h", bytes(2 * 16000))          # 1 s of silence at 16 kHz
    start_rss = _rss_kb()
    samples = 0
    peak_drop = 0
    deadline = time.monotonic() + stall
    while time.monotonic() < deadline and not ended():
        samples += client.write_audio(chunk)
        time.sleep(0.02)                                # ~50 s of audio per second
        stats = client.stats()
        peak_drop = max(peak_drop, getattr(stats, "send_queue_dropped_frames", 0))
    obs["stall"] = {"seconds": stall, "audio_seconds_written": round(samples / 16000, 1),
                    "rss_growth_kb": _rss_kb() - start_rss,
                    "send_queue_dropped_frames": peak_drop}
    if ended():
        return
    # The server reads again: the session must still answer.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ended():
        try:
            client.send_data({"after_stall": True})
            break
        except Exception as exc:                        # e.g. reconnecting right now
            obs["notes"].append(f"send_data: {exc!r}")
            time.sleep(0.5)
    wait(lambda: any(d == {"echo": {"after_stall": True}} for d in obs["data"]) or ended(),
         max(5.0, deadline - time.monotonic()))


# ---- running rows ------------------------------------------------------------------------

@dataclass
class Outcome:
    row: Row
    obs: Optional[Dict[str, Any]]
    returncode: Optional[int]
    crash: str                      # "no", "SIGSEGV", "exit 1", "timeout"
    stderr_tail: str
    problems: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and not self.missing and self.crash == "no"


def run_client(row: Row, server, env: Optional[Dict[str, str]] = None) -> Outcome:
    """Runs row's client in its own process against `server` (a devserver_process.DevServer)."""
    spec = {"name": row.name, "fault": row.fault, "options": dict(row.options),
            "metadata": dict(row.metadata), "scenario": row.scenario, "until": row.until,
            "timeout": row.timeout, "authorize_url": server.authorize_url,
            "ws_url": server.ws_url, "ca_file": server.ca_file,
            "audio_check": row.checks_resumed_audio}
    if row.fault is not None:
        spec["metadata"]["devserver_fault"] = row.fault
    child_env = dict(os.environ if env is None else env)
    if "LAYERCODE_LIBRARY" not in child_env and LIBRARY.exists():
        child_env["LAYERCODE_LIBRARY"] = str(LIBRARY)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child",
                                 json.dumps(spec)], stdout=subprocess.PIPE, stderr=err,
                                stdin=subprocess.DEVNULL, env=child_env, cwd=str(ROOT))
        try:
            out, _ = proc.communicate(timeout=row.timeout)
            crash = "no"
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            crash = "timeout (hung)"
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    obs = None
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith(RESULT_MARK):
            obs = json.loads(line[len(RESULT_MARK):])
    rc = proc.returncode
    if crash == "no" and rc is not None and rc < 0:
        crash = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ \
            else f"signal {-rc}"
    elif crash == "no" and rc != 0:
        crash = f"exit {rc}"
    return Outcome(row, obs, rc, crash, "\n".join(stderr.strip().splitlines()[-15:]))


def server_view(server, conversation_id: Optional[str], timeout: float = 10.0
                ) -> Dict[str, Any]:
    """What the devserver logged for one conversation: the close codes of its sockets (once
    every opened socket has closed), its authorizes and its faults."""
    deadline = time.monotonic() + timeout
    while True:
        records = server.records()
        opened = [r["session"] for r in records if r.get("kind") == "ws_open"
                  and r.get("conversation_id") == conversation_id]
        sessions = set(opened)
        closes = [r for r in records if r.get("kind") == "ws_close"
                  and r.get("session") in sessions]
        if len(closes) >= len(sessions) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return {
        "sockets": len(sessions),
        "closes": [(r["code"], r["closed_by"]) for r in closes],
        # replay_finished messages per socket, in the order the sockets opened
        "replay_finished": [next((r.get("replay_finished", 0) for r in closes
                                  if r["session"] == s), None) for s in opened],
        "audio_samples_out": [next((r.get("audio_bytes_out", 0) // 2 for r in closes
                                    if r["session"] == s), None) for s in opened],
        "authorized": sum(1 for r in records if r.get("kind") == "authorize"
                          and r.get("conversation_id") == conversation_id
                          and r.get("status") == 200),
        "faults": [r["fault"] for r in records if r.get("kind") == "fault"
                   and r.get("session") in sessions],
    }


def evaluate(outcome: Outcome, server, features: Dict[str, bool],
             check_reason: bool = True) -> Outcome:
    """Fills outcome.problems (contract violations) and outcome.missing (features the
    library lacks that the expected outcome needs)."""
    row, obs, exp = outcome.row, outcome.obs, outcome.row.expect
    problems = outcome.problems
    outcome.missing = missing_features(row, features)
    if outcome.crash != "no":
        problems.append(f"client process: {outcome.crash}")
    if obs is None:
        problems.append("no result from the client process")
        return outcome
    if obs["unsupported_options"] and not outcome.missing:
        outcome.missing.append("options " + ", ".join(obs["unsupported_options"]))
    statuses = tuple(obs["statuses"])
    if statuses != exp.statuses:
        problems.append(f"statuses {' > '.join(statuses) or '-'} "
                        f"(want {' > '.join(exp.statuses)})")
    errors = tuple(e["code"] for e in obs["errors"])
    if errors != exp.errors and errors not in exp.alt_errors:
        problems.append(f"errors {list(errors)} (want {list(exp.errors)})")
    ends = [d["code"] for d in obs["disconnected"]]
    if exp.disconnected is None:
        if ends:
            problems.append(f"session ended ({ends[0]}); it should have stayed up")
    elif not ends:
        problems.append(f"session did not end (want disconnected {exp.disconnected})")
    elif ends[0] != exp.disconnected and not (
            exp.alt_errors and any(ends[0] == alt[0] for alt in exp.alt_errors)):
        problems.append(f"disconnected with {ends[0]} (want {exp.disconnected})")
    if len(ends) > 1:
        problems.append(f"{len(ends)} on_disconnected calls")
    if obs.get("teardown_errors"):
        problems.append(f"errors while disconnecting: {obs['teardown_errors']}")
    if obs.get("notes"):
        problems.extend(n for n in obs["notes"] if "did not end" in n)
    if len(obs["connected"]) != exp.connects:
        problems.append(f"{len(obs['connected'])} on_connected (want {exp.connects})")
    if len(set(obs["connected"])) > 1:
        problems.append(f"conversation changed: {obs['connected']}")
    if check_reason:
        if obs["failure_reason"] is None:
            if "failure_reason" not in outcome.missing:
                outcome.missing.append("failure_reason")
        elif tuple(obs["failure_reason"]) != tuple(exp.reason):
            problems.append(f"failure_reason {tuple(obs['failure_reason'])} "
                            f"(want {tuple(exp.reason)})")
    stats = obs.get("stats", {})
    if exp.reconnects is not None:
        got = stats.get("reconnects")
        if got is None:
            if "reconnect" not in outcome.missing:
                outcome.missing.append("stats.reconnects")
        elif got != exp.reconnects:
            problems.append(f"stats.reconnects {got} (want {exp.reconnects})")
    if exp.data is not None and exp.data not in obs["data"]:
        problems.append(f"data {exp.data} never arrived (got {obs['data'][:3]})")
    if exp.send_queue_drops:
        drops = (obs.get("stall") or {}).get("send_queue_dropped_frames", 0)
        if not drops:
            problems.append("send queue never dropped audio while the server stalled "
                            f"(stall: {obs.get('stall')})")
    conv = obs["connected"][0] if obs["connected"] else None
    if conv and server is not None:
        view = server_view(server, conv)
        obs["server"] = view
        if exp.client_close is not None:
            client_codes = [c for c, by in view["closes"] if by == "client"]
            if client_codes != [exp.client_close]:
                problems.append(f"server saw client close codes {client_codes} "
                                f"(want [{exp.client_close}])")
        if exp.connects > 1 and view["authorized"] < exp.connects:
            problems.append(f"only {view['authorized']} authorizes for the conversation")
        if row.checks_resumed_audio:
            resumed = obs.get("resumed_audio") or {}
            sent = (view["audio_samples_out"] or [0])[-1] or 0
            if resumed.get("samples", 0) < sent:
                problems.append(f"the resumed greeting did not play: "
                                f"{resumed.get('samples', 0)} agent samples after the "
                                f"reconnect, {sent} sent on the resumed socket")
            elif not resumed.get("drained"):
                problems.append("the resumed greeting never finished playing")
            if not (view["replay_finished"] or [0])[-1]:
                problems.append("no replay_finished on the resumed socket (server saw "
                                f"{view['replay_finished']} per socket)")
    return outcome


SHORT_STATUS = {"connecting": "conn", "connected": "up", "reconnecting": "reconn",
                "disconnected": "down", "error": "error"}


def describe(outcome: Outcome) -> Dict[str, str]:
    """One matrix row as text columns."""
    obs = outcome.obs or {}
    statuses = ">".join(SHORT_STATUS.get(s, s) for s in obs.get("statuses", [])) or "-"
    errors = ",".join(e["code"] for e in obs.get("errors", [])) or "-"
    reason = obs.get("failure_reason")
    reason_text = "n/a" if reason is None else (reason[0] + (f" {reason[1]}" if reason[1]
                                                             else ""))
    # Close codes the client sent, but not the teardown's own 1000.
    closes = [str(c) for c, by in (obs.get("server") or {}).get("closes", [])
              if by == "client" and c != 1000]
    recovered = "-"
    if "reconnecting" in obs.get("statuses", []):
        recovered = "yes" if obs.get("final_status") == "connected" and \
            len(obs.get("connected", [])) > 1 else "no"
    verdict = "PASS" if outcome.passed else "FAIL"
    return {"fault": outcome.row.name, "expected": outcome.row.expect.summary(),
            "statuses": statuses, "errors": errors, "client close": ",".join(closes) or "-",
            "reason": reason_text, "recovered": recovered, "verdict": verdict,
            "crash": outcome.crash}


def measured(outcome: Outcome) -> str:
    """Numbers worth printing: the stall's send queue, how long reconnecting took."""
    obs = outcome.obs or {}
    parts = []
    stall = obs.get("stall")
    if stall:
        parts.append(f"{stall['audio_seconds_written']} s of mic audio written during the "
                     f"{stall['seconds']:g} s stall, {stall['send_queue_dropped_frames']} "
                     f"frames dropped by the send queue, RSS +{stall['rss_growth_kb']} KiB")
    resumed = obs.get("resumed_audio")
    if resumed:
        parts.append(f"resumed greeting played {resumed['samples'] / 16000:.1f} s")
    timeline = obs.get("timeline", [])
    downs = [t for t, kind, value in timeline if kind == "status" and value == "reconnecting"]
    ups = [t for t, kind, value in timeline if kind == "status" and value == "connected"]
    gaps = [min(u for u in ups if u > d) - d for d in downs if any(u > d for u in ups)]
    if gaps:
        parts.append("reconnected in " + ", ".join(f"{g:.2f}" for g in gaps) + " s")
    return f"{outcome.row.name}: " + "; ".join(parts) if parts else ""


def why(outcome: Outcome) -> List[str]:
    out = list(outcome.problems)
    if outcome.missing:
        out.append("library lacks: " + ", ".join(outcome.missing))
    return out


# ---- devservers --------------------------------------------------------------------------

def start_servers(workdir: Path, names) -> Dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from devserver_process import DevServer
    servers = {}
    cert_dir = workdir / "certs"
    for name in names:
        if name == "plain":
            servers[name] = DevServer(workdir / name)
        else:
            profile = name.partition("-")[2]
            servers[name] = DevServer(workdir / name, "--tls", "--cert-dir", str(cert_dir),
                                      "--cert-profile", profile, "--host", "localhost")
    return servers


# ---- main --------------------------------------------------------------------------------

def print_matrix(outcomes: List[Outcome], verbose: bool, out=sys.stdout) -> None:
    rows = [describe(o) for o in outcomes]
    cols = ["fault", "expected", "statuses", "errors", "client close", "reason",
            "recovered", "verdict", "crash"]
    width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    print("  ".join(c.ljust(width[c]) for c in cols), file=out)
    print("  ".join("-" * width[c] for c in cols), file=out)
    for o, r in zip(outcomes, rows):
        print("  ".join(r[c].ljust(width[c]) for c in cols).rstrip(), file=out)
    failed = [o for o in outcomes if not o.passed]
    if failed:
        print(file=out)
        for o in failed:
            print(f"{o.row.name}: " + "; ".join(why(o)), file=out)
            if verbose and o.obs:
                for entry in o.obs.get("errors", []):
                    print(f"    error {entry['code']}: {entry['detail']}", file=out)
            if o.crash != "no" and o.stderr_tail:
                print("    " + o.stderr_tail.replace("\n", "\n    "), file=out)
    notes = [n for n in (measured(o) for o in outcomes) if n]
    if notes:
        print(file=out)
        for note in notes:
            print(note, file=out)
    print(file=out)
    print("statuses: conn=connecting up=connected reconn=reconnecting down=disconnected; "
          "client close: codes the devserver saw from the client (1006: no close frame)",
          file=out)
    print(f"{len(outcomes) - len(failed)}/{len(outcomes)} passed", file=out)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--only", action="append", default=[], metavar="FAULT",
                   help="run only this row (repeatable)")
    p.add_argument("--list", action="store_true", help="list the rows and exit")
    p.add_argument("--json", metavar="FILE", help="also write every observation as JSON")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print error details of failing rows")
    args = p.parse_args(argv)
    if args.child:
        return child_main(json.loads(args.child))
    if args.list:
        for row in ROWS:
            print(f"{row.name:32} {row.expect.summary()}")
        return 0
    unknown = [n for n in args.only if n not in ROWS_BY_NAME]
    if unknown:
        p.error(f"unknown rows: {', '.join(unknown)}")
    rows = [r for r in ROWS if not args.only or r.name in args.only]
    if not Path(os.environ.get("LAYERCODE_LIBRARY", LIBRARY)).exists():
        print(f"faults: no library at {LIBRARY}; run make first", file=sys.stderr)
        return 2
    features = library_features()
    print("library features: " + ", ".join(f"{k}={'yes' if v else 'no'}"
                                           for k, v in features.items()), flush=True)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="lc-faults-") as tmp:
        servers = start_servers(Path(tmp), sorted({r.server for r in rows}))
        try:
            for row in rows:
                print(f"... {row.name}", file=sys.stderr, flush=True)
                outcome = run_client(row, servers[row.server])
                evaluate(outcome, servers[row.server], features)
                outcomes.append(outcome)
        finally:
            for server in servers.values():
                server.stop()
    print()
    print_matrix(outcomes, args.verbose)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            [{"row": o.row.name, "fault": o.row.fault, "expected": o.row.expect.summary(),
              "verdict": "PASS" if o.passed else "FAIL", "crash": o.crash,
              "problems": o.problems, "missing": o.missing, "observed": o.obs}
             for o in outcomes], indent=1))
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
