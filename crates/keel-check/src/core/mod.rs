//! The pure checker engine: keepalived's health-check semantics with no I/O,
//! no clock and no async runtime.
//!
//! Time comes in as a [`Timestamp`] (a `Duration` since any epoch the caller
//! picks), probe outcomes come in as [`ProbeResult`]s, and everything the
//! outside world should do comes out as [`Action`]s. The desired LVS table, a
//! [`keel_lvs::Table`], is derived from the state on demand
//! ([`CheckerSet::desired_table`]).
//!
//! Semantics follow keepalived's checker side:
//! * A checker that is up fails only after `retry` further attempts spaced
//!   by `delay_before_retry`; any success resets the count. The very first
//!   check needs just one failure (keepalived starts every checker with its
//!   retries used up), and a checker already down is rechecked every
//!   `delay_loop` without retries.
//! * The first check runs after a random part of `warmup` (passed in by the
//!   caller, so tests are deterministic).
//! * `alpha` checkers start down and need a success; others start up.
//! * A real server is alive only while all its checkers are up.
//! * Per virtual server: quorum gained when the live weight sum reaches
//!   `quorum + hysteresis`, lost when it falls below `quorum - hysteresis`
//!   (or to zero); a sorry server replaces the pool while quorum is lost.
//! * `inhibit_on_failure`: a failed server stays with weight 0.
//! * MISC_CHECK `misc_dynamic`: exit 0 ok, 1 fail, n ≥ 2 ok with weight n−2.

use crate::spec::{ProbeSpec, SpecError};
use keel_config::model as cfg;
use keel_lvs::{Method, Persistence, Scheduler, ServiceKey};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

mod build;
mod engine;
mod lines;
mod table;

pub use table::desired_table;

/// A point in time: a duration since the caller's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub Duration);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(Duration::ZERO);

    pub fn from_secs_f64(s: f64) -> Timestamp {
        Timestamp(Duration::from_secs_f64(s.max(0.0)))
    }

    pub fn since_epoch(self) -> Duration {
        self.0
    }

    pub fn saturating_sub(self, earlier: Timestamp) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d))
    }
}

/// What one probe run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    /// MISC_CHECK with `misc_dynamic`: the weight asked for (exit status − 2).
    /// FILE_CHECK: the integer read from the file (0 if unreadable).
    pub weight: Option<i32>,
    /// Human-readable reason (for logs), e.g. `exited with status 1`.
    pub detail: String,
    pub elapsed: Duration,
}

impl ProbeResult {
    pub fn ok(detail: impl Into<String>) -> ProbeResult {
        ProbeResult {
            ok: true,
            weight: None,
            detail: detail.into(),
            elapsed: Duration::ZERO,
        }
    }
    pub fn fail(detail: impl Into<String>) -> ProbeResult {
        ProbeResult {
            ok: false,
            weight: None,
            detail: detail.into(),
            elapsed: Duration::ZERO,
        }
    }
    pub fn with_weight(mut self, weight: i32) -> ProbeResult {
        self.weight = Some(weight);
        self
    }
    pub fn with_elapsed(mut self, elapsed: Duration) -> ProbeResult {
        self.elapsed = elapsed;
        self
    }
}

/// Index of a real server: `vs` into the config's `virtual_servers`, `rs`
/// into that virtual server's `real_servers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RsId {
    pub vs: usize,
    pub rs: usize,
}

/// Index of a checker within its real server (config order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckerId {
    pub vs: usize,
    pub rs: usize,
    pub checker: usize,
}

impl CheckerId {
    pub fn rs_id(&self) -> RsId {
        RsId {
            vs: self.vs,
            rs: self.rs,
        }
    }
}

/// Which notify script an action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptKind {
    /// Real server `notify_up`.
    NotifyUp,
    /// Real server `notify_down`.
    NotifyDown,
    /// Virtual server `quorum_up`.
    QuorumUp,
    /// Virtual server `quorum_down`.
    QuorumDown,
}

/// What the engine asks the outside world to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The real server became alive (all checkers pass).
    RealServerUp {
        vs: usize,
        rs: usize,
    },
    /// The real server failed.
    RealServerDown {
        vs: usize,
        rs: usize,
    },
    /// The real server's weight in the table changed (misc_dynamic,
    /// FILE_CHECK weights).
    SetWeight {
        vs: usize,
        rs: usize,
        weight: u32,
    },
    QuorumUp {
        vs: usize,
    },
    QuorumDown {
        vs: usize,
    },
    /// The sorry server replaced the pool.
    SorryServerIn {
        vs: usize,
    },
    /// The pool replaced the sorry server.
    SorryServerOut {
        vs: usize,
    },
    /// Run a notify script (`rs` is `None` for quorum scripts).
    RunScript {
        kind: ScriptKind,
        vs: usize,
        rs: Option<usize>,
        script: cfg::Script,
    },
    /// A line for the log, worded like keepalived's.
    Log(String),
    /// [`CheckerSet::desired_table`] differs from what it was before this
    /// batch of actions; always the last action of its batch.
    TableChanged,
}

/// Errors building a [`CheckerSet`] from a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("virtual server {vs}, real server {rs}, checker {checker}: {source}")]
    Checker {
        vs: String,
        rs: String,
        checker: String,
        source: SpecError,
    },
    #[error("virtual server group '{0}' is not defined")]
    UnknownGroup(String),
}

/// What the engine needs from the host it runs on, passed in so the core
/// never reads the system itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The local host name: SMTP_CHECK's `HELO` when neither the checker
    /// nor `global_defs` names one (keepalived's default).
    pub hostname: String,
}

impl Default for Host {
    fn default() -> Host {
        Host {
            hostname: "localhost".to_string(),
        }
    }
}

/// How FILE_CHECK turns the file's value into state and weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    Misc { dynamic: bool },
    File { weight: i64, reverse: bool },
    External,
}

/// FILE_CHECK is driven by a file's content, re-read this often.
pub const FILE_POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct CheckerState {
    kind: &'static str,
    spec: ProbeSpec,
    role: Role,
    retry: u32,
    delay_before_retry: Duration,
    delay_loop: Duration,
    warmup: Duration,
    alpha: bool,
    is_up: bool,
    has_run: bool,
    retry_it: u32,
    next: Option<Timestamp>,
    in_flight: bool,
    /// This checker's contribution to the real server's effective weight.
    cur_weight: i64,
}

#[derive(Debug, Clone)]
struct RsState {
    addr: IpAddr,
    port: u16,
    label: String,
    iweight: i64,
    method: Method,
    inhibit: bool,
    uthreshold: u32,
    lthreshold: u32,
    notify_up: Option<cfg::Script>,
    notify_down: Option<cfg::Script>,
    alive: bool,
    checkers: Vec<CheckerState>,
}

impl RsState {
    fn effective_weight(&self) -> i64 {
        self.iweight + self.checkers.iter().map(|c| c.cur_weight).sum::<i64>()
    }
    fn num_failed(&self) -> usize {
        self.checkers.iter().filter(|c| !c.is_up).count()
    }
}

#[derive(Debug, Clone)]
struct SorryState {
    addr: IpAddr,
    port: u16,
    label: String,
    inhibit: bool,
    method: Method,
    alive: bool,
}

#[derive(Debug, Clone)]
struct VsState {
    keys: Vec<ServiceKey>,
    label: String,
    scheduler: Scheduler,
    persistence: Option<Persistence>,
    quorum: i64,
    hysteresis: i64,
    quorum_up_script: Option<cfg::Script>,
    quorum_down_script: Option<cfg::Script>,
    omega: bool,
    sorry: Option<SorryState>,
    quorum_state_up: bool,
    rss: Vec<RsState>,
}

/// keepalived clamps effective weights into IPVS's range.
fn real_weight(w: i64) -> u32 {
    w.clamp(0, i32::MAX as i64) as u32
}

impl VsState {
    fn live_weight(&self) -> i64 {
        self.rss
            .iter()
            .filter(|r| r.alive)
            .map(|r| real_weight(r.effective_weight()) as i64)
            .sum()
    }
    fn sorry_active(&self) -> bool {
        self.sorry.as_ref().is_some_and(|s| s.alive)
    }
    /// keepalived changes the pool only with quorum or without an active
    /// sorry server.
    fn pool_in_use(&self) -> bool {
        self.quorum_state_up || !self.sorry_active()
    }
}

/// The whole checker state: every virtual server, real server and checker.
#[derive(Debug, Clone)]
pub struct CheckerSet {
    vss: Vec<VsState>,
    queue: BTreeSet<(Timestamp, CheckerId)>,
    started: bool,
    stopped: bool,
    log_all_failures: bool,
}

impl CheckerSet {
    fn checker_mut(&mut self, id: CheckerId) -> Option<&mut CheckerState> {
        self.vss
            .get_mut(id.vs)?
            .rss
            .get_mut(id.rs)?
            .checkers
            .get_mut(id.checker)
    }

    fn checker(&self, id: CheckerId) -> Option<&CheckerState> {
        self.vss
            .get(id.vs)?
            .rss
            .get(id.rs)?
            .checkers
            .get(id.checker)
    }

    /// What the probe of this checker must do.
    pub fn probe_spec(&self, id: CheckerId) -> Option<&ProbeSpec> {
        self.checker(id).map(|c| &c.spec)
    }

    /// The data-plane services virtual server `vs` stands for (a
    /// `virtual_server_group` expands to several), whatever its health.
    pub fn service_keys(&self, vs: usize) -> &[ServiceKey] {
        self.vss.get(vs).map_or(&[], |v| v.keys.as_slice())
    }

    /// keepalived's block name of the checker (`HTTP_GET`, ...).
    pub fn checker_kind(&self, id: CheckerId) -> Option<&'static str> {
        self.checker(id).map(|c| c.kind)
    }

    /// Every checker, in config order.
    pub fn checker_ids(&self) -> Vec<CheckerId> {
        let mut ids = Vec::new();
        for (v, vs) in self.vss.iter().enumerate() {
            for (r, rs) in vs.rss.iter().enumerate() {
                for c in 0..rs.checkers.len() {
                    ids.push(CheckerId {
                        vs: v,
                        rs: r,
                        checker: c,
                    });
                }
            }
        }
        ids
    }

    pub fn virtual_server_count(&self) -> usize {
        self.vss.len()
    }

    pub fn real_server_count(&self, vs: usize) -> usize {
        self.vss.get(vs).map_or(0, |v| v.rss.len())
    }

    /// keepalived's name of a virtual server (`[192.0.2.1]:tcp:80`).
    pub fn vs_label(&self, vs: usize) -> Option<&str> {
        self.vss.get(vs).map(|v| v.label.as_str())
    }

    /// keepalived's name of a real server (`[192.0.2.11]:tcp:80`).
    pub fn rs_label(&self, id: RsId) -> Option<&str> {
        self.vss
            .get(id.vs)?
            .rss
            .get(id.rs)
            .map(|r| r.label.as_str())
    }

    pub fn rs_alive(&self, id: RsId) -> Option<bool> {
        Some(self.vss.get(id.vs)?.rss.get(id.rs)?.alive)
    }

    /// The weight the real server would have in the table when alive.
    pub fn rs_weight(&self, id: RsId) -> Option<u32> {
        Some(real_weight(
            self.vss.get(id.vs)?.rss.get(id.rs)?.effective_weight(),
        ))
    }

    pub fn checker_up(&self, id: CheckerId) -> Option<bool> {
        self.checker(id).map(|c| c.is_up)
    }

    pub fn quorum_up(&self, vs: usize) -> Option<bool> {
        self.vss.get(vs).map(|v| v.quorum_state_up)
    }

    pub fn sorry_server_active(&self, vs: usize) -> Option<bool> {
        self.vss.get(vs).map(|v| v.sorry_active())
    }

    /// Live weight sum of a virtual server (what quorum compares).
    pub fn live_weight(&self, vs: usize) -> Option<i64> {
        self.vss.get(vs).map(|v| v.live_weight())
    }
}
