# SPDX-License-Identifier: Apache-2.0
"""Regression: with the suites run together, pytest once took tests/devserver (its own
pytest.ini) as the rootdir; the conftest.py files of tests/integration and tests/python then
lay outside it, became global, and their same-named `devserver` fixtures overrode each
other. The repository's pytest.ini pins the rootdir: every node id starts at the top."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITES = ["tests/devserver", "tests/integration", "tests/audio", "tests/c", "tests/python",
          "tests/conformance", "tests/faults", "tests/tls"]


def test_conftests_stay_local_when_all_suites_run_together():
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *SUITES],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    assert ids, out.stdout + out.stderr
    assert all(i.startswith("tests/") for i in ids), [i for i in ids if not i.startswith("tests/")][:5]
    assert any(i.startswith("tests/integration/") for i in ids)
    assert any(i.startswith("tests/python/") for i in ids)
