#!/bin/sh
# The fuzz targets of fuzz/ (cargo-fuzz, libFuzzer, address sanitizer,
# overflow checks on).
#
#   fuzz.sh smoke SECS       every target SECS on the committed corpus
#                            (new finds go to target/fuzz-smoke, the
#                            committed corpus is not changed)
#   fuzz.sh long T RUNS      one target RUNS executions; finds kept in
#                            target/fuzz-long/T
#   fuzz.sh report T...      per target: executions and coverage of the
#                            last long run, peak RSS, the slowest input
#                            of the committed corpus (ms)
#
# A crash, a leak, an input slower than 1 s (libFuzzer's -timeout) or a
# run over 512 MB fails; `report` fails when an input of the corpus takes
# more than 10 ms. The nightly is $NIGHTLY (the Makefile's pin).
set -eu
cd "$(dirname "$0")/../fuzz"
# The fuzz workspace builds into its own target/ (BIN below), whatever
# target directory the caller's environment names (the Makefile's is
# the project's).
export CARGO_TARGET_DIR="$PWD/target"
NIGHTLY=${NIGHTLY:-nightly}
TARGETS="ct_dump ct_events rtnl_dump rtnl_answers files keys cli filter http dns render"
OUT=../target
BIN=target/x86_64-unknown-linux-gnu/release
OPTS="-rss_limit_mb=512 -timeout=1 -print_final_stats=1"

build() {
    cargo "+$NIGHTLY" fuzz build
}

run() { # target, where new inputs go, libFuzzer options
    t=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    if ! "$BIN/$t" "$dir" "corpus/$t" $OPTS "$@" > "$dir.log" 2>&1; then
        tail -n 40 "$dir.log"
        echo "fuzz: $t failed: the input is in fuzz/artifacts/$t or above; $dir.log has the run" >&2
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir.log")
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$dir.log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$dir.log")
    echo "$t: $execs executions, $cov, peak RSS $rss MB"
}

slowest() { # target: the slowest input of the corpus, in ms
    "$BIN/$1" corpus/"$1"/* 2>&1 | sed -n 's/^Executed .* in \([0-9]*\) ms$/\1/p' | sort -n | tail -n 1
}

case ${1:-} in
smoke)
    build
    for t in $TARGETS; do
        rm -rf "$OUT/fuzz-smoke/$t"
        run "$t" "$OUT/fuzz-smoke/$t" -max_total_time="${2:-20}"
    done
    ;;
long)
    build
    run "$2" "$OUT/fuzz-long/$2" -runs="${3:-10000000}"
    ;;
report)
    build
    shift
    for t in ${*:-$TARGETS}; do
        ms=$(slowest "$t")
        n=$(ls "corpus/$t" | wc -l)
        echo "$t: corpus $n inputs, slowest ${ms:-0} ms"
        if [ "${ms:-0}" -gt 10 ]; then
            echo "fuzz: an input of corpus/$t takes ${ms} ms (over 10)" >&2
            exit 1
        fi
    done
    ;;
*)
    echo "usage: fuzz.sh smoke [SECS] | long TARGET [RUNS] | report [TARGET...]" >&2
    exit 2
    ;;
esac
