//! What goes in and out of an instance: events, actions, states, and the
//! log lines keepalived users grep for.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::OWNER_PRIORITY;
use crate::config::VipSet;
use crate::garp::GarpReason;
use crate::track::{TrackId, TrackState};

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
    pub(crate) fn for_state(s: State) -> Option<NotifyEvent> {
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
    /// Send one advertisement now with these values (the
    /// [`Router`](crate::router::Router) fills in VRID, version, addresses
    /// and authentication, and encodes it).
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
