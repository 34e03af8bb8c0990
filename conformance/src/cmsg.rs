//! Control messages a `recvmsg` hands back: `TCP_CM_INQ`, the bytes still queued after
//! the read, for a socket with `TCP_INQ` on.

/// `TCP_INQ` (linux/tcp.h); its control message has the same number, `TCP_CM_INQ`.
pub const TCP_INQ: i32 = 36;

/// Writes one `SOL_TCP` / `TCP_CM_INQ` message carrying `value` into `m`'s control
/// buffer and sets `msg_controllen`; with no room (or no buffer) sets `MSG_CTRUNC` and a
/// length of zero, as the kernel does.
///
/// # Safety
///
/// `m.msg_control` is null or points to `m.msg_controllen` writable bytes.
pub unsafe fn put_inq(m: &mut libc::msghdr, value: i32) {
    let data = std::mem::size_of::<i32>() as u32;
    // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes.
    let (space, len) = unsafe { (libc::CMSG_SPACE(data) as usize, libc::CMSG_LEN(data) as usize) };
    if m.msg_control.is_null() || m.msg_controllen < space {
        m.msg_controllen = 0;
        m.msg_flags |= libc::MSG_CTRUNC;
        return;
    }
    // SAFETY: the buffer holds at least CMSG_SPACE(4) bytes, so the first header and its
    // data fit; CMSG_FIRSTHDR and CMSG_DATA point inside it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(m);
        (*c).cmsg_level = libc::SOL_TCP;
        (*c).cmsg_type = TCP_INQ;
        (*c).cmsg_len = len;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut i32, value);
    }
    m.msg_controllen = space;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msghdr(control: &mut [u64]) -> libc::msghdr {
        // SAFETY: msghdr is plain old data; all-zero is valid.
        let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
        m.msg_control = control.as_mut_ptr().cast();
        m.msg_controllen = std::mem::size_of_val(control);
        m
    }

    #[test]
    fn the_message_reads_back_as_the_kernel_lays_it_out() {
        let mut control = [0u64; 8];
        let mut m = msghdr(&mut control);
        // SAFETY: `m` names `control`.
        unsafe { put_inq(&mut m, 8000) };
        // SAFETY: as above; the header was just written.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&m);
            assert!(!c.is_null());
            assert_eq!(((*c).cmsg_level, (*c).cmsg_type), (libc::SOL_TCP, TCP_INQ));
            assert_eq!(std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32), 8000);
            assert!(libc::CMSG_NXTHDR(&m, c).is_null(), "one message only");
        }
        assert_eq!(m.msg_flags & libc::MSG_CTRUNC, 0);
    }

    #[test]
    fn no_room_truncates() {
        let mut control = [0u64; 1];
        let mut m = msghdr(&mut control);
        // SAFETY: `m` names `control`.
        unsafe { put_inq(&mut m, 1) };
        assert_eq!(m.msg_controllen, 0);
        assert_ne!(m.msg_flags & libc::MSG_CTRUNC, 0);
    }
}
