# The three namespaces every test router is built from, shared by
# tests/bed.sh and tests/mwan.sh (sourced, with CLI, RTR, INET set).
# Documentation addresses only:
#   $CLI  cli0 192.0.2.2/24 2001:db8:1::2/64 (a LAN host)
#   $RTR  lan0 192.0.2.1/24 2001:db8:1::1/64
#         wan0 198.51.100.1/24 2001:db8:2::1/64, wan1 203.0.113.1/25 2001:db8:3::1/64
#   $INET inet0 198.51.100.2/24 2001:db8:2::2/64, inet1 203.0.113.2/25
#         2001:db8:3::2/64; servers on lo: 203.0.113.200, 2001:db8:ff::200;
#         the LAN's IPv6 prefix routed back through uplink 1
# No routes, rules or firewall on the router: each bed adds its own.

x() { ip netns exec "$@"; }

# Kills what runs in the namespaces and removes them (safe to repeat).
topology_down() {
    for ns in "$CLI" "$RTR" "$INET"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
    done
}

topology_up() {
    for ns in "$CLI" "$RTR" "$INET"; do
        ip netns add "$ns"
        x "$ns" ip link set lo up
        # An unreachable resolver inside the namespaces: reverse DNS must
        # never delay nftop (ip netns exec bind-mounts this file).
        mkdir -p "/etc/netns/$ns"
        printf 'nameserver 192.0.2.53\noptions timeout:5 attempts:2\n' >"/etc/netns/$ns/resolv.conf"
    done
    ip link add cli0 netns "$CLI" type veth peer name lan0 netns "$RTR"
    ip link add wan0 netns "$RTR" type veth peer name inet0 netns "$INET"
    ip link add wan1 netns "$RTR" type veth peer name inet1 netns "$INET"

    x "$CLI" ip addr add 192.0.2.2/24 dev cli0
    x "$CLI" ip -6 addr add 2001:db8:1::2/64 dev cli0 nodad
    x "$CLI" ip link set cli0 up
    x "$CLI" ip route add default via 192.0.2.1
    x "$CLI" ip -6 route add default via 2001:db8:1::1

    x "$RTR" ip addr add 192.0.2.1/24 dev lan0
    x "$RTR" ip -6 addr add 2001:db8:1::1/64 dev lan0 nodad
    x "$RTR" ip addr add 198.51.100.1/24 dev wan0
    x "$RTR" ip -6 addr add 2001:db8:2::1/64 dev wan0 nodad
    x "$RTR" ip addr add 203.0.113.1/25 dev wan1
    x "$RTR" ip -6 addr add 2001:db8:3::1/64 dev wan1 nodad
    for l in lan0 wan0 wan1; do x "$RTR" ip link set "$l" up; done
    x "$RTR" sysctl -qw net.ipv4.ip_forward=1
    x "$RTR" sysctl -qw net.ipv6.conf.all.forwarding=1
    x "$RTR" sysctl -qw net.netfilter.nf_conntrack_acct=1

    x "$INET" ip addr add 198.51.100.2/24 dev inet0
    x "$INET" ip -6 addr add 2001:db8:2::2/64 dev inet0 nodad
    x "$INET" ip addr add 203.0.113.2/25 dev inet1
    x "$INET" ip -6 addr add 2001:db8:3::2/64 dev inet1 nodad
    x "$INET" ip addr add 203.0.113.200/32 dev lo
    x "$INET" ip -6 addr add 2001:db8:ff::200/128 dev lo
    x "$INET" ip link set inet0 up
    x "$INET" ip link set inet1 up
    x "$INET" ip -6 route add 2001:db8:1::/64 via 2001:db8:2::1
    # Replies to the router's uplink addresses are on-link; nothing else
    # is routed back, so masquerade is what makes IPv4 work.
    x "$INET" sysctl -qw net.ipv4.conf.all.rp_filter=0
    x "$INET" sysctl -qw net.ipv4.conf.default.rp_filter=0
}

# Waits until the LAN host reaches the far servers over IPv6 and IPv4.
topology_wait() {
    i=0
    while ! x "$CLI" ping -6 -c1 -W1 2001:db8:ff::200 >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 20 ] || { echo "$0: IPv6 path never came up" >&2; exit 1; }
        sleep 0.2
    done
    x "$CLI" ping -c1 -W2 203.0.113.200 >/dev/null
}
