//! The switch's `TcpSocket`: tokio's or ringtcp's, every method of tokio's.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::listener::TcpListener;
use super::stream::TcpStream;
use super::{Backend, backend};

/// `tokio::net::TcpSocket` or `ringtcp::TcpSocket`, as [`backend`] says.
#[derive(Debug)]
pub enum TcpSocket {
    /// On the kernel's stack.
    Kernel(tokio::net::TcpSocket),
    /// On ringtcp.
    Ringtcp(crate::TcpSocket),
}

/// The same call on either variant.
macro_rules! both {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            TcpSocket::Kernel($s) => $e,
            TcpSocket::Ringtcp($s) => $e,
        }
    };
}

impl TcpSocket {
    /// An IPv4 socket.
    ///
    /// # Errors
    ///
    /// As the backend's (ringtcp: why its default stack could not be built).
    pub fn new_v4() -> io::Result<TcpSocket> {
        Ok(match backend() {
            Backend::Kernel => TcpSocket::Kernel(tokio::net::TcpSocket::new_v4()?),
            Backend::Ringtcp => TcpSocket::Ringtcp(crate::TcpSocket::new_v4()?),
        })
    }

    /// An IPv6 socket.
    ///
    /// # Errors
    ///
    /// As the backend's: on ringtcp, why the default stack could not be built.
    pub fn new_v6() -> io::Result<TcpSocket> {
        Ok(match backend() {
            Backend::Kernel => TcpSocket::Kernel(tokio::net::TcpSocket::new_v6()?),
            Backend::Ringtcp => TcpSocket::Ringtcp(crate::TcpSocket::new_v6()?),
        })
    }

    /// `SO_KEEPALIVE`.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        both!(self, s => s.set_keepalive(keepalive))
    }

    /// The `SO_KEEPALIVE` setting.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn keepalive(&self) -> io::Result<bool> {
        both!(self, s => s.keepalive())
    }

    /// `SO_REUSEADDR`.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        both!(self, s => s.set_reuseaddr(reuseaddr))
    }

    /// The `SO_REUSEADDR` setting.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        both!(self, s => s.reuseaddr())
    }

    /// `SO_REUSEPORT`.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        both!(self, s => s.set_reuseport(reuseport))
    }

    /// The `SO_REUSEPORT` setting.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn reuseport(&self) -> io::Result<bool> {
        both!(self, s => s.reuseport())
    }

    /// `SO_SNDBUF`.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        both!(self, s => s.set_send_buffer_size(size))
    }

    /// The `SO_SNDBUF` setting.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        both!(self, s => s.send_buffer_size())
    }

    /// `SO_RCVBUF`.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        both!(self, s => s.set_recv_buffer_size(size))
    }

    /// The `SO_RCVBUF` setting.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        both!(self, s => s.recv_buffer_size())
    }

    /// `SO_LINGER`.
    ///
    /// # Errors
    ///
    /// As the backend's.
    #[deprecated = "`SO_LINGER` causes the socket to block the thread on drop"]
    #[allow(deprecated)]
    pub fn set_linger(&self, dur: Option<Duration>) -> io::Result<()> {
        both!(self, s => s.set_linger(dur))
    }

    /// Reset instead of FIN when the connection is dropped.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_zero_linger(&self) -> io::Result<()> {
        both!(self, s => s.set_zero_linger())
    }

    /// The `SO_LINGER` setting.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        both!(self, s => s.linger())
    }

    /// `TCP_NODELAY` for the connection.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        both!(self, s => s.set_nodelay(nodelay))
    }

    /// The `TCP_NODELAY` setting.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn nodelay(&self) -> io::Result<bool> {
        both!(self, s => s.nodelay())
    }

    /// The IPv6 traffic class.
    ///
    /// # Errors
    ///
    /// As the backend's (an IPv4 socket has none).
    pub fn tclass_v6(&self) -> io::Result<u32> {
        both!(self, s => s.tclass_v6())
    }

    /// Sets the IPv6 traffic class.
    ///
    /// # Errors
    ///
    /// As the backend's (an IPv4 socket has none).
    pub fn set_tclass_v6(&self, tclass: u32) -> io::Result<()> {
        both!(self, s => s.set_tclass_v6(tclass))
    }

    /// The IPv4 type of service.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn tos_v4(&self) -> io::Result<u32> {
        both!(self, s => s.tos_v4())
    }

    /// The IPv4 type of service (tokio's older name).
    ///
    /// # Errors
    ///
    /// As the backend's.
    #[deprecated = "use `tos_v4()`"]
    #[allow(deprecated)]
    pub fn tos(&self) -> io::Result<u32> {
        both!(self, s => s.tos())
    }

    /// Sets the IPv4 type of service.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_tos_v4(&self, tos: u32) -> io::Result<()> {
        both!(self, s => s.set_tos_v4(tos))
    }

    /// Sets the IPv4 type of service (tokio's older name).
    ///
    /// # Errors
    ///
    /// As the backend's.
    #[deprecated = "use `set_tos_v4()`"]
    #[allow(deprecated)]
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        both!(self, s => s.set_tos(tos))
    }

    /// The interface the socket is bound to.
    ///
    /// # Errors
    ///
    /// As the backend's (ringtcp: `Unsupported`).
    pub fn device(&self) -> io::Result<Option<Vec<u8>>> {
        both!(self, s => s.device())
    }

    /// Binds the socket to an interface.
    ///
    /// # Errors
    ///
    /// As the backend's (ringtcp: `Unsupported`).
    pub fn bind_device(&self, interface: Option<&[u8]>) -> io::Result<()> {
        both!(self, s => s.bind_device(interface))
    }

    /// The address given to `bind`.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        both!(self, s => s.local_addr())
    }

    /// The pending error.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        both!(self, s => s.take_error())
    }

    /// The local address to use.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        both!(self, s => s.bind(addr))
    }

    /// Opens a connection.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        Ok(match self {
            TcpSocket::Kernel(s) => TcpStream::Kernel(s.connect(addr).await?),
            TcpSocket::Ringtcp(s) => TcpStream::Ringtcp(s.connect(addr).await?),
        })
    }

    /// Listens on the bound address.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        Ok(match self {
            TcpSocket::Kernel(s) => TcpListener::Kernel(s.listen(backlog)?),
            TcpSocket::Ringtcp(s) => TcpListener::Ringtcp(s.listen(backlog)?),
        })
    }

    /// A socket of the switch from a kernel stream (on ringtcp, one whose every call
    /// answers `Unsupported`).
    pub fn from_std_stream(std_stream: std::net::TcpStream) -> TcpSocket {
        match backend() {
            Backend::Kernel => TcpSocket::Kernel(tokio::net::TcpSocket::from_std_stream(std_stream)),
            Backend::Ringtcp => TcpSocket::Ringtcp(crate::TcpSocket::from_std_stream(std_stream)),
        }
    }
}
