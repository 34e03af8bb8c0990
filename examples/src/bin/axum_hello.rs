//! An axum app on the userspace stack, with the embedded default configuration: a TUN
//! device `ringtcp0`, the kernel side 10.77.0.1/24 and fd77::1/64, the stack at 10.77.0.2
//! and fd77::2 (override with the `RINGTCP_*` variables, see the README). It listens on
//! `[::]`, so both families are served, and prints a URL for each. Needs root or
//! CAP_NET_ADMIN for the TUN device. `PORT` picks the port (default 3000). Stops on
//! Ctrl-C, finishing requests in flight. `RINGTCP_STACK=kernel` runs the same app on the
//! kernel's stack (through `ringtcp::net`), listening on `LISTEN` (default `[::]:<PORT>`),
//! for comparisons.
//! `RINGTCP_THREAD_PER_CORE=1` serves from the shard threads themselves: one
//! `axum::serve` per shard, each accepting what its shard receives.
//!
//! Run: `sudo -E env "PATH=$PATH" cargo run --release -p ringtcp-examples --bin axum_hello`

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `POST /echo`: the request body back.
async fn echo(body: Bytes) -> Bytes {
    body
}

/// `GET /sleep/{ms}`: answers after `ms` milliseconds (at most a minute), to watch
/// graceful shutdown let a request in flight finish.
async fn sleep(axum::extract::Path(ms): axum::extract::Path<u64>) -> String {
    let ms = ms.min(60_000);
    println!("axum_hello: /sleep/{ms} started");
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    format!("slept {ms} ms\n")
}

/// `GET /stream`: a chunked response, ten lines sent as they are made.
async fn stream() -> Body {
    let lines = (0..10).map(|i| Ok::<_, std::convert::Infallible>(format!("line {i}\n")));
    Body::from_stream(futures_util::stream::iter(lines))
}

/// `GET /upgrade` with `Upgrade: echo`: an HTTP upgrade, then a raw byte echo.
async fn upgrade(mut req: Request) -> Response {
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let mut io = hyper_util::rt::TokioIo::new(upgraded);
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = io.read(&mut buf).await {
                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "echo")
        .header(header::CONNECTION, "upgrade")
        .body(Body::empty())
        .unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    // Dual stack: `[::]` takes IPv4 and IPv6 connections on either stack.
    let any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    let (addr, shards, urls) = match ringtcp::net::backend() {
        ringtcp::net::Backend::Ringtcp => match ringtcp::Stack::default_stack() {
            Ok(s) => (any, s.shard_count(), urls(s.addresses(), port)),
            Err(e) => {
                eprintln!("axum_hello: {e}");
                std::process::exit(1);
            }
        },
        ringtcp::net::Backend::Kernel => {
            let listen = std::env::var("LISTEN").unwrap_or_else(|_| any.to_string());
            match listen.parse::<SocketAddr>() {
                Ok(a) => (a, 0, urls(&[a.ip()], a.port())),
                Err(_) => {
                    eprintln!("axum_hello: LISTEN={listen:?} is not an address:port");
                    std::process::exit(1);
                }
            }
        }
    };
    let app: Router = Router::new()
        .route("/", get(|| async { "Hello from axum on ringtcp!\n" }))
        .route(
            "/whoami",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("you are {peer}\n") }),
        )
        .route("/echo", post(echo))
        .route("/stream", get(stream))
        .route("/sleep/{ms}", get(sleep))
        .route("/upgrade", get(upgrade));
    if let ringtcp::net::Backend::Ringtcp = ringtcp::net::backend()
        && let Ok(stack) = ringtcp::Stack::default_stack()
        && stack.is_thread_per_core()
    {
        serve_on_shards(stack, addr, app, &urls).await;
        return;
    }
    let listener = match ringtcp::net::TcpListener::bind(addr).await {
        Ok(l) => l.with_connect_info(),
        Err(e) => {
            eprintln!("axum_hello: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    match ringtcp::net::backend() {
        ringtcp::net::Backend::Ringtcp => println!("axum_hello: serving on {addr} over ringtcp ({shards} shards)"),
        ringtcp::net::Backend::Kernel => println!("axum_hello: serving on {addr} over the kernel's stack"),
    }
    println!("{urls}");
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    if let Err(e) = served {
        eprintln!("axum_hello: {e}");
        std::process::exit(1);
    }
}

/// A `try: curl ...` line for each address served (`curl -6` and brackets for IPv6); for
/// a wildcard, the address a client would use is not known here, so the wildcard stays.
fn urls(addrs: &[IpAddr], port: u16) -> String {
    addrs
        .iter()
        .map(|ip| match ip {
            IpAddr::V4(v4) => format!("try: curl http://{v4}:{port}/"),
            IpAddr::V6(v6) => format!("try: curl -6 'http://[{v6}]:{port}/'"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Thread-per-core: one `axum::serve` on every shard thread, all stopped together on
/// Ctrl-C (each finishes its requests in flight).
async fn serve_on_shards(stack: ringtcp::Stack, addr: SocketAddr, app: Router, urls: &str) {
    let listener = match stack.bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("axum_hello: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tasks = stack.spawn_on_shards(|_| {
        let listener = listener.try_clone().with_connect_info();
        let (app, mut stop) = (app.clone(), stop_rx.clone());
        async move {
            let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                eprintln!("axum_hello: {e}");
            }
        }
    });
    let tasks = match tasks {
        Ok(t) => t,
        Err(e) => {
            eprintln!("axum_hello: {e}");
            std::process::exit(1);
        }
    };
    drop(listener);
    println!("axum_hello: serving on {addr} over ringtcp ({} shards, thread-per-core)", stack.shard_count());
    println!("{urls}");
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop_tx.send(true);
    if let Err(e) = tasks.join().await {
        eprintln!("axum_hello: {e}");
        std::process::exit(1);
    }
}
