//! What a simulation records.

use std::net::IpAddr;
use std::time::Duration;

use keel_vrrp::garp::GarpReason;
use keel_vrrp::instance::{NotifyEvent, State};
use keel_vrrp::time::Instant;

use crate::{NodeId, UnitId};

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
