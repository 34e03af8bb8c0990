#!/usr/bin/env bash
# axum hello world under wrk, side by side in one run (issue 5's benchmark):
#   ringtcp: axum_hello on the userspace stack over TUN, wrk on the kernel side of the TUN
#            device, both in a namespace made here; once with the application on tokio's
#            worker threads, once thread-per-core (RINGTCP_THREAD_PER_CORE=1: one
#            axum::serve per shard thread), each in its own namespace;
#   kernel:  the same axum_hello on tokio::net (RINGTCP_STACK=kernel) in one namespace,
#            wrk in another, joined by a veth pair.
# Each is measured with keep-alive and with `Connection: close`. Needs root, wrk.
# Run: bash benches/axum_compare.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
conns=${2:-32}
cargo build --release -q -p ringtcp-examples --bin axum_hello
bin=target/release/axum_hello
tag=$$
R=rt-ax-r-$tag; T=rt-ax-t-$tag; S=rt-ax-s-$tag; C=rt-ax-c-$tag
pids=()
cleanup() {
    # Stop what this run started, by process id (another run may be going on beside it).
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for n in $R $T $S $C; do ip netns del $n 2>/dev/null || true; done
}
trap cleanup EXIT
for n in $R $T $S $C; do ip netns add $n; ip netns exec $n ip link set lo up; done
# Client side of the kernel-client runs: TIME-WAIT port reuse, as the churn example explains.
for n in $R $T $C; do ip netns exec $n sysctl -qw net.ipv4.tcp_tw_reuse=1; done

# veth pair: client 10.88.0.1 in C, server 10.88.0.2 in S.
ip link add va-$tag type veth peer name vb-$tag
ip link set va-$tag netns $C; ip link set vb-$tag netns $S
ip netns exec $C ip addr add 10.88.0.1/24 dev va-$tag; ip netns exec $C ip link set va-$tag up
ip netns exec $S ip addr add 10.88.0.2/24 dev vb-$tag; ip netns exec $S ip link set vb-$tag up

wrk_rate() { # namespace url extra-args...
    local ns=$1 url=$2; shift 2
    ip netns exec "$ns" wrk -t2 -c"$conns" -d"${secs}s" "$@" "$url" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'
}

ip netns exec $R env RINGTCP_SHARDS=2 PORT=3000 $bin >/dev/null & pids+=($!)
ip netns exec $T env RINGTCP_SHARDS=2 RINGTCP_THREAD_PER_CORE=1 PORT=3000 $bin >/dev/null & pids+=($!)
ip netns exec $S env RINGTCP_STACK=kernel LISTEN=10.88.0.2:3000 $bin >/dev/null & pids+=($!)
sleep 1

ring_ka=$(wrk_rate $R http://10.77.0.2:3000/)
tpc_ka=$(wrk_rate $T http://10.77.0.2:3000/)
kern_ka=$(wrk_rate $C http://10.88.0.2:3000/)
ring_cl=$(wrk_rate $R http://10.77.0.2:3000/ -H "Connection: close")
tpc_cl=$(wrk_rate $T http://10.77.0.2:3000/ -H "Connection: close")
kern_cl=$(wrk_rate $C http://10.88.0.2:3000/ -H "Connection: close")

ratio() { echo "$1 / $2" | bc -l | cut -c1-4; }
echo
echo "keep-alive        ringtcp/TUN ${ring_ka}   thread-per-core ${tpc_ka}   kernel/veth ${kern_ka} req/s   ratios $(ratio $ring_ka $kern_ka) $(ratio $tpc_ka $kern_ka)"
echo "Connection: close ringtcp/TUN ${ring_cl}   thread-per-core ${tpc_cl}   kernel/veth ${kern_cl} req/s   ratios $(ratio $ring_cl $kern_cl) $(ratio $tpc_cl $kern_cl)"
