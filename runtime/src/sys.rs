//! Thin, checked wrappers over the few raw system calls the runtime needs besides
//! io_uring itself: eventfd, socketpair and time. Every failure becomes an `io::Error`.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// `-1` from a libc call becomes the errno as an `io::Error`.
pub(crate) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// A non-blocking eventfd: the doorbell a shard's ring waits on.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a valid fd is returned or -1.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd (rings the doorbell). Failure is impossible unless the counter
/// would overflow, which the reader prevents by draining it.
pub(crate) fn eventfd_ring(fd: libc::c_int) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid u64 to an eventfd.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// Resets a non-blocking eventfd's counter (nothing happens if it is already zero).
pub(crate) fn eventfd_drain(fd: libc::c_int) {
    let mut v: u64 = 0;
    // SAFETY: reads at most 8 bytes into a valid u64.
    unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
}

/// A pair of connected packet sockets: each `write` is one packet, each `read` returns
/// one, like a TUN queue. The in-memory link is built from these.
pub(crate) fn packet_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Bytes of physical memory, if the system says.
pub(crate) fn physical_memory() -> Option<usize> {
    // SAFETY: sysconf takes no pointers.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    (pages > 0 && size > 0).then(|| (pages as usize).saturating_mul(size as usize))
}
