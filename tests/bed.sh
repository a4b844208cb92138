#!/bin/sh
# A small router in network namespaces, for the demo, the end-to-end tests
# and the benchmark. Only documentation addresses are used, and nothing
# leaves the namespaces this script creates.
#
#   bed.sh up P      create namespaces P-cli, P-rtr, P-inet
#   bed.sh down P    remove them (safe to call twice, or for a partial bed)
#   bed.sh traffic P start demo traffic in the background (iperf3, ping)
#   bed.sh uplink-del P / uplink-add P   uplink 1 vanishes / comes back
#
# Topology:
#   P-cli  cli0 192.0.2.2/24 2001:db8:1::2/64  (a LAN host; runs a service
#          on tcp 8022, the target of the port forward)
#     |
#   P-rtr  lan0 192.0.2.1/24 2001:db8:1::1/64
#          wan0 198.51.100.1/24 2001:db8:2::1/64   uplink 1 (default route)
#          wan1 203.0.113.1/25 2001:db8:3::1/64    uplink 2 (table 102)
#          IPv4 masquerade on wan0 and wan1, IPv6 routed without NAT,
#          tcp dport 5202 gets ct mark 2 -> rule fwmark 2 -> table 102,
#          port forward wan0 tcp 2222 -> 192.0.2.2:8022,
#          a service on the router itself on tcp 8080,
#          egress shaping on wan0/wan1 (tbf, $NFTOP_BED_RATE, default 20mbit)
#     |  (both uplinks)
#   P-inet inet0 198.51.100.2/24 2001:db8:2::2/64, inet1 203.0.113.2/25
#          2001:db8:3::2/64 (IPv6 returns through uplink 1 only),
#          servers on lo: 203.0.113.200, 2001:db8:ff::200
set -eu

cmd=${1:?usage: bed.sh up|down|traffic PREFIX}
P=${2:?usage: bed.sh up|down|traffic PREFIX}
RATE=${NFTOP_BED_RATE:-20mbit}
CLI=$P-cli RTR=$P-rtr INET=$P-inet
PIDS=/tmp/nftop-bed-$P.pids

. "$(dirname "$0")/topology.sh"

down() {
    if [ -f "$PIDS" ]; then
        kill $(cat "$PIDS") 2>/dev/null || true
        rm -f "$PIDS"
    fi
    topology_down
}

up() {
    down
    topology_up
    x "$RTR" ip route add default via 198.51.100.2 dev wan0
    x "$RTR" ip -6 route add default via 2001:db8:2::2 dev wan0
    x "$RTR" ip route add default via 203.0.113.2 dev wan1 table 102
    # Replies carry the mark too: the LAN must be reachable in table 102.
    x "$RTR" ip route add 192.0.2.0/24 dev lan0 table 102
    x "$RTR" ip rule add fwmark 2 lookup 102 priority 100
    x "$RTR" sysctl -qw net.netfilter.nf_conntrack_timestamp="${NFTOP_BED_TIMESTAMP:-1}"
    # Reverse-path filtering would drop the marked connections' replies.
    x "$RTR" sysctl -qw net.ipv4.conf.all.rp_filter=0
    x "$RTR" sysctl -qw net.ipv4.conf.default.rp_filter=0
    for l in lan0 wan0 wan1; do x "$RTR" sysctl -qw "net.ipv4.conf.$l.rp_filter=0"; done
    x "$RTR" nft -f - <<'EOF'
table inet nftop_bed {
    chain pre_mangle {
        type filter hook prerouting priority mangle; policy accept;
        iifname "lan0" tcp dport 5202 ct state new ct mark set 2
        meta mark set ct mark
    }
    chain out_mangle {
        type route hook output priority mangle; policy accept;
        meta mark set ct mark
    }
    chain pre_nat {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "wan0" meta nfproto ipv4 tcp dport 2222 dnat ip to 192.0.2.2:8022
    }
    chain post_nat {
        type nat hook postrouting priority srcnat; policy accept;
        meta nfproto ipv4 oifname "wan0" masquerade
        meta nfproto ipv4 oifname "wan1" masquerade
    }
}
EOF
    for l in wan0 wan1; do
        x "$RTR" tc qdisc add dev "$l" root tbf rate "$RATE" burst 32kbit latency 50ms
    done

    topology_wait
}

# Runs "$@" again and again while the bed exists (a client that exits or
# fails is restarted), with no output, as a background job whose pid is
# remembered for `down`.
loop() {
    (
        exec >/dev/null 2>&1 </dev/null
        while [ -e "/run/netns/$CLI" ]; do "$@" || sleep 1; done
    ) &
    echo $! >>"$PIDS"
}

traffic() {
    # Servers in P-inet, clients in P-cli: two TCP flows (IPv4 masqueraded,
    # one marked over uplink 2), IPv6 routed (server to client), a paced
    # UDP flow, pings.
    for port in 5201 5202 5203 5204; do
        x "$INET" iperf3 -s -D -p $port >/dev/null 2>&1
    done
    sleep 0.3
    loop x "$CLI" iperf3 -c 203.0.113.200 -p 5201 -t 3600 -b 6M
    loop x "$CLI" iperf3 -c 203.0.113.200 -p 5202 -t 3600 -b 3M
    loop x "$CLI" iperf3 -6 -c 2001:db8:ff::200 -p 5203 -t 3600 -b 4M -R
    loop x "$CLI" iperf3 -u -c 203.0.113.200 -p 5204 -t 3600 -b 1M
    loop x "$CLI" ping -q -i 0.5 -c 20 203.0.113.200
    loop x "$CLI" ping -6 -q -i 0.5 -c 20 2001:db8:ff::200
}

# Uplink 1 goes away (the veth pair is deleted: the router loses wan0,
# its addresses and its routes, as when an LTE modem drops) and comes
# back as a new interface with the same name and a new ifindex.
uplink_del() {
    x "$RTR" ip link del wan0
}

uplink_add() {
    ip link add wan0 netns "$RTR" type veth peer name inet0 netns "$INET"
    x "$RTR" ip addr add 198.51.100.1/24 dev wan0
    x "$RTR" ip -6 addr add 2001:db8:2::1/64 dev wan0 nodad
    x "$RTR" ip link set wan0 up
    x "$RTR" tc qdisc add dev wan0 root tbf rate "$RATE" burst 32kbit latency 50ms
    x "$INET" ip addr add 198.51.100.2/24 dev inet0
    x "$INET" ip -6 addr add 2001:db8:2::2/64 dev inet0 nodad
    x "$INET" ip link set inet0 up
    x "$INET" ip -6 route add 2001:db8:1::/64 via 2001:db8:2::1
    x "$RTR" ip route add default via 198.51.100.2 dev wan0
    x "$RTR" ip -6 route add default via 2001:db8:2::2 dev wan0
}

case $cmd in
up) up ;;
down) down ;;
traffic) traffic ;;
uplink-del) uplink_del ;;
uplink-add) uplink_add ;;
*) echo "usage: bed.sh up|down|traffic PREFIX" >&2; exit 2 ;;
esac
