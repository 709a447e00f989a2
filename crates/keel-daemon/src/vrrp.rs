//! The VRRP runtime: [`keel_vrrp::router::Router`] glued to raw sockets,
//! rtnetlink and link events.
//!
//! It runs on a thread of its own with a current-thread tokio runtime, so
//! adverts are never delayed by scripts, mail or checkers; those live on the
//! service runtime and talk to this one through channels ([`EngineMsg`] in,
//! [`ServiceMsg`] out). Everything VRRP decides, on the wire or off it, is
//! the router's; this runtime reads sockets into it, sends what it encodes,
//! and executes its actions. Laid out by job: `sockets` (raw sockets and
//! their bounded receive queues), `rx`, `tx`, `vips` (addresses, routes,
//! rules, GARPs, VMACs), `reload` (building and rebuilding the router from
//! the configuration), `events` (links, addresses, trackers), `dump`
//! (SIGUSR1/SIGUSR2 text) and `status` (the state file).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keel_config::Config;
use keel_linux::{NetEvent, Netlink, NetlinkMonitor, PacketSocket};
use keel_vrrp::instance::{Action, Event, NotifyEvent, State};
use keel_vrrp::router::{InstanceId, Output, Router, UnitId};
use keel_vrrp::time::Instant as EngineInstant;
use keel_vrrp::track::TrackState;
use tokio::sync::{mpsc, oneshot};

use crate::mapping::{InstancePlan, TrackSource};

mod dump;
mod events;
mod handover;
mod netops;
pub mod priority;
mod reload;
mod rx;
mod sockets;
pub mod status;
mod tx;
mod vips;
mod vmac;

use sockets::{SocketKey, Sockets};

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
    /// A fresh status snapshot (for the JSON dump); counters are zeroed
    /// after it is taken when `clear_stats` (STATS_CLEAR).
    Snapshot {
        clear_stats: bool,
        reply: oneshot::Sender<status::VrrpStatus>,
    },
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

/// What the runtime keeps of one instance besides the router's part.
struct InstRt {
    plan: InstancePlan,
    id: InstanceId,
    key: SocketKey,
    /// As of the last `StateChanged` performed (notifications carry it).
    state: State,
}

struct Runtime {
    epoch: std::time::Instant,
    nl: Netlink,
    monitor: Option<NetlinkMonitor>,
    router: Router,
    insts: HashMap<String, InstRt>,
    names: HashMap<InstanceId, String>,
    /// Member names of each live unit, in member order.
    units: BTreeMap<UnitId, Vec<String>>,
    sockets: Sockets,
    garp_socks: HashMap<String, PacketSocket>,
    svc: mpsc::UnboundedSender<ServiceMsg>,
    releasing: bool,
    vmacs: vmac::Vmacs,
    priority: priority::ThreadPriority,
    status: status::Publisher,
    /// Address, route and rule changes, performed off this thread.
    netops: netops::NetOps,
    /// The last advert sent to each destination of each instance, the
    /// source of the crash hand-over's priority-0 adverts.
    last_tx: HashMap<(InstanceId, std::net::IpAddr), keel_vrrp::router::Transmit>,
    /// The crash hand-over must be rebuilt after this flush.
    handover_dirty: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Linux(#[from] keel_linux::LinuxError),
    #[error("cannot start the netlink executor: {0}")]
    Executor(#[from] std::io::Error),
}

impl Runtime {
    async fn start(
        cfg: &Config,
        svc: mpsc::UnboundedSender<ServiceMsg>,
        priority: priority::ThreadPriority,
    ) -> Result<Runtime, RuntimeError> {
        let nl = Netlink::new()?;
        // In this thread's namespace, where the VIPs live.
        if let Err(e) = keel_linux::emergency::install() {
            tracing::warn!("crash hand-over unavailable: {e}");
        }
        let monitor = match NetlinkMonitor::new().await {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!("netlink monitor unavailable, link changes not followed: {e}");
                None
            }
        };
        let mut rt = Runtime {
            epoch: std::time::Instant::now(),
            nl,
            monitor,
            // keepalived's IP IDs simply count up per process.
            router: Router::new((std::process::id() & 0xffff) as u16),
            insts: HashMap::new(),
            names: HashMap::new(),
            units: BTreeMap::new(),
            sockets: Sockets::new(),
            garp_socks: HashMap::new(),
            svc,
            releasing: true,
            vmacs: vmac::Vmacs::default(),
            priority,
            status: status::Publisher::start(),
            netops: netops::NetOps::start()?,
            last_tx: HashMap::new(),
            handover_dirty: true,
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
            let deadline = self.router.poll_timeout();
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
                    self.router.handle_timeout(now);
                    self.flush().await;
                }
                Some(p) = self.sockets.recv() => {
                    self.on_packet(p).await;
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
        self.router.handle_all(now, Event::Shutdown);
        self.flush().await;
        self.sockets.clear();
        // The VIPs go before the interfaces holding them, and before `done`.
        self.netops.drain().await;
        // With -V the VIPs stay, and so must the interface holding them.
        if release {
            for name in self.vmacs.names() {
                self.vmacs.remove(&self.nl, &name).await;
                self.garp_socks.remove(&name);
            }
        }
        self.status.stop();
    }

    async fn on_control(&mut self, msg: EngineMsg) {
        self.status.touch();
        match msg {
            EngineMsg::Track { source, state } => {
                let now = self.now();
                let mut hits = Vec::new();
                for ir in self.insts.values() {
                    for (id, src) in &ir.plan.tracks {
                        if *src == source {
                            hits.push((ir.id, *id));
                        }
                    }
                }
                for (inst, id) in hits {
                    self.router.handle(now, inst, Event::Track { id, state });
                }
                self.flush().await;
            }
            EngineMsg::Reload(cfg) => {
                priority::relax_current_thread();
                self.priority = priority::ThreadPriority::from_config(&cfg.global_defs);
                self.reload(&cfg).await;
                self.raise_priority();
            }
            EngineMsg::DumpData(path) => {
                #[cfg(debug_assertions)]
                if crate::crash::fault::due(crate::crash::fault::Fault::PanicVrrp) {
                    panic!("injected fault: panic-vrrp");
                }
                self.write_file(path, self.dump_data())
            }
            EngineMsg::DumpStats(path) => self.write_file(path, self.dump_stats()),
            EngineMsg::Snapshot { clear_stats, reply } => {
                let _ = reply.send(status::snapshot_now(self));
                if clear_stats {
                    self.router.clear_stats();
                }
            }
            EngineMsg::Shutdown { .. } => {}
        }
    }

    /// The dump is rendered here; the write happens on another thread, so a
    /// FIFO or a slow disk at the path never holds up an advert.
    fn write_file(&self, path: PathBuf, text: String) {
        crate::fsutil::write_in_background(path, text, crate::fsutil::PRIVATE_MODE);
    }

    /// Sends the router's adverts, then performs its other outputs in order.
    /// Adverts go first so they never wait on netlink or GARP bursts.
    async fn flush(&mut self) {
        loop {
            if let Some(t) = self.router.poll_transmit() {
                self.transmit(t).await;
            } else if let Some(o) = self.router.poll_output() {
                self.perform(o).await;
            } else {
                self.refresh_handover();
                return;
            }
        }
    }

    async fn perform(&mut self, o: Output) {
        let (id, action) = match o {
            Output::Action { instance, action } => (instance, action),
            Output::GroupChanged { unit, to, .. } => {
                self.status.touch();
                let Some(group) = self
                    .router
                    .unit(unit)
                    .and_then(|u| u.group_ref())
                    .map(|g| g.name().to_string())
                else {
                    return;
                };
                tracing::info!("VRRP_Group({group}) Syncing instances to {to} state");
                let _ = self.svc.send(ServiceMsg::Group { group, state: to });
                return;
            }
            Output::Dropped {
                instance,
                src,
                reason,
                count,
            } => {
                self.log_drop(instance, src, reason, count);
                return;
            }
            Output::ChecksumFollowed { instance, peer } => {
                let name = self.names.get(&instance).cloned().unwrap_or_default();
                tracing::info!(
                    "VRRP_Instance({name}) peer {peer} uses the old unicast checksum; following it"
                );
                return;
            }
            Output::EncodeFailed { instance, error } => {
                let name = self.names.get(&instance).cloned().unwrap_or_default();
                tracing::warn!("VRRP_Instance({name}) cannot encode advert: {error}");
                return;
            }
        };
        self.status.touch();
        let Some(name) = self.names.get(&id).cloned() else {
            return;
        };
        match action {
            Action::Log(l) => tracing::info!("VRRP_Instance({name}) {l}"),
            // The router turns these into transmits.
            Action::SendAdvert { .. } => {}
            Action::AddVips(set) => {
                self.apply_vips(&name, &set, true);
                self.status.vips(&name, true);
            }
            Action::RemoveVips(set) => {
                if self.releasing {
                    self.apply_vips(&name, &set, false);
                    self.status.vips(&name, false);
                }
            }
            Action::SendGarp { addrs, count, .. } => self.send_garps(&name, &addrs, count).await,
            Action::Notify { event, priority } => {
                if let Some(ir) = self.insts.get(&name) {
                    let _ = self.svc.send(ServiceMsg::Notify {
                        instance: name.clone(),
                        event,
                        priority,
                        state: ir.state,
                        smtp_alert: ir.plan.smtp_alert,
                    });
                }
            }
            Action::StateChanged { to, .. } => {
                if let Some(ir) = self.insts.get_mut(&name) {
                    ir.state = to;
                }
                self.handover_dirty = true;
            }
        }
    }
}

async fn next_event(m: &mut Option<NetlinkMonitor>) -> Option<NetEvent> {
    match m {
        Some(m) => m.next().await,
        None => std::future::pending().await,
    }
}
