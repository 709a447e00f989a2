//! VRRP side of the model: trackers, sync groups, instances, addresses.

use super::{GarpExtraIf, RawStatement, Script, secs};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpScript {
    pub name: String,
    /// The command line as written; user/group come from `user`.
    pub script: Script,
    /// Default 1 s.
    #[serde(with = "secs")]
    pub interval: Duration,
    /// Default: interval.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// -253..=253, default 0 (0 means FAULT on failure).
    pub weight: i32,
    pub reverse: bool,
    /// Default 1.
    pub rise: u32,
    /// Default 1.
    pub fall: u32,
    pub init_fail: bool,
}

/// `track_file NAME { file PATH; weight N [reverse]; init_file [V] [overwrite] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackFile {
    pub name: String,
    pub file: Option<String>,
    /// Default 1.
    pub weight: i64,
    pub reverse: bool,
    pub init_file: Option<InitFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitFile {
    pub value: i64,
    pub overwrite: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMatch {
    Exact,
    Partial,
    Initial,
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackProcess {
    pub name: String,
    /// Process name then its parameters.
    pub process: Vec<String>,
    /// `None` when no parameters are to be matched (param_match absent and
    /// no parameters given).
    pub param_match: Option<ParamMatch>,
    /// -254..=254, default 0.
    pub weight: i32,
    pub reverse: bool,
    /// Default 1.
    pub quorum: u32,
    pub quorum_max: Option<u32>,
    #[serde(with = "secs::opt")]
    pub fork_delay: Option<Duration>,
    #[serde(with = "secs::opt")]
    pub terminate_delay: Option<Duration>,
    pub full_command: bool,
}

/// One `NAME [weight N [reverse]]` line of a `track_*` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackRef {
    pub name: String,
    /// `None`: use the tracked object's own weight.
    pub weight: Option<i64>,
    pub reverse: bool,
}

/// Scripts common to instances and sync groups.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Notify {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    pub deleted: Option<Script>,
    /// Generic `notify` script (keepalived appends type, name, state, priority).
    pub generic: Option<Script>,
    pub master_rx_lower_pri: Option<Script>,
}

/// The `track_*` blocks shared by instances and sync groups.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Tracking {
    pub interfaces: Vec<TrackRef>,
    pub scripts: Vec<TrackRef>,
    pub files: Vec<TrackRef>,
    pub processes: Vec<TrackRef>,
    pub bfds: Vec<TrackRef>,
}

/// `vrrp_sync_group NAME { group { ... } ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncGroup {
    pub name: String,
    pub group: Vec<String>,
    pub track: Tracking,
    pub notify: Notify,
    pub smtp_alert: Option<bool>,
    pub global_tracking: bool,
    pub sync_group_tracking_weight: bool,
    pub notify_priority_changes: Option<bool>,
}

/// `garp_group { garp_interval T; gna_interval T; interface IF | interfaces { } }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GarpGroup {
    #[serde(with = "secs::opt")]
    pub garp_interval: Option<Duration>,
    #[serde(with = "secs::opt")]
    pub gna_interval: Option<Duration>,
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InitialState {
    Master,
    Backup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    Inet,
    Inet6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    Pass,
    Ah,
}

/// `authentication { auth_type PASS|AH; auth_pass SECRET }` (VRRPv2 only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authentication {
    pub auth_type: AuthType,
    /// At most 8 bytes; keepalived truncates longer ones (reported as an error).
    pub auth_pass: String,
}

/// `unicast_peer { IP [min_ttl N] [max_ttl N] }` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnicastPeer {
    pub address: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

/// `use_vmac [NAME] [MAC]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vmac {
    pub name: Option<String>,
    /// Any further words (MAC address, `netlink_notify_msg`, ...), verbatim.
    pub options: Vec<String>,
}

/// One address in `virtual_ipaddress`, `virtual_ipaddress_excluded` or
/// `static_ipaddress`: `IP[/mask] [brd IP|+|-] [dev IF] [scope S] [label L]
/// [peer IP] [home] [-nodad] [mngtmpaddr] [noprefixroute] [autojoin]
/// [no_track] [preferred_lft N|forever] [use_vmac] [track_group G]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualIp {
    pub address: IpAddr,
    /// Default /32 (IPv4) or /128 (IPv6); with `peer`, the peer's prefix.
    pub prefix_len: u8,
    /// Explicit or computed (`brd +`, `brd -`, bare `brd`) broadcast.
    pub broadcast: Option<std::net::Ipv4Addr>,
    /// `None`: the instance's interface.
    pub dev: Option<String>,
    pub scope: Option<String>,
    pub label: Option<String>,
    pub peer: Option<IpAddr>,
    pub home: bool,
    pub nodad: bool,
    pub mngtmpaddr: bool,
    pub noprefixroute: bool,
    pub autojoin: bool,
    pub no_track: bool,
    /// `Some(u32::MAX)` for `forever`.
    pub preferred_lft: Option<u32>,
    pub use_vmac: bool,
    pub track_group: Option<String>,
}

/// One route in `virtual_routes` / `static_routes`, in `ip route` syntax.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Route {
    /// `inet` / `inet6` written before the route.
    pub family: Option<AddressFamily>,
    /// `blackhole`, `unreachable`, `prohibit`, `throw`, ... (unicast if none).
    pub route_type: Option<String>,
    /// Destination as written (`192.0.2.0/24`, `default`, ...).
    pub dst: String,
    pub src: Option<String>,
    /// `via` / `gw`.
    pub via: Option<String>,
    pub dev: Option<String>,
    pub table: Option<String>,
    /// `metric` / `preference` / `priority`.
    pub metric: Option<u32>,
    pub scope: Option<String>,
    pub protocol: Option<String>,
    pub onlink: bool,
    pub no_track: bool,
    pub track_group: Option<String>,
    /// Remaining `ip route` options (mtu, nexthop, encap, ...), verbatim.
    pub options: Vec<String>,
}

/// One rule in `virtual_rules` / `static_rules`, in `ip rule` syntax.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Rule {
    pub family: Option<AddressFamily>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `table` / `lookup`.
    pub table: Option<String>,
    /// `priority` / `preference` / `order`.
    pub priority: Option<u32>,
    pub fwmark: Option<String>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub tos: Option<String>,
    /// `type` / a leading action (`goto N`, `blackhole`, `nop`, ...).
    pub action: Option<String>,
    pub no_track: bool,
    pub track_group: Option<String>,
    /// Remaining `ip rule` options, verbatim.
    pub options: Vec<String>,
}

/// `vrrp_instance NAME { ... }`, defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpInstance {
    pub name: String,
    /// Initial state: as written, or MASTER when priority is 255, else BACKUP.
    pub state: InitialState,
    /// Whether `state` was written (keepalived treats `state MASTER` on a
    /// non-owner as "start as backup but do not delay preemption").
    pub state_configured: bool,
    pub interface: Option<String>,
    pub vrf: Option<String>,
    pub virtual_router_id: u8,
    /// 1..=255; default 100, or 255 for `state MASTER` without a priority.
    pub priority: u8,
    /// v2: whole seconds 1..=255; v3: 0.01..=40.95 s. Default 1 s.
    #[serde(with = "secs")]
    pub advert_int: Duration,
    /// 2 or 3; default global `vrrp_version`, 3 for IPv6 instances.
    pub version: u8,
    /// Address family of the instance (from its VIPs / unicast addresses).
    pub family: AddressFamily,
    pub authentication: Option<Authentication>,
    /// `auth_hmac { ... }` kept verbatim (the 2.4 extension).
    pub auth_hmac: Option<Vec<RawStatement>>,
    pub virtual_ipaddress: Vec<VirtualIp>,
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    pub no_virtual_ipaddress: bool,
    pub promote_secondaries: bool,
    pub virtual_routes: Vec<Route>,
    pub virtual_rules: Vec<Rule>,
    pub mcast_src_ip: Option<IpAddr>,
    pub unicast_src_ip: Option<IpAddr>,
    pub mcast_dst_ip: Option<IpAddr>,
    pub unicast_peer: Vec<UnicastPeer>,
    pub unicast_ttl: Option<u8>,
    pub unicast_fault_no_peer: bool,
    pub check_unicast_src: bool,
    pub track_src_ip: bool,
    pub use_vmac: Option<Vmac>,
    pub use_vmac_addr: bool,
    pub vmac_xmit_base: bool,
    /// `use_ipvlan [NAME] [IP] [mode]`, verbatim words.
    pub use_ipvlan: Option<Vec<String>>,
    /// `nopreempt` (false unless written; `preempt` sets it back).
    pub nopreempt: bool,
    /// 0..=1000 s, default 0.
    #[serde(with = "secs")]
    pub preempt_delay: Duration,
    /// Default: global vrrp_garp_master_delay.
    #[serde(with = "secs")]
    pub garp_master_delay: Duration,
    pub garp_master_repeat: u32,
    #[serde(with = "secs")]
    pub garp_master_refresh: Duration,
    pub garp_master_refresh_repeat: u32,
    #[serde(with = "secs")]
    pub garp_lower_prio_delay: Duration,
    pub garp_lower_prio_repeat: u32,
    pub garp_extra_if: Option<GarpExtraIf>,
    /// Default: global vrrp_down_timer_adverts (3).
    pub down_timer_adverts: u32,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub owner_ignore_adverts: bool,
    pub skip_check_adv_addr: bool,
    pub strict_mode: bool,
    /// `accept` / `no_accept`; `None`: keepalived's default (accept unless strict).
    pub accept: Option<bool>,
    pub dont_track_primary: bool,
    pub track: Tracking,
    pub notify: Notify,
    pub smtp_alert: Option<bool>,
    pub notify_priority_changes: Option<bool>,
    pub timer_expired_backup: bool,
    pub linkbeat_use_polling: bool,
    pub debug: Option<u8>,
    /// Set by the builder from `vrrp_sync_group` membership.
    pub sync_group: Option<String>,
    /// Valid instance keywords not modelled in detail, kept verbatim.
    pub other: Vec<RawStatement>,
}
