//! The two servers `conntime` compares, both `axum_hello`'s `GET /` in this process: on
//! ringtcp over a TUN device, and on tokio over the kernel behind a veth pair. Each keeps
//! its TIME-WAIT population measurable: ringtcp's from its FIN-cache counters, the
//! kernel's from `/proc/net/sockstat` in its namespace times the size of its TIME-WAIT
//! slab object.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ringtcp::Stack;
use ringtcp_transport::Config;

use super::Netns;

/// The port both servers listen on.
pub const PORT: u16 = 3000;

fn app() -> axum::Router {
    axum::Router::new().route("/", axum::routing::get(|| async { "Hello from ringtcp!\n" }))
}

/// A server running on its own runtime thread; dropping it stops it.
#[derive(Debug)]
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `app()` with axum on a two-worker runtime from a new thread (started inside
/// `ns` when given, so kernel sockets made there belong to it); `listen` runs on that
/// runtime and makes the listener.
fn serve<L, F>(ns: Option<&Netns>, listen: impl FnOnce() -> F + Send + 'static) -> Running
where
    F: std::future::Future<Output = L>,
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let body = move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("server runtime");
        rt.block_on(async move {
            let listener = listen().await;
            let _ = ready_tx.send(());
            let _ = axum::serve(listener, app())
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
    };
    let thread = match ns {
        Some(ns) => ns.spawn(body),
        None => std::thread::spawn(body),
    };
    ready_rx.recv().expect("the server started");
    Running { stop: Some(stop_tx), thread: Some(thread) }
}

/// ringtcp over a TUN device in `ns`: the kernel side `kernel`, the stack `stack`, every
/// TIME-WAIT lasting `time_wait`, room for `records` of them.
pub fn ringtcp(ns: &Netns, kernel: Ipv4Addr, stack: Ipv4Addr, time_wait: Duration, records: usize) -> (Stack, Running) {
    let mut cfg = Config::default();
    cfg.fin_cache.time_wait = [time_wait; 3];
    cfg.fin_cache.capacity = records;
    let st = ns
        .spawn(move || Stack::builder().shards(2).tun("ringtcp0", kernel, stack, 24).config(cfg).build())
        .join()
        .expect("set-up thread")
        .expect("ringtcp over TUN");
    let s = st.clone();
    let running = serve(None, move || async move {
        s.bind(SocketAddr::from((stack, PORT))).await.expect("bind on ringtcp")
    });
    (st, running)
}

/// tokio over the kernel in `ns`, listening on `addr`.
pub fn kernel(ns: &Netns, addr: Ipv4Addr) -> Running {
    serve(Some(ns), move || async move { tokio::net::TcpListener::bind((addr, PORT)).await.expect("bind on the kernel") })
}

/// ringtcp's TIME-WAIT records and the bytes its FIN caches hold.
pub fn ringtcp_time_wait(stack: &Stack) -> (u64, u64) {
    stack.stats().map_or((0, 0), |s| {
        s.shards.iter().fold((0, 0), |(n, b), sh| (n + sh.fin_cache.live.iter().sum::<u64>(), b + sh.fin_cache.bytes))
    })
}

/// The kernel's TIME-WAIT sockets in the calling thread's network namespace (the `tw`
/// field of its `/proc/thread-self/net/sockstat`: call it from a thread in the server's
/// namespace).
pub fn kernel_time_wait() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/net/sockstat").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.iter().position(|w| *w == "tw").and_then(|i| f.get(i + 1)).and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The size of one object of a slab cache of this kernel (`/proc/slabinfo`, needs root),
/// e.g. `tw_sock_TCP` (a TIME-WAIT socket) or `TCP` (a full socket).
pub fn slab_object_size(cache: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/slabinfo").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // name active_objs num_objs objsize ...
        (f.first() == Some(&cache)).then(|| f.get(3).and_then(|v| v.parse().ok())).flatten()
    })
}
