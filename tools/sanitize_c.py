#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The C programs of tests/c and examples/c/quickstart.c under a sanitizer, linked against a
liblayercode built with the same sanitizer: part of `make sanitize` (tools/sanitize.sh).

usage: sanitize_c.py address|thread LIBDIR OUTDIR
  LIBDIR  holds liblayercode.so built with `swift build -Xswiftc -sanitize=...`
  OUTDIR  gets the binaries and one .stdout/.stderr pair per run

Both the programs and the library are instrumented (the library's Swift code, not the Swift
runtime it loads), so ASan checks the library's own loads and stores and TSan sees its atomics
and locks. The programs are compiled with the Swift toolchain's clang (CLANG, default: the
clang beside `swift`), so they carry the same compiler-rt sanitizer runtime the library was
built for. address also enables UBSan (the program) and LeakSanitizer (the whole process).

Each program must exit 0, print its own success line, and leave no sanitizer report on
stderr. tests/c/rt_malloc_count.c is left out: it defines malloc itself (to count allocations
on audio threads), and a sanitizer must own malloc.

Prints one line per program and a closing line "N passed, N failed"; exits 1 if any failed.
"""
from __future__ import annotations

import array
import math
import os
import re
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from devserver_process import DevServer  # noqa: E402

TESTS = ROOT / "tests" / "c"
GREETING = "Hello! Say something and I will repeat it."  # the devserver's default
REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|"
                    r"runtime error:|SUMMARY: \w+Sanitizer")

FLAGS = {
    "address": ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                "-fno-omit-frame-pointer"],
    "thread": ["-fsanitize=thread"],
}


def environment(sanitizer: str) -> dict:
    env = dict(os.environ)
    if sanitizer == "address":
        env["ASAN_OPTIONS"] = "detect_leaks=1:halt_on_error=1:abort_on_error=0"
        env["LSAN_OPTIONS"] = f"suppressions={ROOT / 'tools' / 'sanitizers' / 'lsan-c.supp'}"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    else:
        # Keep going after a report so one run shows them all; any report fails the run.
        env["TSAN_OPTIONS"] = "halt_on_error=0:exitcode=66"
    return env


def clang() -> str:
    if os.environ.get("CLANG"):
        return os.environ["CLANG"]
    swift = shutil.which("swift")
    candidate = Path(swift).resolve().parent / "clang" if swift else None
    if candidate and candidate.exists():
        return str(candidate)
    sys.exit("sanitize_c: no clang beside swift; set CLANG")


def compile_program(source: Path, out: Path, sanitizer: str, libdir: Path) -> None:
    cc = clang()
    extra = []
    if sanitizer == "thread":
        # The toolchain's TSan runtime intercepts libdispatch, so it links against it.
        runtime = Path(cc).resolve().parent.parent / "lib" / "swift" / "linux"
        extra = [f"-L{runtime}", "-ldispatch", "-lBlocksRuntime", f"-Wl,-rpath,{runtime}"]
    argv = [cc, "-fuse-ld=lld", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
            *FLAGS[sanitizer], "-I", str(ROOT / "include"), str(source),
            str(libdir / "liblayercode.so"), "-lpthread", "-lm", *extra,
            f"-Wl,-rpath,{libdir}", "-o", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}")


def write_tone(path: Path, amplitude: int, seconds: int = 30) -> None:
    samples = array.array("h", (int(amplitude * math.sin(2 * math.pi * 220 * i / 16000))
                                for i in range(16000 * seconds)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(samples.tobytes())


def closed_authorize_url() -> str:
    """An authorize URL on a loopback port nothing listens on (connect is refused)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/authorize"


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in FLAGS:
        print(__doc__, file=sys.stderr)
        return 2
    sanitizer, libdir, out = sys.argv[1], Path(sys.argv[2]).resolve(), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    if not (libdir / "liblayercode.so").exists():
        sys.exit(f"sanitize_c: {libdir}/liblayercode.so missing")
    env = environment(sanitizer)

    greeting_server = DevServer(out / "devserver")
    quiet_server = DevServer(out / "devserver-quiet", "--no-greeting")
    tls_server = DevServer(out / "devserver-tls", "--tls", "--host", "localhost",
                           "--cert-dir", out / "certs")
    mic_a, mic_b = out / "mic_a.wav", out / "mic_b.wav"
    write_tone(mic_a, 0)
    write_tone(mic_b, 8000)
    alsa_conf = out / "asound.conf"
    alsa_conf.write_text('pcm.builtin { type null hint { show on description "Built in" } }\n')

    g, q, t = greeting_server, quiet_server, tls_server
    # name, source, argv, extra env, success check on stdout
    programs = [
        ("api_misuse", TESTS / "api_misuse.c", [g.authorize_url, g.ws_url], {},
         lambda s: re.search(r"^SUMMARY .* 0 failed", s, re.M)),
        ("no_callback_after_free", TESTS / "no_callback_after_free.c",
         [g.authorize_url, g.ws_url, "200", "4"], {},
         lambda s: re.search(r"^SUMMARY 200 iterations, 0 failed, 0 late callbacks", s, re.M)),
        ("poll_events", TESTS / "poll_events.c", [g.authorize_url, g.ws_url], {},
         lambda s: s.strip() and "said=1" in s.splitlines()[-1]
         and "dropped=0" in s.splitlines()[-1]),
        ("switching", TESTS / "switching.c",
         [q.authorize_url, q.ws_url, mic_a, mic_b, out / "out_a.wav", out / "out_b.wav", alsa_conf],
         {"ALSA_CONFIG_PATH": str(alsa_conf)}, lambda s: "result failures=0" in s),
        ("last_error_threads", TESTS / "last_error_threads.c", ["20000"], {},
         lambda s: "SUMMARY 160000 reads, 0 bad" in s),
        # Per-thread call errors and the per-client session error, from 4 threads.
        ("call_errors", TESTS / "call_errors.c", ["500", closed_authorize_url()], {},
         lambda s: re.search(r"^SUMMARY .* 0 failed", s, re.M)),
        # The echo API: options, engine names, audio delays, a fresh client's stats.
        ("echo_api", TESTS / "echo_api.c", [], {},
         lambda s: re.search(r"^SUMMARY .* 0 failed", s, re.M)),
        ("event_queue_callbacks", TESTS / "event_queue.c", [q.authorize_url, q.ws_url, "callbacks"],
         {}, lambda s: re.search(r"^SUMMARY .* 0 failed", s, re.M)),
        ("event_queue_polling", TESTS / "event_queue.c", [q.authorize_url, q.ws_url, "polling"],
         {}, lambda s: re.search(r"^SUMMARY .* 0 failed", s, re.M)),
        ("quickstart", ROOT / "examples" / "c" / "quickstart.c",
         ["echo", g.authorize_url, g.ws_url], {}, lambda s: GREETING in s),
        # Servers that reset TLS connections and flood the socket (the same binary thrice).
        ("hostile_network_reset", TESTS / "hostile_network.c",
         ["reset", t.authorize_url, t.ws_url, t.ca_file], {}, lambda s: "session_ok=1" in s),
        ("hostile_network_authorize_reset", TESTS / "hostile_network.c",
         ["authorize-reset", t.authorize_url, t.ws_url, t.ca_file], {},
         lambda s: "authorize_ok=1" in s),
        ("hostile_network_flood_tls", TESTS / "hostile_network.c",
         ["flood", t.authorize_url, t.ws_url, t.ca_file], {}, lambda s: "ended=1" in s),
    ]
    passed = failed = reports = 0
    try:
        for name, source, args, extra_env, ok in programs:
            binary = out / name
            started = time.monotonic()
            try:
                compile_program(source, binary, sanitizer, libdir)
                proc = subprocess.run([str(binary), *map(str, args)], capture_output=True,
                                      text=True, timeout=900, env={**env, **extra_env})
                stdout, stderr, rc = proc.stdout, proc.stderr, proc.returncode
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                stdout, stderr, rc = "", str(e), -1
            (out / f"{name}.stdout").write_text(stdout)
            (out / f"{name}.stderr").write_text(stderr)
            found = len(REPORT.findall(stderr))
            reports += found
            good = rc == 0 and found == 0 and bool(ok(stdout))
            verdict = "PASS" if good else "FAIL"
            print(f"{verdict} {name} [{sanitizer}]: exit {rc}, {found} sanitizer report(s), "
                  f"{time.monotonic() - started:.0f} s  ({out / name}.stdout/.stderr)",
                  flush=True)
            if not good:
                failed += 1
                for line in [l for l in stdout.splitlines() if l.startswith("FAIL")][:10]:
                    print(f"    {line}")
                for line in stderr.splitlines()[:40]:
                    print(f"    {line}")
            else:
                passed += 1
    finally:
        greeting_server.stop()
        quiet_server.stop()
        tls_server.stop()
    print(f"sanitize-c {sanitizer}: {reports} sanitizer report(s)")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
