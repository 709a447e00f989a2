//! LVS side of the model: virtual servers, real servers, health checkers.

use super::{RawStatement, Script, secs};
pub use keel_lvs::{Family, Method, Persistence, Protocol, Scheduler, TunnelCsum, TunnelKind};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

/// One entry of `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VsgEntry {
    /// `IP [PORT]`, `IP-LAST [PORT]`, `IP-IP2 [PORT]` or `IP/len [PORT]`:
    /// every address from `first` to `last` inclusive.
    Range {
        first: IpAddr,
        last: IpAddr,
        port: Option<u16>,
    },
    /// `fwmark N [inet|inet6]`.
    Fwmark { mark: u32, family: Option<Family> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualServerGroup {
    pub name: String,
    pub entries: Vec<VsgEntry>,
}

/// What a `virtual_server` line names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VsAddress {
    /// `IP [PORT]` (port 0 when omitted: persistent services only).
    Ip {
        address: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
    },
    Group {
        name: String,
    },
}

/// Checker timing settings given at virtual or real server level, used as
/// defaults for the checkers below them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CheckerDefaults {
    #[serde(with = "secs::opt")]
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    #[serde(with = "secs::opt")]
    pub delay_before_retry: Option<Duration>,
    #[serde(with = "secs::opt")]
    pub warmup: Option<Duration>,
    #[serde(with = "secs::opt")]
    pub delay_loop: Option<Duration>,
}

/// `virtual_server ... { ... }`, defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    pub address: VsAddress,
    /// `ip_family inet|inet6` (fwmark services).
    pub ip_family: Option<Family>,
    /// Default 60 s.
    #[serde(with = "secs")]
    pub delay_loop: Duration,
    /// `lvs_sched` / `lb_algo` with its `flag-1`/`flag-2` (`sh-fallback`,
    /// `sh-port`, ...); default `wlc` (keepalived's default).
    pub lvs_sched: Scheduler,
    /// `ops`: one-packet scheduling (UDP services only).
    pub ops: bool,
    /// `lvs_method` / `lb_kind`; default NAT.
    pub lvs_method: Method,
    /// Seconds; a bare `persistence_timeout` means 360.
    pub persistence_timeout: Option<u32>,
    /// `persistence_granularity` as a prefix length (a dotted IPv4 mask
    /// such as `255.255.255.0` is 24).
    pub persistence_granularity: Option<u8>,
    pub persistence_engine: Option<String>,
    /// `None` for fwmark services; keepalived defaults an address service
    /// without `protocol` to UDP (with a warning).
    pub protocol: Option<Protocol>,
    pub ha_suspend: bool,
    pub virtualhost: Option<String>,
    pub snmp_name: Option<String>,
    pub smtp_alert: Option<bool>,
    pub alpha: bool,
    pub omega: bool,
    /// Default 1.
    pub quorum: u32,
    /// Default 0.
    pub hysteresis: u32,
    pub quorum_up: Option<Script>,
    pub quorum_down: Option<Script>,
    pub sorry_server: Option<SorryServer>,
    pub inhibit_on_failure: bool,
    pub checker_defaults: CheckerDefaults,
    pub real_servers: Vec<RealServer>,
    /// Valid keywords not modelled in detail, kept verbatim.
    pub other: Vec<RawStatement>,
}

impl VirtualServer {
    /// Whether the service is IPv6 (an IPv6 address, or `ip_family inet6`
    /// for fwmark and group services).
    pub fn is_ipv6(&self) -> bool {
        match &self.address {
            VsAddress::Ip { address, .. } => address.is_ipv6(),
            _ => self.ip_family == Some(Family::Inet6),
        }
    }

    /// The persistence the data plane gets, when the service is persistent.
    pub fn persistence(&self) -> Option<Persistence> {
        self.persistence_timeout.map(|timeout| Persistence {
            timeout,
            netmask: self.persistence_granularity,
        })
    }

    /// The port real servers default to: the service's, 0 for fwmark and
    /// group services.
    pub fn port(&self) -> u16 {
        match self.address {
            VsAddress::Ip { port, .. } => port,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SorryServer {
    pub address: IpAddr,
    pub port: Option<u16>,
    pub inhibit: bool,
    /// `sorry_server_lvs_method`; `None`: the virtual server's.
    pub lvs_method: Option<Method>,
}

/// `real_server IP [PORT] { ... }`, defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServer {
    pub address: IpAddr,
    /// Port as written; `None` means the virtual server's port.
    pub port: Option<u16>,
    /// Default 1 (0 allowed).
    pub weight: i32,
    /// `None`: the virtual server's method.
    pub lvs_method: Option<Method>,
    pub inhibit_on_failure: Option<bool>,
    pub notify_up: Option<Script>,
    pub notify_down: Option<Script>,
    pub uthreshold: Option<u32>,
    pub lthreshold: Option<u32>,
    pub smtp_alert: Option<bool>,
    pub alpha: Option<bool>,
    pub virtualhost: Option<String>,
    pub snmp_name: Option<String>,
    pub checker_defaults: CheckerDefaults,
    pub checkers: Vec<Checker>,
}

/// Options every checker has (except FILE_CHECK and BFD_CHECK), resolved
/// from checker, real server, virtual server and type defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckerCommon {
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
    /// Default 5 s.
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    /// Alias `nb_get_retry`. Default 1 (DNS_CHECK 3, MISC_CHECK 0).
    pub retry: u32,
    /// Default 1 s (HTTP_GET/SSL_GET 3 s, DNS_CHECK delay_loop).
    #[serde(with = "secs")]
    pub delay_before_retry: Duration,
    /// Default delay_loop (random start up to this).
    #[serde(with = "secs")]
    pub warmup: Duration,
    #[serde(with = "secs")]
    pub delay_loop: Duration,
    pub alpha: Option<bool>,
    pub log_all_failures: Option<bool>,
}

/// An HTTP status code or inclusive range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatusRange {
    pub from: u16,
    pub to: u16,
}

/// `url { ... }` of HTTP_GET / SSL_GET.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Url {
    pub path: String,
    pub digest: Option<String>,
    /// Default 200-299 when neither status_code nor digest is given.
    pub status_code: Vec<StatusRange>,
    pub virtualhost: Option<String>,
    pub regex: Option<String>,
    pub regex_no_match: bool,
    pub regex_options: Vec<String>,
    pub regex_min_offset: Option<u64>,
    pub regex_max_offset: Option<u64>,
    pub regex_stack: Option<(u64, u64)>,
    pub tls_compliant: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpCheck {
    /// Default `1.0`.
    pub http_protocol: String,
    pub virtualhost: Option<String>,
    pub fast_recovery: bool,
    pub enable_sni: bool,
    pub sni_name: Option<String>,
    pub tls_compliant: bool,
    pub urls: Vec<Url>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpCheck {
    pub helo_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsCheck {
    /// Default SOA.
    pub query_type: String,
    /// Default ".".
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MiscCheck {
    pub misc_path: Script,
    #[serde(with = "secs::opt")]
    pub misc_timeout: Option<Duration>,
    pub misc_dynamic: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UdpCheck {
    /// Hex payload as written.
    pub payload: Option<String>,
    pub require_reply: bool,
    /// Hex pattern (X = any nibble) as written.
    pub require_reply_pattern: Option<String>,
    pub min_reply_length: Option<u32>,
    pub max_reply_length: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    pub track_file: String,
    /// `None`: the track_file's own weight.
    pub weight: Option<i64>,
    pub reverse: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BfdCheck {
    pub name: String,
    pub alpha: Option<bool>,
}

/// A health checker of a real server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum Checker {
    #[serde(rename = "HTTP_GET")]
    HttpGet {
        common: CheckerCommon,
        http: HttpCheck,
    },
    #[serde(rename = "SSL_GET")]
    SslGet {
        common: CheckerCommon,
        http: HttpCheck,
    },
    #[serde(rename = "TCP_CHECK")]
    Tcp { common: CheckerCommon },
    #[serde(rename = "SMTP_CHECK")]
    Smtp {
        common: CheckerCommon,
        smtp: SmtpCheck,
    },
    #[serde(rename = "DNS_CHECK")]
    Dns {
        common: CheckerCommon,
        dns: DnsCheck,
    },
    #[serde(rename = "MISC_CHECK")]
    Misc {
        common: CheckerCommon,
        misc: MiscCheck,
    },
    #[serde(rename = "UDP_CHECK")]
    Udp {
        common: CheckerCommon,
        udp: UdpCheck,
    },
    #[serde(rename = "PING_CHECK")]
    Ping { common: CheckerCommon },
    #[serde(rename = "FILE_CHECK")]
    File { file: FileCheck },
    #[serde(rename = "BFD_CHECK")]
    Bfd { bfd: BfdCheck },
}

impl Checker {
    /// The keepalived block name (`HTTP_GET`, `TCP_CHECK`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Checker::HttpGet { .. } => "HTTP_GET",
            Checker::SslGet { .. } => "SSL_GET",
            Checker::Tcp { .. } => "TCP_CHECK",
            Checker::Smtp { .. } => "SMTP_CHECK",
            Checker::Dns { .. } => "DNS_CHECK",
            Checker::Misc { .. } => "MISC_CHECK",
            Checker::Udp { .. } => "UDP_CHECK",
            Checker::Ping { .. } => "PING_CHECK",
            Checker::File { .. } => "FILE_CHECK",
            Checker::Bfd { .. } => "BFD_CHECK",
        }
    }
    pub fn common(&self) -> Option<&CheckerCommon> {
        match self {
            Checker::HttpGet { common, .. }
            | Checker::SslGet { common, .. }
            | Checker::Tcp { common }
            | Checker::Smtp { common, .. }
            | Checker::Dns { common, .. }
            | Checker::Misc { common, .. }
            | Checker::Udp { common, .. }
            | Checker::Ping { common } => Some(common),
            Checker::File { .. } | Checker::Bfd { .. } => None,
        }
    }
}
