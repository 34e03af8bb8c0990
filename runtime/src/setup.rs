//! Set-up failures turned into one sentence that names the cause and the fix.

use std::io;

/// io_uring could not be set up.
pub(crate) fn io_uring_error(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            "io_uring is refused on this system (kernel.io_uring_disabled is set or a seccomp filter blocks io_uring_setup): \
             run `sysctl kernel.io_uring_disabled=0` or allow io_uring in the container's seccomp profile",
        ),
        Some(libc::ENOSYS) => io::Error::new(
            io::ErrorKind::Unsupported,
            "this kernel has no io_uring (Linux 5.1 or newer is needed, 6.7 or newer for multishot reads): upgrade the kernel",
        ),
        Some(libc::ENOMEM) => io::Error::new(
            io::ErrorKind::OutOfMemory,
            "io_uring could not lock its rings in memory: raise the locked-memory limit (`ulimit -l`)",
        ),
        _ => io::Error::new(e.kind(), format!("io_uring set-up failed: {e}")),
    }
}

/// A TUN device could not be opened or configured.
pub(crate) fn tun_error(e: io::Error, what: &str) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{what} needs CAP_NET_ADMIN: run as root, or grant it with `setcap cap_net_admin+ep <your binary>`"
            ),
        ),
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => io::Error::new(
            io::ErrorKind::NotFound,
            format!("{what} failed: /dev/net/tun is missing; load the tun module (`modprobe tun`) or pass the device into the container (`--device /dev/net/tun`)"),
        ),
        _ => io::Error::new(e.kind(), format!("{what} failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setup_failure_names_cause_and_fix() {
        let e = io_uring_error(io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("kernel.io_uring_disabled") && e.to_string().contains("seccomp"));
        let e = tun_error(io::Error::from_raw_os_error(libc::EPERM), "creating TUN device ringtcp0");
        assert!(e.to_string().contains("CAP_NET_ADMIN") && e.to_string().contains("setcap"));
        let e = tun_error(io::Error::from_raw_os_error(libc::ENOENT), "opening /dev/net/tun");
        assert!(e.to_string().contains("modprobe tun"));
    }
}
