# SPDX-License-Identifier: Apache-2.0
"""The C side of liblayercode, from an application's point of view.

- tests/c/api_misuse.c: every misuse of the API gives its documented error, never a crash,
  a hang or a stray callback; built plain and with AddressSanitizer + UBSan.
- tests/c/no_callback_after_free.c: no callback after lc_client_free() returns, across 200
  clients freed at random points from application threads; built plain, with ASan and
  with ThreadSanitizer.
- examples/c/quickstart.c builds against an installed copy (`make install`, pkg-config)
  and talks to the devserver.
- doc/layercode-player.1 renders without a groff warning and covers every flag of
  `layercode-player --help`.
- `make docs`: Doxygen documents every public symbol of include/layercode.h.

The sanitizers instrument the test programs only: liblayercode (Swift, its runtime linked
in statically) is not instrumented. So ASan sees the library's heap through its malloc and
the libc calls it intercepts (memcpy, strlen, ...), not the library's own loads and stores;
TSan sees the library's pthread/semaphore/eventfd synchronisation but not its Swift
atomics and futex-based Mutex. What they check is the boundary: what the application
passes in, what it gets back, and when.

Only a missing build/lib/liblayercode.so skips (run `make`); anything else missing (cc,
groff, doxygen, pkg-config, the devserver's packages) is a failure.
"""
from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
LIB_DIR = BUILD / "lib"
LIB = LIB_DIR / "liblayercode.so"
PLAYER = BUILD / "bin" / "layercode-player"
HEADER = ROOT / "include" / "layercode.h"
TESTS = ROOT / "tests" / "c"
MAN_PAGE = ROOT / "doc" / "layercode-player.1"
QUICKSTART = ROOT / "examples" / "c" / "quickstart.c"
DEVSERVER = ROOT / "tools" / "devserver" / "devserver.py"
GREETING = "Hello! Say something and I will repeat it."  # the devserver's default

# Strict C99 and warning-free, which also checks that the header is.
CFLAGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O1", "-g"]
ASAN_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
              "-fno-omit-frame-pointer"]
TSAN_FLAGS = ["-fsanitize=thread"]

# LeakSanitizer stays on: the Swift runtime's one-time allocations (metadata caches, the
# event loop) stay reachable from globals, so LSan has nothing to say about them. The one
# exception is the Swift runtime's side table for a weak reference, which LSan cannot see
# through (tools/sanitizers/lsan-c.supp explains it): a client object that outlives
# lc_client_free by a moment at exit made its side table look leaked about one run in
# fifteen under load (test_api_misuse_under_asan_and_ubsan, "32 bytes ... formWeakReference
# ... LayercodeClient.init"). The same suppression as make sanitize's C programs; it goes
# when the Embedded Swift port removes `weak`.
LSAN_SUPPRESSIONS = ROOT / "tools" / "sanitizers" / "lsan-c.supp"
ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0",
            "LSAN_OPTIONS": f"suppressions={LSAN_SUPPRESSIONS}",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
# ignore_noninstrumented_modules=1: ignore the memory accesses made by intercepted libc
# calls (memcpy, memmove, bcmp, free, write) on behalf of the uninstrumented library. Without
# it TSan reports races inside liblayercode on the library's own memory (its SPSC rings,
# its command queue, Swift refcounts and metadata caches), because the atomics and the
# futex-based Mutex that order those accesses are invisible to it. The synchronisation the
# library does through intercepted calls (sem_post/sem_wait in lc_client_free, the eventfd)
# still counts, and every access of the test program is still checked; no suppression file.
TSAN_ENV = {"TSAN_OPTIONS": "ignore_noninstrumented_modules=1:halt_on_error=0:exitcode=66"}


@pytest.fixture(scope="module", autouse=True)
def library():
    if not LIB.exists():
        pytest.skip(f"{LIB.relative_to(ROOT)} missing: run make")


def compile_c(source: Path, out: Path, extra: list[str] = (), cc: str = "cc",
              lib_dir: Path = LIB_DIR) -> Path:
    """source against lib_dir's liblayercode; cc and lib_dir: tests/cross's cross builds."""
    argv = [cc, *CFLAGS, *extra, "-I", str(ROOT / "include"), str(source),
            "-L", str(lib_dir), "-llayercode", "-lpthread", f"-Wl,-rpath,{lib_dir}",
            "-o", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}"
    return out


@pytest.fixture(scope="module")
def devserver(tmp_path_factory):
    """One devserver for the module: {"authorize_url", "ws", ...} from its ready line."""
    log_dir = tmp_path_factory.mktemp("devserver")
    stderr = open(log_dir / "stderr", "wb")
    proc = subprocess.Popen([sys.executable, str(DEVSERVER), "--port", "0",
                             "--log", str(log_dir / "events.jsonl")],
                            stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else b""
        info = json.loads(line) if line else {}
        assert info.get("event") == "ready", \
            f"devserver did not start: {line!r}\n{(log_dir / 'stderr').read_text()}"
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr.close()


def run(argv: list[str], env: dict | None = None, timeout: float = 300, **kw):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kw)
    proc.describe = (f"$ {' '.join(map(str, argv))}\nexit {proc.returncode}\n"
                     f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}")
    return proc


def failures(stdout: str) -> str:
    return "\n".join(line for line in stdout.splitlines()
                     if line.startswith(("FAIL", "SUMMARY")))


def assert_checks_passed(proc):
    assert proc.returncode == 0, f"{failures(proc.stdout)}\n\n{proc.describe}"
    assert re.search(r"^SUMMARY .* 0 failed", proc.stdout, re.M), proc.describe


# ---- API misuse ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api_misuse(tmp_path_factory):
    d = tmp_path_factory.mktemp("api_misuse")
    return {"plain": compile_c(TESTS / "api_misuse.c", d / "api_misuse"),
            "asan": compile_c(TESTS / "api_misuse.c", d / "api_misuse_asan", ASAN_FLAGS)}


def test_api_misuse(api_misuse, devserver):
    proc = run([api_misuse["plain"], devserver["authorize_url"], devserver["ws"]])
    assert_api_misuse_passed(proc)


def assert_api_misuse_passed(proc):
    """api_misuse.c's checks passed and only the program wrote (tests/cross reuses it)."""
    assert_checks_passed(proc)
    # "The library never prints to stdout or stderr": every line is the program's own.
    stray = [line for line in proc.stdout.splitlines()
             if not line.startswith(("PASS ", "FAIL ", "# ", "SUMMARY "))]
    assert not stray, f"lines the test did not print: {stray}"
    assert proc.stderr == "", f"something wrote to stderr:\n{proc.stderr}"


def test_api_misuse_under_asan_and_ubsan(api_misuse, devserver):
    proc = run([api_misuse["asan"], devserver["authorize_url"], devserver["ws"]], ASAN_ENV)
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.describe
    assert_checks_passed(proc)


# ---- no callback after lc_client_free ------------------------------------------------------

@pytest.fixture(scope="module")
def no_callback_after_free(tmp_path_factory):
    d = tmp_path_factory.mktemp("no_callback_after_free")
    src = TESTS / "no_callback_after_free.c"
    return {"plain": compile_c(src, d / "plain"),
            "asan": compile_c(src, d / "asan", ASAN_FLAGS),
            "tsan": compile_c(src, d / "tsan", TSAN_FLAGS)}


@pytest.mark.parametrize("build,env", [("plain", {}), ("asan", ASAN_ENV), ("tsan", TSAN_ENV)])
def test_no_callback_after_free(no_callback_after_free, devserver, build, env):
    proc = run([no_callback_after_free[build], devserver["authorize_url"], devserver["ws"],
                "200", "4"], env)
    assert "WARNING: ThreadSanitizer" not in proc.stderr, proc.describe
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.describe
    assert proc.returncode == 0, f"{failures(proc.stdout)}\n\n{proc.describe}"
    assert re.search(r"^SUMMARY 200 iterations, 0 failed, 0 late callbacks", proc.stdout,
                     re.M), proc.describe


# ---- the quickstart, against an installed library ----------------------------------------

def test_quickstart_builds_with_pkg_config_and_talks(devserver, tmp_path):
    lines = [line for line in QUICKSTART.read_text().splitlines()
             if "SPDX-License-Identifier" not in line]
    assert len(lines) < 40, f"the quickstart has grown to {len(lines)} lines"
    prefix = tmp_path / "prefix"
    # The library is `make`'s (test-python depends on it); -o keeps `install` from
    # rebuilding it here should a Swift source be newer.
    lib_target = os.path.relpath(LIB.resolve(), ROOT)  # build/lib/liblayercode.so.<version>
    proc = run(["make", "-o", lib_target, "install", f"PREFIX={prefix}"], cwd=ROOT)
    assert proc.returncode == 0, proc.describe
    for installed in ["lib/liblayercode.so", "lib/liblayercode.so.0", "include/layercode.h",
                      "lib/pkgconfig/layercode.pc", "bin/layercode-player",
                      "share/man/man1/layercode-player.1"]:
        assert (prefix / installed).exists(), f"make install did not install {installed}"

    pc = run(["pkg-config", "--cflags", "--libs", "layercode"],
             {"PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig")})
    assert pc.returncode == 0, pc.describe
    flags = pc.stdout.split()
    assert f"-I{prefix}/include" in flags and f"-L{prefix}/lib" in flags, pc.stdout

    exe = tmp_path / "quickstart"
    build = run(["cc", str(QUICKSTART), *flags, f"-Wl,-rpath,{prefix}/lib", "-o", str(exe)])
    assert build.returncode == 0, build.describe
    ldd = run(["ldd", exe])
    assert f"{prefix}/lib/liblayercode.so.0" in ldd.stdout, ldd.describe

    proc = run([exe, "echo", devserver["authorize_url"], devserver["ws"]], timeout=60)
    assert proc.returncode == 0, proc.describe
    assert GREETING in proc.stdout, proc.describe
    assert proc.stderr == "", proc.describe


# ---- the man page -------------------------------------------------------------------------

def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: apt-get install -y {package}"
    return path


def render_man(*options: str) -> subprocess.CompletedProcess:
    groff = require_tool("groff", "groff")
    return run([groff, "-man", "-Tutf8", "-ww", "-P-cbou", *options, MAN_PAGE])


def test_man_page_renders_without_warnings():
    proc = render_man()
    assert proc.returncode == 0 and proc.stderr == "", proc.describe
    assert "EXIT STATUS" in proc.stdout and "EXAMPLES" in proc.stdout
    make = run(["make", "man"], cwd=ROOT)
    assert make.returncode == 0, make.describe
    if shutil.which("man"):
        viewer = run(["man", "--warnings=all", "-l", MAN_PAGE],
                     {"MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"})
        assert viewer.returncode == 0 and viewer.stderr == "", viewer.describe


def test_man_page_covers_every_flag_of_help():
    assert PLAYER.exists(), f"{PLAYER} missing: run make"
    help_text = run([PLAYER, "--help"]).stdout
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", help_text))
    assert len(flags) > 25, help_text
    # Wide and unhyphenated, so no flag is split across lines; Unicode dashes back to '-'.
    text = render_man("-rHY=0", "-rLL=300n").stdout
    text = text.replace("\u2212", "-").replace("\u2010", "-")
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    assert not flags - documented, f"flags of --help missing from the man page: " \
                                   f"{sorted(flags - documented)}"
    assert not documented - flags, f"flags in the man page that --help does not know: " \
                                   f"{sorted(documented - flags)}"
    exit_status = text.split("EXIT STATUS", 1)[1].split("EXAMPLES", 1)[0]
    for code in ("0", "1", "2"):
        assert re.search(rf"^\s+{code}\s", exit_status, re.M), f"exit status {code} undocumented"


# ---- the API reference ------------------------------------------------------------------------

def public_symbols() -> set[str]:
    """Functions, function-like and plain macros, and typedefs of the header."""
    text = HEADER.read_text()
    functions = set(re.findall(r"^[a-z][\w\s\*]*?\b(lc_\w+)\(", text, re.M))
    macros = set(re.findall(r"^#define\s+((?:LC|lc)_\w+)", text, re.M))
    typedefs = set(re.findall(r"typedef\s.*?\b(lc_\w+)\s*[;)]", text)) | \
        set(re.findall(r"^}\s*(lc_\w+);", text, re.M))
    return functions | macros | typedefs


def test_make_docs_documents_every_public_symbol():
    require_tool("doxygen", "doxygen")
    proc = run(["make", "docs"], cwd=ROOT)
    assert proc.returncode == 0, \
        "Doxygen found undocumented or badly documented symbols in include/layercode.h:\n" \
        + proc.stderr + proc.stdout
    html = BUILD / "docs" / "html"
    assert (html / "index.html").exists()
    # Doxygen skips (without a warning) the functions, macros and typedefs of a header that
    # has no /** @file */ comment: check that the file page exists and names all of them.
    file_page = html / "layercode_8h.html"
    assert file_page.exists(), "no page for layercode.h: the header needs a /** @file */ comment"
    page = file_page.read_text(errors="replace")
    missing = sorted(s for s in public_symbols() if s not in page)
    assert not missing, f"not in the generated reference: {missing}"
