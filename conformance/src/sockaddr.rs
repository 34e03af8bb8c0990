//! Socket addresses across the C interface: `sockaddr_in` and `sockaddr_in6` as packetdrill
//! passes them in and expects them back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use crate::adapter::Res;

/// # Safety
///
/// `addr` points to `len` readable bytes, or is null.
pub(crate) unsafe fn read_addr(addr: *const libc::sockaddr, len: libc::socklen_t) -> Res<SocketAddr> {
    if addr.is_null() || (len as usize) < size_of::<libc::sockaddr_in>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: non-null and at least a sockaddr_in long, by the check and the contract.
    let family = i32::from(unsafe { (*addr).sa_family });
    if family == libc::AF_INET6 {
        if (len as usize) < size_of::<libc::sockaddr_in6>() {
            return Err(libc::EINVAL);
        }
        // SAFETY: a sockaddr_in6 long, by the check; read_unaligned because C gives no
        // alignment promise here.
        let sin6 = unsafe { std::ptr::read_unaligned(addr as *const libc::sockaddr_in6) };
        return Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)), u16::from_be(sin6.sin6_port)));
    }
    if family != libc::AF_INET {
        return Err(libc::EAFNOSUPPORT);
    }
    // SAFETY: as above.
    let sin = unsafe { std::ptr::read_unaligned(addr as *const libc::sockaddr_in) };
    let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
    Ok(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
}

/// # Safety
///
/// `addr`/`len` are null or point to a buffer and its length, as `accept` takes them.
pub(crate) unsafe fn write_addr(a: SocketAddr, addr: *mut libc::sockaddr, len: *mut libc::socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    match a.ip() {
        IpAddr::V4(ip) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
                sin_zero: [0; 8],
            };
            // SAFETY: as `copy_out` requires, by this function's contract.
            unsafe { copy_out(&sin, addr, len) };
        }
        IpAddr::V6(ip) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: ip.octets() },
                sin6_scope_id: 0,
            };
            // SAFETY: as above.
            unsafe { copy_out(&sin6, addr, len) };
        }
    }
}

/// Copies `value` into the caller's `addr` buffer (at most `*len` bytes, as the kernel
/// truncates) and sets `*len` to its full size.
///
/// # Safety
///
/// `addr` points to `*len` writable bytes; `len` is valid.
unsafe fn copy_out<T>(value: &T, addr: *mut libc::sockaddr, len: *mut libc::socklen_t) {
    // SAFETY: by the contract; at most what the caller has room for.
    unsafe {
        let room = (*len as usize).min(size_of::<T>());
        std::ptr::copy_nonoverlapping(value as *const T as *const u8, addr as *mut u8, room);
        *len = size_of::<T>() as libc::socklen_t;
    }
}
