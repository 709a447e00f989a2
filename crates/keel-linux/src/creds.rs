//! Switching a child process to the user a script runs as.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s child, between fork and exec, take exactly `groups` as its
/// supplementary groups, then `gid`, then `uid`: in that order, since each
/// step needs the privilege the next one drops. Used when the supplementary
/// groups must be the user's own (keepalived's `set_supplementary_groups`);
/// std's `uid`/`gid` only ever clear them.
pub fn switch_user_on_exec(cmd: &mut Command, uid: u32, gid: u32, groups: &[u32]) {
    let groups: Vec<libc::gid_t> = groups.to_vec();
    // SAFETY: the closure runs in the child after fork. It allocates
    // nothing (the list was built before the fork and is only borrowed) and
    // makes only the async-signal-safe calls setgroups, setgid and setuid.
    unsafe {
        cmd.pre_exec(move || switch_user(uid, gid, &groups));
    }
}

fn switch_user(uid: u32, gid: u32, groups: &[libc::gid_t]) -> io::Result<()> {
    // SAFETY: `groups` is a live slice of `groups.len()` gid_t values.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain system call without pointers.
    if unsafe { libc::setgid(gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain system call without pointers.
    if unsafe { libc::setuid(uid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
