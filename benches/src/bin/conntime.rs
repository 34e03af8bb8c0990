//! conntime: connection times under TIME-WAIT churn, ringtcp over TUN and tokio over the
//! kernel behind a veth pair, side by side in one run, with pictures (see
//! `ringtcp_benches::conntime` for what is measured and how). Needs root: it makes its own
//! network namespaces and removes them at the end.
//!
//! Phases, each stack in turn:
//! 1. the drop-free search: offered rates rising by a factor until a step retransmits a
//!    SYN, fails or resets a connection, or loses track of one in the capture;
//! 2. each maximum held for longer (a rate that does not stay drop-free steps down), the
//!    scatter there and at a common rate (the lower maximum);
//! 3. the TIME-WAIT storm: a population made at the common rate, then a steady 80 % of it
//!    while that population expires (ringtcp's TIME-WAIT lasts `--time-wait` seconds for
//!    the whole run, so its storm takes about a minute; the kernel's is its fixed 60 s),
//!    sampling the memory TIME-WAIT holds every 100 ms.
//!
//! Writes `scatter`, `cdf`, `p99_windows` and `time_wait_memory` (SVG and PNG) and
//! `table.md` into `--out` (default `target/conntime`), and prints their paths.
//! `--smoke` runs every phase in a few seconds at low rates, and exits non-zero if a
//! connection failed or the capture missed one (CI runs it).
//!
//! Run: `sudo -E env "PATH=$PATH" cargo run --release -p ringtcp-benches --bin conntime
//! -- [--smoke] [--out DIR] [--from 2000] [--factor 1.25] [--step-seconds 3]`

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringtcp_benches::conntime::capture::Capture;
use ringtcp_benches::conntime::plot::{self, Panel};
use ringtcp_benches::conntime::servers::{self, PORT};
use ringtcp_benches::conntime::{Netns, Run, TimeWaitSeries, load, pairing};
use ringtcp_benches::netlab;

const TUN_KERNEL: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 1);
const TUN_STACK: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);
const VETH_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 1);
const VETH_SERVER: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 2);
/// Source addresses of the clients (the last byte), added to the client side's device:
/// 64 of them, so the 4-tuples (64 x about 14,000 ports) outnumber any TIME-WAIT
/// population the phases make.
const SOURCES: std::ops::Range<u8> = 10..74;
/// The kernel's TIME-WAIT length (`TCP_TIMEWAIT_LEN`, fixed at build time).
const KERNEL_TIME_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Args {
    smoke: bool,
    out: PathBuf,
    from: u64,
    factor: f64,
    step: Duration,
    max_steps: usize,
    run: Duration,
    time_wait: Duration,
    fill: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        smoke: false,
        out: PathBuf::from("target/conntime"),
        from: 2000,
        factor: 1.25,
        step: Duration::from_secs(3),
        max_steps: 14,
        run: Duration::from_secs(5),
        time_wait: Duration::from_secs(40),
        fill: Duration::from_secs(20),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let secs = |v: String| v.parse::<f64>().map(Duration::from_secs_f64).map_err(|_| format!("{flag} takes seconds"));
        match flag.as_str() {
            "--smoke" => {
                a.smoke = true;
                a.from = 300;
                a.factor = 2.0;
                a.step = Duration::from_secs(1);
                a.max_steps = 2;
                a.run = Duration::from_secs(1);
                a.time_wait = Duration::from_secs(2);
                a.fill = Duration::from_secs(1);
            }
            "--out" => a.out = PathBuf::from(value()?),
            "--from" => a.from = value()?.parse().map_err(|_| "--from takes connections per second")?,
            "--factor" => a.factor = value()?.parse().map_err(|_| "--factor takes a number above 1")?,
            "--step-seconds" => a.step = secs(value()?)?,
            "--run-seconds" => a.run = secs(value()?)?,
            "--time-wait" => a.time_wait = secs(value()?)?,
            "--fill-seconds" => a.fill = secs(value()?)?,
            other => return Err(format!("unknown argument {other} (see the file's header for the flags)")),
        }
    }
    if a.factor <= 1.0 || a.from == 0 {
        return Err("--factor must be above 1 and --from above 0".into());
    }
    Ok(a)
}

/// One stack's place in the lab: where its clients run, where the capture listens, what
/// they connect to.
struct Side<'a> {
    name: &'static str,
    clients: &'a Netns,
    /// The clients' source addresses.
    sources: Vec<Ipv4Addr>,
    device: String,
    target: SocketAddrV4,
}

/// Adds the client source addresses to `device` in `ns` (on `base`'s /24).
fn add_sources(ns: &Netns, device: &str, base: Ipv4Addr) -> Vec<Ipv4Addr> {
    let o = base.octets();
    SOURCES
        .map(|last| {
            let ip = Ipv4Addr::new(o[0], o[1], o[2], last);
            let ok = ns.command("ip").args(["addr", "add", &format!("{ip}/24"), "dev", device]).status().map(|s| s.success()).unwrap_or(false);
            assert!(ok, "adding {ip} to {device}");
            ip
        })
        .collect()
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Offers `rate` for `secs` from the side's clients while capturing; pairs the packets.
fn measure(side: &Side<'_>, rate: u64, secs: Duration) -> Run {
    let capture = Capture::start(side.clients, &side.device).unwrap_or_else(|e| panic!("capture on {}: {e}", side.device));
    let epoch_ns = now_ns();
    let target = SocketAddr::V4(side.target);
    let secs_f = secs.as_secs_f64();
    let sources = side.sources.clone();
    let load = side.clients.spawn(move || load::offer(target, &sources, rate, secs_f)).join().expect("load thread");
    // The last connections' final ACKs pass the tap right after the load sees its end.
    std::thread::sleep(Duration::from_millis(200));
    let captured = capture.finish().expect("capture");
    let paired = pairing::pair(captured.packets, side.target);
    Run { stack: side.name, rate, load, paired, capture_drops: captured.dropped, epoch_ns }
}

/// Phase 1: the highest offered rate that stays drop-free (or the rate at which the load
/// generator, rather than the stack, began to fall behind).
fn search(side: &Side<'_>, a: &Args, runs: &mut Vec<Run>) -> u64 {
    let mut rate = a.from;
    let mut best = 0;
    for _ in 0..a.max_steps {
        let run = measure(side, rate, a.step);
        println!("  search {}", run.summary());
        let clean = run.drop_free();
        let generator_limited = run.load.late * 100 > run.load.started;
        runs.push(run);
        if !clean {
            return best;
        }
        best = rate;
        if generator_limited {
            println!("  ({} could not start connections on time above this rate: the maximum is at least {best}/s)", side.name);
            return best;
        }
        rate = ((rate as f64) * a.factor).round() as u64;
    }
    best
}

/// Phase 2's first part: the search's maximum run again, longer; a rate that does not stay
/// drop-free steps down by the search's factor (three tries at most). Returns the rate
/// that held (0 if none did) and its run.
fn confirm(side: &Side<'_>, max: u64, a: &Args) -> (u64, Run) {
    let mut rate = max.max(1);
    for _ in 0..3 {
        let run = measure(side, rate, a.run);
        println!("  {}", run.summary());
        if run.drop_free() {
            return (rate, run);
        }
        let lower = ((rate as f64) / a.factor).round() as u64;
        if lower < a.from || lower == rate {
            return (0, run);
        }
        rate = lower;
    }
    let run = measure(side, rate, a.run);
    println!("  {}", run.summary());
    (if run.drop_free() { rate } else { 0 }, run)
}

/// Phase 3: a TIME-WAIT population made at `fill_rate`, then `steady_rate` until it has
/// expired (and a little longer), sampling TIME-WAIT every 100 ms with `sample` on a
/// thread in the server's namespace `server_ns` (where the kernel's counts are).
fn storm(
    side: &Side<'_>,
    server_ns: &Netns,
    (fill_rate, steady_rate): (u64, u64),
    (fill, steady): (Duration, Duration),
    sample: impl Fn() -> (u64, u64) + Send + 'static,
) -> (Run, TimeWaitSeries) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let t0 = Instant::now();
    let sampler = server_ns.spawn(move || {
        let mut series = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            let (n, bytes) = sample();
            series.push((t0.elapsed().as_secs_f64(), n, bytes));
            std::thread::sleep(Duration::from_millis(100));
        }
        series
    });
    let filled = measure(side, fill_rate, fill);
    println!("  storm fill {}", filled.summary());
    let steady_run = measure(side, steady_rate, steady);
    println!("  storm steady {}", steady_run.summary());
    stop.store(true, Ordering::Relaxed);
    (steady_run, sampler.join().expect("sampler"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("conntime: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("conntime: needs root (network namespaces, TUN, packet capture): run it with sudo");
        std::process::exit(1);
    }
    std::fs::create_dir_all(&a.out).unwrap_or_else(|e| panic!("{}: {e}", a.out.display()));
    let started = Instant::now();
    // Room for the storm's population; the FIN cache's index is sized for it up front
    // (its bytes are reported apart from the bytes per record).
    let storm_records = if a.smoke { 65_536 } else { 1_000_000 };

    println!("conntime: setting up ringtcp over TUN and the kernel over veth (namespaces of its own)");
    // ringtcp: TUN device, its kernel side and the clients in one namespace.
    let r = Netns::new("ct-r");
    let (stack, ring_server) = servers::ringtcp(&r, TUN_KERNEL, TUN_STACK, a.time_wait, storm_records);
    let ring_sources = add_sources(&r, "ringtcp0", TUN_KERNEL);
    let ring = Side { name: "ringtcp", clients: &r, sources: ring_sources, device: "ringtcp0".into(), target: SocketAddrV4::new(TUN_STACK, PORT) };
    // The kernel: server in S, clients in C, a veth pair between.
    let (s, c) = (Netns::new("ct-s"), Netns::new("ct-c"));
    let tag = format!("t{}", std::process::id() % 100_000);
    netlab::veth(&tag, &c, VETH_CLIENT, &s, VETH_SERVER);
    // Room for the whole TIME-WAIT population, as ringtcp's FIN cache has.
    netlab::sysctl(&s, &format!("net.ipv4.tcp_max_tw_buckets={storm_records}"));
    netlab::sysctl(&s, "net.core.somaxconn=4096");
    let kernel_server = servers::kernel(&s, VETH_SERVER);
    let kern_sources = add_sources(&c, &format!("va{tag}"), VETH_CLIENT);
    let kern = Side { name: "kernel", clients: &c, sources: kern_sources, device: format!("va{tag}"), target: SocketAddrV4::new(VETH_SERVER, PORT) };

    let mut runs = Vec::new();
    println!("phase 1: the drop-free maximum ({} s steps from {}/s, x{})", a.step.as_secs_f64(), a.from, a.factor);
    let max_r = search(&ring, &a, &mut runs);
    let max_k = search(&kern, &a, &mut runs);
    println!("  drop-free in the search up to: ringtcp {max_r}/s, kernel {max_k}/s");

    println!("phase 2: each stack's maximum held for {} s (stepping down until it holds), then the common rate", a.run.as_secs_f64());
    let (max_r, at_max_r) = confirm(&ring, max_r, &a);
    let (max_k, at_max_k) = confirm(&kern, max_k, &a);
    println!("  drop-free maximum held: ringtcp {max_r}/s, kernel {max_k}/s");
    let common = max_r.min(max_k).max(a.from / 2).max(1);
    println!("  the common rate: {common}/s");
    let common_r = measure(&ring, common, a.run);
    println!("  {}", common_r.summary());
    let common_k = measure(&kern, common, a.run);
    println!("  {}", common_k.summary());

    let steady_rate = (common as f64 * 0.8).round().max(1.0) as u64;
    // Long enough for the fill population to expire, and a little more.
    let ring_steady = a.time_wait + Duration::from_secs(if a.smoke { 1 } else { 5 });
    let kern_steady = if a.smoke { Duration::from_secs(2) } else { KERNEL_TIME_WAIT + Duration::from_secs(5) };
    println!(
        "phase 3: TIME-WAIT storm: {} s at {common}/s, then {steady_rate}/s while it expires (ringtcp TIME-WAIT {} s, {} s; kernel 60 s, {} s)",
        a.fill.as_secs_f64(),
        a.time_wait.as_secs_f64(),
        ring_steady.as_secs_f64(),
        kern_steady.as_secs_f64()
    );
    let sampled = stack.clone();
    let (storm_r, tw_r) = storm(&ring, &r, (common, steady_rate), (a.fill, ring_steady), move || servers::ringtcp_time_wait(&sampled));
    let tw_size = servers::slab_object_size("tw_sock_TCP").unwrap_or(0);
    let (storm_k, tw_k) = storm(&kern, &s, (common, steady_rate), (a.fill, kern_steady), move || {
        let n = servers::kernel_time_wait();
        (n, n * tw_size)
    });

    // Before the fill population began to expire, and while it expired (the steady
    // phase's time tw - fill .. tw): each 100 ms window's p99, their median and worst.
    let storm_windows = |run: &Run, tw: Duration| -> [f64; 4] {
        let w = run.p99_windows(Duration::from_millis(100));
        let (from, to) = (tw.saturating_sub(a.fill).as_secs_f64(), tw.as_secs_f64());
        let stats = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v.get(v.len() / 2).copied().unwrap_or(0.0), v.last().copied().unwrap_or(0.0))
        };
        let (bm, bx) = stats(w.iter().filter(|p| p.0 < from).map(|p| p.1).collect());
        let (dm, dx) = stats(w.iter().filter(|p| p.0 >= from && p.0 < to).map(|p| p.1).collect());
        [bm, bx, dm, dx]
    };
    let sw_r = storm_windows(&storm_r, a.time_wait);
    let sw_k = storm_windows(&storm_k, KERNEL_TIME_WAIT);

    // Pictures.
    let mut written = Vec::new();
    let panel = |title: String, run: &Run| Panel { title, stack: run.stack, points: run.points() };
    let panels = [
        panel(format!("ringtcp at its drop-free maximum, {max_r}/s"), &at_max_r),
        panel(format!("kernel at its drop-free maximum, {max_k}/s"), &at_max_k),
        panel(format!("ringtcp at {common}/s"), &common_r),
        panel(format!("kernel at {common}/s"), &common_k),
        panel(format!("ringtcp, TIME-WAIT storm, {steady_rate}/s"), &storm_r),
        panel(format!("kernel, TIME-WAIT storm, {steady_rate}/s"), &storm_k),
    ];
    written.extend(plot::scatter(&a.out, "scatter", &panels).expect("scatter picture"));
    let ms_sorted = |run: &Run| run.sorted_times().iter().map(|d| ms(*d)).collect::<Vec<f64>>();
    let cdf_series = [
        (format!("ringtcp {common}/s"), "ringtcp", ms_sorted(&common_r)),
        (format!("kernel {common}/s"), "kernel", ms_sorted(&common_k)),
    ];
    written.extend(plot::cdf(&a.out, "cdf", &format!("Connection time (first SYN to last ACK) at {common}/s"), &cdf_series).expect("cdf picture"));
    let p99_series = [
        ("ringtcp".to_owned(), "ringtcp", storm_r.p99_windows(Duration::from_millis(100))),
        ("kernel".to_owned(), "kernel", storm_k.p99_windows(Duration::from_millis(100))),
    ];
    written.extend(
        plot::over_time(&a.out, "p99_windows", &format!("p99 connection time per 100 ms during the TIME-WAIT storm, {steady_rate}/s"), ("time since the steady load began (s)", "p99 (ms)"), true, &p99_series)
            .expect("p99 picture"),
    );
    let mb = |tw: &TimeWaitSeries| tw.iter().map(|&(t, _, b)| (t, b as f64 / (1 << 20) as f64)).collect::<Vec<_>>();
    let tw_series = [
        ("ringtcp FIN cache".to_owned(), "ringtcp", mb(&tw_r)),
        (format!("kernel TIME-WAIT sockets x {tw_size} B"), "kernel", mb(&tw_k)),
    ];
    written.extend(plot::over_time(&a.out, "time_wait_memory", "Memory held by TIME-WAIT", ("time since the storm's population began to form (s)", "MiB"), false, &tw_series).expect("memory picture"));

    // The table.
    let peak = |tw: &TimeWaitSeries| tw.iter().copied().max_by_key(|x| x.1).unwrap_or_default();
    let low = |tw: &TimeWaitSeries| tw.iter().copied().min_by_key(|x| x.1).unwrap_or_default();
    let (pr, pk) = (peak(&tw_r), peak(&tw_k));
    // What one more record costs: the growth from the smallest population sampled to the
    // largest (the FIN cache's index, sized up front for its capacity, is not in it; as
    // the kernel's own hash table is not in its socket objects).
    let marginal = |tw: &TimeWaitSeries| {
        let (p, l) = (peak(tw), low(tw));
        if p.1 > l.1 { p.2.saturating_sub(l.2) as f64 / (p.1 - l.1) as f64 } else { 0.0 }
    };
    let (mr, mk) = (marginal(&tw_r), marginal(&tw_k));
    let row = |name: &str, max: u64, run: &Run, p: (f64, u64, u64), per: f64| {
        format!(
            "| {name} | {max} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {:.1} | {:.0} |",
            ms(run.quantile(0.5)),
            ms(run.quantile(0.99)),
            ms(run.quantile(0.999)),
            ms(run.quantile(1.0)),
            p.1,
            p.2 as f64 / f64::from(1u32 << 20),
            per
        )
    };
    let table = format!(
        "| stack | drop-free max, held {:.0} s (conn/s) | p50 ms at {common}/s | p99 ms | p99.9 ms | max ms | TIME-WAIT peak | its MiB | bytes per TIME-WAIT |\n|---|---|---|---|---|---|---|---|---|\n{}\n{}\n",
        a.run.as_secs_f64(),
        row("ringtcp", max_r, &common_r, pr, mr),
        row("kernel", max_k, &common_k, pk, mk)
    );
    let goals = format!(
        "goals: drop-free maximum ringtcp/kernel {:.2} (goal >= 1.5); p99.9 at {common}/s ringtcp/kernel {:.2} (goal <= 0.5)\n\
         TIME-WAIT storm, p99 of each 100 ms window (median / worst), before the population expired and while it did:\n\
         ringtcp {:.3} / {:.3} ms before, {:.3} / {:.3} ms during (worst {:+.1} % over the median before; goal <= +10 %)\n\
         kernel  {:.3} / {:.3} ms before, {:.3} / {:.3} ms during{}\n",
        max_r as f64 / max_k.max(1) as f64,
        common_r.quantile(0.999).as_secs_f64() / common_k.quantile(0.999).as_secs_f64().max(1e-9),
        sw_r[0],
        sw_r[1],
        sw_r[2],
        sw_r[3],
        if sw_r[0] > 0.0 { (sw_r[3] / sw_r[0] - 1.0) * 100.0 } else { 0.0 },
        sw_k[0],
        sw_k[1],
        sw_k[2],
        sw_k[3],
        if a.smoke { " (smoke: the kernel's population does not expire within the run)" } else { "" },
    );
    let table_path = a.out.join("table.md");
    std::fs::write(&table_path, format!("{table}\n{goals}")).expect("table");
    written.push(table_path);
    println!("\n{table}\n{goals}");

    runs.extend([at_max_r, at_max_k, common_r, common_k, storm_r, storm_k]);
    let failed_any = runs.iter().any(|run| run.load.failed > 0 || !run.capture_complete());
    drop(ring_server);
    drop(kernel_server);
    println!("conntime took {:.0} s; wrote:", started.elapsed().as_secs_f64());
    for p in &written {
        println!("  {}", p.display());
    }
    if a.smoke && failed_any {
        eprintln!("conntime --smoke: a connection failed or the capture missed one (see the lines above)");
        std::process::exit(1);
    }
}
