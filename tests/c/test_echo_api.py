# SPDX-License-Identifier: Apache-2.0
"""The echo cancellation API from C (issue 13; doc/echo-cancellation.md): tests/c/echo_api.c
checks lc_options_init's echo defaults, lc_echo_engines_built(), lc_echo_engine_name(), the
echo options lc_client_new() refuses, lc_client_set_audio_delays()'s range and a fresh
client's echo statistics. Plain and under ASan + UBSan. The old-header application
(tests/c/abi/old_header.c, test_abi.py) covers lc_options and lc_stats grown by these fields.
"""
from __future__ import annotations

import pytest

from test_c_api import (ASAN_ENV, ASAN_FLAGS, TESTS, assert_checks_passed,  # noqa: F401
                        compile_c, library, run)


@pytest.mark.parametrize("build", ["plain", "asan"])
def test_echo_api(tmp_path, build):
    exe = compile_c(TESTS / "echo_api.c", tmp_path / "echo_api",
                    ASAN_FLAGS if build == "asan" else [])
    proc = run([exe], ASAN_ENV if build == "asan" else {}, timeout=120, cwd=tmp_path)
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.describe
    assert_checks_passed(proc)
