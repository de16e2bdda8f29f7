# SPDX-License-Identifier: Apache-2.0
"""The library against every injected devserver fault (the rows of tools/faults.py): each
client runs in its own process, so a crash fails its row instead of killing pytest. Each
row asserts the reconnect contract's outcome: no crash, the status sequence, the errors,
how the session ended, recovery where there is one, the close code the client sent; the
failure reason (client.failure_reason()) is checked by a second test per row.

Rows whose outcome is the reconnect contract's (reconnecting, keepalive, the bounded send
queue) are skipped, with the missing feature named, on bindings that lack it."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Dict

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("lc_fault_matrix", ROOT / "tools" / "faults.py")
fm = importlib.util.module_from_spec(_spec)
sys.modules["lc_fault_matrix"] = fm
_spec.loader.exec_module(fm)

if not Path(os.environ.get("LAYERCODE_LIBRARY", fm.LIBRARY)).exists():
    pytest.skip(f"no library at {fm.LIBRARY} (run make)", allow_module_level=True)

ROW_IDS = [row.name for row in fm.ROWS]


@pytest.fixture(scope="module")
def features() -> Dict[str, bool]:
    return fm.library_features()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Devservers by name ("plain", "tls-<profile>"), started on first use."""
    started: Dict[str, object] = {}
    workdir = tmp_path_factory.mktemp("fault-servers")

    def get(name: str):
        if name not in started:
            started.update(fm.start_servers(workdir, [name]))
        return started[name]

    yield get
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module")
def outcomes(servers):
    """Each row's client run once, shared by the tests of that row."""
    cache: Dict[str, object] = {}

    def get(row):
        if row.name not in cache:
            cache[row.name] = fm.run_client(row, servers(row.server))
        return cache[row.name]

    return get


def _skip_if_missing(row, features) -> None:
    missing = fm.missing_features(row, features)
    if missing:
        pytest.skip(f"needs {', '.join(missing)} from the reconnect contract, which these "
                    "bindings lack (no reconnect_*/keepalive_* options on layercode.Client "
                    "or no send_queue_dropped_frames in layercode.Stats)")


@pytest.mark.parametrize("row", fm.ROWS, ids=ROW_IDS)
def test_fault_outcome(row, features, servers, outcomes):
    _skip_if_missing(row, features)
    outcome = fm.evaluate(outcomes(row), servers(row.server), features, check_reason=False)
    detail = "\n".join(fm.why(outcome) + [f"stderr: {outcome.stderr_tail}"])
    assert outcome.crash == "no", detail
    assert outcome.obs is not None, detail
    assert not outcome.problems, detail
    assert not outcome.missing, detail


@pytest.mark.parametrize("row", fm.ROWS, ids=ROW_IDS)
def test_fault_failure_reason(row, features, outcomes):
    if not features["failure_reason"]:
        pytest.skip("layercode.Client has no failure_reason() (the reconnect contract's "
                    "getter)")
    _skip_if_missing(row, features)
    outcome = outcomes(row)
    assert outcome.crash == "no", outcome.stderr_tail
    assert outcome.obs is not None, outcome.stderr_tail
    assert tuple(outcome.obs["failure_reason"]) == tuple(row.expect.reason), outcome.obs
