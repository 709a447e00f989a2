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

use std::net::IpAddr;
use std::time::Duration;

use crate::config::{InstanceConfig, Version, master_down_interval, skew_time};
use crate::garp::{GarpBurst, GarpSchedule};
use crate::time::Instant;
use crate::track::Tracking;

mod io;
mod limits;

pub use io::{Action, Event, LogEvent, NotifyEvent, RxAdvert, State};

/// Priority of an address owner.
pub const OWNER_PRIORITY: u8 = 255;

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
    /// Last "lower priority ... discarding" line while BACKUP.
    last_discard_log: Option<Instant>,
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
            last_discard_log: None,
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
        } else if self.may_log_discard(now) {
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
