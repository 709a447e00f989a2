//! The VRRP endpoint: every instance and sync group of a node behind one
//! sans-IO interface that takes raw datagrams and gives encoded ones back.
//!
//! [`Instance`] and [`SyncGroup`] decide; the [`Router`] owns what lies
//! between them and the wire (quinn-proto's `Endpoint` beside its
//! `Connection` is the model):
//! - finding the instance a datagram is for, by (ingress, family, VRID);
//! - every receive check of RFC 3768 §7.1 / RFC 5798 §7.1, the unicast
//!   source policy, and a counter per reason for each drop;
//! - the wire state: AH sequence numbers and replay windows, the checksum
//!   flavour a peer forced on us, the IPv4 identification;
//! - encoding the adverts the instances ask for.
//!
//! The daemon feeds it socket reads and executes [`Output`]s and
//! [`Transmit`]s; the simulator delivers the very same bytes between nodes.

mod unit;
mod wire;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::instance::{Action, Event, Instance, RxAdvert, State};
use crate::packet::{
    self, Advert, AuthConfig, AuthData, ChecksumMode, DropReason, EncodeCtx, EncodeError, RxCtx,
    RxMeta, VRRP_TTL,
};
use crate::time::Instant;

pub use unit::Unit;
use unit::UnitOutput;
pub use wire::{
    DROP_LOG_EVERY, Drop, IngressId, InstanceStats, PeerCheck, UnicastSrcDrop, WireConfig,
    check_unicast_source,
};
use wire::{DropLog, MemberWire};

/// Index of a unit (lone instance or sync group) in its router.
pub type UnitId = usize;

/// One instance: its unit and its index in the unit (0 for a lone instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId {
    pub unit: UnitId,
    pub member: usize,
}

/// A received datagram as a raw socket returns it.
#[derive(Debug, Clone, Copy)]
pub enum Datagram<'a> {
    /// The whole IPv4 packet, header included (VRRP or AH).
    Ipv4(&'a [u8]),
    /// The VRRP message of an IPv6 packet and what the socket reported
    /// about it (raw IPv6 sockets never show the header).
    Ipv6 { meta: RxMeta, payload: &'a [u8] },
}

/// An encoded advert to put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub instance: InstanceId,
    pub ingress: IngressId,
    pub src: IpAddr,
    /// The multicast group or one unicast peer.
    pub dst: IpAddr,
    /// TTL / hop limit the packet carries (IPv4: already in `bytes`).
    pub ttl: u8,
    /// IPv4: the whole packet for an `IP_HDRINCL` socket. IPv6: the VRRP message.
    pub bytes: Vec<u8>,
    pub priority: u8,
    pub interval: Duration,
}

/// Something the caller must do or know, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An instance's action. `SendAdvert` never appears: the router turns
    /// it into [`Transmit`]s.
    Action {
        instance: InstanceId,
        action: Action,
    },
    /// A sync group changed state.
    GroupChanged {
        unit: UnitId,
        from: State,
        to: State,
    },
    /// A datagram was dropped (and counted). Rate limited: at most one per
    /// instance and reason every [`DROP_LOG_EVERY`]; `count` is the total.
    Dropped {
        instance: Option<InstanceId>,
        src: IpAddr,
        reason: Drop,
        count: u64,
    },
    /// A peer uses the pre-1.3.6 keepalived unicast checksum; the instance
    /// now sends it too (keepalived does the same).
    ChecksumFollowed { instance: InstanceId, peer: IpAddr },
    /// An advert could not be encoded (counted as a send error).
    EncodeFailed {
        instance: InstanceId,
        error: EncodeError,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    unit: Unit,
    members: Vec<MemberWire>,
}

type IndexKey = (IngressId, bool, u8);

/// All VRRP instances of a node. See the module documentation.
#[derive(Debug, Clone)]
pub struct Router {
    units: Vec<Option<Entry>>,
    index: HashMap<IndexKey, InstanceId>,
    ip_id: u16,
    /// Drops of datagrams no instance claims, by reason.
    orphan_drops: BTreeMap<&'static str, u64>,
    orphan_log: DropLog,
    transmits: VecDeque<Transmit>,
    outputs: VecDeque<Output>,
}

impl Router {
    /// `ip_id` is the first IPv4 identification used (keepalived's simply
    /// count up per process).
    pub fn new(ip_id: u16) -> Router {
        Router {
            units: Vec::new(),
            index: HashMap::new(),
            ip_id,
            orphan_drops: BTreeMap::new(),
            orphan_log: DropLog::default(),
            transmits: VecDeque::new(),
            outputs: VecDeque::new(),
        }
    }

    /// Adds a unit whose member `i` talks as `wires[i]` says. A member whose
    /// (ingress, family, VRID) is already taken is not reachable by
    /// datagrams (the first one keeps it) and is reported in the result.
    pub fn add_unit(&mut self, unit: Unit, wires: Vec<WireConfig>) -> (UnitId, Vec<InstanceId>) {
        let id = self.units.len();
        let mut clashes = Vec::new();
        for (member, w) in wires.iter().enumerate() {
            let Some(inst) = unit.member(member) else {
                continue;
            };
            let key = (w.ingress, inst.config().primary_ip.is_ipv6(), inst.vrid());
            let iid = InstanceId { unit: id, member };
            if let Some(other) = self.index.get(&key) {
                clashes.push(*other);
            } else {
                self.index.insert(key, iid);
            }
        }
        self.units.push(Some(Entry {
            unit,
            members: wires.into_iter().map(MemberWire::new).collect(),
        }));
        (id, clashes)
    }

    /// Removes a unit (after its `Delete`/`Shutdown` outputs were taken).
    pub fn remove_unit(&mut self, unit: UnitId) -> Option<Unit> {
        let e = self.units.get_mut(unit)?.take()?;
        self.index.retain(|_, v| v.unit != unit);
        Some(e.unit)
    }

    /// Live unit ids.
    pub fn unit_ids(&self) -> impl Iterator<Item = UnitId> + '_ {
        self.units
            .iter()
            .enumerate()
            .filter_map(|(i, u)| u.as_ref().map(|_| i))
    }

    pub fn unit(&self, unit: UnitId) -> Option<&Unit> {
        self.units.get(unit)?.as_ref().map(|e| &e.unit)
    }

    pub fn instance(&self, id: InstanceId) -> Option<&Instance> {
        self.unit(id.unit)?.member(id.member)
    }

    /// State as last reported by the instance's `StateChanged` actions.
    pub fn state(&self, id: InstanceId) -> Option<State> {
        self.wire(id).map(|w| w.state)
    }

    pub fn stats(&self, id: InstanceId) -> Option<&InstanceStats> {
        self.wire(id).map(|w| &w.stats)
    }

    /// Zeroes every instance's counters and the unclaimed-drop counts
    /// (keepalived's STATS_CLEAR); the drop-log rate limits stay.
    pub fn clear_stats(&mut self) {
        for e in self.units.iter_mut().flatten() {
            for w in &mut e.members {
                w.stats = InstanceStats::default();
            }
        }
        self.orphan_drops.clear();
    }

    pub fn wire_config(&self, id: InstanceId) -> Option<&WireConfig> {
        self.wire(id).map(|w| &w.cfg)
    }

    /// The checksum flavour the instance currently sends.
    pub fn checksum(&self, id: InstanceId) -> Option<ChecksumMode> {
        self.wire(id).map(|w| w.checksum)
    }

    /// Drops of datagrams no instance claimed, by counter name.
    pub fn orphan_drops(&self) -> &BTreeMap<&'static str, u64> {
        &self.orphan_drops
    }

    /// The instance datagrams on `ingress` for this family and VRID reach.
    pub fn lookup(&self, ingress: IngressId, v6: bool, vrid: u8) -> Option<InstanceId> {
        self.index.get(&(ingress, v6, vrid)).copied()
    }

    /// Counts a datagram the caller had to drop before the router saw it
    /// (a full receive queue, say) against the orphan counters.
    pub fn count_external_drop(&mut self, counter: &'static str, n: u64) {
        *self.orphan_drops.entry(counter).or_default() += n;
    }

    /// Counts an advert the socket failed to send: a send error, and no
    /// longer a sent advert. Returns the instance's send errors so far.
    pub fn record_send_error(&mut self, t: &Transmit) -> u64 {
        match self.wire_mut(t.instance) {
            Some(w) => {
                let s = &mut w.stats;
                s.send_errors += 1;
                s.adverts_sent = s.adverts_sent.saturating_sub(1);
                if t.priority == 0 {
                    s.priority_zero_sent = s.priority_zero_sent.saturating_sub(1);
                }
                s.send_errors
            }
            None => 0,
        }
    }

    fn wire(&self, id: InstanceId) -> Option<&MemberWire> {
        self.units.get(id.unit)?.as_ref()?.members.get(id.member)
    }

    fn wire_mut(&mut self, id: InstanceId) -> Option<&mut MemberWire> {
        self.units
            .get_mut(id.unit)?
            .as_mut()?
            .members
            .get_mut(id.member)
    }

    // ---- inputs --------------------------------------------------------------

    /// Feeds an event to one instance.
    pub fn handle(&mut self, now: Instant, id: InstanceId, event: Event) {
        if let Some(Some(e)) = self.units.get_mut(id.unit) {
            e.unit.handle(now, id.member, event);
            self.drain(id.unit);
        }
    }

    /// Feeds an event to every member of one unit.
    pub fn handle_unit(&mut self, now: Instant, unit: UnitId, event: Event) {
        if let Some(Some(e)) = self.units.get_mut(unit) {
            e.unit.handle_all(now, event);
            self.drain(unit);
        }
    }

    /// Feeds an event to every instance (start-up, shutdown).
    pub fn handle_all(&mut self, now: Instant, event: Event) {
        for u in 0..self.units.len() {
            self.handle_unit(now, u, event.clone());
        }
    }

    /// The earliest deadline of any unit.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.units
            .iter()
            .flatten()
            .filter_map(|e| e.unit.poll_timeout())
            .min()
    }

    /// Runs every unit whose deadline has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        for u in 0..self.units.len() {
            let due = self.units[u]
                .as_ref()
                .and_then(|e| e.unit.poll_timeout())
                .is_some_and(|t| t <= now);
            if due {
                if let Some(e) = self.units[u].as_mut() {
                    e.unit.handle_timeout(now);
                }
                self.drain(u);
            }
        }
    }

    /// A datagram read from `ingress`.
    pub fn handle_datagram(&mut self, now: Instant, ingress: IngressId, dgram: Datagram<'_>) {
        let (v6, vrid, src) = match dgram {
            Datagram::Ipv4(p) => (false, packet::peek_ipv4_vrid(p), ipv4_src(p)),
            Datagram::Ipv6 { meta, payload } => (true, packet::peek_vrid(payload), meta.src),
        };
        let Some(id) = vrid.and_then(|v| self.lookup(ingress, v6, v)) else {
            let reason = if vrid.is_some() {
                DropReason::VridMismatch
            } else {
                DropReason::Truncated
            };
            self.orphan_drop(now, src, reason);
            return;
        };
        match self.accept(id, dgram) {
            Ok((rx, followed)) => {
                if followed {
                    self.outputs.push_back(Output::ChecksumFollowed {
                        instance: id,
                        peer: src,
                    });
                }
                if let Some(Some(e)) = self.units.get_mut(id.unit) {
                    e.unit.handle(now, id.member, Event::RxAdvert(rx));
                }
                self.drain(id.unit);
            }
            Err(d) => {
                if let Some(w) = self.wire_mut(id)
                    && let Some(count) = w.count_drop(now, d)
                {
                    self.outputs.push_back(Output::Dropped {
                        instance: Some(id),
                        src,
                        reason: d,
                        count,
                    });
                }
            }
        }
    }

    fn orphan_drop(&mut self, now: Instant, src: IpAddr, reason: DropReason) {
        let counter = reason.counter_name();
        let n = self.orphan_drops.entry(counter).or_default();
        *n += 1;
        let count = *n;
        if self.orphan_log.due(now, counter) {
            self.outputs.push_back(Output::Dropped {
                instance: None,
                src,
                reason: Drop::Packet(reason),
                count,
            });
        }
    }

    /// Every receive check, then the wire state the advert may update.
    /// The advert, and whether the instance just switched to the peer's
    /// old unicast checksum.
    fn accept(&mut self, id: InstanceId, dgram: Datagram<'_>) -> Result<(RxAdvert, bool), Drop> {
        let Some(e) = self.units.get_mut(id.unit).and_then(Option::as_mut) else {
            return Err(Drop::Packet(DropReason::VridMismatch));
        };
        let (Some(inst), Some(w)) = (e.unit.member(id.member), e.members.get_mut(id.member)) else {
            return Err(Drop::Packet(DropReason::VridMismatch));
        };
        let cfg = inst.config();
        let adver_int_cs = (cfg.advert_interval.as_millis() / 10) as u16;
        let mut ctx = RxCtx::new(cfg.version, &w.cfg.auth, adver_int_cs);
        ctx.checksum = w.checksum;
        ctx.unicast = w.cfg.group.is_none();
        ctx.vrid = Some(cfg.vrid);
        let (src, ttl) = match dgram {
            Datagram::Ipv4(p) => (ipv4_src(p), p.get(8).copied().unwrap_or(0)),
            Datagram::Ipv6 { meta, .. } => (meta.src, meta.ttl),
        };
        ctx.ah_last_seq = w.ah_last.get(&src).copied();
        let (advert, old_unicast) = match dgram {
            Datagram::Ipv4(p) => {
                packet::decode_ipv4_packet(p, &ctx).map(|r| (r.advert, r.old_unicast_checksum))
            }
            Datagram::Ipv6 { meta, payload } => {
                packet::decode(payload, &meta, &ctx).map(|d| (d.advert, d.old_unicast_checksum))
            }
        }
        .map_err(Drop::Packet)?;
        // Before anything from the advert is trusted (checksum flavour, AH
        // sequence): a stranger must not steer those either.
        w.cfg
            .check_unicast_source(src, ttl)
            .map_err(Drop::UnicastSrc)?;
        // RFC 3768 §7.1 / RFC 5798 §7.1: a list that differs from ours is
        // dropped unless it comes from the address owner. keepalived logs it
        // and obeys the advert, which lets any router on the LAN with a
        // stale or hostile configuration take the VIPs away.
        if w.cfg.check_adv_addr {
            let ours: Vec<IpAddr> = cfg
                .vips
                .vips
                .iter()
                .filter(|a| a.is_ipv6() == src.is_ipv6())
                .copied()
                .collect();
            packet::check_addresses(&advert, &ours).map_err(Drop::Packet)?;
        }
        let followed = old_unicast && w.checksum == ChecksumMode::Rfc;
        if followed {
            w.checksum = ChecksumMode::OLD_UNICAST;
        }
        if let AuthData::Ah { seq } = advert.auth {
            w.ah_last.insert(src, seq);
        }
        w.stats.adverts_received += 1;
        if advert.priority == 0 {
            w.stats.priority_zero_received += 1;
        }
        let rx = RxAdvert {
            src,
            priority: advert.priority,
            adver_int: Duration::from_millis(u64::from(advert.max_adver_int_cs) * 10),
        };
        Ok((rx, followed))
    }

    // ---- outputs -------------------------------------------------------------

    /// The next advert to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next action, group change or drop report.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Takes the unit's outputs: adverts are encoded, state changes update
    /// the wire state, the rest is queued for the caller.
    fn drain(&mut self, unit: UnitId) {
        loop {
            let Some(e) = self.units.get_mut(unit).and_then(Option::as_mut) else {
                return;
            };
            let Some(out) = e.unit.poll() else { return };
            match out {
                UnitOutput::Group { from, to } => {
                    self.outputs
                        .push_back(Output::GroupChanged { unit, from, to });
                }
                UnitOutput::Member(member, action) => {
                    let id = InstanceId { unit, member };
                    match action {
                        Action::SendAdvert { priority, interval } => {
                            self.encode(id, priority, interval)
                        }
                        action => {
                            if let Action::StateChanged { from, to } = action {
                                self.state_changed(id, from, to);
                            }
                            self.outputs.push_back(Output::Action {
                                instance: id,
                                action,
                            });
                        }
                    }
                }
            }
        }
    }

    fn state_changed(&mut self, id: InstanceId, from: State, to: State) {
        let Some(w) = self.wire_mut(id) else { return };
        w.state = to;
        if to == State::Master {
            w.stats.became_master += 1;
        }
        if from == State::Master {
            w.stats.released_master += 1;
        }
        // A peer that restarted counts its AH sequence from 1 again. Every
        // way that restart can show (its adverts stop and Master_Down fires,
        // it preempts us, it yields to us) changes our state, so a fresh
        // window then lets it back in while a replay within one term of
        // office is still refused.
        w.ah_last.clear();
    }

    fn encode(&mut self, id: InstanceId, priority: u8, interval: Duration) {
        let Router {
            units,
            ip_id,
            transmits,
            outputs,
            ..
        } = self;
        let Some(e) = units.get_mut(id.unit).and_then(Option::as_mut) else {
            return;
        };
        let (Some(inst), Some(w)) = (e.unit.member(id.member), e.members.get_mut(id.member)) else {
            return;
        };
        let cfg = inst.config();
        let src = cfg.primary_ip;
        if matches!(w.cfg.auth, AuthConfig::Ah(_)) {
            w.ah_seq = w.ah_seq.wrapping_add(1);
        }
        let advert = Advert {
            version: cfg.version,
            vrid: cfg.vrid,
            priority,
            max_adver_int_cs: (interval.as_millis() / 10) as u16,
            addresses: cfg
                .vips
                .vips
                .iter()
                .filter(|a| a.is_ipv6() == src.is_ipv6())
                .copied()
                .collect(),
            auth: w.cfg.auth.advert_auth(w.ah_seq),
        };
        let dsts: Vec<IpAddr> = match w.cfg.group {
            Some(g) => vec![g],
            None => w.cfg.unicast_peers.clone(),
        };
        let ttl = if w.cfg.group.is_some() || src.is_ipv6() {
            VRRP_TTL
        } else {
            w.cfg.unicast_ttl
        };
        for dst in dsts {
            let ctx = EncodeCtx {
                src,
                dst,
                checksum: w.checksum,
                auth: &w.cfg.auth,
            };
            let bytes = if src.is_ipv6() {
                packet::encode_vrrp(&advert, &ctx)
            } else {
                *ip_id = ip_id.wrapping_add(1);
                packet::encode_ipv4_packet(&advert, &ctx, *ip_id, ttl)
            };
            match bytes {
                Ok(bytes) => {
                    w.stats.adverts_sent += 1;
                    if priority == 0 {
                        w.stats.priority_zero_sent += 1;
                    }
                    transmits.push_back(Transmit {
                        instance: id,
                        ingress: w.cfg.ingress,
                        src,
                        dst,
                        ttl,
                        bytes,
                        priority,
                        interval,
                    });
                }
                Err(error) => {
                    w.stats.send_errors += 1;
                    outputs.push_back(Output::EncodeFailed {
                        instance: id,
                        error,
                    });
                }
            }
        }
    }
}

/// The source of an IPv4 packet, for counting and logging a drop.
fn ipv4_src(p: &[u8]) -> IpAddr {
    match p.get(12..16) {
        Some(&[a, b, c, d]) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests;
