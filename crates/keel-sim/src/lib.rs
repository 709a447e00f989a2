//! Deterministic VRRP simulator.
//!
//! N nodes each run the real [`keel_vrrp`] endpoint, a [`Router`] holding
//! [`Instance`]s and [`SyncGroup`](keel_vrrp::group::SyncGroup)s, on a virtual LAN with a virtual clock.
//! Adverts travel as the encoded bytes the routers put out, so every
//! receive check, the authentication (PASS and AH) and the wire state run
//! here exactly as under the daemon. Everything that
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

mod command;
mod inspect;
mod record;
pub mod rng;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use keel_vrrp::config::InstanceConfig;
use keel_vrrp::instance::{Action, Event, Instance, State};
use keel_vrrp::packet::RxMeta;
use keel_vrrp::router::{Datagram, InstanceId, Output, Router, Transmit, Unit, WireConfig};
use keel_vrrp::time::Instant;

pub use command::{Command, LinkParams, SimOptions};
pub use record::{AdvertRecord, GarpRecord, LogRecord, NotifyRecord, StateRecord, VipInterval};
pub use rng::SplitMix64;

/// Index of a node in the simulation.
pub type NodeId = usize;

/// Index of an instance or sync group within its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitId(pub usize);

/// What a unit is built from at each start.
#[derive(Debug, Clone)]
enum UnitSpec {
    Single(Box<InstanceConfig>, WireConfig),
    Group {
        name: String,
        members: Vec<(InstanceConfig, WireConfig)>,
    },
}

impl UnitSpec {
    fn members(&self) -> Vec<(&InstanceConfig, &WireConfig)> {
        match self {
            UnitSpec::Single(c, w) => vec![(&**c, w)],
            UnitSpec::Group { members, .. } => members.iter().map(|(c, w)| (c, w)).collect(),
        }
    }

    fn build(&self, now: Instant) -> (Unit, Vec<WireConfig>) {
        match self {
            UnitSpec::Single(c, w) => (Unit::single((**c).clone(), now), vec![w.clone()]),
            UnitSpec::Group { name, members } => (
                Unit::group(
                    name.clone(),
                    members.iter().map(|(c, _)| c.clone()).collect(),
                    now,
                ),
                members.iter().map(|(_, w)| w.clone()).collect(),
            ),
        }
    }
}

#[derive(Debug)]
struct Node {
    name: String,
    running: bool,
    link_up: bool,
    partition: u32,
    /// Unit `i` of the router is built from `specs[i]`.
    specs: Vec<UnitSpec>,
    router: Option<Router>,
    generation: u64,
    armed: Option<Instant>,
}

#[derive(Debug)]
enum Ev {
    Timer {
        node: NodeId,
        generation: u64,
    },
    Deliver {
        from: NodeId,
        node: NodeId,
        segment: u32,
        meta: RxMeta,
        bytes: Vec<u8>,
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

/// Who listens on a (segment, IPv6?, VRID): nodes, in the order their
/// instances were added.
type ListenKey = (u32, bool, u8);

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
    receivers: HashMap<ListenKey, Vec<NodeId>>,
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
        }
    }

    // ---- building the world ------------------------------------------------

    pub fn add_node(&mut self, name: impl Into<String>) -> NodeId {
        self.nodes.push(Node {
            name: name.into(),
            running: false,
            link_up: true,
            partition: 0,
            specs: Vec::new(),
            router: None,
            generation: 0,
            armed: None,
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
        let wire = WireConfig::multicast(segment, cfg.primary_ip);
        self.add_instance_wire(node, cfg, wire)
    }

    /// Adds an instance with its own wire settings (authentication,
    /// checksum, address check...); `wire.ingress` is its LAN segment.
    pub fn add_instance_wire(
        &mut self,
        node: NodeId,
        cfg: InstanceConfig,
        wire: WireConfig,
    ) -> UnitId {
        self.add_spec(node, UnitSpec::Single(Box::new(cfg), wire))
    }

    /// Adds a sync group (all members multicast on segment 0).
    pub fn add_group(
        &mut self,
        node: NodeId,
        name: impl Into<String>,
        members: Vec<InstanceConfig>,
    ) -> UnitId {
        let members = members
            .into_iter()
            .map(|c| {
                let w = WireConfig::multicast(0, c.primary_ip);
                (c, w)
            })
            .collect();
        self.add_spec(
            node,
            UnitSpec::Group {
                name: name.into(),
                members,
            },
        )
    }

    fn add_spec(&mut self, node: NodeId, spec: UnitSpec) -> UnitId {
        for (c, w) in spec.members() {
            let key = (w.ingress, c.primary_ip.is_ipv6(), c.vrid);
            let rx = self.receivers.entry(key).or_default();
            if !rx.contains(&node) {
                rx.push(node);
            }
        }
        let n = &mut self.nodes[node];
        n.specs.push(spec);
        UnitId(n.specs.len() - 1)
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
                Ev::Timer { node, generation } => self.on_timer(node, generation),
                Ev::Deliver {
                    from,
                    node,
                    segment,
                    meta,
                    bytes,
                } => self.on_deliver(from, node, segment, meta, &bytes),
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

    /// Puts encoded bytes on a segment as if `from` had sent them: the
    /// receivers' routers check and decode them like any advert. IPv4
    /// packets carry their own addresses and TTL; `meta` is used for IPv6.
    pub fn inject_datagram(
        &mut self,
        t: Instant,
        from: NodeId,
        to: NodeId,
        segment: u32,
        meta: RxMeta,
        bytes: Vec<u8>,
    ) {
        self.push(
            t,
            Ev::Deliver {
                from,
                node: to,
                segment,
                meta,
                bytes,
            },
        );
    }

    fn on_timer(&mut self, node: NodeId, generation: u64) {
        let now = self.now;
        let n = &mut self.nodes[node];
        if !n.running || n.generation != generation {
            return;
        }
        n.armed = None;
        if let Some(r) = n.router.as_mut() {
            r.handle_timeout(now);
        }
        self.after_step(node);
    }

    fn on_deliver(&mut self, from: NodeId, node: NodeId, segment: u32, meta: RxMeta, bytes: &[u8]) {
        let now = self.now;
        if !can_hear(&self.nodes, from, node) {
            return;
        }
        let Some(r) = self.nodes[node].router.as_mut() else {
            return;
        };
        let dgram = if meta.src.is_ipv6() {
            Datagram::Ipv6 {
                meta,
                payload: bytes,
            }
        } else {
            Datagram::Ipv4(bytes)
        };
        r.handle_datagram(now, segment, dgram);
        self.adverts_delivered += 1;
        self.after_step(node);
    }

    fn on_command(&mut self, c: Command) {
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
            Command::Start(node) => self.start(node),
            Command::Crash(node) => self.crash(node),
            Command::Stop(node) => self.stop(node),
            Command::LinkDown(node) | Command::LinkUp(node) => {
                self.link(node, matches!(c, Command::LinkUp(_)))
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

    fn start(&mut self, node: NodeId) {
        let now = self.now;
        let n = &mut self.nodes[node];
        if n.running {
            return;
        }
        n.running = true;
        // Each process picks its own first IP ID, as keepalived's do.
        let mut router = Router::new((node as u16).wrapping_mul(4099));
        for spec in &n.specs {
            let (unit, wires) = spec.build(now);
            router.add_unit(unit, wires);
        }
        n.router = Some(router);
        let link_up = n.link_up;
        for u in 0..n.specs.len() {
            if let Some(r) = self.nodes[node].router.as_mut() {
                if !link_up {
                    r.handle_unit(now, u, Event::InterfaceDown);
                }
                r.handle_unit(now, u, Event::Startup);
            }
            self.after_step(node);
        }
    }

    fn crash(&mut self, node: NodeId) {
        let now = self.now;
        let n = &mut self.nodes[node];
        if !n.running {
            return;
        }
        n.running = false;
        n.generation += 1;
        n.armed = None;
        let Some(r) = n.router.take() else { return };
        for unit in r.unit_ids() {
            let Some(u) = r.unit(unit) else { continue };
            for m in 0..u.member_count() {
                let (Some(i), Some(w)) =
                    (u.member(m), r.wire_config(InstanceId { unit, member: m }))
                else {
                    continue;
                };
                self.states.push(StateRecord {
                    t: now,
                    node,
                    unit: UnitId(unit),
                    member: m,
                    name: i.name().to_string(),
                    vrid: i.vrid(),
                    segment: w.ingress,
                    from: Some(i.state()),
                    to: None,
                });
            }
        }
    }

    fn stop(&mut self, node: NodeId) {
        let now = self.now;
        if !self.nodes[node].running {
            return;
        }
        for u in 0..self.nodes[node].specs.len() {
            if let Some(r) = self.nodes[node].router.as_mut() {
                r.handle_unit(now, u, Event::Shutdown);
            }
            self.after_step(node);
        }
        let n = &mut self.nodes[node];
        n.running = false;
        n.router = None;
        n.generation += 1;
        n.armed = None;
    }

    fn link(&mut self, node: NodeId, up: bool) {
        let now = self.now;
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
            for u in 0..self.nodes[node].specs.len() {
                if let Some(r) = self.nodes[node].router.as_mut() {
                    r.handle_unit(now, u, ev.clone());
                }
                self.after_step(node);
            }
        }
    }

    fn inject(&mut self, node: NodeId, unit: usize, member: usize, event: Event) {
        let now = self.now;
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if !n.running || unit >= n.specs.len() {
            return;
        }
        if let Some(r) = n.router.as_mut() {
            r.handle(now, InstanceId { unit, member }, event);
        }
        self.after_step(node);
    }

    /// Performs the router's outputs, sends its adverts and re-arms its timer.
    fn after_step(&mut self, node: NodeId) {
        loop {
            let Some(r) = self.nodes[node].router.as_mut() else {
                return;
            };
            if let Some(o) = r.poll_output() {
                self.perform(node, o);
            } else if let Some(t) = r.poll_transmit() {
                self.transmit(node, t);
            } else {
                break;
            }
        }
        let n = &mut self.nodes[node];
        let Some(t) = n.router.as_ref().and_then(Router::poll_timeout) else {
            return;
        };
        // A backup's Master_Down deadline moves later on every advert: keep the
        // earlier queued wake-up (an early `handle_timeout` is a no-op and
        // re-arms) instead of queueing one event per advert.
        if n.armed.is_some_and(|a| a <= t) {
            return;
        }
        n.armed = Some(t);
        n.generation += 1;
        let generation = n.generation;
        let t = t.max(self.now);
        self.push(t, Ev::Timer { node, generation });
    }

    fn transmit(&mut self, node: NodeId, t: Transmit) {
        let now = self.now;
        let vrid = self
            .instance(node, UnitId(t.instance.unit), t.instance.member)
            .map(Instance::vrid)
            .unwrap_or(0);
        self.adverts_sent += 1;
        if self.opts.record_adverts {
            self.adverts.push(AdvertRecord {
                t: now,
                node,
                vrid,
                segment: t.ingress,
                src: t.src,
                priority: t.priority,
                interval: t.interval,
            });
        }
        if !self.nodes[node].link_up {
            return;
        }
        let meta = RxMeta {
            src: t.src,
            dst: t.dst,
            ttl: t.ttl,
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
        let Some(rx) = receivers.get(&(t.ingress, t.src.is_ipv6(), vrid)) else {
            return;
        };
        for &to in rx.iter() {
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
                        segment: t.ingress,
                        meta,
                        bytes: t.bytes.clone(),
                    },
                }));
            }
        }
    }

    fn perform(&mut self, node: NodeId, o: Output) {
        let (id, a) = match o {
            Output::Action { instance, action } => (instance, action),
            Output::GroupChanged { unit, from, to } => {
                self.group_states
                    .push((self.now, node, UnitId(unit), from, to));
                return;
            }
            Output::Dropped { .. }
            | Output::ChecksumFollowed { .. }
            | Output::EncodeFailed { .. } => {
                return;
            }
        };
        let now = self.now;
        let Some(r) = self.nodes[node].router.as_ref() else {
            return;
        };
        let (Some(inst), Some(w)) = (r.instance(id), r.wire_config(id)) else {
            return;
        };
        let (name, vrid, segment) = (inst.name().to_string(), inst.vrid(), w.ingress);
        match a {
            // The router turns these into transmits.
            Action::SendAdvert { .. } => {}
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
            } => self.garps.push(GarpRecord {
                t: now,
                node,
                instance: name,
                addrs,
                count,
                reason,
            }),
            Action::Notify { event, priority } => self.notifies.push(NotifyRecord {
                t: now,
                node,
                instance: name,
                event,
                priority,
            }),
            Action::StateChanged { from, to } => self.states.push(StateRecord {
                t: now,
                node,
                unit: UnitId(id.unit),
                member: id.member,
                name,
                vrid,
                segment,
                from: Some(from),
                to: Some(to),
            }),
            Action::Log(l) => {
                if self.opts.record_logs {
                    let line = format!("({name}) {l}");
                    self.logs.push(LogRecord { t: now, node, line });
                }
            }
        }
    }
}
