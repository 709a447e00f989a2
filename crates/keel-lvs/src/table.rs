//! The desired (or observed) load-balancer table: virtual services and their
//! destinations, in the shape IPVS uses, independent of any data plane.
//!
//! Producers (the health checker) build a [`Table`] from configuration and
//! health state; backends install it. Every key type is `Ord` so that tables
//! can be normalised and diffs come out in a deterministic order.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// Transport protocol of an address-keyed virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// Name as ipvsadm prints it (`TCP`, `UDP`, `SCTP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// keepalived's spelling in log lines and FIFO lines (`tcp`, `udp`,
    /// `sctp`).
    pub fn keepalived_name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// IP protocol number (what IPVS wants).
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

/// Address family of a firewall-mark service (`fwmark N [inet|inet6]`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    #[default]
    Inet,
    Inet6,
}

/// What identifies a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKey {
    /// `virtual_server IP PORT` with `protocol`. Port 0 matches every port
    /// (persistent "all ports" services).
    Addr {
        ip: IpAddr,
        proto: Protocol,
        port: u16,
    },
    /// `virtual_server fwmark N`.
    Fwmark { mark: u32, family: Family },
}

impl ServiceKey {
    /// The service's address family.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr {
                ip: IpAddr::V4(_), ..
            } => Family::Inet,
            ServiceKey::Addr {
                ip: IpAddr::V6(_), ..
            } => Family::Inet6,
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// keepalived's name of the service in logs, FIFO lines and alerts:
    /// `[192.0.2.144]:tcp:80`, `FWM 7`.
    pub fn keepalived_name(&self) -> String {
        match self {
            ServiceKey::Addr { ip, proto, port } => {
                format!("[{ip}]:{}:{port}", proto.keepalived_name())
            }
            ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
        }
    }
}

impl fmt::Display for ServiceKey {
    /// `TCP  192.0.2.144:80`-like text without padding: `TCP 192.0.2.144:80`,
    /// `TCP [2001:db8::1]:80`, `FWM 7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { ip, proto, port } => {
                write!(f, "{} {}", proto.as_str(), SockAddrText(*ip, *port))
            }
            ServiceKey::Fwmark { mark, family } => match family {
                Family::Inet => write!(f, "FWM {mark}"),
                Family::Inet6 => write!(f, "FWM {mark} IPv6"),
            },
        }
    }
}

/// `addr:port` with IPv6 addresses in brackets, as ipvsadm prints them.
pub(crate) struct SockAddrText(pub IpAddr, pub u16);

impl fmt::Display for SockAddrText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

/// Scheduler (`lvs_sched` / `lb_algo`), with the flags that belong to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    /// Source hashing. `port`: hash the source port too (`sh-port`,
    /// `flag-2`); `fallback`: skip unavailable servers (`sh-fallback`,
    /// `flag-1`).
    Sh {
        fallback: bool,
        port: bool,
    },
    Sed,
    Nq,
    /// Maglev hashing; flags as for [`Scheduler::Sh`] (`mh-fallback`,
    /// `mh-port`).
    Mh {
        fallback: bool,
        port: bool,
    },
    Fo,
    Ovf,
    Twos,
}

impl Scheduler {
    /// Every scheduler name keepalived accepts, in ipvsadm's spelling.
    pub const NAMES: [&'static str; 14] = [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf",
        "twos",
    ];

    /// Parses a scheduler name (`rr`, `wrr`, ...); flags start cleared.
    pub fn from_name(name: &str) -> Option<Scheduler> {
        Some(match name {
            "rr" => Scheduler::Rr,
            "wrr" => Scheduler::Wrr,
            "lc" => Scheduler::Lc,
            "wlc" => Scheduler::Wlc,
            "lblc" => Scheduler::Lblc,
            "lblcr" => Scheduler::Lblcr,
            "dh" => Scheduler::Dh,
            "sh" => Scheduler::Sh {
                fallback: false,
                port: false,
            },
            "sed" => Scheduler::Sed,
            "nq" => Scheduler::Nq,
            "mh" => Scheduler::Mh {
                fallback: false,
                port: false,
            },
            "fo" => Scheduler::Fo,
            "ovf" => Scheduler::Ovf,
            "twos" => Scheduler::Twos,
            _ => return None,
        })
    }

    /// The scheduler's name without flags.
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh { .. } => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Mh { .. } => "mh",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Twos => "twos",
        }
    }

    /// Applies keepalived's scheduler flags: `flag-1` is the sh/mh
    /// fallback flag and `flag-2` the sh/mh port flag; they mean nothing
    /// to other schedulers.
    pub fn with_flags(self, flag_1: bool, flag_2: bool) -> Scheduler {
        match self {
            Scheduler::Sh { fallback, port } => Scheduler::Sh {
                fallback: fallback || flag_1,
                port: port || flag_2,
            },
            Scheduler::Mh { fallback, port } => Scheduler::Mh {
                fallback: fallback || flag_1,
                port: port || flag_2,
            },
            other => other,
        }
    }

    /// Flag names as ipvsadm lists them (`sh-fallback,sh-port`), empty when
    /// none are set.
    pub fn flags_text(self) -> String {
        let (prefix, fallback, port) = match self {
            Scheduler::Sh { fallback, port } => ("sh", fallback, port),
            Scheduler::Mh { fallback, port } => ("mh", fallback, port),
            _ => return String::new(),
        };
        let mut parts = Vec::new();
        if fallback {
            parts.push(format!("{prefix}-fallback"));
        }
        if port {
            parts.push(format!("{prefix}-port"));
        }
        parts.join(",")
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `persistence_timeout` / `persistence_granularity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Persistence {
    /// Seconds a client stays bound to its destination after its last
    /// connection (keepalived's default is 360).
    pub timeout: u32,
    /// Prefix length of the client-address mask clients are grouped by
    /// (`persistence_granularity 255.255.255.0` is 24); `None` means the
    /// whole address (/32 or /128).
    pub netmask: Option<u8>,
}

impl Persistence {
    /// Turns a `persistence_granularity` value (a dotted mask such as
    /// `255.255.255.0`, or a prefix length such as `24` / `/64`) into a
    /// prefix length. `None` when the text is neither, or the mask is not
    /// contiguous.
    pub fn granularity_prefix(text: &str) -> Option<u8> {
        let text = text.trim();
        let bare = text.strip_prefix('/').unwrap_or(text);
        if let Ok(len) = bare.parse::<u8>() {
            return (len <= 128).then_some(len);
        }
        let mask: std::net::Ipv4Addr = text.parse().ok()?;
        let bits = u32::from(mask);
        let len = bits.leading_ones();
        (bits.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
    }

    /// The canonical form for a service of `family`: a mask covering the
    /// whole address (/32, /128) is written `None`, because that is how the
    /// kernel reports it back; keeping `Some(32)` would make a desired table
    /// differ forever from the installed one.
    pub fn normalized(self, family: Family) -> Persistence {
        let full = match family {
            Family::Inet => 32,
            Family::Inet6 => 128,
        };
        Persistence {
            timeout: self.timeout,
            netmask: self.netmask.filter(|&len| len != full),
        }
    }
}

/// IPVS tunnel encapsulation (`lvs_method TUN type ...`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TunnelKind {
    #[default]
    Ipip,
    Gue {
        port: u16,
    },
    Gre,
}

/// Tunnel checksum mode (`nocsum`, `csum`, `remcsum`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TunnelCsum {
    #[default]
    Nocsum,
    Csum,
    Remcsum,
}

/// Forwarding method (`lvs_method` / `lb_kind`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Destination NAT ("Masq" in ipvsadm); keepalived's default.
    #[default]
    Nat,
    /// Direct routing ("Route"): only the destination MAC changes.
    Dr,
    /// IP tunnelling ("Tunnel").
    Tun { kind: TunnelKind, csum: TunnelCsum },
}

impl Method {
    /// The forward column of `ipvsadm -ln`.
    pub fn ipvsadm_name(self) -> &'static str {
        match self {
            Method::Nat => "Masq",
            Method::Dr => "Route",
            Method::Tun { .. } => "Tunnel",
        }
    }

    /// keepalived's keyword (`NAT`, `DR`, `TUN`).
    pub fn keyword(self) -> &'static str {
        match self {
            Method::Nat => "NAT",
            Method::Dr => "DR",
            Method::Tun { .. } => "TUN",
        }
    }
}

/// A real server of a virtual service (or the sorry server standing in for
/// all of them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Destination {
    pub addr: IpAddr,
    /// 0 for fwmark / all-port services keeps the client's port.
    pub port: u16,
    /// 0 takes no new connections while existing ones continue (quiescent);
    /// this is how keepalived's `inhibit_on_failure` removes a server.
    pub weight: u32,
    pub method: Method,
    /// `uthreshold`; 0 means no limit.
    #[serde(default)]
    pub upper_threshold: u32,
    /// `lthreshold`; 0 means no limit.
    #[serde(default)]
    pub lower_threshold: u32,
}

impl Destination {
    /// The identity of a destination within its service.
    pub fn key(&self) -> DestKey {
        DestKey {
            addr: self.addr,
            port: self.port,
        }
    }
}

/// Identity of a destination within a service: address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SockAddrText(self.addr, self.port).fmt(f)
    }
}

/// One virtual service and its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VirtualService {
    pub key: ServiceKey,
    pub scheduler: Scheduler,
    pub persistence: Option<Persistence>,
    pub destinations: Vec<Destination>,
}

impl VirtualService {
    /// A service without destinations.
    pub fn new(key: ServiceKey, scheduler: Scheduler) -> VirtualService {
        VirtualService {
            key,
            scheduler,
            persistence: None,
            destinations: Vec::new(),
        }
    }

    /// The service's own settings with the destination list left out: what
    /// an `EditService` change carries.
    pub fn header(&self) -> ServiceHeader {
        ServiceHeader {
            key: self.key,
            scheduler: self.scheduler,
            persistence: self.persistence,
        }
    }

    /// [`VirtualService::header`] with the persistence mask in canonical
    /// form ([`Persistence::normalized`]).
    pub fn normalized_header(&self) -> ServiceHeader {
        self.header().normalized()
    }

    /// Destination by key.
    pub fn destination(&self, key: DestKey) -> Option<&Destination> {
        self.destinations.iter().find(|d| d.key() == key)
    }

    /// Destinations that take new connections (weight > 0), in key order.
    pub fn schedulable(&self) -> Vec<&Destination> {
        let mut v: Vec<&Destination> = self.destinations.iter().filter(|d| d.weight > 0).collect();
        v.sort_by_key(|d| d.key());
        v
    }
}

/// A service's settings without its destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceHeader {
    pub key: ServiceKey,
    pub scheduler: Scheduler,
    pub persistence: Option<Persistence>,
}

impl ServiceHeader {
    /// The header with its persistence mask in canonical form
    /// ([`Persistence::normalized`]).
    pub fn normalized(self) -> ServiceHeader {
        ServiceHeader {
            persistence: self.persistence.map(|p| p.normalized(self.key.family())),
            ..self
        }
    }

    /// The header as a service with no destinations.
    pub fn into_service(self) -> VirtualService {
        VirtualService {
            key: self.key,
            scheduler: self.scheduler,
            persistence: self.persistence,
            destinations: Vec::new(),
        }
    }
}

/// The whole load-balancer table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Table {
    pub services: Vec<VirtualService>,
}

impl Table {
    /// Empty table.
    pub fn new() -> Table {
        Table::default()
    }

    /// Services sorted by key and destinations by key; a later duplicate
    /// key replaces an earlier one; persistence masks in canonical form
    /// ([`Persistence::normalized`]). Two tables describing the same state
    /// are equal once normalised.
    pub fn normalized(&self) -> Table {
        let mut services: std::collections::BTreeMap<ServiceKey, VirtualService> =
            std::collections::BTreeMap::new();
        for svc in &self.services {
            let mut dests: std::collections::BTreeMap<DestKey, Destination> =
                std::collections::BTreeMap::new();
            for d in &svc.destinations {
                dests.insert(d.key(), d.clone());
            }
            let mut svc = svc.clone();
            svc.persistence = svc.persistence.map(|p| p.normalized(svc.key.family()));
            svc.destinations = dests.into_values().collect();
            services.insert(svc.key, svc);
        }
        Table {
            services: services.into_values().collect(),
        }
    }

    /// Service by key.
    pub fn service(&self, key: &ServiceKey) -> Option<&VirtualService> {
        self.services.iter().find(|s| &s.key == key)
    }

    /// Mutable service by key.
    pub fn service_mut(&mut self, key: &ServiceKey) -> Option<&mut VirtualService> {
        self.services.iter_mut().find(|s| &s.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granularity_accepts_masks_and_prefixes() {
        assert_eq!(Persistence::granularity_prefix("255.255.255.0"), Some(24));
        assert_eq!(Persistence::granularity_prefix("255.255.255.255"), Some(32));
        assert_eq!(Persistence::granularity_prefix("0.0.0.0"), Some(0));
        assert_eq!(Persistence::granularity_prefix("/64"), Some(64));
        assert_eq!(Persistence::granularity_prefix("255.0.255.0"), None);
        assert_eq!(Persistence::granularity_prefix("129"), None);
        assert_eq!(Persistence::granularity_prefix("nonsense"), None);
    }

    #[test]
    fn scheduler_names_round_trip_and_flags_apply_to_hashing_only() {
        for name in Scheduler::NAMES {
            let s = Scheduler::from_name(name).unwrap();
            assert_eq!(s.name(), name);
        }
        assert_eq!(Scheduler::from_name("random"), None);
        let sh = Scheduler::from_name("sh").unwrap().with_flags(true, true);
        assert_eq!(sh.flags_text(), "sh-fallback,sh-port");
        assert_eq!(Scheduler::Rr.with_flags(true, true), Scheduler::Rr);
    }

    #[test]
    fn keepalived_names_use_its_bracketed_lowercase_form() {
        let k = ServiceKey::Addr {
            ip: IpAddr::from([192, 0, 2, 144]),
            proto: Protocol::Tcp,
            port: 80,
        };
        assert_eq!(k.keepalived_name(), "[192.0.2.144]:tcp:80");
        let f = ServiceKey::Fwmark {
            mark: 7,
            family: Family::Inet6,
        };
        assert_eq!(f.keepalived_name(), "FWM 7");
        assert_eq!(Protocol::Sctp.number(), 132);
    }

    #[test]
    fn normalized_sorts_and_deduplicates() {
        let key = |o: u8| ServiceKey::Addr {
            ip: IpAddr::from([192, 0, 2, o]),
            proto: Protocol::Tcp,
            port: 80,
        };
        let dest = |o: u8, w: u32| Destination {
            addr: IpAddr::from([192, 0, 2, o]),
            port: 80,
            weight: w,
            method: Method::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        };
        let mut b = VirtualService::new(key(2), Scheduler::Rr);
        b.destinations = vec![dest(12, 1), dest(11, 1), dest(12, 5)];
        let a = VirtualService::new(key(1), Scheduler::Wrr);
        let t = Table {
            services: vec![b, a],
        }
        .normalized();
        assert_eq!(t.services[0].key, key(1));
        let d: Vec<_> = t.services[1]
            .destinations
            .iter()
            .map(|d| (d.addr, d.weight))
            .collect();
        assert_eq!(
            d,
            vec![
                (IpAddr::from([192, 0, 2, 11]), 1),
                (IpAddr::from([192, 0, 2, 12]), 5)
            ]
        );
    }

    #[test]
    fn full_length_persistence_mask_normalizes_to_none() {
        let with_mask = |key: ServiceKey, len: u8| {
            let mut svc = VirtualService::new(key, Scheduler::Rr);
            svc.persistence = Some(Persistence {
                timeout: 360,
                netmask: Some(len),
            });
            Table {
                services: vec![svc],
            }
            .normalized()
            .services[0]
                .persistence
        };
        let v4 = ServiceKey::Addr {
            ip: IpAddr::from([192, 0, 2, 1]),
            proto: Protocol::Tcp,
            port: 80,
        };
        let v6 = ServiceKey::Addr {
            ip: "2001:db8::1".parse().unwrap(),
            proto: Protocol::Tcp,
            port: 80,
        };
        let fwm6 = ServiceKey::Fwmark {
            mark: 3,
            family: Family::Inet6,
        };
        let none = Some(Persistence {
            timeout: 360,
            netmask: None,
        });
        assert_eq!(with_mask(v4, 32), none);
        assert_eq!(with_mask(v6, 128), none);
        assert_eq!(with_mask(fwm6, 128), none);
        // A /32 is a real (narrow) mask for an IPv6 service.
        assert_eq!(
            with_mask(v6, 32),
            Some(Persistence {
                timeout: 360,
                netmask: Some(32),
            })
        );
        assert_eq!(
            with_mask(v4, 24),
            Some(Persistence {
                timeout: 360,
                netmask: Some(24),
            })
        );
    }

    #[test]
    fn serde_round_trip() {
        let mut svc = VirtualService::new(
            ServiceKey::Fwmark {
                mark: 7,
                family: Family::Inet6,
            },
            Scheduler::Mh {
                fallback: true,
                port: false,
            },
        );
        svc.persistence = Some(Persistence {
            timeout: 360,
            netmask: Some(64),
        });
        svc.destinations.push(Destination {
            addr: "2001:db8::10".parse().unwrap(),
            port: 0,
            weight: 3,
            method: Method::Tun {
                kind: TunnelKind::Gue { port: 6080 },
                csum: TunnelCsum::Csum,
            },
            upper_threshold: 10,
            lower_threshold: 2,
        });
        let t = Table {
            services: vec![svc],
        };
        let json = serde_json::to_string(&t).unwrap();
        let back: Table = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }
}
