//! keel or keepalived running in a lab node.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use keel_lab::{Lab, LabProcess, LabSignal, Node, wait_until};
use nix::sys::signal;
use nix::unistd::Pid;

use crate::procfs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Keel,
    Keepalived,
}

impl Impl {
    pub fn name(self) -> &'static str {
        match self {
            Impl::Keel => "keel",
            Impl::Keepalived => "keepalived",
        }
    }
}

/// Where the two binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub keel: PathBuf,
    pub keepalived: PathBuf,
}

impl Binaries {
    pub fn path(&self, which: Impl) -> &Path {
        match which {
            Impl::Keel => &self.keel,
            Impl::Keepalived => &self.keepalived,
        }
    }
}

pub struct Daemon {
    pub which: Impl,
    pub proc: LabProcess,
    comm: String,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Daemon {
    /// Starts the daemon in the foreground exactly as keepalived is run in
    /// the probe: `-n -l -D -G -P -f CONF -p P -r P -c P`, own pid files per
    /// start so a restart never trips over a stale one.
    pub fn start(
        lab: &Lab,
        node: &Node,
        bins: &Binaries,
        which: Impl,
        conf: &str,
    ) -> Result<Daemon> {
        Daemon::launch(lab, node, bins, which, conf, true, &[])
    }

    /// The whole daemon (no `-P`: VRRP and the checkers), with `env`
    /// (`NAME=VALUE`) added to its environment.
    pub fn start_full(
        lab: &Lab,
        node: &Node,
        bins: &Binaries,
        which: Impl,
        conf: &str,
        env: &[String],
    ) -> Result<Daemon> {
        Daemon::launch(lab, node, bins, which, conf, false, env)
    }

    fn launch(
        lab: &Lab,
        node: &Node,
        bins: &Binaries,
        which: Impl,
        conf: &str,
        vrrp_only: bool,
        env: &[String],
    ) -> Result<Daemon> {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let stem = lab
            .dir()
            .join(format!("{}-{}-{seq}", node.name(), which.name()));
        let conf_path = stem.with_extension("conf");
        std::fs::write(&conf_path, conf).with_context(|| format!("write {conf_path:?}"))?;
        let pid = |k: &str| {
            stem.with_extension(format!("{k}.pid"))
                .to_string_lossy()
                .into_owned()
        };
        let (p1, p2, p3) = (pid("main"), pid("vrrp"), pid("chk"));
        let conf_s = conf_path.to_string_lossy().into_owned();
        let bin = bins.path(which).to_string_lossy().into_owned();
        // `env` execs the daemon, so the spawned PID is the daemon's own.
        let mut args: Vec<&str> = env.iter().map(String::as_str).collect();
        args.extend([bin.as_str(), "-n", "-l", "-D", "-G"]);
        if vrrp_only {
            args.push("-P");
        }
        args.extend(["-f", &conf_s, "-p", &p1, "-r", &p2, "-c", &p3]);
        let proc = node
            .spawn("env", &args)
            .with_context(|| format!("start {bin} in {}", node.name()))?;
        let comm: String = Path::new(&bin)
            .file_name()
            .map(|s| s.to_string_lossy().chars().take(15).collect())
            .unwrap_or_default();
        Ok(Daemon { which, proc, comm })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The daemon's own processes: keel's single process, or keepalived's
    /// parent plus its VRRP child (script children are not counted).
    pub fn pids(&self) -> Vec<u32> {
        let mut v = vec![self.pid()];
        v.extend(procfs::children_named(self.pid(), &self.comm));
        v
    }

    /// Waits (bounded) until keepalived has forked its VRRP child, so a
    /// measurement never sees the parent alone.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let want = match self.which {
            Impl::Keel => 1,
            Impl::Keepalived => 2,
        };
        if wait_until(timeout, Duration::from_millis(5), || {
            self.pids().len() >= want || !self.proc.is_running()
        }) && self.proc.is_running()
        {
            return Ok(());
        }
        bail!(
            "{} did not come up within {timeout:?}; log:\n{}",
            self.which.name(),
            self.log_tail(2000)
        )
    }

    /// SIGKILL of the whole daemon at once. keepalived's parent is stopped
    /// first so it cannot respawn the VRRP child between the two kills, and
    /// the child dies before the parent so it is never told (by the parent's
    /// death) to shut down cleanly.
    pub fn kill_hard(&self) -> Result<()> {
        let children = procfs::children_named(self.pid(), &self.comm);
        if children.is_empty() {
            return self.proc.kill(LabSignal::SIGKILL).map_err(Into::into);
        }
        self.proc.kill(LabSignal::SIGSTOP)?;
        for c in children {
            // The child is a descendant of the process this bench started,
            // identified by its parent link just above.
            let pid = i32::try_from(c).context("pid out of range")?;
            match signal::kill(Pid::from_raw(pid), LabSignal::SIGKILL) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => bail!("kill {c}: {e}"),
            }
        }
        self.proc.kill(LabSignal::SIGKILL).map_err(Into::into)
    }

    pub fn term(&self) -> Result<()> {
        self.proc.kill(LabSignal::SIGTERM).map_err(Into::into)
    }

    /// Waits up to `timeout` for the daemon to exit, then SIGKILLs it.
    pub fn reap(&self, timeout: Duration) -> Result<()> {
        if self.proc.wait_timeout(timeout)?.is_none() {
            self.kill_hard()?;
            if self.proc.wait_timeout(Duration::from_secs(5))?.is_none() {
                bail!("{} pid {} survived SIGKILL", self.which.name(), self.pid());
            }
        }
        // keepalived's children exit with the parent; make sure.
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline
            && !procfs::children_named(self.pid(), &self.comm).is_empty()
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        let mut s = self.proc.stderr().unwrap_or_default();
        s.push_str(&self.proc.stdout().unwrap_or_default());
        s
    }

    pub fn log_tail(&self, max: usize) -> String {
        let log = self.log();
        let start = log.len().saturating_sub(max);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        log[start..].to_string()
    }
}
