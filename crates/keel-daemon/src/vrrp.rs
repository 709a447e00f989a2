//! The VRRP runtime: the sans-IO engine glued to raw sockets, rtnetlink and
//! link events.
//!
//! It runs on a thread of its own with a current-thread tokio runtime, so
//! adverts are never delayed by scripts, mail or checkers; those live on the
//! service runtime and talk to this one through channels ([`EngineMsg`] in,
//! [`ServiceMsg`] out).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keel_config::Config;
use keel_linux::{
    AddressSpec, NetEvent, Netlink, NetlinkMonitor, PacketSocket, VrrpSocket, VrrpSocketOptions,
};
use keel_vrrp::config::VipSet;
use keel_vrrp::group::{GroupOutput, SyncGroup};
use keel_vrrp::instance::{Action, Event, Instance, NotifyEvent, RxAdvert, State};
use keel_vrrp::packet::{
    self, Advert, AuthConfig, AuthData, ChecksumMode, DropReason, EncodeCtx, RxCtx, RxMeta,
};
use keel_vrrp::time::Instant as EngineInstant;
use keel_vrrp::track::TrackState;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::mapping::{self, HostInfo, InstancePlan, TrackSource};

pub mod priority;
pub mod status;
mod vmac;

/// Requests to the VRRP runtime.
#[derive(Debug)]
pub enum EngineMsg {
    /// A tracked object changed (vrrp_script verdict, file value, process quorum).
    Track {
        source: TrackSource,
        state: TrackState,
    },
    /// Configuration reloaded (SIGHUP).
    Reload(Arc<Config>),
    /// Write the state dump (SIGUSR1).
    DumpData(PathBuf),
    /// Write the statistics dump (SIGUSR2).
    DumpStats(PathBuf),
    /// Graceful stop: priority-0 adverts, VIPs removed unless `release` is
    /// false (`-V`), STOP notifies. `done` fires once all of that was done.
    Shutdown {
        release: bool,
        done: oneshot::Sender<()>,
    },
}

/// Reports from the VRRP runtime to the services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceMsg {
    /// The instances were started (initial state decided, sockets open).
    Started { instances: usize },
    /// An instance notification (state change, lower-priority advert, priority change).
    Notify {
        instance: String,
        event: NotifyEvent,
        priority: u8,
        state: State,
        smtp_alert: bool,
    },
    /// A sync group changed state.
    Group { group: String, state: State },
}

/// Starts the VRRP thread. The returned handle ends after a `Shutdown`.
pub fn spawn(
    cfg: Arc<Config>,
    to_services: mpsc::UnboundedSender<ServiceMsg>,
) -> std::io::Result<(
    mpsc::UnboundedSender<EngineMsg>,
    std::thread::JoinHandle<()>,
)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = std::thread::Builder::new()
        .name("keel-vrrp".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("VRRP runtime cannot start: {e}");
                    return;
                }
            };
            let prio = priority::ThreadPriority::from_config(&cfg.global_defs);
            rt.block_on(async move {
                match Runtime::start(&cfg, to_services, prio).await {
                    Ok(mut r) => r.run(rx).await,
                    Err(e) => tracing::error!("VRRP runtime cannot start: {e}"),
                }
            });
        })?;
    Ok((tx, handle))
}

/// Which socket an instance sends and receives on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SocketKey {
    ifname: String,
    v6: bool,
    group: Option<IpAddr>,
    unicast_src: Option<IpAddr>,
}

impl SocketKey {
    fn of(p: &InstancePlan) -> SocketKey {
        SocketKey {
            ifname: p.advert_interface().to_string(),
            v6: p.v6,
            group: p.group,
            unicast_src: p.unicast_src,
        }
    }
}

struct SocketRt {
    sock: Arc<VrrpSocket>,
    reader: JoinHandle<()>,
}

impl Drop for SocketRt {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Per-instance counters (SIGUSR2 dump).
#[derive(Debug, Default, Clone)]
struct Stats {
    adverts_sent: u64,
    adverts_received: u64,
    became_master: u64,
    released_master: u64,
    priority_zero_sent: u64,
    priority_zero_received: u64,
    send_errors: u64,
    drops: HashMap<&'static str, u64>,
    /// Last time a drop reason was logged, for rate limiting.
    last_logged: HashMap<&'static str, std::time::Instant>,
}

struct InstRt {
    plan: InstancePlan,
    unit: usize,
    member: usize,
    key: SocketKey,
    state: State,
    ah_seq: u32,
    ah_last: HashMap<IpAddr, u32>,
    checksum: ChecksumMode,
    stats: Stats,
}

enum UnitKind {
    Single(Box<Instance>),
    Group(Box<SyncGroup>),
}

struct Unit {
    kind: UnitKind,
    /// Instance names by member index.
    members: Vec<String>,
}

impl Unit {
    fn handle(&mut self, now: EngineInstant, member: usize, ev: Event) {
        match &mut self.kind {
            UnitKind::Single(i) => i.handle(now, ev),
            UnitKind::Group(g) => g.handle(now, member, ev),
        }
    }

    fn handle_all(&mut self, now: EngineInstant, ev: Event) {
        match &mut self.kind {
            UnitKind::Single(i) => i.handle(now, ev),
            UnitKind::Group(g) => g.handle_all(now, ev),
        }
    }

    fn handle_timeout(&mut self, now: EngineInstant) {
        match &mut self.kind {
            UnitKind::Single(i) => i.handle_timeout(now),
            UnitKind::Group(g) => g.handle_timeout(now),
        }
    }

    fn poll_timeout(&self) -> Option<EngineInstant> {
        match &self.kind {
            UnitKind::Single(i) => i.poll_timeout(),
            UnitKind::Group(g) => g.poll_timeout(),
        }
    }

    fn instance(&self, member: usize) -> Option<&Instance> {
        match &self.kind {
            UnitKind::Single(i) => Some(i),
            UnitKind::Group(g) => g.member(member),
        }
    }

    /// Next output: (member, action) or a group state change.
    fn poll(&mut self) -> Option<Output> {
        match &mut self.kind {
            UnitKind::Single(i) => i.poll_action().map(|a| Output::Member(0, a)),
            UnitKind::Group(g) => g.poll_output().map(|o| match o {
                GroupOutput::Member { index, action } => Output::Member(index, action),
                GroupOutput::StateChanged { to, .. } => Output::Group(g.name().to_string(), to),
            }),
        }
    }
}

enum Output {
    Member(usize, Action),
    Group(String, State),
}

struct Runtime {
    epoch: std::time::Instant,
    nl: Netlink,
    monitor: Option<NetlinkMonitor>,
    units: Vec<Option<Unit>>,
    insts: HashMap<String, InstRt>,
    sockets: HashMap<SocketKey, SocketRt>,
    pkt_tx: mpsc::UnboundedSender<(SocketKey, keel_linux::Received)>,
    pkt_rx: mpsc::UnboundedReceiver<(SocketKey, keel_linux::Received)>,
    garp_socks: HashMap<String, PacketSocket>,
    ip_id: u16,
    svc: mpsc::UnboundedSender<ServiceMsg>,
    /// Drops of packets no instance claims, by reason.
    orphan_drops: HashMap<&'static str, u64>,
    releasing: bool,
    vmacs: vmac::Vmacs,
    priority: priority::ThreadPriority,
    status: status::Publisher,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Linux(#[from] keel_linux::LinuxError),
}

/// Rate limit of drop log lines per instance and reason.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

fn is_auth_drop(r: DropReason) -> bool {
    matches!(
        r,
        DropReason::AuthFailure
            | DropReason::AuthTypeMismatch
            | DropReason::InvalidAuthType
            | DropReason::AhBadIcv
            | DropReason::AhBadSpi
            | DropReason::AhReplay
            | DropReason::AhMalformed
            | DropReason::AhNotVrrp
    )
}

impl Runtime {
    async fn start(
        cfg: &Config,
        svc: mpsc::UnboundedSender<ServiceMsg>,
        priority: priority::ThreadPriority,
    ) -> Result<Runtime, RuntimeError> {
        let nl = Netlink::new()?;
        let monitor = match NetlinkMonitor::new().await {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!("netlink monitor unavailable, link changes not followed: {e}");
                None
            }
        };
        let (pkt_tx, pkt_rx) = mpsc::unbounded_channel();
        let mut rt = Runtime {
            epoch: std::time::Instant::now(),
            nl,
            monitor,
            units: Vec::new(),
            insts: HashMap::new(),
            sockets: HashMap::new(),
            pkt_tx,
            pkt_rx,
            garp_socks: HashMap::new(),
            // keepalived's IP IDs simply count up per process.
            ip_id: (std::process::id() & 0xffff) as u16,
            svc,
            orphan_drops: HashMap::new(),
            releasing: true,
            vmacs: vmac::Vmacs::default(),
            priority,
            status: status::Publisher::start(),
        };
        let plans = rt.plan(cfg).await;
        let n = plans.len();
        rt.add_units(cfg, plans).await;
        // Start-up may well run longer than RLIMIT_RTTIME without blocking;
        // real-time scheduling is for the steady state.
        rt.raise_priority();
        let _ = rt.svc.send(ServiceMsg::Started { instances: n });
        Ok(rt)
    }

    fn raise_priority(&self) {
        match self.priority.apply() {
            priority::Applied::Realtime { priority, nice } => tracing::info!(
                "VRRP thread: SCHED_RR priority {priority}, RLIMIT_RTTIME {} us{}",
                self.priority.rlimit_rttime.as_micros(),
                nice.map(|n| format!(", nice {n}")).unwrap_or_default()
            ),
            priority::Applied::Nice(n) => tracing::info!("VRRP thread: nice {n}"),
            priority::Applied::Unchanged => {}
        }
    }

    fn now(&self) -> EngineInstant {
        EngineInstant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    async fn host_info(&self) -> HostInfo {
        let mut h = HostInfo::default();
        let links = match self.nl.links().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("cannot list interfaces: {e}");
                return h;
            }
        };
        for l in links {
            match self.nl.addresses(l.ifindex).await {
                Ok(addrs) => {
                    // Primary (non-secondary) addresses first, as keepalived picks them.
                    let mut v: Vec<_> = addrs.iter().filter(|a| !a.is_secondary()).collect();
                    v.extend(addrs.iter().filter(|a| a.is_secondary()));
                    h.addresses
                        .insert(l.name.clone(), v.into_iter().map(|a| a.addr).collect());
                }
                Err(e) => tracing::warn!("cannot list addresses of {}: {e}", l.name),
            }
        }
        h
    }

    async fn plan(&self, cfg: &Config) -> Vec<InstancePlan> {
        let host = self.host_info().await;
        let (mut plans, errors) = mapping::plan_instances(cfg, &host);
        for e in errors {
            tracing::error!("{e}; instance disabled");
        }
        // Our own VIPs must not be taken for the advert source after a crash
        // left them on the interface.
        for p in plans.iter_mut() {
            let ours: Vec<IpAddr> = p.engine.vips.announced();
            if ours.contains(&p.engine.primary_ip) && p.unicast_src.is_none() {
                let alt = host.addresses.get(&p.interface).and_then(|a| {
                    a.iter()
                        .find(|a| a.is_ipv6() == p.v6 && !ours.contains(a))
                        .copied()
                });
                if let Some(alt) = alt {
                    p.engine.primary_ip = alt;
                }
            }
        }
        plans
    }

    /// Builds units for `plans` (sync groups first), opens their sockets and
    /// starts them.
    async fn add_units(&mut self, cfg: &Config, plans: Vec<InstancePlan>) {
        let now = self.now();
        let mut by_name: HashMap<String, InstancePlan> = plans
            .into_iter()
            .map(|p| (p.engine.name.clone(), p))
            .collect();
        let mut new_units = Vec::new();
        for sg in &cfg.sync_groups {
            let members: Vec<InstancePlan> =
                sg.group.iter().filter_map(|n| by_name.remove(n)).collect();
            if members.is_empty() {
                continue;
            }
            let names: Vec<String> = members.iter().map(|p| p.engine.name.clone()).collect();
            let group = SyncGroup::new(
                sg.name.clone(),
                members.iter().map(|p| p.engine.clone()).collect(),
                now,
            );
            new_units.push((
                Unit {
                    kind: UnitKind::Group(Box::new(group)),
                    members: names,
                },
                members,
            ));
        }
        // Keep the file order for lone instances.
        let mut rest: Vec<InstancePlan> = by_name.into_values().collect();
        let order: HashMap<&str, usize> = cfg
            .vrrp_instances
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.as_str(), i))
            .collect();
        rest.sort_by_key(|p| order.get(p.engine.name.as_str()).copied().unwrap_or(0));
        for p in rest {
            let inst = Instance::new(p.engine.clone(), now);
            new_units.push((
                Unit {
                    kind: UnitKind::Single(Box::new(inst)),
                    members: vec![p.engine.name.clone()],
                },
                vec![p],
            ));
        }

        let mut started = Vec::new();
        for (unit, plans) in new_units {
            let idx = self.units.len();
            for (member, plan) in plans.into_iter().enumerate() {
                let key = SocketKey::of(&plan);
                let checksum = plan.checksum;
                self.insts.insert(
                    plan.engine.name.clone(),
                    InstRt {
                        plan,
                        unit: idx,
                        member,
                        key,
                        state: State::Init,
                        ah_seq: 0,
                        ah_last: HashMap::new(),
                        checksum,
                        stats: Stats::default(),
                    },
                );
            }
            self.units.push(Some(unit));
            started.push(idx);
        }
        // The VMACs first: the adverts' sockets are bound to them.
        let vmac_plans: Vec<InstancePlan> = started
            .iter()
            .filter_map(|&u| self.units[u].as_ref())
            .flat_map(|unit| unit.members.iter())
            .filter_map(|n| self.insts.get(n))
            .filter(|ir| ir.plan.vmac.is_some())
            .map(|ir| ir.plan.clone())
            .collect();
        for plan in &vmac_plans {
            self.create_vmac(plan).await;
        }
        self.sync_sockets();

        // Initial link and tracked-interface states, then start-up.
        for &u in &started {
            let Some(unit) = self.units[u].as_ref() else {
                continue;
            };
            let mut events = Vec::new();
            for (member, name) in unit.members.iter().enumerate() {
                let Some(ir) = self.insts.get(name) else {
                    continue;
                };
                if !self.link_up(&ir.plan.interface) || !self.sockets.contains_key(&ir.key) {
                    events.push((member, Event::InterfaceDown));
                }
                for (id, src) in &ir.plan.tracks {
                    if let TrackSource::Interface(ifname) = src {
                        let st = if self.link_up(ifname) {
                            TrackState::Up
                        } else {
                            TrackState::Down
                        };
                        events.push((member, Event::Track { id: *id, state: st }));
                    }
                }
            }
            let now = self.now();
            if let Some(unit) = self.units[u].as_mut() {
                for (member, ev) in events {
                    unit.handle(now, member, ev);
                }
                unit.handle_all(now, Event::Startup);
            }
            self.drain_unit(u).await;
        }
    }

    fn link_up(&self, ifname: &str) -> bool {
        let Ok(idx) = keel_linux::ifindex(ifname) else {
            return false;
        };
        self.monitor
            .as_ref()
            .and_then(|m| m.link_is_up(idx))
            .unwrap_or(true)
    }

    /// Opens the sockets instances need and closes the others.
    fn sync_sockets(&mut self) {
        let needed: Vec<SocketKey> = {
            let mut v: Vec<SocketKey> = self.insts.values().map(|i| i.key.clone()).collect();
            v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            v.dedup();
            v
        };
        self.sockets.retain(|k, _| needed.contains(k));
        for key in needed {
            if self.sockets.contains_key(&key) {
                continue;
            }
            let opts = VrrpSocketOptions {
                unicast_src: key.unicast_src,
                header_included: !key.v6,
            };
            let opened = if key.v6 {
                let g = match key.group {
                    Some(IpAddr::V6(g)) => Some(g),
                    _ => None,
                };
                VrrpSocket::open_v6(&key.ifname, g, &opts)
            } else {
                let g = match key.group {
                    Some(IpAddr::V4(g)) => Some(g),
                    _ => None,
                };
                VrrpSocket::open_v4(&key.ifname, g, &opts)
            };
            match opened {
                Ok(sock) => {
                    let sock = Arc::new(sock);
                    let tx = self.pkt_tx.clone();
                    let rsock = Arc::clone(&sock);
                    let rkey = key.clone();
                    let reader = tokio::spawn(async move {
                        let mut last_err: Option<std::time::Instant> = None;
                        loop {
                            match rsock.recv().await {
                                Ok(r) => {
                                    if tx.send((rkey.clone(), r)).is_err() {
                                        return;
                                    }
                                }
                                Err(e) => {
                                    if last_err.is_none_or(|t| t.elapsed() > DROP_LOG_EVERY) {
                                        tracing::warn!("VRRP receive on {}: {e}", rkey.ifname);
                                        last_err = Some(std::time::Instant::now());
                                    }
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                }
                            }
                        }
                    });
                    self.sockets.insert(key, SocketRt { sock, reader });
                }
                Err(e) => tracing::error!("cannot open VRRP socket on {}: {e}", key.ifname),
            }
        }
    }

    async fn run(&mut self, mut ctl: mpsc::UnboundedReceiver<EngineMsg>) {
        // tokio's timers round up to the next millisecond tick and the
        // engine re-arms Adver_Timer from the moment it is woken, so with
        // them every advert interval came out 1-2 ms long. A timerfd wakes
        // within microseconds of the deadline.
        let mut precise = match keel_linux::PreciseTimer::new() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("precise timer unavailable, adverts may be up to 2 ms late: {e}");
                None
            }
        };
        loop {
            // Once the last event, adverts included, was dealt with (see status.rs).
            status::publish(self);
            let deadline = self
                .units
                .iter()
                .flatten()
                .filter_map(Unit::poll_timeout)
                .min();
            let sleep_until = deadline.map(|t| self.epoch + Duration::from_micros(t.as_micros()));
            tokio::select! {
                biased;
                _ = async {
                    match (sleep_until, precise.as_mut()) {
                        (Some(t), Some(timer)) => {
                            if let Err(e) = timer.sleep_until(t).await {
                                tracing::warn!("precise timer failed, using tokio's: {e}");
                                precise = None;
                                tokio::time::sleep_until(t.into()).await;
                            }
                        }
                        (Some(t), None) => tokio::time::sleep_until(t.into()).await,
                        (None, _) => std::future::pending().await,
                    }
                } => {
                    let now = self.now();
                    for u in 0..self.units.len() {
                        let due = self.units[u]
                            .as_ref()
                            .and_then(Unit::poll_timeout)
                            .is_some_and(|t| t <= now);
                        if due {
                            if let Some(unit) = self.units[u].as_mut() {
                                unit.handle_timeout(now);
                            }
                            self.drain_unit(u).await;
                        }
                    }
                }
                Some((key, pkt)) = self.pkt_rx.recv() => {
                    self.on_packet(&key, pkt).await;
                }
                msg = ctl.recv() => {
                    match msg {
                        Some(EngineMsg::Shutdown { release, done }) => {
                            self.shutdown(release).await;
                            let _ = done.send(());
                            return;
                        }
                        Some(m) => self.on_control(m).await,
                        None => {
                            self.shutdown(true).await;
                            return;
                        }
                    }
                }
                ev = next_event(&mut self.monitor) => {
                    match ev {
                        Some(ev) => self.on_net_event(ev).await,
                        None => {
                            tracing::warn!("netlink monitor stopped; link changes no longer followed");
                            self.monitor = None;
                        }
                    }
                }
            }
        }
    }

    async fn shutdown(&mut self, release: bool) {
        self.releasing = release;
        let now = self.now();
        for u in 0..self.units.len() {
            if let Some(unit) = self.units[u].as_mut() {
                unit.handle_all(now, Event::Shutdown);
            }
            self.drain_unit(u).await;
        }
        self.sockets.clear();
        // With -V the VIPs stay, and so must the interface holding them.
        if release {
            for name in self.vmacs.names() {
                self.vmacs.remove(&self.nl, &name).await;
                self.garp_socks.remove(&name);
            }
        }
        self.status.stop();
    }

    async fn create_vmac(&mut self, plan: &InstancePlan) {
        let Some(v) = &plan.vmac else { return };
        // A GARP socket of an earlier interface of that name is stale.
        self.garp_socks.remove(&v.name);
        if let Err(e) = self.vmacs.ensure(&self.nl, plan).await {
            tracing::error!(
                "VRRP_Instance({}) cannot create VMAC interface {}: {e}",
                plan.engine.name,
                v.name
            );
        }
    }

    /// A VMAC of ours was deleted behind our back, or could not be created
    /// while its base interface was missing: create it again, reopen the
    /// advert socket on it and, for a MASTER, put the VIPs back.
    async fn restore_vmac(&mut self, name: &str) {
        let users: Vec<(InstancePlan, State)> = self
            .insts
            .values()
            .filter(|ir| ir.plan.vmac.as_ref().is_some_and(|v| v.name == name))
            .map(|ir| (ir.plan.clone(), ir.state))
            .collect();
        for (plan, state) in users {
            tracing::info!(
                "VRRP_Instance({}) VMAC interface {name} is missing - re-creating",
                plan.engine.name
            );
            self.create_vmac(&plan).await;
            self.sockets.retain(|k, _| k.ifname != name);
            self.sync_sockets();
            if state == State::Master {
                let mut addrs = Vec::new();
                for a in plan.addresses.iter().filter(|a| a.dev == name) {
                    self.add_address(a).await;
                    addrs.push(a.addr);
                }
                let repeat = plan.engine.garp.master_repeat;
                self.send_garps(&plan.engine.name, &addrs, repeat).await;
            }
        }
    }

    /// VMACs on `base` that do not exist (yet), for instances on `base`.
    fn missing_vmacs(&self, base: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .insts
            .values()
            .filter(|ir| ir.plan.interface == base)
            .filter_map(|ir| ir.plan.vmac.as_ref())
            .filter(|v| keel_linux::ifindex(&v.name).is_err())
            .map(|v| v.name.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    async fn on_control(&mut self, msg: EngineMsg) {
        match msg {
            EngineMsg::Track { source, state } => {
                let now = self.now();
                let mut hits = Vec::new();
                for ir in self.insts.values() {
                    for (id, src) in &ir.plan.tracks {
                        if *src == source {
                            hits.push((ir.unit, ir.member, *id));
                        }
                    }
                }
                for (u, member, id) in hits {
                    if let Some(unit) = self.units[u].as_mut() {
                        unit.handle(now, member, Event::Track { id, state });
                    }
                    self.drain_unit(u).await;
                }
            }
            EngineMsg::Reload(cfg) => {
                priority::relax_current_thread();
                self.priority = priority::ThreadPriority::from_config(&cfg.global_defs);
                self.reload(&cfg).await;
                self.raise_priority();
            }
            EngineMsg::DumpData(path) => self.write_file(path, self.dump_data()),
            EngineMsg::DumpStats(path) => self.write_file(path, self.dump_stats()),
            EngineMsg::Shutdown { .. } => {}
        }
    }

    fn write_file(&self, path: PathBuf, text: String) {
        if let Err(e) = std::fs::write(&path, text) {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    }

    async fn reload(&mut self, cfg: &Config) {
        tracing::info!("Reloading");
        let plans = self.plan(cfg).await;
        let new: HashMap<String, InstancePlan> = plans
            .iter()
            .map(|p| (p.engine.name.clone(), p.clone()))
            .collect();
        let group_of = |name: &str| {
            cfg.sync_groups
                .iter()
                .find(|g| g.group.iter().any(|m| m == name))
                .map(|g| (g.name.clone(), g.group.clone()))
        };
        // A unit survives when all its members survive with only a new
        // priority, and its sync-group membership is unchanged.
        let mut keep_units = Vec::new();
        for (u, slot) in self.units.iter().enumerate() {
            let Some(unit) = slot else { continue };
            let same = unit.members.iter().all(|n| {
                let (Some(old), Some(p)) = (self.insts.get(n), new.get(n)) else {
                    return false;
                };
                let mut a = old.plan.clone();
                a.engine.priority = p.engine.priority;
                a == *p
            }) && match &unit.kind {
                UnitKind::Single(_) => unit.members.first().is_some_and(|n| group_of(n).is_none()),
                UnitKind::Group(g) => unit.members.first().and_then(|n| group_of(n)).is_some_and(
                    |(gname, members)| {
                        gname == g.name()
                            && members
                                .iter()
                                .filter(|m| new.contains_key(*m))
                                .eq(unit.members.iter())
                    },
                ),
            };
            if same {
                keep_units.push(u);
            }
        }
        let now = self.now();
        // Delete what does not survive.
        for u in 0..self.units.len() {
            if keep_units.contains(&u) || self.units[u].is_none() {
                continue;
            }
            if let Some(unit) = self.units[u].as_mut() {
                unit.handle_all(now, Event::Delete);
            }
            self.drain_unit(u).await;
            if let Some(unit) = self.units[u].take() {
                for n in &unit.members {
                    if self.insts.remove(n).is_some() && new.contains_key(n) {
                        tracing::info!(
                            "VRRP_Instance({n}) configuration changed; restarting the instance"
                        );
                    }
                }
            }
        }
        // VMACs no instance of the new configuration uses go; the others
        // stay (a restarted instance re-adopts its own).
        for name in self.vmacs.names() {
            let wanted = new
                .values()
                .any(|p| p.vmac.as_ref().is_some_and(|v| v.name == name));
            if !wanted {
                self.vmacs.remove(&self.nl, &name).await;
                self.garp_socks.remove(&name);
            }
        }
        // Update survivors (new priority takes effect at once).
        for &u in &keep_units {
            let members = self.units[u]
                .as_ref()
                .map(|x| x.members.clone())
                .unwrap_or_default();
            for (member, n) in members.iter().enumerate() {
                let Some(p) = new.get(n) else { continue };
                if let Some(ir) = self.insts.get_mut(n) {
                    let prio = p.engine.priority;
                    ir.plan = p.clone();
                    if let Some(unit) = self.units[u].as_mut() {
                        unit.handle(now, member, Event::SetBasePriority(prio));
                    }
                }
            }
            self.drain_unit(u).await;
        }
        let fresh: Vec<InstancePlan> = plans
            .into_iter()
            .filter(|p| !self.insts.contains_key(&p.engine.name))
            .collect();
        self.sync_sockets();
        self.add_units(cfg, fresh).await;
        self.sync_sockets();
    }

    async fn on_net_event(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::LinkUp { name, .. } => {
                tracing::info!("Netlink reports {name} up");
                self.link_changed(&name, true).await;
            }
            NetEvent::LinkRemoved { name, .. } if self.vmacs.owns(&name) => {
                self.restore_vmac(&name).await;
            }
            NetEvent::LinkDown { name, .. } | NetEvent::LinkRemoved { name, .. } => {
                tracing::info!("Netlink reports {name} down");
                self.link_changed(&name, false).await;
            }
            NetEvent::AddrRemoved { ifindex, addr, .. } => {
                self.addr_removed(ifindex, addr).await;
            }
            NetEvent::AddrAdded { .. } => {}
        }
    }

    async fn link_changed(&mut self, ifname: &str, up: bool) {
        let now = self.now();
        let mut hits = Vec::new();
        for ir in self.insts.values() {
            if ir.plan.interface == ifname {
                let ev = if up {
                    Event::InterfaceUp
                } else {
                    Event::InterfaceDown
                };
                hits.push((ir.unit, ir.member, ev));
            }
            for (id, src) in &ir.plan.tracks {
                if matches!(src, TrackSource::Interface(n) if n == ifname) {
                    let state = if up { TrackState::Up } else { TrackState::Down };
                    hits.push((ir.unit, ir.member, Event::Track { id: *id, state }));
                }
            }
        }
        if up {
            for name in self.missing_vmacs(ifname) {
                self.restore_vmac(&name).await;
            }
            let flapped: Vec<InstancePlan> = self
                .insts
                .values()
                .filter(|ir| {
                    ir.plan
                        .vmac
                        .as_ref()
                        .is_some_and(|v| ir.plan.interface == ifname || v.name == ifname)
                })
                .map(|ir| ir.plan.clone())
                .collect();
            for plan in &flapped {
                self.vmacs.relink(&self.nl, plan).await;
            }
            // A socket that failed to open (interface missing at start) gets
            // another chance.
            self.sync_sockets();
        }
        let mut touched = Vec::new();
        for (u, member, ev) in hits {
            if let Some(unit) = self.units[u].as_mut() {
                unit.handle(now, member, ev);
            }
            touched.push(u);
        }
        touched.dedup();
        for u in touched {
            self.drain_unit(u).await;
        }
    }

    /// Another agent deleted one of our VIPs while we are MASTER: put it back.
    async fn addr_removed(&mut self, ifindex: u32, addr: IpAddr) {
        let mut readd = Vec::new();
        for ir in self.insts.values() {
            if ir.state != State::Master {
                continue;
            }
            if let Some(a) = ir.plan.address(addr)
                && keel_linux::ifindex(&a.dev).ok() == Some(ifindex)
            {
                readd.push((ir.plan.engine.name.clone(), a.clone()));
            }
        }
        for (name, a) in readd {
            tracing::info!(
                "VRRP_Instance({name}) VIP {addr} was removed from {} by another agent - re-adding",
                a.dev
            );
            self.add_address(&a).await;
        }
    }

    async fn on_packet(&mut self, key: &SocketKey, pkt: keel_linux::Received) {
        let vrid = if key.v6 {
            packet::peek_vrid(pkt.payload())
        } else {
            packet::peek_ipv4_vrid(&pkt.packet)
        };
        let name = vrid.and_then(|vrid| {
            self.insts
                .values()
                .find(|i| i.key == *key && i.plan.engine.vrid == vrid)
                .map(|i| i.plan.engine.name.clone())
        });
        let Some(name) = name else {
            let reason = if vrid.is_some() {
                DropReason::VridMismatch
            } else {
                DropReason::Truncated
            };
            let n = self.orphan_drops.entry(reason.counter_name()).or_default();
            *n += 1;
            tracing::debug!(
                "advert from {} on {} for VRID {:?} not handled here ({} = {n})",
                pkt.src,
                key.ifname,
                vrid,
                reason.counter_name()
            );
            return;
        };
        let Some(ir) = self.insts.get_mut(&name) else {
            return;
        };
        let adver_int_cs = (ir.plan.engine.advert_interval.as_millis() / 10) as u16;
        let mut ctx = RxCtx::new(pkt_version(ir), &ir.plan.auth, adver_int_cs);
        ctx.checksum = ir.checksum;
        ctx.unicast = ir.plan.group.is_none();
        ctx.ah_last_seq = ir.ah_last.get(&pkt.src).copied();
        let decoded = if key.v6 {
            let meta = RxMeta {
                src: pkt.src,
                dst: pkt.dst,
                ttl: pkt.ttl,
            };
            packet::decode(pkt.payload(), &meta, &ctx).map(|d| (d.advert, d.old_unicast_checksum))
        } else {
            packet::decode_ipv4_packet(&pkt.packet, &ctx)
                .map(|r| (r.advert, r.old_unicast_checksum))
        };
        let (advert, old_unicast) = match decoded {
            Ok(d) => d,
            Err(reason) => {
                count_drop(ir, reason, pkt.src);
                return;
            }
        };
        // Before anything from the advert is trusted (checksum flavour, AH
        // sequence): a stranger must not steer those either.
        if let Err(r) = ir.plan.check_unicast_source(pkt.src, pkt.ttl) {
            count_unicast_src_drop(ir, r);
            return;
        }
        if old_unicast && ir.checksum == ChecksumMode::Rfc {
            tracing::info!(
                "VRRP_Instance({name}) peer {} uses the old unicast checksum; following it",
                pkt.src
            );
            ir.checksum = ChecksumMode::OLD_UNICAST;
        }
        if let AuthData::Ah { seq } = advert.auth {
            ir.ah_last.insert(pkt.src, seq);
        }
        if !ir.plan.skip_check_adv_addr {
            let configured: Vec<IpAddr> = ir.plan.engine.vips.vips.clone();
            if let Err(r) = packet::check_addresses(&advert, &configured) {
                // keepalived logs this and still uses the advert.
                let n = ir.stats.drops.entry(r.counter_name()).or_default();
                *n += 1;
                if should_log(&mut ir.stats, r) {
                    tracing::info!(
                        "VRRP_Instance({name}) advert from {} carries other virtual addresses than ours ({})",
                        pkt.src,
                        r
                    );
                }
            }
        }
        ir.stats.adverts_received += 1;
        if advert.priority == 0 {
            ir.stats.priority_zero_received += 1;
        }
        let rx = RxAdvert {
            src: pkt.src,
            priority: advert.priority,
            adver_int: Duration::from_millis(u64::from(advert.max_adver_int_cs) * 10),
        };
        let (u, member) = (ir.unit, ir.member);
        let now = self.now();
        if let Some(unit) = self.units[u].as_mut() {
            unit.handle(now, member, Event::RxAdvert(rx));
        }
        self.drain_unit(u).await;
    }

    /// Performs every pending action of unit `u`, in order.
    async fn drain_unit(&mut self, u: usize) {
        loop {
            let out = match self.units.get_mut(u).and_then(Option::as_mut) {
                Some(unit) => unit.poll(),
                None => return,
            };
            let Some(out) = out else { return };
            match out {
                Output::Group(group, state) => {
                    tracing::info!("VRRP_Group({group}) Syncing instances to {state} state");
                    let _ = self.svc.send(ServiceMsg::Group { group, state });
                }
                Output::Member(member, action) => {
                    let name = self.units[u]
                        .as_ref()
                        .and_then(|x| x.members.get(member))
                        .cloned();
                    if let Some(name) = name {
                        self.perform(&name, action).await;
                    }
                }
            }
        }
    }

    async fn perform(&mut self, name: &str, action: Action) {
        match action {
            Action::Log(l) => tracing::info!("VRRP_Instance({name}) {l}"),
            Action::SendAdvert { priority, interval } => {
                self.send_advert(name, priority, interval).await
            }
            Action::AddVips(set) => {
                self.apply_vips(name, &set, true).await;
                self.status.vips(name, true);
            }
            Action::RemoveVips(set) => {
                if self.releasing {
                    self.apply_vips(name, &set, false).await;
                    self.status.vips(name, false);
                }
            }
            Action::SendGarp { addrs, count, .. } => self.send_garps(name, &addrs, count).await,
            Action::Notify { event, priority } => {
                if let Some(ir) = self.insts.get(name) {
                    let _ = self.svc.send(ServiceMsg::Notify {
                        instance: name.to_string(),
                        event,
                        priority,
                        state: ir.state,
                        smtp_alert: ir.plan.smtp_alert,
                    });
                }
            }
            Action::StateChanged { from, to } => {
                if let Some(ir) = self.insts.get_mut(name) {
                    ir.state = to;
                    if to == State::Master {
                        ir.stats.became_master += 1;
                    }
                    if from == State::Master {
                        ir.stats.released_master += 1;
                    }
                }
            }
        }
    }

    async fn send_advert(&mut self, name: &str, priority: u8, interval: Duration) {
        let Some(ir) = self.insts.get_mut(name) else {
            return;
        };
        let Some(sock) = self.sockets.get(&ir.key).map(|s| Arc::clone(&s.sock)) else {
            return;
        };
        let src = ir.plan.engine.primary_ip;
        if matches!(ir.plan.auth, AuthConfig::Ah(_)) {
            ir.ah_seq = ir.ah_seq.wrapping_add(1);
        }
        let advert = Advert {
            version: pkt_version(ir),
            vrid: ir.plan.engine.vrid,
            priority,
            max_adver_int_cs: (interval.as_millis() / 10) as u16,
            addresses: ir
                .plan
                .engine
                .vips
                .vips
                .iter()
                .filter(|a| a.is_ipv6() == src.is_ipv6())
                .copied()
                .collect(),
            auth: ir.plan.auth.advert_auth(ir.ah_seq),
        };
        let dsts: Vec<IpAddr> = match ir.plan.group {
            Some(g) => vec![g],
            None => ir.plan.unicast_peers.clone(),
        };
        let ttl = if ir.plan.group.is_some() {
            packet::VRRP_TTL
        } else {
            ir.plan.unicast_ttl
        };
        for dst in dsts {
            let ctx = EncodeCtx {
                src,
                dst,
                checksum: ir.checksum,
                auth: &ir.plan.auth,
            };
            let bytes = if ir.plan.v6 {
                packet::encode_vrrp(&advert, &ctx)
            } else {
                self.ip_id = self.ip_id.wrapping_add(1);
                packet::encode_ipv4_packet(&advert, &ctx, self.ip_id, ttl)
            };
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    ir.stats.send_errors += 1;
                    tracing::warn!("VRRP_Instance({name}) cannot encode advert: {e}");
                    continue;
                }
            };
            match sock.send_to(&bytes, dst).await {
                Ok(_) => {
                    ir.stats.adverts_sent += 1;
                    if priority == 0 {
                        ir.stats.priority_zero_sent += 1;
                    }
                }
                Err(e) => {
                    ir.stats.send_errors += 1;
                    if ir.stats.send_errors == 1 || ir.stats.send_errors % 100 == 0 {
                        tracing::warn!(
                            "VRRP_Instance({name}) cannot send advert to {dst}: {e} ({} failures)",
                            ir.stats.send_errors
                        );
                    }
                }
            }
        }
    }

    async fn apply_vips(&mut self, name: &str, set: &VipSet, add: bool) {
        let Some(ir) = self.insts.get(name) else {
            return;
        };
        let addrs: Vec<_> = set
            .vips
            .iter()
            .chain(set.evips.iter())
            .filter_map(|a| ir.plan.address(*a).cloned())
            .collect();
        let routes: Vec<_> = set
            .routes
            .iter()
            .filter_map(|id| ir.plan.routes.get(*id as usize).cloned())
            .collect();
        let rules: Vec<_> = set
            .rules
            .iter()
            .filter_map(|id| ir.plan.rules.get(*id as usize).cloned())
            .collect();
        if add {
            for a in &addrs {
                self.add_address(a).await;
            }
            for r in &routes {
                let mut spec = r.spec.clone();
                if let Some(dev) = &r.dev {
                    match keel_linux::ifindex(dev) {
                        Ok(i) => spec = spec.oif(i),
                        Err(e) => {
                            tracing::warn!("VRRP_Instance({name}) route {}: {e}", r.spec.dst);
                            continue;
                        }
                    }
                }
                if let Err(e) = self.nl.add_route(&spec).await {
                    tracing::warn!("VRRP_Instance({name}) cannot add route: {e}");
                }
            }
            for r in &rules {
                if let Err(e) = self.nl.add_rule(r).await {
                    tracing::warn!("VRRP_Instance({name}) cannot add rule: {e}");
                }
            }
        } else {
            for r in &rules {
                if let Err(e) = self.nl.del_rule(r).await {
                    tracing::warn!("VRRP_Instance({name}) cannot delete rule: {e}");
                }
            }
            for r in &routes {
                let mut spec = r.spec.clone();
                if let Some(i) = r.dev.as_deref().and_then(|d| keel_linux::ifindex(d).ok()) {
                    spec = spec.oif(i);
                }
                if let Err(e) = self.nl.del_route(&spec).await {
                    tracing::warn!("VRRP_Instance({name}) cannot delete route: {e}");
                }
            }
            for a in &addrs {
                let Ok(ifindex) = keel_linux::ifindex(&a.dev) else {
                    continue;
                };
                let spec = AddressSpec::new(ifindex, a.addr, a.prefix_len);
                if let Err(e) = self.nl.del_address(&spec).await {
                    tracing::warn!("VRRP_Instance({name}) cannot remove {}: {e}", a.addr);
                }
            }
        }
    }

    async fn add_address(&self, a: &mapping::AddressPlan) {
        let ifindex = match keel_linux::ifindex(&a.dev) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!("cannot add {} on {}: {e}", a.addr, a.dev);
                return;
            }
        };
        let mut spec = AddressSpec::new(ifindex, a.addr, a.prefix_len).scope(a.scope);
        if let Some(b) = a.broadcast {
            spec = spec.broadcast(b);
        }
        if let Some(l) = &a.label {
            spec = spec.label(l.clone());
        }
        // A VIP must be usable at once; DAD would hold it tentative.
        if a.nodad || a.addr.is_ipv6() {
            spec = spec.nodad();
        }
        if a.noprefixroute {
            spec = spec.noprefixroute();
        }
        if let Err(e) = self.nl.add_address(&spec).await {
            tracing::warn!("cannot add {}/{} on {}: {e}", a.addr, a.prefix_len, a.dev);
        }
    }

    async fn send_garps(&mut self, name: &str, addrs: &[IpAddr], count: u32) {
        let Some(ir) = self.insts.get(name) else {
            return;
        };
        let targets: Vec<(String, IpAddr)> = addrs
            .iter()
            .map(|a| {
                let dev = ir
                    .plan
                    .address(*a)
                    .map(|p| p.dev.clone())
                    .unwrap_or_else(|| ir.plan.interface.clone());
                (dev, *a)
            })
            .collect();
        for (dev, addr) in targets {
            if !self.garp_socks.contains_key(&dev) {
                match PacketSocket::open(&dev) {
                    Ok(s) => {
                        self.garp_socks.insert(dev.clone(), s);
                    }
                    Err(e) => {
                        tracing::warn!("cannot send gratuitous ARPs on {dev}: {e}");
                        continue;
                    }
                }
            }
            let frame: Vec<u8> = match addr {
                IpAddr::V4(v4) => {
                    let Some(s) = self.garp_socks.get(&dev) else {
                        continue;
                    };
                    packet::encode_garp(s.mac(), v4).to_vec()
                }
                IpAddr::V6(v6) => {
                    let src = self.link_local(&dev).await.unwrap_or(v6);
                    let Some(s) = self.garp_socks.get(&dev) else {
                        continue;
                    };
                    packet::encode_unsolicited_na_frame(s.mac(), v6, src, true).to_vec()
                }
            };
            let Some(s) = self.garp_socks.get(&dev) else {
                continue;
            };
            for _ in 0..count {
                if let Err(e) = s.send(&frame).await {
                    tracing::warn!("gratuitous ARP for {addr} on {dev}: {e}");
                    // The interface may have been re-created: reopen next time.
                    self.garp_socks.remove(&dev);
                    break;
                }
            }
        }
    }

    async fn link_local(&self, dev: &str) -> Option<Ipv6Addr> {
        let idx = keel_linux::ifindex(dev).ok()?;
        let addrs = self.nl.addresses(idx).await.ok()?;
        addrs.iter().find_map(|a| match a.addr {
            IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80 => Some(v),
            _ => None,
        })
    }

    fn dump_data(&self) -> String {
        let mut out = String::from("------< VRRP Topology >------\n");
        let mut names: Vec<&String> = self.insts.keys().collect();
        names.sort();
        for n in names {
            let Some(ir) = self.insts.get(n) else {
                continue;
            };
            let inst = self.units[ir.unit]
                .as_ref()
                .and_then(|u| u.instance(ir.member));
            let _ = writeln!(out, " VRRP Instance = {n}");
            let _ = writeln!(out, "   State = {}", ir.state);
            if let Some(i) = inst {
                if let Some(m) = i.master_ip() {
                    let _ = writeln!(out, "   Last master = {m}");
                }
                let _ = writeln!(out, "   Effective priority = {}", i.effective_priority());
                let _ = writeln!(out, "   Base priority = {}", i.base_priority());
            }
            let _ = writeln!(out, "   Interface = {}", ir.plan.interface);
            if let Some(v) = &ir.plan.vmac {
                let _ = writeln!(
                    out,
                    "   Use VMAC = {}{}",
                    v.name,
                    if v.xmit_base { ", xmit base" } else { "" }
                );
            }
            let _ = writeln!(out, "   Virtual Router ID = {}", ir.plan.engine.vrid);
            let _ = writeln!(
                out,
                "   Version = {}",
                match ir.plan.engine.version {
                    keel_vrrp::config::Version::V2 => 2,
                    keel_vrrp::config::Version::V3 => 3,
                }
            );
            let _ = writeln!(out, "   Using src_ip = {}", ir.plan.engine.primary_ip);
            let _ = writeln!(
                out,
                "   Advert interval = {}ms",
                ir.plan.engine.advert_interval.as_millis()
            );
            if let Some(g) = &ir.plan.sync_group {
                let _ = writeln!(out, "   Sync group = {g}");
            }
            let _ = writeln!(out, "   Virtual IP = {}", ir.plan.addresses.len());
            for a in &ir.plan.addresses {
                let _ = writeln!(out, "     {}/{} dev {}", a.addr, a.prefix_len, a.dev);
            }
        }
        out
    }

    fn dump_stats(&self) -> String {
        let mut out = String::new();
        let mut names: Vec<&String> = self.insts.keys().collect();
        names.sort();
        for n in names {
            let Some(ir) = self.insts.get(n) else {
                continue;
            };
            let s = &ir.stats;
            let _ = writeln!(out, "VRRP Instance: {n}");
            let _ = writeln!(out, "  Advertisements:");
            let _ = writeln!(out, "    Received: {}", s.adverts_received);
            let _ = writeln!(out, "    Sent: {}", s.adverts_sent);
            let _ = writeln!(out, "  Became master: {}", s.became_master);
            let _ = writeln!(out, "  Released master: {}", s.released_master);
            let _ = writeln!(out, "  Priority Zero:");
            let _ = writeln!(out, "    Received: {}", s.priority_zero_received);
            let _ = writeln!(out, "    Sent: {}", s.priority_zero_sent);
            let _ = writeln!(out, "  Send errors: {}", s.send_errors);
            let _ = writeln!(out, "  Packet drops:");
            for r in DropReason::ALL {
                let _ = writeln!(
                    out,
                    "    {}: {}",
                    r.counter_name(),
                    s.drops.get(r.counter_name()).copied().unwrap_or(0)
                );
            }
            for c in mapping::UnicastSrcDrop::COUNTERS {
                let _ = writeln!(out, "    {c}: {}", s.drops.get(c).copied().unwrap_or(0));
            }
        }
        if !self.orphan_drops.is_empty() {
            let _ = writeln!(out, "Unclaimed packets:");
            let mut v: Vec<_> = self.orphan_drops.iter().collect();
            v.sort();
            for (k, n) in v {
                let _ = writeln!(out, "  {k}: {n}");
            }
        }
        out
    }
}

fn pkt_version(ir: &InstRt) -> packet::Version {
    match ir.plan.engine.version {
        keel_vrrp::config::Version::V2 => packet::Version::V2,
        keel_vrrp::config::Version::V3 => packet::Version::V3,
    }
}

fn should_log(stats: &mut Stats, r: DropReason) -> bool {
    should_log_counter(stats, r.counter_name())
}

fn should_log_counter(stats: &mut Stats, counter: &'static str) -> bool {
    let now = std::time::Instant::now();
    match stats.last_logged.get(counter) {
        Some(t) if now.duration_since(*t) < DROP_LOG_EVERY => false,
        _ => {
            stats.last_logged.insert(counter, now);
            true
        }
    }
}

/// A unicast advert from outside the configured peers is at best a
/// misconfiguration and at worst someone taking the addresses over, hence
/// a warning (rate limited like the other drops).
fn count_unicast_src_drop(ir: &mut InstRt, r: mapping::UnicastSrcDrop) {
    let counter = r.counter_name();
    let n = {
        let n = ir.stats.drops.entry(counter).or_default();
        *n += 1;
        *n
    };
    if should_log_counter(&mut ir.stats, counter) {
        tracing::warn!(
            "VRRP_Instance({}) {r} - discarding ({counter} = {n})",
            ir.plan.engine.name
        );
    }
}

/// Counts a dropped advert and logs it, rate limited: authentication
/// problems at warning level (two routers that cannot authenticate each
/// other would both become MASTER), the rest at debug level.
fn count_drop(ir: &mut InstRt, r: DropReason, src: IpAddr) {
    let n = {
        let n = ir.stats.drops.entry(r.counter_name()).or_default();
        *n += 1;
        *n
    };
    if !should_log(&mut ir.stats, r) {
        return;
    }
    let name = &ir.plan.engine.name;
    if is_auth_drop(r) {
        tracing::warn!(
            "VRRP_Instance({name}) dropped advert from {src}: {r} ({} = {n})",
            r.counter_name()
        );
    } else {
        tracing::debug!(
            "VRRP_Instance({name}) dropped advert from {src}: {r} ({} = {n})",
            r.counter_name()
        );
    }
}

async fn next_event(m: &mut Option<NetlinkMonitor>) -> Option<NetEvent> {
    match m {
        Some(m) => m.next().await,
        None => std::future::pending().await,
    }
}
