#!/bin/sh
# make deps: the pinned toolchains, installed when missing.
#   tests/toolchain.sh STABLE NIGHTLY
# STABLE is rust-toolchain.toml's channel (e.g. 1.95.0), NIGHTLY the
# Makefile's. Never changes the default toolchain and never updates a
# channel (no `rustup update`, no `rustup default`).
#
# Some machines ship "1.95.0-<host>" as a link to their `stable` toolchain.
# That is the pinned version only while `stable` is 1.95.0; once `stable`
# moves, the link names a toolchain it no longer is. Then (only then) the
# link, not its target, is removed and the real 1.95.0 installed.
set -eu
stable=${1:?usage: tests/toolchain.sh STABLE NIGHTLY} nightly=${2:?usage: tests/toolchain.sh STABLE NIGHTLY}
command -v rustup >/dev/null || {
    echo "make deps: rustup is missing; install it (https://rustup.rs), then run make deps again" >&2
    exit 2
}
version() { rustc "+$1" -V 2>/dev/null | cut -d' ' -f2; }
host=$(rustc "+$stable" -vV 2>/dev/null | sed -n 's/^host: //p')
[ -n "$host" ] || host=$(rustup show 2>/dev/null | sed -n 's/^Default host: //p')
have=$(version "$stable" || true)
if [ "$have" != "$stable" ]; then
    link="$(rustup show home)/toolchains/$stable-$host"
    if [ -L "$link" ]; then
        echo "make deps: toolchain $stable-$host is a link to rustc $have; replacing the link with the real $stable"
        rm "$link"
    fi
    echo "make deps: installing Rust $stable (rust-toolchain.toml)"
    rustup toolchain install "$stable" --profile minimal --component clippy,rustfmt --no-self-update
    have=$(version "$stable")
    [ "$have" = "$stable" ] || {
        echo "make deps: rustc +$stable reports $have" >&2
        exit 1
    }
fi
# Lint needs clippy and rustfmt of exactly this toolchain.
rustup component list --toolchain "$stable" --installed 2>/dev/null | grep -q '^clippy' &&
    rustup component list --toolchain "$stable" --installed 2>/dev/null | grep -q '^rustfmt' ||
    rustup component add --toolchain "$stable" clippy rustfmt
rustup toolchain list | grep -q "^$nightly" || rustup toolchain install "$nightly" --profile minimal --no-self-update
