#!/bin/sh
# Build every fuzz target, replay the committed seeds and regressions,
# then fuzz each target for a while. CI calls it with no arguments; exit
# status is non-zero when any target crashes, hangs or fails to build.
#
#   fuzz/smoke.sh                     every target, 30 s each
#   FUZZ_SECONDS=600 fuzz/smoke.sh kernel monitor
#
# Runs on stable with `-s none` (no sanitizer, see
# /work/shared/docs/toolchain.md). New corpus entries go to
# fuzz/corpus/<target> (ignored by git); crashes to fuzz/artifacts/.
# A crash must become fuzz/regressions/<target>/<name> plus a fix.
set -eu

cd "$(dirname "$0")"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-30}"
ALL="kernel libudev monitor sysfs trace_file roundtrip differential matcher"
TARGETS="${*:-$ALL}"

# `cargo fuzz build` takes one target at most: build all, or each named.
if [ $# -eq 0 ]; then
    cargo fuzz build -s none
else
    for t in $TARGETS; do cargo fuzz build -s none "$t"; done
fi

status=0
for t in $TARGETS; do
    dirs=""
    for d in seeds regressions; do
        if [ -d "$d/$t" ]; then dirs="$dirs $d/$t"; fi
    done
    mkdir -p "corpus/$t"
    echo "== $t: replay$dirs"
    if [ -n "$dirs" ] && ! cargo fuzz run -s none "$t" $dirs -- -runs=0; then
        echo "== $t: REPLAY FAILED" >&2
        status=1
        continue
    fi
    echo "== $t: fuzz ${SECONDS_PER_TARGET}s"
    if ! nice -n 10 cargo fuzz run -s none "$t" "corpus/$t" $dirs -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -max_len=9000 \
        -print_final_stats=1; then
        echo "== $t: CRASH (see fuzz/artifacts/$t)" >&2
        status=1
    fi
done
exit $status
