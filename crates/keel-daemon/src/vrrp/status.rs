//! The VRRP runtime's live state for operators: a JSON file
//! ([`state_path`]) that `keel status` reads and renders.
//!
//! The VRRP thread never serialises nor touches the file system for it.
//! Whatever an operator sees changes only through an output of the router
//! (state, priority, VIPs, notifications), a tracker, a link event or a
//! reload, and each of those marks the status dirty; adverts that change
//! nothing leave it alone, so the advert path never looks at the status.
//! Only when it is dirty, or a second went by (counters), does the runtime
//! copy a [`VrrpStatus`] (a few small strings per instance) and hand it to
//! a writer thread over a channel. The writer serialises it and replaces the
//! file atomically (temporary file + rename), coalescing snapshots that pile
//! up behind a slow disk. Adverts are sent before the snapshot is taken, so
//! they never wait on it, and a stuck file system only delays the file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keel_vrrp::instance::State;
use keel_vrrp::track::TrackState;
use serde::{Deserialize, Serialize};

use super::Runtime;
use crate::mapping::TrackSource;

/// Where the daemon writes the VRRP state by default.
pub const STATE_FILE: &str = "/run/keel/vrrp.json";
/// Environment variable overriding [`STATE_FILE`] (daemon and `keel status`).
pub const STATE_FILE_ENV: &str = "KEEL_VRRP_STATE";

/// Counters change with every advert: they are refreshed at most this often.
const REFRESH: Duration = Duration::from_secs(1);

/// The state file path: `$KEEL_VRRP_STATE`, else [`STATE_FILE`].
pub fn state_path() -> PathBuf {
    std::env::var_os(STATE_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(STATE_FILE))
}

/// The whole VRRP side of a running keel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrrpStatus {
    pub pid: u32,
    /// Unix time keel's VRRP runtime started.
    pub started: f64,
    /// Unix time of this snapshot.
    pub updated: f64,
    pub instances: Vec<InstanceStatus>,
    pub sync_groups: Vec<GroupStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    /// 2 or 3.
    pub version: u8,
    /// `MASTER`, `BACKUP`, `FAULT`, `INIT`, ...
    pub state: String,
    pub base_priority: u8,
    pub effective_priority: u8,
    pub advert_interval_ms: u64,
    /// The master's address, while BACKUP and one was heard.
    pub master_ip: Option<IpAddr>,
    /// Unix time the instance entered its current state.
    pub since: f64,
    pub vips: Vec<VipStatus>,
    /// Whether the VIPs are on their interfaces (they are while MASTER).
    pub vips_installed: bool,
    pub sync_group: Option<String>,
    pub trackers: Vec<TrackerStatus>,
    pub counters: Counters,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VipStatus {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub dev: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackerStatus {
    /// `script`, `interface`, `file` or `process`.
    pub kind: String,
    pub name: String,
    /// `ok`/`failed` for scripts, `up`/`down` for interfaces and
    /// processes, the number read for files.
    pub status: String,
    pub weight: i32,
    pub reverse: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub became_master: u64,
    pub released_master: u64,
    pub priority_zero_sent: u64,
    pub priority_zero_received: u64,
    pub send_errors: u64,
    /// Dropped adverts by reason (only reasons seen at least once).
    pub drops: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStatus {
    pub name: String,
    pub state: String,
    pub members: Vec<String>,
}

/// Why `keel status` cannot report.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// No state file, or the daemon that wrote it is gone.
    #[error("keel is not running ({0})")]
    NotRunning(String),
    #[error("state file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path}: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Whether process `pid` exists (in our pid namespace).
pub fn pid_alive(pid: u32) -> bool {
    pid != 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// Reads the state file of a running daemon: [`StatusError::NotRunning`]
/// when there is none or its writer is dead (a SIGKILLed daemon cannot
/// remove it).
pub fn read_running(path: &Path) -> Result<VrrpStatus, StatusError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StatusError::NotRunning(format!(
                "no state file {}",
                path.display()
            )));
        }
        Err(source) => {
            return Err(StatusError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let st: VrrpStatus = serde_json::from_str(&text).map_err(|source| StatusError::Format {
        path: path.to_path_buf(),
        source,
    })?;
    if !pid_alive(st.pid) {
        return Err(StatusError::NotRunning(format!(
            "pid {} in {} is dead",
            st.pid,
            path.display()
        )));
    }
    Ok(st)
}

fn fmt_duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn fmt_age(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m{:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        let s = secs as u64;
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// The operator's view: one line per instance (trackers and non-zero drop
/// counters under it), sync groups, and a summary of the load balancer when
/// `lvs` is given. `now` is Unix time.
pub fn render(st: &VrrpStatus, lvs: Option<&crate::lvs::LvsState>, now: f64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "keel pid {}, up {}", st.pid, fmt_age(now - st.started));
    for i in &st.instances {
        let master = match (i.state.as_str(), i.master_ip) {
            ("BACKUP", Some(m)) => format!(" master {m}"),
            _ => String::new(),
        };
        let vips = if i.vips.is_empty() {
            "none".to_string()
        } else {
            let list: Vec<String> = i
                .vips
                .iter()
                .map(|v| format!("{}/{}", v.addr, v.prefix_len))
                .collect();
            format!(
                "{} ({})",
                list.join(", "),
                if i.vips_installed { "set" } else { "not set" }
            )
        };
        let _ = writeln!(
            out,
            "VRRP_Instance({}) {} vrid {} v{}  {}{master}  prio {} (base {})  advert {}  VIPs {vips}  since {}",
            i.name,
            i.interface,
            i.vrid,
            i.version,
            i.state,
            i.effective_priority,
            i.base_priority,
            fmt_duration(i.advert_interval_ms),
            fmt_age(now - i.since),
        );
        for t in &i.trackers {
            let _ = writeln!(
                out,
                "  track {} {}  {}  weight {}{}",
                t.kind,
                t.name,
                t.status,
                t.weight,
                if t.reverse { " reverse" } else { "" }
            );
        }
        let drops: Vec<String> = i
            .counters
            .drops
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !drops.is_empty() {
            let _ = writeln!(out, "  drops: {}", drops.join(", "));
        }
        if i.counters.send_errors > 0 {
            let _ = writeln!(out, "  send errors: {}", i.counters.send_errors);
        }
    }
    for g in &st.sync_groups {
        let _ = writeln!(
            out,
            "VRRP_Group({}) {}  {}",
            g.name,
            g.state,
            g.members.join(", ")
        );
    }
    if let Some(l) = lvs {
        let _ = writeln!(
            out,
            "Load balancer ({}): {} virtual server{}",
            l.data_plane,
            l.virtual_servers.len(),
            if l.virtual_servers.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        if let Some(e) = &l.error {
            let _ = writeln!(out, "  error: {e}");
        }
        for vs in &l.virtual_servers {
            let up = vs.real_servers.iter().filter(|r| r.alive).count();
            let sorry = match &vs.sorry_server {
                Some(s) if s.active => format!("  sorry server {}:{} active", s.addr, s.port),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {}  {up}/{} real servers up  quorum {}{sorry}",
                vs.name,
                vs.real_servers.len(),
                if vs.quorum_up { "up" } else { "down" },
            );
        }
    }
    out
}

/// `keel status`: the rendered text, or both state files merged as JSON
/// (`{"vrrp": ..., "lvs": ...}`, `lvs` null without a running load
/// balancer).
pub fn status(vrrp_file: &Path, lvs_file: &Path, json: bool) -> Result<String, StatusError> {
    let st = read_running(vrrp_file)?;
    // A load balancer's file left by a dead daemon says nothing.
    let lvs = crate::lvs::read_state(lvs_file)
        .ok()
        .filter(|l| pid_alive(l.pid));
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            vrrp: &'a VrrpStatus,
            lvs: Option<&'a crate::lvs::LvsState>,
        }
        return serde_json::to_string_pretty(&Out {
            vrrp: &st,
            lvs: lvs.as_ref(),
        })
        .map(|s| s + "\n")
        .map_err(|source| StatusError::Format {
            path: vrrp_file.to_path_buf(),
            source,
        });
    }
    Ok(render(&st, lvs.as_ref(), unix(SystemTime::now())))
}

fn write_atomic(path: &Path, st: &VrrpStatus) -> std::io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_vec_pretty(st).map_err(std::io::Error::other)?;
    // Unique temp name, O_EXCL, no symlink followed: two daemons pointed at
    // one file never clobber each other's half-written copy.
    crate::fsutil::write_atomic(path, &text, crate::fsutil::STATE_MODE)
}

enum WriterMsg {
    Write(Box<VrrpStatus>),
    Remove,
}

fn writer_loop(path: PathBuf, rx: mpsc::Receiver<WriterMsg>) {
    let mut warned = false;
    while let Ok(msg) = rx.recv() {
        // Only the newest snapshot matters.
        let mut msg = msg;
        while let Ok(next) = rx.try_recv() {
            msg = next;
        }
        match msg {
            WriterMsg::Write(st) => match write_atomic(&path, &st) {
                Ok(()) => warned = false,
                Err(e) => {
                    if !warned {
                        tracing::warn!("cannot write VRRP state file {}: {e}", path.display());
                        warned = true;
                    }
                }
            },
            WriterMsg::Remove => {
                if let Err(e) = std::fs::remove_file(&path)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!("cannot remove {}: {e}", path.display());
                }
                return;
            }
        }
    }
}

/// The VRRP runtime's side of the state file.
pub(super) struct Publisher {
    tx: Option<mpsc::Sender<WriterMsg>>,
    writer: Option<std::thread::JoinHandle<()>>,
    started: SystemTime,
    /// Something an operator sees changed since the last snapshot.
    dirty: bool,
    last_sent: Option<std::time::Instant>,
    /// Last "receive queue full" warning (rate limited like the drops).
    last_queue_warn: Option<std::time::Instant>,
    /// State and the time it was entered, by instance.
    since: HashMap<String, (State, SystemTime)>,
    /// Instances whose VIPs were added and not removed since.
    vips_set: HashSet<String>,
}

impl Publisher {
    pub(super) fn start() -> Publisher {
        let path = state_path();
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("keel-vrrp-state".into())
            .spawn(move || writer_loop(path, rx));
        let (tx, writer) = match writer {
            Ok(h) => (Some(tx), Some(h)),
            Err(e) => {
                tracing::warn!("VRRP state file disabled: {e}");
                (None, None)
            }
        };
        Publisher {
            tx,
            writer,
            started: SystemTime::now(),
            dirty: true,
            last_sent: None,
            last_queue_warn: None,
            since: HashMap::new(),
            vips_set: HashSet::new(),
        }
    }

    /// Something an operator sees may have changed.
    pub(super) fn touch(&mut self) {
        self.dirty = true;
    }

    /// Whether a "receive queue full" warning may be logged now.
    pub(super) fn queue_drop_log_due(&mut self) -> bool {
        let due = self
            .last_queue_warn
            .is_none_or(|t| t.elapsed() >= keel_vrrp::router::DROP_LOG_EVERY);
        if due {
            self.last_queue_warn = Some(std::time::Instant::now());
        }
        due
    }

    /// Records that an instance's VIPs were added (`true`) or removed.
    pub(super) fn vips(&mut self, instance: &str, set: bool) {
        if set {
            self.vips_set.insert(instance.to_string());
        } else {
            self.vips_set.remove(instance);
        }
    }

    /// Removes the file and ends the writer; later snapshots are ignored.
    pub(super) fn stop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(WriterMsg::Remove);
        }
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn track_status(src: &TrackSource, st: Option<TrackState>) -> (&'static str, &str, String) {
    let (kind, name) = match src {
        TrackSource::Script(n) => ("script", n),
        TrackSource::Interface(n) => ("interface", n),
        TrackSource::File(n) => ("file", n),
        TrackSource::Process(n) => ("process", n),
    };
    let status = match (st, kind) {
        (None, _) => "unknown".to_string(),
        (Some(TrackState::Value(v)), _) => v.to_string(),
        (Some(TrackState::Up), "script") => "ok".to_string(),
        (Some(TrackState::Down), "script") => "failed".to_string(),
        (Some(TrackState::Up), _) => "up".to_string(),
        (Some(TrackState::Down), _) => "down".to_string(),
    };
    (kind, name, status)
}

/// Called by the runtime after each event it handled: hands a snapshot to
/// the writer when something an operator sees changed, or [`REFRESH`]
/// went by.
pub(super) fn publish(rt: &mut Runtime) {
    if rt.status.tx.is_none() {
        return;
    }
    let due = rt.status.last_sent.is_none_or(|t| t.elapsed() >= REFRESH);
    if !rt.status.dirty && !due {
        return;
    }
    let now_wall = SystemTime::now();
    for (n, ir) in &rt.insts {
        match rt.status.since.get_mut(n) {
            Some((s, t)) if *s != ir.state => {
                *s = ir.state;
                *t = now_wall;
            }
            Some(_) => {}
            None => {
                rt.status.since.insert(n.clone(), (ir.state, now_wall));
            }
        }
    }
    rt.status.since.retain(|n, _| rt.insts.contains_key(n));
    let mut names: Vec<&String> = rt.insts.keys().collect();
    names.sort();
    let snap = snapshot(rt, &names, now_wall);
    rt.status.dirty = false;
    rt.status.last_sent = Some(std::time::Instant::now());
    if let Some(tx) = &rt.status.tx
        && tx.send(WriterMsg::Write(Box::new(snap))).is_err()
    {
        rt.status.tx = None;
    }
}

/// The status as of now, whether or not it changed since the last publish.
pub(super) fn snapshot_now(rt: &Runtime) -> VrrpStatus {
    let mut names: Vec<&String> = rt.insts.keys().collect();
    names.sort();
    snapshot(rt, &names, SystemTime::now())
}

fn snapshot(rt: &Runtime, names: &[&String], now: SystemTime) -> VrrpStatus {
    let mut instances = Vec::with_capacity(names.len());
    for n in names {
        let Some(ir) = rt.insts.get(*n) else { continue };
        let inst = rt.router.instance(ir.id);
        let e = &ir.plan.engine;
        let trackers = ir
            .plan
            .tracks
            .iter()
            .map(|(id, src)| {
                let (kind, name, status) =
                    track_status(src, inst.and_then(|i| i.tracking().state(*id)));
                let cfg = e.tracks.iter().find(|c| c.id == *id);
                TrackerStatus {
                    kind: kind.to_string(),
                    name: name.to_string(),
                    status,
                    weight: cfg.map(|c| c.weight).unwrap_or(0),
                    reverse: cfg.is_some_and(|c| c.reverse),
                }
            })
            .collect();
        let s = rt.router.stats(ir.id).cloned().unwrap_or_default();
        instances.push(InstanceStatus {
            name: (*n).clone(),
            interface: ir.plan.interface.clone(),
            vrid: e.vrid,
            version: e.version.number(),
            state: ir.state.to_string(),
            base_priority: inst.map(|i| i.base_priority()).unwrap_or(e.priority),
            effective_priority: inst.map(|i| i.effective_priority()).unwrap_or(e.priority),
            advert_interval_ms: e.advert_interval.as_millis() as u64,
            // The engine remembers the last master in every state; only a
            // BACKUP has one now.
            master_ip: inst
                .and_then(|i| i.master_ip())
                .filter(|_| ir.state == State::Backup),
            since: unix(rt.status.since.get(*n).map(|(_, t)| *t).unwrap_or(now)),
            vips: ir
                .plan
                .addresses
                .iter()
                .map(|a| VipStatus {
                    addr: a.addr,
                    prefix_len: a.prefix_len,
                    dev: a.dev.clone(),
                })
                .collect(),
            vips_installed: rt.status.vips_set.contains(*n),
            sync_group: ir.plan.sync_group.clone(),
            trackers,
            counters: Counters {
                adverts_sent: s.adverts_sent,
                adverts_received: s.adverts_received,
                became_master: s.became_master,
                released_master: s.released_master,
                priority_zero_sent: s.priority_zero_sent,
                priority_zero_received: s.priority_zero_received,
                send_errors: s.send_errors,
                drops: s
                    .drops
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), *v))
                    .collect(),
            },
        });
    }
    let sync_groups = rt
        .units
        .iter()
        .filter_map(|(u, members)| {
            let g = rt.router.unit(*u)?.group_ref()?;
            Some(GroupStatus {
                name: g.name().to_string(),
                state: g.state().to_string(),
                members: members.clone(),
            })
        })
        .collect();
    VrrpStatus {
        pid: std::process::id(),
        started: unix(rt.status.started),
        updated: unix(now),
        instances,
        sync_groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VrrpStatus {
        VrrpStatus {
            pid: std::process::id(),
            started: 1000.0,
            updated: 1010.0,
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 101,
                version: 2,
                state: "BACKUP".into(),
                base_priority: 100,
                effective_priority: 95,
                advert_interval_ms: 1000,
                master_ip: Some("192.0.2.5".parse().unwrap()),
                since: 1000.0,
                vips: vec![VipStatus {
                    addr: "192.0.2.111".parse().unwrap(),
                    prefix_len: 32,
                    dev: "eth0".into(),
                }],
                vips_installed: false,
                sync_group: None,
                trackers: vec![TrackerStatus {
                    kind: "script".into(),
                    name: "chk_down".into(),
                    status: "failed".into(),
                    weight: -5,
                    reverse: false,
                }],
                counters: Counters {
                    drops: BTreeMap::from([("auth_failure".to_string(), 3)]),
                    ..Counters::default()
                },
            }],
            sync_groups: vec![],
        }
    }

    #[test]
    fn render_shows_state_priorities_master_trackers_and_drops() {
        let text = render(&sample(), None, 1012.34);
        assert!(
            text.contains(
                "VRRP_Instance(VI_1) eth0 vrid 101 v2  BACKUP master 192.0.2.5  prio 95 (base 100)  advert 1s  VIPs 192.0.2.111/32 (not set)  since 12.3s"
            ),
            "{text}"
        );
        assert!(text.contains("  track script chk_down  failed  weight -5"));
        assert!(text.contains("  drops: auth_failure 3"));
    }

    #[test]
    fn render_summarises_the_load_balancer_and_sync_groups() {
        use crate::lvs::{LvsState, RsState, SorryState, VsState};
        let rs = |name: &str, alive| RsState {
            name: name.into(),
            addr: "192.0.2.20".parse().unwrap(),
            port: 80,
            alive,
            weight: 1,
            checkers: vec![],
        };
        let lvs = LvsState {
            pid: 1,
            data_plane: "nftables".into(),
            nft_table: "keel".into(),
            updated: 1000.0,
            error: None,
            virtual_servers: vec![VsState {
                name: "[192.0.2.144]:tcp:80".into(),
                services: vec![],
                quorum_up: false,
                live_weight: 0,
                sorry_server: Some(SorryState {
                    addr: "192.0.2.30".parse().unwrap(),
                    port: 80,
                    active: true,
                }),
                real_servers: vec![rs("a", false), rs("b", false)],
            }],
        };
        let mut st = sample();
        st.sync_groups.push(GroupStatus {
            name: "G1".into(),
            state: "BACKUP".into(),
            members: vec!["VI_1".into(), "VI_2".into()],
        });
        let text = render(&st, Some(&lvs), 1010.0);
        assert!(text.contains("VRRP_Group(G1) BACKUP  VI_1, VI_2"), "{text}");
        assert!(
            text.contains("Load balancer (nftables): 1 virtual server\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  [192.0.2.144]:tcp:80  0/2 real servers up  quorum down  sorry server 192.0.2.30:80 active"
            ),
            "{text}"
        );
        assert!(!render(&st, None, 1010.0).contains("Load balancer"));
    }

    #[test]
    fn missing_file_or_dead_pid_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vrrp.json");
        assert!(matches!(
            read_running(&path),
            Err(StatusError::NotRunning(_))
        ));
        write_atomic(&path, &sample()).unwrap();
        assert_eq!(read_running(&path).unwrap(), sample());
        let mut dead = sample();
        // Above the kernel's pid_max limit (4194304): never a live pid.
        dead.pid = 4_194_305;
        write_atomic(&path, &dead).unwrap();
        assert!(matches!(
            read_running(&path),
            Err(StatusError::NotRunning(_))
        ));
    }
}
