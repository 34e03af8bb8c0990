//! An axum app on the userspace stack, with the embedded default configuration: a TUN
//! device `ringtcp0`, the kernel side 10.77.0.1/24, the stack at 10.77.0.2 (override with
//! the `RINGTCP_*` variables, see the README). Needs root or CAP_NET_ADMIN for the TUN
//! device. `PORT` picks the port (default 3000). Stops on Ctrl-C, finishing requests in
//! flight.
//!
//! Run: `sudo -E env "PATH=$PATH" cargo run --release -p ringtcp-examples --bin axum_hello`

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let stack = match ringtcp::Stack::default_stack() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("axum_hello: {e}");
            std::process::exit(1);
        }
    };
    let addr = SocketAddr::new(stack.addresses()[0], port);
    let app = Router::new()
        .route("/", get(|| async { "Hello from axum on ringtcp!\n" }))
        .route(
            "/whoami",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("you are {peer}\n") }),
        );
    let listener = match ringtcp::TcpListener::bind(addr).await {
        Ok(l) => l.with_connect_info(),
        Err(e) => {
            eprintln!("axum_hello: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("axum_hello: serving on {addr} over ringtcp ({} shards)", stack.shard_count());
    println!("try: curl http://{addr}/");
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
