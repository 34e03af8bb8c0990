//! A connector for hyper's client (`hyper_util::client::legacy::Client`): it opens each
//! connection the client asks for on a ringtcp [`Stack`], so an app's outgoing HTTP/1 and
//! HTTP/2 requests run over the userspace stack, with the client's keep-alive pool.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use http_body_util::{BodyExt, Empty};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//!
//! let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build(ringtcp::hyper::Connector::default_stack());
//! let res = client.get("http://10.77.0.1:8080/".parse()?).await?;
//! let body = res.into_body().collect().await?.to_bytes();
//! # let _ = body; Ok(()) }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;

use crate::{Stack, TcpStream};

/// Opens hyper's connections on a ringtcp stack (a `tower::Service<http::Uri>`).
#[derive(Clone, Debug)]
pub struct Connector {
    /// `None`: the default stack, built on first use.
    stack: Option<Stack>,
    nodelay: bool,
}

impl Connector {
    /// Connections on `stack`.
    pub fn new(stack: &Stack) -> Connector {
        Connector { stack: Some(stack.clone()), nodelay: false }
    }

    /// Connections on the process's default stack (see [`Stack::default_stack`]).
    pub fn default_stack() -> Connector {
        Connector { stack: None, nodelay: false }
    }

    /// `TCP_NODELAY` on every connection (hyper's `HttpConnector::set_nodelay`).
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.nodelay = nodelay;
    }
}

/// Where a URI says to connect: its host (a name or an address) and port.
fn target(uri: &http::Uri) -> io::Result<(String, u16)> {
    let host = uri.host().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("URI {uri} has no host")))?;
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(p), _) => p,
        (None, Some("http") | None) => 80,
        (None, Some("https")) => 443,
        (None, Some(other)) => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("URI scheme {other:?} has no default port")));
        }
    };
    Ok((host.trim_start_matches('[').trim_end_matches(']').to_owned(), port))
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Resolves the URI's host as tokio does and connects to each address in turn. TLS
    /// (`https`) is the job of a wrapping connector such as hyper-rustls's, which puts TLS
    /// over this one's connections.
    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (host, port) = target(&uri)?;
            let stack = match this.stack {
                Some(s) => s,
                None => Stack::default_stack()?,
            };
            let stream = stack.connect((host.as_str(), port)).await?;
            stream.set_nodelay(this.nodelay)?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// What hyper learns of a connection: the addresses, as [`ConnectedAddrs`] in
/// `Connected::extra` (hyper-util's own `HttpInfo` cannot be made outside it).
impl Connection for TcpStream {
    fn connected(&self) -> Connected {
        match (self.local_addr(), self.peer_addr()) {
            (Ok(local), Ok(remote)) => Connected::new().extra(ConnectedAddrs { local, remote }),
            _ => Connected::new(),
        }
    }
}

/// The two ends of a connection hyper's client opened over ringtcp, found in a
/// response's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectedAddrs {
    /// Our end.
    pub local: SocketAddr,
    /// The server's end.
    pub remote: SocketAddr,
}
