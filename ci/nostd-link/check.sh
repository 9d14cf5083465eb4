#!/usr/bin/env bash
# Prove that ctrack's core (no default features) needs neither std nor an
# allocator: link it into a `#![no_std]`, `#![no_main]` binary without the
# `alloc` crate, for the Linux host and three bare-metal targets, and check
# that the tracker really is in each image.
#
# Usage: ci/nostd-link/check.sh            (from anywhere)
# Needs: cargo, rustup (to add missing targets), a C compiler driver `cc`
# for the host link; `llvm-nm`/`nm` and `llvm-size`/`size` if present.
set -euo pipefail

cd "$(dirname "$0")"

EMBEDDED_TARGETS=(thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf)
HOST=$(rustc -vV | sed -n 's/^host: //p')
case "$HOST" in
    *-linux-*) ;;
    *) echo "nostd-link: host link recipe only for *-linux-* hosts (host is $HOST)" >&2; exit 1 ;;
esac

fail() { echo "nostd-link: FAIL: $*" >&2; exit 1; }

if command -v rustup >/dev/null 2>&1; then
    installed=$(rustup target list --installed)
    for t in "${EMBEDDED_TARGETS[@]}"; do
        grep -qx "$t" <<<"$installed" || rustup target add "$t"
    done
fi

NM=$(command -v llvm-nm || command -v nm || true)
SIZE=$(command -v llvm-size || command -v size || true)

# ctrack built for this crate must not have its `std`/`alloc` features on.
features=$(cargo tree -e features -i ctrack --prefix none 2>/dev/null | grep -o 'ctrack feature "[a-z]*"' || true)
if grep -q -e '"std"' -e '"alloc"' <<<"$features"; then
    fail "ctrack is built with std/alloc here: $features"
fi

check_binary() {
    local target=$1 bin=$2
    [ -f "$bin" ] || fail "$target: no binary at $bin"
    if [ -n "$NM" ]; then
        local syms
        syms=$("$NM" -C "$bin" 2>/dev/null) || fail "$target: cannot read symbols of $bin"
        grep -q ' _start$' <<<"$syms" || fail "$target: no _start in $bin"
        grep -q 'ctrack::' <<<"$syms" || fail "$target: no ctrack code in $bin (optimised away?)"
        if grep -q -e '__rust_alloc' -e '__rdl_alloc' -e '__rg_alloc' -e 'std::' <<<"$syms"; then
            fail "$target: allocator or std symbols in $bin"
        fi
        # The zeroed static table is in .bss (nm type b/B), not .data.
        grep -Eq ' [bB] nostd_link::STATIC_TABLE(::h[0-9a-f]+)?$' <<<"$syms" \
            || fail "$target: the static table is not in .bss: $(grep STATIC_TABLE <<<"$syms")"
    else
        echo "nostd-link: warning: no nm, symbol checks skipped" >&2
    fi
    echo "== $target: $bin"
    if [ -n "$SIZE" ]; then "$SIZE" "$bin"; else ls -l "$bin"; fi
}

echo "--- host ($HOST): linked with -nostartfiles -nostdlib -static"
cargo build --release --target "$HOST"
check_binary "$HOST" "target/$HOST/release/nostd-link"

for t in "${EMBEDDED_TARGETS[@]}"; do
    echo "--- $t: linked with rust-lld and link.x"
    cargo build --release --target "$t"
    check_binary "$t" "target/$t/release/nostd-link"
done

echo "nostd-link: OK (ctrack links without std or an allocator on $HOST ${EMBEDDED_TARGETS[*]})"
