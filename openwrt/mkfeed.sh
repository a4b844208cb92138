#!/bin/sh
# Writes an OpenWrt package feed from static binaries:
#   openwrt/mkfeed.sh OUTDIR VERSION ARCH=BINARY [ARCH=BINARY ...]
# Per architecture: OUTDIR/<arch>/nftop_<version>_<arch>.ipk (the binary at
# /usr/sbin/nftop, the man page at /usr/share/man/man8/nftop.8.gz) and the
# index files Packages, Packages.gz (and Packages.sig when
# NFTOP_SIGN_KEY names a usign/signify secret key).
#
# The .ipk format is OpenWrt's scripts/ipkg-build: a gzip-compressed tar
# (not an ar archive) of ./debian-binary ("2.0"), ./control.tar.gz and
# ./data.tar.gz, owned by root, with a fixed mtime for reproducibility.
set -eu
man=$(dirname "$0")/nftop.8
out=$1 version=$2
shift 2
mtime=@${SOURCE_DATE_EPOCH:-1700000000}
tarx() { tar --format=gnu --numeric-owner --owner=0 --group=0 --mtime="$mtime" --sort=name "$@"; }
for spec in "$@"; do
    arch=${spec%%=*} bin=${spec#*=}
    # What readelf -h must say of a binary for the architecture: a mipsel
    # binary in the mips_24kc feed would install fine and never run.
    case $arch in
    x86_64) want="X86-64 little" ;;
    i386_pentium4) want="80386 little" ;;
    aarch64_cortex-a53 | aarch64_generic) want="AArch64 little" ;;
    arm_cortex-a7_neon-vfpv4 | arm_cortex-a15_neon-vfpv4) want="ARM little" ;;
    mipsel_24kc) want="MIPS little" ;;
    mips_24kc) want="MIPS big" ;;
    riscv64_riscv64) want="RISC-V little" ;;
    *) echo "mkfeed: unknown OpenWrt architecture '$arch'" >&2; exit 2 ;;
    esac
    hdr=$(readelf -h "$bin" 2>/dev/null) || { echo "mkfeed: $bin is not an ELF file" >&2; exit 1; }
    machine=$(echo "$hdr" | sed -n 's/^ *Machine: *//p')
    endian=$(echo "$hdr" | sed -n 's/^ *Data: *.*, \([a-z]*\) endian/\1/p')
    case "$machine $endian" in
    *"${want% *}"*" ${want#* }") ;;
    *) echo "mkfeed: $bin is a $machine ($endian endian) binary, not one for $arch" >&2; exit 1 ;;
    esac
    if readelf -lW "$bin" | grep -q 'INTERP'; then
        echo "mkfeed: $bin is dynamically linked (has an ELF interpreter): refusing to package it" >&2
        exit 1
    fi
    dir=$out/$arch
    work=$(mktemp -d)
    mkdir -p "$dir" "$work/data/usr/sbin" "$work/data/usr/share/man/man8" "$work/control"
    install -m 0755 "$bin" "$work/data/usr/sbin/nftop"
    # The man page is about 2 KB gzipped; OpenWrt has no man by default,
    # but the page is there for those who install one (or copy it off).
    gzip -9nc "$man" >"$work/data/usr/share/man/man8/nftop.8.gz"
    size=$(du -sb "$work/data" | cut -f1)
    cat >"$work/control/control" <<CTL
Package: nftop
Version: $version
Depends: libc, kmod-nf-conntrack-netlink
Source: https://example.invalid/nftop
License: GPL-2.0-only
Section: net
URL: https://example.invalid/nftop
Architecture: $arch
Installed-Size: $size
Description: top for netfilter conntrack: live bandwidth per connection,
 NAT view and in/out interface, across every interface at once.
CTL
    printf '2.0\n' >"$work/debian-binary"
    (cd "$work/control" && tarx -czf ../control.tar.gz ./control)
    (cd "$work/data" && tarx -czf ../data.tar.gz ./usr)
    ipk=$dir/nftop_${version}_${arch}.ipk
    (cd "$work" && tarx -czf ipk.tar.gz ./debian-binary ./control.tar.gz ./data.tar.gz)
    mv "$work/ipk.tar.gz" "$ipk"
    {
        sed '/^Description:/,$d' "$work/control/control"
        echo "Filename: $(basename "$ipk")"
        echo "Size: $(stat -c %s "$ipk")"
        echo "SHA256sum: $(sha256sum "$ipk" | cut -d' ' -f1)"
        sed -n '/^Description:/,$p' "$work/control/control"
        echo
    } >"$dir/Packages"
    gzip -9nc "$dir/Packages" >"$dir/Packages.gz"
    if [ -n "${NFTOP_SIGN_KEY:-}" ]; then
        # usign signatures are signify (ed25519) signatures.
        signify-openbsd -S -s "$NFTOP_SIGN_KEY" -m "$dir/Packages" -x "$dir/Packages.sig"
    fi
    rm -rf "$work"
    echo "feed: $ipk ($(stat -c %s "$ipk") bytes)"
done
