#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The lock-free rings under ThreadSanitizer: builds the tests with -sanitize=thread and runs
# the two-thread stress tests of SPSCRing and FrameRing (the FrameRing -> JitterBuffer
# pipeline included). Fails if a test fails, if TSan reports anything, or if the filter
# stops matching the tests.
#
#   tools/tsan-ring-stress.sh            (TSAN_SCRATCH=dir to build elsewhere than .build-tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${TSAN_SCRATCH:-.build-tsan}
# SPSCRingTests: testRingTwoThreadStress{UInt32,Int16}; FrameRingTests:
# testFrameRingTwoThreadStress, testFrameRingTwoThreadFeedsAJitterBuffer (the pipeline) and
# testJitterBufferPutFromRingStopsAtTheFramesWaiting... (its regression test: put(from:)
# used to drain while the producer kept pushing, overflowing the buffer under TSan).
# Also the event loop's execute queue from four threads (EventLoopTests: TSan must see its lock).
filter='LayercodeCoreTests\.(SPSCRingTests/testRingTwoThreadStress|FrameRingTests/testFrameRingTwoThread|FrameRingTests/testJitterBufferPutFromRing)|LayercodeIntegrationTests\.EventLoopTests/'
expected_tests=6

swift build --scratch-path "$scratch" --build-tests -Xswiftc -sanitize=thread

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Keep going after a report so one run shows them all; a report still fails the run below.
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 ${TSAN_OPTIONS:-}"
set +e
swift test --scratch-path "$scratch" --skip-build --filter "$filter" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

reports=$(grep -c 'WARNING: ThreadSanitizer' "$log" || true)
executed=$(grep -oE 'Executed [0-9]+ tests?' "$log" | tail -1 | grep -oE '[0-9]+' || true)
executed=${executed:-0}

fail=0
if [ "$reports" -ne 0 ]; then
    echo "tsan-ring-stress: FAIL: $reports ThreadSanitizer report(s)" >&2; fail=1
fi
if [ "$status" -ne 0 ]; then
    echo "tsan-ring-stress: FAIL: swift test exited with $status" >&2; fail=1
fi
if [ "$executed" -lt "$expected_tests" ]; then
    echo "tsan-ring-stress: FAIL: ran $executed tests, expected $expected_tests (filter: $filter)" >&2; fail=1
fi
if [ $fail = 0 ]; then
    echo "tsan-ring-stress: OK: $executed stress tests, no ThreadSanitizer reports"
fi
exit $fail
