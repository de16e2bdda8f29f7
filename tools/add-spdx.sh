#!/bin/sh
# Adds the licence line `SPDX-License-Identifier: Apache-2.0` to source files that lack it:
#   tools/add-spdx.sh            every Swift, C, header, Python and shell file of the
#                                repository (tracked, or new and not ignored)
#   tools/add-spdx.sh FILE...    those files
#   tools/add-spdx.sh --check    lists the files that lack it; exit 1 if any
# One line near the top, in the file's own comment syntax: after a shebang, after Swift's
# `// swift-tools-version` line, after a Python coding declaration; else the first line.
# Idempotent: a file that has the line in its first five lines is left alone, so it can be
# re-run after every merge. tests/docs/test_licence.py checks the result.
set -eu
cd "$(dirname "$0")/.."
check=no
if [ "${1:-}" = "--check" ]; then
    check=yes
    shift
fi
if [ $# -eq 0 ]; then
    set -- $(git ls-files --cached --others --exclude-standard -- \
        '*.swift' '*.c' '*.h' '*.py' '*.sh' | sort -u)
fi
missing=0
for f in "$@"; do
    [ -f "$f" ] || continue
    if head -n 5 "$f" | grep -q 'SPDX-License-Identifier:'; then
        continue
    fi
    case "$f" in
        *.swift) line='// SPDX-License-Identifier: Apache-2.0' ;;
        *.c|*.h) line='/* SPDX-License-Identifier: Apache-2.0 */' ;;
        *.py|*.sh) line='# SPDX-License-Identifier: Apache-2.0' ;;
        *) continue ;;
    esac
    if [ "$check" = yes ]; then
        echo "$f"
        missing=$((missing + 1))
        continue
    fi
    # How many leading lines must stay first: a shebang, swift-tools-version, and a PEP 263
    # coding declaration on line 1 or 2.
    keep=0
    first=$(sed -n 1p "$f")
    case "$first" in
        '#!'*|'// swift-tools-version'*) keep=1 ;;
    esac
    case "$f" in
        *.py)
            next=$(sed -n "$((keep + 1))p" "$f")
            if [ "$keep" -lt 2 ] && printf '%s\n' "$next" | grep -Eq '^[ \t\f]*#.*coding[:=][ \t]*[-_.a-zA-Z0-9]+'; then
                keep=$((keep + 1))
            fi ;;
    esac
    tmp="$f.spdx-tmp"
    { head -n "$keep" "$f"; printf '%s\n' "$line"; tail -n "+$((keep + 1))" "$f"; } > "$tmp"
    chmod --reference="$f" "$tmp"
    mv "$tmp" "$f"
    echo "add-spdx: $f"
done
if [ "$check" = yes ] && [ "$missing" -gt 0 ]; then
    echo "add-spdx: $missing file(s) lack the SPDX line: run tools/add-spdx.sh" >&2
    exit 1
fi
