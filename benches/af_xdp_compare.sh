#!/usr/bin/env bash
# axum hello world under wrk, ringtcp over AF_XDP against tokio over the kernel, side by
# side in one run (issue 18's goal), each on its own two-queue veth pair between two
# namespaces made here:
#   ringtcp:  axum_hello with RINGTCP_AF_XDP=xr (2 shards, XDP on the server's veth end),
#             wrk in the other namespace; and again thread-per-core
#             (RINGTCP_THREAD_PER_CORE=1) on a pair of its own;
#   kernel:   the same axum_hello on tokio::net (RINGTCP_STACK=kernel) on the same kind
#             of pair (the client end's transmit offloads off, as AF_XDP needs them);
#   kernel_offloads: the kernel again on a pair with every offload on (what two kernels
#             on veth get by default), for reference.
# Keep-alive and `Connection: close`, IPv4. Needs root, wrk, ethtool.
# Run: bash benches/af_xdp_compare.sh [seconds] [connections]
# AXUM_HELLO_BIN=path uses that build of axum_hello instead of building a release one.
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
names=()
pids=()
cleanup() {
    # Stop what this run started, by process id (another run may be going on beside it).
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for n in "${names[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT

# pair <server-ns> <client-ns> <subnet> <client-offloads on|off>: xr (server, .2) and xk
# (client, .1), two queues each.
pair() {
    local s=$1 c=$2 net=$3 off=$4
    for n in "$s" "$c"; do ip netns add "$n"; names+=("$n"); ip netns exec "$n" ip link set lo up; done
    ip netns exec "$c" sysctl -qw net.ipv4.tcp_tw_reuse=1
    ip netns exec "$s" ip link add xr numtxqueues 2 numrxqueues 2 type veth peer name xk numtxqueues 2 numrxqueues 2 netns "$c"
    ip netns exec "$s" ip addr add "$net.2/24" dev xr; ip netns exec "$s" ip link set xr up
    ip netns exec "$c" ip addr add "$net.1/24" dev xk; ip netns exec "$c" ip link set xk up
    if [ "$off" = off ]; then ip netns exec "$c" ethtool -K xk tx off tso off gso off >/dev/null; fi
}
RS=rt-xd-rs-$tag; RC=rt-xd-rc-$tag; TS=rt-xd-ts-$tag; TC=rt-xd-tc-$tag; KS=rt-xd-ks-$tag; KC=rt-xd-kc-$tag; OS=rt-xd-os-$tag; OC=rt-xd-oc-$tag
pair $RS $RC 10.91.0 off
pair $TS $TC 10.94.0 off
pair $KS $KC 10.92.0 off
pair $OS $OC 10.93.0 on

ip netns exec $RS env RINGTCP_SHARDS=2 RINGTCP_AF_XDP=xr RINGTCP_ADDR=10.91.0.3 PORT=3000 $bin >/dev/null & pids+=($!)
ip netns exec $TS env RINGTCP_SHARDS=2 RINGTCP_THREAD_PER_CORE=1 RINGTCP_AF_XDP=xr RINGTCP_ADDR=10.94.0.3 PORT=3000 $bin >/dev/null & pids+=($!)
ip netns exec $KS env RINGTCP_STACK=kernel LISTEN=0.0.0.0:3000 $bin >/dev/null & pids+=($!)
ip netns exec $OS env RINGTCP_STACK=kernel LISTEN=0.0.0.0:3000 $bin >/dev/null & pids+=($!)
ready() { # namespace url
    for _ in $(seq 100); do
        ip netns exec "$1" curl -s -o /dev/null --max-time 1 "$2" && return 0
        sleep 0.1
    done
    echo "no answer from $2" >&2
    return 1
}
r=http://10.91.0.3:3000/; t=http://10.94.0.3:3000/; k=http://10.92.0.2:3000/; o=http://10.93.0.2:3000/
ready $RC $r; ready $TC $t; ready $KC $k; ready $OC $o
wrk_rate() { # namespace url extra-args...
    local ns=$1 url=$2; shift 2
    ip netns exec "$ns" wrk -t2 -c"$conns" -d"${secs}s" "$@" "$url" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'
}
close=(-H "Connection: close")
ring_ka=$(wrk_rate $RC $r); tpc_ka=$(wrk_rate $TC $t); kern_ka=$(wrk_rate $KC $k); off_ka=$(wrk_rate $OC $o)
ring_cl=$(wrk_rate $RC $r "${close[@]}"); tpc_cl=$(wrk_rate $TC $t "${close[@]}"); kern_cl=$(wrk_rate $KC $k "${close[@]}"); off_cl=$(wrk_rate $OC $o "${close[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
echo
echo "keep-alive        ringtcp/AF_XDP ${ring_ka}   thread-per-core ${tpc_ka}   kernel/same pair ${kern_ka}   kernel/offloads ${off_ka} req/s"
echo "    ratios over the kernel on the same pair: $(ratio $ring_ka $kern_ka) $(ratio $tpc_ka $kern_ka); over the kernel with offloads: $(ratio $ring_ka $off_ka) $(ratio $tpc_ka $off_ka)"
echo "Connection: close ringtcp/AF_XDP ${ring_cl}   thread-per-core ${tpc_cl}   kernel/same pair ${kern_cl}   kernel/offloads ${off_cl} req/s"
echo "    ratios over the kernel on the same pair: $(ratio $ring_cl $kern_cl) $(ratio $tpc_cl $kern_cl); over the kernel with offloads: $(ratio $ring_cl $off_cl) $(ratio $tpc_cl $off_cl)"
