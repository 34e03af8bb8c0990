//! Bulk transfers side by side, in one run: upload, download and echo, one stream and four,
//! for ringtcp over TUN (offloads on, and forced off) against tokio over a veth pair,
//! ringtcp over AF_XDP on a two-queue veth pair against tokio on the same kind of pair,
//! and ringtcp ↔ ringtcp over the in-memory link against tokio over loopback. Every byte is
//! checked. Reports Gbit/s (payload, one direction) and CPU seconds per GB (all CPU time
//! the machine spent in the run, kernel work included, from `/proc/stat`: the kernel's
//! TCP runs in softirq time a process's own clock would not show).
//!
//! Run as root (it makes network namespaces, a TUN device and a veth pair, and removes
//! them): `cargo run --release -p ringtcp-benches --bin bulk_compare [MB per stream]`
//! (default 256). `BULK_SMOKE=1` moves 4 MB per stream, for CI; `BULK_ONLY=name,...`
//! runs only the named setups (for a profile of one).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::{Duration, Instant};

use ringtcp::Stack;
use ringtcp_benches::netlab::{Netns, veth};
use ringtcp_runtime::testing::VethPair;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const CHUNK: usize = 64 * 1024;

/// The test data repeats with this period: a prime, so no shift by a whole number of
/// segments or chunks (anything below the period) leaves it unchanged, and a misplaced,
/// repeated or lost piece is caught.
const PERIOD: usize = 65_537;

/// Two periods of the test data, so any piece of a stream up to a chunk long is one
/// slice of it: sending is a write of a slice and checking a comparison, which keeps the
/// harness's own work far below the stacks' (filling and checking byte by byte took
/// nearly half of this machine's CPU and capped every setup alike).
fn pattern() -> &'static [u8] {
    static P: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    P.get_or_init(|| (0..2 * PERIOD as u64).map(|i| i % PERIOD as u64).map(|i| (i.wrapping_mul(7) ^ (i >> 11)) as u8).collect())
}

/// The `n` bytes of the stream from offset `at`.
fn piece(at: u64, n: usize) -> &'static [u8] {
    let off = (at % PERIOD as u64) as usize;
    &pattern()[off..off + n]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Upload,
    Download,
    Echo,
}

impl Dir {
    fn code(self) -> u8 {
        match self {
            Dir::Upload => b'U',
            Dir::Download => b'D',
            Dir::Echo => b'E',
        }
    }
}

/// Writes `len` bytes of the pattern.
async fn send_pattern<W: AsyncWrite + Unpin>(w: &mut W, len: u64) -> std::io::Result<()> {
    let mut at = 0;
    while at < len {
        let n = (len - at).min(CHUNK as u64) as usize;
        w.write_all(piece(at, n)).await?;
        at += n as u64;
    }
    Ok(())
}

/// Reads to the end, checking the pattern; returns the bytes read.
async fn receive_pattern<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut at = 0u64;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(at);
        }
        if buf[..n] != *piece(at, n) {
            return Err(std::io::Error::other(format!("wrong byte within {n} bytes at offset {at}")));
        }
        at += n as u64;
    }
}

/// One server connection: a command byte, then upload (read and check, answer the count),
/// download (send the asked length) or echo.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(s: S) -> std::io::Result<()> {
    let (mut r, mut w) = tokio::io::split(s);
    let mut cmd = [0u8; 9];
    r.read_exact(&mut cmd).await?;
    let len = u64::from_be_bytes(cmd[1..].try_into().unwrap_or_default());
    match cmd[0] {
        b'U' => {
            let got = receive_pattern(&mut r).await?;
            w.write_all(&got.to_be_bytes()).await?;
        }
        b'D' => send_pattern(&mut w, len).await?,
        _ => {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = r.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                w.write_all(&buf[..n]).await?;
            }
        }
    }
    w.shutdown().await
}

/// One client stream: moves `len` bytes in `dir` and checks every one.
async fn client<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(s: S, dir: Dir, len: u64) -> Result<(), String> {
    let (mut r, mut w) = tokio::io::split(s);
    let mut cmd = [0u8; 9];
    cmd[0] = dir.code();
    cmd[1..].copy_from_slice(&len.to_be_bytes());
    w.write_all(&cmd).await.map_err(|e| e.to_string())?;
    match dir {
        Dir::Upload => {
            send_pattern(&mut w, len).await.map_err(|e| e.to_string())?;
            w.shutdown().await.map_err(|e| e.to_string())?;
            let mut got = [0u8; 8];
            r.read_exact(&mut got).await.map_err(|e| e.to_string())?;
            (u64::from_be_bytes(got) == len).then_some(()).ok_or_else(|| "the server counted another length".to_owned())
        }
        Dir::Download => {
            w.shutdown().await.map_err(|e| e.to_string())?;
            let got = receive_pattern(&mut r).await.map_err(|e| e.to_string())?;
            (got == len).then_some(()).ok_or_else(|| format!("downloaded {got} of {len} bytes"))
        }
        Dir::Echo => {
            let writer = tokio::spawn(async move {
                send_pattern(&mut w, len).await?;
                w.shutdown().await
            });
            let got = receive_pattern(&mut r).await.map_err(|e| e.to_string())?;
            writer.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
            (got == len).then_some(()).ok_or_else(|| format!("echoed {got} of {len} bytes"))
        }
    }
}

/// Busy CPU time of the whole machine so far (user, nice, system, irq, softirq), seconds.
fn cpu_busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = [0usize, 1, 2, 5, 6].iter().filter_map(|&i| fields.get(i)).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    busy / hz
}

type Connect = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// One measurement: `streams` clients at once, each moving `len` bytes in `dir`.
struct Row {
    gbits: f64,
    cpu_per_gb: f64,
}

/// Runs the clients `make(dir)` makes, `streams` at once, on `rt`.
fn measure(rt: &tokio::runtime::Runtime, streams: usize, len: u64, make: &dyn Fn() -> Connect) -> Row {
    let start = Instant::now();
    let cpu = cpu_busy();
    let connect = make();
    let results: Vec<Result<(), String>> = rt.block_on(async {
        let tasks: Vec<_> = (0..streams).map(|_| tokio::spawn(connect())).collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        out
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_busy() - cpu;
    for r in results {
        if let Err(e) = r {
            panic!("a transfer failed: {e}");
        }
    }
    let bytes = streams as f64 * len as f64;
    Row { gbits: bytes * 8.0 / secs / 1e9, cpu_per_gb: cpu / (bytes / 1e9) }
}

/// A multi-threaded tokio runtime whose threads live in `ns` (threads follow the one that
/// makes them).
fn runtime_in(ns: &Netns) -> tokio::runtime::Runtime {
    ns.spawn(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")).join().expect("runtime thread")
}

/// Runs `f` on one of `rt`'s workers (and so in their namespace: `block_on` would run it
/// on this thread, in the namespace this process started in).
fn on_workers<T: Send + 'static>(rt: &tokio::runtime::Runtime, f: impl Future<Output = T> + Send + 'static) -> T {
    rt.block_on(rt.spawn(f)).expect("task on the runtime's workers")
}

async fn tokio_server(listener: tokio::net::TcpListener) {
    while let Ok((s, _)) = listener.accept().await {
        let _ = s.set_nodelay(true);
        tokio::spawn(serve(s));
    }
}

async fn ringtcp_server(listener: ringtcp::TcpListener) {
    while let Ok((s, _)) = listener.accept().await {
        tokio::spawn(serve(s));
    }
}

/// The kernel client of a TUN or veth setup: tokio sockets from `rt` (in the client's
/// namespace) to `addr`.
fn kernel_clients(addr: SocketAddr) -> impl Fn(Dir, u64) -> Connect {
    move |dir, len| -> Connect {
        Box::new(move || {
            Box::pin(async move {
                let s = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                client(s, dir, len).await
            })
        })
    }
}

const DIRS: [Dir; 3] = [Dir::Upload, Dir::Download, Dir::Echo];
const STREAMS: [usize; 2] = [1, 4];

/// True if `BULK_ONLY` is unset or names `setup`.
fn wanted(setup: &str) -> bool {
    std::env::var("BULK_ONLY").map_or(true, |only| only.split(',').any(|n| n.trim() == setup))
}

/// All rows of one setup: (direction, streams) → row.
fn run_setup(name: &str, rt: &tokio::runtime::Runtime, len: u64, clients: &dyn Fn(Dir, u64) -> Connect) -> Vec<(Dir, usize, Row)> {
    let mut rows = Vec::new();
    for streams in STREAMS {
        for dir in DIRS {
            let row = measure(rt, streams, len, &|| clients(dir, len));
            println!("{name:<28} {:<9} {streams} stream(s): {:>6.2} Gbit/s {:>6.2} CPU s/GB", format!("{dir:?}"), row.gbits, row.cpu_per_gb);
            rows.push((dir, streams, row));
        }
    }
    rows
}

fn main() {
    let smoke = std::env::var("BULK_SMOKE").as_deref() == Ok("1");
    let mb: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(if smoke { 4 } else { 256 });
    let len = mb << 20;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("bulk_compare needs root: it makes network namespaces, a TUN device and a veth pair");
        std::process::exit(2);
    }
    println!("bytes_per_stream={len}");
    let mut tables = Vec::new();

    // ringtcp over TUN, offloads on and off: the stack in this process, kernel clients in
    // the namespace that holds the device.
    for offloads in [true, false] {
        let name = if offloads { "ringtcp_tun" } else { "ringtcp_tun_no_offloads" };
        if !wanted(name) {
            continue;
        }
        let ns = Netns::new("bulkr");
        let (kernel, ring) = (Ipv4Addr::new(10, 81, 0, 1), Ipv4Addr::new(10, 81, 0, 2));
        let stack = ns
            .spawn(move || Stack::builder().offloads(offloads).tun("ringbulk0", kernel, ring, 24).build())
            .join()
            .expect("stack thread")
            .expect("TUN stack");
        let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let listener = server_rt.block_on(stack.bind((ring, 5001))).expect("bind");
        server_rt.spawn(ringtcp_server(listener));
        let client_rt = runtime_in(&ns);
        let on = stack.stats().map(|s| s.shards.iter().all(|x| x.io.offloads)).unwrap_or(false);
        println!("{name}: offloads in use: {on}");
        tables.push((name, run_setup(name, &client_rt, len, &kernel_clients(SocketAddr::from((ring, 5001))))));
        drop(client_rt);
        drop(server_rt);
        drop(stack);
    }

    // tokio over a veth pair: server in one namespace, clients in the other.
    if wanted("tokio_veth") {
        let (ns_s, ns_c) = (Netns::new("bulks"), Netns::new("bulkc"));
        let (a, b) = (Ipv4Addr::new(10, 82, 0, 1), Ipv4Addr::new(10, 82, 0, 2));
        veth("bk", &ns_s, a, &ns_c, b);
        let server_rt = runtime_in(&ns_s);
        let listener = on_workers(&server_rt, tokio::net::TcpListener::bind((a, 5001))).expect("bind");
        server_rt.spawn(tokio_server(listener));
        let client_rt = runtime_in(&ns_c);
        tables.push(("tokio_veth", run_setup("tokio_veth", &client_rt, len, &kernel_clients(SocketAddr::from((a, 5001))))));
    }

    // ringtcp over AF_XDP on a two-queue veth pair (the stack in this process, the XDP
    // program on the near end, kernel clients beyond the far end, whose transmit offloads
    // are off as AF_XDP needs), and tokio on the same kind of pair.
    if wanted("ringtcp_af_xdp") {
        let pair = VethPair::new("bx", &["10.84.0.2/24"], &["10.84.0.1/24"]);
        let ring = Ipv4Addr::new(10, 84, 0, 3);
        let stack = pair
            .near
            .spawn(move || Stack::builder().shards(2).af_xdp("xr", &[(IpAddr::V4(ring), 24)], &[]).build())
            .join()
            .expect("stack thread")
            .expect("AF_XDP stack");
        let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let listener = server_rt.block_on(stack.bind((ring, 5001))).expect("bind");
        server_rt.spawn(ringtcp_server(listener));
        let client_rt = runtime_in(&pair.far);
        tables.push(("ringtcp_af_xdp", run_setup("ringtcp_af_xdp", &client_rt, len, &kernel_clients(SocketAddr::from((ring, 5001))))));
        drop(client_rt);
        drop(server_rt);
        drop(stack);
    }
    if wanted("tokio_veth_pair") {
        let pair = VethPair::new("bt", &["10.85.0.2/24"], &["10.85.0.1/24"]);
        let server_rt = runtime_in(&pair.near);
        let listener = on_workers(&server_rt, tokio::net::TcpListener::bind((Ipv4Addr::new(10, 85, 0, 2), 5001))).expect("bind");
        server_rt.spawn(tokio_server(listener));
        let client_rt = runtime_in(&pair.far);
        let at = SocketAddr::from((Ipv4Addr::new(10, 85, 0, 2), 5001));
        tables.push(("tokio_veth_pair", run_setup("tokio_veth_pair", &client_rt, len, &kernel_clients(at))));
    }

    // ringtcp ↔ ringtcp over the in-memory link, and tokio over loopback (in a namespace
    // of its own).
    if wanted("ringtcp_memory") {
        let (server, client_stack) = Stack::builder().memory_pair(Ipv4Addr::new(10, 83, 0, 1), Ipv4Addr::new(10, 83, 0, 2)).expect("memory pair");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let listener = rt.block_on(server.bind("10.83.0.1:5001")).expect("bind");
        rt.spawn(ringtcp_server(listener));
        let client_stack = std::sync::Arc::new(client_stack);
        let clients = move |dir: Dir, len: u64| -> Connect {
            let st = client_stack.clone();
            Box::new(move || {
                let st = st.clone();
                Box::pin(async move {
                    let s = st.connect("10.83.0.1:5001").await.map_err(|e| e.to_string())?;
                    client(s, dir, len).await
                })
            })
        };
        tables.push(("ringtcp_memory", run_setup("ringtcp_memory", &rt, len, &clients)));
    }
    if wanted("tokio_loopback") {
        let ns = Netns::new("bulkl");
        let rt = runtime_in(&ns);
        let listener = on_workers(&rt, tokio::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::LOCALHOST), 5001))).expect("bind");
        rt.spawn(tokio_server(listener));
        tables.push(("tokio_loopback", run_setup("tokio_loopback", &rt, len, &kernel_clients(SocketAddr::from((Ipv4Addr::LOCALHOST, 5001))))));
    }

    // Ratios, row by row.
    let rows = |name: &str| tables.iter().find(|(n, _)| *n == name).map(|(_, r)| r);
    let pairs = [
        ("ringtcp_tun", "tokio_veth"),
        ("ringtcp_tun_no_offloads", "tokio_veth"),
        ("ringtcp_af_xdp", "tokio_veth_pair"),
        ("ringtcp_af_xdp", "tokio_veth"),
        ("ringtcp_memory", "tokio_loopback"),
    ];
    for (ours, theirs) in pairs {
        if let (Some(a), Some(b)) = (rows(ours), rows(theirs)) {
            for ((dir, streams, x), (_, _, y)) in a.iter().zip(b) {
                println!("ratio_{ours}_over_{theirs} {dir:?} {streams}: {:.2}", x.gbits / y.gbits);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(10));
}
