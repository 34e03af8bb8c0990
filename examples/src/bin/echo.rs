//! An echo server on ringtcp's default stack, configured only from the environment
//! (`RINGTCP_TUN`, `RINGTCP_KERNEL_ADDR`, `RINGTCP_ADDR`, `RINGTCP_PREFIX`,
//! `RINGTCP_SHARDS`, `RINGTCP_MTU`; `ECHO_PORT`, default 7). Needs root or CAP_NET_ADMIN
//! for the TUN device.
//!
//! Run: `sudo cargo run -p ringtcp-examples --bin echo`, then from the kernel side:
//! `echo hello | nc -q1 10.77.0.2 7` (or `fd77::2`: it listens on `[::]`, both families).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("ECHO_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(7);
    let stack = match ringtcp::Stack::default_stack() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo: {e}");
            std::process::exit(1);
        }
    };
    let listener = ringtcp::TcpListener::bind(("::", port)).await?;
    println!("echo: serving on {} ({} shards)", listener.local_addr()?, stack.shard_count());
    loop {
        let (mut stream, peer) = listener.accept().await?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        if let Err(e) = stream.write_all(&buf[..n]).await {
                            eprintln!("echo: {peer}: {e}");
                            break;
                        }
                    }
                    Err(e) => {
                        eprintln!("echo: {peer}: {e}");
                        break;
                    }
                }
            }
            let _ = stream.shutdown().await;
        });
    }
}
