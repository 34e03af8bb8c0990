//! Which thread is a thread-per-core shard thread: in thread-per-core mode application
//! tasks run on the shard threads themselves, beside the shard loop, and a few calls
//! behave differently there (a connection stays on the caller's shard; accept serves only
//! that shard's queue; calls that wait for every shard are refused).

use std::cell::Cell;
use std::sync::Arc;

use crate::handle::ShardHandle;

thread_local! {
    /// The handle of the shard this thread runs, when it is a thread-per-core shard thread.
    static CURRENT: Cell<*const ShardHandle> = const { Cell::new(std::ptr::null()) };
}

/// True if the calling thread is the thread-per-core thread of `shard`.
pub fn is_current(shard: &Arc<ShardHandle>) -> bool {
    CURRENT.with(|c| std::ptr::eq(c.get(), Arc::as_ptr(shard)))
}

/// True if the calling thread is a thread-per-core shard thread of any stack.
pub fn on_shard_thread() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// Marks the calling thread as `shard`'s thread (or, with `None`, as no shard's).
pub(crate) fn set_current(shard: Option<&Arc<ShardHandle>>) {
    CURRENT.with(|c| c.set(shard.map_or(std::ptr::null(), Arc::as_ptr)));
}
