//! IPVS's generic-netlink messages: commands, attributes and the typed
//! service / destination / info records they carry.
//!
//! Numbers and layouts come from the kernel's `include/uapi/linux/ip_vs.h`
//! (the `IPVS_CMD_*`, `IPVS_CMD_ATTR_*`, `IPVS_SVC_ATTR_*`,
//! `IPVS_DEST_ATTR_*`, `IPVS_STATS_ATTR_*` and `IPVS_INFO_ATTR_*` enums,
//! `struct ip_vs_flags`, the `IP_VS_SVC_F_*` / `IP_VS_CONN_F_*` flags and the
//! tunnel constants). Attribute types as the kernel's netlink policy in
//! `net/netfilter/ipvs/ip_vs_ctl.c` checks them:
//!
//! | attribute | payload |
//! | --- | --- |
//! | `SVC_ATTR_AF`, `SVC_ATTR_PROTOCOL` | u16 |
//! | `SVC_ATTR_ADDR`, `DEST_ATTR_ADDR` | 16 bytes (`union nf_inet_addr`; IPv4 in the first 4) |
//! | `SVC_ATTR_PORT`, `DEST_ATTR_PORT`, `DEST_ATTR_TUN_PORT` | u16, network byte order |
//! | `SVC_ATTR_FWMARK`, `SVC_ATTR_TIMEOUT` | u32 |
//! | `SVC_ATTR_SCHED_NAME`, `SVC_ATTR_PE_NAME` | NUL-terminated, at most 15 characters |
//! | `SVC_ATTR_FLAGS` | `struct ip_vs_flags { u32 flags; u32 mask; }` |
//! | `SVC_ATTR_NETMASK` | 4 bytes: an IPv4 mask in network byte order, or an IPv6 prefix length as a host-order u32 |
//! | `DEST_ATTR_FWD_METHOD`, `WEIGHT`, `U_THRESH`, `L_THRESH`, `*_CONNS` | u32 |
//! | `DEST_ATTR_ADDR_FAMILY`, `DEST_ATTR_TUN_FLAGS` | u16 |
//! | `DEST_ATTR_TUN_TYPE` | u8 |
//! | `*_ATTR_STATS` | nest of u32 counters (u64 byte counts); `*_ATTR_STATS64`: nest of u64 |

use crate::error::{DecodeError, IpvsError};
use crate::nl::{self, Attr, Request};
use keel_lvs::{Family, Protocol, ServiceKey};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `IPVS_GENL_NAME`.
pub const IPVS_GENL_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`.
pub const IPVS_GENL_VERSION: u8 = 1;

/// `IP_VS_SCHEDNAME_MAXLEN` / `IP_VS_PENAME_MAXLEN`, terminating NUL included.
pub const NAME_MAXLEN: usize = 16;

/// Generic-netlink commands of the IPVS family (`IPVS_CMD_*`).
pub mod cmd {
    pub const NEW_SERVICE: u8 = 1;
    pub const SET_SERVICE: u8 = 2;
    pub const DEL_SERVICE: u8 = 3;
    pub const GET_SERVICE: u8 = 4;
    pub const NEW_DEST: u8 = 5;
    pub const SET_DEST: u8 = 6;
    pub const DEL_DEST: u8 = 7;
    pub const GET_DEST: u8 = 8;
    pub const SET_INFO: u8 = 14;
    pub const GET_INFO: u8 = 15;
    pub const ZERO: u8 = 16;
    pub const FLUSH: u8 = 17;
}

/// `IPVS_CMD_ATTR_*`.
pub mod cmd_attr {
    pub const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
}

/// `IPVS_SVC_ATTR_*`.
pub mod svc_attr {
    pub const AF: u16 = 1;
    pub const PROTOCOL: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const PORT: u16 = 4;
    pub const FWMARK: u16 = 5;
    pub const SCHED_NAME: u16 = 6;
    pub const FLAGS: u16 = 7;
    pub const TIMEOUT: u16 = 8;
    pub const NETMASK: u16 = 9;
    pub const STATS: u16 = 10;
    pub const PE_NAME: u16 = 11;
    pub const STATS64: u16 = 12;
}

/// `IPVS_DEST_ATTR_*`.
pub mod dest_attr {
    pub const ADDR: u16 = 1;
    pub const PORT: u16 = 2;
    pub const FWD_METHOD: u16 = 3;
    pub const WEIGHT: u16 = 4;
    pub const U_THRESH: u16 = 5;
    pub const L_THRESH: u16 = 6;
    pub const ACTIVE_CONNS: u16 = 7;
    pub const INACT_CONNS: u16 = 8;
    pub const PERSIST_CONNS: u16 = 9;
    pub const STATS: u16 = 10;
    pub const ADDR_FAMILY: u16 = 11;
    pub const STATS64: u16 = 12;
    pub const TUN_TYPE: u16 = 13;
    pub const TUN_PORT: u16 = 14;
    pub const TUN_FLAGS: u16 = 15;
}

/// `IPVS_STATS_ATTR_*`.
pub mod stats_attr {
    pub const CONNS: u16 = 1;
    pub const INPKTS: u16 = 2;
    pub const OUTPKTS: u16 = 3;
    pub const INBYTES: u16 = 4;
    pub const OUTBYTES: u16 = 5;
    pub const CPS: u16 = 6;
    pub const INPPS: u16 = 7;
    pub const OUTPPS: u16 = 8;
    pub const INBPS: u16 = 9;
    pub const OUTBPS: u16 = 10;
}

/// `IPVS_INFO_ATTR_*`.
pub mod info_attr {
    pub const VERSION: u16 = 1;
    pub const CONN_TAB_SIZE: u16 = 2;
}

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_TCP: u16 = 6;
pub const IPPROTO_UDP: u16 = 17;
pub const IPPROTO_SCTP: u16 = 132;

/// Virtual-service flags (`IP_VS_SVC_F_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    /// Persistent service (`-p`).
    pub const PERSISTENT: ServiceFlags = ServiceFlags(0x0001);
    /// Set by the kernel on every service it has hashed; never sent.
    pub const HASHED: ServiceFlags = ServiceFlags(0x0002);
    /// One-packet scheduling (`-o`, keepalived's `ops`).
    pub const ONEPACKET: ServiceFlags = ServiceFlags(0x0004);
    /// Scheduler flag 1: sh/mh fallback.
    pub const SCHED1: ServiceFlags = ServiceFlags(0x0008);
    /// Scheduler flag 2: sh/mh hash the source port too.
    pub const SCHED2: ServiceFlags = ServiceFlags(0x0010);
    /// Scheduler flag 3 (no current scheduler uses it).
    pub const SCHED3: ServiceFlags = ServiceFlags(0x0020);

    pub fn contains(self, other: ServiceFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn set(&mut self, other: ServiceFlags, on: bool) {
        if on {
            self.0 |= other.0;
        } else {
            self.0 &= !other.0;
        }
    }
}

/// Forwarding method of a destination (`IP_VS_CONN_F_FWD_MASK` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Forward {
    /// `IP_VS_CONN_F_MASQ` (NAT).
    #[default]
    Masq,
    /// `IP_VS_CONN_F_LOCALNODE`.
    Local,
    /// `IP_VS_CONN_F_TUNNEL`.
    Tunnel,
    /// `IP_VS_CONN_F_DROUTE` (direct routing).
    Route,
    /// `IP_VS_CONN_F_BYPASS`.
    Bypass,
}

impl Forward {
    pub fn code(self) -> u32 {
        match self {
            Forward::Masq => 0,
            Forward::Local => 1,
            Forward::Tunnel => 2,
            Forward::Route => 3,
            Forward::Bypass => 4,
        }
    }

    pub fn from_code(code: u32) -> Result<Forward, DecodeError> {
        Ok(match code & 0x7 {
            0 => Forward::Masq,
            1 => Forward::Local,
            2 => Forward::Tunnel,
            3 => Forward::Route,
            4 => Forward::Bypass,
            _ => return Err(DecodeError::UnknownForward(code)),
        })
    }
}

/// Tunnel encapsulation (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelType {
    #[default]
    Ipip,
    Gue,
    Gre,
}

impl TunnelType {
    pub fn code(self) -> u8 {
        match self {
            TunnelType::Ipip => 0,
            TunnelType::Gue => 1,
            TunnelType::Gre => 2,
        }
    }

    pub fn from_code(code: u8) -> Result<TunnelType, DecodeError> {
        Ok(match code {
            0 => TunnelType::Ipip,
            1 => TunnelType::Gue,
            2 => TunnelType::Gre,
            _ => return Err(DecodeError::UnknownTunnelType(code)),
        })
    }
}

/// `IP_VS_TUNNEL_ENCAP_FLAG_CSUM`.
pub const TUN_FLAG_CSUM: u16 = 1 << 0;
/// `IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM`.
pub const TUN_FLAG_REMCSUM: u16 = 1 << 1;

/// Counters and rates of a service or destination. The kernel refreshes the
/// rates (and the counters `ipvsadm --stats` shows) every 2 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

/// A virtual service as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    pub key: ServiceKey,
    /// Scheduler module name without the `ip_vs_` prefix (`rr`, `mh`, ...).
    pub sched_name: String,
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (meaningful with
    /// [`ServiceFlags::PERSISTENT`]).
    pub timeout: u32,
    /// Persistence netmask in the kernel's terms: for IPv4 the mask as a
    /// number (`0xffff_ff00` for /24), for IPv6 the prefix length (1..=128).
    pub netmask: u32,
    /// Persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
    /// Filled in by reads; ignored when programming.
    pub stats: Stats,
}

impl Service {
    /// A service with no persistence and no flags.
    pub fn new(key: ServiceKey, sched_name: &str) -> Service {
        Service {
            key,
            sched_name: sched_name.to_string(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: full_netmask(key.family()),
            pe_name: None,
            stats: Stats::default(),
        }
    }

    /// The persistence netmask as a prefix length; `None` for an IPv4 mask
    /// whose one bits are not contiguous, or an IPv6 length above 128.
    pub fn netmask_prefix(&self) -> Option<u8> {
        match self.key.family() {
            Family::Inet => {
                let ones = self.netmask.leading_ones();
                (self.netmask.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
            }
            Family::Inet6 => u8::try_from(self.netmask).ok().filter(|&l| l <= 128),
        }
    }
}

/// The kernel's netmask value for a prefix length.
pub fn netmask_from_prefix(family: Family, prefix: u8) -> Result<u32, IpvsError> {
    match family {
        Family::Inet if prefix <= 32 => {
            Ok(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0))
        }
        // The kernel refuses IPv6 services whose netmask is outside 1..=128.
        Family::Inet6 if (1..=128).contains(&prefix) => Ok(u32::from(prefix)),
        _ => Err(IpvsError::Invalid {
            what: "persistence netmask".to_string(),
            why: format!("/{prefix} does not fit the service's address family"),
        }),
    }
}

/// The netmask that groups nothing: /32 or /128.
pub fn full_netmask(family: Family) -> u32 {
    match family {
        Family::Inet => u32::MAX,
        Family::Inet6 => 128,
    }
}

/// A destination (real server) as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dest {
    pub addr: IpAddr,
    pub port: u16,
    pub fwd: Forward,
    /// The kernel keeps an `int`: at most `i32::MAX`.
    pub weight: u32,
    /// Upper connection threshold; 0 means none.
    pub u_threshold: u32,
    /// Lower connection threshold; 0 means none.
    pub l_threshold: u32,
    pub tun_type: TunnelType,
    /// GUE destination port.
    pub tun_port: u16,
    /// `TUN_FLAG_CSUM` / `TUN_FLAG_REMCSUM`.
    pub tun_flags: u16,
    /// Read back only.
    pub active_conns: u32,
    /// Read back only.
    pub inact_conns: u32,
    /// Read back only.
    pub persist_conns: u32,
    /// Read back only.
    pub stats: Stats,
}

impl Dest {
    /// A NAT destination of weight 1 without thresholds.
    pub fn new(addr: IpAddr, port: u16) -> Dest {
        Dest {
            addr,
            port,
            fwd: Forward::Masq,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunnelType::Ipip,
            tun_port: 0,
            tun_flags: 0,
            active_conns: 0,
            inact_conns: 0,
            persist_conns: 0,
            stats: Stats::default(),
        }
    }
}

/// `IPVS_CMD_GET_INFO`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Info {
    /// `IP_VS_VERSION_CODE`, e.g. `0x010201`.
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}

impl Info {
    /// `1.2.1`.
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            (self.version >> 16) & 0xff,
            (self.version >> 8) & 0xff,
            self.version & 0xff
        )
    }
}

fn family_code(family: Family) -> u16 {
    match family {
        Family::Inet => AF_INET,
        Family::Inet6 => AF_INET6,
    }
}

fn proto_code(p: Protocol) -> u16 {
    match p {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        Protocol::Sctp => IPPROTO_SCTP,
    }
}

fn addr16(ip: IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match ip {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b = a.octets(),
    }
    b
}

fn check_name(what: &str, name: &str) -> Result<(), IpvsError> {
    if name.is_empty() || name.len() >= NAME_MAXLEN || name.contains('\0') {
        return Err(IpvsError::Invalid {
            what: format!("{what} {name:?}"),
            why: format!("must be 1 to {} bytes without NUL", NAME_MAXLEN - 1),
        });
    }
    Ok(())
}

/// Appends the attributes that identify a service (inside an open
/// `IPVS_CMD_ATTR_SERVICE` nest).
fn put_service_id(r: &mut Request, key: &ServiceKey) {
    r.put_u16(svc_attr::AF, family_code(key.family()));
    match *key {
        ServiceKey::Addr { ip, proto, port } => {
            r.put_u16(svc_attr::PROTOCOL, proto_code(proto));
            r.put(svc_attr::ADDR, &addr16(ip));
            r.put_be16(svc_attr::PORT, port);
        }
        ServiceKey::Fwmark { mark, .. } => r.put_u32(svc_attr::FWMARK, mark),
    }
}

/// `IPVS_CMD_ATTR_SERVICE` holding only the service's identity (what
/// DEL_SERVICE, GET_SERVICE and the destination commands need).
pub(crate) fn encode_service_id(r: &mut Request, key: &ServiceKey) {
    let n = r.begin_nest(cmd_attr::SERVICE);
    put_service_id(r, key);
    r.end_nest(n);
}

/// `IPVS_CMD_ATTR_SERVICE` with every setting (NEW_SERVICE / SET_SERVICE
/// require scheduler, flags, timeout and netmask).
pub(crate) fn encode_service(r: &mut Request, svc: &Service) -> Result<(), IpvsError> {
    check_name("scheduler", &svc.sched_name)?;
    if let Some(pe) = &svc.pe_name {
        check_name("persistence engine", pe)?;
    }
    if svc.key.family() == Family::Inet6 && !(1..=128).contains(&svc.netmask) {
        return Err(IpvsError::Invalid {
            what: format!("service {}", svc.key),
            why: format!("IPv6 netmask /{} is outside 1..=128", svc.netmask),
        });
    }
    let n = r.begin_nest(cmd_attr::SERVICE);
    put_service_id(r, &svc.key);
    r.put_str(svc_attr::SCHED_NAME, &svc.sched_name);
    if let Some(pe) = &svc.pe_name {
        r.put_str(svc_attr::PE_NAME, pe);
    }
    // struct ip_vs_flags: every flag is ours to set except HASHED, which the
    // kernel owns (a mask bit left clear keeps the kernel's value).
    let mask = !ServiceFlags::HASHED.0;
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&(svc.flags.0 & mask).to_ne_bytes());
    flags[4..].copy_from_slice(&mask.to_ne_bytes());
    r.put(svc_attr::FLAGS, &flags);
    r.put_u32(svc_attr::TIMEOUT, svc.timeout);
    r.put(
        svc_attr::NETMASK,
        &netmask_bytes(svc.key.family(), svc.netmask),
    );
    r.end_nest(n);
    Ok(())
}

fn netmask_bytes(family: Family, netmask: u32) -> [u8; 4] {
    match family {
        Family::Inet => netmask.to_be_bytes(),
        Family::Inet6 => netmask.to_ne_bytes(),
    }
}

/// `IPVS_CMD_ATTR_DEST` with every setting (NEW_DEST / SET_DEST require
/// forwarding method, weight and both thresholds).
pub(crate) fn encode_dest(r: &mut Request, d: &Dest) -> Result<(), IpvsError> {
    let weight = i32::try_from(d.weight).map_err(|_| IpvsError::Invalid {
        what: format!("weight of {}", SockText(d.addr, d.port)),
        why: format!("{} exceeds the kernel's limit {}", d.weight, i32::MAX),
    })?;
    let n = r.begin_nest(cmd_attr::DEST);
    put_dest_id(r, d.addr, d.port);
    r.put_u32(dest_attr::FWD_METHOD, d.fwd.code());
    r.put_u32(dest_attr::WEIGHT, weight as u32);
    r.put_u32(dest_attr::U_THRESH, d.u_threshold);
    r.put_u32(dest_attr::L_THRESH, d.l_threshold);
    r.put_u8(dest_attr::TUN_TYPE, d.tun_type.code());
    r.put_be16(dest_attr::TUN_PORT, d.tun_port);
    r.put_u16(dest_attr::TUN_FLAGS, d.tun_flags);
    r.end_nest(n);
    Ok(())
}

/// `IPVS_CMD_ATTR_DEST` holding only the destination's identity
/// (DEL_DEST).
pub(crate) fn encode_dest_id(r: &mut Request, addr: IpAddr, port: u16) {
    let n = r.begin_nest(cmd_attr::DEST);
    put_dest_id(r, addr, port);
    r.end_nest(n);
}

fn put_dest_id(r: &mut Request, addr: IpAddr, port: u16) {
    r.put(dest_attr::ADDR, &addr16(addr));
    r.put_be16(dest_attr::PORT, port);
    // Lets an IPv4 tunnel destination sit in an IPv6 service and vice versa.
    let af = if addr.is_ipv4() { AF_INET } else { AF_INET6 };
    r.put_u16(dest_attr::ADDR_FAMILY, af);
}

struct SockText(IpAddr, u16);

impl std::fmt::Display for SockText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

fn ip_from(family: u16, b: [u8; 16]) -> Result<IpAddr, DecodeError> {
    match family {
        AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(b))),
        other => Err(DecodeError::UnknownFamily(other)),
    }
}

/// Finds the payload of the first top-level attribute of type `ty`.
pub fn find_attr(attrs: &[u8], ty: u16) -> Result<Option<Attr<'_>>, DecodeError> {
    for a in nl::attrs(attrs) {
        let a = a?;
        if a.ty == ty {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

/// Parses the attributes of an `IPVS_CMD_ATTR_SERVICE` nest.
pub fn decode_service(nest: &[u8]) -> Result<Service, DecodeError> {
    let mut af = None;
    let mut protocol = None;
    let mut addr = None;
    let mut port = None;
    let mut fwmark = None;
    let mut sched = None;
    let mut flags = None;
    let mut timeout = 0;
    let mut netmask_raw = None;
    let mut pe_name = None;
    let mut stats32 = None;
    let mut stats64 = None;
    for a in nl::attrs(nest) {
        let a = a?;
        match a.ty {
            svc_attr::AF => af = Some(a.u16("IPVS_SVC_ATTR_AF")?),
            svc_attr::PROTOCOL => protocol = Some(a.u16("IPVS_SVC_ATTR_PROTOCOL")?),
            svc_attr::ADDR => addr = Some(addr_payload(&a, "IPVS_SVC_ATTR_ADDR")?),
            svc_attr::PORT => port = Some(a.be16("IPVS_SVC_ATTR_PORT")?),
            svc_attr::FWMARK => fwmark = Some(a.u32("IPVS_SVC_ATTR_FWMARK")?),
            svc_attr::SCHED_NAME => sched = Some(a.string("IPVS_SVC_ATTR_SCHED_NAME")?),
            svc_attr::FLAGS => {
                let p = a.payload;
                if p.len() != 8 {
                    return Err(DecodeError::BadAttributeLength {
                        what: "IPVS_SVC_ATTR_FLAGS",
                        len: p.len(),
                        expected: 8,
                    });
                }
                flags = Some(u32::from_ne_bytes([p[0], p[1], p[2], p[3]]));
            }
            svc_attr::TIMEOUT => timeout = a.u32("IPVS_SVC_ATTR_TIMEOUT")?,
            svc_attr::NETMASK => netmask_raw = Some(a.bytes4("IPVS_SVC_ATTR_NETMASK")?),
            svc_attr::PE_NAME => {
                let pe = a.string("IPVS_SVC_ATTR_PE_NAME")?;
                if !pe.is_empty() {
                    pe_name = Some(pe.to_string());
                }
            }
            svc_attr::STATS => stats32 = Some(decode_stats(a.payload)?),
            svc_attr::STATS64 => stats64 = Some(decode_stats(a.payload)?),
            _ => {}
        }
    }
    let af = af.ok_or(DecodeError::Missing {
        what: "IPVS_SVC_ATTR_AF",
    })?;
    let family = match af {
        AF_INET => Family::Inet,
        AF_INET6 => Family::Inet6,
        other => return Err(DecodeError::UnknownFamily(other)),
    };
    let key = match fwmark {
        Some(mark) if mark != 0 => ServiceKey::Fwmark { mark, family },
        _ => {
            let proto = match protocol.ok_or(DecodeError::Missing {
                what: "IPVS_SVC_ATTR_PROTOCOL",
            })? {
                IPPROTO_TCP => Protocol::Tcp,
                IPPROTO_UDP => Protocol::Udp,
                IPPROTO_SCTP => Protocol::Sctp,
                other => return Err(DecodeError::UnknownProtocol(other)),
            };
            let ip = ip_from(
                af,
                addr.ok_or(DecodeError::Missing {
                    what: "IPVS_SVC_ATTR_ADDR",
                })?,
            )?;
            let port = port.ok_or(DecodeError::Missing {
                what: "IPVS_SVC_ATTR_PORT",
            })?;
            ServiceKey::Addr { ip, proto, port }
        }
    };
    let netmask = match netmask_raw {
        Some(b) => match family {
            Family::Inet => u32::from_be_bytes(b),
            Family::Inet6 => u32::from_ne_bytes(b),
        },
        None => full_netmask(family),
    };
    Ok(Service {
        key,
        sched_name: sched
            .ok_or(DecodeError::Missing {
                what: "IPVS_SVC_ATTR_SCHED_NAME",
            })?
            .to_string(),
        flags: ServiceFlags(flags.unwrap_or(0)),
        timeout,
        netmask,
        pe_name,
        stats: stats64.or(stats32).unwrap_or_default(),
    })
}

/// IPv4 addresses may come as 4 bytes from other producers; the kernel
/// sends the whole 16-byte union.
fn addr_payload(a: &Attr<'_>, what: &'static str) -> Result<[u8; 16], DecodeError> {
    match a.payload.len() {
        16 => a.bytes16(what),
        4 => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(a.payload);
            Ok(b)
        }
        len => Err(DecodeError::BadAttributeLength {
            what,
            len,
            expected: 16,
        }),
    }
}

/// Parses the attributes of an `IPVS_CMD_ATTR_DEST` nest. `svc_family`
/// applies when the kernel leaves out `IPVS_DEST_ATTR_ADDR_FAMILY` (before
/// Linux 4.3).
pub fn decode_dest(nest: &[u8], svc_family: Family) -> Result<Dest, DecodeError> {
    let mut addr = None;
    let mut port = None;
    let mut af = None;
    let mut d = Dest::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let mut fwd = None;
    let mut weight = None;
    let mut stats32 = None;
    let mut stats64 = None;
    for a in nl::attrs(nest) {
        let a = a?;
        match a.ty {
            dest_attr::ADDR => addr = Some(addr_payload(&a, "IPVS_DEST_ATTR_ADDR")?),
            dest_attr::PORT => port = Some(a.be16("IPVS_DEST_ATTR_PORT")?),
            dest_attr::FWD_METHOD => {
                fwd = Some(Forward::from_code(a.u32("IPVS_DEST_ATTR_FWD_METHOD")?)?)
            }
            dest_attr::WEIGHT => weight = Some(a.u32("IPVS_DEST_ATTR_WEIGHT")?),
            dest_attr::U_THRESH => d.u_threshold = a.u32("IPVS_DEST_ATTR_U_THRESH")?,
            dest_attr::L_THRESH => d.l_threshold = a.u32("IPVS_DEST_ATTR_L_THRESH")?,
            dest_attr::ACTIVE_CONNS => d.active_conns = a.u32("IPVS_DEST_ATTR_ACTIVE_CONNS")?,
            dest_attr::INACT_CONNS => d.inact_conns = a.u32("IPVS_DEST_ATTR_INACT_CONNS")?,
            dest_attr::PERSIST_CONNS => d.persist_conns = a.u32("IPVS_DEST_ATTR_PERSIST_CONNS")?,
            dest_attr::STATS => stats32 = Some(decode_stats(a.payload)?),
            dest_attr::STATS64 => stats64 = Some(decode_stats(a.payload)?),
            dest_attr::ADDR_FAMILY => af = Some(a.u16("IPVS_DEST_ATTR_ADDR_FAMILY")?),
            dest_attr::TUN_TYPE => {
                d.tun_type = TunnelType::from_code(a.u8("IPVS_DEST_ATTR_TUN_TYPE")?)?
            }
            dest_attr::TUN_PORT => d.tun_port = a.be16("IPVS_DEST_ATTR_TUN_PORT")?,
            dest_attr::TUN_FLAGS => d.tun_flags = a.u16("IPVS_DEST_ATTR_TUN_FLAGS")?,
            _ => {}
        }
    }
    let af = af.unwrap_or(family_code(svc_family));
    d.addr = ip_from(
        af,
        addr.ok_or(DecodeError::Missing {
            what: "IPVS_DEST_ATTR_ADDR",
        })?,
    )?;
    d.port = port.ok_or(DecodeError::Missing {
        what: "IPVS_DEST_ATTR_PORT",
    })?;
    d.fwd = fwd.ok_or(DecodeError::Missing {
        what: "IPVS_DEST_ATTR_FWD_METHOD",
    })?;
    d.weight = weight.ok_or(DecodeError::Missing {
        what: "IPVS_DEST_ATTR_WEIGHT",
    })?;
    d.stats = stats64.or(stats32).unwrap_or_default();
    Ok(d)
}

/// Counters in `*_ATTR_STATS` are u32 except the byte counts; in
/// `*_ATTR_STATS64` all are u64. Either width is accepted for any counter.
fn decode_stats(nest: &[u8]) -> Result<Stats, DecodeError> {
    let mut s = Stats::default();
    for a in nl::attrs(nest) {
        let a = a?;
        let v = match a.payload.len() {
            4 => u64::from(a.u32("IPVS_STATS_ATTR")?),
            8 => a.u64("IPVS_STATS_ATTR")?,
            // Unknown attributes (e.g. IPVS_STATS_ATTR_PAD) are skipped.
            _ => continue,
        };
        match a.ty {
            stats_attr::CONNS => s.conns = v,
            stats_attr::INPKTS => s.inpkts = v,
            stats_attr::OUTPKTS => s.outpkts = v,
            stats_attr::INBYTES => s.inbytes = v,
            stats_attr::OUTBYTES => s.outbytes = v,
            stats_attr::CPS => s.cps = v,
            stats_attr::INPPS => s.inpps = v,
            stats_attr::OUTPPS => s.outpps = v,
            stats_attr::INBPS => s.inbps = v,
            stats_attr::OUTBPS => s.outbps = v,
            _ => {}
        }
    }
    Ok(s)
}

/// Parses `IPVS_CMD_SET_INFO`'s top-level attributes.
pub fn decode_info(attrs: &[u8]) -> Result<Info, DecodeError> {
    let mut version = None;
    let mut size = None;
    for a in nl::attrs(attrs) {
        let a = a?;
        match a.ty {
            info_attr::VERSION => version = Some(a.u32("IPVS_INFO_ATTR_VERSION")?),
            info_attr::CONN_TAB_SIZE => size = Some(a.u32("IPVS_INFO_ATTR_CONN_TAB_SIZE")?),
            _ => {}
        }
    }
    Ok(Info {
        version: version.ok_or(DecodeError::Missing {
            what: "IPVS_INFO_ATTR_VERSION",
        })?,
        conn_tab_size: size.ok_or(DecodeError::Missing {
            what: "IPVS_INFO_ATTR_CONN_TAB_SIZE",
        })?,
    })
}

/// Golden bytes written out by hand from the kernel's UAPI headers:
/// `struct nlmsghdr` / `struct nlattr` (`linux/netlink.h`), `struct
/// genlmsghdr` (`linux/genetlink.h`), and the IPVS enums and `struct
/// ip_vs_flags` of `linux/ip_vs.h` (attribute numbers are given next to each
/// line). Multi-byte host-order fields are little-endian here, as on every
/// target keel ships for.
#[cfg(all(test, target_endian = "little"))]
mod tests;
