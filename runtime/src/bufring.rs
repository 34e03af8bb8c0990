//! A provided-buffer ring for multishot reads (`IORING_REGISTER_PBUF_RING`, Linux 6.7+ for
//! multishot read): the kernel picks a free buffer for each packet it reads and names it in
//! the completion; the shard hands the buffer back as soon as the packet is processed.
//!
//! Each buffer is an allocation of its own, so that one holding a large payload can leave
//! the ring for a connection's receive buffer ([`BufRing::take`]) and another take its
//! place ([`BufRing::put`]): with a virtio-net header the buffers are the buffer pool's
//! packet blocks.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;
use ringtcp_transport::buffer_pool::{self, PACKET_BLOCK};

/// The buffer group id the shard's reads use.
pub(crate) const GROUP: u16 = 0;

#[derive(Debug)]
pub(crate) struct BufRing {
    ring: *mut BufRingEntry,
    layout: Layout,
    entries: u16,
    tail: u16,
    /// Buffer `bid` (`None` only between `take` and `put`).
    bufs: Vec<Option<Box<[u8]>>>,
    buf_size: usize,
}

// SAFETY: the ring memory is owned by this value and only touched by the shard thread that
// owns it (and by the kernel, through the registration).
unsafe impl Send for BufRing {}

impl BufRing {
    /// Allocates `entries` buffers of `buf_size` bytes (packet blocks from the buffer pool
    /// if that is their size) and registers them with `ring`.
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
            bufs: (0..entries).map(|_| Some(new_buffer(buf_size))).collect(),
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
        let addr = self.bufs[usize::from(bid)].as_ref().expect("a buffer in every slot handed to the kernel").as_ptr() as u64;
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
        let buf = self.bufs[usize::from(bid)].as_deref().expect("a buffer in the slot");
        &buf[..len.min(self.buf_size)]
    }

    /// Takes buffer `bid` (which the kernel filled) out of the ring; [`put`](Self::put)
    /// gives the slot a buffer again before it is recycled.
    pub(crate) fn take(&mut self, bid: u16) -> Box<[u8]> {
        self.bufs[usize::from(bid)].take().expect("a buffer in the slot")
    }

    /// Puts `buf` in slot `bid`: the one taken, or a new one of the same size.
    pub(crate) fn put(&mut self, bid: u16, buf: Box<[u8]>) {
        assert_eq!(buf.len(), self.buf_size, "a buffer of the ring's size");
        self.bufs[usize::from(bid)] = Some(buf);
    }

    /// A buffer for a slot whose own was kept.
    pub(crate) fn new_buffer(&self) -> Box<[u8]> {
        new_buffer(self.buf_size)
    }

    /// Hands buffer `bid` back to the kernel.
    pub(crate) fn recycle(&mut self, bid: u16) {
        self.push(bid);
        self.publish();
    }
}

fn new_buffer(size: usize) -> Box<[u8]> {
    if size == PACKET_BLOCK { buffer_pool::take_block() } else { vec![0u8; size].into_boxed_slice() }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        for buf in self.bufs.drain(..).flatten() {
            buffer_pool::give_block(buf);
        }
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ring.cast(), self.layout) };
    }
}
