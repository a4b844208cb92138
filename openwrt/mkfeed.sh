#!/bin/sh
# Writes an OpenWrt package feed from static binaries:
#   openwrt/mkfeed.sh OUTDIR VERSION ARCH=BINARY [ARCH=BINARY ...]
# Per architecture: OUTDIR/<arch>/nftop_<version>_<arch>.ipk (the binary at
# /usr/sbin/nftop, the man page at /usr/share/man/man8/nftop.8.gz) and the
# index files Packages, Packages.gz and Packages.sig. Signing is the normal
# path (opkg checks signatures by default): with NFTOP_SIGN_KEY (a
# usign/signify secret key), else with dist/keys/nftop.sec (NFTOP_KEY_DIR),
# created once and kept.
#
# The .ipk format is OpenWrt's scripts/ipkg-build: a gzip-compressed tar
# (not an ar archive) of ./debian-binary ("2.0"), ./control.tar.gz and
# ./data.tar.gz, owned by root, with a fixed mtime for reproducibility.
set -eu
man=$(dirname "$0")/nftop.8
files=$(dirname "$0")/files
out=$1 version=$2
shift 2
# Control fields come from the SDK package's Makefile, so the prebuilt
# and the SDK-built package cannot say different things (tests/feed.rs).
pkgmk=$(dirname "$0")/Makefile
field() { sed -n "s/^ *$1:=//p" "$pkgmk" | head -1; }
url=$(field URL)
license=$(field PKG_LICENSE)
source_url=$(field PKG_SOURCE_URL | sed "s/\$(PKG_VERSION)/$version/g")
# DEPENDS: the +packages (RUST_ARCH_DEPENDS restricts architectures, it
# names no package); libc is what every OpenWrt package depends on.
depends=$(field DEPENDS | tr ' ' '\n' | sed -n 's/^+//p' | tr '\n' ' ' | sed 's/ $//; s/ /, /g')
depends="libc${depends:+, $depends}"
key=${NFTOP_SIGN_KEY:-}
if [ -z "$key" ]; then
    keydir=${NFTOP_KEY_DIR:-dist/keys}
    key=$keydir/nftop.sec
    if [ ! -f "$key" ]; then
        mkdir -p "$keydir"
        signify-openbsd -G -n -c "nftop feed key" -p "$keydir/nftop.pub" -s "$key"
        echo "feed: created the signing key pair $key and $keydir/nftop.pub: keep them"
    fi
fi
pub=${key%.sec}.pub
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
    mkdir -p "$dir" "$work/data/usr/sbin" "$work/data/usr/share/man/man8" "$work/control" \
        "$work/data/etc/init.d" "$work/data/etc/config"
    install -m 0755 "$bin" "$work/data/usr/sbin/nftop"
    # The procd service and its UCI file, kept on upgrades (conffiles).
    install -m 0755 "$files/nftop.init" "$work/data/etc/init.d/nftop"
    install -m 0644 "$files/nftop.config" "$work/data/etc/config/nftop"
    echo /etc/config/nftop >"$work/control/conffiles"
    # The man page is about 2 KB gzipped; OpenWrt has no man by default,
    # but the page is there for those who install one (or copy it off).
    gzip -9nc "$man" >"$work/data/usr/share/man/man8/nftop.8.gz"
    size=$(du -sb "$work/data" | cut -f1)
    cat >"$work/control/control" <<CTL
Package: nftop
Version: $version
Depends: $depends
Source: $source_url/nftop-$version.tar.gz
License: $license
Section: net
URL: $url
Architecture: $arch
Installed-Size: $size
Description: top for netfilter conntrack: live bandwidth per connection,
 NAT view and in/out interface, across every interface at once.
CTL
    printf '2.0\n' >"$work/debian-binary"
    (cd "$work/control" && tarx -czf ../control.tar.gz ./control ./conffiles)
    (cd "$work/data" && tarx -czf ../data.tar.gz ./usr ./etc)
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
    # usign signatures are signify (ed25519) signatures.
    signify-openbsd -S -s "$key" -m "$dir/Packages" -x "$dir/Packages.sig"
    rm -rf "$work"
    echo "feed: $ipk ($(stat -c %s "$ipk") bytes)"
done
echo "feed: signed with $key. On the router (OpenWrt 24.10 and older), with $pub copied there:"
echo "  opkg-key add nftop.pub"
echo "  echo 'src/gz nftop https://YOUR.SERVER/PATH/ARCH' >> /etc/opkg/customfeeds.conf"
