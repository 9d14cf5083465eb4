#!/usr/bin/env bash
# Run every cargo-fuzz target of ctrack for a fixed time; fail on a crash.
#
# Usage: fuzz/run-ci.sh [SECONDS_PER_TARGET]   (default 30; from anywhere)
# Builds with debug assertions and overflow checks (an overflow is a crash).
# Env:   FUZZ_SANITIZER=address|none   (default address; falls back to none
#                                       if the ASAN build fails)
#        FUZZ_TARGETS="track ..."      (default: all targets)
#        FUZZ_FEATURES="compact-tcp,ipv4-only"  (the fuzz crate's features,
#                                       which turn on ctrack's; default none)
#
# Needs cargo, a C++ compiler (libfuzzer-sys compiles libFuzzer) and network
# access the first time (cargo install cargo-fuzz, crates). Works on the
# stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly flags.
set -euo pipefail

SECONDS_PER_TARGET=${1:-30}
case "$SECONDS_PER_TARGET" in
    ''|*[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUSTC_BOOTSTRAP=1
# Full backtraces in crash reports.
export RUST_BACKTRACE=1

command -v cargo >/dev/null || { echo "run-ci: cargo not found" >&2; exit 1; }
if ! command -v c++ >/dev/null && ! command -v clang++ >/dev/null && ! command -v g++ >/dev/null; then
    echo "run-ci: a C++ compiler is needed to build libFuzzer (apt-get install g++)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run-ci: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

SANITIZER=${FUZZ_SANITIZER:-address}
FEATURES=()
if [ -n "${FUZZ_FEATURES:-}" ]; then
    FEATURES=(--features "$FUZZ_FEATURES")
fi
if ! cargo fuzz build "${FEATURES[@]}" --debug-assertions --sanitizer "$SANITIZER"; then
    if [ "$SANITIZER" = none ]; then
        echo "run-ci: fuzz build failed" >&2
        exit 1
    fi
    echo "run-ci: build with sanitizer '$SANITIZER' failed; retrying without a sanitizer" >&2
    SANITIZER=none
    cargo fuzz build "${FEATURES[@]}" --debug-assertions --sanitizer none
fi

TARGETS=${FUZZ_TARGETS:-$(cargo fuzz list)}
# Only artifacts written by this run are reported.
mkdir -p artifacts
stamp=$(mktemp "${TMPDIR:-/tmp}/ctrack-fuzz-stamp.XXXXXX")
trap 'rm -f "$stamp"' EXIT
failed=()
for t in $TARGETS; do
    echo "=== fuzzing $t for ${SECONDS_PER_TARGET}s (sanitizer: $SANITIZER${FUZZ_FEATURES:+, features: $FUZZ_FEATURES})"
    mkdir -p "corpus/$t"
    # -timeout: one input taking >10 s is a bug (every operation is bounded).
    if ! cargo fuzz run "$t" "${FEATURES[@]}" --debug-assertions --sanitizer "$SANITIZER" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1; then
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "run-ci: CRASH in: ${failed[*]}" >&2
    for t in "${failed[@]}"; do
        find "artifacts/$t" -type f -newer "$stamp" 2>/dev/null | while read -r a; do
            echo "--- $a" >&2
            od -An -tx1 -v "$a" | tr -d ' \n' >&2
            echo >&2
        done
    done
    echo "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --debug-assertions <target> <artifact>" >&2
    exit 1
fi
echo "run-ci: no crashes (${SECONDS_PER_TARGET}s per target)"
