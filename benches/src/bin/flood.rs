//! Spoofed floods against an HTTP server, ringtcp over TUN and the kernel over a veth pair
//! side by side in one run (issue 11's harness). Needs root; everything happens in
//! namespaces made here.
//!
//! For each stack and each flood kind (SYN, ACK, RST at the listener, from random sources
//! in 198.18.0.0/15, as fast as one thread sends): closed-loop clients make requests on
//! fresh connections before, during and after the flood; the report gives the success rate
//! and latency of each phase, the latency of the first request after the flood, the flood
//! rate, and how much the server process's memory grew. The kernel's server namespace
//! routes the spoofed sources through a gateway with a static neighbour entry, so its
//! SYN-ACKs really leave and its SYN queue and cookies are exercised (without a route the
//! kernel would drop the SYNs before its SYN queue and the comparison would mean nothing).
//!
//! The flood leaves through a packet socket on the client side's interface (the TUN device,
//! or the veth end) with the queueing discipline bypassed, as a traffic generator sends:
//! the kernel's routing of the flooder's own packets is not part of the measurement.
//! `--rate` caps it (packets per second), to compare both stacks at one rate.
//!
//! A third server, ringtcp over AF_XDP on a two-queue veth pair (`--stacks` picks), meets
//! the flood on the same kind of link as the kernel: over TUN the flooder hands a packet
//! to the device's queue for little more than a copy, while into a veth it pays the
//! receiving side's driver work, as on a real link (the kernel's SYN handling runs in the
//! sender's context there too). Over TUN one core sends about twice what it sends into a
//! veth, and the stack has to take every packet from the kernel with a system call.
//!
//! Run: `sudo -E env "PATH=$PATH" cargo run --release -p ringtcp-benches --bin flood --
//! [--seconds 30] [--kinds syn,ack,rst] [--clients 4] [--rate N] [--stacks ringtcp,af_xdp,kernel]`

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringtcp_benches::netlab::{self, Netns, Sample, Server, quantile};
use ringtcp_runtime::testing::VethPair;
use ringtcp_runtime::testing::flood::{FloodConfig, FloodKind, Flooder};

const PORT: u16 = 3000;
const TUN_STACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const VETH_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 1);
const VETH_SERVER: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 2);
/// A gateway that does not exist, whose neighbour entry points at the client's veth.
const VETH_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 9);
/// ringtcp's address on the AF_XDP pair (the kernel's own there is .2, the client's .1).
const XDP_STACK: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 3);
/// The servers: ringtcp over TUN, ringtcp over AF_XDP on veth, the kernel over veth.
const STACKS: [&str; 3] = ["ringtcp", "af_xdp", "kernel"];
const BASELINE: Duration = Duration::from_secs(3);
const AFTER: Duration = Duration::from_secs(3);

struct Args {
    seconds: u64,
    kinds: Vec<FloodKind>,
    clients: usize,
    rate: Option<u64>,
    stacks: Vec<String>,
}

/// The clients' side of either stack also receives the replies to the spoofed sources
/// (over TUN they enter the kernel there, over veth they cross to it), where a real network
/// would carry them away. Early demux would look each one up in the established table, a
/// cost of the stand-in network rather than of the server; both client sides go without
/// it, so the comparison stays even.
fn no_early_demux(ns: &Netns) {
    netlab::sysctl(ns, "net.ipv4.tcp_early_demux=0");
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { seconds: 30, kinds: vec![FloodKind::Syn, FloodKind::Ack, FloodKind::Rst], clients: 4, rate: None, stacks: STACKS.iter().map(|s| s.to_string()).collect() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse().map_err(|_| "--seconds takes a number")?,
            "--clients" => a.clients = value()?.parse().map_err(|_| "--clients takes a number")?,
            "--rate" => a.rate = Some(value()?.parse().map_err(|_| "--rate takes packets per second")?),
            "--stacks" => {
                a.stacks = value()?.split(',').map(str::to_owned).collect();
                if let Some(other) = a.stacks.iter().find(|s| !STACKS.contains(&s.as_str())) {
                    return Err(format!("unknown stack {other}: use {}", STACKS.join(", ")));
                }
            }
            "--kinds" => {
                a.kinds = value()?
                    .split(',')
                    .map(|k| match k {
                        "syn" => Ok(FloodKind::Syn),
                        "ack" => Ok(FloodKind::Ack),
                        "rst" => Ok(FloodKind::Rst),
                        other => Err(format!("unknown flood kind {other}: use syn, ack, rst")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--serve" => {
                serve(&value()?);
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// Server mode (a child process in its namespace): axum `GET /` on ringtcp's default
/// stack (TUN or AF_XDP from the `RINGTCP_*` variables; `ringtcp=ADDR` binds that
/// address) or on the kernel; prints `ready`, and when stdin closes prints its counters
/// and exits.
fn serve(stack: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello\n" }));
    let ringtcp = stack.strip_prefix("ringtcp=").map(|a| a.parse::<Ipv4Addr>().expect("--serve ringtcp=ADDR"));
    let stats_stack = rt.block_on(async move {
        if let Some(addr) = ringtcp {
            let listener = ringtcp::TcpListener::bind((addr, PORT)).await.expect("bind on ringtcp");
            tokio::spawn(async move { axum::serve(listener, app).await });
            Some(ringtcp::Stack::default_stack().expect("default stack"))
        } else {
            let listener = tokio::net::TcpListener::bind((VETH_SERVER, PORT)).await.expect("bind on the kernel");
            tokio::spawn(async move { axum::serve(listener, app).await });
            None
        }
    });
    println!("ready");
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    if let Some(stack) = stats_stack
        && let Ok(s) = stack.stats()
    {
        let (t, d) = (s.transport(), s.drops());
        println!("syncookies_sent {}", t.syncookies_sent);
        println!("syncookies_recv {}", t.syncookies_recv);
        println!("syncookies_failed {}", d.syncookies_failed);
        println!("rst_rate_limited {}", d.rst_rate_limited);
        println!("out_rsts {}", t.out_rsts);
        println!("tx_overflow {}", s.shards.iter().map(|x| x.io.tx_overflow).sum::<u64>());
        println!("control_queue_full {}", d.control_queue_full);
    }
    std::process::exit(0);
}

/// What one flood did to one stack.
struct Outcome {
    kind: FloodKind,
    rate: f64,
    before: Vec<Sample>,
    during: Vec<Sample>,
    after: Vec<Sample>,
    first_after: Sample,
    rss_growth: i64,
}

fn success(s: &[Sample]) -> f64 {
    if s.is_empty() { 0.0 } else { 100.0 * s.iter().filter(|x| x.ok).count() as f64 / s.len() as f64 }
}

/// Runs the phases (before, flood, after) against `target` from `client_ns`; the flood
/// goes out of `device` (to `mac`, on Ethernet) without the kernel's routing and queueing.
#[allow(clippy::too_many_arguments)]
fn measure(
    client_ns: &Netns,
    server: &Server,
    target: SocketAddrV4,
    device: (&str, Option<[u8; 6]>),
    kind: FloodKind,
    secs: u64,
    workers: usize,
    rate: Option<u64>,
) -> Outcome {
    let epoch = Instant::now();
    let phase = |d: Duration| -> Vec<Sample> {
        let stop = Arc::new(AtomicBool::new(false));
        let hs = netlab::clients(client_ns, SocketAddr::V4(target), workers, epoch, stop.clone());
        std::thread::sleep(d);
        stop.store(true, Ordering::Relaxed);
        hs.into_iter().flat_map(|h| h.join().expect("client thread")).collect()
    };
    let before = phase(BASELINE);
    let rss0 = server.rss() as i64;
    let cfg = FloodConfig { kind, rate, device: Some((device.0.to_owned(), device.1)), ..FloodConfig::syn(target) };
    let flood = Flooder::start(Some(client_ns), cfg).expect("packet socket");
    let stop = Arc::new(AtomicBool::new(false));
    let hs = netlab::clients(client_ns, SocketAddr::V4(target), workers, epoch, stop.clone());
    let mut rss_max = rss0;
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(250));
        rss_max = rss_max.max(server.rss() as i64);
    }
    stop.store(true, Ordering::Relaxed);
    let (_, rate) = flood.stop().expect("flood");
    let during: Vec<Sample> = hs.into_iter().flat_map(|h| h.join().expect("client thread")).collect();
    let t = Instant::now();
    let ok = client_ns.spawn(move || netlab::http_get(SocketAddr::V4(target), Duration::from_secs(5))).join().expect("first request");
    let first_after = Sample { at: t - epoch, latency: t.elapsed(), ok };
    let after = phase(AFTER);
    Outcome { kind, rate, before, during, after, first_after, rss_growth: rss_max - rss0 }
}

fn report(stack: &str, o: &Outcome) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{stack:<8} {:<4} {:>9.0}/s  before {:>6} {:>6.2}% p50 {:>6.2} p99 {:>7.2} ms | during {:>6} {:>6.2}% p50 {:>6.2} p99 {:>7.2} ms | first after {} {:>6.2} ms | after {:>6.2}% p99 {:>6.2} ms | RSS +{:.1} MB",
        format!("{:?}", o.kind).to_lowercase(),
        o.rate,
        o.before.len(),
        success(&o.before),
        ms(quantile(&o.before, 0.5)),
        ms(quantile(&o.before, 0.99)),
        o.during.len(),
        success(&o.during),
        ms(quantile(&o.during, 0.5)),
        ms(quantile(&o.during, 0.99)),
        if o.first_after.ok { "ok  " } else { "FAIL" },
        ms(o.first_after.latency),
        success(&o.after),
        ms(quantile(&o.after, 0.99)),
        o.rss_growth as f64 / (1 << 20) as f64,
    );
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("flood: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("flood: needs root (network namespaces, TUN, raw sockets): run it with sudo");
        std::process::exit(1);
    }
    let exe = std::env::current_exe().expect("own path");
    let exe = exe.to_str().expect("path");
    let mut results: Vec<(&str, Outcome)> = Vec::new();

    let wanted = |s: &str| args.stacks.iter().any(|x| x == s);
    let mut counters = Vec::new();

    // ringtcp: the TUN device and its kernel side in one namespace with the clients.
    if wanted("ringtcp") {
        let r = Netns::new("flood-r");
        no_early_demux(&r);
        let server = Server::start(&r, exe, &["--serve", &format!("ringtcp={TUN_STACK}")], &[("RINGTCP_SHARDS", "2")]);
        let target = SocketAddrV4::new(TUN_STACK, PORT);
        for &kind in &args.kinds {
            results.push(("ringtcp", measure(&r, &server, target, ("ringtcp0", None), kind, args.seconds, args.clients, args.rate)));
            report("ringtcp", &results.last().expect("just pushed").1);
        }
        counters.push(("ringtcp", server.finish()));
    }

    // ringtcp over AF_XDP: two shards on the near end of a two-queue veth pair, clients and
    // flooder at the far end, which is also the gateway the SYN-ACKs to the spoofed
    // sources go to (its kernel drops them, as the kernel's client side does below).
    if wanted("af_xdp") {
        let pair = VethPair::new("flood-x", &["10.89.0.2/24"], &["10.89.0.1/24"]);
        no_early_demux(&pair.far);
        netlab::sysctl(&pair.far, "net.ipv4.tcp_tw_reuse=1");
        let mac = netlab::parse_mac(&pair.near_mac()).expect("MAC of xr");
        let env = [
            ("RINGTCP_SHARDS", "2"),
            ("RINGTCP_AF_XDP", "xr"),
            ("RINGTCP_ADDR", "10.89.0.3"),
            ("RINGTCP_PREFIX", "24"),
            ("RINGTCP_GATEWAY", "10.89.0.1"),
        ];
        let server = Server::start(&pair.near, exe, &["--serve", &format!("ringtcp={XDP_STACK}")], &env);
        let target = SocketAddrV4::new(XDP_STACK, PORT);
        for &kind in &args.kinds {
            results.push(("af_xdp", measure(&pair.far, &server, target, ("xk", Some(mac)), kind, args.seconds, args.clients, args.rate)));
            report("af_xdp", &results.last().expect("just pushed").1);
        }
        counters.push(("af_xdp", server.finish()));
    }

    if wanted("kernel") {
        // The kernel: tokio::net in S, clients and flooder in C, a veth pair between; S routes
        // the spoofed sources through a gateway pinned to C's MAC address.
        let (s, c) = (Netns::new("flood-s"), Netns::new("flood-c"));
        let tag = format!("f{}", std::process::id() % 100_000);
        let (mac, server_mac) = netlab::veth(&tag, &c, VETH_CLIENT, &s, VETH_SERVER);
        let (client_dev, dev) = (format!("va{tag}"), format!("vb{tag}"));
        let mac = netlab::format_mac(&mac);
        let run = |ns: &Netns, args: &[&str]| {
            let ok = ns.command(args[0]).args(&args[1..]).status().map(|s| s.success()).unwrap_or(false);
            assert!(ok, "{args:?} in {} failed", ns.name);
        };
        run(&s, &["ip", "neigh", "add", &VETH_GATEWAY.to_string(), "lladdr", &mac, "dev", &dev, "nud", "permanent"]);
        run(&s, &["ip", "route", "add", "198.18.0.0/15", "via", &VETH_GATEWAY.to_string(), "dev", &dev]);
        no_early_demux(&c);
        for ns in [&s, &c] {
            netlab::sysctl(ns, "net.ipv4.conf.all.rp_filter=0");
            netlab::sysctl(ns, "net.ipv4.conf.default.rp_filter=0");
        }
        netlab::sysctl(&s, "net.ipv4.tcp_syncookies=1");
        netlab::sysctl(&c, "net.ipv4.tcp_tw_reuse=1");
        let server = Server::start(&s, exe, &["--serve", "kernel"], &[]);
        let target = SocketAddrV4::new(VETH_SERVER, PORT);
        for &kind in &args.kinds {
            results.push(("kernel", measure(&c, &server, target, (&client_dev, Some(server_mac)), kind, args.seconds, args.clients, args.rate)));
            report("kernel", &results.last().expect("just pushed").1);
        }
        let cookies = (netlab::netstat(&s, "TcpExt", "SyncookiesSent"), netlab::netstat(&s, "TcpExt", "SyncookiesRecv"));
        drop(server);
        counters.push(("kernel", format!("SyncookiesSent {}\nSyncookiesRecv {}\n", cookies.0, cookies.1)));
    }

    println!("\nside by side ({} s per flood, {} closed-loop clients on fresh connections):", args.seconds, args.clients);
    for (stack, o) in &results {
        report(stack, o);
    }
    for (stack, text) in &counters {
        println!("\n{stack} server counters:\n{}", text.trim_end());
    }
    for (stack, o) in &results {
        let base = quantile(&o.before, 0.99);
        let during = quantile(&o.during, 0.99);
        let goals = [
            ("99 % served during", success(&o.during) >= 99.0),
            ("p99 at most 2x", during <= base * 2),
            ("first after", o.first_after.ok),
            ("memory < 16 MB", o.rss_growth < 16 << 20),
        ];
        let line: Vec<String> = goals.iter().map(|(n, ok)| format!("{n}: {}", if *ok { "yes" } else { "NO" })).collect();
        println!("goals {stack:<8} {:<4} {}", format!("{:?}", o.kind).to_lowercase(), line.join(", "));
    }
}
