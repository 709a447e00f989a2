//! Deterministic VRRP simulator.
//!
//! N nodes run the real [`keel_vrrp`] engine ([`Instance`]s and
//! [`SyncGroup`]s) on a virtual LAN with a virtual clock. Everything that
//! happens is an event in one queue ordered by (time, sequence number), and
//! every random choice (loss, jitter, duplication) comes from one seeded
//! PRNG, so a run is a pure function of its seed and script.
//!
//! ```
//! use std::time::Duration;
//! use keel_sim::{Command, Sim};
//! use keel_vrrp::config::InstanceConfig;
//! use keel_vrrp::instance::State;
//! use keel_vrrp::time::Instant;
//!
//! let mut sim = Sim::new(1);
//! let a = sim.add_node("a");
//! let b = sim.add_node("b");
//! let mut ca = InstanceConfig::new("VI_1", 51, "192.0.2.1".parse().unwrap());
//! ca.vips.vips.push("192.0.2.50".parse().unwrap());
//! let mut cb = InstanceConfig::new("VI_1", 51, "192.0.2.2".parse().unwrap());
//! cb.priority = 90;
//! cb.vips = ca.vips.clone();
//! sim.add_instance(a, ca);
//! sim.add_instance(b, cb);
//! sim.at(Instant::ZERO, Command::Start(a));
//! sim.at(Instant::ZERO, Command::Start(b));
//! sim.run_until(Instant::from_micros(10_000_000));
//! assert_eq!(sim.masters_at(sim.now(), 51), vec![a]);
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod rng;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use keel_vrrp::config::InstanceConfig;
use keel_vrrp::garp::GarpReason;
use keel_vrrp::group::{GroupOutput, SyncGroup};
use keel_vrrp::instance::{Action, Event, Instance, NotifyEvent, RxAdvert, State};
use keel_vrrp::time::Instant;
use keel_vrrp::track::{TrackId, TrackState};

pub use rng::SplitMix64;

/// Index of a node in the simulation.
pub type NodeId = usize;

/// Index of an instance or sync group within its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitId(pub usize);

/// Properties of a directed link between two nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkParams {
    /// Probability that one copy is lost.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay, uniform in [0, jitter].
    pub jitter: Duration,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            duplicate: 0.0,
        }
    }
}

/// Something to do to the simulated world at a given time.
#[derive(Debug, Clone)]
pub enum Command {
    /// Start (or restart) keepalived on a node: fresh instances, `Startup`.
    Start(NodeId),
    /// SIGKILL: the node stops sending at once; its VIPs stay configured.
    Crash(NodeId),
    /// SIGTERM: priority-0 adverts, VIPs removed, then the process is gone.
    Stop(NodeId),
    /// The node's VRRP interface loses / regains carrier.
    LinkDown(NodeId),
    LinkUp(NodeId),
    /// Nodes in different sets cannot hear each other; nodes not listed form
    /// one more set together.
    Partition(Vec<Vec<NodeId>>),
    /// Everybody hears everybody again.
    Heal,
    /// Parameters of the directed link `from → to`.
    SetLink {
        from: NodeId,
        to: NodeId,
        params: LinkParams,
    },
    /// Parameters of every link without its own setting.
    SetDefaultLink(LinkParams),
    /// A tracker of one instance (or group member) reports a new state.
    Track {
        node: NodeId,
        unit: UnitId,
        member: usize,
        id: TrackId,
        state: TrackState,
    },
    /// Any engine event, fed to one instance (or group member).
    Inject {
        node: NodeId,
        unit: UnitId,
        member: usize,
        event: Event,
    },
}

/// What to record (adverts and logs cost memory in long runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimOptions {
    pub record_adverts: bool,
    pub record_logs: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            record_adverts: true,
            record_logs: true,
        }
    }
}

/// A state change of one instance. `None` means "no process" (before the
/// first start, or after a crash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    pub t: Instant,
    pub node: NodeId,
    pub unit: UnitId,
    pub member: usize,
    pub name: String,
    pub vrid: u8,
    pub segment: u32,
    pub from: Option<State>,
    pub to: Option<State>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertRecord {
    pub t: Instant,
    pub node: NodeId,
    pub vrid: u8,
    pub segment: u32,
    pub src: IpAddr,
    pub priority: u8,
    pub interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub t: Instant,
    pub node: NodeId,
    /// `(VI_1) Entering MASTER STATE`
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyRecord {
    pub t: Instant,
    pub node: NodeId,
    pub instance: String,
    pub event: NotifyEvent,
    pub priority: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarpRecord {
    pub t: Instant,
    pub node: NodeId,
    pub instance: String,
    pub addrs: Vec<IpAddr>,
    pub count: u32,
    pub reason: GarpReason,
}

/// A node held a VIP during `[start, end)` (`end == None`: still holds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipInterval {
    pub vip: IpAddr,
    pub node: NodeId,
    pub start: Instant,
    pub end: Option<Instant>,
}

#[derive(Debug, Clone)]
enum UnitSpec {
    Single(Box<InstanceConfig>),
    Group {
        name: String,
        members: Vec<InstanceConfig>,
    },
}

#[derive(Debug)]
enum Unit {
    Single(Box<Instance>),
    Group(Box<SyncGroup>),
}

impl Unit {
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Unit::Single(i) => i.poll_timeout(),
            Unit::Group(g) => g.poll_timeout(),
        }
    }

    fn handle(&mut self, now: Instant, member: usize, event: Event) {
        match self {
            Unit::Single(i) => {
                if member == 0 {
                    i.handle(now, event)
                }
            }
            Unit::Group(g) => g.handle(now, member, event),
        }
    }

    fn handle_all(&mut self, now: Instant, event: Event) {
        match self {
            Unit::Single(i) => i.handle(now, event),
            Unit::Group(g) => g.handle_all(now, event),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Unit::Single(i) => i.handle_timeout(now),
            Unit::Group(g) => g.handle_timeout(now),
        }
    }

    fn drain(&mut self, out: &mut Vec<(usize, Output)>) {
        match self {
            Unit::Single(i) => {
                while let Some(a) = i.poll_action() {
                    out.push((0, Output::Action(a)));
                }
            }
            Unit::Group(g) => {
                while let Some(o) = g.poll_output() {
                    match o {
                        GroupOutput::Member { index, action } => {
                            out.push((index, Output::Action(action)))
                        }
                        GroupOutput::StateChanged { from, to } => {
                            out.push((0, Output::Group(from, to)))
                        }
                    }
                }
            }
        }
    }

    fn member(&self, member: usize) -> Option<&Instance> {
        match self {
            Unit::Single(i) => (member == 0).then_some(&**i),
            Unit::Group(g) => g.member(member),
        }
    }
}

#[derive(Debug)]
enum Output {
    Action(Action),
    Group(State, State),
}

#[derive(Debug)]
struct Slot {
    spec: UnitSpec,
    segment: u32,
    unit: Option<Unit>,
    generation: u64,
    armed: Option<Instant>,
}

impl Slot {
    fn member_cfg(&self, member: usize) -> Option<&InstanceConfig> {
        match &self.spec {
            UnitSpec::Single(c) => (member == 0).then_some(&**c),
            UnitSpec::Group { members, .. } => members.get(member),
        }
    }

    fn member_count(&self) -> usize {
        match &self.spec {
            UnitSpec::Single(_) => 1,
            UnitSpec::Group { members, .. } => members.len(),
        }
    }
}

#[derive(Debug)]
struct Node {
    name: String,
    running: bool,
    link_up: bool,
    partition: u32,
    slots: Vec<Slot>,
}

#[derive(Debug)]
enum Ev {
    Timer {
        node: NodeId,
        slot: usize,
        generation: u64,
    },
    Deliver {
        from: NodeId,
        node: NodeId,
        slot: usize,
        member: usize,
        adv: RxAdvert,
    },
    Cmd(Command),
}

#[derive(Debug)]
struct Queued {
    t: Instant,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.t, self.seq).cmp(&(o.t, o.seq))
    }
}

/// (node, slot, member) of an instance listening on a (segment, VRID).
type Receiver = (NodeId, usize, usize);

fn can_hear(nodes: &[Node], from: NodeId, to: NodeId) -> bool {
    let (a, b) = (&nodes[from], &nodes[to]);
    b.running && a.link_up && b.link_up && a.partition == b.partition
}

/// The simulated world.
#[derive(Debug)]
pub struct Sim {
    now: Instant,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    rng: SplitMix64,
    opts: SimOptions,
    nodes: Vec<Node>,
    default_link: LinkParams,
    links: HashMap<(NodeId, NodeId), LinkParams>,
    /// (segment, vrid) → every (node, slot, member) speaking it.
    receivers: HashMap<(u32, u8), Vec<Receiver>>,
    states: Vec<StateRecord>,
    group_states: Vec<(Instant, NodeId, UnitId, State, State)>,
    adverts: Vec<AdvertRecord>,
    logs: Vec<LogRecord>,
    notifies: Vec<NotifyRecord>,
    garps: Vec<GarpRecord>,
    vips: Vec<VipInterval>,
    open_vips: HashMap<(NodeId, IpAddr), usize>,
    adverts_sent: u64,
    adverts_delivered: u64,
    events_processed: u64,
    scratch: Vec<(usize, Output)>,
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        Sim::with_options(seed, SimOptions::default())
    }

    pub fn with_options(seed: u64, opts: SimOptions) -> Self {
        Sim {
            now: Instant::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            rng: SplitMix64::new(seed),
            opts,
            nodes: Vec::new(),
            default_link: LinkParams::default(),
            links: HashMap::new(),
            receivers: HashMap::new(),
            states: Vec::new(),
            group_states: Vec::new(),
            adverts: Vec::new(),
            logs: Vec::new(),
            notifies: Vec::new(),
            garps: Vec::new(),
            vips: Vec::new(),
            open_vips: HashMap::new(),
            adverts_sent: 0,
            adverts_delivered: 0,
            events_processed: 0,
            scratch: Vec::new(),
        }
    }

    // ---- building the world ------------------------------------------------

    pub fn add_node(&mut self, name: impl Into<String>) -> NodeId {
        self.nodes.push(Node {
            name: name.into(),
            running: false,
            link_up: true,
            partition: 0,
            slots: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Adds an instance on LAN segment 0. Panics if `node` does not exist.
    pub fn add_instance(&mut self, node: NodeId, cfg: InstanceConfig) -> UnitId {
        self.add_instance_on(node, 0, cfg)
    }

    /// Adds an instance on a LAN segment: adverts reach instances with the
    /// same VRID on the same segment of other nodes.
    pub fn add_instance_on(&mut self, node: NodeId, segment: u32, cfg: InstanceConfig) -> UnitId {
        self.add_slot(node, segment, UnitSpec::Single(Box::new(cfg)))
    }

    /// Adds a sync group (all members on segment 0).
    pub fn add_group(
        &mut self,
        node: NodeId,
        name: impl Into<String>,
        members: Vec<InstanceConfig>,
    ) -> UnitId {
        self.add_slot(
            node,
            0,
            UnitSpec::Group {
                name: name.into(),
                members,
            },
        )
    }

    fn add_slot(&mut self, node: NodeId, segment: u32, spec: UnitSpec) -> UnitId {
        let slot = Slot {
            spec,
            segment,
            unit: None,
            generation: 0,
            armed: None,
        };
        let idx = self.nodes[node].slots.len();
        for m in 0..slot.member_count() {
            if let Some(c) = slot.member_cfg(m) {
                self.receivers
                    .entry((segment, c.vrid))
                    .or_default()
                    .push((node, idx, m));
            }
        }
        self.nodes[node].slots.push(slot);
        UnitId(idx)
    }

    /// Schedules a command.
    pub fn at(&mut self, t: Instant, cmd: Command) {
        self.push(t, Ev::Cmd(cmd));
    }

    fn push(&mut self, t: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            t,
            seq: self.seq,
            ev,
        }));
    }

    // ---- running -------------------------------------------------------------

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Processes every event up to and including `until`; the clock then reads `until`.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(Reverse(q)) = self.queue.peek() {
            if q.t > until {
                break;
            }
            let Some(Reverse(q)) = self.queue.pop() else {
                break;
            };
            self.now = self.now.max(q.t);
            self.events_processed += 1;
            match q.ev {
                Ev::Timer {
                    node,
                    slot,
                    generation,
                } => self.on_timer(node, slot, generation),
                Ev::Deliver {
                    from,
                    node,
                    slot,
                    member,
                    adv,
                } => self.on_deliver(from, node, slot, member, adv),
                Ev::Cmd(c) => self.on_command(c),
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` more virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn on_timer(&mut self, node: NodeId, slot: usize, generation: u64) {
        let now = self.now;
        let n = &mut self.nodes[node];
        if !n.running {
            return;
        }
        let s = &mut n.slots[slot];
        if s.generation != generation {
            return;
        }
        s.armed = None;
        if let Some(u) = s.unit.as_mut() {
            u.handle_timeout(now);
        }
        self.after_step(node, slot);
    }

    fn on_deliver(
        &mut self,
        from: NodeId,
        node: NodeId,
        slot: usize,
        member: usize,
        adv: RxAdvert,
    ) {
        let now = self.now;
        if !self.can_hear(from, node) {
            return;
        }
        let n = &mut self.nodes[node];
        let Some(u) = n.slots[slot].unit.as_mut() else {
            return;
        };
        u.handle(now, member, Event::RxAdvert(adv));
        self.adverts_delivered += 1;
        self.after_step(node, slot);
    }

    fn can_hear(&self, from: NodeId, to: NodeId) -> bool {
        can_hear(&self.nodes, from, to)
    }

    fn on_command(&mut self, c: Command) {
        let now = self.now;
        let target = match &c {
            Command::Start(n)
            | Command::Crash(n)
            | Command::Stop(n)
            | Command::LinkDown(n)
            | Command::LinkUp(n) => Some(*n),
            _ => None,
        };
        if target.is_some_and(|n| n >= self.nodes.len()) {
            // A script naming a node that does not exist is a no-op, not a panic.
            return;
        }
        match c {
            Command::Start(node) => {
                if self.nodes[node].running {
                    return;
                }
                self.nodes[node].running = true;
                let link_up = self.nodes[node].link_up;
                for slot in 0..self.nodes[node].slots.len() {
                    let s = &mut self.nodes[node].slots[slot];
                    let mut unit =
                        match &s.spec {
                            UnitSpec::Single(c) => {
                                Unit::Single(Box::new(Instance::new((**c).clone(), now)))
                            }
                            UnitSpec::Group { name, members } => Unit::Group(Box::new(
                                SyncGroup::new(name.clone(), members.clone(), now),
                            )),
                        };
                    if !link_up {
                        unit.handle_all(now, Event::InterfaceDown);
                    }
                    unit.handle_all(now, Event::Startup);
                    s.unit = Some(unit);
                    self.after_step(node, slot);
                }
            }
            Command::Crash(node) => {
                if !self.nodes[node].running {
                    return;
                }
                self.nodes[node].running = false;
                for slot in 0..self.nodes[node].slots.len() {
                    let s = &mut self.nodes[node].slots[slot];
                    s.generation += 1;
                    s.armed = None;
                    if let Some(u) = s.unit.take() {
                        for m in 0..s.member_count() {
                            if let Some(i) = u.member(m) {
                                self.states.push(StateRecord {
                                    t: now,
                                    node,
                                    unit: UnitId(slot),
                                    member: m,
                                    name: i.name().to_string(),
                                    vrid: i.vrid(),
                                    segment: s.segment,
                                    from: Some(i.state()),
                                    to: None,
                                });
                            }
                        }
                    }
                }
            }
            Command::Stop(node) => {
                if !self.nodes[node].running {
                    return;
                }
                for slot in 0..self.nodes[node].slots.len() {
                    if let Some(u) = self.nodes[node].slots[slot].unit.as_mut() {
                        u.handle_all(now, Event::Shutdown);
                    }
                    self.after_step(node, slot);
                }
                let n = &mut self.nodes[node];
                n.running = false;
                for s in n.slots.iter_mut() {
                    s.unit = None;
                    s.generation += 1;
                    s.armed = None;
                }
            }
            Command::LinkDown(node) | Command::LinkUp(node) => {
                let up = matches!(c, Command::LinkUp(_));
                if self.nodes[node].link_up == up {
                    return;
                }
                // Going down: the FAULT transition's priority-0 advert is lost
                // with the carrier, so flip the link first. Coming up: flip first too.
                self.nodes[node].link_up = up;
                let ev = if up {
                    Event::InterfaceUp
                } else {
                    Event::InterfaceDown
                };
                if self.nodes[node].running {
                    for slot in 0..self.nodes[node].slots.len() {
                        if let Some(u) = self.nodes[node].slots[slot].unit.as_mut() {
                            u.handle_all(now, ev.clone());
                        }
                        self.after_step(node, slot);
                    }
                }
            }
            Command::Partition(sets) => {
                let extra = sets.len() as u32 + 1;
                for n in self.nodes.iter_mut() {
                    n.partition = extra;
                }
                for (i, set) in sets.iter().enumerate() {
                    for &node in set {
                        if let Some(n) = self.nodes.get_mut(node) {
                            n.partition = i as u32 + 1;
                        }
                    }
                }
            }
            Command::Heal => {
                for n in self.nodes.iter_mut() {
                    n.partition = 0;
                }
            }
            Command::SetLink { from, to, params } => {
                self.links.insert((from, to), params);
            }
            Command::SetDefaultLink(p) => self.default_link = p,
            Command::Track {
                node,
                unit,
                member,
                id,
                state,
            } => {
                self.inject(node, unit.0, member, Event::Track { id, state });
            }
            Command::Inject {
                node,
                unit,
                member,
                event,
            } => self.inject(node, unit.0, member, event),
        }
    }

    fn inject(&mut self, node: NodeId, slot: usize, member: usize, event: Event) {
        let now = self.now;
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if !n.running {
            return;
        }
        let Some(s) = n.slots.get_mut(slot) else {
            return;
        };
        if let Some(u) = s.unit.as_mut() {
            u.handle(now, member, event);
        }
        self.after_step(node, slot);
    }

    /// Performs the unit's actions and re-arms its timer.
    fn after_step(&mut self, node: NodeId, slot: usize) {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        if let Some(u) = self.nodes[node].slots[slot].unit.as_mut() {
            u.drain(&mut out);
        }
        for (member, o) in out.drain(..) {
            match o {
                Output::Action(a) => self.perform(node, slot, member, a),
                Output::Group(from, to) => {
                    self.group_states
                        .push((self.now, node, UnitId(slot), from, to))
                }
            }
        }
        self.scratch = out;
        let s = &mut self.nodes[node].slots[slot];
        let Some(t) = s.unit.as_ref().and_then(Unit::poll_timeout) else {
            return;
        };
        // A backup's Master_Down deadline moves later on every advert: keep the
        // earlier queued wake-up (an early `handle_timeout` is a no-op and
        // re-arms) instead of queueing one event per advert.
        if s.armed.is_some_and(|a| a <= t) {
            return;
        }
        s.armed = Some(t);
        s.generation += 1;
        let generation = s.generation;
        let t = t.max(self.now);
        self.push(
            t,
            Ev::Timer {
                node,
                slot,
                generation,
            },
        );
    }

    fn perform(&mut self, node: NodeId, slot: usize, member: usize, a: Action) {
        let now = self.now;
        let s = &self.nodes[node].slots[slot];
        let segment = s.segment;
        let Some(cfg) = s.member_cfg(member) else {
            return;
        };
        match a {
            Action::SendAdvert { priority, interval } => {
                let (vrid, src) = (cfg.vrid, cfg.primary_ip);
                self.adverts_sent += 1;
                if self.opts.record_adverts {
                    self.adverts.push(AdvertRecord {
                        t: now,
                        node,
                        vrid,
                        segment,
                        src,
                        priority,
                        interval,
                    });
                }
                if !self.nodes[node].link_up {
                    return;
                }
                let adv = RxAdvert {
                    src,
                    priority,
                    adver_int: interval,
                };
                // Field-wise borrows: the receiver list is read while the queue
                // and the PRNG are written, without copying the list per advert.
                let Sim {
                    receivers,
                    queue,
                    seq,
                    rng,
                    links,
                    default_link,
                    nodes,
                    ..
                } = self;
                let Some(rx) = receivers.get(&(segment, vrid)) else {
                    return;
                };
                for &(to, rslot, rmember) in rx.iter() {
                    if to == node || !can_hear(nodes, node, to) {
                        continue;
                    }
                    let p = links.get(&(node, to)).copied().unwrap_or(*default_link);
                    let copies = if rng.chance(p.duplicate) { 2 } else { 1 };
                    for _ in 0..copies {
                        if rng.chance(p.loss) {
                            continue;
                        }
                        let jitter = if p.jitter.is_zero() {
                            Duration::ZERO
                        } else {
                            Duration::from_micros(rng.below(p.jitter.as_micros() as u64 + 1))
                        };
                        *seq += 1;
                        queue.push(Reverse(Queued {
                            t: now + p.delay + jitter,
                            seq: *seq,
                            ev: Ev::Deliver {
                                from: node,
                                node: to,
                                slot: rslot,
                                member: rmember,
                                adv,
                            },
                        }));
                    }
                }
            }
            Action::AddVips(set) => {
                for vip in set.vips.iter().chain(set.evips.iter()) {
                    if !self.open_vips.contains_key(&(node, *vip)) {
                        self.vips.push(VipInterval {
                            vip: *vip,
                            node,
                            start: now,
                            end: None,
                        });
                        self.open_vips.insert((node, *vip), self.vips.len() - 1);
                    }
                }
            }
            Action::RemoveVips(set) => {
                for vip in set.vips.iter().chain(set.evips.iter()) {
                    if let Some(i) = self.open_vips.remove(&(node, *vip)) {
                        self.vips[i].end = Some(now);
                    }
                }
            }
            Action::SendGarp {
                addrs,
                count,
                reason,
            } => {
                let instance = cfg.name.clone();
                self.garps.push(GarpRecord {
                    t: now,
                    node,
                    instance,
                    addrs,
                    count,
                    reason,
                });
            }
            Action::Notify { event, priority } => {
                let instance = cfg.name.clone();
                self.notifies.push(NotifyRecord {
                    t: now,
                    node,
                    instance,
                    event,
                    priority,
                });
            }
            Action::StateChanged { from, to } => {
                let rec = StateRecord {
                    t: now,
                    node,
                    unit: UnitId(slot),
                    member,
                    name: cfg.name.clone(),
                    vrid: cfg.vrid,
                    segment,
                    from: Some(from),
                    to: Some(to),
                };
                self.states.push(rec);
            }
            Action::Log(l) => {
                if self.opts.record_logs {
                    let line = format!("({}) {}", cfg.name, l);
                    self.logs.push(LogRecord { t: now, node, line });
                }
            }
        }
    }

    // ---- inspection -----------------------------------------------------------

    pub fn node_name(&self, node: NodeId) -> &str {
        &self.nodes[node].name
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_running(&self, node: NodeId) -> bool {
        self.nodes[node].running
    }

    /// The live instance (or group member), if the node is running.
    pub fn instance(&self, node: NodeId, unit: UnitId, member: usize) -> Option<&Instance> {
        self.nodes
            .get(node)?
            .slots
            .get(unit.0)?
            .unit
            .as_ref()?
            .member(member)
    }

    /// The live sync group, if `unit` is one and the node is running.
    pub fn group(&self, node: NodeId, unit: UnitId) -> Option<&SyncGroup> {
        match self.nodes.get(node)?.slots.get(unit.0)?.unit.as_ref()? {
            Unit::Group(g) => Some(g),
            Unit::Single(_) => None,
        }
    }

    pub fn state_changes(&self) -> &[StateRecord] {
        &self.states
    }

    /// Sync-group state changes: (time, node, unit, from, to).
    pub fn group_state_changes(&self) -> &[(Instant, NodeId, UnitId, State, State)] {
        &self.group_states
    }

    pub fn adverts(&self) -> &[AdvertRecord] {
        &self.adverts
    }

    pub fn logs(&self) -> &[LogRecord] {
        &self.logs
    }

    pub fn notifies(&self) -> &[NotifyRecord] {
        &self.notifies
    }

    pub fn garps(&self) -> &[GarpRecord] {
        &self.garps
    }

    pub fn vip_intervals(&self) -> &[VipInterval] {
        &self.vips
    }

    pub fn adverts_sent(&self) -> u64 {
        self.adverts_sent
    }

    pub fn adverts_delivered(&self) -> u64 {
        self.adverts_delivered
    }

    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    /// Log lines of one node, in order.
    pub fn node_logs(&self, node: NodeId) -> impl Iterator<Item = &LogRecord> {
        self.logs.iter().filter(move |l| l.node == node)
    }

    /// First time a log line of `node` containing `text` was written.
    pub fn first_log(&self, node: NodeId, text: &str) -> Option<Instant> {
        self.node_logs(node)
            .find(|l| l.line.contains(text))
            .map(|l| l.t)
    }

    /// Nodes holding `vip` at instant `t` (intervals are half-open).
    pub fn holders_at(&self, t: Instant, vip: IpAddr) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .vips
            .iter()
            .filter(|i| i.vip == vip && i.start <= t && i.end.is_none_or(|e| t < e))
            .map(|i| i.node)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// State of every running instance with this VRID at `t`.
    fn last_states_at(&self, t: Instant, vrid: u8) -> Vec<(NodeId, UnitId, usize, Option<State>)> {
        let mut last: Vec<(NodeId, UnitId, usize, Option<State>)> = Vec::new();
        for r in self
            .states
            .iter()
            .take_while(|r| r.t <= t)
            .filter(|r| r.vrid == vrid)
        {
            match last
                .iter_mut()
                .find(|e| e.0 == r.node && e.1 == r.unit && e.2 == r.member)
            {
                Some(e) => e.3 = r.to,
                None => last.push((r.node, r.unit, r.member, r.to)),
            }
        }
        last
    }

    /// Nodes with an instance of `vrid` in MASTER at `t` (all segments).
    pub fn masters_at(&self, t: Instant, vrid: u8) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .last_states_at(t, vrid)
            .into_iter()
            .filter(|e| e.3 == Some(State::Master))
            .map(|e| e.0)
            .collect();
        v.sort_unstable();
        v
    }

    /// State of one instance (or member) at `t`, `None` if not running.
    pub fn state_at(&self, t: Instant, node: NodeId, unit: UnitId, member: usize) -> Option<State> {
        self.states
            .iter()
            .take_while(|r| r.t <= t)
            .filter(|r| r.node == node && r.unit == unit && r.member == member)
            .last()
            .and_then(|r| r.to)
    }

    /// First time any instance of `node` entered `state`.
    pub fn first_time(&self, node: NodeId, state: State) -> Option<Instant> {
        self.first_time_after(node, state, Instant::ZERO)
    }

    /// First time at or after `after` that an instance of `node` entered `state`.
    pub fn first_time_after(&self, node: NodeId, state: State, after: Instant) -> Option<Instant> {
        self.states
            .iter()
            .find(|r| r.node == node && r.t >= after && r.to == Some(state))
            .map(|r| r.t)
    }

    /// Longest stretch after `after` during which two or more nodes held `vip`
    /// at once (open intervals end at the current time).
    pub fn max_overlap_after(&self, after: Instant, vip: IpAddr) -> Duration {
        // +1 at a start, -1 at an end; ends sort before starts at the same instant
        // because intervals are half-open.
        let mut edges: Vec<(Instant, i32)> = Vec::new();
        for i in self.vips.iter().filter(|i| i.vip == vip) {
            let end = i.end.unwrap_or(self.now);
            if end <= after || end <= i.start {
                continue;
            }
            edges.push((i.start.max(after), 1));
            edges.push((end, -1));
        }
        edges.sort();
        let (mut count, mut since, mut best) = (0i32, None::<Instant>, Duration::ZERO);
        for (t, d) in edges {
            count += d;
            if count >= 2 && since.is_none() {
                since = Some(t);
            } else if count < 2
                && let Some(s) = since.take()
            {
                best = best.max(t - s);
            }
        }
        if let Some(s) = since {
            best = best.max(self.now - s);
        }
        best
    }

    /// [`Sim::max_overlap_after`] over every VIP that ever appeared.
    pub fn max_overlap_any_after(&self, after: Instant) -> Duration {
        let mut vips: Vec<IpAddr> = self.vips.iter().map(|i| i.vip).collect();
        vips.sort_unstable();
        vips.dedup();
        vips.into_iter()
            .map(|v| self.max_overlap_after(after, v))
            .max()
            .unwrap_or(Duration::ZERO)
    }
}
