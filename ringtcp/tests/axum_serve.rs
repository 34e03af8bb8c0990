//! axum served on a ringtcp listener (in-memory link): responses, ConnectInfo, graceful
//! shutdown.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: Ipv4Addr = Ipv4Addr::new(10, 58, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 58, 0, 2);

async fn request(client: &Stack, port: u16, req: &str) -> String {
    let mut s = client.connect((B, port)).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut resp)).await.expect("response").unwrap();
    String::from_utf8(resp).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_serves_requests_and_sees_the_peer_address() {
    let (client, server) = Stack::builder().shards(2).memory_pair(A, B).unwrap();
    let app = Router::new()
        .route("/", get(|| async { "hello from ringtcp" }))
        .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }))
        .route("/len", post(|body: axum::body::Bytes| async move { body.len().to_string() }));
    let listener = server.bind((B, 3000)).await.unwrap().with_connect_info();
    tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await });

    let r = request(&client, 3000, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    assert!(r.ends_with("hello from ringtcp"), "{r}");

    let r = request(&client, 3000, "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let body = r.rsplit("\r\n\r\n").next().unwrap();
    let peer: SocketAddr = body.parse().expect("a socket address");
    assert_eq!(peer.ip(), A, "ConnectInfo carries the client's address");

    let payload = "x".repeat(1 << 20);
    let req = format!("POST /len HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{payload}", payload.len());
    let r = request(&client, 3000, &req).await;
    assert!(r.ends_with(&(1usize << 20).to_string()), "a 1 MB body arrives whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests_then_closes_the_listener() {
    let (client, server) = Stack::builder().shards(1).memory_pair(A, B).unwrap();
    let app = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        }),
    );
    let listener = server.bind((B, 3001)).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    let c2 = client.clone();
    let in_flight = tokio::spawn(async move { request(&c2, 3001, "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_tx.send(()).unwrap();
    let r = in_flight.await.unwrap();
    assert!(r.ends_with("done"), "the in-flight request finished: {r}");
    tokio::time::timeout(Duration::from_secs(10), serving).await.expect("server stopped").unwrap().unwrap();
    let err = client.connect((B, 3001)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "the listener is closed");
}
