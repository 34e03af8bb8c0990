//! hyper's client over ringtcp (`ringtcp::hyper::Connector`): requests to an axum server on
//! another ringtcp stack over the in-memory link, over HTTP/1 with keep-alive pooling (two
//! requests, one connection) and over HTTP/2.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ringtcp::Stack;
use ringtcp::hyper::{ConnectedAddrs, Connector};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 62, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 62, 0, 2);

/// An axum server on `stack` that counts the connections it accepts.
async fn serve(stack: &Stack, port: u16) -> Arc<AtomicUsize> {
    let listener = stack.bind((SERVER, port)).await.unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let app = Router::new().route("/hello/{name}", get(|axum::extract::Path(name): axum::extract::Path<String>| async move { format!("hello, {name}") }));
    let listener = CountingListener { inner: listener, accepted: counter };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    accepted
}

struct CountingListener {
    inner: ringtcp::TcpListener,
    accepted: Arc<AtomicUsize>,
}

impl axum::serve::Listener for CountingListener {
    type Io = ringtcp::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let got = axum::serve::Listener::accept(&mut self.inner).await;
        self.accepted.fetch_add(1, Ordering::SeqCst);
        got
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

async fn get_text(client: &Client<Connector, Empty<Bytes>>, uri: &str) -> (String, ConnectedAddrs) {
    let res = tokio::time::timeout(Duration::from_secs(20), client.get(uri.parse().unwrap())).await.expect("no hang").unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let addrs = *res.extensions().get::<ConnectedAddrs>().expect("the connector's addresses");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (String::from_utf8(body.to_vec()).unwrap(), addrs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_requests_reuse_one_pooled_connection() {
    let (server, client_stack) = Stack::builder().shards(1).memory_pair(SERVER, CLIENT).unwrap();
    let accepted = serve(&server, 8080).await;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(Connector::new(&client_stack));
    let (a, addrs_a) = get_text(&client, "http://10.62.0.1:8080/hello/ringtcp").await;
    // hyper hands the connection back to its pool from the connection's own task, after
    // the body was read here; a request sent before that runs opens a second one.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (b, addrs_b) = get_text(&client, "http://10.62.0.1:8080/hello/again").await;
    assert_eq!((a.as_str(), b.as_str()), ("hello, ringtcp", "hello, again"));
    assert_eq!(addrs_a.remote.to_string(), "10.62.0.1:8080");
    assert_eq!(addrs_a.local.ip(), CLIENT);
    assert_eq!(addrs_a, addrs_b, "the second request went over the pooled connection");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_share_one_connection() {
    let (server, client_stack) = Stack::builder().shards(1).memory_pair(SERVER, CLIENT).unwrap();
    let accepted = serve(&server, 8081).await;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).http2_only(true).build(Connector::new(&client_stack));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { get_text(&client, &format!("http://10.62.0.1:8081/hello/{i}")).await.0 }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), format!("hello, {i}"));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "HTTP/2 multiplexes every request over one connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_the_client_s_error() {
    let (_server, client_stack) = Stack::builder().shards(1).memory_pair(SERVER, CLIENT).unwrap();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(Connector::new(&client_stack));
    let err = client.get("http://10.62.0.1:9/".parse().unwrap()).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}
