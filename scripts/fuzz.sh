#!/usr/bin/env bash
# Coverage-guided fuzzing of the pure parsers (fuzz/, cargo-fuzz on nightly):
#   scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (default 60), one at a time
# Each target runs on its live corpus fuzz/corpus/T, seeded from the committed fuzz/seeds/T
# and from the objects of tests/bpf. A hang over 1 s or more than 2 GiB is a crash. Prints
# executions and coverage per target; exits non-zero if any target found a crash (the input
# is under fuzz/artifacts/T/). FUZZ_RUNS stops a target after that many executions
# (e.g. 10000000), FUZZ_ARGS adds libFuzzer flags. A timeout whose input reruns in under
# 1 s of CPU time is the machine being busy (it is shared): noted, and the target goes on.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

secs=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
all=(elf_object btf_parse core_resolve btf_decode skel_layout census)
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
cargo +nightly fuzz build -a

# The live corpora start from the committed seeds and every test object there is.
# (any clang 14-22, as the Makefile picks it; without one the seeds alone are used)
clang=$(scripts/find_clang.sh || true)
if [ -n "$clang" ] && [ ! -e fuzz/corpus/.seeded ]; then
    make -s -C tests/bpf O="$root/build/fuzz-objects" CLANG="$clang" >/dev/null
    "$clang" -g -O2 -target bpf -c fuzz/seeds_src/census_kernel.bpf.c -o build/fuzz-census.o
    llvm-objcopy --dump-section .BTF=build/fuzz-census.btf build/fuzz-census.o
    (cd fuzz && cargo +nightly run -q --release --bin make_seeds -- "$root/fuzz/corpus" \
        --census-btf "$root/build/fuzz-census.btf" \
        "$root"/build/fuzz-objects/*.o "$root"/src/*/testdata/*.o)
    touch fuzz/corpus/.seeded
fi

# One libFuzzer session; sets `execs`, `cov` and `status` (ok, CRASH, or SPURIOUS for a
# "timeout" whose input runs well within the limit when tried again: the machine was busy).
session() {
    local t=$1 time_left=$2 runs=$3 log=$4 artifact
    status=ok
    local bounds=(-max_total_time="$time_left")
    [ -n "$runs" ] && bounds+=(-runs="$runs")
    # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
    nice -n 10 cargo +nightly fuzz run -a "$t" "$root/fuzz/corpus/$t" "$root/fuzz/seeds/$t" -- \
        "${bounds[@]}" -print_final_stats=1 -rss_limit_mb=2048 -timeout=1 \
        -artifact_prefix="$root/fuzz/artifacts/$t/" ${FUZZ_ARGS:-} >"$log" 2>&1 || status=CRASH
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    if [ "$status" = CRASH ] && [ -z "$execs" ]; then
        # A crash report ends before the final stats: count from the last status line.
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    if [ "$status" = CRASH ] && [[ "$artifact" == */timeout-* ]]; then
        # libFuzzer's timeout is wall-clock time; a busy machine stretches it. The input
        # is a hang only if it also takes more than 1 s of CPU time: 3 runs, timed.
        local bin=fuzz/target/x86_64-unknown-linux-gnu/release/$t cpu
        cpu=$( { TIMEFORMAT='%U %S'; time "$bin" -timeout=60 -runs=3 "$artifact" \
            >/dev/null 2>&1; } 2>&1 ) || cpu=
        if [ -n "$cpu" ] && awk -v c="$cpu" 'BEGIN { split(c, t, " "); exit !((t[1] + t[2]) / 3 < 1) }'; then
            status=SPURIOUS
            mv "$artifact" "$artifact.spurious"
        fi
    fi
}

summary=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    echo "== $t (${secs}s${FUZZ_RUNS:+, up to $FUZZ_RUNS runs})"
    total=0 spurious=0 began=$SECONDS n=0
    while :; do
        n=$((n + 1))
        log="fuzz/artifacts/$t/session-$n.log"
        left=$((secs - (SECONDS - began)))
        runs=
        [ -n "${FUZZ_RUNS:-}" ] && runs=$((FUZZ_RUNS - total))
        session "$t" "$((left > 1 ? left : 1))" "$runs" "$log"
        total=$((total + ${execs:-0}))
        [ "$status" = SPURIOUS ] || break
        spurious=$((spurious + 1))
        echo "   spurious timeout (input reruns in time), continuing"
        [ $((SECONDS - began)) -lt "$secs" ] || { status=ok; break; }
        [ -z "${FUZZ_RUNS:-}" ] || [ "$total" -lt "$FUZZ_RUNS" ] || { status=ok; break; }
    done
    if [ "$status" = CRASH ]; then
        failed=1
        grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked|Test unit written)' "$log" | head -5
    fi
    note=
    [ "$spurious" -eq 0 ] || note=", $spurious spurious timeouts"
    summary+=("$(printf '%-13s %-6s execs %-10s %s (%ss%s)' "$t" "$status" "$total" \
        "${cov:-?}" "$((SECONDS - began))" "$note")")
done
printf '%s\n' "${summary[@]}"
exit "$failed"
