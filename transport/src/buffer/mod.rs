//! Per-connection byte buffers. Both grow on demand up to their bound, so a connection
//! that carries 64 bytes costs 64 bytes of buffer, not the configured maximum.

mod rx;
mod tx;

pub(crate) use rx::{RxBuffer, RxInsert};
pub(crate) use tx::TxBuffer;
