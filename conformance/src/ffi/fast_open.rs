//! Fast Open's client calls as Linux's socket API makes them: `sendto` / `sendmsg` with
//! `MSG_FASTOPEN`, and waiting for a handshake under way.

use std::ffi::c_int;

use super::transmit;
use crate::adapter::Res;
use crate::sockaddr::read_addr;
use crate::waiting::{Ud, Wait, call};

/// The destination of a `MSG_FASTOPEN` send: `AF_UNSPEC` is `EOPNOTSUPP`, as on Linux.
///
/// # Safety
///
/// `addr` is null or points to `len` readable bytes.
pub(super) unsafe fn fast_open_addr(addr: *const libc::sockaddr, len: libc::socklen_t) -> Res<std::net::SocketAddr> {
    // SAFETY: by the caller's contract, at least the family field is readable when len > 0.
    if !addr.is_null() && len as usize >= size_of::<libc::sa_family_t>() && unsafe { (*addr).sa_family } == libc::AF_UNSPEC as libc::sa_family_t {
        return Err(libc::EOPNOTSUPP);
    }
    // SAFETY: by the caller's contract.
    unsafe { read_addr(addr, len) }
}

/// Opens a connection with Fast Open and `data` (Linux's `tcp_sendmsg_fastopen`): what the
/// SYN carries counts as sent; a non-blocking socket returns that (or `EINPROGRESS`); a
/// blocking one waits for the handshake and sends the rest as any write.
pub(super) fn send_fast_open(ud: Ud, fd: c_int, remote: std::net::SocketAddr, data: &[u8], flags: c_int) -> Res<isize> {
    let in_syn = match call(ud, Wait::Never, |a| a.send_fast_open(fd, remote, data)) {
        Ok(n) => n,
        Err(libc::EINPROGRESS) => 0,
        Err(e) => return Err(e),
    };
    let dontwait = flags & libc::MSG_DONTWAIT != 0;
    if in_syn > 0 && in_syn < data.len() && !dontwait && !call(ud, Wait::Never, |a| a.nonblocking(fd))? {
        // Linux's writer waits for the handshake holding the rest, which then leaves with
        // the ACK of the SYN-ACK; here the rest waits queued (a Fast Open connection takes
        // data before its handshake ends) and leaves the same way.
        let queued = call(ud, Wait::Never, |a| a.queue_behind_syn(fd, &data[in_syn..]))?;
        wait_connected(ud, fd, false)?;
        let rest = if in_syn + queued < data.len() { transmit(ud, fd, &data[in_syn + queued..], flags)? } else { 0 };
        return Ok((in_syn + queued) as isize + rest);
    }
    match wait_connected(ud, fd, flags & libc::MSG_DONTWAIT != 0) {
        Err(libc::EINPROGRESS) if in_syn > 0 => Ok(in_syn as isize),
        Err(e) => Err(e),
        Ok(()) if in_syn == data.len() => Ok(in_syn as isize),
        Ok(()) => Ok(in_syn as isize + transmit(ud, fd, &data[in_syn..], flags)?),
    }
}

/// Waits for a connect under way to end on a blocking socket; `EINPROGRESS` at once on a
/// non-blocking one or with `dontwait` (`MSG_DONTWAIT`).
pub(super) fn wait_connected(ud: Ud, fd: c_int, dontwait: bool) -> Res<()> {
    call(ud, Wait::IfBlocking(fd), |a| {
        if dontwait || a.nonblocking(fd)? {
            return Err(libc::EINPROGRESS);
        }
        match a.connect_done(fd) {
            Err(libc::EINPROGRESS) => Err(libc::EAGAIN),
            r => r,
        }
    })
}
