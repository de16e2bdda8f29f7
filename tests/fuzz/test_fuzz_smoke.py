# SPDX-License-Identifier: Apache-2.0
"""Fuzz smoke: the libFuzzer targets (fuzz/, tools/fuzz.sh) build, and every committed seed
and regression input, plus a fixed-seed batch of mutations per target, passes the targets'
invariants. Deterministic: no open-ended fuzzing here (that is `make fuzz SECONDS=N`).

About 30 s from a clean build on an idle 2-core machine (49 s while other builds ran),
almost all of it compiling the four targets.
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = ("websocket", "http", "json", "authorize", "opus_header", "ogg")
MUTATIONS = 2000


def test_fuzz_targets_build_and_pass_seeds_and_regressions():
    env = dict(os.environ, FUZZ_JOBS="2", FUZZ_CHECK_RUNS=str(MUTATIONS))
    proc = subprocess.run(["tools/fuzz.sh", "check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    for target in TARGETS:
        m = re.search(rf"check {target}: (\d+) inputs ok, {MUTATIONS} seeded mutations ok", output)
        assert m, f"no passing check line for {target}:\n{output}"
        seeds = len(os.listdir(os.path.join(ROOT, "fuzz", "corpus", target)))
        regressions_dir = os.path.join(ROOT, "fuzz", "regressions", target)
        regressions = len(os.listdir(regressions_dir)) if os.path.isdir(regressions_dir) else 0
        assert int(m.group(1)) == seeds + regressions > 0, output
