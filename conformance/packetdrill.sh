#!/usr/bin/env bash
# Runs packetdrill scripts against ringtcp's transport core through the adapter library
# (conformance/src): `bash conformance/packetdrill.sh [script...]`.
#
# Scripts are named relative to gtests/net/tcp/ (for example `blocking/blocking-read.pkt`)
# or as paths; with none, the expected-pass lists run: conformance/expected-pass.txt as
# they are, conformance/expected-pass-psh-masked.txt with PSH masked (below).
# Prints one line per script, then `packetdrill mode=MODE`, and ends with the line
# `packetdrill passed=N failed=M skipped=K`;
# exits non-zero when a script of the expected-pass list fails.
#
# packetdrill (GPL-2.0) is a test tool kept outside the repository: it is built from
# ../shared/packetdrill (or $PACKETDRILL_SRC) into target/packetdrill/, with the corpus
# copied beside it. Every script runs in a network namespace of its own (`unshare -n`):
# the corpus's `common/defaults.sh` and a script's own sysctl lines set Linux sysctls
# there, never on the host, and the adapter builds its shard from them. Needs root.
#
# Environment: PACKETDRILL_SRC (the packetdrill checkout), RINGTCP_CONFORMANCE_SO (a built
# adapter library; default: build it with cargo), PACKETDRILL_VERBOSE=1 (print each failing
# script's output), PACKETDRILL_TIMEOUT (seconds per script, default 60),
# PACKETDRILL_IP_VERSION (ipv4 [default], ipv6 or ipv4-mapped-ipv6, as upstream's run_all.py),
# PACKETDRILL_MASK_PSH=1 (run every given script with PSH masked, to see whether PSH is its
# only difference), PACKETDRILL_JOBS (scripts run at once, default one per CPU).
set -u -o pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
src="${PACKETDRILL_SRC:-$root/../shared/packetdrill}"
# A fresh clone elsewhere on this machine finds the copy at its usual place.
[ -d "$src" ] || src=/work/shared/packetdrill
out="$root/target/packetdrill"
timeout_secs="${PACKETDRILL_TIMEOUT:-60}"
# Each script run's marker directory reaches the adapter inside --so_flags, whose values
# are separated by commas and spaces.
case "$out" in
    *[,\ ]*)
        echo "the repository's path ($root) contains a comma or a space, which --so_flags cannot carry: clone it elsewhere" >&2
        exit 2
        ;;
esac

if [ ! -d "$src/gtests/net/packetdrill" ]; then
    echo "packetdrill sources not found at $src (set PACKETDRILL_SRC to a google/packetdrill checkout)" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "packetdrill runs each script in a network namespace of its own (unshare -n): run as root" >&2
    exit 2
fi

# What packetdrill needs to build.
missing=()
for tool in bison flex make gcc python3; do
    command -v "$tool" > /dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} to build packetdrill" >&2
    pkgs=()
    for t in "${missing[@]}"; do
        case "$t" in gcc) pkgs+=(gcc libc6-dev) ;; *) pkgs+=("$t") ;; esac
    done
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}") > /dev/null || {
        echo "could not install ${pkgs[*]}" >&2
        exit 2
    }
fi

# packetdrill itself, rebuilt when the checkout names another upstream commit.
stamp="$out/src.stamp"
want="$(cat "$src/UPSTREAM" 2> /dev/null || echo unknown)"
if [ ! -x "$out/src/packetdrill" ] || [ "$(cat "$stamp" 2> /dev/null)" != "$want" ]; then
    rm -rf "$out/src"
    mkdir -p "$out"
    cp -r "$src/gtests/net/packetdrill" "$out/src"
    (cd "$out/src" && ./configure > /dev/null && make -j"$(nproc)" packetdrill > "$out/build.log" 2>&1) || {
        echo "building packetdrill failed; see $out/build.log" >&2
        exit 2
    }
    echo "$want" > "$stamp"
fi

# The corpus.
rm -rf "$out/corpus"
mkdir -p "$out/corpus"
cp -r "$src/gtests/net/tcp" "$src/gtests/net/common" "$out/corpus/"
chmod -R u+w "$out/corpus"
# Both copies: tcp/common/defaults.sh is a symbolic link upstream, but may arrive as a
# plain file holding the link's target, which would then run itself for ever.
# The copy sets upstream's sysctls inside the script's own network namespace, where the
# adapter reads them when the script opens its first socket; it skips what needs a
# kernel TUN device (the qdisc) and cannot fail on it.
for d in "$out/corpus/common/defaults.sh" "$out/corpus/tcp/common/defaults.sh"; do
    rm -f "$d"
    { grep -v -e '^tc ' -e '^ip tcp_metrics' "$src/gtests/net/common/defaults.sh"; echo 'exit 0'; } > "$d"
done
# Runs sed expression $2 on every file of the copy that holds the text $1.
rewrite_corpus() {
    grep -rlF "$1" "$out/corpus" | while read -r f; do
        sed -i "$2" "$f"
    done
}
# The corpus keeps the sysctls it changes in /tmp/sysctl_restore_<pid>.sh, one file per
# script, never removed; the copy keeps them in a directory of the runner's own, emptied
# at every run.
rm -rf "$out/restore" && mkdir -p "$out/restore"
rewrite_corpus /tmp/sysctl_restore_ "s|/tmp/sysctl_restore_|$out/restore/sysctl_restore_|g"
# One script redirects with bash's `&>`, which a /bin/sh that is not bash (Debian's dash)
# reads as `&` then `>`: its command would go to the background and the one after `||`
# never run. The copy spells it the POSIX way.
rewrite_corpus '&> /dev/null' 's|&> /dev/null|> /dev/null 2>\&1|g'
find "$out/corpus" -name '*.sh' -exec chmod +x {} +

# Stand-ins for the commands scripts run against the kernel's TCP, first in the PATH of
# packetdrill's shell: they reach the adapter's shard through a marker directory of each
# script run's own (conformance/src/shell_controls.rs). Anything else goes to the real
# tool.
rm -rf "$out/shims" "$out/ctl" && mkdir -p "$out/shims" "$out/ctl"
real_ip="$(command -v ip || true)"
cat > "$out/shims/ip" << SHIM
#!/bin/sh
if [ "\$1" = tcp_metrics ] && [ "\$2" = flush ] && [ -n "\$RINGTCP_PD_CTL" ]; then
    : > "\$RINGTCP_PD_CTL/tcp_metrics_flush"
    exit 0
fi
[ -n "$real_ip" ] || { echo "ip: not installed" >&2; exit 127; }
exec "$real_ip" "\$@"
SHIM
real_tc="$(command -v tc || true)"
cat > "$out/shims/tc" << SHIM
#!/bin/sh
# tc qdisc add|replace|change|del dev tun0 root [pfifo limit 0 | fq | another qdisc]
if [ "\$1" = qdisc ] && [ "\$3" = dev ] && [ "\$4" = tun0 ] && [ -n "\$RINGTCP_PD_CTL" ]; then
    rm -f "\$RINGTCP_PD_CTL/qdisc_drops_all" "\$RINGTCP_PD_CTL/qdisc_fq"
    if [ "\$2" != del ] && [ "\$2" != delete ]; then
        if [ "\$6 \$7 \$8" = "pfifo limit 0" ]; then
            : > "\$RINGTCP_PD_CTL/qdisc_drops_all"
        elif [ "\$6" = fq ]; then
            : > "\$RINGTCP_PD_CTL/qdisc_fq"
        fi
    fi
    exit 0
fi
[ -n "$real_tc" ] || { echo "tc: not installed" >&2; exit 127; }
exec "$real_tc" "\$@"
SHIM
real_nstat="$(command -v nstat || true)"
cat > "$out/shims/nstat" << SHIM
#!/bin/sh
if [ \$# -ne 0 ] || [ -z "\$RINGTCP_PD_CTL" ]; then
    [ -n "$real_nstat" ] || { echo "nstat: not installed" >&2; exit 127; }
    exec "$real_nstat" "\$@"
fi
now="\$RINGTCP_PD_CTL/counters"
history="\$RINGTCP_PD_CTL/nstat.history"
[ -f "\$now" ] || : > "\$now"
[ -f "\$history" ] || : > "\$history"
echo "#kernel"
awk 'NR == FNR { old[\$1] = \$2; next } { d = \$2 - old[\$1]; if (d != 0) printf "%-32s %-18d %s\\n", \$1, d, "0.0" }' "\$history" "\$now"
cp "\$now" "\$history"
SHIM
chmod +x "$out/shims/ip" "$out/shims/nstat" "$out/shims/tc"
find "$out/corpus" -name '*.py' -exec chmod +x {} +

# The adapter.
so="${RINGTCP_CONFORMANCE_SO:-}"
if [ -z "$so" ]; then
    # A target directory of its own: this also runs from inside `cargo test`, whose own
    # build directory is locked meanwhile.
    (cd "$root" && cargo build -q --release -p ringtcp-conformance --target-dir "$out/cargo") || exit 2
    so="$out/cargo/release/libringtcp_conformance.so"
fi
if [ ! -f "$so" ]; then
    echo "adapter library $so not found" >&2
    exit 2
fi
# Each script runs from its own directory.
so="$(realpath "$so")"

# The address family, as upstream's run_all.py runs the corpus: ipv4, ipv6 (an MTU of
# 1,520 keeps the scripts' MSS values) or ipv4-mapped-ipv6 (IPv6 sockets, IPv4 wire).
ip_version="${PACKETDRILL_IP_VERSION:-ipv4}"
case "$ip_version" in
    ipv4|ipv4-mapped-ipv6)
        cmsg_level=SOL_IP; cmsg_type=IP_RECVERR
        [ "$ip_version" = ipv4-mapped-ipv6 ] && { cmsg_level=SOL_IPV6; cmsg_type=IPV6_RECVERR; }
        mode_flags=(--so_flags=local_ip=192.168.0.1 --ip_version="$ip_version" --local_ip=192.168.0.1
            --gateway_ip=192.168.0.1 --netmask_ip=255.255.0.0 --remote_ip=192.0.2.1
            -D TFO_COOKIE=3021b9d889017eeb -D CODE=host_unreachable
            -D CMSG_LEVEL_IP=$cmsg_level -D CMSG_TYPE_RECVERR=$cmsg_type) ;;
    ipv6)
        mode_flags=(--so_flags=local_ip=fd3d:0a0b:17d6::1,mtu=1520 --ip_version=ipv6 --mtu=1520
            --local_ip=fd3d:0a0b:17d6::1 --gateway_ip=fd3d:0a0b:17d6:8888::1 --remote_ip=fd3d:fa7b:d17d::1
            -D TFO_COOKIE=c1d1e9742a47a9bc -D CMSG_LEVEL_IP=SOL_IPV6 -D CMSG_TYPE_RECVERR=IPV6_RECVERR) ;;
    *)
        echo "PACKETDRILL_IP_VERSION=$ip_version: use ipv4, ipv6 or ipv4-mapped-ipv6" >&2
        exit 2 ;;
esac

expected_list="$here/expected-pass.txt"
# Scripts whose only difference from Linux is where PSH goes (status *differs*): they run
# with PSH cleared on both sides, the adapter's segments (so_flags mask_psh=1) and the
# script's outbound lines, so that every other line is still checked (see psh_mask.rs).
masked_list="$here/expected-pass-psh-masked.txt"
listed() { grep -v '^\s*#' "$1" | sed '/^\s*$/d'; }
scripts=("$@")
checking_list=0
if [ ${#scripts[@]} -eq 0 ]; then
    checking_list=1
    mapfile -t scripts < <(listed "$expected_list"; listed "$masked_list")
fi

# Writes script $1 with PSH taken out of the flags of its outbound lines to $2.
psh_masked_copy() {
    python3 - "$1" "$2" <<'PY'
import re, sys
out = re.compile(r'^(\s*[-+0-9.~*]*\s*>\s*(?:\[[^\]]*\]\s*)?)([A-Z.]+)(\s)')
def strip(m):
    flags = m.group(2).replace('P', '')
    return m.group(1) + (flags or m.group(2)) + m.group(3)
with open(sys.argv[1]) as f:
    text = [out.sub(strip, line) for line in f]
with open(sys.argv[2], 'w') as f:
    f.writelines(text)
PY
}

# Runs one script; prints its line (and, with PACKETDRILL_VERBOSE=1, its output when it
# fails). Returns 0 pass, 1 fail, 2 skip, 3 fail of a listed script.
run_one() {
    local s="$1" path name dir flags own_local own_remote run_name masked log rc why i ctl
    case "$s" in
        /*) path="$s" ;;
        *) if [ -f "$out/corpus/tcp/$s" ]; then path="$out/corpus/tcp/$s"; else path="$(pwd)/$s"; fi ;;
    esac
    name="${path#"$out/corpus/tcp/"}"
    if [ ! -f "$path" ]; then
        echo "skip  $name (no such script)"
        return 2
    fi
    dir="$(dirname "$path")"
    # A script that names its own IPv4 addresses (`--local_ip=` / `--remote_ip=` lines,
    # which the command line would override) runs with them on an IPv4 wire: its expected
    # bytes (Fast Open cookies, for one) depend on them. In IPv6 mode it cannot run.
    flags=("${mode_flags[@]}")
    own_local="$(sed -n 's/^--local_ip=\([0-9.]*\)\s*$/\1/p' "$path" | head -1)"
    own_remote="$(sed -n 's/^--remote_ip=\([0-9.]*\)\s*$/\1/p' "$path" | head -1)"
    if [ "$ip_version" = ipv6 ] && [ -n "$own_local$own_remote" ]; then
        echo "skip  $name (IPv4 wire only: names IPv4 addresses of its own)"
        return 2
    fi
    # Upstream's run_all.py defines the ICMP code CODE (host_unreachable) for the IPv4
    # wires only; a script that injects it cannot run in IPv6 mode there either.
    if [ "$ip_version" = ipv6 ] && grep -qw 'CODE' "$path"; then
        echo "skip  $name (IPv4 wire only: injects ICMP code CODE, defined for IPv4)"
        return 2
    fi
    # ICMPv4's "fragmentation needed" has no form in packetdrill's ICMPv6 (which names
    # Packet Too Big otherwise): such a script is an IPv4 one.
    if [ "$ip_version" = ipv6 ] && grep -q 'icmp unreachable frag_needed' "$path"; then
        echo "skip  $name (IPv4 wire only: injects ICMPv4 fragmentation needed)"
        return 2
    fi
    if [ "$ip_version" != ipv6 ]; then
        for i in "${!flags[@]}"; do
            case "${flags[$i]}" in
                --so_flags=local_ip=*) [ -n "$own_local" ] && flags[i]="--so_flags=local_ip=$own_local" ;;
                --local_ip=*) [ -n "$own_local" ] && flags[i]="--local_ip=$own_local" ;;
                --remote_ip=*) [ -n "$own_remote" ] && flags[i]="--remote_ip=$own_remote" ;;
            esac
        done
    fi
    run_name="$(basename "$path")"
    masked=""
    if [ "${PACKETDRILL_MASK_PSH:-0}" = 1 ] || grep -qxF "$name" "$masked_list" 2> /dev/null; then
        # The copy sits beside the script, where its relative includes resolve.
        run_name="$(mktemp "$dir/.psh-masked-XXXXXX.pkt")"
        psh_masked_copy "$path" "$run_name"
        run_name="$(basename "$run_name")"
        for i in "${!flags[@]}"; do
            case "${flags[$i]}" in --so_flags=*) flags[i]="${flags[$i]},mask_psh=1" ;; esac
        done
        masked=" (PSH masked)"
    fi
    ctl="$(mktemp -d "$out/ctl/run-XXXXXX")"
    for i in "${!flags[@]}"; do
        case "${flags[$i]}" in --so_flags=*) flags[i]="${flags[$i]},ctl_dir=$ctl" ;; esac
    done
    # Preloaded as well as loaded: packetdrill reads TCP_INFO for a script's `%{ }%`
    # assertions with the process's own getsockopt(), which the library's exported
    # getsockopt answers for its sockets (conformance/src/getsockopt.rs).
    log="$(cd "$dir" && PATH="$out/shims:$PATH" RINGTCP_PD_CTL="$ctl" LD_PRELOAD="$so" timeout "$timeout_secs" unshare -n "$out/src/packetdrill" \
        --so_filename="$so" "${flags[@]}" "$run_name" 2>&1)"
    rc=$?
    rm -rf "$ctl"
    [ -n "$masked" ] && rm -f "$dir/$run_name"
    if [ $rc -eq 0 ]; then
        echo "pass  $name$masked"
        return 0
    fi
    why="$(printf '%s\n' "$log" | grep -v '^\s*$' | grep -m1 -E 'error|Error|timing|expected|ringtcp-conformance' || printf '%s\n' "$log" | tail -1)"
    [ $rc -eq 124 ] && why="timed out after ${timeout_secs} s"
    echo "FAIL  $name$masked: $why"
    if [ "${PACKETDRILL_VERBOSE:-0}" = 1 ]; then
        printf '%s\n' "$log" | sed 's/^/      /'
    fi
    if [ $checking_list -eq 1 ] || grep -qxF "$name" "$expected_list" "$masked_list" 2> /dev/null; then
        return 3
    fi
    return 1
}

# Scripts run side by side, PACKETDRILL_JOBS at a time (default: one per CPU): each has
# its own network namespace and its own adapter on a virtual clock, so they share nothing
# (a masked copy gets a name of its own). Their lines come out in the order given.
jobs_max="${PACKETDRILL_JOBS:-$(nproc)}"
results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
n=0
for s in "${scripts[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
        wait -n
    done
    (
        run_one "$s" > "$results/$n.out" 2>&1
        echo $? > "$results/$n.rc"
    ) &
    n=$((n + 1))
done
wait

passed=0
failed=0
skipped=0
failed_expected=0
for ((k = 0; k < n; k++)); do
    cat "$results/$k.out"
    case "$(cat "$results/$k.rc" 2> /dev/null || echo 3)" in
        0) passed=$((passed + 1)) ;;
        2) skipped=$((skipped + 1)) ;;
        3) failed=$((failed + 1)); failed_expected=$((failed_expected + 1)) ;;
        *) failed=$((failed + 1)) ;;
    esac
done

echo "packetdrill mode=$ip_version"
echo "packetdrill passed=$passed failed=$failed skipped=$skipped"
[ $failed_expected -eq 0 ]
