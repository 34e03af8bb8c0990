//! Keeping a received packet's memory as a chunk of the receive buffer instead of copying
//! its payload out of it (see [`Shard::handle_packet_in`](crate::Shard::handle_packet_in)).
//!
//! While a packet in memory the shard may keep is processed, the connection it reaches can
//! reserve its payload: the bytes count as received at once (RCV.NXT, the window, the ACK
//! all move as for a copy), and the shard hands the memory over to that receive buffer
//! when the packet is done with, once nothing borrows it any more. Only a large in-order
//! payload with nothing held out of order is worth it: the block is 64 KB, and the chunk
//! that wraps it should be mostly payload.

use core::ops::Range;

/// Payloads smaller than this are copied: a block kept for less would hold more than
/// twice its payload in memory.
pub(crate) const ADOPT_MIN: usize = 32 * 1024;

/// The adoption state of the packet being processed.
#[derive(Debug, Default)]
pub(crate) struct Adoption {
    /// The addresses of the packet's bytes, while an adoptable packet is processed.
    packet: Option<Range<usize>>,
    /// The connection the packet was handed to (slot and generation): only its data may
    /// be reserved.
    conn: Option<(u32, u32)>,
    /// The reserved payload: its offset in the packet and length.
    reserved: Option<(usize, usize)>,
}

/// A payload reserved while its packet was processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reserved {
    pub(crate) conn: (u32, u32),
    /// Offset of the payload in the packet.
    pub(crate) offset: usize,
    pub(crate) len: usize,
}

impl Adoption {
    /// A packet whose memory the shard may keep is about to be processed.
    pub(crate) fn begin(&mut self, packet: &[u8]) {
        let start = packet.as_ptr() as usize;
        *self = Adoption { packet: Some(start..start + packet.len()), conn: None, reserved: None };
    }

    /// The packet goes to connection `conn` (slot, generation).
    pub(crate) fn to_connection(&mut self, conn: (u32, u32)) {
        self.conn = Some(conn);
    }

    /// The connection takes `data` in order: true if it is reserved for adoption (the
    /// caller then counts it received without copying it).
    pub(crate) fn reserve(&mut self, data: &[u8]) -> bool {
        let (Some(packet), Some(_), None) = (&self.packet, self.conn, self.reserved) else { return false };
        let at = data.as_ptr() as usize;
        if data.len() < ADOPT_MIN || at < packet.start || at + data.len() > packet.end {
            return false;
        }
        self.reserved = Some((at - packet.start, data.len()));
        true
    }

    /// The packet is done with: what was reserved, if anything. Nothing more can be.
    pub(crate) fn end(&mut self) -> Option<Reserved> {
        let a = core::mem::take(self);
        match (a.conn, a.reserved) {
            (Some(conn), Some((offset, len))) => Some(Reserved { conn, offset, len }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_large_payload_inside_the_packet_of_a_named_connection_is_reserved() {
        let packet = vec![7u8; 65_000];
        let mut a = Adoption::default();
        assert!(!a.reserve(&packet[100..40_000]), "no packet begun");
        a.begin(&packet);
        assert!(!a.reserve(&packet[100..40_000]), "no connection named");
        a.to_connection((3, 9));
        assert!(!a.reserve(&packet[100..100 + ADOPT_MIN - 1]), "too small");
        let elsewhere = vec![0u8; 40_000];
        assert!(!a.reserve(&elsewhere), "not in the packet");
        assert!(a.reserve(&packet[100..40_100]));
        assert!(!a.reserve(&packet[100..40_100]), "one reservation a packet");
        assert_eq!(a.end(), Some(Reserved { conn: (3, 9), offset: 100, len: 40_000 }));
        assert_eq!(a.end(), None, "ended");
        assert!(!a.reserve(&packet[100..40_100]), "nothing after the end");
    }
}
