//! Processes started inside lab namespaces.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::LabInner;
use crate::error::{LabError, Result};

pub(crate) struct Tracked {
    pub(crate) child: Child,
    pub(crate) exit: Option<ExitStatus>,
    pub(crate) label: String,
}

impl Tracked {
    /// Reaps the child if it has exited. While the child is not reaped its PID
    /// cannot be reused, so signalling a PID for which this returns `None` can
    /// never hit an unrelated process.
    pub(crate) fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.exit = Some(status);
        }
        self.exit
    }

    pub(crate) fn signal(&mut self, sig: Signal) -> Result<()> {
        if self.poll_exit().is_some() {
            return Ok(());
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        match signal::kill(pid, sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(LabError::io(
                format!("kill({}, {sig}) [{}]", self.child.id(), self.label),
                e.into(),
            )),
        }
    }
}

/// A process started by [`crate::Node::spawn`]. The lab owns the child: it is
/// terminated (TERM, then KILL) when the lab is dropped, whether or not this
/// handle still exists. Dropping the handle does not stop the process.
pub struct LabProcess {
    pub(crate) lab: Arc<LabInner>,
    pub(crate) key: u64,
    pub(crate) pid: u32,
    pub(crate) stdout: PathBuf,
    pub(crate) stderr: PathBuf,
}

impl std::fmt::Debug for LabProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabProcess")
            .field("pid", &self.pid)
            .field("stdout", &self.stdout)
            .finish()
    }
}

impl LabProcess {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn with_child<T>(&self, f: impl FnOnce(&mut Tracked) -> Result<T>) -> Result<T> {
        let mut state = self.lab.lock();
        let tracked = state
            .children
            .get_mut(&self.key)
            .ok_or(LabError::TornDown)?;
        f(tracked)
    }

    /// Sends `sig` unless the process has already exited (then it is a no-op).
    pub fn kill(&self, sig: Signal) -> Result<()> {
        self.with_child(|t| t.signal(sig))
    }

    /// Exit status if the process has exited, without blocking.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.with_child(|t| Ok(t.poll_exit()))
    }

    pub fn is_running(&self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status.
    pub fn stop(&self, grace: Duration) -> Result<ExitStatus> {
        self.kill(Signal::SIGTERM)?;
        if let Some(status) = self.wait_timeout(grace)? {
            return Ok(status);
        }
        self.kill(Signal::SIGKILL)?;
        self.wait_timeout(Duration::from_secs(5))?
            .ok_or_else(|| LabError::Timeout(format!("pid {} survived SIGKILL", self.pid)))
    }

    pub fn stdout_path(&self) -> &Path {
        &self.stdout
    }

    pub fn stderr_path(&self) -> &Path {
        &self.stderr
    }

    /// Everything the process wrote to stdout so far.
    pub fn stdout(&self) -> Result<String> {
        read_lossy(&self.stdout)
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> Result<String> {
        read_lossy(&self.stderr)
    }
}

fn read_lossy(path: &Path) -> Result<String> {
    let bytes =
        std::fs::read(path).map_err(|e| LabError::io(format!("read {}", path.display()), e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
