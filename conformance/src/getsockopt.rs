//! `getsockopt` answers: integers, `SO_LINGER`, and the structures Linux fills for
//! `TCP_INFO`, `TCP_CC_INFO` and `SO_MEMINFO`, laid out as Linux lays them out.
//!
//! The corpus reads most of these through the interface, except in its `%{ ... }%` code
//! events: packetdrill fetches `TCP_INFO`, `TCP_CC_INFO` and `SO_MEMINFO` for those with
//! the process's own `getsockopt()` on the live fd (`code.c`), which never reaches an
//! interface function. So this library also exports a `getsockopt` symbol; the runner
//! preloads the library (`LD_PRELOAD`), and the symbol answers for the adapter's fds and
//! hands every other call to the kernel.

use std::ffi::{c_int, c_void};
use std::mem::size_of;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use ringtcp_transport::{CongestionState, State, TcpInfo};

use crate::adapter::Res;
use crate::waiting::{Ud, Wait, call};

/// Linux's `SO_MEMINFO` (`asm-generic/socket.h`; the libc crate does not name it).
const SO_MEMINFO: c_int = 55;
/// Entries of `SO_MEMINFO`'s array (`SK_MEMINFO_VARS`).
const SK_MEMINFO_VARS: usize = 9;

/// The interface's userdata while a script runs, for the exported `getsockopt`.
static CURRENT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// Remembers (or, with null, forgets) the adapter the exported `getsockopt` answers for.
pub(crate) fn set_current(ud: Ud) {
    CURRENT.store(ud, Ordering::SeqCst);
}

/// Linux's `struct tcp_info` (`include/uapi/linux/tcp.h`, as packetdrill's `tcp.h` copies
/// it: 280 bytes). The two bit-field bytes and the trailing bit-field word are kept whole.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct LinuxTcpInfo {
    state: u8,
    ca_state: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    options: u8,
    /// `tcpi_snd_wscale:4, tcpi_rcv_wscale:4`: the send shift in the low nibble.
    wscales: u8,
    /// `tcpi_delivery_rate_app_limited:1, tcpi_fastopen_client_fail:2`.
    flags: u8,
    rto: u32,
    ato: u32,
    snd_mss: u32,
    rcv_mss: u32,
    unacked: u32,
    sacked: u32,
    lost: u32,
    retrans: u32,
    fackets: u32,
    last_data_sent: u32,
    last_ack_sent: u32,
    last_data_recv: u32,
    last_ack_recv: u32,
    pmtu: u32,
    rcv_ssthresh: u32,
    rtt: u32,
    rttvar: u32,
    snd_ssthresh: u32,
    snd_cwnd: u32,
    advmss: u32,
    reordering: u32,
    rcv_rtt: u32,
    rcv_space: u32,
    total_retrans: u32,
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
    data_segs_in: u32,
    data_segs_out: u32,
    delivery_rate: u64,
    busy_time: u64,
    rwnd_limited: u64,
    sndbuf_limited: u64,
    delivered: u32,
    delivered_ce: u32,
    bytes_sent: u64,
    bytes_retrans: u64,
    dsack_dups: u32,
    reord_seen: u32,
    rcv_ooopack: u32,
    snd_wnd: u32,
    rcv_wnd: u32,
    rehash: u32,
    total_rto: u16,
    total_rto_recoveries: u16,
    total_rto_time: u32,
    received_ce: u32,
    accecn_bytes: [u32; 6],
    ecn_flags: u32,
}

/// Linux's `TCP_INFINITE_SSTHRESH`, what it reports before the first congestion event.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

/// Linux's `tcpi_state` numbers (`include/net/tcp_states.h`).
fn linux_state(s: State) -> u8 {
    match s {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Segments in `bytes`, counted as Linux counts its packets: a partly filled one is one.
fn segments(bytes: u32, mss: u16) -> u32 {
    bytes.div_ceil(u32::from(mss.max(1)))
}

/// `struct tcp_info` for a socket in `state`, filled from `info` where the connection has
/// a control block. What ringtcp does not keep (pacing, delivery rate, ECN) stays 0, as
/// Linux leaves the fields of a feature it runs without.
fn linux_tcp_info(state: State, info: Option<&TcpInfo>) -> LinuxTcpInfo {
    let mut t = LinuxTcpInfo { state: linux_state(state), ..LinuxTcpInfo::default() };
    let Some(i) = info else { return t };
    let mss = i.send_mss;
    t.ca_state = match i.congestion_state {
        CongestionState::Open => 0,
        CongestionState::Disorder => 1,
        CongestionState::Recovery => 3,
        CongestionState::Loss => 4,
    };
    t.retransmits = u8::try_from(i.timeouts).unwrap_or(u8::MAX);
    t.backoff = u8::try_from(i.backoff).unwrap_or(u8::MAX);
    // TCPI_OPT_TIMESTAMPS 1, TCPI_OPT_SACK 2, TCPI_OPT_WSCALE 4, TCPI_OPT_SYN_DATA 32.
    t.options = u8::from(i.timestamps) | u8::from(i.sack) << 1 | u8::from(i.window_scale.is_some()) << 2 | u8::from(i.syn_data) << 5;
    if let Some((snd, rcv)) = i.window_scale {
        t.wscales = (snd & 0x0f) | (rcv & 0x0f) << 4;
    }
    t.rto = micros(i.rto);
    t.snd_mss = u32::from(mss);
    // Linux's rcv_mss is its estimate of the peer's segment size: the advertised MSS
    // bounds it, and before data it starts from the smaller of the two MSS values.
    t.rcv_mss = u32::from(if i.receive_mss > 0 { i.receive_mss } else { mss.min(i.advertised_mss) });
    t.unacked = segments(i.in_flight, mss);
    t.sacked = segments(i.sacked, mss);
    t.lost = i.lost;
    t.reordering = i.reordering;
    t.reord_seen = i.reord_seen;
    t.last_data_sent = millis(i.since_data_sent);
    t.last_data_recv = millis(i.since_data_received);
    t.last_ack_recv = millis(i.since_ack_received);
    t.rtt = i.srtt.map_or(0, micros);
    t.rttvar = micros(i.rttvar);
    t.snd_ssthresh = if i.ssthresh >= INFINITE_SSTHRESH { INFINITE_SSTHRESH } else { i.ssthresh / u32::from(mss.max(1)) };
    t.snd_cwnd = i.cwnd / u32::from(mss.max(1));
    t.advmss = u32::from(i.advertised_mss);
    t.total_retrans = i.retransmitted_segments;
    t.retrans = segments(i.retransmitted_in_flight, mss);
    t.busy_time = i.busy_time.as_micros() as u64;
    t.rwnd_limited = i.receive_window_limited.as_micros() as u64;
    t.sndbuf_limited = i.send_buffer_limited.as_micros() as u64;
    t.delivered = i.delivered;
    t.bytes_acked = i.bytes_acked;
    t.bytes_received = i.bytes_received;
    t.notsent_bytes = i.unsent;
    t.min_rtt = i.min_rtt.map_or(u32::MAX, micros);
    t.snd_wnd = i.send_window;
    t.rcv_wnd = i.receive_window;
    t
}

/// Copies `value` into the caller's buffer of `*len` bytes, truncated as Linux truncates,
/// and sets `*len` to what was written.
///
/// # Safety
///
/// `val` and `len` are getsockopt's out-parameters: `len` valid, `val` writable for `*len`.
unsafe fn put<T: Copy>(val: *mut c_void, len: *mut libc::socklen_t, value: &T) {
    // SAFETY: by the caller's contract.
    let room = unsafe { *len } as usize;
    let n = room.min(size_of::<T>());
    // SAFETY: `n` bytes of `value` are readable and of `val` writable.
    unsafe {
        std::ptr::copy_nonoverlapping(value as *const T as *const u8, val as *mut u8, n);
        *len = n as libc::socklen_t;
    }
}

/// Answers `getsockopt(fd, level, name)` for one of the adapter's sockets.
///
/// # Safety
///
/// `ud` is the live interface userdata; `val`/`len` are getsockopt's out-parameters.
pub(crate) unsafe fn answer(ud: Ud, fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut libc::socklen_t) -> Res<()> {
    if val.is_null() || len.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: getsockopt's out-parameter.
    if (unsafe { *len } as c_int) < 0 {
        return Err(libc::EINVAL);
    }
    match (level, name) {
        (libc::IPPROTO_TCP, libc::TCP_INFO) => {
            let (state, info) = call(ud, Wait::Never, |a| a.tcp_info(fd))?;
            // SAFETY: by this function's contract.
            unsafe { put(val, len, &linux_tcp_info(state, info.as_ref())) };
        }
        (libc::IPPROTO_TCP, libc::TCP_CC_INFO) => {
            call(ud, Wait::Never, |a| a.tcp_info(fd))?;
            // Linux answers CUBIC's and Reno's TCP_CC_INFO with nothing (only BBR, DCTCP and
            // Vegas have a structure to fill).
            // SAFETY: by this function's contract.
            unsafe { *len = 0 };
        }
        (libc::SOL_SOCKET, SO_MEMINFO) => {
            let mut m = [0u32; SK_MEMINFO_VARS];
            call(ud, Wait::Never, |a| {
                m[libc::SK_MEMINFO_RCVBUF as usize] = a.option(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)? as u32;
                m[libc::SK_MEMINFO_SNDBUF as usize] = a.option(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)? as u32;
                m[libc::SK_MEMINFO_RMEM_ALLOC as usize] = a.inq(fd).unwrap_or(0) as u32;
                m[libc::SK_MEMINFO_WMEM_QUEUED as usize] = a.outq(fd).unwrap_or(0) as u32;
                Ok(())
            })?;
            // SAFETY: by this function's contract.
            unsafe { put(val, len, &m) };
        }
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            let l = call(ud, Wait::Never, |a| a.linger(fd))?;
            // SAFETY: getsockopt's out-parameter.
            if (unsafe { *len } as usize) < size_of::<libc::linger>() {
                return Err(libc::EINVAL);
            }
            let v = libc::linger { l_onoff: i32::from(l.is_some()), l_linger: l.unwrap_or(0) as i32 };
            // SAFETY: by this function's contract.
            unsafe { put(val, len, &v) };
        }
        _ => {
            let v = call(ud, Wait::Never, |a| a.option(fd, level, name))?;
            // SAFETY: getsockopt's out-parameter.
            if (unsafe { *len } as usize) < size_of::<c_int>() {
                return Err(libc::EINVAL);
            }
            // SAFETY: by this function's contract.
            unsafe { put(val, len, &v) };
        }
    }
    Ok(())
}

/// The process's `getsockopt`, when the runner preloads this library: the adapter's fds
/// are answered here (packetdrill's code events read `TCP_INFO` this way), every other fd
/// goes to the kernel unchanged.
///
/// # Safety
///
/// As `getsockopt(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut libc::socklen_t) -> c_int {
    let ud = CURRENT.load(Ordering::SeqCst);
    if !ud.is_null() && call(ud, Wait::Never, |a| Ok(a.owns(fd))) == Ok(true) {
        // SAFETY: `ud` is live until `free` clears it; the rest is the caller's contract.
        return crate::ffi::guarded(|| unsafe { answer(ud, fd, level, name, val, len) }.map(|()| 0), -1);
    }
    // SAFETY: the caller's arguments, passed on to the system call unchanged.
    unsafe { libc::syscall(libc::SYS_getsockopt, fd, level, name, val, len) as c_int }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structure_has_linuxs_layout() {
        // Offsets from packetdrill's tcp.h (offsetof on x86-64): size 280, rto at 8,
        // last_data_sent at 44, pacing_rate at 104, min_rtt at 148, snd_wnd at 228.
        assert_eq!(size_of::<LinuxTcpInfo>(), 280);
        assert_eq!(std::mem::offset_of!(LinuxTcpInfo, rto), 8);
        assert_eq!(std::mem::offset_of!(LinuxTcpInfo, last_data_sent), 44);
        assert_eq!(std::mem::offset_of!(LinuxTcpInfo, total_retrans), 100);
        assert_eq!(std::mem::offset_of!(LinuxTcpInfo, pacing_rate), 104);
        assert_eq!(std::mem::offset_of!(LinuxTcpInfo, min_rtt), 148);
        assert_eq!(std::mem::offset_of!(LinuxTcpInfo, busy_time), 168);
        assert_eq!(std::mem::offset_of!(LinuxTcpInfo, snd_wnd), 228);
        assert_eq!(std::mem::offset_of!(LinuxTcpInfo, total_rto), 240);
        assert_eq!(std::mem::offset_of!(LinuxTcpInfo, received_ce), 248);
    }

    #[test]
    fn a_socket_without_a_connection_reports_only_its_state() {
        let t = linux_tcp_info(State::Listen, None);
        assert_eq!(t.state, 10);
        assert_eq!((t.snd_cwnd, t.rto), (0, 0));
    }

    #[test]
    fn segments_round_up_as_linux_counts_packets() {
        assert_eq!(segments(0, 1000), 0);
        assert_eq!(segments(1000, 1000), 1);
        assert_eq!(segments(1001, 1000), 2);
    }
}
