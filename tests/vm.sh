#!/bin/sh
# Boots a Debian bookworm kernel for a router CPU under qemu-system with a
# tiny initramfs (busybox-static, the conntrack modules, a static nftop),
# makes loopback connections with known sizes, runs
# `nftop --json --count 2` there and prints the guest console. On aarch64
# the guest also routes through a software flowtable (tests/vm-offload.sh:
# nft, tc, ip and nc come from Debian's packages with their libraries; one
# architecture only, for CI time). The assertions live in tests/vm.rs;
# this script only builds and boots.
#
#   sh tests/vm.sh ARCH NFTOP_BINARY     ARCH: mipsel | armv7 | aarch64 | s390x
#
# Packages come from deb.debian.org with a private apt state under
# $NFTOP_VM_CACHE (default target/vm): `apt-get download`, then
# `dpkg-deb -x`. Nothing is installed on the host and the host's apt
# configuration is not touched. Downloads are kept, so only the first run
# fetches (about 50 MB per architecture).
set -eu

arch=${1:?usage: tests/vm.sh mipsel|armv7|aarch64 NFTOP_BINARY}
bin=${2:?usage: tests/vm.sh ARCH NFTOP_BINARY}
[ -x "$bin" ] || { echo "vm.sh: no nftop binary at $bin: run make cross TARGET=..." >&2; exit 2; }
cache=$(realpath -m "${NFTOP_VM_CACHE:-target/vm}")

offload=
case $arch in
mipsel)
	deb=mipsel kflavour=4kc-malta console=ttyS0
	set -- qemu-system-mipsel -M malta -cpu 24Kc ;;
armv7)
	deb=armhf kflavour=armmp console=ttyAMA0
	set -- qemu-system-arm -M virt,highmem=off -cpu cortex-a15 ;;
aarch64)
	deb=arm64 kflavour=arm64 console=ttyAMA0 offload=aarch64-linux-gnu
	set -- qemu-system-aarch64 -M virt -cpu cortex-a53 ;;
s390x)
	# Not a router CPU: Debian's only big-endian architecture, so the
	# big-endian decoder meets a live kernel (bookworm has no mips).
	deb=s390x kflavour=s390x console=ttysclp0
	set -- qemu-system-s390x -M s390-ccw-virtio ;;
*) echo "vm.sh: unknown ARCH '$arch' (mipsel, armv7, aarch64, s390x)" >&2; exit 2 ;;
esac
command -v "$1" >/dev/null || { echo "vm.sh: $1 missing: apt-get install qemu-system-mips qemu-system-arm (make deps)" >&2; exit 2; }
for t in apt-get dpkg-deb cpio gzip strings; do
	command -v $t >/dev/null || { echo "vm.sh: $t missing: make deps" >&2; exit 2; }
done

# --- packages --------------------------------------------------------------
apt_dir=$cache/apt
mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial" "$cache/debs"
touch "$apt_dir/state/status"
cat > "$apt_dir/apt.conf" <<EOF
APT::Architecture "$deb";
APT::Architectures { "mipsel"; "armhf"; "arm64"; "s390x"; };
Dir::State "$apt_dir/state";
Dir::State::status "$apt_dir/state/status";
Dir::Cache "$apt_dir/cache";
Dir::Etc::sourcelist "$apt_dir/sources.list";
Dir::Etc::sourceparts "$apt_dir/none";
Acquire::Languages "none";
APT::Sandbox::User "root";
EOF
echo "deb http://deb.debian.org/debian bookworm main" > "$apt_dir/sources.list"
export APT_CONFIG="$apt_dir/apt.conf"
# A mirror in the middle of a sync serves indexes of the wrong size for a
# moment (seen here): try three times before failing.
retry() { "$@" || { sleep 5; "$@"; } || { sleep 15; "$@"; }; }
# One index update per cache and day (under a lock: the tests boot in
# parallel); Debian drops superseded kernel packages from the archive.
(
	flock 9
	[ -n "$(find "$apt_dir/updated" -mmin -1440 2>/dev/null)" ] ||
		{ retry apt-get -qq update && touch "$apt_dir/updated"; }
) 9>"$apt_dir/lock"

root=$cache/$arch
if [ ! -e "$root/ready" ]; then
	# The metapackage names the current kernel ABI (linux-image-6.1.0-NN-...).
	kpkg=$(apt-cache depends "linux-image-$kflavour:$deb" | sed -n 's/^ *Depends: \(linux-image-[^ :]*\).*/\1/p' | head -1)
	[ -n "$kpkg" ] || { echo "vm.sh: no kernel package for linux-image-$kflavour:$deb" >&2; exit 1; }
	rm -rf "$root" && mkdir -p "$root/debs"
	(cd "$root/debs" && retry apt-get -qq download "$kpkg:$deb" "busybox-static:$deb")
	for d in "$root"/debs/*.deb; do dpkg-deb -x "$d" "$root/x"; done
	rm -rf "$root/debs"
	touch "$root/ready"
fi
# Flow offloading's tools (tests/vm-offload.sh), dynamic binaries with
# every library they load.
if [ -n "$offload" ] && [ ! -e "$root/offload-ready" ]; then
	rm -rf "$root/offload" && mkdir -p "$root/offload/debs"
	(cd "$root/offload/debs" && retry apt-get -qq download $(for p in nftables libnftables1 \
		libnftnl11 libmnl0 libjansson4 libgmp10 libedit2 libbsd0 libmd0 libtinfo6 libxtables12 \
		libc6 iproute2 libbpf1 libelf1 zlib1g libcap2 netcat-openbsd; do echo "$p:$deb"; done))
	for d in "$root"/offload/debs/*.deb; do dpkg-deb -x "$d" "$root/offload/x"; done
	rm -rf "$root/offload/debs"
	touch "$root/offload-ready"
fi
kernel=$(ls "$root"/x/boot/vmlinu* | head -1)
kmod=$(ls -d "$root"/x/lib/modules/* | head -1)

# --- initramfs -------------------------------------------------------------
work=$(mktemp -d "$cache/initrd-$arch.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/mod" "$work/proc" "$work/sys" "$work/dev" "$work/tmp" "$work/etc"
cp "$root/x/bin/busybox" "$work/bin/busybox"
cp "$bin" "$work/bin/nftop"

# Modules in dependency order, read from each module's own `depends=`
# (an unpacked package has no modules.dep). libcrc32c asks the crypto API
# for crc32c, which would need a modprobe: load the generic one first.
order=""
add_module() {
	local name file deps
	name=$1
	case " $order " in *" $name "*) return 0 ;; esac
	file=$(find "$kmod" -name "$name.ko" -o -name "$(echo "$name" | tr _ -).ko" | head -1)
	[ -n "$file" ] || { echo "vm.sh: module $name not in $kmod" >&2; exit 1; }
	deps=$(strings -a "$file" | sed -n 's/^depends=//p' | tr , ' ')
	for d in $deps; do add_module "$d"; done
	cp "$file" "$work/mod/$name.ko"
	order="$order $name"
}
[ -z "$(find "$kmod" -name crc32c_generic.ko)" ] || add_module crc32c_generic
add_module nf_conntrack_netlink
if [ -n "$offload" ]; then
	# The flowtable (nf_flow_table, its inet type, the nft expression that
	# adds flows to it), veths and the shapers.
	for m in nf_flow_table nf_flow_table_inet nft_flow_offload veth sch_tbf sch_prio; do add_module $m; done
	x=$root/offload/x
	mkdir -p "$work/sbin" "$work/usr/sbin" "$work/lib/$offload" "$work/usr/lib/$offload"
	cp -P "$x"/lib/ld-linux* "$work/lib/"
	cp -P "$x"/lib/$offload/*.so* "$work/lib/$offload/"
	cp -P "$x"/usr/lib/$offload/*.so* "$work/usr/lib/$offload/"
	cp "$x/usr/sbin/nft" "$work/usr/sbin/nft"
	cp "$x/sbin/tc" "$work/sbin/tc"
	cp "$x/bin/ip" "$work/sbin/ip"
	cp "$x/bin/nc.openbsd" "$work/sbin/nc"
	cp "$(dirname "$0")/vm-offload.sh" "$work/offload.sh"
fi

cat > "$work/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
exec >/dev/console 2>&1 </dev/console
mount -t proc proc /proc
mount -t sysfs sys /sys
for m in $order; do
	case \$m in nf_conntrack) p=enable_hooks=1 ;; *) p= ;; esac
	insmod /mod/\$m.ko \$p || echo "NFTOP-VM-ERROR insmod \$m"
done
echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct
echo 1 > /proc/sys/net/netfilter/nf_conntrack_timestamp
ip link set lo up
# Known traffic: 50000 bytes over TCP on IPv4 and IPv6, 3 pings of 100
# bytes (IPv4), 2 pings of 200 bytes (IPv6). The servers read until the
# client's FIN, then close when their 'sleep' stdin ends.
(sleep 2 | nc -l -p 5555 > /tmp/rx4) &
(sleep 2 | nc -l -p 5556 > /tmp/rx6) &
sleep 1
dd if=/dev/zero bs=1000 count=50 2>/dev/null | nc 127.0.0.1 5555
dd if=/dev/zero bs=1000 count=50 2>/dev/null | nc ::1 5556
ping -q -c 3 -s 100 127.0.0.1 > /dev/null
ping6 -q -c 2 -s 200 ::1 > /dev/null
wait
echo "NFTOP-VM-RX \$(wc -c < /tmp/rx4) \$(wc -c < /tmp/rx6)"
echo "NFTOP-VM-UNAME \$(uname -m) \$(uname -r)"
echo NFTOP-VM-JSON-BEGIN
/bin/nftop --json --count 2 -u 1 -L -t 0 --no-dns
echo "NFTOP-VM-JSON-END \$?"
echo NFTOP-VM-PROC-BEGIN
cat /proc/net/nf_conntrack
echo NFTOP-VM-PROC-END
# The end of a connection: ICMP entries now expire 1 s after their last
# packet, so a ping of 300 bytes made while nftop runs is removed by the
# kernel (by nftop's next dump or the garbage collector) and reported by a
# DESTROY event with its final counters.
echo 1 > /proc/sys/net/netfilter/nf_conntrack_icmp_timeout
echo NFTOP-VM-EVENTS-BEGIN
/bin/nftop --json --count 6 -u 1 -L -t 0 --no-dns &
sleep 1
ping -q -c 1 -s 300 127.0.0.1 > /dev/null
wait
echo NFTOP-VM-EVENTS-END
[ ! -e /offload.sh ] || sh /offload.sh
reboot -f
EOF
chmod +x "$work/init"
# The guest's / is this directory, which mktemp made 0700: a router's root
# is 0755, and nftop reads /etc as nobody after start.
chmod 755 "$work"
(cd "$work" && rm -f initrd.gz && find . -path ./initrd.gz -prune -o -print | cpio -o -H newc -R 0:0 --quiet | gzip -1 > "$cache/initrd-$arch.gz")

# --- boot ------------------------------------------------------------------
# -no-reboot turns the guest's reboot (and a kernel panic: panic=-1) into
# qemu's exit; timeout is the last resort.
timeout 300 "$@" -m 256 -smp 1 -nographic -no-reboot -monitor none -nic none -vga none \
	-kernel "$kernel" -initrd "$cache/initrd-$arch.gz" \
	-append "console=$console quiet panic=-1 rdinit=/init" </dev/null
