//! packetdrill's shared-object interface (`struct packetdrill_interface` in
//! `gtests/net/packetdrill/packetdrill.h`), written for Rust: packetdrill `dlopen`s the
//! library, calls `packetdrill_interface_init`, and from then on makes every socket call,
//! every packet and every clock reading through the function pointers filled in here.
//!
//! packetdrill runs blocking calls on a thread of their own while its main thread goes on
//! injecting packets and moving time; so the adapter sits behind a mutex, and a blocking
//! call waits on a condition variable that every other call signals.
//!
//! `fcntl` and `ioctl` are C-variadic in the interface. Rust cannot define a variadic
//! function on stable, so they are defined with one trailing integer argument: on the
//! x86-64 System V and AArch64 Linux ABIs a variadic integer or pointer argument travels in
//! the same register as a named one, so the value is read correctly where it was passed and
//! ignored where it was not (`F_GETFL`).

use std::ffi::{CStr, c_char, c_int, c_ulong, c_void};
use std::net::{IpAddr, Ipv4Addr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::adapter::{Adapter, FdNumbers, PACKET_WAIT_LIMIT, Res, config_from_sysctls, fast_open_key_from_sysctl, linux_like_config};
use crate::getsockopt;
use crate::shell_controls;
use crate::waiting::{Inner, Shared, Ud, Wait, call};
use crate::sockaddr::{read_addr, write_addr};

mod fast_open;
use fast_open::{fast_open_addr, send_fast_open, wait_connected};


/// `struct packetdrill_interface`, field for field.
#[repr(C)]
#[allow(missing_debug_implementations)]
pub struct PacketdrillInterface {
    userdata: Ud,
    free: Option<unsafe extern "C" fn(Ud)>,
    socket: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int) -> c_int>,
    bind: Option<unsafe extern "C" fn(Ud, c_int, *const libc::sockaddr, libc::socklen_t) -> c_int>,
    listen: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    accept: Option<unsafe extern "C" fn(Ud, c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> c_int>,
    connect: Option<unsafe extern "C" fn(Ud, c_int, *const libc::sockaddr, libc::socklen_t) -> c_int>,
    read: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, usize) -> isize>,
    readv: Option<unsafe extern "C" fn(Ud, c_int, *const libc::iovec, c_int) -> isize>,
    recv: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, usize, c_int) -> isize>,
    recvfrom: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, usize, c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> isize>,
    recvmsg: Option<unsafe extern "C" fn(Ud, c_int, *mut libc::msghdr, c_int) -> isize>,
    write: Option<unsafe extern "C" fn(Ud, c_int, *const c_void, usize) -> isize>,
    writev: Option<unsafe extern "C" fn(Ud, c_int, *const libc::iovec, c_int) -> isize>,
    send: Option<unsafe extern "C" fn(Ud, c_int, *const c_void, usize, c_int) -> isize>,
    sendto: Option<unsafe extern "C" fn(Ud, c_int, *const c_void, usize, c_int, *const libc::sockaddr, libc::socklen_t) -> isize>,
    sendmsg: Option<unsafe extern "C" fn(Ud, c_int, *const libc::msghdr, c_int) -> isize>,
    fcntl: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_ulong) -> c_int>,
    ioctl: Option<unsafe extern "C" fn(Ud, c_int, c_ulong, *mut c_void) -> c_int>,
    close: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    shutdown: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    getsockopt: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut c_void, *mut libc::socklen_t) -> c_int>,
    setsockopt: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *const c_void, libc::socklen_t) -> c_int>,
    poll: Option<unsafe extern "C" fn(Ud, *mut libc::pollfd, libc::nfds_t, c_int) -> c_int>,
    netdev_send: Option<unsafe extern "C" fn(Ud, *const c_void, usize) -> c_int>,
    netdev_receive: Option<unsafe extern "C" fn(Ud, *mut c_void, *mut usize, *mut i64) -> c_int>,
    usleep: Option<unsafe extern "C" fn(Ud, libc::useconds_t) -> c_int>,
    gettimeofday: Option<unsafe extern "C" fn(Ud, *mut libc::timeval, *mut c_void) -> c_int>,
    epoll_create: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    epoll_ctl: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut libc::epoll_event) -> c_int>,
    epoll_wait: Option<unsafe extern "C" fn(Ud, c_int, *mut libc::epoll_event, c_int, c_int) -> c_int>,
    pipe: Option<unsafe extern "C" fn(Ud, *mut c_int) -> c_int>,
    splice: Option<unsafe extern "C" fn(Ud, c_int, *mut libc::loff_t, c_int, *mut libc::loff_t, usize, std::ffi::c_uint) -> isize>,
}

fn set_errno(e: i32) {
    // SAFETY: `__errno_location` returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() = e };
}

/// Runs one of the interface's calls and gives its result as C wants it: the value, or
/// `minus_one` with errno set. A panic (a bug in ringtcp) becomes -1/EIO with a message,
/// never an unwind into C.
pub(crate) fn guarded<T: Copy>(f: impl FnOnce() -> Res<T>, minus_one: T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_errno(e);
            minus_one
        }
        Err(_) => {
            eprintln!("ringtcp-conformance: a call panicked (a bug in ringtcp); answering EIO");
            set_errno(libc::EIO);
            minus_one
        }
    }
}

// ---- the interface's functions ----

unsafe extern "C" fn pd_free(ud: Ud) {
    if !ud.is_null() {
        getsockopt::set_current(std::ptr::null_mut());
        // SAFETY: `ud` came from Box::into_raw in `init`; packetdrill frees it once.
        drop(unsafe { Box::from_raw(ud as *mut Shared) });
    }
}

/// A sysctl of `net/ipv4/` as the script's network namespace has it.
fn ipv4_sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).ok()
}

unsafe extern "C" fn pd_socket(ud: Ud, domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    guarded(
        || {
            call(ud, Wait::Never, |a| {
                let cfg = ringtcp_transport::Config { pacing: shell_controls::qdisc_paces(), ..config_from_sysctls(ipv4_sysctl) };
                a.refresh_handshake_options(&cfg);
                if shell_controls::take_tcp_metrics_flush() {
                    a.forget_fast_open_cookies();
                }
                a.configure_once(|| cfg, || ipv4_sysctl("tcp_fastopen_key").as_deref().and_then(fast_open_key_from_sysctl));
                a.socket(domain, ty, protocol)
            })
        },
        -1,
    )
}

unsafe extern "C" fn pd_bind(ud: Ud, fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
    guarded(
        || {
            // SAFETY: packetdrill passes a sockaddr of `len` bytes.
            let sa = unsafe { read_addr(addr, len) }?;
            call(ud, Wait::Never, |a| a.bind(fd, sa)).map(|()| 0)
        },
        -1,
    )
}

unsafe extern "C" fn pd_listen(ud: Ud, fd: c_int, backlog: c_int) -> c_int {
    guarded(|| call(ud, Wait::Never, |a| a.listen(fd, backlog)).map(|()| 0), -1)
}

unsafe extern "C" fn pd_accept(ud: Ud, fd: c_int, addr: *mut libc::sockaddr, len: *mut libc::socklen_t) -> c_int {
    guarded(
        || {
            let (new_fd, peer) = call(ud, Wait::IfBlocking(fd), |a| a.accept(fd))?;
            // SAFETY: packetdrill passes accept's own out-parameters.
            unsafe { write_addr(peer, addr, len) };
            Ok(new_fd)
        },
        -1,
    )
}

unsafe extern "C" fn pd_connect(ud: Ud, fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
    guarded(
        || {
            // SAFETY: packetdrill passes a sockaddr of `len` bytes.
            let sa = unsafe { read_addr(addr, len) }?;
            match call(ud, Wait::Never, |a| a.connect(fd, sa)) {
                Err(libc::EINPROGRESS) => {}
                other => return other.map(|()| 0),
            }
            // A blocking connect waits for the handshake's end.
            wait_connected(ud, fd, false).map(|()| 0)
        },
        -1,
    )
}

/// Reads into one buffer, as read/recv/recvfrom do (`MSG_PEEK`, `MSG_DONTWAIT`).
fn receive(ud: Ud, fd: c_int, buf: &mut [u8], flags: c_int) -> Res<isize> {
    let peek = flags & libc::MSG_PEEK != 0;
    let dontwait = flags & libc::MSG_DONTWAIT != 0;
    if flags & !(libc::MSG_PEEK | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL | libc::MSG_WAITALL) != 0 {
        // MSG_ERRQUEUE, MSG_TRUNC, MSG_OOB...: not ringtcp's.
        return Err(libc::EOPNOTSUPP);
    }
    call(ud, if dontwait { Wait::Never } else { Wait::IfBlocking(fd) }, |a| a.recv(fd, buf, peek)).map(|n| n as isize)
}

/// Queues all of `data` (a blocking socket waits for room, as Linux's send does), or as
/// much as fits on a non-blocking one.
pub(crate) fn transmit(ud: Ud, fd: c_int, data: &[u8], flags: c_int) -> Res<isize> {
    let dontwait = flags & libc::MSG_DONTWAIT != 0;
    if flags & libc::MSG_ZEROCOPY != 0 || flags & libc::MSG_OOB != 0 {
        return Err(libc::EOPNOTSUPP);
    }
    if let Some(remote) = call(ud, Wait::Never, |a| Ok(a.deferred_connect(fd)))? {
        // The first write of a TCP_FASTOPEN_CONNECT socket opens its connection.
        return send_fast_open(ud, fd, remote, data, flags);
    }
    if data.is_empty() {
        return call(ud, Wait::Never, |a| a.send(fd, data, flags)).map(|n| n as isize);
    }
    let mut done = 0usize;
    let r = call(ud, if dontwait { Wait::Never } else { Wait::IfBlocking(fd) }, |a| {
        loop {
            match a.send(fd, &data[done..], flags) {
                Ok(n) => {
                    done += n;
                    if done == data.len() || a.nonblocking(fd)? || dontwait {
                        return Ok(());
                    }
                }
                Err(libc::EAGAIN) if done > 0 && (a.nonblocking(fd)? || dontwait) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    });
    match r {
        Ok(()) => Ok(done as isize),
        Err(_) if done > 0 => Ok(done as isize),
        Err(e) => Err(e),
    }
}

/// # Safety
///
/// `iov` points to `n` iovecs, each naming writable (or readable) memory.
unsafe fn iovecs<'a>(iov: *const libc::iovec, n: c_int) -> Res<&'a [libc::iovec]> {
    if n < 0 || (n > 0 && iov.is_null()) {
        return Err(libc::EINVAL);
    }
    if n == 0 {
        return Ok(&[]);
    }
    // SAFETY: by the contract.
    Ok(unsafe { std::slice::from_raw_parts(iov, n as usize) })
}

/// # Safety
///
/// As [`iovecs`], each iovec writable.
unsafe fn read_vectored(ud: Ud, fd: c_int, iov: &[libc::iovec], flags: c_int) -> Res<isize> {
    let total: usize = iov.iter().map(|v| v.iov_len).sum();
    let mut tmp = vec![0u8; total];
    let n = receive(ud, fd, &mut tmp, flags)? as usize;
    let mut off = 0;
    for v in iov {
        if off >= n {
            break;
        }
        let k = v.iov_len.min(n - off);
        // SAFETY: each iovec names `iov_len` writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(tmp.as_ptr().add(off), v.iov_base as *mut u8, k) };
        off += k;
    }
    Ok(n as isize)
}

/// # Safety
///
/// As [`iovecs`], each iovec readable.
unsafe fn write_vectored(ud: Ud, fd: c_int, iov: &[libc::iovec], flags: c_int) -> Res<isize> {
    let mut data = Vec::new();
    for v in iov {
        if v.iov_len > 0 {
            // SAFETY: each iovec names `iov_len` readable bytes.
            data.extend_from_slice(unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) });
        }
    }
    transmit(ud, fd, &data, flags)
}

/// # Safety
///
/// `buf` is null, or names `len` writable bytes.
unsafe fn out_slice<'a>(buf: *mut c_void, len: usize) -> Res<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: by the contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, len) })
}

/// # Safety
///
/// `buf` is null, or names `len` readable bytes.
unsafe fn in_slice<'a>(buf: *const c_void, len: usize) -> Res<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: by the contract.
    Ok(unsafe { std::slice::from_raw_parts(buf as *const u8, len) })
}

unsafe extern "C" fn pd_read(ud: Ud, fd: c_int, buf: *mut c_void, len: usize) -> isize {
    // SAFETY: read's buffer and length.
    let out = unsafe { out_slice(buf, len) };
    guarded(|| receive(ud, fd, out?, 0), -1)
}

unsafe extern "C" fn pd_readv(ud: Ud, fd: c_int, iov: *const libc::iovec, n: c_int) -> isize {
    // SAFETY: readv's vector.
    guarded(|| unsafe { read_vectored(ud, fd, iovecs(iov, n)?, 0) }, -1)
}

unsafe extern "C" fn pd_recv(ud: Ud, fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize {
    // SAFETY: recv's buffer and length.
    let out = unsafe { out_slice(buf, len) };
    guarded(|| receive(ud, fd, out?, flags), -1)
}

unsafe extern "C" fn pd_recvfrom(ud: Ud, fd: c_int, buf: *mut c_void, len: usize, flags: c_int, addr: *mut libc::sockaddr, alen: *mut libc::socklen_t) -> isize {
    // SAFETY: recvfrom's buffer and length.
    let out = unsafe { out_slice(buf, len) };
    guarded(
        || {
            let n = receive(ud, fd, out?, flags)?;
            if let Ok(peer) = call(ud, Wait::Never, |a| a.peer_addr_of(fd)) {
                // SAFETY: recvfrom's address out-parameters.
                unsafe { write_addr(peer, addr, alen) };
            }
            Ok(n)
        },
        -1,
    )
}

unsafe extern "C" fn pd_recvmsg(ud: Ud, fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> isize {
    guarded(
        || {
            if msg.is_null() {
                return Err(libc::EINVAL);
            }
            // SAFETY: packetdrill passes a valid msghdr.
            let m = unsafe { &mut *msg };
            // SAFETY: the msghdr's vector.
            let n = unsafe { read_vectored(ud, fd, iovecs(m.msg_iov, m.msg_iovlen as c_int)?, flags) }?;
            m.msg_flags = 0;
            match call(ud, Wait::Never, |a| a.inq_hint(fd))? {
                // SAFETY: packetdrill's control buffer of `msg_controllen` bytes.
                Some(queued) => unsafe { crate::cmsg::put_inq(m, queued) },
                None => m.msg_controllen = 0,
            }
            Ok(n)
        },
        -1,
    )
}

unsafe extern "C" fn pd_write(ud: Ud, fd: c_int, buf: *const c_void, len: usize) -> isize {
    // SAFETY: write's buffer and length.
    let data = unsafe { in_slice(buf, len) };
    guarded(|| transmit(ud, fd, data?, 0), -1)
}

unsafe extern "C" fn pd_writev(ud: Ud, fd: c_int, iov: *const libc::iovec, n: c_int) -> isize {
    // SAFETY: writev's vector.
    guarded(|| unsafe { write_vectored(ud, fd, iovecs(iov, n)?, 0) }, -1)
}

unsafe extern "C" fn pd_send(ud: Ud, fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize {
    // SAFETY: send's buffer and length.
    let data = unsafe { in_slice(buf, len) };
    guarded(|| transmit(ud, fd, data?, flags), -1)
}

unsafe extern "C" fn pd_sendto(ud: Ud, fd: c_int, buf: *const c_void, len: usize, flags: c_int, addr: *const libc::sockaddr, alen: libc::socklen_t) -> isize {
    // SAFETY: sendto's buffer and length; on a connected TCP socket the address is ignored.
    let data = unsafe { in_slice(buf, len) };
    guarded(
        || {
            let data = data?;
            if flags & libc::MSG_FASTOPEN == 0 {
                return transmit(ud, fd, data, flags);
            }
            // SAFETY: packetdrill passes a sockaddr of `alen` bytes.
            let remote = unsafe { fast_open_addr(addr, alen) }?;
            send_fast_open(ud, fd, remote, data, flags & !libc::MSG_FASTOPEN)
        },
        -1,
    )
}

unsafe extern "C" fn pd_sendmsg(ud: Ud, fd: c_int, msg: *const libc::msghdr, flags: c_int) -> isize {
    guarded(
        || {
            if msg.is_null() {
                return Err(libc::EINVAL);
            }
            // SAFETY: packetdrill passes a valid msghdr.
            let m = unsafe { &*msg };
            if m.msg_controllen > 0 {
                // Control messages (SO_TIMESTAMPING, MSG_ZEROCOPY...): not ringtcp's.
                return Err(libc::EOPNOTSUPP);
            }
            if flags & libc::MSG_FASTOPEN != 0 {
                // SAFETY: the msghdr's address and vector.
                let remote = unsafe { fast_open_addr(m.msg_name as *const libc::sockaddr, m.msg_namelen) }?;
                let mut data = Vec::new();
                // SAFETY: the msghdr's vector.
                for v in unsafe { iovecs(m.msg_iov, m.msg_iovlen as c_int)? } {
                    // SAFETY: each iovec names readable memory.
                    data.extend_from_slice(unsafe { in_slice(v.iov_base, v.iov_len)? });
                }
                return send_fast_open(ud, fd, remote, &data, flags & !libc::MSG_FASTOPEN);
            }
            // SAFETY: the msghdr's vector.
            unsafe { write_vectored(ud, fd, iovecs(m.msg_iov, m.msg_iovlen as c_int)?, flags) }
        },
        -1,
    )
}

unsafe extern "C" fn pd_fcntl(ud: Ud, fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    guarded(
        || {
            call(ud, Wait::Never, |a| match cmd {
                libc::F_GETFL => Ok(libc::O_RDWR | if a.nonblocking(fd)? { libc::O_NONBLOCK } else { 0 }),
                libc::F_SETFL => a.set_nonblocking(fd, arg as c_int & libc::O_NONBLOCK != 0).map(|()| 0),
                libc::F_GETFD | libc::F_SETFD => a.nonblocking(fd).map(|_| 0),
                _ => Err(libc::EINVAL),
            })
        },
        -1,
    )
}

unsafe extern "C" fn pd_ioctl(ud: Ud, fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    guarded(
        || {
            let v = call(ud, Wait::Never, |a| match request {
                libc::FIONREAD => a.inq(fd),
                // SIOCOUTQ (TIOCOUTQ's number on sockets).
                libc::TIOCOUTQ => a.outq(fd),
                _ => Err(libc::EOPNOTSUPP),
            })?;
            if arg.is_null() {
                return Err(libc::EFAULT);
            }
            // SAFETY: these requests take an int out-parameter.
            unsafe { *(arg as *mut c_int) = v as c_int };
            Ok(0)
        },
        -1,
    )
}

unsafe extern "C" fn pd_close(ud: Ud, fd: c_int) -> c_int {
    guarded(|| call(ud, Wait::Never, |a| a.close(fd)).map(|()| 0), -1)
}

unsafe extern "C" fn pd_shutdown(ud: Ud, fd: c_int, how: c_int) -> c_int {
    guarded(|| call(ud, Wait::Never, |a| a.shutdown(fd, how)).map(|()| 0), -1)
}

unsafe extern "C" fn pd_getsockopt(ud: Ud, fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut libc::socklen_t) -> c_int {
    // SAFETY: the interface's userdata and getsockopt's out-parameters.
    guarded(|| unsafe { getsockopt::answer(ud, fd, level, name, val, len) }.map(|()| 0), -1)
}

unsafe extern "C" fn pd_setsockopt(ud: Ud, fd: c_int, level: c_int, name: c_int, val: *const c_void, len: libc::socklen_t) -> c_int {
    guarded(
        || {
            if val.is_null() {
                return Err(libc::EFAULT);
            }
            if level == libc::SOL_SOCKET && name == libc::SO_LINGER {
                if (len as usize) < size_of::<libc::linger>() {
                    return Err(libc::EINVAL);
                }
                // SAFETY: length checked.
                let l = unsafe { std::ptr::read_unaligned(val as *const libc::linger) };
                return call(ud, Wait::Never, |a| a.set_linger(fd, l.l_onoff != 0, l.l_linger.max(0) as u32)).map(|()| 0);
            }
            if level == libc::IPPROTO_TCP && name == libc::TCP_FASTOPEN_KEY {
                // 16 bytes, or 32 with a backup key (not kept: ringtcp has one key).
                if len != 16 && len != 32 {
                    return Err(libc::EINVAL);
                }
                // SAFETY: at least 16 bytes, checked.
                let key = unsafe { std::ptr::read_unaligned(val as *const [u8; 16]) };
                return call(ud, Wait::Never, |a| a.set_fast_open_key(fd, key).map(|()| 0));
            }
            let v = if (len as usize) >= size_of::<c_int>() {
                // SAFETY: length checked.
                unsafe { std::ptr::read_unaligned(val as *const c_int) }
            } else if level == libc::IPPROTO_IP && len >= 1 {
                // Linux's IP-level options also take a single byte (do_ip_setsockopt).
                // SAFETY: one byte, checked.
                c_int::from(unsafe { *(val as *const u8) })
            } else {
                return Err(libc::EINVAL);
            };
            call(ud, Wait::Never, |a| a.set_option(fd, level, name, v)).map(|()| 0)
        },
        -1,
    )
}

unsafe extern "C" fn pd_poll(ud: Ud, fds: *mut libc::pollfd, n: libc::nfds_t, timeout_ms: c_int) -> c_int {
    guarded(
        || {
            if n > 0 && fds.is_null() {
                return Err(libc::EFAULT);
            }
            let list = if n == 0 {
                &mut [][..]
            } else {
                // SAFETY: poll's array of `n` entries.
                unsafe { std::slice::from_raw_parts_mut(fds, n as usize) }
            };
            let mut deadline = None;
            call(ud, if timeout_ms == 0 { Wait::Never } else { Wait::Always }, |a| {
                let limit = *deadline.get_or_insert_with(|| (timeout_ms >= 0).then(|| a.now_usecs() + i64::from(timeout_ms) * 1000));
                let mut ready = 0;
                for p in list.iter_mut() {
                    let all = a.poll_events(p.fd);
                    let always = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
                    p.revents = all & (p.events | always);
                    if p.revents != 0 {
                        ready += 1;
                    }
                }
                if ready > 0 || limit.is_some_and(|d| a.now_usecs() >= d) || timeout_ms == 0 {
                    Ok(ready)
                } else {
                    Err(libc::EAGAIN)
                }
            })
        },
        -1,
    )
}

unsafe extern "C" fn pd_netdev_send(ud: Ud, buf: *const c_void, len: usize) -> c_int {
    // SAFETY: the packet packetdrill hands over.
    let packet = unsafe { in_slice(buf, len) };
    guarded(|| call(ud, Wait::Never, |a| {
        a.inject(packet?);
        shell_controls::publish_counters(&a.kernel_counters());
        Ok(0)
    }), -1)
}

unsafe extern "C" fn pd_netdev_receive(ud: Ud, buf: *mut c_void, count: *mut usize, time_usecs: *mut i64) -> c_int {
    guarded(
        || {
            if count.is_null() || time_usecs.is_null() {
                return Err(libc::EFAULT);
            }
            let got = call(ud, Wait::Settle, |a| Ok(a.next_packet(PACKET_WAIT_LIMIT)))?;
            // SAFETY: packetdrill's buffer of `*count` bytes and its out-parameters.
            unsafe {
                match got {
                    Some((p, t)) => {
                        let n = p.len().min(*count);
                        std::ptr::copy_nonoverlapping(p.as_ptr(), buf as *mut u8, n);
                        *count = n;
                        *time_usecs = t;
                    }
                    None => {
                        // An empty packet fails packetdrill's parse: the script stops at
                        // the line that waits, instead of waiting for ever.
                        eprintln!(
                            "ringtcp-conformance: packetdrill waits for a packet, and ringtcp has nothing to send (no timer due within {} s of virtual time)",
                            PACKET_WAIT_LIMIT.as_secs()
                        );
                        *count = 0;
                    }
                }
            }
            Ok(0)
        },
        -1,
    )
}

unsafe extern "C" fn pd_usleep(ud: Ud, usecs: libc::useconds_t) -> c_int {
    guarded(|| call(ud, Wait::Sleep, |a| {
        a.advance(Duration::from_micros(u64::from(usecs)));
        Ok(0)
    }), -1)
}

unsafe extern "C" fn pd_gettimeofday(ud: Ud, tv: *mut libc::timeval, _tz: *mut c_void) -> c_int {
    guarded(
        || {
            // Each reading moves virtual time on by a microsecond: packetdrill spins on
            // the clock for the last microseconds before an event, and a clock that never
            // moves would spin for ever.
            let now = call(ud, Wait::Settle, |a| {
                let t = a.now_usecs();
                a.advance(Duration::from_micros(1));
                Ok(t)
            })?;
            if !tv.is_null() {
                // SAFETY: gettimeofday's out-parameter.
                unsafe {
                    (*tv).tv_sec = (now / 1_000_000) as libc::time_t;
                    (*tv).tv_usec = (now % 1_000_000) as libc::suseconds_t;
                }
            }
            Ok(0)
        },
        -1,
    )
}

unsafe extern "C" fn pd_epoll_create(_ud: Ud, _size: c_int) -> c_int {
    set_errno(libc::ENOSYS);
    -1
}

unsafe extern "C" fn pd_epoll_ctl(_ud: Ud, _epfd: c_int, _op: c_int, _fd: c_int, _ev: *mut libc::epoll_event) -> c_int {
    set_errno(libc::ENOSYS);
    -1
}

unsafe extern "C" fn pd_epoll_wait(_ud: Ud, _epfd: c_int, _ev: *mut libc::epoll_event, _max: c_int, _timeout: c_int) -> c_int {
    set_errno(libc::ENOSYS);
    -1
}

unsafe extern "C" fn pd_pipe(_ud: Ud, _fds: *mut c_int) -> c_int {
    set_errno(libc::ENOSYS);
    -1
}

unsafe extern "C" fn pd_splice(_ud: Ud, _fd_in: c_int, _off_in: *mut libc::loff_t, _fd_out: c_int, _off_out: *mut libc::loff_t, _len: usize, _flags: std::ffi::c_uint) -> isize {
    set_errno(libc::ENOSYS);
    -1
}

/// An fd number that is also a real descriptor (an open `/dev/null`), so packetdrill's own
/// `close()` of it at the end of a script succeeds and harms nothing.
fn real_fd() -> Option<i32> {
    // SAFETY: a plain open of a constant path.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    (fd >= 0).then_some(fd)
}

fn release_real_fd(fd: i32) {
    // SAFETY: closing a descriptor `real_fd` opened for this socket.
    unsafe { libc::close(fd) };
}

/// The value of `name=` in `--so_flags` (comma- or space-separated), if it parses.
fn flag<T: std::str::FromStr>(flags: Option<&str>, name: &str) -> Option<T> {
    flags.into_iter().flat_map(|f| f.split([',', ' '])).find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

/// The stack's address from `--so_flags` (`local_ip=A.B.C.D` or an IPv6 address), or
/// packetdrill's default local address, 192.168.0.1.
fn local_ip_from_flags(flags: Option<&str>) -> IpAddr {
    flag(flags, "local_ip").unwrap_or(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)))
}

/// What packetdrill calls after `dlopen`: fills in the interface.
///
/// # Safety
///
/// `flags` is null or a C string; `ifc` points to a writable `struct packetdrill_interface`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn packetdrill_interface_init(flags: *const c_char, ifc: *mut PacketdrillInterface) {
    let flags = if flags.is_null() {
        None
    } else {
        // SAFETY: a C string, by the contract.
        unsafe { CStr::from_ptr(flags) }.to_str().ok()
    };
    // `mtu=` mirrors packetdrill's `--mtu` (the device the script's packets cross).
    let mut cfg = linux_like_config();
    cfg.mtu = flag(flags, "mtu").unwrap_or(cfg.mtu);
    let mut adapter = Adapter::new(local_ip_from_flags(flags), cfg, FdNumbers { take: real_fd, give_back: release_real_fd });
    shell_controls::init(flag(flags, "ctl_dir"));
    if flag(flags, "mask_psh") == Some(1u8) {
        adapter.mask_psh();
    }
    let shared = Box::new(Shared { inner: Mutex::new(Inner { adapter, waiting: 0, stale: 0, returned: Vec::new(), grace_until: None }), changed: Condvar::new() });
    let ud = Box::into_raw(shared) as Ud;
    getsockopt::set_current(ud);
    let filled = PacketdrillInterface {
        userdata: ud,
        free: Some(pd_free),
        socket: Some(pd_socket),
        bind: Some(pd_bind),
        listen: Some(pd_listen),
        accept: Some(pd_accept),
        connect: Some(pd_connect),
        read: Some(pd_read),
        readv: Some(pd_readv),
        recv: Some(pd_recv),
        recvfrom: Some(pd_recvfrom),
        recvmsg: Some(pd_recvmsg),
        write: Some(pd_write),
        writev: Some(pd_writev),
        send: Some(pd_send),
        sendto: Some(pd_sendto),
        sendmsg: Some(pd_sendmsg),
        fcntl: Some(pd_fcntl),
        ioctl: Some(pd_ioctl),
        close: Some(pd_close),
        shutdown: Some(pd_shutdown),
        getsockopt: Some(pd_getsockopt),
        setsockopt: Some(pd_setsockopt),
        poll: Some(pd_poll),
        netdev_send: Some(pd_netdev_send),
        netdev_receive: Some(pd_netdev_receive),
        usleep: Some(pd_usleep),
        gettimeofday: Some(pd_gettimeofday),
        epoll_create: Some(pd_epoll_create),
        epoll_ctl: Some(pd_epoll_ctl),
        epoll_wait: Some(pd_epoll_wait),
        pipe: Some(pd_pipe),
        splice: Some(pd_splice),
    };
    if !ifc.is_null() {
        // SAFETY: writable, by the contract.
        unsafe { std::ptr::write(ifc, filled) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_address_comes_from_the_flags() {
        assert_eq!(local_ip_from_flags(Some("local_ip=10.1.2.3")), IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(local_ip_from_flags(Some("local_ip=fd3d:fa7b:d17d::1")), "fd3d:fa7b:d17d::1".parse::<IpAddr>().unwrap());
        assert_eq!(local_ip_from_flags(None), IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(local_ip_from_flags(Some("garbage")), IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)));
    }

    #[test]
    fn sysctls_configure_the_shard_and_unreadable_ones_keep_the_defaults() {
        let cfg = config_from_sysctls(|name| match name {
            "tcp_timestamps" => Some("0\n".into()),
            "tcp_rmem" => Some("4096\t540000\t15728640\n".into()),
            "tcp_congestion_control" => Some("reno\n".into()),
            _ => None,
        });
        assert!(!cfg.timestamps);
        assert!(cfg.sack, "unreadable: the default");
        assert_eq!(cfg.rx_buffer, 15_728_640);
        assert_eq!(cfg.congestion, ringtcp_transport::CongestionAlgorithm::NewReno);
    }

    #[test]
    fn fast_open_sysctls_read_as_linux_reads_them() {
        // defaults.sh's 0x70403: server on, every listener, cookies required.
        let cfg = config_from_sysctls(|name| (name == "tcp_fastopen").then(|| format!("{}\n", 0x70403)));
        assert_eq!(cfg.fast_open, ringtcp_transport::FastOpenServer { enabled: true, every_listener: true, cookie_not_required: false });
        let off = config_from_sysctls(|name| (name == "tcp_fastopen").then(|| "1\n".into()));
        assert!(!off.fast_open.enabled, "client only");
        // The sysctl's words give the same key bytes as sockopt-fastopen-key.pkt's
        // TCP_FASTOPEN_KEY for the same key.
        let key = fast_open_key_from_sysctl("a0bf63f7-ed803d81-cd641d30-cebc4a90\n").unwrap();
        assert_eq!(key, *b"\xf7\x63\xbf\xa0\x81\x3d\x80\xed\x30\x1d\x64\xcd\x90\x4a\xbc\xce");
        assert_eq!(fast_open_key_from_sysctl("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4,00000000-00000000-00000000-00000000").map(|k| k[0]), Some(0xa1), "the primary of two");
        assert_eq!(fast_open_key_from_sysctl("zz-1-2-3"), None);
        assert_eq!(fast_open_key_from_sysctl("1-2-3"), None);
    }

    #[test]
    fn the_interface_has_packetdrills_layout() {
        // 33 pointers: userdata and 32 functions, in packetdrill.h's order.
        assert_eq!(size_of::<PacketdrillInterface>(), 33 * size_of::<usize>());
    }
}
