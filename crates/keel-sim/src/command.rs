//! How a simulation is scripted: commands, link properties, options.

use std::time::Duration;

use keel_vrrp::instance::Event;
use keel_vrrp::track::{TrackId, TrackState};

use crate::{NodeId, UnitId};

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
