//! Traced locks: contention produces `lock_wait` spans (target `ringtcp::lock`) with the
//! lock's name and a wait at least as long as the holder held it; no contention produces
//! none; and every lock in `runtime/` and `ringtcp/` is a traced one that reports its
//! statistics.

use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

mod common;

use ringtcp_runtime::lock::{LockScope, LockStats, TracedMutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

#[derive(Clone, Debug, Default)]
struct Seen {
    target: String,
    name: String,
    lock: String,
    shard: u64,
    wait_ns: u64,
}

impl Visit for Seen {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "lock" {
            self.lock = value.to_owned();
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "shard" => self.shard = value,
            "wait_ns" => self.wait_ns = value,
            _ => {}
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// Collects every span created on the thread it is installed on.
struct Capture(Arc<Mutex<Vec<Seen>>>);

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut seen = Seen { target: attrs.metadata().target().to_owned(), name: attrs.metadata().name().to_owned(), ..Seen::default() };
        attrs.record(&mut seen);
        self.0.lock().unwrap().push(seen);
    }
}

fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<Seen>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Capture(spans.clone()));
    let out = tracing::subscriber::with_default(subscriber, f);
    let seen = spans.lock().unwrap().clone();
    (out, seen)
}

#[test]
fn contention_is_recorded_as_a_lock_wait_span_with_the_wait() {
    static STATS: LockStats = LockStats::new("test_contended", LockScope::Shard);
    let m = Arc::new(TracedMutex::new(0u32, &STATS, 3));
    let held = Arc::new(Barrier::new(2));
    let holder = {
        let (m, held) = (m.clone(), held.clone());
        std::thread::spawn(move || {
            let mut g = m.lock();
            held.wait();
            std::thread::sleep(Duration::from_millis(30));
            *g += 1;
        })
    };
    held.wait();
    let (value, spans) = capture(|| *m.lock());
    holder.join().unwrap();
    assert_eq!(value, 1, "the waiter got the lock after the holder's update");
    let waits: Vec<&Seen> = spans.iter().filter(|s| s.name == "lock_wait").collect();
    assert_eq!(waits.len(), 1, "{spans:?}");
    let w = waits[0];
    assert_eq!((w.target.as_str(), w.lock.as_str(), w.shard), ("ringtcp::lock", "test_contended", 3));
    // The holder kept the lock ~30 ms after the waiter started waiting.
    assert!(w.wait_ns >= 20_000_000, "waited {} ns", w.wait_ns);
    let snap = STATS.snapshot();
    assert_eq!(snap.waits, 1);
    assert!(snap.max_ns >= 20_000_000);
}

#[test]
fn no_contention_no_spans() {
    static STATS: LockStats = LockStats::new("test_quiet", LockScope::Shard);
    let m = TracedMutex::new(Vec::<u32>::new(), &STATS, 0);
    let (_, spans) = capture(|| {
        for i in 0..10_000 {
            m.lock().push(i);
        }
    });
    assert!(spans.is_empty(), "{spans:?}");
    assert_eq!(STATS.snapshot().waits, 0);
    assert_eq!(m.lock().len(), 10_000);
}

#[test]
fn every_lock_in_runtime_and_ringtcp_is_traced() {
    // Make one of every lock the runtime has: a shard's sockets and accept queues, and an
    // in-process link's queues. Each registers its statistics when it is made.
    let (shards, _peer) = common::one_shard(std::net::Ipv4Addr::new(10, 59, 0, 2));
    let (_parts, _) = shards.listen("10.59.0.2:80".parse().unwrap(), 8).unwrap();
    let _socket = shards.connect("10.59.0.1:80".parse().unwrap(), None).unwrap();
    let _link = ringtcp_runtime::device::in_process::pair(1);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut offenders = Vec::new();
    for dir in ["runtime/src", "ringtcp/src"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("lock.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Every lock's statistics must reach Stack::stats() through all_stats(): a
                // lock made by the calls above and not listed there is a lock of its own.
                for decl in text.split("LockStats::new(\"").skip(1) {
                    let name = decl.split('"').next().unwrap_or_default();
                    if !ringtcp_runtime::lock::all_stats().iter().any(|s| s.name == name) {
                        offenders.push(format!("{}: lock {name:?} is missing from lock::all_stats()", path.display()));
                    }
                }
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("").replace("TracedMutex", "");
                    if ["Mutex<", "Mutex::new", "RwLock", "parking_lot"].iter().any(|p| code.contains(p)) {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "untraced or unlisted locks (use ringtcp_runtime::lock::TracedMutex, made with a static LockStats):\n{}",
        offenders.join("\n")
    );
}
