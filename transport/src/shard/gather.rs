//! Packets out without copying their payload: [`Shard::poll_transmit_gather`] writes the
//! headers into the caller's buffer and says where in the send buffer the payload lies, for
//! a device that writes from several places at once (`writev`).

use super::{Shard, Transmit};
use crate::buffer::gather::PayloadSlice;
use crate::time::Instant;

/// A packet [`Shard::poll_transmit_gather`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gathered {
    /// The packet as [`Shard::poll_transmit_offload`] describes it (`len` counts the
    /// payload the slices hold).
    pub transmit: Transmit,
    /// Bytes of it in the caller's buffer: the IP and TCP headers, or the whole packet
    /// when it has no payload to gather (a control packet, a bare ACK).
    pub header_len: usize,
}

impl Shard {
    /// As [`Shard::poll_transmit_offload`], where the device writes a packet from several
    /// places (a `writev`): the IP and TCP headers go into `header`, and a data segment's
    /// payload is not copied but appended to `payload` as where it lies in the
    /// connection's send buffer. The packet is `header[..header_len]` followed by the
    /// slices, `transmit.len` bytes in all (at most `max_len`); its TCP checksum is
    /// partial, for the device to complete. A packet without payload (a bare ACK, a
    /// SYN-ACK, a RST) is built whole in `header`, which should hold an MTU.
    ///
    /// The slices stay valid while nothing takes bytes from a send buffer: the next call
    /// into the shard may (an ACK frees what it acknowledges). A device that reads them
    /// later, once the shard has gone on (an asynchronous write), must keep memory freed
    /// meanwhile from reuse: [`buffer_pool::hold_freed`](crate::buffer_pool::hold_freed).
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let (a, b) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    /// let mut server = Shard::new(Config::default(), &[a], Secret([1; 16]));
    /// let mut client = Shard::new(Config::default(), &[b], Secret([2; 16]));
    /// let l = server.listen("10.0.0.1:80".parse().unwrap(), 8).unwrap();
    /// client.connect(Instant::ZERO, "10.0.0.1:80".parse().unwrap(), None).unwrap();
    /// let mut buf = vec![0u8; 2048];
    /// for _ in 0..3 {
    ///     while let Some(n) = client.poll_transmit(Instant::ZERO, &mut buf) { server.handle_packet(Instant::ZERO, &buf[..n]); }
    ///     while let Some(n) = server.poll_transmit(Instant::ZERO, &mut buf) { client.handle_packet(Instant::ZERO, &buf[..n]); }
    /// }
    /// let s = server.accept(l).unwrap().unwrap();
    /// server.send(s, &[7u8; 8000]).unwrap();
    /// let (mut header, mut payload) = ([0u8; 1600], Vec::new());
    /// let g = server.poll_transmit_gather(Instant::ZERO, &mut header, 65_535, &mut payload).unwrap();
    /// let gathered: usize = payload.iter().map(|p| p.len).sum();
    /// assert_eq!(g.header_len + gathered, g.transmit.len);
    /// assert!(gathered > 5 * 1448 && g.transmit.partial_checksum);
    /// // SAFETY: nothing was taken from the send buffer since.
    /// let first = unsafe { std::slice::from_raw_parts(payload[0].addr, payload[0].len) };
    /// assert!(first.iter().all(|&b| b == 7));
    /// ```
    pub fn poll_transmit_gather(&mut self, now: Instant, header: &mut [u8], max_len: usize, payload: &mut Vec<PayloadSlice>) -> Option<Gathered> {
        self.gather.on = true;
        self.gather.max_len = max_len;
        self.gather.slices.clear();
        let t = self.poll_transmit_offload(now, header);
        self.gather.on = false;
        let t = t?;
        let gathered: usize = self.gather.slices.iter().map(|s| s.len).sum();
        payload.append(&mut self.gather.slices);
        Some(Gathered { transmit: t, header_len: t.len - gathered })
    }
}
