# SPDX-License-Identifier: Apache-2.0
"""WebSocket conformance: our WebSocketClient (through tools/wsecho) against the Autobahn-style
case server in tools/wsconformance. The whole suite runs once (as `run.py`, in its own
process, so its modules never meet another suite's); the tests read its JSON report.

A second run points the same server at a deliberately naive Python client, to show the
verdicts do fail (and grade NON-STRICT) where they should."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "tools", "wsconformance", "run.py")
NAIVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "naive_echo_client.py")


def run_suite(tmp_path, name, *args, timeout=900):
    """Runs run.py and returns (exit status, report dict, printed output)."""
    report = tmp_path / f"{name}.json"
    proc = subprocess.run([sys.executable, RUN, "--json", str(report), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert report.exists(), output[-4000:]
    with open(report) as f:
        return proc.returncode, json.load(f), output


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    # Builds layercode-wsecho (debug) first. Two cases at a time: the machine may be busy.
    # The fail-fast hold is long: a correct client fails at once, a slow machine must not
    # turn that into NON-STRICT.
    status, report, output = run_suite(tmp_path_factory.mktemp("conformance"), "suite",
                                       "--swift", os.environ.get("SWIFT", "swift"),
                                       "--jobs", "2", "--hold", "30")
    print(report["summary"])
    return status, {r["case"]: r for r in report["results"]}, output


def test_no_case_fails(suite):
    status, results, output = suite
    failed = [f"{r['case']}: {r['detail']}" for r in results.values() if r["verdict"] == "FAILED"]
    assert not failed, "\n".join(failed)
    assert status == 0, output[-4000:]


def test_every_case_ran_and_exclusions_are_listed(suite):
    _, results, _ = suite
    ran = [r for r in results.values() if r["verdict"] != "UNIMPLEMENTED"]
    assert len(ran) > 250
    excluded = {r["case"] for r in results.values() if r["verdict"] == "UNIMPLEMENTED"}
    assert {"12.*", "13.*"} <= excluded
    # Every Autobahn group we claim to follow is there.
    groups = {r["case"].split(".")[0] for r in ran}
    assert {"1", "2", "3", "4", "5", "6", "7", "9"} <= groups


def test_invalid_utf8_in_fragmented_message_gets_1007_fail_fast(suite):
    _, results, _ = suite
    # 6.4.1/6.4.2: invalid in the 2nd of 3 fragments; 6.4.5/6.4.6: the invalid sequence is
    # split across fragments. The server holds the last fragment back: OK means the client
    # failed before it was sent.
    for case_id in ("6.4.1", "6.4.2", "6.4.3", "6.4.4", "6.4.5", "6.4.6"):
        r = results[case_id]
        assert r["verdict"] == "OK", (case_id, r["detail"])
        assert r["client_close"][0] == 1007, (case_id, r["client_close"])
        assert r["client"]["result"] == "failed" and "(1007)" in r["client"]["error"], r["client"]
    # A message that ends inside a sequence started in an earlier fragment.
    assert results["6.4.7"]["client_close"][0] == 1007


def test_close_codes(suite):
    _, results, _ = suite
    for r in results.values():
        if r["case"].startswith("7.9."):      # invalid codes: answered with 1002
            assert r["verdict"] == "OK" and r["client_close"][0] == 1002, r
        if r["case"].startswith("7.7."):      # valid codes: echoed
            code = int(r["description"].rsplit(" ", 1)[1])
            assert r["verdict"] == "OK" and r["client_close"][0] == code, r
    assert results["7.3.2"]["client_close"][0] == 1002    # 1-byte close payload
    assert results["7.5.1"]["client_close"][0] == 1007    # close reason not UTF-8


def test_sixteen_mib_messages_echo_and_one_byte_more_fails_with_1009(suite):
    _, results, _ = suite
    for case_id in ("9.1.6", "9.2.6"):
        assert results[case_id]["verdict"] == "OK", results[case_id]["detail"]
    for case_id in ("9.9.1", "9.9.2"):
        assert results[case_id]["verdict"] == "OK", results[case_id]["detail"]
        assert results[case_id]["client_close"][0] == 1009


def test_regression_unrequested_subprotocol_fails_the_connection(suite):
    # Bug: the client accepted a 101 response whose Sec-WebSocket-Protocol named a
    # subprotocol it never requested (RFC 6455 section 4.1 says fail the connection).
    _, results, _ = suite
    r = results["0.8"]
    assert r["verdict"] == "OK", r["detail"]
    assert "subprotocol" in r["client"]["error"]


def test_verdicts_fail_a_naive_client(tmp_path):
    common = ["--client", sys.executable, "--client-arg", NAIVE, "--jobs", "4",
              "--close-timeout", "3", "--echo-timeout", "10", "--hold", "1"]
    must_fail = ["0.8", "1.3.1", "2.5", "3.1", "4.1.1", "5.9", "6.3.1", "6.4.1", "7.3.2",
                 "7.9.1", "9.9.3"]
    must_pass = ["1.1.8", "2.10", "5.6", "7.1.1"]
    status, report, output = run_suite(tmp_path, "naive", *common, "--cases",
                                       *must_fail, *must_pass, timeout=300)
    verdicts = {r["case"]: r["verdict"] for r in report["results"]}
    assert status == 1, output[-4000:]
    assert {c: verdicts[c] for c in must_fail} == {c: "FAILED" for c in must_fail}
    assert {c: verdicts[c] for c in must_pass} == {c: "OK" for c in must_pass}

    # Failing invalid UTF-8 only at the end of the message, or by dropping TCP: NON-STRICT.
    for mode, expected in (("close", {"6.3.1": "OK", "6.4.1": "NON-STRICT"}),
                           ("drop", {"6.3.1": "NON-STRICT", "6.4.1": "NON-STRICT"})):
        _, report, output = run_suite(tmp_path, f"naive-{mode}", *common, "--client-arg=--utf8",
                                      f"--client-arg={mode}", "--cases", *expected, timeout=300)
        verdicts = {r["case"]: r["verdict"] for r in report["results"]}
        assert verdicts == expected, output[-4000:]
