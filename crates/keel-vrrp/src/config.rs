//! The engine's own per-instance parameters.
//!
//! This is deliberately not keepalived.conf's model: the daemon maps the parsed
//! configuration onto [`InstanceConfig`]. Defaults are keepalived's defaults.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::track::TrackConfig;

/// Protocol version spoken by an instance: the wire's own (one type for
/// the engine and the codec).
pub use crate::packet::Version;

/// Opaque handle of a daemon-owned object (virtual route, virtual rule, ...).
///
/// The engine only says *when* such objects must be installed or removed; the
/// daemon keeps what they mean.
pub type ObjectId = u32;

/// Everything an instance installs while MASTER and withdraws otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VipSet {
    /// `virtual_ipaddress`: advertised, and announced by GARP / unsolicited NA.
    pub vips: Vec<IpAddr>,
    /// `virtual_ipaddress_excluded`: installed and announced but not advertised.
    pub evips: Vec<IpAddr>,
    /// `virtual_routes`, as daemon-side ids.
    pub routes: Vec<ObjectId>,
    /// `virtual_rules`, as daemon-side ids.
    pub rules: Vec<ObjectId>,
}

impl VipSet {
    /// Addresses that gratuitous ARP / NA bursts announce (VIPs then eVIPs).
    pub fn announced(&self) -> Vec<IpAddr> {
        self.vips.iter().chain(self.evips.iter()).copied().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.vips.is_empty()
            && self.evips.is_empty()
            && self.routes.is_empty()
            && self.rules.is_empty()
    }
}

/// Gratuitous ARP / unsolicited NA schedule (keepalived's `garp_*` keywords).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarpConfig {
    /// `garp_master_repeat`: GARPs per address sent at once on becoming MASTER.
    pub master_repeat: u32,
    /// `garp_master_delay`: delay of the second burst; zero disables it.
    pub master_delay: Duration,
    /// `garp_master_refresh`: period of refresh bursts while MASTER; zero = off.
    pub master_refresh: Duration,
    /// `garp_master_refresh_repeat`: GARPs per address in a refresh burst.
    pub master_refresh_repeat: u32,
    /// `garp_lower_prio_repeat`: GARPs per address when a MASTER hears a
    /// lower-priority advert (keepalived defaults it to `garp_master_repeat`).
    pub lower_prio_repeat: u32,
    /// `garp_lower_prio_delay`: delay of the second lower-priority burst
    /// (keepalived defaults it to `garp_master_delay`); zero disables it.
    pub lower_prio_delay: Duration,
}

impl Default for GarpConfig {
    fn default() -> Self {
        GarpConfig {
            master_repeat: 5,
            master_delay: Duration::from_secs(5),
            master_refresh: Duration::ZERO,
            master_refresh_repeat: 1,
            lower_prio_repeat: 5,
            lower_prio_delay: Duration::from_secs(5),
        }
    }
}

/// Parameters of one VRRP instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceConfig {
    /// Instance name, used in log lines (`(VI_1) Entering MASTER STATE`).
    pub name: String,
    /// Interface name, only used in log wording (`Sending gratuitous ARPs on eth0 ...`).
    pub interface: String,
    pub vrid: u8,
    pub version: Version,
    /// Configured (base) priority, 1..=255; 255 makes this router the address owner.
    pub priority: u8,
    /// Own advertisement interval (`advert_int`, default 1 s).
    pub advert_interval: Duration,
    /// Our primary address on the VRRP interface: the advert source and the
    /// tie-breaker when priorities are equal.
    pub primary_ip: IpAddr,
    /// `preempt` (default) / `nopreempt` (false).
    pub preempt: bool,
    /// `preempt_delay`: how long lower-priority adverts keep being accepted
    /// after the first one was heard. Zero = preempt as soon as Master_Down fires.
    pub preempt_delay: Duration,
    /// `down_timer_adverts` (default 3).
    pub down_timer_adverts: u32,
    /// `vrrp_strict`: keeps the pre-RFC 9568 "no re-advert on lower priority"
    /// rule, no GARP repeats, no `higher_prio_send_advert`.
    pub strict: bool,
    /// `lower_prio_no_advert`: a MASTER hearing a lower priority does not
    /// re-advertise (nor send lower-priority GARPs).
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`: a MASTER hearing a higher priority sends one
    /// advert before yielding.
    pub higher_prio_send_advert: bool,
    /// `owner_ignore_adverts`: an address owner ignores every advert.
    pub owner_ignore_adverts: bool,
    /// What the instance installs while MASTER.
    pub vips: VipSet,
    pub garp: GarpConfig,
    /// Priority trackers (`track_script`, `track_interface`, `track_file`,
    /// `track_process`, `track_bfd`).
    pub tracks: Vec<TrackConfig>,
}

impl InstanceConfig {
    /// A configuration with keepalived's defaults for everything but identity.
    pub fn new(name: impl Into<String>, vrid: u8, primary_ip: IpAddr) -> Self {
        InstanceConfig {
            name: name.into(),
            interface: "eth0".to_string(),
            vrid,
            version: Version::V2,
            priority: 100,
            advert_interval: Duration::from_secs(1),
            primary_ip,
            preempt: true,
            preempt_delay: Duration::ZERO,
            down_timer_adverts: 3,
            strict: false,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            owner_ignore_adverts: false,
            vips: VipSet::default(),
            garp: GarpConfig::default(),
            tracks: Vec::new(),
        }
    }

    /// Whether adverts from a lower priority are answered at once (RFC 9568 §6.4.3).
    pub(crate) fn readvertise_on_lower(&self) -> bool {
        !self.strict && !self.lower_prio_no_advert
    }
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig::new("VI_1", 1, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

/// Skew_Time in microseconds for a priority and a Master_Adver_Interval.
///
/// keepalived computes the RFC 5798 §6.1 form `((256 - prio) * interval) / 256`
/// for VRRPv2 as well (the probe measured 3.648 s Master_Down for priority 90
/// at 1 s), so there is one formula for both versions.
pub fn skew_time(priority: u8, master_adver_int: Duration) -> Duration {
    let us = master_adver_int.as_micros() as u64;
    Duration::from_micros((256 - u64::from(priority)) * us / 256)
}

/// Master_Down_Interval: `down_timer_adverts * interval + Skew_Time`.
pub fn master_down_interval(adverts: u32, priority: u8, master_adver_int: Duration) -> Duration {
    master_adver_int * adverts + skew_time(priority, master_adver_int)
}
