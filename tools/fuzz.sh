#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# libFuzzer targets for liblayercode's pure decoders (fuzz/README.md).
#
#   tools/fuzz.sh build [TARGET...]          build into build/fuzz/bin/ (only what is stale)
#   tools/fuzz.sh run SECONDS [TARGET...]    build, then fuzz each target for SECONDS, one
#                                            after another, and print a summary table
#   tools/fuzz.sh check [TARGET...]          build, then run each target once over its seeds
#                                            and fuzz/regressions/<target>/ (no fuzzing)
#
# Targets: websocket http json authorize opus_header ogg (default: all). Each is fuzz/<target>.swift plus
# fuzz/support/*.swift plus every file of Sources/LayercodeCore, compiled together into one
# executable with -sanitize=fuzzer,address. `run` fuzzes a copy of fuzz/corpus/<target>/ in
# build/fuzz/corpus/<target>/ (fresh each run; FUZZ_KEEP_CORPUS=1 keeps and grows it), so
# the committed seeds stay as they are. Crash inputs go to build/fuzz/artifacts/<target>/,
# logs to build/fuzz/logs/. Exits nonzero if any target crashed (or failed a check).
#
# Environment: SWIFTC (default swiftc), FUZZ_MAX_LEN (default 4096), FUZZ_KEEP_CORPUS,
# FUZZ_ARGS (extra libFuzzer flags), FUZZ_JOBS (2: build two targets at once),
# FUZZ_CHECK_RUNS (check: also run this many mutations from a fixed seed, default 0).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(websocket http json authorize opus_header ogg)
SWIFTC=${SWIFTC:-swiftc}
OUT=build/fuzz
MAX_LEN=${FUZZ_MAX_LEN:-4096}
# Swift's own crash backtracer would run after libFuzzer's report and can take minutes.
export SWIFT_BACKTRACE=enable=no
# ASan: leaks are not bugs of a decoder run in a loop; abort on the first error.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"

usage() {
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

targets_from_args() {
    if [ $# -eq 0 ]; then
        TARGETS=("${ALL_TARGETS[@]}")
        return
    fi
    TARGETS=()
    for t in "$@"; do
        case " ${ALL_TARGETS[*]} " in
            *" $t "*) TARGETS+=("$t") ;;
            *) echo "fuzz: unknown target '$t' (targets: ${ALL_TARGETS[*]})" >&2; exit 2 ;;
        esac
    done
}

module_name() {
    case $1 in
        websocket) echo FuzzWebSocket ;;
        http) echo FuzzHTTP ;;
        json) echo FuzzJSON ;;
        authorize) echo FuzzAuthorize ;;
        opus_header) echo FuzzOpusHeader ;;
        ogg) echo FuzzOgg ;;
    esac
}

dict_for() {
    case $1 in
        authorize) echo fuzz/dict/json.dict ;;
        *) echo "fuzz/dict/$1.dict" ;;
    esac
}

build_target() {
    local t=$1 bin="$OUT/bin/$1"
    local sources
    mapfile -t sources < <(find Sources/LayercodeCore -name '*.swift' | sort)
    if [ -x "$bin" ] && [ -z "$(find "fuzz/$t.swift" fuzz/support "${sources[@]}" -newer "$bin" | head -1)" ]; then
        echo "fuzz: $bin is up to date"
        return
    fi
    echo "fuzz: building $bin"
    mkdir -p "$OUT/bin"
    # -wmo: one module, so the decoders inline into the target as in the release library.
    "$SWIFTC" -O -wmo -sanitize=fuzzer,address -parse-as-library -use-ld=lld \
        -module-name "$(module_name "$t")" \
        "fuzz/$t.swift" fuzz/support/*.swift "${sources[@]}" -o "$bin.tmp" 2>"$OUT/build-$t.log" || {
        grep -v 'Cannot export local symbol' "$OUT/build-$t.log" >&2
        echo "fuzz: build of $t failed" >&2
        exit 1
    }
    mv "$bin.tmp" "$bin"
}

# FUZZ_JOBS=2 builds two targets at a time (never more: the machines have 2 cores).
build_all() {
    local jobs=${FUZZ_JOBS:-1} pids=() t
    if [ "$jobs" -le 1 ]; then
        for t in "${TARGETS[@]}"; do build_target "$t"; done
        return
    fi
    for t in "${TARGETS[@]}"; do
        build_target "$t" &
        pids+=($!)
        if [ ${#pids[@]} -ge 2 ]; then
            wait "${pids[0]}" || exit 1
            pids=("${pids[@]:1}")
        fi
    done
    for p in "${pids[@]}"; do wait "$p" || exit 1; done
}

# Value of `stat::NAME:` in a libFuzzer log (final stats), or "-".
stat() {
    local v
    v=$(grep -E "^stat::$1:" "$2" | tail -1 | awk '{print $2}')
    echo "${v:--}"
}

# The number after "NAME: " in a libFuzzer status line, or "-".
field() {
    local v
    v=$(printf '%s\n' "$2" | grep -oE "$1: [0-9]+" | head -1 | awk '{print $2}')
    echo "${v:--}"
}

run_target() {
    local t=$1 seconds=$2
    local corpus="$OUT/corpus/$t" artifacts="$OUT/artifacts/$t" log="$OUT/logs/$t.log"
    mkdir -p "$OUT/logs" "$artifacts"
    if [ -z "${FUZZ_KEEP_CORPUS:-}" ]; then rm -rf "$corpus"; fi
    mkdir -p "$corpus"
    cp -n "fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
    local seeds_before
    seeds_before=$(find "$corpus" -type f | wc -l)
    local crashes_before
    crashes_before=$(find "$artifacts" -type f | wc -l)
    local dict
    dict=$(dict_for "$t")
    local dict_args=()
    [ -f "$dict" ] && dict_args=("-dict=$dict")
    echo "fuzz: $t for ${seconds}s (corpus $corpus: $seeds_before files; log $log)"
    local status=0
    # shellcheck disable=SC2086
    "$OUT/bin/$t" "$corpus" -max_total_time="$seconds" -max_len="$MAX_LEN" -timeout=20 \
        -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "${dict_args[@]}" ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
    local crashes_after
    crashes_after=$(find "$artifacts" -type f | wc -l)
    local crashes=$((crashes_after - crashes_before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
    # Coverage and corpus units as libFuzzer counts them: after loading the seeds (INITED)
    # and at the end (the last status line).
    local first last
    first=$(grep -m1 -E '^#[0-9]+[[:space:]]+INITED' "$log" || true)
    last=$(grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -1 || true)
    ROWS+=("$(printf '%-10s %11s %8s %6s -> %-6s %6s -> %-6s %7s' "$t" \
        "$(stat number_of_executed_units "$log")" "$(stat average_exec_per_sec "$log")" \
        "$(field cov "$first")" "$(field cov "$last")" "$(field corp "$first")" "$(field corp "$last")" \
        "$crashes")")
    if [ "$crashes" -ne 0 ]; then
        FAILED+=("$t")
        echo "fuzz: $t CRASHED (exit $status); inputs in $artifacts/, log $log:" >&2
        grep -E 'Fatal error|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY' "$log" | head -5 >&2 || true
    fi
}

check_target() {
    local t=$1 inputs=()
    mapfile -t inputs < <(find "fuzz/corpus/$t" "fuzz/regressions/$t" -type f 2>/dev/null | sort)
    local log="$OUT/logs/$t-check.log"
    mkdir -p "$OUT/logs"
    local ok=1
    "$OUT/bin/$t" -runs=1 "${inputs[@]}" >"$log" 2>&1 || ok=0
    local runs=${FUZZ_CHECK_RUNS:-0}
    if [ "$ok" -eq 1 ] && [ "$runs" -gt 0 ]; then
        # A fixed seed over a scratch copy of the seeds: the same mutations every time.
        local scratch="$OUT/check-corpus/$t"
        rm -rf "$scratch"
        mkdir -p "$scratch" "$OUT/artifacts/$t"
        cp "fuzz/corpus/$t"/* "$scratch"/
        "$OUT/bin/$t" "$scratch" -seed=1 -runs="$runs" -max_len="$MAX_LEN" \
            -artifact_prefix="$OUT/artifacts/$t/" >>"$log" 2>&1 || ok=0
    fi
    if [ "$ok" -eq 1 ]; then
        local extra=""
        [ "$runs" -gt 0 ] && extra=", $runs seeded mutations ok"
        echo "fuzz: check $t: ${#inputs[@]} inputs ok$extra"
    else
        FAILED+=("$t")
        echo "fuzz: check $t FAILED (log $log):" >&2
        grep -E 'Running:|Fatal error|ERROR:' "$log" | tail -5 >&2 || true
    fi
}

[ $# -ge 1 ] || usage
command=$1
shift
ROWS=()
FAILED=()
case $command in
    build)
        targets_from_args "$@"
        build_all
        ;;
    check)
        targets_from_args "$@"
        build_all
        for t in "${TARGETS[@]}"; do check_target "$t"; done
        ;;
    run)
        [ $# -ge 1 ] || usage
        seconds=$1
        shift
        [[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || { echo "fuzz: SECONDS must be a positive integer" >&2; exit 2; }
        targets_from_args "$@"
        build_all
        for t in "${TARGETS[@]}"; do run_target "$t" "$seconds"; done
        echo
        echo "fuzz summary ($seconds s per target, $(date -u '+%Y-%m-%d %H:%M UTC')):"
        printf '%-10s %11s %8s %16s %16s %7s\n' target execs exec/s "cov (start->end)" "corpus (units)" crashes
        for row in "${ROWS[@]}"; do echo "$row"; done
        ;;
    *)
        usage
        ;;
esac
if [ ${#FAILED[@]} -ne 0 ]; then
    echo "fuzz: FAILED: ${FAILED[*]}" >&2
    exit 1
fi
