# SPDX-License-Identifier: Apache-2.0
"""Every file the documentation points at exists (issue 9, item 22: README.md and
Package.swift sent readers to PROTOCOL.md and ARCHITECTURE.md, which were never in the
repository).

Checked in README.md and doc/*.md: Markdown links to relative targets, and repository
paths written as code (`tools/devserver/README.md`, `Sources/LayercodeCore`, `tests/c/*.c`,
the Layout block's left column). Paths under build/ and dist/ are made by the build, and
absolute paths name the user's system: neither is checked.
"""
from __future__ import annotations

import glob
import re
import subprocess
from pathlib import Path

from docs_support import README, ROOT, fenced_blocks

DOCS = [README, *sorted((ROOT / "doc").glob("*.md"))]
GENERATED = ("build/", "dist/", ".venv", ".build")


def linked_targets(text: str) -> list[str]:
    targets = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # https:, mailto:, an anchor in the same page
        targets.append(target.split("#", 1)[0])
    return targets


def code_paths(text: str) -> list[str]:
    """Repository paths in `code spans` and in the Layout block."""
    prose = re.sub(r"^```.*?^```\s*$", "", text, flags=re.M | re.S)
    spans = re.findall(r"`([^`\s]+)`", prose)
    for lang, body, _ in fenced_blocks(text):
        if lang == "" and "include/layercode.h" in body:  # README's Layout
            spans += [line.split()[0] for line in body.splitlines()
                      if line and not line[0].isspace()]
    paths = []
    for span in spans:
        span = span.rstrip(".,:;")
        if "/" not in span or "://" in span or span.startswith(("-", "/", "$", "~")):
            continue
        if not re.fullmatch(r"[\w.*/+-]+", span) or span.startswith(GENERATED):
            continue
        if re.match(r"^[a-z]+(\.[a-z_]+)+/", span):
            continue  # a protocol message name: trigger.turn.start/end
        paths.append(span)
    return paths


def exists(path: str, doc: Path) -> bool:
    for base in (doc.parent, ROOT):
        if any(ch in path for ch in "*?["):
            if glob.glob(str(base / path)):
                return True
        elif (base / path).exists():
            return True
    return False


def test_every_relative_link_and_path_in_the_docs_exists():
    missing = []
    checked = 0
    for doc in DOCS:
        text = doc.read_text()
        for path in linked_targets(text) + code_paths(text):
            checked += 1
            if not exists(path, doc):
                missing.append(f"{doc.relative_to(ROOT)}: {path}")
    assert checked > 40, f"only {checked} paths found: the extraction is broken"
    assert not missing, "the documentation names files that do not exist:\n" + \
        "\n".join(missing)


def test_design_docs_are_in_the_repository_and_linked():
    for name in ("protocol.md", "architecture.md"):
        assert (ROOT / "doc" / name).is_file(), f"doc/{name} missing"
        assert f"doc/{name}" in README.read_text(), f"README.md does not point at doc/{name}"
    assert "doc/architecture.md" in (ROOT / "Package.swift").read_text()


def test_nothing_points_at_the_missing_design_notes():
    """No file names PROTOCOL.md or ARCHITECTURE.md (outside doc/): tools/fix-doc-refs.sh
    rewrites any that a merge brings back."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    stale = []
    for name in files:
        path = ROOT / name
        if name.startswith("tests/docs/") or name == "tools/fix-doc-refs.sh" \
                or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for m in re.finditer(r"(?<![\w/.])(PROTOCOL|ARCHITECTURE)\.md|\.\./shared/", text):
            stale.append(f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}")
    assert not stale, "references to design notes outside the repository (run " \
                      "tools/fix-doc-refs.sh):\n" + "\n".join(stale)
