//! Per-connection byte buffers. Both grow on demand up to their bound, so a connection
//! that carries 64 bytes costs 64 bytes of buffer, not the configured maximum.
//!
//! A drained buffer keeps its allocation while data keeps coming: freeing it at every
//! drain made a bulk transfer allocate, fault in and free its buffer over and over (page
//! faults and a realloc copy per growth step showed in the shard's profile). The
//! connection gives a large empty allocation back after [`IDLE_RELEASE`] without new
//! data, or at once when buffer memory is tight.

mod rx;
mod tx;

pub(crate) use rx::{RxBuffer, RxInsert};
pub(crate) use tx::TxBuffer;

/// Copies the first `n` bytes of `from` (both halves of its ring) to the end of `to`,
/// then drops them from `from`.
fn move_front(from: &mut std::collections::VecDeque<u8>, to: &mut std::collections::VecDeque<u8>, n: usize) {
    let (a, b) = from.as_slices();
    let na = n.min(a.len());
    to.extend(&a[..na]);
    to.extend(&b[..n - na]);
    from.drain(..n);
}

/// Bytes of empty allocation a connection keeps however idle it is.
pub(crate) const IDLE_KEEP: usize = 64 * 1024;

/// How long a drained buffer larger than [`IDLE_KEEP`] waits for data before its
/// allocation is given back.
pub(crate) const IDLE_RELEASE: core::time::Duration = core::time::Duration::from_millis(100);
