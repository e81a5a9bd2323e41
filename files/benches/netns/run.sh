#!/usr/bin/env bash
# Files through one relay with every node its own process (issue #20):
# `cargo bench -p por-files --bench relay_procs`, on loopback and, as root,
# in three network namespaces joined by veth pairs shaped with tbf.
#
#   requester ns  <-- veth, tbf RATE both ways -->  relay ns  <-- veth, tbf RATE both ways -->  server ns
#   10.201.1.1                          10.201.1.2 | 10.201.2.2                           10.201.2.1
#
# The relay's namespace forwards IP between the two links, so the direct
# libp2p baseline (requester ns to server ns) crosses the same two links as
# PoR. Every address is inside namespaces this script makes and deletes (on
# any exit, by a trap). The addresses are also in relay_procs.rs.
#
# Not root, or no `ip`/`tc`: the namespaced part is skipped with a message,
# the loopback part still runs. RATE (default 200mbit), RELAY_BENCH_MIB
# (default 256) and RELAY_BENCH_RUNS (default 3) can be set;
# RELAY_BENCH_BIN runs that (copied) bench binary instead of building one,
# for an A/B of two builds on the same namespaces.
set -euo pipefail
cd "$(dirname "$0")/../../.."
CARGO="${CARGO:-cargo}"
RATE="${RATE:-200mbit}"
P="porfb$$"
NETNS=()

skip() {
	echo "relay_procs: network-namespace part SKIPPED: $1; running the loopback part only" >&2
}

if [ "$(id -u)" != 0 ]; then
	skip "it needs root (ip netns, tc)"
elif ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
	skip "'ip' or 'tc' is missing (Debian: apt-get install iproute2)"
else
	cleanup() {
		for ns in req rel srv; do ip netns del "$P-$ns" 2>/dev/null || true; done
	}
	trap cleanup EXIT INT TERM
	for ns in req rel srv; do ip netns add "$P-$ns"; ip -n "$P-$ns" link set lo up; done
	# veth pairs: rq0 (req) <-> rl0 (rel), sv0 (srv) <-> rl1 (rel).
	ip link add name "${P}rq0" type veth peer name "${P}rl0"
	ip link set "${P}rq0" netns "$P-req" name rq0
	ip link set "${P}rl0" netns "$P-rel" name rl0
	ip link add name "${P}sv0" type veth peer name "${P}rl1"
	ip link set "${P}sv0" netns "$P-srv" name sv0
	ip link set "${P}rl1" netns "$P-rel" name rl1
	ip -n "$P-req" addr add 10.201.1.1/24 dev rq0
	ip -n "$P-rel" addr add 10.201.1.2/24 dev rl0
	ip -n "$P-rel" addr add 10.201.2.2/24 dev rl1
	ip -n "$P-srv" addr add 10.201.2.1/24 dev sv0
	for d in "req rq0" "rel rl0" "rel rl1" "srv sv0"; do
		set -- $d
		ip -n "$P-$1" link set "$2" up
		# The shaping: every direction of every link. burst covers a timer
		# tick at this rate; latency bounds the queue.
		tc -n "$P-$1" qdisc add dev "$2" root tbf rate "$RATE" burst 256kb latency 50ms
	done
	ip -n "$P-req" route add default via 10.201.1.2
	ip -n "$P-srv" route add default via 10.201.2.2
	ip netns exec "$P-rel" sysctl -qw net.ipv4.ip_forward=1
	for d in "req rq0" "rel rl0" "rel rl1" "srv sv0"; do set -- $d; tc -n "$P-$1" qdisc show dev "$2"; done
	NETNS=(--netns "$P")
fi
uptime
if [ -n "${RELAY_BENCH_BIN:-}" ]; then
	"$RELAY_BENCH_BIN" --bench "${NETNS[@]}"
else
	"$CARGO" bench -p por-files --bench relay_procs -- "${NETNS[@]}"
fi
