//! Drivers of the tracked objects that live outside the network:
//! `vrrp_script` (run on its interval, rise/fall through the engine's
//! [`ScriptTracker`]), `track_file` (the number in a file) and
//! `vrrp_track_process` (a process quorum). Each reports changes to the VRRP
//! runtime as [`EngineMsg::Track`]; `track_interface` is followed by the
//! runtime itself through netlink.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use keel_config::Config;
use keel_config::model::{ParamMatch, TrackFile, TrackProcess, VrrpScript};
use keel_vrrp::track::{ScriptTracker, TrackState};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::creds::ScriptPolicy;
use crate::mapping::TrackSource;
use crate::script::{RunOptions, Script, ScriptRunner};
use crate::vrrp::EngineMsg;

/// How often `track_file` and `vrrp_track_process` look again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The running tracker tasks; aborted on drop (reload replaces them).
#[derive(Debug, Default)]
pub struct Trackers {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Trackers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Trackers {
    /// Starts a driver for every tracked object some instance or sync group
    /// uses (keepalived does not run unused scripts). Needs a tokio runtime.
    pub fn start(
        cfg: &Config,
        runner: &ScriptRunner,
        policy: &ScriptPolicy,
        engine: &UnboundedSender<EngineMsg>,
    ) -> Trackers {
        let mut used_scripts = HashSet::new();
        let mut used_files = HashSet::new();
        let mut used_procs = HashSet::new();
        let trackings = cfg
            .vrrp_instances
            .iter()
            .map(|i| &i.track)
            .chain(cfg.sync_groups.iter().map(|g| &g.track));
        for t in trackings {
            used_scripts.extend(t.scripts.iter().map(|r| r.name.clone()));
            used_files.extend(t.files.iter().map(|r| r.name.clone()));
            used_procs.extend(t.processes.iter().map(|r| r.name.clone()));
        }
        let mut tasks = Vec::new();
        for s in cfg
            .vrrp_scripts
            .iter()
            .filter(|s| used_scripts.contains(&s.name))
        {
            match policy.allow(&s.script) {
                Some(a) => tasks.push(tokio::spawn(run_vrrp_script(
                    s.clone(),
                    a.script,
                    runner.clone(),
                    a.options,
                    engine.clone(),
                ))),
                None => {
                    // A script that may not run counts as failing: an
                    // instance must not hold the VIPs on a check nobody runs.
                    tracing::error!("VRRP_Script({}) disabled; it counts as failed", s.name);
                    let _ = engine.send(EngineMsg::Track {
                        source: TrackSource::Script(s.name.clone()),
                        state: TrackState::Down,
                    });
                }
            }
        }
        for f in cfg
            .track_files
            .iter()
            .filter(|f| used_files.contains(&f.name))
        {
            tasks.push(tokio::spawn(run_track_file(f.clone(), engine.clone())));
        }
        for p in cfg
            .track_processes
            .iter()
            .filter(|p| used_procs.contains(&p.name))
        {
            tasks.push(tokio::spawn(run_track_process(p.clone(), engine.clone())));
        }
        Trackers { tasks }
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

async fn run_vrrp_script(
    cfg: VrrpScript,
    script: Script,
    runner: ScriptRunner,
    mut options: RunOptions,
    engine: UnboundedSender<EngineMsg>,
) {
    let mut tracker = ScriptTracker::new(&cfg.name, cfg.rise, cfg.fall, cfg.init_fail);
    let interval = if cfg.interval.is_zero() {
        Duration::from_secs(1)
    } else {
        cfg.interval
    };
    options.timeout = Some(if cfg.timeout.is_zero() {
        interval
    } else {
        cfg.timeout
    });
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_code = None;
    loop {
        ticker.tick().await;
        let outcome = runner.run(&script, &[], &options).await;
        let ok = outcome.success();
        let code = outcome.code();
        if code != last_code {
            tracing::debug!("Script `{}` now returning {outcome}", cfg.name);
            last_code = code;
        }
        if let Some(change) = tracker.on_result(ok) {
            if change.ok {
                tracing::info!("{change}");
            } else {
                tracing::info!("{change} ({outcome})");
            }
            let msg = EngineMsg::Track {
                source: TrackSource::Script(cfg.name.clone()),
                state: tracker.track_state(),
            };
            if engine.send(msg).is_err() {
                return;
            }
        }
    }
}

/// The number a tracked file holds: its first word as an integer; a missing
/// or unreadable file counts as 0, like keepalived.
pub fn read_track_file(path: &Path) -> i64 {
    // Only the first word counts: a huge file (or a FIFO planted at the
    // path) must not make the services runtime read or wait without end.
    crate::fsutil::read_bounded(path, TRACK_FILE_MAX)
        .ok()
        .and_then(|b| {
            String::from_utf8_lossy(&b)
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
        })
        .unwrap_or(0)
}

/// Bytes of a tracked file read: far more than any number needs.
const TRACK_FILE_MAX: usize = 4096;

async fn run_track_file(cfg: TrackFile, engine: UnboundedSender<EngineMsg>) {
    let Some(path) = cfg.file.clone() else {
        tracing::error!("track_file {} has no file", cfg.name);
        return;
    };
    let path = std::path::PathBuf::from(path);
    // Neither form follows a symlink planted at the path: `overwrite`
    // replaces the entry by a rename, creation uses O_EXCL.
    let init_text = |v: i64| format!("{v}\n");
    if let Some(init) = &cfg.init_file
        && let Err(e) = if init.overwrite {
            crate::fsutil::write_atomic(&path, init_text(init.value).as_bytes(), 0o644)
        } else {
            match crate::fsutil::create_new(&path, init_text(init.value).as_bytes(), 0o644) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                r => r,
            }
        }
    {
        tracing::warn!(
            "track_file {}: cannot write {}: {e}",
            cfg.name,
            path.display()
        );
    }
    // inotify tells us of a change at once; the slow poll stays as a safety
    // net for file systems that do not report changes (NFS, some FUSE).
    let mut changes = watch_file(&path);
    let fallback = if changes.is_some() {
        FALLBACK_POLL_INTERVAL
    } else {
        POLL_INTERVAL
    };
    let mut last = None;
    loop {
        let v = read_track_file(&path);
        if last != Some(v) {
            if last.is_some() {
                tracing::info!("Tracked file {} now has value {v}", cfg.name);
            }
            last = Some(v);
            let msg = EngineMsg::Track {
                source: TrackSource::File(cfg.name.clone()),
                state: TrackState::Value(v),
            };
            if engine.send(msg).is_err() {
                return;
            }
        }
        match changes.as_mut() {
            Some(rx) => {
                tokio::select! {
                    got = rx.recv() => if got.is_none() {
                        // The watcher thread ended: keep going by polling.
                        changes = None;
                    },
                    _ = tokio::time::sleep(fallback) => {}
                }
            }
            None => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

/// With inotify, how often a `track_file` is read anyway.
pub const FALLBACK_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Watches `path` with inotify on a thread of its own and reports each
/// change on the returned channel; `None` when inotify is not available.
///
/// The directory is watched rather than the file so that a file created
/// later, or replaced by a rename (how editors and `echo > tmp && mv` write),
/// is seen too. The thread ends when the receiver is dropped (the tracker
/// was stopped or reloaded): it wakes up at least once a second to check.
pub fn watch_file(path: &Path) -> Option<tokio::sync::mpsc::Receiver<()>> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name()?.to_os_string();
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
    let mask = AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM;
    if let Err(e) = inotify.add_watch(&dir, mask) {
        tracing::debug!("inotify on {}: {e}; polling instead", dir.display());
        return None;
    }
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let spawned = std::thread::Builder::new()
        .name("keel-track-file".into())
        .spawn(move || watch_loop(inotify, name, tx));
    spawned.ok().map(|_| rx)
}

fn watch_loop(
    inotify: nix::sys::inotify::Inotify,
    name: std::ffi::OsString,
    tx: tokio::sync::mpsc::Sender<()>,
) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    loop {
        if tx.is_closed() {
            return;
        }
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(1000u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let events = match inotify.read_events() {
            Ok(ev) => ev,
            Err(nix::errno::Errno::EAGAIN) => continue,
            Err(_) => return,
        };
        if events
            .iter()
            .any(|e| e.name.as_deref() == Some(name.as_os_str()))
        {
            // A full channel already holds a wake-up: the reader re-reads
            // the file anyway, so dropping this one loses nothing.
            if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) = tx.try_send(()) {
                return;
            }
        }
    }
}

/// A process as `/proc` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// `comm` (at most 15 characters).
    pub comm: String,
    /// argv.
    pub cmdline: Vec<String>,
}

/// Every process of this PID namespace.
pub fn list_processes() -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let p = e.path();
        let comm = std::fs::read_to_string(p.join("comm"))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default();
        let cmdline = std::fs::read(p.join("cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        out.push(ProcInfo { comm, cmdline });
    }
    out
}

/// Whether `p` is an instance of the tracked process: the name matches `comm`
/// or argv[0] (its basename unless `full_command`), and the parameters match
/// as `param_match` says.
pub fn process_matches(cfg: &TrackProcess, p: &ProcInfo) -> bool {
    let Some(name) = cfg.process.first() else {
        return false;
    };
    let argv0 = p.cmdline.first().map(String::as_str).unwrap_or("");
    let base = Path::new(argv0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name_ok = if cfg.full_command {
        argv0 == name
    } else {
        // comm is truncated to 15 bytes by the kernel.
        base == *name || p.comm == *name || (name.len() > 15 && name.starts_with(&p.comm))
    };
    if !name_ok {
        return false;
    }
    let want = &cfg.process[1..];
    let have = p.cmdline.get(1..).unwrap_or(&[]);
    match cfg.param_match {
        None => want.is_empty() || have == want,
        Some(ParamMatch::Exact) => have == want,
        Some(ParamMatch::Partial) => {
            let have = have.join(" ");
            have.contains(&want.join(" "))
        }
        Some(ParamMatch::Initial) => have.len() >= want.len() && have[..want.len()] == *want,
    }
}

async fn run_track_process(cfg: TrackProcess, engine: UnboundedSender<EngineMsg>) {
    let mut last = None;
    loop {
        let procs = list_processes();
        let n = procs.iter().filter(|p| process_matches(&cfg, p)).count() as u32;
        let up = n >= cfg.quorum && cfg.quorum_max.is_none_or(|m| n <= m);
        if last != Some(up) {
            tracing::info!(
                "Quorum {} for tracked process {} ({n} running)",
                if up { "gained" } else { "lost" },
                cfg.name
            );
            last = Some(up);
            let msg = EngineMsg::Track {
                source: TrackSource::Process(cfg.name.clone()),
                state: if up { TrackState::Up } else { TrackState::Down },
            };
            if engine.send(msg).is_err() {
                return;
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn woke(rx: &mut tokio::sync::mpsc::Receiver<()>) -> bool {
        tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .is_ok_and(|v| v.is_some())
    }

    /// `track_file` learns of a write, a file created later and a file
    /// replaced by a rename from inotify, without waiting for a poll.
    #[tokio::test]
    async fn track_file_changes_arrive_through_inotify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weight");
        let mut rx = watch_file(&path).expect("inotify available");
        std::fs::write(&path, "5\n").unwrap();
        assert!(woke(&mut rx).await, "creation not reported");
        while rx.try_recv().is_ok() {}
        std::fs::write(&path, "7\n").unwrap();
        assert!(woke(&mut rx).await, "write not reported");
        while rx.try_recv().is_ok() {}
        let tmp = dir.path().join("weight.tmp");
        std::fs::write(&tmp, "9\n").unwrap();
        while rx.try_recv().is_ok() {}
        std::fs::rename(&tmp, &path).unwrap();
        assert!(woke(&mut rx).await, "rename over the file not reported");
        assert_eq!(read_track_file(&path), 9);
        // Other files in the directory do not wake the tracker.
        while rx.try_recv().is_ok() {}
        std::fs::write(dir.path().join("other"), "1").unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), rx.recv())
                .await
                .is_err()
        );
    }

    fn tp(process: &[&str], pm: Option<ParamMatch>) -> TrackProcess {
        TrackProcess {
            name: "p".into(),
            process: process.iter().map(|s| s.to_string()).collect(),
            param_match: pm,
            weight: 0,
            reverse: false,
            quorum: 1,
            quorum_max: None,
            fork_delay: None,
            terminate_delay: None,
            full_command: false,
        }
    }

    fn proc_(comm: &str, argv: &[&str]) -> ProcInfo {
        ProcInfo {
            comm: comm.into(),
            cmdline: argv.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn process_name_and_parameter_matching() {
        let nginx = proc_("nginx", &["/usr/sbin/nginx", "-g", "daemon off;"]);
        assert!(process_matches(&tp(&["nginx"], None), &nginx));
        assert!(!process_matches(&tp(&["httpd"], None), &nginx));
        assert!(process_matches(
            &tp(&["nginx", "-g"], Some(ParamMatch::Initial)),
            &nginx
        ));
        assert!(!process_matches(
            &tp(&["nginx", "-g"], Some(ParamMatch::Exact)),
            &nginx
        ));
        assert!(process_matches(
            &tp(&["nginx", "off;"], Some(ParamMatch::Partial)),
            &nginx
        ));
        let mut full = tp(&["/usr/sbin/nginx"], None);
        full.full_command = true;
        full.process.extend(["-g".into(), "daemon off;".into()]);
        assert!(process_matches(&full, &nginx));
    }

    #[test]
    fn this_test_process_is_listed() {
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(list_processes().iter().any(|p| p.comm == me.trim_end()));
    }

    #[test]
    fn track_file_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        assert_eq!(read_track_file(&p), 0, "missing file counts as 0");
        std::fs::write(&p, "  -7 trailing\n").unwrap();
        assert_eq!(read_track_file(&p), -7);
        std::fs::write(&p, "junk").unwrap();
        assert_eq!(read_track_file(&p), 0);
    }
}
