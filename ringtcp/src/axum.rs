//! `axum::serve` on the userspace stack (cargo feature `axum`, on by default).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! # async fn demo() -> std::io::Result<()> {
//! let app = Router::new().route("/", get(|| async { "hello from ringtcp" }));
//! let listener = ringtcp::TcpListener::bind("10.77.0.2:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! Peer addresses in handlers: axum implements `ConnectInfo<SocketAddr>` only for tokio's
//! listener and for its `TapIo` wrapper, so wrap the listener with
//! [`TcpListener::with_connect_info`] (which is `tap_io` doing nothing) and serve with
//! `into_make_service_with_connect_info::<SocketAddr>()`:
//!
//! ```no_run
//! use axum::{Router, extract::ConnectInfo, routing::get};
//! use std::net::SocketAddr;
//! # async fn demo() -> std::io::Result<()> {
//! let app = Router::new().route("/", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("you are {peer}") }));
//! let listener = ringtcp::TcpListener::bind("10.77.0.2:3000").await?.with_connect_info();
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::{Listener, ListenerExt, TapIo};

use crate::{TcpListener, TcpStream};

/// Accepts until it succeeds, retrying as axum's own listener does: connection errors (the
/// peer went away first) at once, anything else (a stopped shard, say) after logging it and
/// waiting a second.
pub(crate) async fn accept_retrying<T, F: Future<Output = io::Result<T>>>(mut accept: impl FnMut() -> F) -> T {
    loop {
        match accept().await {
            Ok(conn) => return conn,
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) => {}
            Err(e) => {
                tracing::error!("accept error: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

impl Listener for TcpListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        accept_retrying(|| TcpListener::accept(self)).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }
}

impl TcpListener {
    /// Wraps the listener so that axum's `ConnectInfo<SocketAddr>` works with it.
    pub fn with_connect_info(self) -> TapIo<TcpListener, fn(&mut TcpStream)> {
        fn nothing(_: &mut TcpStream) {}
        self.tap_io(nothing as fn(&mut TcpStream))
    }
}
