//! Reading what happened in a simulation.

use std::net::IpAddr;
use std::time::Duration;

use keel_vrrp::group::SyncGroup;
use keel_vrrp::instance::{Instance, State};
use keel_vrrp::router::{InstanceId, Router};
use keel_vrrp::time::Instant;

use crate::{
    AdvertRecord, GarpRecord, LogRecord, NodeId, NotifyRecord, Sim, StateRecord, UnitId,
    VipInterval,
};

impl Sim {
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
        self.router(node)?.instance(InstanceId {
            unit: unit.0,
            member,
        })
    }

    /// The live sync group, if `unit` is one and the node is running.
    pub fn group(&self, node: NodeId, unit: UnitId) -> Option<&SyncGroup> {
        self.router(node)?.unit(unit.0)?.group_ref()
    }

    /// The node's VRRP endpoint (drop counters, wire state), while it runs.
    pub fn router(&self, node: NodeId) -> Option<&Router> {
        self.nodes.get(node)?.router.as_ref()
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
