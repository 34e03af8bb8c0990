//! `AsyncRead` / `AsyncWrite` for `TcpStream` and its halves: each handle holds the
//! socket (`ringtcp_runtime::socket::SocketShared`, the socket contract) and forwards to
//! it, so any handle can drive the connection.

/// `AsyncRead` for a handle type with a `sock` field.
macro_rules! read_impl {
    ($t:ty) => {
        impl tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.sock.poll_read(cx, buf)
            }
        }
    };
}

/// `AsyncWrite` for a handle type with a `sock` field.
macro_rules! write_impl {
    ($t:ty) => {
        impl tokio::io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                data: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.sock.poll_write_one(cx, data)
            }
            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.sock.poll_write(cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                true
            }
            /// As with the kernel's sockets, written data is already on its way.
            fn poll_flush(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }
            /// Sends FIN after all queued data, as the kernel does; reading goes on.
            fn poll_shutdown(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.sock.shutdown_write())
            }
        }
    };
}

pub(crate) use read_impl;
pub(crate) use write_impl;
