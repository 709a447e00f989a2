//! The VRRP instance state machine (RFC 3768 §6, RFC 5798 §6, RFC 9568 §6,
//! with keepalived's behaviour where it deviates).
//!
//! # Driving it
//!
//! The instance is sans-IO, in the style of `quinn-proto`:
//!
//! 1. Build it with [`Instance::new`]; it sits in `INIT` until
//!    [`Event::Startup`] is fed.
//! 2. Feed inputs with [`Instance::handle`] (`now` is the caller's clock).
//! 3. Whenever the clock reaches [`Instance::poll_timeout`], call
//!    [`Instance::handle_timeout`] (calling it early is harmless).
//! 4. After every call, drain [`Instance::poll_action`] until it returns
//!    `None` and perform the actions **in order** (the order is meaningful:
//!    e.g. on becoming MASTER the advert comes before the VIPs, which come
//!    before the GARPs and the notification).
//!
//! The instance never reads a clock, sleeps or draws random numbers.

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::{InstanceConfig, Version, VipSet, master_down_interval, skew_time};
use crate::garp::{GarpBurst, GarpReason, GarpSchedule};
use crate::time::Instant;
use crate::track::{TrackId, TrackState, Tracking};

/// Priority of an address owner.
pub const OWNER_PRIORITY: u8 = 255;

/// Instance state. `Stop` and `Deleted` are terminal and exist for notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Init,
    Backup,
    Master,
    Fault,
    Stop,
    Deleted,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stop => "STOP",
            State::Deleted => "DELETED",
        })
    }
}

/// An advertisement that already passed the receive checks (TTL, version,
/// checksum, authentication, VRID match, not our own): only what the state
/// machine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxAdvert {
    /// Source address (the sender's primary address).
    pub src: IpAddr,
    pub priority: u8,
    /// Advertised interval (v2: seconds × 1 s; v3: centiseconds × 10 ms).
    pub adver_int: Duration,
}

/// Inputs of the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Leave INIT: BACKUP (or MASTER at once for an owner, FAULT if a fault
    /// condition holds).
    Startup,
    RxAdvert(RxAdvert),
    /// A tracker reported a new state (see [`crate::track`]).
    Track {
        id: TrackId,
        state: TrackState,
    },
    /// The VRRP interface came up / went down (carrier, admin state, address).
    InterfaceUp,
    InterfaceDown,
    /// New configured priority (e.g. after a reload).
    SetBasePriority(u8),
    /// Administrative "hold a new election now": a BACKUP acts as if
    /// Master_Down expired, a MASTER advertises at once.
    ForceElection,
    /// Graceful stop (SIGTERM): priority-0 advert if MASTER, VIPs removed,
    /// `STOP` notification. Terminal.
    Shutdown,
    /// Instance removed by a reload: like `Shutdown` but notifies `DELETED`.
    Delete,
}

/// What a notification is about (`notify_*` scripts, FIFO lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyEvent {
    Master,
    Backup,
    Fault,
    Stop,
    Deleted,
    /// `notify_master_rx_lower_pri`: a MASTER heard a lower priority.
    MasterRxLowerPri,
    /// `notify_priority_changes`: effective priority changed.
    PriorityChanged,
}

impl NotifyEvent {
    fn for_state(s: State) -> Option<NotifyEvent> {
        match s {
            State::Master => Some(NotifyEvent::Master),
            State::Backup => Some(NotifyEvent::Backup),
            State::Fault => Some(NotifyEvent::Fault),
            State::Stop => Some(NotifyEvent::Stop),
            State::Deleted => Some(NotifyEvent::Deleted),
            State::Init => None,
        }
    }
}

impl fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotifyEvent::Master => "MASTER",
            NotifyEvent::Backup => "BACKUP",
            NotifyEvent::Fault => "FAULT",
            NotifyEvent::Stop => "STOP",
            NotifyEvent::Deleted => "DELETED",
            NotifyEvent::MasterRxLowerPri => "MASTER_RX_LOWER_PRI",
            NotifyEvent::PriorityChanged => "MASTER_PRIORITY",
        })
    }
}

/// Log lines, rendered (via `Display`) with keepalived's wording, without the
/// `(instance) ` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    /// Entering BACKUP at start-up (`init = true`) or later.
    EnteringBackup {
        init: bool,
    },
    TransitionToMaster,
    EnteringMaster,
    EnteringFault,
    /// A MASTER yields to a higher priority.
    HigherPrioAdvert {
        from: IpAddr,
        priority: u8,
        ours: u8,
    },
    /// A MASTER yields to the same priority from a higher address.
    SamePrioHigherIp {
        from: IpAddr,
        priority: u8,
    },
    /// Two address owners (both priority 255) heard each other. Logged by
    /// the one with the lower address as it yields, and by the other when it
    /// starts watching whether the rogue owner backs off.
    OwnerConflict {
        from: IpAddr,
    },
    /// The rogue owner kept advertising through the conflict window: this
    /// owner lowers itself to 254 so the normal election settles it.
    OwnerStillAdvertising {
        from: IpAddr,
    },
    /// The conflict window closed without another advert from the rogue owner.
    RogueOwnerStopped,
    /// A demoted owner is back at 255.
    OwnerPriorityRestored {
        /// `true`: it became MASTER (the other owner is gone); `false`: a
        /// BACKUP heard a lower priority or another master.
        disappeared: bool,
    },
    /// A BACKUP ignores a lower priority so that its Master_Down timer expires.
    LowerPrioDiscarded {
        from: IpAddr,
        priority: u8,
    },
    /// A MASTER heard a lower priority and re-advertises (RFC 9568 §6.4.3).
    LowerPrioForcingElection {
        from: IpAddr,
        priority: u8,
    },
    BackupRxPriorityZero,
    MasterRxPriorityZero,
    AdvertTimeout,
    ForcingElection,
    PriorityChanged {
        from: u8,
        to: u8,
    },
    SentPriorityZero,
    SettingVips,
    RemovingVips,
    SendingGarps {
        interface: String,
        addrs: Vec<IpAddr>,
    },
    /// VRRPv2: adverts must carry our interval (RFC 3768 §7.1); dropped.
    IntervalMismatch {
        from: IpAddr,
        theirs: Duration,
        ours: Duration,
    },
    /// VRRPv3 backup adopts the master's interval (RFC 5798 §6.4.2).
    AdoptingInterval {
        from: IpAddr,
        interval: Duration,
    },
    PreemptDelayStarted {
        until_ms: u64,
    },
    /// Sync-group gating: this member wants MASTER but waits for the others.
    WaitingForSyncGroup,
}

fn fmt_ips(f: &mut fmt::Formatter<'_>, addrs: &[IpAddr]) -> fmt::Result {
    for (i, a) in addrs.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{a}")?;
    }
    Ok(())
}

impl fmt::Display for LogEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogEvent::EnteringBackup { init: true } => f.write_str("Entering BACKUP STATE (init)"),
            LogEvent::EnteringBackup { init: false } => f.write_str("Entering BACKUP STATE"),
            LogEvent::TransitionToMaster => f.write_str("Transition to MASTER STATE"),
            LogEvent::EnteringMaster => f.write_str("Entering MASTER STATE"),
            LogEvent::EnteringFault => f.write_str("Entering FAULT STATE"),
            LogEvent::HigherPrioAdvert {
                from,
                priority,
                ours,
            } => write!(
                f,
                "Received higher prio advert from {from} with priority {priority}, ours {ours}"
            ),
            LogEvent::SamePrioHigherIp { from, priority } => write!(
                f,
                "Received higher prio advert: same priority {priority} but higher IP address than ours ({from})"
            ),
            LogEvent::OwnerConflict { from } => write!(
                f,
                "CONFIGURATION ERROR: local instance and {from} are both configured as address owner, please resolve"
            ),
            LogEvent::OwnerStillAdvertising { from } => write!(
                f,
                "{from} is still advertising as address owner, please resolve - reducing our priority"
            ),
            LogEvent::RogueOwnerStopped => {
                f.write_str("rogue address owner appears to have stopped advertising")
            }
            LogEvent::OwnerPriorityRestored { disappeared } => write!(
                f,
                "Restoring our priority to {OWNER_PRIORITY} since {}",
                if *disappeared {
                    "other address owner has disappeared"
                } else {
                    "received advert with lower priority"
                }
            ),
            LogEvent::LowerPrioDiscarded { from, priority } => {
                write!(
                    f,
                    "received lower priority ({priority}) advert from {from} - discarding"
                )
            }
            LogEvent::LowerPrioForcingElection { from, priority } => write!(
                f,
                "Received lower prio advert ({priority}) from {from}, forcing new election"
            ),
            LogEvent::BackupRxPriorityZero => {
                f.write_str("Backup received priority 0 advertisement")
            }
            LogEvent::MasterRxPriorityZero => {
                f.write_str("Master received priority 0 advertisement")
            }
            LogEvent::AdvertTimeout => f.write_str("Receive advertisement timeout"),
            LogEvent::ForcingElection => f.write_str("forcing a new MASTER election"),
            LogEvent::PriorityChanged { from, to } => {
                write!(f, "Changing effective priority from {from} to {to}")
            }
            LogEvent::SentPriorityZero => f.write_str("sent 0 priority"),
            LogEvent::SettingVips => f.write_str("setting protocol VIPs."),
            LogEvent::RemovingVips => f.write_str("removing protocol VIPs."),
            LogEvent::SendingGarps { interface, addrs } => {
                write!(f, "Sending gratuitous ARPs on {interface} for ")?;
                fmt_ips(f, addrs)
            }
            LogEvent::IntervalMismatch { from, theirs, ours } => write!(
                f,
                "advertisement interval mismatch from {from}: received {}ms, ours {}ms - discarding",
                theirs.as_millis(),
                ours.as_millis()
            ),
            LogEvent::AdoptingInterval { from, interval } => write!(
                f,
                "adopting advertisement interval {}ms of master {from}",
                interval.as_millis()
            ),
            LogEvent::PreemptDelayStarted { until_ms } => {
                write!(
                    f,
                    "lower priority master seen, preemption delayed for {until_ms}ms"
                )
            }
            LogEvent::WaitingForSyncGroup => {
                f.write_str("wants MASTER, waiting for the other members of its sync group")
            }
        }
    }
}

/// Outputs of the state machine, to be performed in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send one advertisement now with these values (the daemon fills in
    /// VRID, version, addresses, authentication).
    SendAdvert {
        priority: u8,
        interval: Duration,
    },
    /// Install VIPs, eVIPs, virtual routes and rules.
    AddVips(VipSet),
    /// Withdraw them (also emitted at start-up to clean up after a crash).
    RemoveVips(VipSet),
    /// Send `count` gratuitous ARPs / unsolicited NAs for each address.
    SendGarp {
        addrs: Vec<IpAddr>,
        count: u32,
        reason: GarpReason,
    },
    /// Run notify scripts / write FIFO lines.
    Notify {
        event: NotifyEvent,
        priority: u8,
    },
    StateChanged {
        from: State,
        to: State,
    },
    Log(LogEvent),
}

/// One VRRP instance.
#[derive(Debug, Clone)]
pub struct Instance {
    cfg: InstanceConfig,
    state: State,
    started: bool,
    base_priority: u8,
    effective_priority: u8,
    tracking: Tracking,
    iface_up: bool,
    /// Set by a sync group when another member faulted.
    group_fault: bool,
    /// Member of a sync group: Master_Down expiry only *requests* MASTER.
    group_member: bool,
    wants_master: bool,
    master_adver_int: Duration,
    /// BACKUP: Master_Down timer. INIT (owner): the 1 µs fast-start timer.
    down_timer: Option<Instant>,
    /// MASTER: Adver_Timer.
    advert_timer: Option<Instant>,
    garp: GarpSchedule,
    /// End of the running preempt_delay window.
    preempt_until: Option<Instant>,
    /// Last accepted master (BACKUP) and its priority.
    master_ip: Option<IpAddr>,
    master_priority: Option<u8>,
    /// Owner-vs-owner conflict (keepalived's rogue owner handling): own
    /// periodic adverts still to send before the watch window opens.
    rogue_adverts_left: u8,
    /// End of the watch window: a rogue owner advert heard before it means
    /// the rogue does not back off, so this owner does.
    rogue_until: Option<Instant>,
    /// Interval the rogue owner advertises with.
    rogue_adver_int: Duration,
    /// An owner lowered to 254 by a conflict it could not otherwise settle.
    owner_demoted: bool,
    /// Last answer to a lower-priority or priority-0 advert while MASTER.
    last_reflect: Option<Instant>,
    actions: VecDeque<Action>,
    scratch: Vec<GarpBurst>,
}

impl Instance {
    pub fn new(cfg: InstanceConfig, _now: Instant) -> Self {
        let tracking = Tracking::new(&cfg.tracks);
        let base = cfg.priority.max(1);
        let effective = tracking.effective_priority(base);
        let master_adver_int = cfg.advert_interval;
        Instance {
            cfg,
            state: State::Init,
            started: false,
            base_priority: base,
            effective_priority: effective,
            tracking,
            iface_up: true,
            group_fault: false,
            group_member: false,
            wants_master: false,
            master_adver_int,
            down_timer: None,
            advert_timer: None,
            garp: GarpSchedule::default(),
            preempt_until: None,
            master_ip: None,
            master_priority: None,
            rogue_adverts_left: 0,
            rogue_until: None,
            rogue_adver_int: Duration::ZERO,
            owner_demoted: false,
            last_reflect: None,
            actions: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn vrid(&self) -> u8 {
        self.cfg.vrid
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }

    pub fn base_priority(&self) -> u8 {
        self.base_priority
    }

    /// Current Master_Adver_Interval (a v3 BACKUP's is the master's).
    pub fn master_adver_int(&self) -> Duration {
        self.master_adver_int
    }

    /// Master_Down_Interval as currently computed.
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(
            self.cfg.down_timer_adverts,
            self.effective_priority,
            self.master_adver_int,
        )
    }

    /// Skew_Time as currently computed.
    pub fn skew_time(&self) -> Duration {
        skew_time(self.effective_priority, self.master_adver_int)
    }

    /// The master this BACKUP last accepted an advert from.
    pub fn master_ip(&self) -> Option<IpAddr> {
        self.master_ip
    }

    /// Whether this address owner runs at 254 because another owner kept
    /// advertising 255 (see [`LogEvent::OwnerStillAdvertising`]).
    pub fn owner_demoted(&self) -> bool {
        self.owner_demoted
    }

    pub fn tracking(&self) -> &Tracking {
        &self.tracking
    }

    /// Whether a fault condition holds (interface down, weight-0 tracker, group).
    pub fn is_faulted(&self) -> bool {
        !self.iface_up || self.tracking.faulted() || self.group_fault
    }

    /// Earliest instant at which [`Instance::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Init => self.down_timer,
            State::Backup => self.down_timer,
            State::Master => [self.advert_timer, self.garp.next(), self.rogue_until]
                .into_iter()
                .flatten()
                .min(),
            State::Fault | State::Stop | State::Deleted => None,
        }
    }

    /// Next action to perform, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether actions are waiting to be polled.
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }

    pub fn handle(&mut self, now: Instant, event: Event) {
        if self.is_terminal() {
            return;
        }
        match event {
            Event::Startup => self.startup(now),
            Event::RxAdvert(adv) => self.rx_advert(now, adv),
            Event::Track { id, state } => {
                if self.tracking.set(id, state) {
                    self.priority_or_fault_changed(now);
                }
            }
            Event::InterfaceUp => {
                if !self.iface_up {
                    self.iface_up = true;
                    self.priority_or_fault_changed(now);
                }
            }
            Event::InterfaceDown => {
                if self.iface_up {
                    self.iface_up = false;
                    self.priority_or_fault_changed(now);
                }
            }
            Event::SetBasePriority(p) => {
                let p = p.max(1);
                if p != self.base_priority {
                    self.base_priority = p;
                    if p != OWNER_PRIORITY {
                        self.owner_demoted = false;
                        self.clear_rogue();
                    }
                    self.priority_or_fault_changed(now);
                }
            }
            Event::ForceElection => self.force_election(now),
            Event::Shutdown => self.stop(State::Stop),
            Event::Delete => self.stop(State::Deleted),
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Init => {
                if self.started && self.down_timer.is_some_and(|t| t <= now) {
                    self.down_timer = None;
                    self.become_master(now);
                }
            }
            State::Backup => {
                if self.down_timer.is_some_and(|t| t <= now) {
                    self.push_log(LogEvent::AdvertTimeout);
                    self.master_down_expired(now);
                }
            }
            State::Master => {
                self.scratch.clear();
                let mut bursts = std::mem::take(&mut self.scratch);
                self.garp.fire(now, &self.cfg.garp, &mut bursts);
                for b in bursts.drain(..) {
                    self.push_garp(b);
                }
                self.scratch = bursts;
                self.expire_rogue_window(now);
                if self.advert_timer.is_some_and(|t| t <= now) {
                    self.send_advert(self.effective_priority);
                    self.advert_timer = Some(now + self.cfg.advert_interval);
                    self.count_rogue_advert(now);
                }
            }
            State::Fault | State::Stop | State::Deleted => {}
        }
    }

    fn is_terminal(&self) -> bool {
        matches!(self.state, State::Stop | State::Deleted)
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    fn push_log(&mut self, l: LogEvent) {
        self.actions.push_back(Action::Log(l));
    }

    fn send_advert(&mut self, priority: u8) {
        self.push(Action::SendAdvert {
            priority,
            interval: self.cfg.advert_interval,
        });
    }

    fn push_garp(&mut self, b: GarpBurst) {
        let addrs = self.cfg.vips.announced();
        if addrs.is_empty() || b.count == 0 {
            return;
        }
        self.push_log(LogEvent::SendingGarps {
            interface: self.cfg.interface.clone(),
            addrs: addrs.clone(),
        });
        self.push(Action::SendGarp {
            addrs,
            count: b.count,
            reason: b.reason,
        });
    }

    fn set_state(&mut self, to: State) {
        let from = self.state;
        self.state = to;
        self.push(Action::StateChanged { from, to });
    }

    fn notify(&mut self, event: NotifyEvent) {
        self.push(Action::Notify {
            event,
            priority: self.effective_priority,
        });
    }

    fn notify_state(&mut self) {
        if let Some(e) = NotifyEvent::for_state(self.state) {
            self.notify(e);
        }
    }

    fn arm_master_down(&mut self, now: Instant) {
        self.down_timer = Some(now + self.master_down_interval());
    }

    fn startup(&mut self, now: Instant) {
        if self.started || self.state != State::Init {
            return;
        }
        self.started = true;
        // keepalived withdraws leftovers of a previous (crashed) run first.
        self.push_log(LogEvent::RemovingVips);
        self.push(Action::RemoveVips(self.cfg.vips.clone()));
        if self.is_faulted() {
            self.enter_fault(now);
        } else if self.effective_priority == OWNER_PRIORITY {
            // The owner leaves INIT for MASTER through a 1 µs timer.
            self.down_timer = Some(now + Duration::from_micros(1));
        } else {
            self.enter_backup(now, true);
        }
    }

    fn enter_backup(&mut self, now: Instant, init: bool) {
        self.push_log(LogEvent::EnteringBackup { init });
        self.set_state(State::Backup);
        self.advert_timer = None;
        self.garp.clear();
        self.wants_master = false;
        self.preempt_until = None;
        self.arm_master_down(now);
        self.notify_state();
    }

    fn become_master(&mut self, now: Instant) {
        self.wants_master = false;
        self.down_timer = None;
        self.preempt_until = None;
        self.master_ip = None;
        self.master_priority = None;
        self.master_adver_int = self.cfg.advert_interval;
        self.clear_rogue();
        self.push_log(LogEvent::TransitionToMaster);
        self.push_log(LogEvent::EnteringMaster);
        self.set_state(State::Master);
        // A demoted owner only gets here once the other owner stopped
        // advertising. keepalived restores 255 after its first advert; doing
        // it before means that advert already carries the owner's priority.
        if self.owner_demoted {
            self.restore_owner_priority(true);
        }
        // Advert first so that the old master drops the VIPs before we announce them.
        self.send_advert(self.effective_priority);
        self.advert_timer = Some(now + self.cfg.advert_interval);
        self.push_log(LogEvent::SettingVips);
        self.push(Action::AddVips(self.cfg.vips.clone()));
        if let Some(b) = self.garp.become_master(now, &self.cfg.garp) {
            self.push_garp(b);
        }
        self.notify_state();
    }

    /// MASTER → BACKUP on a better advert (or a sync-group pull).
    fn master_to_backup(&mut self, now: Instant) {
        self.clear_rogue();
        self.advert_timer = None;
        self.garp.clear();
        self.push_log(LogEvent::EnteringBackup { init: false });
        self.set_state(State::Backup);
        self.push_log(LogEvent::RemovingVips);
        self.push(Action::RemoveVips(self.cfg.vips.clone()));
        self.wants_master = false;
        self.preempt_until = None;
        self.arm_master_down(now);
        self.notify_state();
    }

    fn enter_fault(&mut self, _now: Instant) {
        let was_master = self.state == State::Master;
        self.push_log(LogEvent::EnteringFault);
        self.set_state(State::Fault);
        if was_master {
            self.send_advert(0);
            self.push_log(LogEvent::SentPriorityZero);
            self.push_log(LogEvent::RemovingVips);
            self.push(Action::RemoveVips(self.cfg.vips.clone()));
        }
        self.down_timer = None;
        self.advert_timer = None;
        self.clear_rogue();
        self.garp.clear();
        self.wants_master = false;
        self.preempt_until = None;
        self.master_ip = None;
        self.master_priority = None;
        self.master_adver_int = self.cfg.advert_interval;
        self.notify_state();
    }

    fn leave_fault(&mut self, now: Instant) {
        self.master_adver_int = self.cfg.advert_interval;
        if self.effective_priority == OWNER_PRIORITY && !self.group_member {
            self.become_master(now);
        } else {
            self.enter_backup(now, false);
        }
    }

    fn stop(&mut self, terminal: State) {
        let was_master = self.state == State::Master;
        if was_master {
            self.send_advert(0);
            self.push_log(LogEvent::SentPriorityZero);
            self.push_log(LogEvent::RemovingVips);
            self.push(Action::RemoveVips(self.cfg.vips.clone()));
        }
        self.set_state(terminal);
        self.down_timer = None;
        self.advert_timer = None;
        self.clear_rogue();
        self.garp.clear();
        self.wants_master = false;
        self.notify_state();
    }

    fn master_down_expired(&mut self, now: Instant) {
        if self.group_member {
            // A sync group decides; keep re-checking every Master_Down meanwhile.
            if !self.wants_master {
                self.push_log(LogEvent::WaitingForSyncGroup);
            }
            self.wants_master = true;
            self.arm_master_down(now);
        } else {
            self.become_master(now);
        }
    }

    fn force_election(&mut self, now: Instant) {
        match self.state {
            State::Backup => {
                self.push_log(LogEvent::ForcingElection);
                self.master_down_expired(now);
            }
            State::Master => {
                self.push_log(LogEvent::ForcingElection);
                self.send_advert(self.effective_priority);
                self.advert_timer = Some(now + self.cfg.advert_interval);
            }
            _ => {}
        }
    }

    /// Priority from the configuration and the trackers, unless an owner
    /// conflict lowered it.
    fn computed_priority(&self) -> u8 {
        if self.owner_demoted && self.base_priority == OWNER_PRIORITY {
            OWNER_PRIORITY - 1
        } else {
            self.tracking.effective_priority(self.base_priority)
        }
    }

    fn clear_rogue(&mut self) {
        self.rogue_adverts_left = 0;
        self.rogue_until = None;
    }

    /// keepalived counts the owner's own periodic adverts after the first
    /// conflicting one; after the second, the watch window opens for a bit
    /// more (1.2×) than the longer of the two advert intervals.
    fn count_rogue_advert(&mut self, now: Instant) {
        if self.base_priority != OWNER_PRIORITY || self.rogue_adverts_left == 0 {
            return;
        }
        self.rogue_adverts_left -= 1;
        if self.rogue_adverts_left == 0 {
            let longest = self.rogue_adver_int.max(self.cfg.advert_interval);
            self.rogue_until = Some(now + longest * 6 / 5);
        }
    }

    fn expire_rogue_window(&mut self, now: Instant) {
        if self.rogue_until.is_some_and(|t| t <= now) {
            self.rogue_until = None;
            self.push_log(LogEvent::RogueOwnerStopped);
        }
    }

    fn restore_owner_priority(&mut self, disappeared: bool) {
        self.owner_demoted = false;
        self.effective_priority = self.computed_priority();
        self.push_log(LogEvent::OwnerPriorityRestored { disappeared });
    }

    /// A MASTER owner heard another owner with a lower address (which should
    /// yield, as we would in its place).
    fn rogue_owner_advert(&mut self, adv: &RxAdvert) {
        if self.rogue_until.is_some() {
            // The rogue saw at least two of our adverts and still claims the
            // addresses: back off so the ordinary election picks one master.
            self.push_log(LogEvent::OwnerStillAdvertising { from: adv.src });
            self.rogue_until = None;
            self.owner_demoted = true;
            self.effective_priority = self.computed_priority();
        } else {
            self.rogue_adver_int = adv.adver_int;
            if self.rogue_adverts_left == 0 {
                self.push_log(LogEvent::OwnerConflict { from: adv.src });
                self.rogue_adverts_left = 2;
            }
        }
    }

    fn priority_or_fault_changed(&mut self, now: Instant) {
        let new = self.computed_priority();
        let old = self.effective_priority;
        if new != old {
            self.effective_priority = new;
            self.push_log(LogEvent::PriorityChanged { from: old, to: new });
            if self.started {
                self.notify(NotifyEvent::PriorityChanged);
            }
            // A BACKUP that now outranks the master preempts when its
            // Master_Down timer expires (lower adverts are discarded from now on).
            if self.state == State::Backup
                && self.cfg.preempt
                && new > old
                && self.master_priority.is_some_and(|mp| mp != 0 && new > mp)
            {
                self.push_log(LogEvent::ForcingElection);
            }
        }
        if !self.started {
            return;
        }
        let faulted = self.is_faulted();
        match self.state {
            State::Fault if !faulted => self.leave_fault(now),
            State::Backup | State::Master if faulted => self.enter_fault(now),
            State::Init if faulted => {
                // Owner fast start pending.
                self.down_timer = None;
                self.enter_fault(now);
            }
            _ => {}
        }
    }

    fn rx_advert(&mut self, now: Instant, adv: RxAdvert) {
        if adv.src == self.cfg.primary_ip {
            return;
        }
        match self.state {
            State::Backup => self.backup_rx(now, adv),
            State::Master => self.master_rx(now, adv),
            _ => {}
        }
    }

    /// RFC 3768 §7.1 / keepalived: a VRRPv2 advert with another interval is dropped.
    fn v2_interval_mismatch(&mut self, adv: &RxAdvert) -> bool {
        if self.cfg.version == Version::V2 && adv.adver_int != self.cfg.advert_interval {
            self.push_log(LogEvent::IntervalMismatch {
                from: adv.src,
                theirs: adv.adver_int,
                ours: self.cfg.advert_interval,
            });
            return true;
        }
        false
    }

    fn adopt_interval(&mut self, adv: &RxAdvert) {
        if self.cfg.version == Version::V3
            && adv.adver_int != self.master_adver_int
            && !adv.adver_int.is_zero()
        {
            self.push_log(LogEvent::AdoptingInterval {
                from: adv.src,
                interval: adv.adver_int,
            });
            self.master_adver_int = adv.adver_int;
        }
    }

    fn backup_rx(&mut self, now: Instant, adv: RxAdvert) {
        if self.v2_interval_mismatch(&adv) {
            return;
        }
        if self.cfg.owner_ignore_adverts && self.base_priority == OWNER_PRIORITY {
            return;
        }
        if self.owner_demoted && (self.master_ip != Some(adv.src) || adv.priority != OWNER_PRIORITY)
        {
            // The owner that made us back off is no longer the one advertising 255.
            self.restore_owner_priority(false);
        }
        if adv.priority == 0 {
            // RFC 5798 §6.4.2: Master_Down_Timer = Skew_Time.
            self.push_log(LogEvent::BackupRxPriorityZero);
            self.adopt_interval(&adv);
            self.down_timer = Some(now + self.skew_time());
            self.master_priority = Some(0);
            return;
        }
        let ours = self.effective_priority;
        let accept = if !self.cfg.preempt || adv.priority >= ours {
            if adv.priority >= ours {
                self.preempt_until = None;
            }
            true
        } else if !self.cfg.preempt_delay.is_zero() {
            let until = match self.preempt_until {
                Some(t) => t,
                None => {
                    let t = now + self.cfg.preempt_delay;
                    self.preempt_until = Some(t);
                    self.push_log(LogEvent::PreemptDelayStarted {
                        until_ms: self.cfg.preempt_delay.as_millis() as u64,
                    });
                    t
                }
            };
            now < until
        } else {
            false
        };
        if accept {
            self.adopt_interval(&adv);
            self.master_ip = Some(adv.src);
            self.master_priority = Some(adv.priority);
            self.wants_master = false;
            self.arm_master_down(now);
        } else {
            self.push_log(LogEvent::LowerPrioDiscarded {
                from: adv.src,
                priority: adv.priority,
            });
        }
    }

    fn master_rx(&mut self, now: Instant, adv: RxAdvert) {
        self.expire_rogue_window(now);
        if self.v2_interval_mismatch(&adv) {
            return;
        }
        if self.cfg.owner_ignore_adverts && self.base_priority == OWNER_PRIORITY {
            return;
        }
        if adv.priority == OWNER_PRIORITY
            && self.effective_priority == OWNER_PRIORITY
            && adv.src < self.cfg.primary_ip
        {
            self.rogue_owner_advert(&adv);
        }
        let ours = self.effective_priority;
        let higher = adv.priority > ours || (adv.priority == ours && adv.src > self.cfg.primary_ip);
        if !higher && !self.may_reflect(now) {
            return;
        }
        if adv.priority == 0 {
            // RFC 5798 §6.4.3: send an advert and reset Adver_Timer.
            self.push_log(LogEvent::MasterRxPriorityZero);
            self.send_advert(ours);
            self.advert_timer = Some(now + self.cfg.advert_interval);
            return;
        }
        if higher {
            if self.cfg.higher_prio_send_advert && !self.cfg.strict {
                self.send_advert(ours);
            }
            if adv.priority == ours {
                if ours == OWNER_PRIORITY {
                    self.push_log(LogEvent::OwnerConflict { from: adv.src });
                }
                self.push_log(LogEvent::SamePrioHigherIp {
                    from: adv.src,
                    priority: adv.priority,
                });
            } else {
                self.push_log(LogEvent::HigherPrioAdvert {
                    from: adv.src,
                    priority: adv.priority,
                    ours,
                });
            }
            self.master_to_backup(now);
            self.adopt_interval(&adv);
            self.master_ip = Some(adv.src);
            self.master_priority = Some(adv.priority);
            self.arm_master_down(now);
        } else {
            // Lower priority (or same priority from a lower address).
            self.notify(NotifyEvent::MasterRxLowerPri);
            if self.cfg.readvertise_on_lower() {
                self.push_log(LogEvent::LowerPrioForcingElection {
                    from: adv.src,
                    priority: adv.priority,
                });
                self.send_advert(ours);
                if let Some(b) = self.garp.lower_priority(now, &self.cfg.garp) {
                    self.push_garp(b);
                }
            }
        }
    }

    /// A MASTER answers lower-priority and priority-0 adverts (log line,
    /// notify, advert, GARPs) at most once per advert interval: one per
    /// received advert would let anyone on the LAN multiply our traffic,
    /// our log and our notify scripts by sending a flood of them. The one
    /// answer per interval still settles the election (RFC 9568 §6.4.3).
    fn may_reflect(&mut self, now: Instant) -> bool {
        if self
            .last_reflect
            .is_some_and(|t| now < t + self.cfg.advert_interval)
        {
            return false;
        }
        self.last_reflect = Some(now);
        true
    }

    // ---- sync-group hooks -------------------------------------------------

    pub(crate) fn set_group_member(&mut self, member: bool) {
        self.group_member = member;
    }

    /// Master_Down expired (or an election was forced) and no advert has been
    /// accepted since: this member would be MASTER if it were alone.
    pub fn wants_master(&self) -> bool {
        self.wants_master
    }

    /// Whether the instance is faulted by its own conditions (not by its group).
    pub(crate) fn own_fault(&self) -> bool {
        !self.iface_up || self.tracking.faulted()
    }

    pub(crate) fn group_become_master(&mut self, now: Instant) {
        if self.state == State::Backup {
            self.become_master(now);
        }
    }

    pub(crate) fn group_backup(&mut self, now: Instant) {
        if self.state == State::Master {
            self.master_to_backup(now);
        }
    }

    pub(crate) fn set_group_fault(&mut self, now: Instant, fault: bool) {
        if self.group_fault != fault {
            self.group_fault = fault;
            self.priority_or_fault_changed(now);
        }
    }
}
