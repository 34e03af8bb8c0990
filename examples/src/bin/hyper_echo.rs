//! A hyper 1.x server on the userspace stack, through `hyper_util::rt::TokioIo` and
//! `hyper_util::server::conn::auto::Builder`: HTTP/1 and HTTP/2 (h2c, prior knowledge)
//! on one port, with upgrades. Every request's body is sent back; a request with
//! `Upgrade: echo` is switched to a raw byte echo on the same connection.
//!
//! Run: `sudo -E env "PATH=$PATH" cargo run --release -p ringtcp-examples --bin hyper_echo`
//! (`PORT`, default 3001; the default stack's `RINGTCP_*` variables apply).

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONNECTION, UPGRADE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn echo(mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.headers().get(UPGRADE).is_some_and(|v| v == "echo") {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        resp.headers_mut().insert(UPGRADE, "echo".parse().expect("header value"));
        resp.headers_mut().insert(CONNECTION, "upgrade".parse().expect("header value"));
        return Ok(resp);
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    Ok(Response::new(Full::new(body)))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3001);
    let stack = match ringtcp::Stack::default_stack() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hyper_echo: {e}");
            std::process::exit(1);
        }
    };
    // `[::]`: both families of the stack's addresses.
    let listener = ringtcp::TcpListener::bind(("::", port)).await?;
    println!("hyper_echo: serving HTTP/1 and HTTP/2 on {} over ringtcp", listener.local_addr()?);
    for ip in stack.addresses() {
        println!("try: curl --data hello 'http://{}/'", std::net::SocketAddr::new(*ip, port));
    }
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let _ = Builder::new(TokioExecutor::new()).serve_connection_with_upgrades(io, service_fn(echo)).await;
        });
    }
}
