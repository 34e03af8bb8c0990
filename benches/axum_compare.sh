#!/usr/bin/env bash
# axum hello world under wrk, side by side in one run (issue 5's benchmark):
#   ringtcp: axum_hello on the userspace stack over TUN, wrk on the kernel side of the TUN
#            device, both in a namespace made here; once with the application on tokio's
#            worker threads, once thread-per-core (RINGTCP_THREAD_PER_CORE=1: one
#            axum::serve per shard thread), each in its own namespace;
#   kernel:  the same axum_hello on tokio::net (RINGTCP_STACK=kernel) in one namespace,
#            wrk in another, joined by a veth pair.
# Each is measured with keep-alive and with `Connection: close`, over IPv4 and over IPv6
# (the servers listen on [::]; each IPv6 run follows its IPv4 twin). Needs root, wrk.
# Run: bash benches/axum_compare.sh [seconds] [connections]
# AXUM_HELLO_BIN=path uses that build of axum_hello instead of building a release one
# (CI's smoke run, examples/tests/axum_compare_smoke.rs, passes its test build).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
conns=${2:-32}
bin=${AXUM_HELLO_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release -q -p ringtcp-examples --bin axum_hello
    bin=target/release/axum_hello
fi
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
ip netns exec $C ip addr add fd88::1/64 dev va-$tag nodad
ip netns exec $S ip addr add fd88::2/64 dev vb-$tag nodad

wrk_rate() { # namespace url extra-args...
    local ns=$1 url=$2; shift 2
    ip netns exec "$ns" wrk -t2 -c"$conns" -d"${secs}s" "$@" "$url" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'
}

ip netns exec $R env RINGTCP_SHARDS=2 PORT=3000 $bin >/dev/null & pids+=($!)
ip netns exec $T env RINGTCP_SHARDS=2 RINGTCP_THREAD_PER_CORE=1 PORT=3000 $bin >/dev/null & pids+=($!)
ip netns exec $S env RINGTCP_STACK=kernel "LISTEN=[::]:3000" $bin >/dev/null & pids+=($!)
# Wait until each server answers (at most 10 s), rather than for a fixed time.
ready() { # namespace url
    for _ in $(seq 100); do
        ip netns exec "$1" curl -s -o /dev/null --max-time 1 "$2" && return 0
        sleep 0.1
    done
    echo "no answer from $2" >&2
    return 1
}

r4=http://10.77.0.2:3000/; r6=http://[fd77::2]:3000/; k4=http://10.88.0.2:3000/; k6=http://[fd88::2]:3000/
ready $R $r4; ready $T $r4; ready $C $k4
ring_ka=$(wrk_rate $R $r4);  ring6_ka=$(wrk_rate $R $r6)
tpc_ka=$(wrk_rate $T $r4);   tpc6_ka=$(wrk_rate $T $r6)
kern_ka=$(wrk_rate $C $k4);  kern6_ka=$(wrk_rate $C $k6)
close=(-H "Connection: close")
ring_cl=$(wrk_rate $R $r4 "${close[@]}");  ring6_cl=$(wrk_rate $R $r6 "${close[@]}")
tpc_cl=$(wrk_rate $T $r4 "${close[@]}");   tpc6_cl=$(wrk_rate $T $r6 "${close[@]}")
kern_cl=$(wrk_rate $C $k4 "${close[@]}");  kern6_cl=$(wrk_rate $C $k6 "${close[@]}")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
echo
echo "keep-alive        ringtcp/TUN ${ring_ka}   thread-per-core ${tpc_ka}   kernel/veth ${kern_ka} req/s   ratios $(ratio $ring_ka $kern_ka) $(ratio $tpc_ka $kern_ka)"
echo "Connection: close ringtcp/TUN ${ring_cl}   thread-per-core ${tpc_cl}   kernel/veth ${kern_cl} req/s   ratios $(ratio $ring_cl $kern_cl) $(ratio $tpc_cl $kern_cl)"
echo "IPv6 keep-alive        ringtcp/TUN ${ring6_ka}   thread-per-core ${tpc6_ka}   kernel/veth ${kern6_ka} req/s   ratios $(ratio $ring6_ka $kern6_ka) $(ratio $tpc6_ka $kern6_ka)"
echo "IPv6 Connection: close ringtcp/TUN ${ring6_cl}   thread-per-core ${tpc6_cl}   kernel/veth ${kern6_cl} req/s   ratios $(ratio $ring6_cl $kern6_cl) $(ratio $tpc6_cl $kern6_cl)"
echo "IPv6 / IPv4: keep-alive ringtcp $(ratio $ring6_ka $ring_ka) thread-per-core $(ratio $tpc6_ka $tpc_ka) kernel $(ratio $kern6_ka $kern_ka);" \
    "Connection: close ringtcp $(ratio $ring6_cl $ring_cl) thread-per-core $(ratio $tpc6_cl $tpc_cl) kernel $(ratio $kern6_cl $kern_cl)"
