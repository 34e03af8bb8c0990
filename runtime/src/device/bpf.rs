//! The `bpf()` system call as the device code uses it: eBPF instructions, and loading a
//! program (with the verifier's last words in the error when it refuses). Shared by the
//! TUN steering program and ringtcp's XDP program.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;

/// One eBPF instruction.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Insn {
    pub(crate) code: u8,
    pub(crate) regs: u8,
    pub(crate) off: i16,
    pub(crate) imm: i32,
}

impl Insn {
    /// `code` on `dst` and `src` (or an immediate), with offset `off`.
    pub(crate) const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn { code, regs: (src << 4) | dst, off, imm }
    }
}

/// Runs `bpf(cmd, attr)`; the descriptor or the number it returns.
pub(crate) fn bpf<T>(cmd: libc::c_long, attr: &T) -> io::Result<libc::c_int> {
    // SAFETY: `attr` is a valid, fully initialised attribute block of the size given.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *const T, size_of::<T>()) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r as libc::c_int) }
}

/// A descriptor the bpf call just returned.
pub(crate) fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: a descriptor the bpf syscall just returned to us, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    rest: [u8; 64],
}

/// Loads `insns` as a program of `prog_type` (GPL, for the helpers it may call).
///
/// # Errors
///
/// The kernel's refusal; for the verifier's, its last lines are in the message.
pub(crate) fn load_program(prog_type: u32, expected_attach_type: u32, name: &str, insns: &[Insn]) -> io::Result<OwnedFd> {
    let license = c"GPL";
    let mut log = vec![0u8; 1 << 16];
    let mut prog_name = [0u8; 16];
    for (d, s) in prog_name.iter_mut().take(15).zip(name.bytes()) {
        *d = s;
    }
    let attr = ProgLoadAttr {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
        prog_name,
        prog_ifindex: 0,
        expected_attach_type,
        rest: [0; 64],
    };
    match bpf(BPF_PROG_LOAD, &attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(6)..].join("; ");
            let verifier = if tail.is_empty() { String::new() } else { format!(" (verifier: {tail})") };
            Err(io::Error::new(e.kind(), format!("loading the {name} eBPF program failed: {e}{verifier}")))
        }
    }
}
