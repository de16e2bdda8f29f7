# SPDX-License-Identifier: Apache-2.0
"""tools/check-abi.sh (make test-abi) against small libraries built here with the project's
version script and soname: what it must refuse (a library needed beyond libc, libm, ALSA,
Opus, speexdsp, OpenSSL, WebRTC's audio processing and libstdc++, named; an export outside lc_*; Embedded Swift's placeholder for
an interpolated value it cannot print) and that it reads a cross-built aarch64 library with
that architecture's binutils."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "check-abi.sh"
EXPORTS = ROOT / "Sources" / "Layercode" / "exports.map"


def shared_library(tmp_path: Path, source: str, *libs: str, cc: str = "cc") -> Path:
    """A liblayercode look-alike: source compiled with the exports map and the soname,
    linking libs even if unused (so they show up as NEEDED)."""
    c = tmp_path / "lib.c"
    c.write_text(source)
    lib = tmp_path / "liblayercode.so.0.1.0"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(c),
                    f"-Wl,--version-script={EXPORTS}", "-Wl,-soname,liblayercode.so.0",
                    "-Wl,--no-as-needed", *libs], check=True)
    return lib


def check(lib: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHECK), str(lib)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


LC_ONLY = "int lc_answer(void) { return 42; }\n"


def test_check_abi_accepts_lc_exports_and_the_allowed_libraries(tmp_path):
    run = check(shared_library(tmp_path, LC_ONLY, "-lssl", "-lcrypto", "-lm"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "NEEDED: libssl.so.3 libcrypto.so.3 libm.so.6 libc.so.6" in run.stdout, run.stdout
    assert "stripped size" in run.stdout, run.stdout


def test_check_abi_fails_on_a_library_outside_the_list_and_names_it(tmp_path):
    # libgcc_s: what a C++ library pulls in when libgcc is not linked statically (libstdc++
    # is allowed since the echo canceller, which this test refused before).
    run = check(shared_library(tmp_path, LC_ONLY, "-lgcc_s"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "needs libraries outside" in run.stderr and "libgcc_s.so.1" in run.stderr, run.stderr


def test_check_abi_accepts_the_echo_cancellers_webrtc_apm_and_libstdcxx(tmp_path):
    if subprocess.run(["pkg-config", "--exists", "webrtc-audio-processing"]).returncode != 0:
        pytest.skip("libwebrtc-audio-processing-dev missing: tools/ensure-deps.sh installs it")
    run = check(shared_library(tmp_path, LC_ONLY, "-lwebrtc_audio_processing", "-lstdc++"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "libwebrtc_audio_processing.so.1 libstdc++.so.6" in run.stdout, run.stdout


def test_check_abi_fails_on_an_exported_lcecho_symbol(tmp_path):
    """The echo canceller's C interface (lcecho_*) stays inside the library."""
    lib = shared_library(tmp_path, LC_ONLY + "int lcecho_default_engine(void) { return 3; }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "lib.c"),
                    "-Wl,-soname,liblayercode.so.0"], check=True)
    run = check(lib)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "lcecho_* symbols are exported" in run.stderr, run.stderr


def test_check_abi_fails_on_an_export_outside_lc(tmp_path):
    lib = shared_library(tmp_path, LC_ONLY + "int helper(void) { return 1; }\n")
    # The version script hides helper; export it the way a missing script would.
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "lib.c"),
                    "-Wl,-soname,liblayercode.so.0"], check=True)
    run = check(lib)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "exported symbols outside lc_*" in run.stderr and "helper" in run.stderr, run.stderr


def test_check_abi_fails_on_embedded_swifts_cannot_print_placeholder(tmp_path):
    """What `"\\(value)"` of a value with no textual form compiles to in Embedded Swift."""
    run = check(shared_library(tmp_path, 'const char *lc_text(void) '
                               '{ return "(cannot print value in embedded Swift)"; }\n'))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "interpolates a value Embedded Swift cannot print" in run.stderr, run.stderr


def test_check_abi_reads_an_aarch64_library_with_its_binutils(tmp_path):
    if not shutil.which("aarch64-linux-gnu-gcc"):
        pytest.skip("aarch64-linux-gnu-gcc missing: tools/ensure-deps.sh installs it")
    run = check(shared_library(tmp_path, LC_ONLY, "-lm", cc="aarch64-linux-gnu-gcc"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "check-abi: AArch64" in run.stdout and "1 lc_ symbols" in run.stdout, run.stdout
