//! Where the payload of a packet being built lies when it is gathered instead of copied
//! ([`Shard::poll_transmit_gather`](crate::Shard::poll_transmit_gather)).

/// Where a piece of a packet's payload lies: in a chunk of a connection's send buffer.
/// Valid until the shard is used again (its next call may take acknowledged bytes away);
/// see [`Shard::poll_transmit_gather`](crate::Shard::poll_transmit_gather) for how long a
/// device may read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadSlice {
    /// Its first byte.
    pub addr: *const u8,
    /// Its length in bytes.
    pub len: usize,
}

/// The gathering state of the packet being built.
#[derive(Debug, Default)]
pub(crate) struct Gather {
    /// Payload is gathered, not copied: a device that checksums and writes from several
    /// places asked.
    pub(crate) on: bool,
    /// The longest packet the device takes.
    pub(crate) max_len: usize,
    pub(crate) slices: Vec<PayloadSlice>,
}

impl Gather {
    /// The most a packet built in `buf` may take: the device's limit when gathering.
    pub(crate) fn room(&self, buf: &[u8]) -> usize {
        if self.on { self.max_len } else { buf.len() }
    }
}

