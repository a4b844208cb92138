#!/bin/sh
# `make dist`: the source tarball the OpenWrt SDK builds from, offline.
#   openwrt/mkdist.sh OUTDIR VERSION      writes OUTDIR/nftop-VERSION.tar.gz
#                                         and prints its sha256
# and OUTDIR/openwrt/: HEAD's openwrt/Makefile and openwrt/files, the
# Makefile's PKG_HASH set to that sha256 (the tracked one says `skip`),
# the package directory a packager copies into a feed or an SDK.
# Contents: the committed tree of HEAD (uncommitted changes are not in
# it; fuzz/ is left out by .gitattributes), without openwrt/Makefile (the recipe
# that builds the tarball is shipped beside it, in OUTDIR/openwrt/),
# plus every crate of Cargo.lock vendored under vendor/ and a
# .cargo/config.toml that points cargo there, so `cargo install --locked`
# in the SDK needs no network.
# Reproducible: entries sorted by name, mtime fixed (SOURCE_DATE_EPOCH,
# default 1700000000), owner and group 0, gzip without a name or time.
# cargo's vendor output changes between cargo versions (newer ones add a
# "$comment" to every .cargo-checksum.json), so the hash holds for one
# cargo: NFTOP_CARGO (make passes the pinned nightly), else `cargo`.
set -eu
out=$1 version=$2
top=$(git rev-parse --show-toplevel)
name=nftop-$version
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
git -C "$top" archive --format=tar --prefix="$name/" HEAD | tar -x -C "$work"
rm -f "$work/$name/openwrt/Makefile"
(
    cd "$work/$name"
    ${NFTOP_CARGO:-cargo} vendor --locked --versioned-dirs vendor 2>/dev/null >"$work/vendor.toml"
    {
        printf '\n# Added by make dist: build from the vendored crates, offline.\n'
        cat "$work/vendor.toml"
    } >>.cargo/config.toml
)
mkdir -p "$out"
mtime=@${SOURCE_DATE_EPOCH:-1700000000}
tar --format=gnu --sort=name --mtime="$mtime" --owner=0 --group=0 --numeric-owner \
    -C "$work" -cf - "$name" | gzip -9n >"$out/$name.tar.gz"
hash=$(sha256sum "$out/$name.tar.gz" | cut -d' ' -f1)
rm -rf "$out/openwrt" "$work/pkg"
mkdir -p "$work/pkg"
git -C "$top" archive --format=tar HEAD openwrt/Makefile openwrt/files | tar -x -C "$work/pkg"
sed -i "s/^PKG_VERSION:=.*/PKG_VERSION:=$version/; s/^PKG_HASH:=.*/PKG_HASH:=$hash/" "$work/pkg/openwrt/Makefile"
mv "$work/pkg/openwrt" "$out/openwrt"
echo "$hash"
