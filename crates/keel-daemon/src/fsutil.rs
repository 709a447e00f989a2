//! Files the daemon writes or reads on paths other users can reach.
//!
//! keel runs as root, and several of its paths sit in world-writable places
//! (`/tmp/keepalived.data`, `/tmp/keepalived.stats`, `-g /tmp/keepalived.log`).
//! A local user may plant a symlink there (so that root overwrites
//! `/etc/shadow`) or a FIFO (so that the writer blocks forever). Every file
//! here is therefore opened without following a final symlink, without
//! blocking on a FIFO, close-on-exec, with an explicit mode set on the
//! descriptor (not left to the umask), and whole files are written to a temp
//! file with an unpredictable name created with `O_EXCL`, then renamed over
//! the target: a rename replaces a planted symlink or FIFO instead of going
//! through it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};

use nix::libc;
use nix::sys::stat::{Mode, fchmod};

/// Mode of the SIGUSR1/SIGUSR2 dumps and state files: they describe the
/// cluster and are nobody else's business.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of the status/state files `keel` subcommands read back.
pub const STATE_MODE: u32 = 0o644;
/// Mode of the `-g` log file: readable by an administrators' group.
pub const LOG_MODE: u32 = 0o640;

/// A unique, hard-to-guess temp name next to `path`: pid, a counter and
/// clock noise, so two processes or two writers never collide and a local
/// user cannot pre-create it.
fn temp_path(path: &Path) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let noise = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keel".to_string());
    let tmp = format!(
        ".{name}.{}.{seq}.{:08x}.tmp",
        std::process::id(),
        noise ^ (seq as u32).rotate_left(16)
    );
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp),
        _ => PathBuf::from(tmp),
    }
}

/// Writes `data` to `path` atomically with `mode`: readers see the old
/// file or the new one, never half of one, and a symlink or FIFO planted at
/// `path` is replaced, its target untouched.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut last = None;
    // O_EXCL on a name someone guessed fails; a fresh name is tried.
    for _ in 0..8 {
        let tmp = temp_path(path);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let written = fchmod(file.as_fd(), Mode::from_bits_truncate(mode))
            .map_err(io::Error::from)
            .and_then(|()| file.write_all(data))
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        return written;
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temp name")))
}

/// Opens a log file for appending: a final symlink is refused, a FIFO or
/// device never blocks the opener and is refused too, the mode of a new file
/// is `mode` whatever the umask.
pub fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(file)
}

/// Reads at most `cap` bytes of a regular file without blocking on a FIFO
/// planted at `path`. Symlinks are followed: a tracked file may well be a
/// link to where an application keeps it.
pub fn read_bounded(path: &Path, cap: usize) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)?;
    let ft = file.metadata()?.file_type();
    if !ft.is_file() {
        let what = if ft.is_fifo() { "a FIFO" } else { "not a file" };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is {what}", path.display()),
        ));
    }
    let mut buf = Vec::new();
    file.take(cap as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Creates `path` with `data` only if nothing is there, never following a
/// symlink planted at `path` (`O_CREAT|O_EXCL` does not follow one).
pub fn create_new(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    fchmod(file.as_fd(), Mode::from_bits_truncate(mode)).map_err(io::Error::from)?;
    file.write_all(data)
}

/// A file to write away from the caller's thread.
struct Job {
    path: PathBuf,
    text: String,
    mode: u32,
}

/// Dumps waiting at most; more SIGUSR1s than that while a write hangs are
/// dropped (and logged) instead of piling up in memory.
const WRITER_QUEUE: usize = 4;

fn writer() -> Option<SyncSender<Job>> {
    static WRITER: Mutex<Option<SyncSender<Job>>> = Mutex::new(None);
    let mut slot = WRITER.lock().ok()?;
    if let Some(tx) = slot.as_ref() {
        return Some(tx.clone());
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(WRITER_QUEUE);
    std::thread::Builder::new()
        .name("keel-writer".to_string())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                match write_atomic(&job.path, job.text.as_bytes(), job.mode) {
                    Ok(()) => tracing::debug!("wrote {}", job.path.display()),
                    Err(e) => tracing::warn!("cannot write {}: {e}", job.path.display()),
                }
            }
        })
        .ok()?;
    *slot = Some(tx.clone());
    Some(tx)
}

/// Hands a rendered file to a background writer thread: the real-time VRRP
/// thread renders its dump into a `String` and goes back to its adverts, and
/// a slow disk or a trap at the path can never hold it.
pub fn write_in_background(path: PathBuf, text: String, mode: u32) {
    let Some(tx) = writer() else {
        tracing::warn!(
            "cannot start the file writer; {} not written",
            path.display()
        );
        return;
    };
    match tx.try_send(Job { path, text, mode }) {
        Ok(()) => {}
        Err(TrySendError::Full(j)) | Err(TrySendError::Disconnected(j)) => {
            tracing::warn!("file writer busy; {} not written", j.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_replaces_a_planted_symlink_not_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let path = dir.path().join("dump");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        write_atomic(&path, b"dump", PRIVATE_MODE).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, PRIVATE_MODE);
        // No temp file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn append_refuses_symlink_and_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_append(&link, LOG_MODE).is_err());
        let fifo = dir.path().join("f");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        assert!(open_append(&fifo, LOG_MODE).is_err());
        assert!(read_bounded(&fifo, 10).is_err());
        let ok = dir.path().join("ok");
        drop(open_append(&ok, LOG_MODE).unwrap());
        let mode = std::fs::metadata(&ok).unwrap().permissions().mode();
        assert_eq!(mode & 0o777 & !0o022, LOG_MODE & !0o022);
    }

    #[test]
    fn bounded_read_stops_at_cap() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        std::fs::write(&p, vec![b'7'; 100_000]).unwrap();
        assert_eq!(read_bounded(&p, 64).unwrap().len(), 64);
    }

    #[test]
    fn create_new_never_follows_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let path = dir.path().join("init");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(create_new(&path, b"5\n", 0o644).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        // A dangling symlink is not created through either.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(create_new(&dangling, b"5\n", 0o644).is_err());
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn track_file_fifo_reads_as_zero_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("weight");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(crate::trackers::read_track_file(&fifo), 0);
    }
}
