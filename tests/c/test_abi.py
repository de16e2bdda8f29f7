# SPDX-License-Identifier: Apache-2.0
"""The ABI can grow, and errors say whose they are (issue 10, items 6 to 8; doc/abi.md):

- tests/c/abi/old_header.c, compiled against the first published header
  (tests/c/abi/layercode_v0_1.h, liblayercode 0.1.0) and run against this library: the old
  struct sizes work and nothing is written past them; a newer (larger) lc_options is refused
  with the reason. Plain and under ASan + UBSan (which also sees an out-of-bounds read of the
  old structs: they sit on the program's stack).
- tests/c/call_errors.c: lc_client_last_error is the calling thread's "why did my call fail",
  lc_client_failure_message the client's "why did the session fail".
- The header's documented defaults are what lc_options_init gives.
- No struct ends in tail padding a later field could fill without changing sizeof
  (doc/abi.md, "Adding a field").
"""
from __future__ import annotations

import re
import socket

import pytest

from test_c_api import (ASAN_ENV, ASAN_FLAGS, HEADER, ROOT, TESTS,  # noqa: F401
                        assert_checks_passed, compile_c, library, run)

ABI = TESTS / "abi"


@pytest.mark.parametrize("build", ["plain", "asan"])
def test_old_header_application_runs_against_this_library(tmp_path, build):
    exe = compile_c(ABI / "old_header.c", tmp_path / "old_header",
                    ASAN_FLAGS if build == "asan" else [])
    proc = run([exe], ASAN_ENV if build == "asan" else {}, timeout=120)
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.describe
    assert_checks_passed(proc)


def test_old_header_is_the_first_published_one():
    """The frozen copy is 0.1.0's and is what old_header.c includes, not include/'s."""
    old = (ABI / "layercode_v0_1.h").read_text()
    assert '#define LC_VERSION_STRING "0.1.0"' in old
    assert "device_delay_ms" not in old and "lc_client_failure_message" not in old
    assert "device_delay_ms" in HEADER.read_text()


@pytest.mark.parametrize("build", ["plain", "asan"])
def test_call_errors_are_per_thread_and_session_errors_per_client(tmp_path, build, closed_port):
    exe = compile_c(TESTS / "call_errors.c", tmp_path / "call_errors",
                    ASAN_FLAGS if build == "asan" else [])
    proc = run([exe, "2000", f"http://127.0.0.1:{closed_port}/authorize"],
               ASAN_ENV if build == "asan" else {}, timeout=120)
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.describe
    assert_checks_passed(proc)


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _header_defaults() -> dict:
    """{field: value} from the header's "Default N" and "Defaults A and B" comments of
    lc_options (B belongs to the next field, the one whose comment says "See ...")."""
    text = HEADER.read_text()
    body = re.search(r"typedef struct lc_options \{(.*?)\} lc_options;", text, re.S).group(1)
    out, pending, comment = {}, None, ""
    for token in re.finditer(r"/\*\*<(.*?)\*/|/\*\*(.*?)\*/|/\*.*?\*/|([^;/]+);", body, re.S):
        trailing, leading, decl = token.group(1), token.group(2), token.group(3)
        if leading is not None:
            comment = leading
        elif trailing is not None:
            comment += trailing  # about the field just declared: handled below
            _note(out, last, comment)
            comment = ""
        elif decl is not None:
            last = re.search(r"(\w+)\s*$", decl).group(1)
            if pending is not None:
                out[last], pending = pending, None
            pending = _note(out, last, comment)
            comment = ""
    return out


def _note(out: dict, field: str, comment: str):
    """Records the default a comment gives field; returns the second of "Defaults A and B"."""
    two = re.search(r"Defaults (\d+) and (\d+)", comment)
    one = re.search(r"Default (\d+)( MiB|)", comment)
    if two:
        out[field] = int(two.group(1))
        return int(two.group(2))
    if one:
        out[field] = int(one.group(1)) << (20 if one.group(2) else 0)
    return None


def test_header_defaults_are_lc_options_init(tmp_path):
    documented = _header_defaults()
    assert {"connect_timeout_ms", "input_sample_rate", "output_sample_rate", "period_ms",
            "jitter_min_ms", "jitter_max_ms", "reconnect_max_attempts", "reconnect_base_ms",
            "reconnect_max_delay_ms", "keepalive_interval_ms", "keepalive_timeout_ms",
            "send_queue_max_bytes", "outage_buffer_ms", "max_message_bytes",
            "max_http_response_bytes", "device_watch_ms", "amplitude_rate_hz",
            "start_muted"} <= set(documented), documented
    names = sorted(documented)
    src = tmp_path / "defaults.c"
    src.write_text('#include <stdio.h>\n#include "layercode.h"\nint main(void){lc_options o;'
                   'lc_options_init(&o);\n'
                   + "".join(f'printf("{n} %lld\\n", (long long)o.{n});\n' for n in names)
                   + "return 0;}\n")
    exe = compile_c(src, tmp_path / "defaults")
    got = {name: int(value) for name, value in
           (line.split() for line in run([exe]).stdout.splitlines())}
    assert got == documented


def _last_field(struct: str) -> str:
    """The name of the last field of `typedef struct NAME { ... } NAME;` in the header."""
    text = HEADER.read_text()
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (struct, struct), text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return re.findall(r"(\w+)\s*;", body)[-1]


@pytest.mark.parametrize("struct", [
    "lc_options", "lc_stats", "lc_event"])
def test_struct_has_no_tail_padding(tmp_path, struct):
    """Two headers whose structs have one sizeof could not be told apart by struct_size."""
    last = _last_field(struct)
    src = tmp_path / "tail.c"
    src.write_text('#include <stddef.h>\n#include <stdio.h>\n#include "layercode.h"\n'
                   f"int main(void){{{struct} s; printf(\"%zu %zu\\n\", "
                   f"offsetof({struct}, {last}) + sizeof s.{last}, sizeof s); return 0;}}\n")
    exe = compile_c(src, tmp_path / "tail")
    end, size = map(int, run([exe]).stdout.split())
    assert end == size, f"{struct}: its last field {last} ends at {end}, sizeof is {size}"
