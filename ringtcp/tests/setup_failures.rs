//! Set-up failures give one sentence naming the cause and the fix. Caused for real in a
//! child process: without CAP_NET_ADMIN (the child drops to an unprivileged user), and with
//! no /dev/net/tun (the child hides it under an empty tmpfs in a mount namespace of its
//! own). io_uring refusal cannot be caused without changing the whole system
//! (`kernel.io_uring_disabled` would break every other test running), so its message is
//! checked by the runtime's unit tests.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::privileged;

const CHILD: &str = "RINGTCP_SETUP_FAILURE_CHILD";

/// In the child: try to build a TUN stack and print the error.
fn child_main() -> bool {
    let Ok(mode) = std::env::var(CHILD) else { return false };
    let r = ringtcp::Stack::builder().shards(1).tun("rtfail0", "10.79.0.1".parse().unwrap(), "10.79.0.2".parse().unwrap(), 24).build();
    match r {
        Ok(_) => println!("{mode}: unexpectedly built a stack"),
        Err(e) => println!("{mode}: {:?}: {e}", e.kind()),
    }
    true
}

fn run_child(mode: &str, prepare: impl Fn() -> std::io::Result<()> + Send + Sync + 'static) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"]).env(CHILD, mode);
    // SAFETY: `prepare` only makes async-signal-safe system calls (setgid/setuid, unshare,
    // mount) between fork and exec.
    unsafe { cmd.pre_exec(prepare) };
    let out = cmd.output().expect("run child");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn child_entry() {
    // Does nothing in the parent; in a child started by the tests below it is the body.
    child_main();
}

#[test]
fn without_cap_net_admin_the_message_names_the_capability() {
    if !privileged("without_cap_net_admin_the_message_names_the_capability") {
        return;
    }
    let out = run_child("noperm", || {
        // SAFETY: plain system calls on our own process.
        unsafe {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    });
    assert!(out.contains("noperm: PermissionDenied"), "child said: {out}");
    assert!(out.contains("CAP_NET_ADMIN") && out.contains("setcap"), "child said: {out}");
}

#[test]
fn without_dev_net_tun_the_message_says_how_to_get_it() {
    if !privileged("without_dev_net_tun_the_message_says_how_to_get_it") {
        return;
    }
    let out = run_child("notun", || {
        // SAFETY: plain system calls on our own process; the mount is private to the new
        // mount namespace and disappears with the child.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let none = c"none";
            let root = c"/";
            if libc::mount(none.as_ptr(), root.as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let tmpfs = c"tmpfs";
            let target = c"/dev/net";
            if libc::mount(tmpfs.as_ptr(), target.as_ptr(), tmpfs.as_ptr(), 0, std::ptr::null()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    });
    assert!(out.contains("notun: NotFound"), "child said: {out}");
    assert!(out.contains("/dev/net/tun is missing") && out.contains("modprobe tun"), "child said: {out}");
}
