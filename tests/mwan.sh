#!/bin/sh
# Multi-uplink routers in network namespaces, one per way of sending
# traffic over a second uplink (issue: "right on real multi-WAN
# routers"). Documentation addresses only; nothing leaves the namespaces.
#
#   mwan.sh up P SCHEME    SCHEME: simple | mwan3 | ecmp | ports | tunnel
#   mwan.sh down P
#   mwan.sh wan1-down P / wan1-up P   (mwan3: the second uplink drops and
#                                      returns, routes restored as mwan3 does)
#
# Topology (as tests/bed.sh, with both uplinks masqueraded):
#   P-cli  cli0 192.0.2.2/24 2001:db8:1::2/64; sink on tcp 8022
#   P-rtr  lan0 192.0.2.1/24 2001:db8:1::1/64
#          wan0 198.51.100.1/24 2001:db8:2::1/64  uplink 1 (main default)
#          wan1 203.0.113.1/25  2001:db8:3::1/64  uplink 2
#          port forwards: tcp 2222 on wan0 and on wan1 -> 192.0.2.2:8022
#          forward-chain counters per test flow: table inet nftop_test
#   P-inet inet0 198.51.100.2/24 2001:db8:2::2/64 (gateway of uplink 1, and
#          the "ISP host on the uplink's subnet"), inet1 203.0.113.2/25
#          2001:db8:3::2/64 (gateway of uplink 2); servers on lo:
#          203.0.113.200, 2001:db8:ff::200. IPv6 to the LAN returns
#          through uplink 1, except where a scheme says otherwise.
#
# Schemes (what routes the test flows, udp dport 5202 unless said):
#   simple  ct mark 2 on new LAN udp 5202, copied to packets only from the
#           LAN; rule fwmark 2 -> table 200 = only a default via wan1;
#           strict rp_filter everywhere
#   mwan3   mwan3's scheme (net/mwan3 mwan3.sh/common.sh): mask 0x3f00,
#           wan0 id 1 (0x100), wan1 id 2 (0x200); connmark restored on
#           every packet in prerouting and output, iif marks, connected
#           networks 0x3f00, policy udp 5202/5203 -> wan1, default wan0; tables
#           1/2 = default + copies of the connected routes; rules iif
#           (1000+id), fwmark (2000+id), unreachable (3000+id)
#   ecmp    a multipath default over wan0 and wan1, no marks,
#           fib_multipath_hash_policy=1 (IPv6 too, routed)
#   ports   rule ipproto udp dport 5202 -> table 200 (no marks)
#   tunnel  an L3 tun device (no link-layer address) tun0 over wan0 as the
#           second uplink: ct mark 3 on LAN udp 5202, fwmark 3 -> table 300
#           = default dev tun0; masquerade on tun0
set -eu

cmd=${1:?usage: mwan.sh up|down|wan1-down|wan1-up PREFIX [SCHEME]}
P=${2:?usage: mwan.sh up|down PREFIX [SCHEME]}
SCHEME=${3:-simple}
CLI=$P-cli RTR=$P-rtr INET=$P-inet
RATE=${NFTOP_BED_RATE:-60mbit}

. "$(dirname "$0")/topology.sh"

down() {
    topology_down
}

sysctls() {
    ns=$1 rp=$2
    x "$ns" sysctl -qw net.ipv4.ip_forward=1
    x "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1
    for i in all default $(x "$ns" ls /proc/sys/net/ipv4/conf | grep -v -e all -e default); do
        x "$ns" sysctl -qw "net.ipv4.conf.$i.rp_filter=$rp"
    done
}

# Table $1 gets copies of the connected routes (mwan3's
# mwan3_create_iface_route / set_connected_iptables).
copy_connected() {
    x "$RTR" ip route show table main scope link | while read -r r; do
        # shellcheck disable=SC2086
        x "$RTR" ip route add $r table "$1" 2>/dev/null || true
    done
    x "$RTR" ip -6 route show table main | grep -v -e '^default' -e '^fe80' -e '^multicast' | while read -r r; do
        # shellcheck disable=SC2086
        x "$RTR" ip -6 route add $r table "$1" 2>/dev/null || true
    done
}

mwan3_routes() {
    x "$RTR" ip route replace default via 198.51.100.2 dev wan0 table 1
    x "$RTR" ip -6 route replace default via 2001:db8:2::2 dev wan0 table 1
    x "$RTR" ip route replace default via 203.0.113.2 dev wan1 table 2
    x "$RTR" ip -6 route replace default via 2001:db8:3::2 dev wan1 table 2
    copy_connected 1
    copy_connected 2
}

up() {
    down
    topology_up
    x "$RTR" sysctl -qw net.netfilter.nf_conntrack_timestamp=1
    sysctls "$INET" 0

    for l in wan0 wan1; do
        x "$RTR" tc qdisc add dev "$l" root tbf rate "$RATE" burst 32kbit latency 50ms
    done

    mark_rules=""
    case $SCHEME in
    simple)
        x "$RTR" ip route add default via 198.51.100.2 dev wan0
        x "$RTR" ip -6 route add default via 2001:db8:2::2 dev wan0
        x "$RTR" ip route add default via 203.0.113.2 dev wan1 table 200
        x "$RTR" ip -6 route add default via 2001:db8:3::2 dev wan1 table 200
        x "$RTR" ip rule add fwmark 2 lookup 200 pref 100
        x "$RTR" ip -6 rule add fwmark 2 lookup 200 pref 100
        mark_rules='
    chain pre_mangle {
        type filter hook prerouting priority mangle; policy accept;
        iifname "lan0" meta l4proto udp udp dport 5202 ct state new ct mark set 2
        iifname "lan0" meta mark set ct mark
    }'
        sysctls "$RTR" 1
        ;;
    mwan3)
        x "$RTR" ip route add default via 198.51.100.2 dev wan0 metric 10
        x "$RTR" ip route add default via 203.0.113.2 dev wan1 metric 20
        x "$RTR" ip -6 route add default via 2001:db8:2::2 dev wan0 metric 10
        x "$RTR" ip -6 route add default via 2001:db8:3::2 dev wan1 metric 20
        mwan3_routes
        for f in "" -6; do
            # shellcheck disable=SC2086
            {
                x "$RTR" ip $f rule add iif wan0 lookup 1 pref 1001
                x "$RTR" ip $f rule add iif wan1 lookup 2 pref 1002
                x "$RTR" ip $f rule add fwmark 0x100/0x3f00 lookup 1 pref 2001
                x "$RTR" ip $f rule add fwmark 0x200/0x3f00 lookup 2 pref 2002
                x "$RTR" ip $f rule add fwmark 0x100/0x3f00 unreachable pref 3001
                x "$RTR" ip $f rule add fwmark 0x200/0x3f00 unreachable pref 3002
            }
        done
        # mwan3_hook: neighbour discovery untouched (as mwan3 does), restore,
        # mark by ingress, connected, policies, save.
        mark_rules='
    set connected4 { type ipv4_addr; flags interval; elements = { 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/25 } }
    set connected6 { type ipv6_addr; flags interval; elements = { 2001:db8:1::/64, 2001:db8:2::/64, 2001:db8:3::/64 } }
    chain mwan3_hook {
        icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } return
        meta mark set ct mark and 0x3f00
        meta mark and 0x3f00 == 0 iifname "wan0" meta mark set 0x100
        meta mark and 0x3f00 == 0 iifname "wan1" meta mark set 0x200
        meta mark and 0x3f00 == 0 ip daddr @connected4 meta mark set 0x3f00
        meta mark and 0x3f00 == 0 ip6 daddr @connected6 meta mark set 0x3f00
        meta mark and 0x3f00 == 0 meta l4proto udp udp dport { 5202, 5203 } meta mark set 0x200
        meta mark and 0x3f00 == 0 meta mark set 0x100
        ct mark set meta mark and 0x3f00
    }
    chain pre_mangle {
        type filter hook prerouting priority mangle; policy accept;
        jump mwan3_hook
    }
    chain out_mangle {
        type route hook output priority mangle; policy accept;
        jump mwan3_hook
    }'
        # Inbound IPv6 to the LAN host comes through uplink 2.
        x "$INET" ip -6 route add 2001:db8:1::2/128 via 2001:db8:3::1
        sysctls "$RTR" 0
        ;;
    ecmp)
        x "$RTR" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
        x "$RTR" sysctl -qw net.ipv6.fib_multipath_hash_policy=1
        x "$RTR" ip route add default nexthop via 198.51.100.2 dev wan0 nexthop via 203.0.113.2 dev wan1
        x "$RTR" ip -6 route add default nexthop via 2001:db8:2::2 dev wan0 nexthop via 2001:db8:3::2 dev wan1
        sysctls "$RTR" 0
        ;;
    ports)
        x "$RTR" ip route add default via 198.51.100.2 dev wan0
        x "$RTR" ip -6 route add default via 2001:db8:2::2 dev wan0
        x "$RTR" ip route add default via 203.0.113.2 dev wan1 table 200
        x "$RTR" ip -6 route add default via 2001:db8:3::2 dev wan1 table 200
        x "$RTR" ip rule add ipproto udp dport 5202 lookup 200 pref 100
        x "$RTR" ip -6 rule add ipproto udp dport 5202 lookup 200 pref 100
        sysctls "$RTR" 0
        ;;
    tunnel)
        x "$RTR" ip route add default via 198.51.100.2 dev wan0
        x "$RTR" ip -6 route add default via 2001:db8:2::2 dev wan0
        # A point-to-point L3 tunnel carried in UDP over uplink 1.
        x "$INET" sh -c 'socat -b 2048 UDP-DATAGRAM:198.51.100.1:7000,bind=198.51.100.2:7000 TUN:203.0.113.130/30,tun-name=tun1,tun-type=tun,iff-no-pi,iff-up >/dev/null 2>&1 &'
        x "$RTR" sh -c 'socat -b 2048 UDP-DATAGRAM:198.51.100.2:7000,bind=198.51.100.1:7000 TUN:203.0.113.129/30,tun-name=tun0,tun-type=tun,iff-no-pi,iff-up >/dev/null 2>&1 &'
        i=0
        until x "$RTR" ip link show tun0 >/dev/null 2>&1 && x "$INET" ip link show tun1 >/dev/null 2>&1; do
            i=$((i + 1)); [ $i -lt 50 ] || { echo "mwan.sh: tunnel never came up" >&2; exit 1; }
            sleep 0.1
        done
        x "$RTR" ip -6 addr add 2001:db8:4::1/64 dev tun0 nodad
        x "$INET" ip -6 addr add 2001:db8:4::2/64 dev tun1 nodad
        x "$RTR" ip route add default dev tun0 table 300
        x "$RTR" ip -6 route add default dev tun0 table 300
        x "$RTR" ip rule add fwmark 3 lookup 300 pref 100
        x "$RTR" ip -6 rule add fwmark 3 lookup 300 pref 100
        mark_rules='
    chain pre_mangle {
        type filter hook prerouting priority mangle; policy accept;
        iifname "lan0" meta l4proto udp udp dport 5202 ct state new ct mark set 3
        iifname "lan0" meta mark set ct mark
    }'
        sysctls "$RTR" 0
        ;;
    *) echo "mwan.sh: unknown scheme '$SCHEME': pick one of simple, mwan3, ecmp, ports, tunnel" >&2; exit 2 ;;
    esac

    x "$RTR" nft -f - <<EOF
table inet nftop_bed {$mark_rules
    chain pre_nat {
        type nat hook prerouting priority dstnat; policy accept;
        iifname { "wan0", "wan1" } meta nfproto ipv4 tcp dport 2222 dnat ip to 192.0.2.2:8022
    }
    chain post_nat {
        type nat hook postrouting priority srcnat; policy accept;
        meta nfproto ipv4 oifname { "wan0", "wan1", "tun0" } masquerade
    }
}
EOF
    # Per-flow reference counters on the same packets conntrack counts
    # (forward path; the router's own traffic in output/input).
    x "$RTR" nft -f - <<'EOF'
table inet nftop_test {
    counter up4 {}
    counter up6 {}
    counter pf_in {}
    counter pf_out {}
    counter pf6_in {}
    counter pf6_out {}
    counter own_up {}
    counter own6_up {}
    chain count_forward {
        type filter hook forward priority 0; policy accept;
        iifname "lan0" meta nfproto ipv4 udp dport 5202 counter name "up4"
        iifname "lan0" meta nfproto ipv6 udp dport 5202 counter name "up6"
        meta nfproto ipv4 tcp dport 8022 counter name "pf_in"
        meta nfproto ipv4 tcp sport 8022 counter name "pf_out"
        meta nfproto ipv6 tcp dport 8022 counter name "pf6_in"
        meta nfproto ipv6 tcp sport 8022 counter name "pf6_out"
    }
    chain count_output {
        type filter hook output priority 0; policy accept;
        meta nfproto ipv4 udp dport 5203 counter name "own_up"
        meta nfproto ipv6 udp dport 5203 counter name "own6_up"
    }
}
EOF
    topology_wait
}

case $cmd in
up) up ;;
down) down ;;
wan1-down) x "$RTR" ip link set wan1 down ;;
wan1-up)
    x "$RTR" ip link set wan1 up
    # IPv6 addresses go with an admin down (keep_addr_on_down=0): netifd
    # puts them back, then mwan3 its routes.
    x "$RTR" ip -6 addr replace 2001:db8:3::1/64 dev wan1 nodad
    x "$RTR" ip route replace default via 203.0.113.2 dev wan1 metric 20
    x "$RTR" ip -6 route replace default via 2001:db8:3::2 dev wan1 metric 20
    mwan3_routes
    ;;
*) echo "usage: mwan.sh up|down|wan1-down|wan1-up PREFIX [SCHEME]" >&2; exit 2 ;;
esac
