//! The desired LVS table: what a data plane (IPVS netlink, eBPF, a test
//! double) should make the kernel hold. Plain data, no dependency on the
//! config model, so data-plane crates only need these types.
//!
//! [`crate::core::CheckerSet::desired_table`] computes it from the health
//! state; a data plane diffs successive tables and applies the difference.

use std::fmt;
use std::net::IpAddr;

/// Transport protocol of an address-based virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// keepalived's spelling in log lines (`tcp`, `udp`, `sctp`).
    pub fn as_str(self) -> &'static str {
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

/// Address family of a fwmark service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Inet,
    Inet6,
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    /// `virtual_server IP PORT` with its protocol (a service without
    /// `protocol` is UDP, as keepalived does).
    Addr {
        addr: IpAddr,
        port: u16,
        protocol: Protocol,
    },
    /// `virtual_server fwmark N`.
    Fwmark { mark: u32, family: Family },
}

impl fmt::Display for ServiceKey {
    /// keepalived's format: `[192.0.2.1]:tcp:80` or `FWM 5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                addr,
                port,
                protocol,
            } => write!(f, "[{addr}]:{}:{port}", protocol.as_str()),
            ServiceKey::Fwmark { mark, .. } => write!(f, "FWM {mark}"),
        }
    }
}

/// Tunnel encapsulation for the tunnel forwarding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelType {
    Ipip,
    /// GUE with its UDP port.
    Gue {
        port: u16,
    },
    Gre,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelChecksum {
    None,
    Csum,
    RemCsum,
}

/// How packets reach a destination (keepalived's `lvs_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardMethod {
    /// NAT (IPVS "Masq").
    Nat,
    /// Direct routing (IPVS "Route").
    Dr,
    /// IP tunnelling (IPVS "Tunnel").
    Tun {
        tunnel: TunnelType,
        checksum: TunnelChecksum,
    },
}

/// Scheduler flags, as booleans; [`SchedFlags::bits`] gives the IPVS flag
/// word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SchedFlags {
    pub flag_1: bool,
    pub flag_2: bool,
    pub flag_3: bool,
    /// One-packet scheduling (UDP).
    pub ops: bool,
    pub hashed: bool,
}

/// IPVS service flag bits (linux/ip_vs.h).
pub mod flag_bits {
    pub const PERSISTENT: u32 = 0x0001;
    pub const HASHED: u32 = 0x0002;
    pub const ONEPACKET: u32 = 0x0004;
    pub const SCHED1: u32 = 0x0008;
    pub const SCHED2: u32 = 0x0010;
    pub const SCHED3: u32 = 0x0020;
}

impl SchedFlags {
    /// The IPVS flag word without the persistence bit.
    pub fn bits(&self) -> u32 {
        use flag_bits::*;
        let mut b = 0;
        if self.hashed {
            b |= HASHED;
        }
        if self.ops {
            b |= ONEPACKET;
        }
        if self.flag_1 {
            b |= SCHED1;
        }
        if self.flag_2 {
            b |= SCHED2;
        }
        if self.flag_3 {
            b |= SCHED3;
        }
        b
    }
}

/// `persistence_granularity`: an IPv4 netmask or an IPv6 prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Granularity {
    V4Mask(std::net::Ipv4Addr),
    V6Prefix(u8),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Persistence {
    /// Seconds.
    pub timeout: u32,
    pub granularity: Option<Granularity>,
    /// `persistence_engine` (e.g. `sip`).
    pub engine: Option<String>,
}

/// One real server (or sorry server) in a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub addr: IpAddr,
    pub port: u16,
    /// 0 means "kept but gets no new connections" (inhibit_on_failure,
    /// inhibited sorry server).
    pub weight: u32,
    pub method: ForwardMethod,
    /// `uthreshold` (0 = none).
    pub upper_threshold: u32,
    /// `lthreshold` (0 = none).
    pub lower_threshold: u32,
}

/// One virtual service with the destinations it should have now.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualService {
    pub key: ServiceKey,
    /// Scheduler name (`rr`, `wlc`, ...).
    pub sched: String,
    pub flags: SchedFlags,
    pub persistence: Option<Persistence>,
    /// The service's default forwarding method.
    pub method: ForwardMethod,
    /// Sorted by (address, port), so tables compare and diff stably.
    pub destinations: Vec<Destination>,
}

impl VirtualService {
    /// The IPVS flag word, persistence bit included.
    pub fn flag_bits(&self) -> u32 {
        let mut b = self.flags.bits();
        if self.persistence.is_some() {
            b |= flag_bits::PERSISTENT;
        }
        b
    }

    pub fn destination(&self, addr: IpAddr, port: u16) -> Option<&Destination> {
        self.destinations
            .iter()
            .find(|d| d.addr == addr && d.port == port)
    }
}

/// Finds a service in a table by key.
pub fn find<'a>(table: &'a [VirtualService], key: &ServiceKey) -> Option<&'a VirtualService> {
    table.iter().find(|s| &s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_key_prints_like_keepalived() {
        let k = ServiceKey::Addr {
            addr: "192.0.2.144".parse().unwrap(),
            port: 80,
            protocol: Protocol::Tcp,
        };
        assert_eq!(k.to_string(), "[192.0.2.144]:tcp:80");
        let f = ServiceKey::Fwmark {
            mark: 7,
            family: Family::Inet,
        };
        assert_eq!(f.to_string(), "FWM 7");
    }

    #[test]
    fn flag_bits_follow_ip_vs_h() {
        let flags = SchedFlags {
            flag_1: true,
            ops: true,
            ..Default::default()
        };
        let vs = VirtualService {
            key: ServiceKey::Fwmark {
                mark: 1,
                family: Family::Inet,
            },
            sched: "sh".into(),
            flags,
            persistence: Some(Persistence {
                timeout: 360,
                granularity: None,
                engine: None,
            }),
            method: ForwardMethod::Dr,
            destinations: vec![],
        };
        assert_eq!(vs.flag_bits(), 0x1 | 0x4 | 0x8);
    }
}
