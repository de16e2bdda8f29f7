# SPDX-License-Identifier: Apache-2.0
"""The binding's view of the library: loading, versions, the ABI structs, devices, and the
audio buffer types write_audio/read_audio take."""

from __future__ import annotations

import array
import ctypes
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

import layercode
from layercode import _lib

from .support import BINDINGS, LIBRARY, ROOT

HEADER = (ROOT / "include" / "layercode.h").read_text()


def header_struct_fields(name: str) -> list:
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), HEADER, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out = []
    for decl in body.split(";"):
        decl = decl.strip()
        if decl:
            out.append(re.search(r"(\w+)\s*$", decl).group(1))
    return out


def test_versions():
    major, minor, patch = (re.search(r"#define LC_VERSION_%s (\d+)" % p, HEADER).group(1)
                           for p in ("MAJOR", "MINOR", "PATCH"))
    assert layercode.version() == f"{major}.{minor}.{patch}"
    assert layercode.version_number() == int(major) * 10000 + int(minor) * 100 + int(patch)
    assert re.fullmatch(r"\d+\.\d+\.\d+", layercode.__version__)


@pytest.mark.parametrize("struct", ["lc_options", "lc_stats"])
def test_structs_match_the_header(struct):
    ours = [name for name, _ in getattr(_lib, struct)._fields_]
    assert ours == header_struct_fields(struct)


def test_struct_sizes_match_the_compiled_header(tmp_path):
    if not shutil.which("cc"):
        pytest.skip("no C compiler")
    src = tmp_path / "sizes.c"
    src.write_text('#include <stdio.h>\n#include "layercode.h"\nint main(void){'
                   'printf("%zu %zu\\n", sizeof(lc_options), sizeof(lc_stats));return 0;}\n')
    subprocess.run(["cc", "-I", str(ROOT / "include"), str(src), "-o", str(tmp_path / "sizes")],
                   check=True, timeout=60)
    sizes = subprocess.run([str(tmp_path / "sizes")], capture_output=True, text=True).stdout
    assert sizes.split() == [str(ctypes.sizeof(_lib.lc_options)), str(ctypes.sizeof(_lib.lc_stats))]


def test_stats_has_every_field():
    fields = [f.name for f in dataclasses.fields(layercode.Stats)]
    assert fields == header_struct_fields("lc_stats")[1:]  # all but struct_size


def test_every_function_is_declared():
    declared = set(re.findall(r"^\w[\w\s\*]*?\b(lc_\w+)\(", HEADER, re.M))
    assert declared <= set(_lib._SIGNATURES) | set(_lib._OPTIONAL)
    for name in _lib._SIGNATURES:
        fn = getattr(_lib.lib, name)
        assert fn.argtypes is not None and hasattr(fn, "restype"), name


def test_library_log_lines_reach_python_logging(make_client, closed_port, caplog):
    import logging

    layercode.set_library_log_level(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG, logger="layercode.library"):
            client = make_client(authorize_url=f"http://127.0.0.1:{closed_port}/authorize")
            client.connect()
            with pytest.raises(layercode.NetworkError):
                client.wait_connected(10)
            assert client.wait_disconnected(5)
    finally:
        layercode.set_library_log_level(None)
    lines = [r for r in caplog.records if r.name == "layercode.library"]
    assert any(r.levelno == logging.ERROR and "refused" in r.getMessage() for r in lines)
    assert any(r.levelno == logging.INFO for r in lines)
    caplog.clear()
    client.close()
    assert not [r for r in caplog.records if r.name == "layercode.library"]


def test_poll_event_declaration(make_client, closed_port):
    """lc_client_poll_event is declared (for later use) with an lc_event the library
    accepts: it checks struct_size exactly."""
    client = make_client(authorize_url=f"http://127.0.0.1:{closed_port}/authorize",
                         amplitude_rate_hz=0)
    event = _lib.lc_event()
    # These bindings set callbacks, so the library queues events for polling only from the
    # first poll on (layercode.h): poll once before connecting.
    ptr = client._handle.acquire()
    try:
        assert _lib.lib.lc_client_poll_event_sized(ptr, ctypes.byref(event),
                                                   ctypes.sizeof(event), 0) == 0
    finally:
        client._handle.release()
    client.connect()
    assert client.wait_disconnected(10)
    ptr = client._handle.acquire()
    try:
        polled = []
        while _lib.lib.lc_client_poll_event_sized(ptr, ctypes.byref(event),
                                                  ctypes.sizeof(event), 1000) == 1:
            polled.append((event.type, event.code))
            if event.type == _lib.LC_EVENT_DISCONNECTED:
                break
    finally:
        client._handle.release()
    assert polled == [(_lib.LC_EVENT_STATUS, _lib.LC_STATUS_CONNECTING),
                      (_lib.LC_EVENT_ERROR, _lib.LC_ERR_NETWORK),
                      (_lib.LC_EVENT_STATUS, _lib.LC_STATUS_ERROR),
                      (_lib.LC_EVENT_DISCONNECTED, _lib.LC_ERR_NETWORK)]


def test_list_devices_includes_null():
    devices = layercode.list_devices()
    null = [d for d in devices if d.name == "null"]
    assert null and null[0].is_input and null[0].is_output
    assert all(isinstance(d.description, str) for d in devices)


def test_audio_buffer_types(make_client):
    client = make_client()
    assert client.write_audio(b"") == 0
    assert client.write_audio(bytes(64)) == 32
    assert client.write_audio(bytearray(64)) == 32
    assert client.write_audio(memoryview(bytes(64))) == 32
    assert client.write_audio(array.array("h", [0] * 32)) == 32
    assert client.write_audio(memoryview(array.array("h", [0] * 32))) == 32
    out = array.array("h", [7] * 16)
    assert client.read_audio_into(out) == 0  # nothing from the agent: silence
    assert list(out) == [0] * 16
    with pytest.raises(TypeError):
        client.read_audio_into(bytes(4))
    assert client.read_audio(0) == b""


def test_numpy_buffers(make_client):
    numpy = pytest.importorskip("numpy")
    client = make_client()
    assert client.write_audio(numpy.zeros(160, dtype=numpy.int16)) == 160
    strided = numpy.zeros(320, dtype=numpy.int16)[::2]  # copied, not rejected
    assert client.write_audio(strided) == 160
    with pytest.raises(TypeError):
        client.write_audio(numpy.zeros(10, dtype=numpy.float32))
    with pytest.raises(TypeError):
        client.write_audio(numpy.zeros(10, dtype=">i2"))
    got = client.read_audio(80, as_numpy=True)
    assert got.dtype == numpy.int16 and got.shape == (80,) and not got.any()
    with pytest.raises(ValueError):
        client.read_audio_into(numpy.zeros(20, dtype=numpy.int16)[::2])


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "LAYERCODE_LIBRARY"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, env=full_env)


def test_numpy_stays_optional():
    proc = run_python("""
        import sys
        sys.modules["numpy"] = None  # import numpy fails
        import layercode
        c = layercode.Client(agent_id="a", authorize_url="http://127.0.0.1:9/authorize")
        assert c.write_audio(bytes(8)) == 4 and c.read_audio(4) == bytes(8)
        try:
            c.read_audio(4, as_numpy=True)
        except ImportError as e:
            print("ok", e)
        c.close()
    """, PYTHONPATH=str(BINDINGS), LAYERCODE_LIBRARY=str(LIBRARY))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


def test_library_search_order(tmp_path):
    code = "import layercode; print(layercode.library_path())"
    # 1. $LAYERCODE_LIBRARY, and a bad one is an error rather than a fallback.
    proc = run_python(code, PYTHONPATH=str(BINDINGS), LAYERCODE_LIBRARY=str(LIBRARY))
    assert proc.stdout.strip() == str(LIBRARY)
    proc = run_python(code, PYTHONPATH=str(BINDINGS), LAYERCODE_LIBRARY="/nonexistent/lib.so")
    assert proc.returncode != 0 and "/nonexistent/lib.so" in proc.stderr
    # Nothing anywhere: every place is named.
    proc = run_python(code, PYTHONPATH=str(BINDINGS), LD_LIBRARY_PATH="")
    assert proc.returncode != 0
    for place in ("LAYERCODE_LIBRARY", "liblayercode.so*", "liblayercode.so.0", "find_library"):
        assert place in proc.stderr, proc.stderr
    # 2. A copy bundled in the package directory.
    bundled = tmp_path / "pkg"
    shutil.copytree(BINDINGS / "layercode", bundled / "layercode")
    shutil.copy(LIBRARY.resolve(), bundled / "layercode" / "liblayercode.so.0")
    proc = run_python(code, PYTHONPATH=str(bundled))
    assert proc.stdout.strip() == str(bundled / "layercode" / "liblayercode.so.0"), proc.stderr
    # 3. The versioned soname through the dynamic loader.
    proc = run_python(code, PYTHONPATH=str(BINDINGS), LD_LIBRARY_PATH=str(LIBRARY.parent))
    assert proc.stdout.strip() == "liblayercode.so.0", proc.stderr
