//! One AF_XDP socket: its UMEM (the frames packets live in), its four rings shared with
//! the kernel, and the frame bookkeeping. Half the frames circulate through the fill and
//! RX rings (the kernel writes received frames into them), half through the TX and
//! completion rings (we build frames in place, the kernel sends and hands them back).
//!
//! The rings are single-producer, single-consumer: indices run freely and wrap, the
//! producer publishes with a release store after writing entries, the consumer reads
//! them after an acquire load (the kernel's `xsk_queue.h` protocol).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys::cvt;

/// Bytes per frame: a page, room for a 1,500-byte MTU frame and far more.
pub(crate) const FRAME_SIZE: u32 = 4096;
/// Frames per socket (16 MB of UMEM), half for receiving, half for sending.
const FRAMES: u32 = 4096;
/// Entries per ring.
const RING_SIZE: u32 = FRAMES / 2;
/// Frames the kernel's copy mode sends per `sendto` before it asks to be called again.
const KICKS_PER_FLUSH: usize = 64;

/// How the socket is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XskMode {
    /// The driver DMAs into the UMEM: no copy in the kernel.
    ZeroCopy,
    /// The kernel copies between its buffers and the UMEM (any driver, generic XDP too).
    Copy,
}

/// A ring mapped from the socket.
struct Ring<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    descs: NonNull<T>,
    /// Our copy of the index we advance, and the last one seen of the other side.
    cached_prod: u32,
    cached_cons: u32,
    map: (NonNull<libc::c_void>, usize),
}

impl<T> Ring<T> {
    /// Maps the ring at `pgoff`, laid out as `off` says.
    fn map(fd: &OwnedFd, off: &libc::xdp_ring_offset, pgoff: u64) -> io::Result<Ring<T>> {
        let len = off.desc as usize + RING_SIZE as usize * size_of::<T>();
        // SAFETY: a shared mapping of the socket's ring at the kernel's page offset; the
        // kernel keeps it alive for as long as it is mapped.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_POPULATE, fd.as_raw_fd(), pgoff as libc::off_t)
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = p.cast::<u8>();
        // SAFETY: the offsets come from the kernel for this very mapping.
        let at = |o: u64| unsafe { NonNull::new_unchecked(base.add(o as usize)) };
        let mut ring = Ring {
            producer: at(off.producer).cast(),
            consumer: at(off.consumer).cast(),
            flags: at(off.flags).cast(),
            descs: at(off.desc).cast(),
            cached_prod: 0,
            cached_cons: 0,
            map: (NonNull::new(p).expect("mmap succeeded"), len),
        };
        ring.cached_prod = ring.prod().load(Ordering::Relaxed);
        ring.cached_cons = ring.cons().load(Ordering::Relaxed);
        Ok(ring)
    }

    fn prod(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping; the kernel updates it atomically.
        unsafe { self.producer.as_ref() }
    }

    fn cons(&self) -> &AtomicU32 {
        // SAFETY: as for `prod`.
        unsafe { self.consumer.as_ref() }
    }

    fn slot(&self, idx: u32) -> *mut T {
        // SAFETY: masked into the ring's RING_SIZE entries.
        unsafe { self.descs.as_ptr().add((idx & (RING_SIZE - 1)) as usize) }
    }

    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `prod`.
        unsafe { self.flags.as_ref() }.load(Ordering::Acquire) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Producer side: free entries.
    fn free(&mut self) -> u32 {
        self.cached_cons = self.cons().load(Ordering::Acquire);
        RING_SIZE - self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Producer side: writes one entry (the caller checked [`free`](Self::free)).
    fn push(&mut self, v: T) {
        // SAFETY: an entry the consumer is done with.
        unsafe { self.slot(self.cached_prod).write(v) };
        self.cached_prod = self.cached_prod.wrapping_add(1);
    }

    /// Producer side: hands the written entries over.
    fn publish(&self) {
        self.prod().store(self.cached_prod, Ordering::Release);
    }

    /// Consumer side: entries ready.
    fn ready(&mut self) -> u32 {
        self.cached_prod = self.prod().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Consumer side: reads the next entry (the caller checked [`ready`](Self::ready)).
    fn take(&mut self) -> T {
        // SAFETY: an entry the producer published.
        let v = unsafe { self.slot(self.cached_cons).read() };
        self.cached_cons = self.cached_cons.wrapping_add(1);
        v
    }

    /// Consumer side: gives the read entries back.
    fn release(&self) {
        self.cons().store(self.cached_cons, Ordering::Release);
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `map` mapped.
        unsafe { libc::munmap(self.map.0.as_ptr(), self.map.1) };
    }
}

/// An AF_XDP socket bound to one queue of an interface.
pub(crate) struct Xsk {
    fd: OwnedFd,
    umem: NonNull<u8>,
    fill: Ring<u64>,
    completion: Ring<u64>,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    /// TX frames not in the kernel's hands.
    free_tx: Vec<u64>,
    /// Frames written to the TX ring since the last kick.
    unkicked: bool,
    mode: XskMode,
    /// Kicks the kernel answered with "busy": the TX ring waits for the next flush.
    pub(crate) busy_kicks: u64,
}

// SAFETY: the mappings belong to this socket alone and move with it to the shard thread.
unsafe impl Send for Xsk {}

impl std::fmt::Debug for Xsk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xsk").field("fd", &self.fd).field("mode", &self.mode).finish_non_exhaustive()
    }
}

fn setsockopt<T>(fd: &OwnedFd, opt: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: passes a valid value of the size the option expects.
    cvt(unsafe { libc::setsockopt(fd.as_raw_fd(), libc::SOL_XDP, opt, (v as *const T).cast(), size_of::<T>() as u32) }).map(drop)
}

impl Xsk {
    /// A socket on queue `queue` of interface `ifindex`: zero-copy if the driver can,
    /// else copy mode (unless `force_copy`).
    pub(crate) fn open(ifindex: u32, queue: u32, force_copy: bool) -> io::Result<Xsk> {
        if !force_copy && let Ok(x) = Xsk::open_mode(ifindex, queue, XskMode::ZeroCopy) {
            return Ok(x);
        }
        Xsk::open_mode(ifindex, queue, XskMode::Copy)
    }

    fn open_mode(ifindex: u32, queue: u32, mode: XskMode) -> io::Result<Xsk> {
        // SAFETY: plain socket creation.
        let fd = cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: just created, owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let len = FRAMES as usize * FRAME_SIZE as usize;
        // SAFETY: an anonymous private mapping, unmapped in Drop.
        let area = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE, -1, 0)
        };
        if area == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let umem = NonNull::new(area.cast::<u8>()).expect("mmap succeeded");
        let unmap = || {
            // SAFETY: the mapping made above, not yet owned by an Xsk.
            unsafe { libc::munmap(area, len) };
        };
        type Rings = (Ring<u64>, Ring<u64>, Ring<libc::xdp_desc>, Ring<libc::xdp_desc>);
        let setup = || -> io::Result<Rings> {
            let reg = libc::xdp_umem_reg { addr: area as u64, len: len as u64, chunk_size: FRAME_SIZE, headroom: 0, flags: 0, tx_metadata_len: 0 };
            setsockopt(&fd, libc::XDP_UMEM_REG, &reg)?;
            for opt in [libc::XDP_UMEM_FILL_RING, libc::XDP_UMEM_COMPLETION_RING, libc::XDP_RX_RING, libc::XDP_TX_RING] {
                setsockopt(&fd, opt, &RING_SIZE)?;
            }
            // SAFETY: all-zero is a valid xdp_mmap_offsets.
            let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
            let mut optlen = size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
            // SAFETY: the kernel writes at most `optlen` bytes into `off`.
            cvt(unsafe { libc::getsockopt(fd.as_raw_fd(), libc::SOL_XDP, libc::XDP_MMAP_OFFSETS, (&mut off as *mut libc::xdp_mmap_offsets).cast(), &mut optlen) })?;
            let fill = Ring::map(&fd, &off.fr, libc::XDP_UMEM_PGOFF_FILL_RING)?;
            let completion = Ring::map(&fd, &off.cr, libc::XDP_UMEM_PGOFF_COMPLETION_RING)?;
            let rx = Ring::map(&fd, &off.rx, libc::XDP_PGOFF_RX_RING as u64)?;
            let tx = Ring::map(&fd, &off.tx, libc::XDP_PGOFF_TX_RING as u64)?;
            let flags = libc::XDP_USE_NEED_WAKEUP | if mode == XskMode::ZeroCopy { libc::XDP_ZEROCOPY } else { libc::XDP_COPY };
            let addr = libc::sockaddr_xdp { sxdp_family: libc::AF_XDP as u16, sxdp_flags: flags, sxdp_ifindex: ifindex, sxdp_queue_id: queue, sxdp_shared_umem_fd: 0 };
            // SAFETY: a valid sockaddr_xdp of the size given.
            cvt(unsafe { libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_xdp).cast(), size_of::<libc::sockaddr_xdp>() as u32) })?;
            Ok((fill, completion, rx, tx))
        };
        let (fill, completion, rx, tx) = match setup() {
            Ok(r) => r,
            Err(e) => {
                unmap();
                return Err(e);
            }
        };
        let mut x = Xsk { fd, umem, fill, completion, rx, tx, free_tx: (RING_SIZE..FRAMES).map(|i| u64::from(i * FRAME_SIZE)).collect(), unkicked: false, mode, busy_kicks: 0 };
        for i in 0..RING_SIZE {
            x.fill.push(u64::from(i * FRAME_SIZE));
        }
        x.fill.publish();
        Ok(x)
    }

    pub(crate) fn fd(&self) -> libc::c_int {
        self.fd.as_raw_fd()
    }

    pub(crate) fn mode(&self) -> XskMode {
        self.mode
    }

    /// The bytes of the frame at `addr`, at most `len` and never past its frame (an
    /// offset the kernel gave is trusted only that far).
    fn frame(&self, addr: u64, len: usize) -> &[u8] {
        let (start, len) = frame_bounds(addr, len);
        // SAFETY: inside the UMEM (bounded to one frame); the kernel handed the frame to
        // us and does not touch it until we give it back.
        unsafe { std::slice::from_raw_parts(self.umem.as_ptr().add(start), len) }
    }

    /// [`frame`](Self::frame), writable: a free TX frame.
    fn frame_mut(&mut self, addr: u64, len: usize) -> &mut [u8] {
        let (start, len) = frame_bounds(addr, len);
        // SAFETY: as for `frame`; a free TX frame is ours alone.
        unsafe { std::slice::from_raw_parts_mut(self.umem.as_ptr().add(start), len) }
    }

    /// True if received frames wait.
    pub(crate) fn has_input(&mut self) -> bool {
        self.rx.ready() > 0
    }

    /// Hands every received frame to `f` and gives the frames back to the kernel.
    /// Returns how many there were.
    pub(crate) fn receive(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let n = self.rx.ready();
        for _ in 0..n {
            let d = self.rx.take();
            f(self.frame(d.addr, d.len as usize));
            // The fill ring has room for every RX frame: RING_SIZE of them circulate.
            self.fill.push(d.addr - d.addr % u64::from(FRAME_SIZE));
        }
        if n > 0 {
            self.rx.release();
            self.fill.publish();
            if self.fill.needs_wakeup() {
                // SAFETY: a zero-length receive that only wakes the driver.
                unsafe { libc::recvfrom(self.fd.as_raw_fd(), std::ptr::null_mut(), 0, libc::MSG_DONTWAIT, std::ptr::null_mut(), std::ptr::null_mut()) };
            }
        }
        n as usize
    }

    /// Takes back the frames the kernel has sent.
    fn reclaim(&mut self) {
        let n = self.completion.ready();
        for _ in 0..n {
            let addr = self.completion.take();
            self.free_tx.push(addr);
        }
        if n > 0 {
            self.completion.release();
        }
    }

    /// Lends a free TX frame to `build`, which writes a frame into it and returns its
    /// length (or `None`, and the frame stays free). False if no frame or ring slot is
    /// free: the caller tries again after the kernel has sent some.
    pub(crate) fn send_with(&mut self, build: impl FnOnce(&mut [u8]) -> Option<usize>) -> Option<bool> {
        if self.free_tx.is_empty() {
            self.reclaim();
        }
        if self.free_tx.is_empty() || self.tx.free() == 0 {
            return None;
        }
        let addr = *self.free_tx.last().expect("checked");
        let Some(len) = build(self.frame_mut(addr, FRAME_SIZE as usize)) else { return Some(false) };
        self.free_tx.pop();
        self.tx.push(libc::xdp_desc { addr, len: len as u32, options: 0 });
        self.unkicked = true;
        Some(true)
    }

    /// Publishes the frames written since the last call and asks the kernel to send them.
    /// Returns false if the kernel was busy and some wait (call again later).
    pub(crate) fn flush(&mut self) -> bool {
        if !self.unkicked {
            return true;
        }
        self.tx.publish();
        if self.mode == XskMode::ZeroCopy && !self.tx.needs_wakeup() {
            self.unkicked = false;
            return true;
        }
        for _ in 0..KICKS_PER_FLUSH {
            // SAFETY: a zero-length send that only makes the kernel process the TX ring.
            let r = unsafe { libc::sendto(self.fd.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
            // Copy mode sends a batch per call and says EAGAIN while more wait.
            let more = r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN);
            let consumed = self.tx.cons().load(Ordering::Acquire) == self.tx.cached_prod;
            if consumed || (r < 0 && !more) {
                self.unkicked = !consumed;
                if !consumed {
                    self.busy_kicks += 1;
                }
                return consumed;
            }
        }
        self.busy_kicks += 1;
        false
    }

    /// The kernel's drop counters for this socket: (RX dropped for want of a ring
    /// entry or fill frame, invalid descriptors).
    pub(crate) fn kernel_drops(&self) -> (u64, u64) {
        // SAFETY: all-zero is a valid xdp_statistics.
        let mut s: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::xdp_statistics>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes.
        let r = unsafe { libc::getsockopt(self.fd.as_raw_fd(), libc::SOL_XDP, libc::XDP_STATISTICS, (&mut s as *mut libc::xdp_statistics).cast(), &mut len) };
        if r < 0 {
            return (0, 0);
        }
        (s.rx_dropped + s.rx_ring_full + s.rx_fill_ring_empty_descs, s.rx_invalid_descs + s.tx_invalid_descs)
    }
}

/// Offset and length of `len` bytes at `addr`, clamped to the UMEM and to `addr`'s frame.
fn frame_bounds(addr: u64, len: usize) -> (usize, usize) {
    let total = FRAMES as u64 * u64::from(FRAME_SIZE);
    let addr = addr.min(total - 1);
    let room = u64::from(FRAME_SIZE) - addr % u64::from(FRAME_SIZE);
    (addr as usize, len.min(room as usize))
}

impl Drop for Xsk {
    fn drop(&mut self) {
        // The kernel pins the UMEM's pages while the socket lives, so unmapping before
        // the socket closes (the fields drop after this) frees nothing early.
        // SAFETY: unmaps exactly the UMEM `open_mode` mapped; no frame slice outlives
        // `self`.
        unsafe { libc::munmap(self.umem.as_ptr().cast(), FRAMES as usize * FRAME_SIZE as usize) };
    }
}
