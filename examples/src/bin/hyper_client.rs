//! hyper's client with its connections on ringtcp's default stack: fetches a URL and
//! prints the status, the connection's two ends and the body.
//!
//! Run (as root, or with CAP_NET_ADMIN, for the TUN device), with a server on the kernel
//! side of the TUN device, for example `python3 -m http.server 8000 --bind 10.77.0.1`:
//!
//! ```sh
//! cargo run --release -p ringtcp-examples --bin hyper_client -- http://10.77.0.1:8000/
//! ```
//!
//! `--http2` speaks HTTP/2 (prior knowledge) instead of HTTP/1.1.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ringtcp::hyper::{ConnectedAddrs, Connector};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let http2 = args.iter().any(|a| a == "--http2");
    let url = args.iter().find(|a| !a.starts_with("--")).ok_or("usage: hyper_client [--http2] <http://host:port/path>")?;
    let client: Client<Connector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).http2_only(http2).build(Connector::default_stack());
    let res = client.get(url.parse()?).await?;
    println!("{} {:?}", res.status(), res.version());
    if let Some(addrs) = res.extensions().get::<ConnectedAddrs>() {
        println!("connection {} -> {} over ringtcp", addrs.local, addrs.remote);
    }
    let body = res.into_body().collect().await?.to_bytes();
    println!("{}", String::from_utf8_lossy(&body));
    Ok(())
}
