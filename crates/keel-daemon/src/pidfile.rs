//! keepalived-style pid files.
//!
//! Default paths are keepalived 2.x's: `/run/keepalived.pid` for the main
//! process and `/run/vrrp.pid`, `/run/checkers.pid`, `/run/bfd.pid` for the
//! subsystems (under `/run/keepalived/` with `use_pid_dir`, and with
//! `_<instance>` before `.pid` when an instance name is set), so scripts and
//! monitoring written for keepalived find keel.
//!
//! A pid file is taken only if no live keel/keepalived process holds it: the
//! file is locked while we run (`flock`), and a pid left by a crashed run is
//! checked for a live process of that name. The [`PidFile`] guard removes the
//! file when dropped.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// Directory for pid files.
pub const RUN_DIR: &str = "/run";
/// Directory used with `use_pid_dir`.
pub const PID_DIR: &str = "/run/keepalived";

/// Process names that count as a running daemon holding a pid file.
const DAEMON_NAMES: &[&str] = &["keel", "keepalived"];

#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("daemon is already running (pid {pid} holds {path})")]
    AlreadyRunning { path: PathBuf, pid: i32 },
    #[error("pid file {path} is locked by another process")]
    Locked { path: PathBuf },
    #[error("pid file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Which process a pid file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidKind {
    Main,
    Vrrp,
    Checkers,
    Bfd,
}

impl PidKind {
    fn stem(self) -> &'static str {
        match self {
            PidKind::Main => "keepalived",
            PidKind::Vrrp => "vrrp",
            PidKind::Checkers => "checkers",
            PidKind::Bfd => "bfd",
        }
    }
}

/// keepalived's default path for `kind`, given `use_pid_dir` and the
/// optional instance name (`-i`/`instance`).
pub fn default_path(kind: PidKind, use_pid_dir: bool, instance: Option<&str>) -> PathBuf {
    // keepalived puts instance-named files in the pid directory regardless of
    // use_pid_dir.
    let dir = if use_pid_dir || instance.is_some() {
        PID_DIR
    } else {
        RUN_DIR
    };
    let name = match instance {
        Some(i) => format!("{}_{i}.pid", kind.stem()),
        None => format!("{}.pid", kind.stem()),
    };
    Path::new(dir).join(name)
}

/// A held pid file; removed on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
    // Held for the lock; closing it releases the lock.
    _lock: Flock<File>,
}

impl PidFile {
    /// Writes our pid to `path` (creating its directory if needed), refusing
    /// if a live daemon holds it. A stale file from a dead process, or whose
    /// pid now belongs to an unrelated program, is taken over.
    pub fn create(path: impl AsRef<Path>) -> Result<PidFile, PidFileError> {
        PidFile::create_for(path, std::process::id())
    }

    /// Like [`PidFile::create`] for another pid (a child we started).
    pub fn create_for(path: impl AsRef<Path>, pid: u32) -> Result<PidFile, PidFileError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| PidFileError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
                .open(&path)
                .map_err(io_err)?;
            let mut locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(l) => l,
                Err((_, Errno::EWOULDBLOCK)) => {
                    return Err(match read_pid(&path) {
                        Some(pid) => PidFileError::AlreadyRunning { path, pid },
                        None => PidFileError::Locked { path },
                    });
                }
                Err((_, e)) => return Err(io_err(io::Error::from(e))),
            };
            // The file may have been removed or replaced between open and
            // lock by a daemon shutting down; lock the file the path names.
            let same = match (std::fs::metadata(&path), locked.metadata()) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if !same {
                if attempts < 5 {
                    continue;
                }
                return Err(PidFileError::Locked { path });
            }
            let mut content = String::new();
            // Unreadable content is treated like an empty (stale) file.
            let _ = locked.read_to_string(&mut content);
            if let Ok(old) = content.trim().parse::<i32>()
                && old as u32 != pid
                && old as u32 != std::process::id()
                && daemon_alive(old)
            {
                return Err(PidFileError::AlreadyRunning { path, pid: old });
            }
            locked.set_len(0).map_err(io_err)?;
            locked.seek(SeekFrom::Start(0)).map_err(io_err)?;
            locked
                .write_all(format!("{pid}\n").as_bytes())
                .map_err(io_err)?;
            locked.flush().map_err(io_err)?;
            return Ok(PidFile {
                path,
                pid,
                _lock: locked,
            });
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only remove the file if it is still ours: someone may have replaced
        // it (a new daemon started after ours was forcibly unlocked).
        if read_pid(&self.path) == i32::try_from(self.pid).ok() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The pid recorded in a pid file, if any.
pub fn read_pid(path: impl AsRef<Path>) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live keel/keepalived process.
fn daemon_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    // A live pid may have been reused by an unrelated program after a crash.
    // Without /proc we cannot tell, so the pid counts as ours.
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => {
            let comm = comm.trim();
            let own = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
            DAEMON_NAMES.iter().any(|n| comm.starts_with(n)) || comm == own.trim()
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_default_paths() {
        assert_eq!(
            default_path(PidKind::Main, false, None),
            Path::new("/run/keepalived.pid")
        );
        assert_eq!(
            default_path(PidKind::Vrrp, false, None),
            Path::new("/run/vrrp.pid")
        );
        assert_eq!(
            default_path(PidKind::Checkers, false, None),
            Path::new("/run/checkers.pid")
        );
        assert_eq!(
            default_path(PidKind::Vrrp, true, None),
            Path::new("/run/keepalived/vrrp.pid")
        );
        assert_eq!(
            default_path(PidKind::Main, false, Some("lb1")),
            Path::new("/run/keepalived/keepalived_lb1.pid")
        );
    }
}
