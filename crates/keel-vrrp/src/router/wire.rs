//! Per-instance wire state: how an instance's adverts look on the wire and
//! which received ones it accepts.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use crate::instance::State;
use crate::packet::{AuthConfig, ChecksumMode, DropReason, VRRP_MCAST_V4, VRRP_MCAST_V6};
use crate::time::Instant;

/// Opaque name of where packets come in and go out (the daemon: one per
/// socket; the simulator: one per LAN segment).
pub type IngressId = u32;

/// How one instance talks on the wire (keepalived's per-instance socket,
/// authentication, unicast and checksum keywords).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireConfig {
    /// Where the instance's adverts are sent and received.
    pub ingress: IngressId,
    pub auth: AuthConfig,
    /// Multicast group, or `None` for unicast peers.
    pub group: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    /// TTL of unicast IPv4 adverts (keepalived's `unicast_ttl`).
    pub unicast_ttl: u8,
    /// `check_unicast_src`: unicast adverts must come from one of these
    /// peers, within its TTL range. `None`: no check.
    pub unicast_src_check: Option<Vec<PeerCheck>>,
    /// Starting VRRPv3-over-IPv4 checksum flavour (may switch to the old
    /// unicast form when a peer uses it).
    pub checksum: ChecksumMode,
    /// RFC 3768/5798 §7.1 address-list check (off: `skip_check_adv_addr`).
    pub check_adv_addr: bool,
}

impl WireConfig {
    /// Multicast on the standard group of `family_of`'s family, no
    /// authentication, RFC checksum, address check on.
    pub fn multicast(ingress: IngressId, family_of: IpAddr) -> WireConfig {
        let group = if family_of.is_ipv6() {
            IpAddr::V6(VRRP_MCAST_V6)
        } else {
            IpAddr::V4(VRRP_MCAST_V4)
        };
        WireConfig {
            ingress,
            auth: AuthConfig::None,
            group: Some(group),
            unicast_peers: Vec::new(),
            unicast_ttl: crate::packet::VRRP_TTL,
            unicast_src_check: None,
            checksum: ChecksumMode::Rfc,
            check_adv_addr: true,
        }
    }

    /// keepalived's unicast source check: with it on, an advert from an
    /// address that is not a configured peer, or whose TTL / hop limit is
    /// outside that peer's `min_ttl`..=`max_ttl`, is discarded.
    pub fn check_unicast_source(&self, src: IpAddr, ttl: u8) -> Result<(), UnicastSrcDrop> {
        check_unicast_source(self.unicast_src_check.as_deref(), src, ttl)
    }
}

/// See [`WireConfig::check_unicast_source`].
pub fn check_unicast_source(
    peers: Option<&[PeerCheck]>,
    src: IpAddr,
    ttl: u8,
) -> Result<(), UnicastSrcDrop> {
    let Some(peers) = peers else {
        return Ok(());
    };
    match peers.iter().find(|p| p.address == src) {
        None => Err(UnicastSrcDrop::NotPeer { src }),
        Some(p) if ttl < p.min_ttl || ttl > p.max_ttl => Err(UnicastSrcDrop::TtlOutOfRange {
            src,
            ttl,
            min: p.min_ttl,
            max: p.max_ttl,
        }),
        Some(_) => Ok(()),
    }
}

/// One `unicast_peer` as the source check sees it (keepalived's defaults:
/// any TTL from 0 to 255).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCheck {
    pub address: IpAddr,
    pub min_ttl: u8,
    pub max_ttl: u8,
}

/// Why a unicast advert failed the source check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnicastSrcDrop {
    #[error("unicast source address {src} not a unicast peer")]
    NotPeer { src: IpAddr },
    #[error("TTL/HL {ttl} from {src} not in range [{min}, {max}]")]
    TtlOutOfRange {
        src: IpAddr,
        ttl: u8,
        min: u8,
        max: u8,
    },
}

impl UnicastSrcDrop {
    /// Counter name in the statistics dump.
    pub fn counter_name(&self) -> &'static str {
        match self {
            UnicastSrcDrop::NotPeer { .. } => "unicast_src_not_peer",
            UnicastSrcDrop::TtlOutOfRange { .. } => "unicast_ttl_out_of_range",
        }
    }

    /// Every counter name, for the statistics dump.
    pub const COUNTERS: [&'static str; 2] = ["unicast_src_not_peer", "unicast_ttl_out_of_range"];
}

/// Why the router dropped a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Drop {
    /// A receive check of the codec or of RFC 3768/5798 §7.1.
    #[error(transparent)]
    Packet(DropReason),
    /// keepalived's `check_unicast_src`.
    #[error(transparent)]
    UnicastSrc(UnicastSrcDrop),
}

impl Drop {
    pub fn counter_name(&self) -> &'static str {
        match self {
            Drop::Packet(r) => r.counter_name(),
            Drop::UnicastSrc(r) => r.counter_name(),
        }
    }

    /// Authentication failures and strangers: two routers that cannot
    /// accept each other's adverts would both become MASTER, so these
    /// deserve more than a debug line.
    pub fn is_security(&self) -> bool {
        match self {
            Drop::UnicastSrc(_) => true,
            Drop::Packet(r) => matches!(
                r,
                DropReason::AuthFailure
                    | DropReason::AuthTypeMismatch
                    | DropReason::InvalidAuthType
                    | DropReason::AhBadIcv
                    | DropReason::AhBadSpi
                    | DropReason::AhReplay
                    | DropReason::AhMalformed
                    | DropReason::AhNotVrrp
            ),
        }
    }
}

/// Per-instance counters (SIGUSR2 dump, `keel status`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InstanceStats {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub became_master: u64,
    pub released_master: u64,
    pub priority_zero_sent: u64,
    pub priority_zero_received: u64,
    pub send_errors: u64,
    /// Dropped packets by [`Drop::counter_name`].
    pub drops: BTreeMap<&'static str, u64>,
}

/// Counts drops and says when one may be logged: at most once per
/// [`DROP_LOG_EVERY`] per reason, so a flood cannot flood the log.
#[derive(Debug, Default, Clone)]
pub(crate) struct DropLog {
    last: HashMap<&'static str, Instant>,
}

/// Rate limit of drop log lines per instance and reason.
pub const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

impl DropLog {
    pub fn due(&mut self, now: Instant, counter: &'static str) -> bool {
        match self.last.get(counter) {
            Some(t) if now.saturating_duration_since(*t) < DROP_LOG_EVERY => false,
            _ => {
                self.last.insert(counter, now);
                true
            }
        }
    }
}

/// The wire state of one instance.
#[derive(Debug, Clone)]
pub(crate) struct MemberWire {
    pub cfg: WireConfig,
    pub state: State,
    /// Sequence number of our last AH advert.
    pub ah_seq: u32,
    /// Last AH sequence number accepted, by sender (replay window).
    pub ah_last: HashMap<IpAddr, u32>,
    pub checksum: ChecksumMode,
    pub stats: InstanceStats,
    pub log: DropLog,
}

impl MemberWire {
    pub fn new(cfg: WireConfig) -> MemberWire {
        MemberWire {
            checksum: cfg.checksum,
            cfg,
            state: State::Init,
            ah_seq: 0,
            ah_last: HashMap::new(),
            stats: InstanceStats::default(),
            log: DropLog::default(),
        }
    }

    /// Counts a drop; `Some(count)` when it may be logged now.
    pub fn count_drop(&mut self, now: Instant, d: Drop) -> Option<u64> {
        let counter = d.counter_name();
        let n = self.stats.drops.entry(counter).or_default();
        *n += 1;
        let n = *n;
        self.log.due(now, counter).then_some(n)
    }
}
