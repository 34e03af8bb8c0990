//! What is left of a connection for its owner once the transport state has gone to the
//! FIN cache: the addresses and the data the application has not read yet.

use std::net::SocketAddr;

use super::Connection;
use crate::buffer::RxBuffer;

/// The application-side remains of a connection in TIME-WAIT (or past it): reads return
/// the data left, then end of stream; writes fail with `BrokenPipe`.
#[derive(Debug)]
pub(crate) struct Remnant {
    pub(crate) generation: u32,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) event_queued: bool,
    pub(crate) nodelay: bool,
    /// Buffer bytes the shard has counted for this remnant.
    pub(crate) accounted: usize,
    rx: RxBuffer,
}

impl Remnant {
    pub(crate) fn recv(&mut self, out: &mut [u8]) -> usize {
        self.rx.read(out)
    }

    pub(crate) fn fulfil_rx(&mut self, mem: Box<[u8]>, range: core::ops::Range<usize>) -> Result<(), Box<[u8]>> {
        self.rx.fulfil(mem, range)
    }

    pub(crate) fn recv_into(&mut self, out: &mut crate::ByteQueue, max: usize) -> usize {
        self.rx.read_into(out, max)
    }

    pub(crate) fn peek(&self, out: &mut [u8]) -> usize {
        self.rx.peek(out)
    }

    pub(crate) fn recv_queue(&self) -> usize {
        self.rx.len()
    }

    pub(crate) fn memory(&self) -> usize {
        size_of::<Remnant>() + self.buffer_bytes()
    }

    /// Bytes allocated for the unread data.
    pub(crate) fn buffer_bytes(&self) -> usize {
        self.rx.allocated()
    }
}

impl Connection {
    /// Moves the unread data out into a [`Remnant`]; the connection is dropped after.
    pub(crate) fn take_remnant(&mut self) -> Remnant {
        Remnant {
            generation: self.generation,
            local: self.local,
            remote: self.remote,
            event_queued: self.event_queued,
            nodelay: self.nodelay,
            accounted: 0,
            rx: core::mem::replace(&mut self.rx, RxBuffer::new(0, 0)),
        }
    }
}
