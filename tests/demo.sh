#!/bin/sh
# `make demo`: show nftop on real traffic. On a router with its own
# forwarded traffic, nftop runs on the host; otherwise (a fresh machine)
# it runs inside a small router built in network namespaces (tests/bed.sh)
# with known traffic, torn down when nftop exits (q or Ctrl-C).
# NFTOP_DEMO=bed forces the namespace router.
set -eu
cd "$(dirname "$0")/.."
BIN=${NFTOP_BIN:-target/release/nftop}
count=$(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0)
fwd=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo 0)
if [ "${NFTOP_DEMO:-}" != bed ] && [ "$fwd" = 1 ] && [ "$count" -gt 20 ]; then
    echo "this host routes traffic ($count tracked connections): running nftop here"
    exec "$BIN" "$@"
fi
P=nftopdemo$$
trap 'sh tests/bed.sh down $P' EXIT INT TERM
echo "building a router in network namespaces $P-{cli,rtr,inet} with traffic..."
sh tests/bed.sh up $P
sh tests/bed.sh traffic $P
sleep 1
ip netns exec $P-rtr "$BIN" -V -a 2 "$@" || true
