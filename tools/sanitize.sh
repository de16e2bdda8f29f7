#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make sanitize: every Swift test (`swift test`) and the C programs of tests/c (plus
# examples/c/quickstart.c), first under AddressSanitizer + LeakSanitizer (+ UBSan for the C
# programs), then under ThreadSanitizer. The library is built with the same sanitizer each
# time (debug, dynamic Swift runtime), in its own scratch directory: .build-asan, .build-tsan.
# Passes only if every test passes and there is not one sanitizer report.
#
#   tools/sanitize.sh                  (SANITIZE_LOGS=dir for the logs, default build/sanitize)
#   SANITIZERS="thread" tools/sanitize.sh    one of them only
#
# Suppressions: LeakSanitizer only, for allocations inside the Swift toolchain's own libraries
# (tools/sanitizers/lsan.supp says why for each). No TSan or ASan suppressions.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
logs=${SANITIZE_LOGS:-build/sanitize}
sanitizers=${SANITIZERS:-address thread}
rm -rf "$logs"
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
started=$(date +%s)
passed=0
failed=0
summary=()

# What a sanitizer report looks like in a log.
report_pattern='ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:'

note() {  # note PASS|FAIL what...
    summary+=("$*")
    if [ "$1" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    echo "sanitize: $*"
}

step_seconds() { echo $(( $(date +%s) - $1 )); }

run_sanitizer() {
    local sanitizer=$1 scratch short env_name env_value
    case $sanitizer in
        address) scratch=.build-asan; short=asan ;;
        thread) scratch=.build-tsan; short=tsan ;;
        *) echo "sanitize: unknown sanitizer $sanitizer" >&2; return 2 ;;
    esac
    local t0 build_log="$logs/$short-build.log" test_log="$logs/$short-swift-test.log"

    t0=$(date +%s)
    echo "sanitize: building the tests and liblayercode with -sanitize=$sanitizer in $scratch"
    if ! { swift build --scratch-path "$scratch" --build-tests -Xswiftc -sanitize="$sanitizer" &&
           swift build --scratch-path "$scratch" --product layercode -Xswiftc -sanitize="$sanitizer"; } \
           > "$build_log" 2>&1; then
        tail -n 40 "$build_log"
        note FAIL "$sanitizer: build failed ($build_log)"
        return
    fi
    local bin
    bin=$(swift build --scratch-path "$scratch" --show-bin-path -Xswiftc -sanitize="$sanitizer")
    # The run means something only if the code is instrumented.
    # (grep without -q reads all of nm's output: no SIGPIPE failing the pipe under pipefail.)
    if ! nm "$bin/liblayercodePackageTests.xctest" | grep "__${short}_init" > /dev/null ||
       ! nm -D "$bin/liblayercode.so" | grep "__${short}_" > /dev/null; then
        note FAIL "$sanitizer: $bin has no $short instrumentation"
        return
    fi
    echo "sanitize: built in $(step_seconds "$t0") s"

    # ---- swift test
    t0=$(date +%s)
    if [ "$sanitizer" = address ]; then
        env_name=ASAN_OPTIONS; env_value="detect_leaks=1:halt_on_error=1"
        export LSAN_OPTIONS="suppressions=$PWD/tools/sanitizers/lsan.supp:print_suppressions=0"
    else
        env_name=TSAN_OPTIONS; env_value="halt_on_error=0:exitcode=66"
    fi
    echo "sanitize: swift test under $sanitizer ($test_log)"
    env "$env_name=$env_value" swift test --scratch-path "$scratch" --skip-build \
        -Xswiftc -sanitize="$sanitizer" > "$test_log" 2>&1
    local status=$? reports executed failures
    reports=$(grep -cE "$report_pattern" "$test_log")
    # XCTest's closing line, e.g. "Executed 352 tests, with 1 test skipped and 0 failures".
    executed=$(grep -E 'Executed [0-9]+ tests?' "$test_log" | tail -1)
    failures=$(echo "$executed" | grep -oE '[0-9]+ failures?' | grep -oE '[0-9]+')
    echo "sanitize: swift test: ${executed#"${executed%%[![:space:]]*}"} ($(step_seconds "$t0") s)"
    if [ "$status" -ne 0 ] || [ "$reports" -ne 0 ] || [ -z "$executed" ] || [ "${failures:-1}" -ne 0 ]; then
        grep -E "error: |$report_pattern" "$test_log" | head -n 20
        note FAIL "$sanitizer: swift test: exit $status, $reports sanitizer report(s), ${failures:-?} failure(s) ($test_log)"
    else
        note PASS "$sanitizer: swift test: $(echo "$executed" | grep -oE 'Executed [0-9]+ tests?'), 0 sanitizer reports"
    fi

    # ---- the C programs against the instrumented library
    t0=$(date +%s)
    echo "sanitize: the C programs under $sanitizer"
    if "$PY" tools/sanitize_c.py "$sanitizer" "$bin" "$logs/$short-c" 2>&1 | tee "$logs/$short-c.log"; then
        note PASS "$sanitizer: C programs: $(grep -E '^[0-9]+ passed' "$logs/$short-c.log"), 0 sanitizer reports ($(step_seconds "$t0") s)"
    else
        note FAIL "$sanitizer: C programs: $(grep -E '^[0-9]+ passed|sanitizer report' "$logs/$short-c.log" | tr '\n' ' ') ($logs/$short-c.log)"
    fi
    unset LSAN_OPTIONS
}

if [ ! -x "$PY" ]; then
    echo "sanitize: $PY missing: run make deps" >&2
    exit 2
fi
for s in $sanitizers; do run_sanitizer "$s"; done

echo
echo "sanitize: summary ($(step_seconds "$started") s, logs in $logs)"
for line in "${summary[@]}"; do echo "  $line"; done
echo "sanitize: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
