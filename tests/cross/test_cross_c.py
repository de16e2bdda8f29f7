# SPDX-License-Identifier: Apache-2.0
"""The C side on the target's instruction set: tests/c's API misuse and poll-events
programs cross-compiled with Debian's cross gcc, linked against build/<arch>/lib, run under
qemu against the native devserver, and checked by tests/c's own assertions."""

from __future__ import annotations

import os
import re

from .cross_support import QEMU_TIMEOUT
from test_c_api import TESTS, assert_api_misuse_passed, compile_c, run
from test_poll_events import assert_polled_session, build, run_against_devserver

WHERE = r"""
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <gnu/libc-version.h>
int main(void) {
    struct utsname u;
    char line[1024];
    FILE *maps = fopen("/proc/self/maps", "r");
    if (uname(&u) != 0 || !maps) return 1;
    printf("machine %s\nglibc %s\n", u.machine, gnu_get_libc_version());
    while (fgets(line, sizeof line, maps)) {
        char *path = strchr(line, '/');
        if (path && (strstr(path, "/ld-linux") || strstr(path, "/libc.so"))) printf("map %s", path);
    }
    return 0;
}
"""


def test_programs_run_on_the_target_with_one_glibc(cross, tmp_path):
    """The harness itself: a cross-compiled program runs under qemu as the target machine,
    and its loader and libc.so.6 are one glibc build (the multiarch one), not the cross
    compiler's loader with the multiarch libc (cross_support's docstring)."""
    source = tmp_path / "where.c"
    source.write_text(WHERE)
    exe = cross.compile_c(source, tmp_path / "where", "-std=c99", link_library=False)
    proc = run(cross.argv(exe), cross.env(), timeout=QEMU_TIMEOUT)
    assert proc.returncode == 0, proc.describe
    assert f"machine {cross.arch.machine}" in proc.stdout, proc.describe
    maps = {line.split()[1].strip() for line in proc.stdout.splitlines()
            if line.startswith("map ")}
    dirs = {os.path.dirname(os.path.realpath(m)) for m in maps}
    assert len(maps) == 2 and dirs == {f"/usr/lib/{cross.arch.multiarch}"}, proc.describe


def test_api_misuse(cross, devserver, tmp_path):
    exe = compile_c(TESTS / "api_misuse.c", tmp_path / "api_misuse", cc=cross.arch.cc,
                    lib_dir=cross.lib_dir)
    server = devserver()
    proc = run(cross.argv(exe, server.authorize_url, server.ws_url), cross.env(),
               timeout=QEMU_TIMEOUT)
    assert_api_misuse_passed(proc)


def test_a_session_driven_by_polling_with_logging(cross, tmp_path):
    exe = build(tmp_path, "poll_events", cc=cross.arch.cc, lib_dir=str(cross.lib_dir))
    proc = run_against_devserver([exe], runner=cross.runner, timeout=QEMU_TIMEOUT,
                                 env={**os.environ, **cross.env()})
    assert_polled_session(proc)


def test_the_library_is_built_for_the_target(cross):
    """build/<arch>/lib/liblayercode.so is an ELF shared object for the target machine."""
    header = cross.lib.resolve().read_bytes()[:20]
    assert header[:4] == b"\x7fELF", cross.lib
    machine = int.from_bytes(header[18:20], "little")
    assert machine == cross.arch.elf_machine, f"e_machine {machine}"
    assert re.fullmatch(r"liblayercode\.so\.\d+\.\d+\.\d+", cross.lib.resolve().name), \
        cross.lib.resolve()
