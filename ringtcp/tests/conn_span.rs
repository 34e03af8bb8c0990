//! The per-connection DEBUG span: a subscriber listening at DEBUG on `ringtcp::conn` sees
//! one `connection` span per side with the right addresses, byte counts and ending.
//! Its own test binary: the shard threads report to the global subscriber.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

const A: Ipv4Addr = Ipv4Addr::new(10, 58, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 58, 0, 2);

type Fields = HashMap<String, String>;

struct Fill<'a>(&'a mut Fields);

impl Visit for Fill<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Spans named `connection`: open ones by id, and the fields of closed ones.
#[derive(Default)]
struct Spans {
    open: HashMap<u64, Fields>,
    closed: Vec<Fields>,
}

struct Capture(Arc<Mutex<Spans>>);

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "connection" && attrs.metadata().target() == "ringtcp::conn" {
            let mut f = Fields::new();
            attrs.record(&mut Fill(&mut f));
            self.0.lock().unwrap().open.insert(id.into_u64(), f);
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(f) = self.0.lock().unwrap().open.get_mut(&id.into_u64()) {
            values.record(&mut Fill(f));
        }
    }
    fn on_close(&self, id: Id, _: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some(f) = spans.open.remove(&id.into_u64()) {
            spans.closed.push(f);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_side_reports_its_addresses_bytes_and_a_clean_close() {
    let spans = Arc::new(Mutex::new(Spans::default()));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture(spans.clone()))).unwrap();

    let (client, server) = Stack::builder().shards(2).memory_pair(A, B).unwrap();
    let listener = server.bind((B, 90)).await.unwrap();
    let serving = tokio::spawn(async move {
        let (mut s, peer) = listener.accept().await.unwrap();
        let mut got = vec![0u8; 1000];
        s.read_exact(&mut got).await.unwrap();
        s.write_all(&[7u8; 500]).await.unwrap();
        assert_eq!(s.read(&mut [0u8; 1]).await.unwrap(), 0, "client's FIN");
        peer
    });
    let mut c = client.connect((B, 90)).await.unwrap();
    let local = c.local_addr().unwrap();
    c.write_all(&[1u8; 1000]).await.unwrap();
    let mut back = vec![0u8; 500];
    c.read_exact(&mut back).await.unwrap();
    drop(c);
    let peer: SocketAddr = serving.await.unwrap();
    assert_eq!(peer, local);

    let deadline = Instant::now() + Duration::from_secs(2);
    while spans.lock().unwrap().closed.len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let closed = std::mem::take(&mut spans.lock().unwrap().closed);
    assert_eq!(closed.len(), 2, "{closed:?}");
    let server_side = closed.iter().find(|f| f.get("local").map(String::as_str) == Some("10.58.0.2:90")).expect("server span");
    let client_side = closed.iter().find(|f| f.get("peer").map(String::as_str) == Some("10.58.0.2:90")).expect("client span");
    assert_eq!(server_side["peer"], local.to_string());
    assert_eq!(client_side["local"], local.to_string());
    assert_eq!((server_side["bytes_in"].as_str(), server_side["bytes_out"].as_str()), ("1000", "500"), "{server_side:?}");
    assert_eq!((client_side["bytes_in"].as_str(), client_side["bytes_out"].as_str()), ("500", "1000"), "{client_side:?}");
    for side in [server_side, client_side] {
        assert_eq!(side["ended"], "closed", "{side:?}");
        assert!(side["duration_ns"].parse::<u64>().unwrap() > 0);
        assert!(side.contains_key("shard"));
    }
}
