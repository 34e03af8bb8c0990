//! A provided-buffer ring for multishot reads (`IORING_REGISTER_PBUF_RING`, Linux 6.7+ for
//! multishot read): the kernel picks a free buffer for each packet it reads and names it in
//! the completion; the shard hands the buffer back as soon as the packet is processed.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// The buffer group id the shard's reads use.
pub(crate) const GROUP: u16 = 0;

#[derive(Debug)]
pub(crate) struct BufRing {
    ring: *mut BufRingEntry,
    layout: Layout,
    entries: u16,
    tail: u16,
    bufs: Box<[u8]>,
    buf_size: usize,
}

// SAFETY: the ring memory is owned by this value and only touched by the shard thread that
// owns it (and by the kernel, through the registration).
unsafe impl Send for BufRing {}

impl BufRing {
    /// Allocates `entries` buffers of `buf_size` bytes and registers them with `ring`.
    pub(crate) fn new(ring: &IoUring, entries: u16, buf_size: usize) -> io::Result<BufRing> {
        assert!(entries.is_power_of_two(), "buffer ring size must be a power of two");
        let layout = Layout::from_size_align(usize::from(entries) * size_of::<BufRingEntry>(), 4096)
            .map_err(|_| io::Error::other("buffer ring layout"))?;
        // SAFETY: non-zero size, valid layout.
        let mem = unsafe { alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if mem.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let mut br = BufRing {
            ring: mem,
            layout,
            entries,
            tail: 0,
            bufs: vec![0u8; usize::from(entries) * buf_size].into_boxed_slice(),
            buf_size,
        };
        // SAFETY: `mem` is page aligned, zeroed and lives as long as `br` (which unregisters
        // nothing itself: the shard unregisters before dropping it).
        unsafe { ring.submitter().register_buf_ring_with_flags(mem as u64, entries, GROUP, 0)? };
        for bid in 0..entries {
            br.push(bid);
        }
        br.publish();
        Ok(br)
    }

    fn push(&mut self, bid: u16) {
        let idx = usize::from(self.tail & (self.entries - 1));
        let addr = self.bufs[usize::from(bid) * self.buf_size..].as_ptr() as u64;
        // SAFETY: `idx` < entries, inside the allocation.
        let e = unsafe { &mut *self.ring.add(idx) };
        e.set_addr(addr);
        e.set_len(self.buf_size as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the ring we own; the kernel reads
        // it, so it is written atomically with release ordering after the entries.
        unsafe {
            let tail = BufRingEntry::tail(self.ring).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// The bytes of buffer `bid` the kernel filled.
    pub(crate) fn data(&self, bid: u16, len: usize) -> &[u8] {
        let start = usize::from(bid) * self.buf_size;
        &self.bufs[start..start + len.min(self.buf_size)]
    }

    /// Hands buffer `bid` back to the kernel.
    pub(crate) fn recycle(&mut self, bid: u16) {
        self.push(bid);
        self.publish();
    }

}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ring.cast(), self.layout) };
    }
}
