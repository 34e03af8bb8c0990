//! Bytes per idle established connection: ringtcp's from the allocator (transport,
//! runtime and socket together), the kernel's from its slab caches, side by side.
//!
//! ringtcp: two stacks joined by the in-memory link in this process open 100,000
//! connections (`IDLE_CONNECTIONS` to change it) and leave them idle, every stream kept
//! by the application; the allocator's growth, once idle buffers have gone back, divided
//! by the connections' ends (two per connection, both ringtcp) is what one end costs. The
//! process's resident memory is reported beside it.
//!
//! The kernel (as root): as many tokio connections over loopback as the descriptor limit
//! allows (two descriptors each; up to the same number), in a network namespace of their
//! own; the growth of every slab cache's memory (`/proc/slabinfo`)
//! divided by the ends, and the object sizes of the caches one TCP socket takes (`TCP`,
//! `sock_inode_cache`, `dentry`, `filp`, and the `epitem` tokio's epoll adds).
//!
//! Run: `sudo -E env "PATH=$PATH" cargo run --release -p ringtcp-benches --bin idle_memory`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ringtcp_benches::counting::{Counting, live_bytes};
use ringtcp_benches::netlab::Netns;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Client addresses: four, so the connections outnumber one address's ephemeral ports.
const CLIENTS: [Ipv4Addr; 4] = [Ipv4Addr::new(10, 93, 0, 1), Ipv4Addr::new(10, 93, 0, 2), Ipv4Addr::new(10, 93, 0, 3), Ipv4Addr::new(10, 93, 0, 4)];
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 93, 0, 100);
/// Connections opened at once.
const AT_ONCE: usize = 256;

fn connections() -> usize {
    std::env::var("IDLE_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).map_or(0, |kb| kb * 1024)
}

/// Opens `n` connections from `connect` (with `AT_ONCE` in flight) while `accept` takes
/// them; returns both ends of each, all kept.
async fn open_all<S: Send + 'static, F, A>(n: usize, connect: impl Fn(usize) -> F, accept: A) -> (Vec<S>, Vec<S>)
where
    F: std::future::Future<Output = std::io::Result<S>> + Send + 'static,
    A: std::future::Future<Output = Vec<S>> + Send + 'static,
{
    let server = tokio::spawn(accept);
    let mut clients = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let batch: Vec<_> = (i..(i + AT_ONCE).min(n)).map(|k| tokio::spawn(connect(k))).collect();
        for t in batch {
            clients.push(t.await.expect("connect task").expect("connect"));
        }
        i += AT_ONCE;
    }
    (clients, server.await.expect("accept task"))
}

/// ringtcp: bytes per connection end, the process's resident growth per end, and its
/// resident memory holding the connections.
fn ringtcp(n: usize) -> (f64, f64, u64) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let client_ips: Vec<IpAddr> = CLIENTS.iter().map(|&a| a.into()).collect();
        let (client, server) = ringtcp::Stack::builder().shards(2).memory_pair_with(&client_ips, &[SERVER.into()]).expect("in-memory stacks");
        let listener = server.bind((SERVER, 80)).await.expect("bind");
        // Warm up: what the first connections allocate once (thread-local caches, the
        // accept queue) is not a per-connection cost.
        let warm = open_all(AT_ONCE, |k| connect_ring(&client, k), accept_ring(listener.try_clone(), AT_ONCE)).await;
        drop(warm);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (b0, r0) = (live_bytes(), rss());
        let t = Instant::now();
        let (c, s) = open_all(n, |k| connect_ring(&client, k), accept_ring(listener.try_clone(), n)).await;
        // Buffers a connection no longer uses go back after 100 ms idle.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (b1, r1) = (live_bytes(), rss());
        let stats = server.stats().expect("stats");
        let live: usize = stats.shards.iter().map(|s| s.live_connections).sum();
        println!("ringtcp: {n} connections opened in {:.1} s, {live} established on the server side", t.elapsed().as_secs_f64());
        assert!(live >= n, "every connection is established");
        drop((c, s));
        let ends = (2 * n) as f64;
        ((b1 - b0) as f64 / ends, r1.saturating_sub(r0) as f64 / ends, r1)
    })
}

fn connect_ring(client: &ringtcp::Stack, k: usize) -> impl std::future::Future<Output = std::io::Result<ringtcp::TcpStream>> + Send + 'static {
    let socket = ringtcp::TcpSocket::new_v4_on(client);
    let from = CLIENTS[k % CLIENTS.len()];
    async move {
        socket.bind(SocketAddr::from((from, 0)))?;
        socket.connect(SocketAddr::from((SERVER, 80))).await
    }
}

async fn accept_ring(listener: ringtcp::TcpListener, n: usize) -> Vec<ringtcp::TcpStream> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        v.push(listener.accept().await.expect("accept").0);
    }
    v
}

/// Every slab cache's memory (objects × object size), and the object size of `names`.
fn slabs(names: &[&str]) -> (u64, Vec<(String, u64)>) {
    let text = std::fs::read_to_string("/proc/slabinfo").unwrap_or_default();
    let mut total = 0;
    let mut sizes = Vec::new();
    for l in text.lines().skip(2) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(active), Some(size)) = (f.get(1).and_then(|v| v.parse::<u64>().ok()), f.get(3).and_then(|v| v.parse::<u64>().ok())) else { continue };
        total += active * size;
        if names.contains(&f[0]) {
            sizes.push((f[0].to_owned(), size));
        }
    }
    (total, sizes)
}

/// The kernel: slab growth per connection end, with up to `n` idle tokio connections over
/// loopback in a namespace of their own (fewer if the descriptor limit, two a connection,
/// does not allow `n`). Returns the bytes and the connections used.
fn kernel(n: usize) -> (f64, usize) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: reading and raising our own soft limit to the hard one.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    let room = (lim.rlim_cur as usize).saturating_sub(512) / 2;
    let n = n.min(room.saturating_sub(AT_ONCE));
    if n < 1000 {
        eprintln!("idle_memory: the descriptor limit ({}) leaves room for {n} kernel connections; raise it (ulimit -n)", lim.rlim_cur);
    }
    let ns = Netns::new("idle");
    ns.spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let listener = std::sync::Arc::new(listener);
            let accept = |l: std::sync::Arc<tokio::net::TcpListener>, n: usize| async move {
                let mut v = Vec::with_capacity(n);
                while v.len() < n {
                    v.push(l.accept().await.expect("accept").0);
                }
                v
            };
            let connect = |_k: usize| tokio::net::TcpStream::connect(addr);
            drop(open_all(AT_ONCE, connect, accept(listener.clone(), AT_ONCE)).await);
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (s0, _) = slabs(&[]);
            let (c, s) = open_all(n, connect, accept(listener.clone(), n)).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (s1, _) = slabs(&[]);
            println!("kernel: {n} connections opened over loopback");
            drop((c, s));
            ((s1 as f64 - s0 as f64) / (2 * n) as f64, n)
        })
    })
    .join()
    .expect("kernel thread")
}

fn main() {
    let n = connections();
    let (bytes, rss, total) = ringtcp(n);
    println!("ringtcp_bytes_per_idle_connection={bytes:.0} (allocator; transport, runtime and socket)");
    println!("ringtcp_rss_per_idle_connection={rss:.0}");
    println!("ringtcp_process_rss_with_{n}_connections={:.1} MiB (both ends of each in this process)", total as f64 / f64::from(1u32 << 20));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("kernel: skipped (reading /proc/slabinfo and a namespace of its own need root)");
        return;
    }
    let (_, sizes) = slabs(&["TCP", "sock_inode_cache", "dentry", "filp", "eventpoll_epi"]);
    let per_socket: u64 = sizes.iter().map(|s| s.1).sum();
    for (name, size) in &sizes {
        println!("kernel_slab_object {name}={size}");
    }
    println!("kernel_objects_per_socket={per_socket} (the caches above, one object each)");
    let (k, nk) = kernel(n);
    println!("kernel_slab_bytes_per_idle_connection={k:.0} (growth of all slab caches, {nk} connections: the descriptor limit allows no more)");
    println!("ratio_ringtcp_over_kernel={:.2}", bytes / k.max(1.0));
}
