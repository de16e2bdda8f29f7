#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Points every mention of the old design notes (PROTOCOL.md, ARCHITECTURE.md, which were
# never in the repository) at the project's own doc/protocol.md and doc/architecture.md.
# Idempotent: run it again after a merge; tests/docs/test_links.py fails while one is left.
set -eu
cd "$(dirname "$0")/.."
git ls-files -z -- ':!doc/protocol.md' ':!doc/architecture.md' ':!tools/fix-doc-refs.sh' \
    ':!tests/docs/*' |
    xargs -0 grep -lIE '(PROTOCOL|ARCHITECTURE)\.md' 2>/dev/null |
    while IFS= read -r f; do
        perl -pi -e 's{(?:\.\./shared/|(?<![\w/.]))PROTOCOL\.md}{doc/protocol.md}g;
                     s{(?:\.\./shared/|(?<![\w/.]))ARCHITECTURE\.md}{doc/architecture.md}g' "$f"
        echo "fix-doc-refs: $f"
    done
