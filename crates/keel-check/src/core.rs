//! The pure checker engine: keepalived's health-check semantics with no I/O,
//! no clock and no async runtime.
//!
//! Time comes in as a [`Timestamp`] (a `Duration` since any epoch the caller
//! picks), probe outcomes come in as [`ProbeResult`]s, and everything the
//! outside world should do comes out as [`Action`]s. The desired LVS table is
//! derived from the state on demand ([`CheckerSet::desired_table`]).
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

use crate::spec::{self, ProbeSpec, SpecError};
use crate::table::{
    Destination, Family, ForwardMethod, Granularity, Persistence, Protocol, SchedFlags, ServiceKey,
    TunnelChecksum, TunnelType, VirtualService,
};
use keel_config::model as cfg;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

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
    method: ForwardMethod,
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
    method: ForwardMethod,
    alive: bool,
}

#[derive(Debug, Clone)]
struct VsState {
    keys: Vec<ServiceKey>,
    label: String,
    sched: String,
    flags: SchedFlags,
    persistence: Option<Persistence>,
    method: ForwardMethod,
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

fn forward_method(m: &cfg::LvsMethod) -> ForwardMethod {
    match m {
        cfg::LvsMethod::Nat => ForwardMethod::Nat,
        cfg::LvsMethod::Dr => ForwardMethod::Dr,
        cfg::LvsMethod::Tun {
            tunnel_type,
            port,
            checksum,
        } => ForwardMethod::Tun {
            tunnel: match tunnel_type {
                cfg::TunnelType::Ipip => TunnelType::Ipip,
                cfg::TunnelType::Gre => TunnelType::Gre,
                cfg::TunnelType::Gue => TunnelType::Gue {
                    port: port.unwrap_or(0),
                },
            },
            checksum: match checksum {
                None | Some(cfg::TunnelChecksum::Nocsum) => TunnelChecksum::None,
                Some(cfg::TunnelChecksum::Csum) => TunnelChecksum::Csum,
                Some(cfg::TunnelChecksum::Remcsum) => TunnelChecksum::RemCsum,
            },
        },
    }
}

fn protocol(p: Option<cfg::Protocol>) -> Protocol {
    match p {
        Some(cfg::Protocol::Tcp) => Protocol::Tcp,
        Some(cfg::Protocol::Sctp) => Protocol::Sctp,
        // keepalived's default for an address service without `protocol`.
        Some(cfg::Protocol::Udp) | None => Protocol::Udp,
    }
}

fn family_of(f: Option<cfg::AddressFamily>) -> Family {
    match f {
        Some(cfg::AddressFamily::Inet6) => Family::Inet6,
        _ => Family::Inet,
    }
}

fn granularity(text: &str) -> Option<Granularity> {
    if let Ok(mask) = text.parse::<std::net::Ipv4Addr>() {
        return Some(Granularity::V4Mask(mask));
    }
    text.trim_start_matches('/')
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= 128)
        .map(Granularity::V6Prefix)
}

/// Upper bound on addresses one group range expands to, so a typo such as
/// `10.0.0.0/8` cannot make a table of millions of services.
const MAX_GROUP_RANGE: u128 = 65_536;

fn expand_range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || (b - a) as u128 >= MAX_GROUP_RANGE {
                return vec![first];
            }
            (a..=b)
                .map(|x| IpAddr::V4(std::net::Ipv4Addr::from(x)))
                .collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            if b < a || b - a >= MAX_GROUP_RANGE {
                return vec![first];
            }
            (a..=b)
                .map(|x| IpAddr::V6(std::net::Ipv6Addr::from(x)))
                .collect()
        }
        _ => vec![first],
    }
}

fn rs_label(addr: IpAddr, proto: Option<Protocol>, port: u16) -> String {
    let p = proto.map(|p| p.as_str()).unwrap_or("none");
    format!("[{addr}]:{p}:{port}")
}

impl CheckerSet {
    /// Builds the engine from a parsed configuration. Nothing is scheduled
    /// until [`CheckerSet::start`].
    pub fn from_config(config: &cfg::Config) -> Result<CheckerSet, BuildError> {
        let mut vss = Vec::with_capacity(config.virtual_servers.len());
        for vs in &config.virtual_servers {
            vss.push(Self::build_vs(config, vs)?);
        }
        Ok(CheckerSet {
            vss,
            queue: BTreeSet::new(),
            started: false,
            stopped: false,
            log_all_failures: config.global_defs.checker_log_all_failures,
        })
    }

    fn build_vs(config: &cfg::Config, vs: &cfg::VirtualServer) -> Result<VsState, BuildError> {
        let (keys, label, vs_port, proto) = match &vs.address {
            cfg::VsAddress::Ip { address, port } => {
                let p = protocol(vs.protocol);
                let key = ServiceKey::Addr {
                    addr: *address,
                    port: *port,
                    protocol: p,
                };
                (vec![key], key.to_string(), *port, Some(p))
            }
            cfg::VsAddress::Fwmark { mark } => {
                let key = ServiceKey::Fwmark {
                    mark: *mark,
                    family: family_of(vs.ip_family),
                };
                (vec![key], key.to_string(), 0, None)
            }
            cfg::VsAddress::Group { name } => {
                let group = config
                    .virtual_server_group(name)
                    .ok_or_else(|| BuildError::UnknownGroup(name.clone()))?;
                let p = protocol(vs.protocol);
                let mut keys = Vec::new();
                let mut port0 = 0;
                for e in &group.entries {
                    match e {
                        cfg::VsgEntry::Range { first, last, port } => {
                            let port = port.unwrap_or(0);
                            if port0 == 0 {
                                port0 = port;
                            }
                            for addr in expand_range(*first, *last) {
                                keys.push(ServiceKey::Addr {
                                    addr,
                                    port,
                                    protocol: p,
                                });
                            }
                        }
                        cfg::VsgEntry::Fwmark { mark, family } => keys.push(ServiceKey::Fwmark {
                            mark: *mark,
                            family: family
                                .map(|f| family_of(Some(f)))
                                .unwrap_or(family_of(vs.ip_family)),
                        }),
                    }
                }
                (keys, format!("[{name}]:{port0}"), port0, Some(p))
            }
        };
        let method = forward_method(&vs.lvs_method);
        let mut rss = Vec::with_capacity(vs.real_servers.len());
        for rs in &vs.real_servers {
            let port = rs.port.unwrap_or(vs_port);
            let rlabel = rs_label(rs.address, proto, port);
            let ctx = spec::Ctx {
                rs_addr: rs.address,
                rs_port: port,
                rs_vhost: rs.virtualhost.as_deref(),
                vs_vhost: vs.virtualhost.as_deref(),
                track_files: &config.track_files,
                smtp_helo: config.global_defs.smtp_helo_name.as_deref(),
            };
            let rs_alpha = rs.alpha.unwrap_or(vs.alpha);
            let mut checkers = Vec::with_capacity(rs.checkers.len());
            for c in &rs.checkers {
                let spec = spec::build(c, &ctx).map_err(|source| BuildError::Checker {
                    vs: label.clone(),
                    rs: rlabel.clone(),
                    checker: c.kind().to_string(),
                    source,
                })?;
                checkers.push(Self::build_checker(config, c, spec, rs_alpha));
            }
            rss.push(RsState {
                addr: rs.address,
                port,
                label: rlabel,
                iweight: rs.weight as i64,
                method: rs.lvs_method.as_ref().map(forward_method).unwrap_or(method),
                inhibit: rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
                uthreshold: rs.uthreshold.unwrap_or(0),
                lthreshold: rs.lthreshold.unwrap_or(0),
                notify_up: rs.notify_up.clone(),
                notify_down: rs.notify_down.clone(),
                alive: false,
                checkers,
            });
        }
        let sorry = vs.sorry_server.as_ref().map(|s| {
            let port = s.port.unwrap_or(vs_port);
            SorryState {
                addr: s.address,
                port,
                label: rs_label(s.address, proto, port),
                inhibit: s.inhibit,
                method: s.lvs_method.as_ref().map(forward_method).unwrap_or(method),
                alive: false,
            }
        });
        let persistence = vs.persistence_timeout.map(|timeout| Persistence {
            timeout,
            granularity: vs.persistence_granularity.as_deref().and_then(granularity),
            engine: vs.persistence_engine.clone(),
        });
        Ok(VsState {
            keys,
            label,
            sched: vs.lvs_sched.clone(),
            flags: SchedFlags {
                flag_1: vs.sched_flags.flag_1,
                flag_2: vs.sched_flags.flag_2,
                flag_3: vs.sched_flags.flag_3,
                ops: vs.sched_flags.ops,
                hashed: vs.sched_flags.hashed,
            },
            persistence,
            method,
            quorum: vs.quorum as i64,
            hysteresis: vs.hysteresis as i64,
            quorum_up_script: vs.quorum_up.clone(),
            quorum_down_script: vs.quorum_down.clone(),
            omega: vs.omega,
            sorry,
            quorum_state_up: false,
            rss,
        })
    }

    fn build_checker(
        config: &cfg::Config,
        c: &cfg::Checker,
        spec: ProbeSpec,
        rs_alpha: bool,
    ) -> CheckerState {
        let role = match c {
            cfg::Checker::Misc { misc, .. } => Role::Misc {
                dynamic: misc.misc_dynamic,
            },
            cfg::Checker::File { file } => {
                let tf = config
                    .track_files
                    .iter()
                    .find(|t| t.name == file.track_file);
                match (file.weight, tf) {
                    (Some(w), _) => Role::File {
                        weight: w,
                        reverse: file.reverse,
                    },
                    (None, Some(t)) => Role::File {
                        weight: t.weight,
                        reverse: t.reverse,
                    },
                    (None, None) => Role::File {
                        weight: 0,
                        reverse: false,
                    },
                }
            }
            cfg::Checker::Bfd { .. } => Role::External,
            _ => Role::Plain,
        };
        let (retry, dbr, delay_loop, warmup, alpha) = match c.common() {
            Some(k) => (
                k.retry,
                k.delay_before_retry,
                k.delay_loop,
                k.warmup,
                k.alpha.unwrap_or(rs_alpha),
            ),
            // FILE_CHECK knows its state at once; keepalived clears alpha.
            None => (
                0,
                FILE_POLL_INTERVAL,
                FILE_POLL_INTERVAL,
                Duration::ZERO,
                match c {
                    cfg::Checker::Bfd { bfd } => bfd.alpha.unwrap_or(rs_alpha),
                    _ => false,
                },
            ),
        };
        CheckerState {
            kind: c.kind(),
            spec,
            role,
            retry,
            delay_before_retry: dbr,
            delay_loop,
            warmup,
            alpha,
            is_up: !alpha,
            has_run: false,
            // keepalived: one failure is enough before the first success.
            retry_it: retry,
            next: None,
            in_flight: false,
            cur_weight: 0,
        }
    }

    /// Puts the initial pool in place and schedules every checker's first
    /// run at `now + offset`, where `offset(id, warmup)` returns a delay in
    /// `0..=warmup` (random in production, fixed in tests).
    ///
    /// Real servers without alpha checkers start alive; quorum is then
    /// evaluated once (this is where a sorry server goes in at start).
    pub fn start(
        &mut self,
        now: Timestamp,
        mut offset: impl FnMut(CheckerId, Duration) -> Duration,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if self.started {
            return out;
        }
        self.started = true;
        for (v, vs) in self.vss.iter_mut().enumerate() {
            for (r, rs) in vs.rss.iter_mut().enumerate() {
                for (c, ck) in rs.checkers.iter_mut().enumerate() {
                    if ck.role == Role::External {
                        continue;
                    }
                    out.push(Action::Log(format!(
                        "Activating healthchecker for service {} for VS {}",
                        rs.label, vs.label
                    )));
                    let id = CheckerId {
                        vs: v,
                        rs: r,
                        checker: c,
                    };
                    let off = offset(id, ck.warmup).min(ck.warmup);
                    let at = now + off;
                    ck.next = Some(at);
                    self.queue.insert((at, id));
                }
                rs.alive = rs.num_failed() == 0;
            }
        }
        for v in 0..self.vss.len() {
            self.update_quorum_state(v, true, &mut out);
        }
        out.push(Action::TableChanged);
        out
    }

    /// When the next checker is due, if any.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// Takes every checker due at `now` off the schedule (it is now "in
    /// flight" until its [`CheckerSet::on_result`]).
    pub fn take_due(&mut self, now: Timestamp) -> Vec<CheckerId> {
        let mut due = Vec::new();
        while let Some(&(t, id)) = self.queue.first() {
            if t > now {
                break;
            }
            self.queue.pop_first();
            if let Some(ck) = self.checker_mut(id) {
                ck.next = None;
                ck.in_flight = true;
                due.push(id);
            }
        }
        due
    }

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

    /// Feeds one probe outcome in and reschedules the checker. Results for
    /// unknown ids, or after [`CheckerSet::shutdown`], are ignored.
    pub fn on_result(
        &mut self,
        id: CheckerId,
        result: &ProbeResult,
        now: Timestamp,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        let Some(ck) = self.checker_mut(id) else {
            return out;
        };
        ck.in_flight = false;
        let role = ck.role;
        let next_delay = match role {
            Role::File { weight, reverse } => {
                self.file_result(id, result, weight, reverse, &mut out)
            }
            Role::External => {
                self.set_checker_outcome(id, result.ok, &mut out);
                None
            }
            Role::Plain | Role::Misc { .. } => Some(self.plain_result(id, result, role, &mut out)),
        };
        if let Some(delay) = next_delay
            && let Some(ck) = self.checker_mut(id)
        {
            let at = now + delay;
            ck.next = Some(at);
            self.queue.insert((at, id));
        }
        if out
            .iter()
            .any(|a| !matches!(a, Action::Log(_) | Action::RunScript { .. }))
        {
            out.push(Action::TableChanged);
        }
        out
    }

    /// External (BFD) checkers: the state is simply what we are told.
    fn set_checker_outcome(&mut self, id: CheckerId, up: bool, out: &mut Vec<Action>) {
        self.update_svr_checker_state(id, up, out);
    }

    fn plain_result(
        &mut self,
        id: CheckerId,
        result: &ProbeResult,
        role: Role,
        out: &mut Vec<Action>,
    ) -> Duration {
        let log_all = self.log_all_failures;
        let vs_label = self.vss[id.vs].label.clone();
        let rs_label = self.vss[id.vs].rss[id.rs].label.clone();
        let iweight = self.vss[id.vs].rss[id.rs].iweight;
        let ck = &mut self.vss[id.vs].rss[id.rs].checkers[id.checker];
        let success = result.ok;

        // misc_dynamic: a successful exit sets the weight (exit 0 restores
        // the configured one).
        let mut new_cur_weight = None;
        if let Role::Misc { dynamic } = role
            && success
        {
            let cur = match (dynamic, result.weight) {
                (true, Some(w)) => w as i64 - iweight,
                _ => 0,
            };
            if cur != ck.cur_weight {
                new_cur_weight = Some(cur);
            }
        }

        let mut delay = ck.delay_loop;
        let mut transition = None;
        if success || ((ck.is_up || !ck.has_run) && ck.retry_it >= ck.retry) {
            let after_retries = ck.has_run && ck.retry > 0;
            ck.retry_it = 0;
            if success && (!ck.is_up || !ck.has_run) {
                out.push(Action::Log(success_line(ck, &rs_label, &vs_label)));
                transition = Some(true);
            } else if !success && (ck.is_up || !ck.has_run) {
                out.push(Action::Log(failure_line(
                    ck,
                    &rs_label,
                    &vs_label,
                    after_retries,
                    &result.detail,
                )));
                transition = Some(false);
            }
        } else if ck.is_up {
            delay = ck.delay_before_retry;
            ck.retry_it += 1;
            if log_all {
                out.push(Action::Log(format!(
                    "{} on service {} failed ({}), retry {}/{}.",
                    ck.kind, rs_label, result.detail, ck.retry_it, ck.retry
                )));
            }
        }

        if let Some(cur) = new_cur_weight {
            self.set_cur_weight(id, cur, out);
        }
        if let Some(up) = transition {
            if !up {
                // A failed misc checker gives its dynamic weight back.
                self.vss[id.vs].rss[id.rs].checkers[id.checker].cur_weight = 0;
            }
            self.update_svr_checker_state(id, up, out);
        }
        let ck = &mut self.vss[id.vs].rss[id.rs].checkers[id.checker];
        ck.has_run = true;
        delay
    }

    fn file_result(
        &mut self,
        id: CheckerId,
        result: &ProbeResult,
        weight: i64,
        reverse: bool,
        out: &mut Vec<Action>,
    ) -> Option<Duration> {
        let value = result.weight.unwrap_or(0) as i64;
        let mult = if reverse { -1 } else { 1 };
        let (up, cur) = if weight == 0 {
            (value == 0, 0)
        } else {
            let prod = value.saturating_mul(weight).saturating_mul(mult);
            // keepalived's IPVS_WEIGHT_FAULT: this low means "failed".
            if prod <= i32::MIN as i64 {
                (false, 0)
            } else {
                (true, prod)
            }
        };
        let rs_label = self.vss[id.vs].rss[id.rs].label.clone();
        let vs_label = self.vss[id.vs].label.clone();
        let ck = &self.vss[id.vs].rss[id.rs].checkers[id.checker];
        let delay = ck.delay_loop;
        if up != ck.is_up || (!ck.has_run && !up) {
            out.push(Action::Log(format!(
                "FILE_CHECK for service {rs_label} of VS {vs_label} {} (value {value}).",
                if up { "succeeded" } else { "failed" }
            )));
        }
        if cur != ck.cur_weight {
            self.set_cur_weight(id, cur, out);
        }
        self.update_svr_checker_state(id, up, out);
        Some(delay)
    }

    /// keepalived's update_svr_checker_state: the real server changes only
    /// when its first checker fails or its last failed checker recovers.
    fn update_svr_checker_state(&mut self, id: CheckerId, alive: bool, out: &mut Vec<Action>) {
        let rs = &mut self.vss[id.vs].rss[id.rs];
        let ck = &mut rs.checkers[id.checker];
        if ck.is_up == alive {
            if !ck.has_run {
                ck.has_run = true;
                if ck.alpha || !alive {
                    let alive_now = rs.alive;
                    self.rs_notify(id.rs_id(), alive_now, out);
                }
            }
            return;
        }
        ck.has_run = true;
        let failed = rs.num_failed();
        if alive {
            if failed <= 1 {
                self.perform_svr_state(id.rs_id(), true, out);
            }
        } else if failed == 0 {
            self.perform_svr_state(id.rs_id(), false, out);
        }
        self.vss[id.vs].rss[id.rs].checkers[id.checker].is_up = alive;
    }

    fn rs_notify(&self, id: RsId, alive: bool, out: &mut Vec<Action>) {
        let rs = &self.vss[id.vs].rss[id.rs];
        let (kind, script) = if alive {
            (ScriptKind::NotifyUp, &rs.notify_up)
        } else {
            (ScriptKind::NotifyDown, &rs.notify_down)
        };
        if let Some(script) = script {
            out.push(Action::RunScript {
                kind,
                vs: id.vs,
                rs: Some(id.rs),
                script: script.clone(),
            });
        }
    }

    fn perform_svr_state(&mut self, id: RsId, alive: bool, out: &mut Vec<Action>) {
        let vs = &mut self.vss[id.vs];
        let rs = &mut vs.rss[id.rs];
        if rs.alive == alive {
            return;
        }
        let (verb, prep) = match (alive, rs.inhibit) {
            (true, true) => ("Enabling", "of"),
            (true, false) => ("Adding", "to"),
            (false, true) => ("Disabling", "of"),
            (false, false) => ("Removing", "from"),
        };
        out.push(Action::Log(format!(
            "{verb} service {} {prep} VS {}",
            rs.label, vs.label
        )));
        rs.alive = alive;
        out.push(if alive {
            Action::RealServerUp {
                vs: id.vs,
                rs: id.rs,
            }
        } else {
            Action::RealServerDown {
                vs: id.vs,
                rs: id.rs,
            }
        });
        self.rs_notify(id, alive, out);
        self.update_quorum_state(id.vs, false, out);
    }

    fn set_cur_weight(&mut self, id: CheckerId, cur: i64, out: &mut Vec<Action>) {
        let vs = &mut self.vss[id.vs];
        let pool_in_use = vs.pool_in_use();
        let rs = &mut vs.rss[id.rs];
        let old = real_weight(rs.effective_weight());
        rs.checkers[id.checker].cur_weight = cur;
        let new = real_weight(rs.effective_weight());
        if old == new {
            return;
        }
        out.push(Action::Log(format!(
            "Changing weight from {old} to {new} for {}active service {} of VS {}",
            if rs.alive { "" } else { "in" },
            rs.label,
            vs.label
        )));
        if rs.alive && pool_in_use {
            out.push(Action::SetWeight {
                vs: id.vs,
                rs: id.rs,
                weight: new,
            });
        }
        self.update_quorum_state(id.vs, false, out);
    }

    fn update_quorum_state(&mut self, v: usize, init: bool, out: &mut Vec<Action>) {
        let vs = &mut self.vss[v];
        let sum = vs.live_weight();
        let threshold = if vs.quorum_state_up {
            vs.quorum - vs.hysteresis
        } else {
            vs.quorum + vs.hysteresis
        };
        if !vs.quorum_state_up && sum >= threshold {
            vs.quorum_state_up = true;
            out.push(Action::Log(format!(
                "Gained quorum {}+{}={threshold} <= {sum} for VS {}",
                vs.quorum, vs.hysteresis, vs.label
            )));
            if let Some(s) = vs.sorry.as_mut()
                && s.alive
            {
                out.push(Action::Log(format!(
                    "{} sorry server {} from VS {}",
                    if s.inhibit { "Disabling" } else { "Removing" },
                    s.label,
                    vs.label
                )));
                s.alive = false;
                out.push(Action::Log(format!(
                    "Adding alive servers to the pool for VS {}",
                    vs.label
                )));
                out.push(Action::SorryServerOut { vs: v });
            }
            out.push(Action::QuorumUp { vs: v });
            if let Some(script) = &vs.quorum_up_script {
                out.push(Action::RunScript {
                    kind: ScriptKind::QuorumUp,
                    vs: v,
                    rs: None,
                    script: script.clone(),
                });
            }
        } else if (vs.quorum_state_up && (sum == 0 || sum < threshold))
            || (init && !vs.quorum_state_up && vs.sorry.as_ref().is_some_and(|s| !s.alive))
        {
            vs.quorum_state_up = false;
            out.push(Action::Log(format!(
                "{} {}-{}={threshold} > {sum} for VS {}",
                if init {
                    "Starting with quorum down"
                } else {
                    "Lost quorum"
                },
                vs.quorum,
                vs.hysteresis,
                vs.label
            )));
            if let Some(s) = vs.sorry.as_mut()
                && !s.alive
            {
                out.push(Action::Log(format!(
                    "{} sorry server {} to VS {}",
                    if s.inhibit { "Enabling" } else { "Adding" },
                    s.label,
                    vs.label
                )));
                out.push(Action::Log(format!(
                    "Removing alive servers from the pool for VS {}",
                    vs.label
                )));
                s.alive = true;
                out.push(Action::SorryServerIn { vs: v });
            }
            out.push(Action::QuorumDown { vs: v });
            if let Some(script) = &vs.quorum_down_script {
                out.push(Action::RunScript {
                    kind: ScriptKind::QuorumDown,
                    vs: v,
                    rs: None,
                    script: script.clone(),
                });
            }
        }
    }

    /// Stops everything: the table becomes empty, checkers are no longer
    /// scheduled. With `omega`, the real servers' `notify_down` and the
    /// virtual server's `quorum_down` scripts run, as keepalived does.
    pub fn shutdown(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        self.stopped = true;
        self.queue.clear();
        for (v, vs) in self.vss.iter_mut().enumerate() {
            for (r, rs) in vs.rss.iter_mut().enumerate() {
                if rs.alive || rs.inhibit {
                    out.push(Action::Log(format!(
                        "Shutting down service {} from VS {}",
                        rs.label, vs.label
                    )));
                }
                if rs.alive {
                    rs.alive = false;
                    if vs.omega {
                        out.push(Action::RealServerDown { vs: v, rs: r });
                        if let Some(script) = &rs.notify_down {
                            out.push(Action::RunScript {
                                kind: ScriptKind::NotifyDown,
                                vs: v,
                                rs: Some(r),
                                script: script.clone(),
                            });
                        }
                    }
                }
                for ck in &mut rs.checkers {
                    ck.next = None;
                }
            }
            if let Some(s) = vs.sorry.as_mut() {
                s.alive = false;
            }
            vs.quorum_state_up = false;
            if vs.omega {
                out.push(Action::QuorumDown { vs: v });
                if let Some(script) = &vs.quorum_down_script {
                    out.push(Action::RunScript {
                        kind: ScriptKind::QuorumDown,
                        vs: v,
                        rs: None,
                        script: script.clone(),
                    });
                }
            }
        }
        out.push(Action::TableChanged);
        out
    }

    /// The LVS table the data plane should hold now: one entry per service
    /// key (a virtual_server_group expands to several), destinations sorted.
    pub fn desired_table(&self) -> Vec<VirtualService> {
        if self.stopped || !self.started {
            return Vec::new();
        }
        let mut table = Vec::new();
        for vs in &self.vss {
            let mut dests = Vec::new();
            let sorry_active = vs.sorry_active();
            for rs in &vs.rss {
                let weight = if rs.alive && !sorry_active {
                    Some(real_weight(rs.effective_weight()))
                } else if rs.inhibit {
                    Some(0)
                } else {
                    None
                };
                if let Some(weight) = weight {
                    dests.push(Destination {
                        addr: rs.addr,
                        port: rs.port,
                        weight,
                        method: rs.method,
                        upper_threshold: rs.uthreshold,
                        lower_threshold: rs.lthreshold,
                    });
                }
            }
            if let Some(s) = &vs.sorry {
                let weight = if s.alive {
                    Some(1)
                } else if s.inhibit {
                    Some(0)
                } else {
                    None
                };
                // A sorry server that is also a real server keeps the real
                // server's entry.
                if let Some(weight) = weight
                    && !dests.iter().any(|d| d.addr == s.addr && d.port == s.port)
                {
                    dests.push(Destination {
                        addr: s.addr,
                        port: s.port,
                        weight,
                        method: s.method,
                        upper_threshold: 0,
                        lower_threshold: 0,
                    });
                }
            }
            dests.sort_by_key(|a| (a.addr, a.port));
            for key in &vs.keys {
                table.push(VirtualService {
                    key: *key,
                    sched: vs.sched.clone(),
                    flags: vs.flags,
                    persistence: vs.persistence.clone(),
                    method: vs.method,
                    destinations: dests.clone(),
                });
            }
        }
        table
    }
}

/// Free-function form of [`CheckerSet::desired_table`].
pub fn desired_table(set: &CheckerSet) -> Vec<VirtualService> {
    set.desired_table()
}

fn success_line(ck: &CheckerState, rs: &str, vs: &str) -> String {
    match ck.kind {
        "HTTP_GET" | "SSL_GET" => format!("Remote Web server {rs} succeed on service."),
        "TCP_CHECK" => format!("TCP connection to {rs} success."),
        "SMTP_CHECK" => format!("Remote SMTP server {rs} succeed on service."),
        "DNS_CHECK" => format!("DNS_CHECK ({rs}) succeed on service."),
        "UDP_CHECK" => format!("UDP connection to {rs} success."),
        "PING_CHECK" => format!("ICMP connection to {rs} success."),
        "MISC_CHECK" => format!(
            "Misc check for [{rs} VS {vs}] by [{}] succeeded.",
            misc_program(&ck.spec)
        ),
        other => format!("{other} on service {rs} succeeded."),
    }
}

fn failure_line(
    ck: &CheckerState,
    rs: &str,
    vs: &str,
    after_retries: bool,
    detail: &str,
) -> String {
    let n = ck.retry;
    let retries = if n == 1 { "retry" } else { "retries" };
    match ck.kind {
        "HTTP_GET" | "SSL_GET" | "TCP_CHECK" | "UDP_CHECK" | "SMTP_CHECK" => {
            let name = match ck.kind {
                "HTTP_GET" => "HTTP_CHECK",
                "SSL_GET" => "SSL_CHECK",
                k => k,
            };
            if after_retries {
                format!("{name} on service {rs} failed after {n} retries.")
            } else {
                format!("{name} on service {rs} failed.")
            }
        }
        "DNS_CHECK" => {
            if after_retries {
                format!("DNS_CHECK ({rs}) {detail} after {n} retries")
            } else {
                format!("DNS_CHECK ({rs}) {detail}")
            }
        }
        "PING_CHECK" => {
            if after_retries {
                format!("ICMP CHECK on service {rs} of {vs} failed after {n} retries.")
            } else {
                format!("ICMP CHECK on service {rs} failed.")
            }
        }
        "MISC_CHECK" => {
            let prog = misc_program(&ck.spec);
            let tail = if n == 0 {
                " with retry disabled".to_string()
            } else {
                format!(" after {n} {retries}")
            };
            if detail == "timed out" {
                format!("Misc check for [{rs} VS {vs}] by [{prog}] timed out{tail}.")
            } else if detail.is_empty() {
                format!("Misc check for [{rs} VS {vs}] by [{prog}] failed{tail}.")
            } else {
                format!("Misc check for [{rs} VS {vs}] by [{prog}] failed{tail} ({detail}).")
            }
        }
        other => format!("{other} on service {rs} failed."),
    }
}

fn misc_program(spec: &ProbeSpec) -> String {
    match spec {
        ProbeSpec::Misc { script, .. } => script
            .command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}
