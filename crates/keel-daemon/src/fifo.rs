//! `notify_fifo`, `vrrp_notify_fifo` and `lvs_notify_fifo`.
//!
//! Lines match keepalived's, because readers parse them:
//!
//! ```text
//! INSTANCE "VI_1" MASTER 100
//! INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100
//! INSTANCE "VI_1" MASTER_PRIORITY 95
//! GROUP "G1" BACKUP 0
//! VS [192.0.2.111]:tcp:80 UP
//! RS [192.0.2.11]:tcp:80 [192.0.2.111]:tcp:80 DOWN
//! ```
//!
//! Like keepalived, the FIFO is created if missing and opened read-write and
//! non-blocking: the open never waits for a reader, lines written while nobody
//! reads wait in the pipe buffer, and once that is full further lines are
//! dropped and counted instead of blocking the daemon. (keepalived also writes
//! the string's NUL terminator after VS/RS lines; keel does not.)

use std::fs::File;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use std::os::fd::AsFd;

use nix::sys::stat::{Mode, fchmod};
use nix::unistd::{Gid, Uid, fchown};
use tokio::task::JoinHandle;

use crate::notify::NotifyState;
use crate::script::{Credentials, RunOptions, Script, ScriptOutcome, run_script};

#[derive(Debug, thiserror::Error)]
pub enum FifoError {
    #[error("unable to create notify fifo {path}: {source}")]
    Create { path: PathBuf, source: Errno },
    #[error("unable to open notify fifo {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("notify fifo {0} is not a fifo we own - not using")]
    NotOurFifo(PathBuf),
}

pub use keel_lvs::Protocol;

/// `[192.0.2.11]:tcp:80` / `[2001:db8::1]:udp:53`, keepalived's format for
/// real and virtual servers.
pub fn format_service(addr: IpAddr, proto: Protocol, port: u16) -> String {
    format!("[{addr}]:{}:{port}", proto.keepalived_name())
}

/// A virtual server given by firewall mark: `FWM 7`.
pub fn format_fwmark(mark: u32) -> String {
    format!("FWM {mark}")
}

/// A virtual server given by `virtual_server_group`: `[name]:port`.
pub fn format_vs_group(name: &str, port: u16) -> String {
    format!("[{name}]:{port}")
}

/// Something to report on a notify FIFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FifoEvent {
    /// Instance state change.
    Instance {
        name: String,
        state: NotifyState,
        priority: u8,
    },
    /// Sync group state change (priority is always written as 0).
    Group { name: String, state: NotifyState },
    /// A master received an advert of lower priority.
    MasterRxLowerPri { name: String, priority: u8 },
    /// Effective priority changed (`vrrp_notify_priority_changes`).
    PriorityChange {
        name: String,
        is_master: bool,
        priority: u8,
    },
    /// Virtual server quorum up/down; `vs` from [`format_service`],
    /// [`format_fwmark`] or [`format_vs_group`].
    VirtualServer { vs: String, up: bool },
    /// Real server up/down.
    RealServer { rs: String, vs: String, up: bool },
}

impl FifoEvent {
    /// Whether the line belongs on `vrrp_notify_fifo` (else `lvs_notify_fifo`).
    pub fn is_vrrp(&self) -> bool {
        !matches!(
            self,
            FifoEvent::VirtualServer { .. } | FifoEvent::RealServer { .. }
        )
    }

    /// The line, with its trailing newline.
    pub fn line(&self) -> String {
        fn up(u: bool) -> &'static str {
            if u { "UP" } else { "DOWN" }
        }
        match self {
            FifoEvent::Instance {
                name,
                state,
                priority,
            } => format!("INSTANCE \"{name}\" {state} {priority}\n"),
            FifoEvent::Group { name, state } => format!("GROUP \"{name}\" {state} 0\n"),
            FifoEvent::MasterRxLowerPri { name, priority } => {
                format!("INSTANCE \"{name}\" MASTER_RX_LOWER_PRI {priority}\n")
            }
            FifoEvent::PriorityChange {
                name,
                is_master,
                priority,
            } => {
                let what = if *is_master {
                    "MASTER_PRIORITY"
                } else {
                    "BACKUP_PRIORITY"
                };
                format!("INSTANCE \"{name}\" {what} {priority}\n")
            }
            FifoEvent::VirtualServer { vs, up: u } => format!("VS {vs} {}\n", up(*u)),
            FifoEvent::RealServer { rs, vs, up: u } => format!("RS {rs} {vs} {}\n", up(*u)),
        }
    }
}

/// keepalived's FIFO mode: its owner writes, readers of any user read.
const FIFO_MODE: Mode = Mode::from_bits_truncate(0o644);

/// Result of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStatus {
    Written,
    /// Pipe full (nobody reading): line dropped and counted.
    Dropped,
}

/// One open notify FIFO.
#[derive(Debug)]
pub struct NotifyFifo {
    path: PathBuf,
    file: File,
    created: bool,
    dropped: AtomicU64,
    script: Option<JoinHandle<ScriptOutcome>>,
}

impl NotifyFifo {
    /// Creates the FIFO if missing (mode 0644, owned by `owner` if given),
    /// then opens it without waiting for a reader.
    pub fn open(path: impl AsRef<Path>, owner: Option<Credentials>) -> Result<Self, FifoError> {
        let path = path.as_ref().to_path_buf();
        let created = match nix::unistd::mkfifo(&path, FIFO_MODE) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(e) => return Err(FifoError::Create { path, source: e }),
        };
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) => {
                if created {
                    let _ = std::fs::remove_file(&path);
                }
                return Err(FifoError::Open { path, source: e });
            }
        };
        // An existing path may have been planted: accept only a FIFO owned by
        // us or by the configured owner.
        let ok = file.metadata().is_ok_and(|m| {
            m.file_type().is_fifo()
                && (m.uid() == Uid::effective().as_raw() || owner.is_some_and(|c| c.uid == m.uid()))
        });
        if !ok {
            return Err(FifoError::NotOurFifo(path));
        }
        if created {
            // On the descriptor, never by path: the path may have been
            // swapped for a symlink since mkfifo, and a chown by path would
            // hand its target to the FIFO's owner.
            let _ = fchmod(file.as_fd(), FIFO_MODE);
            if let Some(c) = owner
                && c != Credentials::current()
                && let Err(e) = fchown(
                    file.as_fd(),
                    Some(Uid::from_raw(c.uid)),
                    Some(Gid::from_raw(c.gid)),
                )
            {
                tracing::info!("Failed to set uid:gid for fifo {}: {e}", path.display());
            }
        }
        Ok(NotifyFifo {
            path,
            file,
            created,
            dropped: AtomicU64::new(0),
            script: None,
        })
    }

    /// Opens the FIFO and starts `notify_fifo_script` the way keepalived
    /// does: first, with the FIFO path as its last argument, no timeout; it
    /// is killed when the FIFO is closed. Needs a tokio runtime.
    pub fn open_with_script(
        path: impl AsRef<Path>,
        owner: Option<Credentials>,
        script: &Script,
        options: &RunOptions,
        shell: &Path,
    ) -> Result<Self, FifoError> {
        let path = path.as_ref();
        // Make sure the FIFO exists before the reader starts, so it can open
        // it at once.
        let mut fifo = NotifyFifo::open(path, owner)?;
        let script = script.clone();
        let mut options = options.clone();
        options.timeout = None;
        let shell = shell.to_path_buf();
        let args = vec![path.to_string_lossy().into_owned()];
        fifo.script = Some(tokio::spawn(async move {
            let outcome = run_script(&shell, &script, &args, &options).await;
            tracing::info!("notify_fifo_script {} {}", script.line(), outcome);
            outcome
        }));
        Ok(fifo)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines dropped because the pipe was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes one line; never blocks. Lines are shorter than PIPE_BUF, so a
    /// write is all-or-nothing and readers never see half a line.
    pub fn write_line(&self, line: &str) -> io::Result<WriteStatus> {
        match (&self.file).write(line.as_bytes()) {
            Ok(n) if n == line.len() => Ok(WriteStatus::Written),
            Ok(_) => Ok(WriteStatus::Dropped),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Ok(WriteStatus::Dropped)
            }
            Err(e) => Err(e),
        }
    }

    pub fn write_event(&self, event: &FifoEvent) -> io::Result<WriteStatus> {
        self.write_line(&event.line())
    }
}

impl Drop for NotifyFifo {
    fn drop(&mut self) {
        // Unlink before closing, so that a reader looping on reopen cannot
        // reopen a FIFO nobody will write to again (keepalived does the same).
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Some(s) = self.script.take() {
            // Dropping the script's future kills its process group.
            s.abort();
        }
    }
}

/// The three FIFOs of global_defs: lines go to `notify_fifo` and to the
/// subsystem's own FIFO.
#[derive(Debug, Default)]
pub struct FifoSet {
    pub notify: Option<Arc<NotifyFifo>>,
    pub vrrp: Option<Arc<NotifyFifo>>,
    pub lvs: Option<Arc<NotifyFifo>>,
}

impl FifoSet {
    /// Writes `event` to `notify_fifo` and to the VRRP or LVS FIFO as fits.
    /// Failures are logged, never returned: a FIFO must not stop the daemon.
    pub fn send(&self, event: &FifoEvent) {
        let line = event.line();
        let specific = if event.is_vrrp() {
            &self.vrrp
        } else {
            &self.lvs
        };
        for f in [&self.notify, specific].into_iter().flatten() {
            match f.write_line(&line) {
                Ok(WriteStatus::Written) => {}
                Ok(WriteStatus::Dropped) => tracing::debug!(
                    fifo = %f.path().display(),
                    dropped = f.dropped(),
                    "notify fifo full, line dropped"
                ),
                Err(e) => tracing::info!("notify fifo {} write error: {e}", f.path().display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_line_formats() {
        let vi = |state, priority| FifoEvent::Instance {
            name: "VI_1".into(),
            state,
            priority,
        };
        assert_eq!(
            vi(NotifyState::Master, 100).line(),
            "INSTANCE \"VI_1\" MASTER 100\n"
        );
        assert_eq!(
            vi(NotifyState::Fault, 0).line(),
            "INSTANCE \"VI_1\" FAULT 0\n"
        );
        assert_eq!(
            FifoEvent::Group {
                name: "G1".into(),
                state: NotifyState::Backup
            }
            .line(),
            "GROUP \"G1\" BACKUP 0\n"
        );
        assert_eq!(
            FifoEvent::MasterRxLowerPri {
                name: "VI_1".into(),
                priority: 100
            }
            .line(),
            "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100\n"
        );
        assert_eq!(
            FifoEvent::PriorityChange {
                name: "VI_1".into(),
                is_master: true,
                priority: 95
            }
            .line(),
            "INSTANCE \"VI_1\" MASTER_PRIORITY 95\n"
        );
        assert_eq!(
            FifoEvent::PriorityChange {
                name: "VI_1".into(),
                is_master: false,
                priority: 98
            }
            .line(),
            "INSTANCE \"VI_1\" BACKUP_PRIORITY 98\n"
        );
        let vs = format_service("192.0.2.111".parse().unwrap(), Protocol::Tcp, 80);
        let rs = format_service("192.0.2.11".parse().unwrap(), Protocol::Tcp, 80);
        assert_eq!(
            FifoEvent::VirtualServer {
                vs: vs.clone(),
                up: true
            }
            .line(),
            "VS [192.0.2.111]:tcp:80 UP\n"
        );
        assert_eq!(
            FifoEvent::RealServer { rs, vs, up: false }.line(),
            "RS [192.0.2.11]:tcp:80 [192.0.2.111]:tcp:80 DOWN\n"
        );
        assert_eq!(
            format_service("2001:db8::1".parse().unwrap(), Protocol::Udp, 53),
            "[2001:db8::1]:udp:53"
        );
        assert_eq!(format_fwmark(7), "FWM 7");
        assert_eq!(format_vs_group("web", 443), "[web]:443");
    }
}
