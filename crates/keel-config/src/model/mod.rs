//! The typed keepalived.conf model, with keepalived's defaults applied.
//!
//! Everything here is plain data: the builder ([`crate::build`]) fills it from
//! the statement tree, the printer ([`crate::print`]) writes it back as
//! canonical keepalived.conf text, and the daemon, the CLI and the VRRP engine
//! read it. Serialized with serde for `keel config --json`.
//!
//! Durations are [`std::time::Duration`] and serialize as a floating point
//! number of **seconds** (for example `0.01` or `60.0`), which is how
//! keepalived.conf writes every timer.
//!
//! Named objects are kept in `Vec`s in file order (not maps), because
//! keepalived keeps them in order too (for example the order GARPs and
//! notifications follow) and duplicates are reported, not merged.

mod lvs;
mod vrrp;

pub use lvs::*;
pub use vrrp::*;

use serde::Serialize;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Serde helpers writing durations as seconds.
pub(crate) mod secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub mod opt {
        use serde::Serializer;
        use std::time::Duration;

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_f64(d.as_secs_f64()),
                None => s.serialize_none(),
            }
        }
    }
}

/// A whole keepalived.conf.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Config {
    pub global_defs: GlobalDefs,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub track_files: Vec<TrackFile>,
    pub track_processes: Vec<TrackProcess>,
    pub track_groups: Vec<TrackGroup>,
    pub bfd_instances: Vec<BfdInstance>,
    pub sync_groups: Vec<SyncGroup>,
    pub garp_groups: Vec<GarpGroup>,
    pub vrrp_instances: Vec<VrrpInstance>,
    pub static_ipaddress: Vec<VirtualIp>,
    pub static_routes: Vec<Route>,
    pub static_rules: Vec<Rule>,
    pub linkbeat_interfaces: Vec<LinkbeatInterface>,
    pub interface_up_down_delays: Vec<InterfaceUpDownDelay>,
    pub ssl: Option<SslConfig>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// Valid top-level keepalived keywords keel does not model in detail
    /// (`net_namespace`, `instance`, `child_wait_time`, ...), kept verbatim.
    pub other: Vec<RawStatement>,
}

impl Config {
    pub fn vrrp_instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.vrrp_instances.iter().find(|i| i.name == name)
    }
    pub fn vrrp_script(&self, name: &str) -> Option<&VrrpScript> {
        self.vrrp_scripts.iter().find(|s| s.name == name)
    }
    pub fn sync_group(&self, name: &str) -> Option<&SyncGroup> {
        self.sync_groups.iter().find(|s| s.name == name)
    }
    pub fn virtual_server_group(&self, name: &str) -> Option<&VirtualServerGroup> {
        self.virtual_server_groups.iter().find(|s| s.name == name)
    }
    /// The first argument of the last top-level `keyword` (kept in `other`).
    fn top_arg(&self, keyword: &str) -> Option<&str> {
        self.other
            .iter()
            .rev()
            .find(|r| r.keyword == keyword)
            .and_then(|r| r.args.first())
            .map(String::as_str)
    }
    /// `net_namespace NAME`: the namespace the daemon runs in.
    pub fn net_namespace(&self) -> Option<&str> {
        self.top_arg("net_namespace")
    }
    /// `instance NAME`: names the pid files (keepalived's `_NAME` suffix).
    pub fn instance_name(&self) -> Option<&str> {
        self.top_arg("instance")
    }
    /// `use_pid_dir`: pid files under `/run/keepalived/`.
    pub fn use_pid_dir(&self) -> bool {
        self.other.iter().any(|r| r.keyword == "use_pid_dir")
    }
    /// `umask MASK` of global_defs, parsed as keepalived does (octal with a
    /// leading 0, else decimal, or symbolic `IWGRP|IWOTH`...).
    pub fn umask(&self) -> Option<u32> {
        let r = self
            .global_defs
            .other
            .iter()
            .rev()
            .find(|r| r.keyword == "umask")?;
        parse_umask(&r.args.join(""))
    }
}

/// keepalived's umask syntax: a number (octal with a leading 0) or `|`-joined
/// `IRUSR`-style names.
pub fn parse_umask(text: &str) -> Option<u32> {
    let t = text.trim();
    if t.starts_with(|c: char| c.is_ascii_digit()) {
        let v = if t.len() > 1 && t.starts_with('0') {
            u32::from_str_radix(&t[1..], 8).ok()?
        } else {
            t.parse().ok()?
        };
        return (v <= 0o777).then_some(v);
    }
    let mut mask = 0;
    for name in t.split('|').map(str::trim) {
        mask |= match name {
            "IRUSR" => 0o400,
            "IWUSR" => 0o200,
            "IXUSR" => 0o100,
            "IRGRP" => 0o040,
            "IWGRP" => 0o020,
            "IXGRP" => 0o010,
            "IROTH" => 0o004,
            "IWOTH" => 0o002,
            "IXOTH" => 0o001,
            "IRWXU" => 0o700,
            "IRWXG" => 0o070,
            "IRWXO" => 0o007,
            _ => return None,
        };
    }
    Some(mask)
}

/// A statement kept as written: a keyword keel knows is valid but does not
/// interpret, with its arguments and block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawStatement {
    pub keyword: String,
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<Vec<RawStatement>>,
}

/// A command line to run (notify scripts, vrrp_script, MISC_CHECK, ...).
///
/// `command` is the text exactly as written (a quoted string loses only its
/// quotes), so shell syntax such as `[[ -f /x ]] && exit 1 || exit 0` is kept
/// verbatim; splitting it into argv is the runner's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    pub command: String,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// `notify_fifo PATH [user [group]]` plus its optional `*_fifo_script`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyFifo {
    pub path: String,
    pub user: Option<String>,
    pub group: Option<String>,
    pub script: Option<Script>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpServer {
    /// IP address or host name as written.
    pub host: String,
    /// Default 25.
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptUser {
    pub user: String,
    pub group: Option<String>,
}

/// `vrrp_garp_extra_if DELAY [all]` / `garp_extra_if`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GarpExtraIf {
    #[serde(with = "secs")]
    pub delay: Duration,
    pub all: bool,
}

/// `lvs_sync_daemon IF [inst VI] [id N] [maxlen N] [port N] [ttl N] [group IP]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvsSyncDaemon {
    pub interface: String,
    pub instance: Option<String>,
    pub id: Option<u8>,
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<std::net::IpAddr>,
}

/// `lvs_timeouts [tcp T] [tcpfin T] [udp T]` (seconds).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct LvsTimeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

/// Which load-balancer data plane keel uses (`keel_lvs_backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LvsBackendChoice {
    /// IPVS when the kernel has it, else nftables.
    Auto,
    Ipvs,
    Nftables,
}

impl LvsBackendChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            LvsBackendChoice::Auto => "auto",
            LvsBackendChoice::Ipvs => "ipvs",
            LvsBackendChoice::Nftables => "nftables",
        }
    }
}

/// `global_defs { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<SmtpServer>,
    pub smtp_helo_name: Option<String>,
    /// Default 30 s.
    #[serde(with = "secs")]
    pub smtp_connect_timeout: Duration,
    pub smtp_alert: Option<bool>,
    pub smtp_alert_vrrp: Option<bool>,
    pub smtp_alert_checker: Option<bool>,
    pub no_email_faults: bool,
    pub checker_log_all_failures: bool,
    pub script_user: Option<ScriptUser>,
    pub enable_script_security: bool,
    pub default_interface: Option<String>,
    pub dynamic_interfaces: bool,
    pub dynamic_interfaces_allow_if_changes: bool,
    /// Default 224.0.0.18.
    pub vrrp_mcast_group4: Ipv4Addr,
    /// Default ff02::12.
    pub vrrp_mcast_group6: Ipv6Addr,
    /// Default 2 (IPv6 instances still use 3).
    pub vrrp_version: u8,
    pub vrrp_strict: bool,
    pub vrrp_check_unicast_src: bool,
    pub vrrp_skip_check_adv_addr: bool,
    pub vrrp_lower_prio_no_advert: bool,
    pub vrrp_higher_prio_send_advert: bool,
    pub vrrp_owner_ignore_adverts: bool,
    /// Default 5 s.
    #[serde(with = "secs")]
    pub vrrp_garp_master_delay: Duration,
    /// Default 5.
    pub vrrp_garp_master_repeat: u32,
    /// Default 0 (no refresh).
    #[serde(with = "secs")]
    pub vrrp_garp_master_refresh: Duration,
    /// Default 1.
    pub vrrp_garp_master_refresh_repeat: u32,
    /// Default: vrrp_garp_master_delay.
    #[serde(with = "secs")]
    pub vrrp_garp_lower_prio_delay: Duration,
    /// Default: vrrp_garp_master_repeat.
    pub vrrp_garp_lower_prio_repeat: u32,
    #[serde(with = "secs")]
    pub vrrp_garp_interval: Duration,
    #[serde(with = "secs")]
    pub vrrp_gna_interval: Duration,
    pub vrrp_min_garp: bool,
    pub vrrp_garp_extra_if: Option<GarpExtraIf>,
    /// Default 3.
    pub vrrp_down_timer_adverts: u32,
    #[serde(with = "secs::opt")]
    pub vrrp_startup_delay: Option<Duration>,
    pub notify_fifo: Option<NotifyFifo>,
    pub vrrp_notify_fifo: Option<NotifyFifo>,
    pub lvs_notify_fifo: Option<NotifyFifo>,
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    pub lvs_timeouts: Option<LvsTimeouts>,
    pub lvs_flush: bool,
    /// keel only: `keel_lvs_backend ipvs|nftables|auto`; `None` is auto.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keel_lvs_backend: Option<LvsBackendChoice>,
    pub max_auto_priority: Option<i32>,
    pub vrrp_priority: Option<i32>,
    pub checker_priority: Option<i32>,
    pub bfd_priority: Option<i32>,
    pub vrrp_no_swap: bool,
    pub checker_no_swap: bool,
    pub snmp_socket: Option<String>,
    pub enable_traps: bool,
    pub enable_snmp_vrrp: bool,
    pub enable_snmp_checker: bool,
    pub enable_snmp_rfc: bool,
    pub enable_snmp_rfcv2: bool,
    pub enable_snmp_rfcv3: bool,
    pub enable_dbus: bool,
    pub dbus_service_name: Option<String>,
    /// Valid global_defs keywords not modelled in detail, kept verbatim.
    pub other: Vec<RawStatement>,
}

pub const DEFAULT_MCAST_GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const DEFAULT_MCAST_GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: Duration::from_secs(30),
            smtp_alert: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            no_email_faults: false,
            checker_log_all_failures: false,
            script_user: None,
            enable_script_security: false,
            default_interface: None,
            dynamic_interfaces: false,
            dynamic_interfaces_allow_if_changes: false,
            vrrp_mcast_group4: DEFAULT_MCAST_GROUP4,
            vrrp_mcast_group6: DEFAULT_MCAST_GROUP6,
            vrrp_version: 2,
            vrrp_strict: false,
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_owner_ignore_adverts: false,
            vrrp_garp_master_delay: Duration::from_secs(5),
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh: Duration::ZERO,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_garp_lower_prio_delay: Duration::from_secs(5),
            vrrp_garp_lower_prio_repeat: 5,
            vrrp_garp_interval: Duration::ZERO,
            vrrp_gna_interval: Duration::ZERO,
            vrrp_min_garp: false,
            vrrp_garp_extra_if: None,
            vrrp_down_timer_adverts: 3,
            vrrp_startup_delay: None,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            lvs_notify_fifo: None,
            lvs_sync_daemon: None,
            lvs_timeouts: None,
            lvs_flush: false,
            keel_lvs_backend: None,
            max_auto_priority: None,
            vrrp_priority: None,
            checker_priority: None,
            bfd_priority: None,
            vrrp_no_swap: false,
            checker_no_swap: false,
            snmp_socket: None,
            enable_traps: false,
            enable_snmp_vrrp: false,
            enable_snmp_checker: false,
            enable_snmp_rfc: false,
            enable_snmp_rfcv2: false,
            enable_snmp_rfcv3: false,
            enable_dbus: false,
            dbus_service_name: None,
            other: Vec::new(),
        }
    }
}

/// `linkbeat_interfaces { IF [MII|ETHTOOL|IOCTL] }` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkbeatInterface {
    pub interface: String,
    pub kind: Option<String>,
}

/// `interface_up_down_delays { IF DOWN [UP] }` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterfaceUpDownDelay {
    pub interface: String,
    #[serde(with = "secs")]
    pub down: Duration,
    #[serde(with = "secs")]
    pub up: Duration,
}

/// `track_group NAME { group { VI_1 VI_2 } }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackGroup {
    pub name: String,
    pub group: Vec<String>,
}

/// `SSL { password ca certificate key }` used by SSL_GET.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SslConfig {
    pub password: Option<String>,
    pub ca: Option<String>,
    pub certificate: Option<String>,
    pub key: Option<String>,
}

/// `bfd_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BfdInstance {
    pub name: String,
    pub neighbor_ip: Option<std::net::IpAddr>,
    pub source_ip: Option<std::net::IpAddr>,
    /// Default 10 ms.
    #[serde(with = "secs")]
    pub min_rx: Duration,
    /// Default 10 ms.
    #[serde(with = "secs")]
    pub min_tx: Duration,
    /// Default 1 s.
    #[serde(with = "secs")]
    pub idle_tx: Duration,
    /// Default 5.
    pub multiplier: u8,
    pub passive: bool,
    /// Default 255.
    pub ttl: u8,
    /// Default 64.
    pub hoplimit: u8,
    pub max_hops: Option<u8>,
    pub multihop: bool,
    pub weight: i32,
    pub reverse: bool,
    /// Only notify the VRRP process.
    pub vrrp: bool,
    /// Only notify the checker process.
    pub checker: bool,
}

#[cfg(test)]
mod tests {
    use super::parse_umask;

    #[test]
    fn umask_forms() {
        assert_eq!(parse_umask("022"), Some(0o022));
        assert_eq!(parse_umask("0077"), Some(0o077));
        assert_eq!(parse_umask("IWGRP|IWOTH"), Some(0o022));
        assert_eq!(parse_umask("999"), None);
        assert_eq!(parse_umask("bogus"), None);
    }
}
