//! Per-connection byte buffers, made of chunks from a process-wide pool. Both grow on
//! demand up to their bound, a chunk at a time, so a connection that carries 64 bytes
//! holds one small chunk, not the configured maximum, and one that is idle holds none: a
//! drained chunk goes back to the pool at once (taking it again costs no page fault and no
//! allocation, which is why buffers once kept their allocations while data kept coming).

pub(crate) mod adopt;
pub(crate) mod gather;
pub mod pool;
pub(crate) mod queue;
mod rx;
mod tx;

pub use queue::ByteQueue;
pub(crate) use rx::{RxBuffer, RxInsert};
pub(crate) use tx::TxBuffer;
