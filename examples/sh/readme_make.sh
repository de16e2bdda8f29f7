#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# README.md, "Two commands": the README shows this file from `make demo` on.
# tests/docs/test_readme_snippets.py checks that both targets exist (make -n), and runs
# neither: `make test` is the suite that runs this check.
set -eu
cd "$(dirname "$0")/../.."
make demo   # builds, starts the devserver (TLS), runs a spoken session, prints the conversation
make test   # builds and runs every test: Swift unit + integration, ABI checks, pytest suites
