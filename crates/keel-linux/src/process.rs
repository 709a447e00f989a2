//! Process-wide start-up steps of the daemon: detaching from the terminal as
//! keepalived does without `-n`, entering a named network namespace (`-s`,
//! `net_namespace`), and the file creation mask (`-u`, `umask`).
//!
//! Each must run while the process still has a single thread: `fork` copies
//! only the calling thread, and `setns` moves only the calling thread.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{LinuxError, Result};

/// Where `ip netns add NAME` leaves the namespace (iproute2's convention,
/// which keepalived's `net_namespace` follows).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Detaches from the controlling terminal: forks, the parent exits 0 at once
/// (so an init script that started us returns), the child starts a new
/// session, moves to `/` and points stdin, stdout and stderr at `/dev/null`.
/// Returns in the child only.
pub fn daemonize() -> Result<()> {
    // SAFETY: fork(2) takes no arguments; the caller guarantees the process
    // is single-threaded, so the child has a consistent copy of all state.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(LinuxError::io("fork", io::Error::last_os_error()));
    }
    if pid > 0 {
        // The child owns every resource now: leave without running
        // destructors or atexit handlers that would act on them.
        // SAFETY: _exit(2) only ends the process.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: setsid(2) takes no arguments; the child of a fork is never a
    // process group leader, so it cannot fail with EPERM.
    if unsafe { libc::setsid() } < 0 {
        return Err(LinuxError::io("setsid", io::Error::last_os_error()));
    }
    std::env::set_current_dir("/").map_err(|e| LinuxError::io("chdir /", e))?;
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| LinuxError::io("open /dev/null", e))?;
    for fd in 0..=2 {
        // SAFETY: both descriptors are open (`null` lives until the end of
        // this function); dup2 replaces `fd` atomically.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(LinuxError::io("dup2 /dev/null", io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Moves the calling thread (the whole process when called before any
/// thread is started) into the network namespace `/run/netns/NAME`.
pub fn enter_netns(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(LinuxError::Invalid(format!(
            "network namespace name {name:?}"
        )));
    }
    let path = Path::new(NETNS_RUN_DIR).join(name);
    let f = File::open(&path).map_err(|e| LinuxError::io(format!("open {}", path.display()), e))?;
    // SAFETY: `f` is an open namespace file for the duration of the call;
    // CLONE_NEWNET makes the kernel check it is a network namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(LinuxError::io(
            format!("setns {}", path.display()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Sets the process's file creation mask; returns the previous one.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask(2) takes a mode value and cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}
