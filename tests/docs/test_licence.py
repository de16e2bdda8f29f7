# SPDX-License-Identifier: Apache-2.0
"""The project's licence, Apache-2.0, is stated everywhere a tool or a reader looks (issue 9,
item 23: there was no LICENSE, no source file said, and the Python package claimed
"Proprietary").

- LICENSE is the full Apache License 2.0 text.
- The Python package's metadata and the pkg-config file say Apache-2.0.
- Every Swift, C, header, Python and shell file carries `SPDX-License-Identifier: Apache-2.0`
  in its first lines, after a shebang or Swift's tools-version line.
- tools/add-spdx.sh puts the line where it belongs, in each language's comment syntax, and
  a second run changes nothing (so the lead can re-run it after every merge).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from docs_support import ROOT, run

SPDX = "SPDX-License-Identifier: Apache-2.0"
SOURCE_SUFFIXES = (".swift", ".c", ".cpp", ".h", ".py", ".sh")
DEBIAN_TEXT = Path("/usr/share/common-licenses/Apache-2.0")


def test_licence_file_is_the_full_apache_2_text():
    text = (ROOT / "LICENSE").read_text()
    if DEBIAN_TEXT.exists():
        assert text == DEBIAN_TEXT.read_text()
    for needed in ("Apache License", "Version 2.0, January 2004",
                   "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
                   "9. Accepting Warranty or Additional Liability.",
                   "END OF TERMS AND CONDITIONS"):
        assert needed in text, needed


def test_python_package_and_pkg_config_say_apache():
    pyproject = (ROOT / "bindings" / "python" / "pyproject.toml").read_text()
    assert re.search(r'^license = \{ text = "Apache-2.0" \}$', pyproject, re.M), pyproject
    assert "Proprietary" not in pyproject
    assert "License :: OSI Approved :: Apache Software License" in pyproject
    assert "Apache-2.0" in (ROOT / "tools" / "layercode.pc.in").read_text()


def source_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return sorted(name for name in set(out.split())
                  if name.endswith(SOURCE_SUFFIXES) and (ROOT / name).is_file())


def test_every_source_file_carries_the_spdx_line():
    files = source_files()
    assert len(files) > 100, f"only {len(files)} source files found"
    missing = []
    for name in files:
        head = (ROOT / name).read_text(errors="replace").splitlines()[:5]
        if not any(SPDX in line for line in head):
            missing.append(name)
    assert not missing, f"{len(missing)} source files lack '{SPDX}' near the top (run " \
                        f"tools/add-spdx.sh): {missing[:20]}"


def test_add_spdx_places_the_line_and_is_idempotent(tmp_path):
    samples = {
        "tool.py": "#!/usr/bin/env python3\n\"\"\"Doc.\"\"\"\nprint(1)\n",
        "coded.py": "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\nx = 1\n",
        "plain.py": '"""Doc."""\n',
        "empty.py": "",
        "run.sh": "#!/bin/sh\nset -eu\n",
        "Package.swift": "// swift-tools-version:6.0\nimport PackageDescription\n",
        "Thing.swift": "import Glibc\n",
        "prog.c": "#include <stdio.h>\nint main(void) { return 0; }\n",
        "api.h": "/** @file */\n#define X 1\n",
        "no_newline.c": "int x;",
    }
    expected = {
        "tool.py": "#!/usr/bin/env python3\n# SPDX\n\"\"\"Doc.\"\"\"\nprint(1)\n",
        "coded.py": "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n# SPDX\nx = 1\n",
        "plain.py": '# SPDX\n"""Doc."""\n',
        "empty.py": "# SPDX\n",
        "run.sh": "#!/bin/sh\n# SPDX\nset -eu\n",
        "Package.swift": "// swift-tools-version:6.0\n// SPDX\nimport PackageDescription\n",
        "Thing.swift": "// SPDX\nimport Glibc\n",
        "prog.c": "/* SPDX */\n#include <stdio.h>\nint main(void) { return 0; }\n",
        "api.h": "/* SPDX */\n/** @file */\n#define X 1\n",
        "no_newline.c": "/* SPDX */\nint x;",
    }
    for name, text in samples.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "run.sh").chmod(0o755)
    script = ROOT / "tools" / "add-spdx.sh"
    files = [str(tmp_path / name) for name in samples]
    first = run([script, *files])
    assert first.returncode == 0, first.describe
    after = {name: (tmp_path / name).read_text() for name in samples}
    for name, text in after.items():
        assert text == expected[name].replace("SPDX", SPDX), f"{name}:\n{text}"
    assert (tmp_path / "run.sh").stat().st_mode & 0o777 == 0o755
    second = run([script, *files])
    assert second.returncode == 0 and second.stdout == "", second.describe
    assert {name: (tmp_path / name).read_text() for name in samples} == after
    check = run([script, "--check", *files])
    assert check.returncode == 0, check.describe
    assert not list(tmp_path.glob("*.spdx-tmp"))
    # The edited files still work: Python compiles, the shell script runs.
    for name in ("tool.py", "coded.py", "plain.py"):
        compile((tmp_path / name).read_text(), name, "exec")
    assert run([tmp_path / "run.sh"]).returncode == 0
    if shutil.which("cc"):
        assert run(["cc", "-fsyntax-only", tmp_path / "prog.c"]).returncode == 0
