#!/bin/busybox sh
# Flow offloading in the guest (issue 23; run by tests/vm.sh's init on the
# architecture that carries nft, tc, ip and nc; checked by tests/vm.rs).
#
# A client, a router and a server, each a network namespace held by a
# sleeping process, joined by veths (c0-r0, r1-s0; r1 is the router's
# uplink: its default route). The router offloads forwarded TCP and UDP
# to a software flowtable on r0 and r1, first with the `counter` flag
# (phase COUNTER), then without (phase FROZEN), and counts every TCP and
# UDP byte at the ingress hook of both devices (netdev chains ahead of
# the flowtable), which sees offloaded packets too. Two steady flows per
# phase: TCP uploaded by the client, shaped to 8 Mbit/s by tbf on c0, and
# UDP sent by the server, shaped to 6 Mbit/s on s0 (that qdisc holds more
# than the socket's send buffer, so the sender blocks instead of losing
# datagrams). The MTU is 65000: nc writes 16 KiB datagrams (46 a second:
# one more or less in a sample is 2.2 %), and a fragment is never
# offloaded.
#
# Prints NFTOP-VM-OFFLOAD-ACCT <phase> <uptime> <uptime> <protocol>
# <bytes>... (r0 then r1; nft lists protocols by number: 6 TCP, 17 UDP)
# and NFTOP-VM-OFFLOAD-LINK <phase> <the uptime, /proc/net/dev and the
# uptime again, on one line> before and after nftop's run, and nftop's
# JSON between NFTOP-VM-OFFLOAD-<phase>-BEGIN and -END <exit code>. The
# flows are steady: their bytes over the run are the truth every sample
# is held to. The links time them: an nft read is only known to have
# happened during nft's run, which under the emulated CPU took 0.7 to
# 1.2 s here (timed by a stamp after each read, nft's count once put the
# TCP flow at 8.44 Mbit/s, 5.5 % above every sample of nftop's and of
# what its 8 Mbit/s shaper lets through).
set -u
ip=/sbin/ip
nc=/sbin/nc
n() {
	t=$1
	shift
	nsenter -n -t "$t" "$@"
}
unshare -n sleep 600 &
cli=$!
unshare -n sleep 600 &
rtr=$!
unshare -n sleep 600 &
srv=$!
sleep 1
$ip link add c0 mtu 65000 type veth peer name r0 mtu 65000
$ip link set c0 netns $cli
$ip link set r0 netns $rtr
$ip link add s0 mtu 65000 type veth peer name r1 mtu 65000
$ip link set s0 netns $srv
$ip link set r1 netns $rtr
n $cli $ip addr add 10.1.0.2/24 dev c0
n $cli $ip link set c0 up
# TCP in 1500-byte packets (MSS from the route): a 64 KiB segment is a
# 6 % step of a second at 8 Mbit/s.
n $cli $ip route add default via 10.1.0.1 mtu 1500
n $rtr $ip addr add 10.1.0.1/24 dev r0
n $rtr $ip addr add 10.2.0.1/24 dev r1
n $rtr $ip link set r0 up
n $rtr $ip link set r1 up
n $rtr $ip route add default via 10.2.0.2
# Accounting and timestamps are per namespace (as on the router itself).
n $rtr sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward
	echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct
	echo 1 > /proc/sys/net/netfilter/nf_conntrack_timestamp'
n $srv $ip addr add 10.2.0.2/24 dev s0
n $srv $ip link set s0 up
n $srv $ip route add default via 10.2.0.1
# TCP: a short queue (a long one makes its RTT seconds and its timers
# fire), a burst below the size of a GSO packet (tbf then sends its
# segments one by one).
n $cli /sbin/tc qdisc add dev c0 root tbf rate 8mbit burst 16kb latency 50ms || echo "NFTOP-VM-ERROR tbf"
# UDP: a send buffer of 2 s (nc -O) in a longer queue, so the sender
# blocks and never lets the queue run dry while nftop takes the CPU. Only
# the UDP flow waits there: its socket's TOS (nc -T throughput) puts it in
# the third band of a prio qdisc, the TCP flow's ACKs pass in the second.
echo 4000000 > /proc/sys/net/core/wmem_max
n $srv /sbin/tc qdisc add dev s0 root handle 1: prio || echo "NFTOP-VM-ERROR prio"
n $srv /sbin/tc qdisc add dev s0 parent 1:3 tbf rate 6mbit burst 100kb limit 4000000 || echo "NFTOP-VM-ERROR tbf"
n $rtr nft -f - <<'NFT' || echo "NFTOP-VM-ERROR nft acct"
table netdev acct {
	chain r0 {
		type filter hook ingress device r0 priority -500
		ip protocol tcp counter
		ip protocol udp counter
	}
	chain r1 {
		type filter hook ingress device r1 priority -500
		ip protocol tcp counter
		ip protocol udp counter
	}
}
NFT

# nft's TCP and UDP bytes at the ingress hooks, stamped with the uptime
# before nft starts and after it ends: the read happened in between.
acct() {
	t0=$(cut -d' ' -f1 /proc/uptime)
	v=$(n $rtr nft list table netdev acct | sed -n 's/.*ip protocol \([a-z0-9]*\) counter packets [0-9]* bytes \([0-9]*\).*/\1 \2/p')
	echo "NFTOP-VM-OFFLOAD-ACCT $1 $t0 $(cut -d' ' -f1 /proc/uptime)" $v
}

# The bytes r0 and r1 received (/proc/net/dev in the router's namespace:
# frames, Ethernet header included) between two reads of the uptime, all
# three by one cat, no process started in between. The guest's CPU is busy
# with the flows: a shell's reads between two stamps took 0.2-0.6 s
# here. This is the clock the rates are held to; nft's count says which
# bytes were which.
link() {
	# Unquoted: the words of cat's lines, joined on one line.
	# shellcheck disable=SC2046
	echo "NFTOP-VM-OFFLOAD-LINK $1" $(n $rtr cat /proc/uptime /proc/net/dev /proc/uptime)
}

# phase NAME FLOWTABLE_FLAGS TCP_PORT UDP_PORT
phase() {
	n $rtr nft -f - <<NFT || echo "NFTOP-VM-ERROR nft flowtable $1"
table inet ft {
	flowtable f {
		hook ingress priority 0
		devices = { r0, r1 }
		$2
	}
	chain fw {
		type filter hook forward priority 0
		meta l4proto { tcp, udp } flow add @f
	}
}
NFT
	# Not through n(): $! must be nc itself (nsenter execs it) to kill it.
	nsenter -n -t $srv $nc -l $3 > /dev/null &
	s1=$!
	nsenter -n -t $srv $nc -O 2000000 -T throughput -u -l $4 < /dev/zero > /dev/null &
	s2=$!
	sleep 1
	nsenter -n -t $cli $nc 10.2.0.2 $3 < /dev/zero &
	c1=$!
	(echo go; sleep 60) | nsenter -n -t $cli $nc -u 10.2.0.2 $4 > /dev/null &
	c2=$!
	# Established, offloaded, and the shapers' bursts spent.
	sleep 3
	acct $1
	link $1
	echo "NFTOP-VM-OFFLOAD-$1-BEGIN"
	n $rtr /bin/nftop --json --count 8 -u 1 -L -t 0 --no-dns
	echo "NFTOP-VM-OFFLOAD-$1-END $?"
	link $1
	acct $1
	n $rtr cat /proc/net/nf_conntrack | grep -E "dport=($3|$4) " | sed "s/^/NFTOP-VM-OFFLOAD-PROC $1 /"
	kill $c1 $c2 $s1 $s2 2>/dev/null
	n $rtr nft delete table inet ft
	sleep 1
}

phase COUNTER counter 5201 5300
phase FROZEN "" 5202 5301
kill $cli $rtr $srv
