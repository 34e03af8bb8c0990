//! One tokio app that runs on either stack: a tiny line-based key-value server written
//! against `tokio::net`'s names. The only ringtcp-specific line is the `use` below, under
//! this crate's `ringtcp` feature (on by default). With the feature on, the stack is
//! chosen at run time: `RINGTCP_STACK=kernel` or `RINGTCP_STACK=ringtcp` (default).
//!
//! Protocol, one command per line: `SET key value` → `OK`, `GET key` → the value or
//! `NOT_FOUND`, `QUIT` → `BYE` and the server closes the connection.
//!
//! Run: `sudo -E env "PATH=$PATH" cargo run -p ringtcp-examples --bin feature_flag`
//! (`LISTEN` sets the address, default `[::]:4000`: both families on either stack).

#[cfg(feature = "ringtcp")]
use ringtcp::net::{TcpListener, TcpStream};
#[cfg(not(feature = "ringtcp"))]
use tokio::net::{TcpListener, TcpStream};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

type Store = Arc<Mutex<HashMap<String, String>>>;

async fn serve(stream: TcpStream, store: Store) -> std::io::Result<()> {
    let (r, mut w) = tokio::io::split(stream);
    let mut lines = BufReader::new(r).lines();
    while let Some(line) = lines.next_line().await? {
        let mut parts = line.splitn(3, ' ');
        let reply = match (parts.next(), parts.next(), parts.next()) {
            (Some("SET"), Some(k), Some(v)) => {
                store.lock().unwrap_or_else(|p| p.into_inner()).insert(k.to_owned(), v.to_owned());
                "OK".to_owned()
            }
            (Some("GET"), Some(k), None) => {
                store.lock().unwrap_or_else(|p| p.into_inner()).get(k).cloned().unwrap_or_else(|| "NOT_FOUND".to_owned())
            }
            (Some("QUIT"), None, None) => {
                w.write_all(b"BYE\n").await?;
                w.shutdown().await?;
                return Ok(());
            }
            _ => "ERR unknown command".to_owned(),
        };
        w.write_all(format!("{reply}\n").as_bytes()).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("LISTEN").unwrap_or_else(|_| "[::]:4000".to_owned());
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("feature_flag: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    #[cfg(feature = "ringtcp")]
    let stack = format!("{:?}", ringtcp::net::backend());
    #[cfg(not(feature = "ringtcp"))]
    let stack = "tokio".to_owned();
    println!("feature_flag: serving on {} (stack: {stack})", listener.local_addr()?);
    let store: Store = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let store = store.clone();
        tokio::spawn(async move {
            let _ = serve(stream, store).await;
        });
    }
}
