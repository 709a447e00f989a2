//! Addresses, routes, rules and links through rtnetlink.
//!
//! A [`Netlink`] talks to the network namespace its calling thread was in
//! when it was created. Adds are idempotent (an existing object is success)
//! and so are deletes (a missing object is success), which is what a VRRP
//! daemon re-asserting its state wants.

use std::net::{IpAddr, Ipv4Addr};

use futures_util::StreamExt;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
    MacVlanMode,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use tokio::task::JoinHandle;

use crate::error::{LinuxError, Result, netlink_errno};
use crate::iface::ETH_ALEN;

mod routes;
pub use routes::{RT_TABLE_MAIN, RTPROT_KEEPALIVED, RouteKind, RouteSpec, RuleSpec};

/// IP version of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(addr: &IpAddr) -> IpFamily {
        if addr.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        }
    }

    fn netlink(self) -> AddressFamily {
        match self {
            IpFamily::V4 => AddressFamily::Inet,
            IpFamily::V6 => AddressFamily::Inet6,
        }
    }

    fn max_prefix(self) -> u8 {
        match self {
            IpFamily::V4 => 32,
            IpFamily::V6 => 128,
        }
    }
}

/// Address / route scope (`rtm_scope`, `ifa_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `global` / universe (0).
    Global,
    Site,
    Link,
    Host,
    Nowhere,
    Other(u8),
}

impl Scope {
    pub fn to_raw(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Other(v) => v,
        }
    }

    pub fn from_raw(v: u8) -> Scope {
        match v {
            0 => Scope::Global,
            200 => Scope::Site,
            253 => Scope::Link,
            254 => Scope::Host,
            255 => Scope::Nowhere,
            other => Scope::Other(other),
        }
    }
}

const IFA_F_SECONDARY: u32 = 0x01;
const IFA_F_NODAD: u32 = 0x02;
const IFA_F_NOPREFIXROUTE: u32 = 0x200;

/// An address to add or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// IPv4 broadcast; none by default (keepalived adds VIPs without `brd`
    /// unless the config asks for one).
    pub broadcast: Option<Ipv4Addr>,
    pub scope: Scope,
    /// IPv4 label; the kernel requires it to start with the interface name.
    pub label: Option<String>,
    /// IPv6: skip duplicate address detection.
    pub nodad: bool,
    /// Do not create the prefix route for this address.
    pub noprefixroute: bool,
}

impl AddressSpec {
    pub fn new(ifindex: u32, addr: IpAddr, prefix_len: u8) -> AddressSpec {
        AddressSpec {
            ifindex,
            addr,
            prefix_len,
            broadcast: None,
            scope: Scope::Global,
            label: None,
            nodad: false,
            noprefixroute: false,
        }
    }

    pub fn broadcast(mut self, brd: Ipv4Addr) -> Self {
        self.broadcast = Some(brd);
        self
    }

    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn nodad(mut self) -> Self {
        self.nodad = true;
        self
    }

    pub fn noprefixroute(mut self) -> Self {
        self.noprefixroute = true;
        self
    }

    fn check(&self) -> Result<()> {
        let fam = IpFamily::of(&self.addr);
        if self.prefix_len > fam.max_prefix() {
            return Err(LinuxError::Invalid(format!(
                "prefix /{} for {}",
                self.prefix_len, self.addr
            )));
        }
        if fam == IpFamily::V6 && (self.broadcast.is_some() || self.label.is_some()) {
            return Err(LinuxError::Invalid(
                "broadcast and label are IPv4-only".into(),
            ));
        }
        Ok(())
    }

    fn message(&self, with_extras: bool) -> AddressMessage {
        let fam = IpFamily::of(&self.addr);
        let mut m = AddressMessage::default();
        m.header.family = fam.netlink();
        m.header.prefix_len = self.prefix_len;
        m.header.index = self.ifindex;
        m.header.scope = AddressScope::from(self.scope.to_raw());
        m.attributes.push(AddressAttribute::Local(self.addr));
        m.attributes.push(AddressAttribute::Address(self.addr));
        if with_extras {
            let mut flags = 0u32;
            if self.nodad {
                flags |= IFA_F_NODAD;
            }
            if self.noprefixroute {
                flags |= IFA_F_NOPREFIXROUTE;
            }
            // The header only has room for the low 8 flag bits; IFA_FLAGS
            // carries all of them (NOPREFIXROUTE is 0x200).
            m.header.flags = AddressHeaderFlags::from_bits_retain((flags & 0xff) as u8);
            if flags != 0 {
                m.attributes
                    .push(AddressAttribute::Flags(AddressFlags::from_bits_retain(
                        flags,
                    )));
            }
            if let Some(b) = self.broadcast {
                m.attributes.push(AddressAttribute::Broadcast(b));
            }
            if let Some(l) = &self.label {
                m.attributes.push(AddressAttribute::Label(l.clone()));
            }
        }
        m
    }
}

/// An address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressInfo {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub scope: Scope,
    pub label: Option<String>,
    pub broadcast: Option<Ipv4Addr>,
    /// `IFA_F_*` bits.
    pub flags: u32,
}

impl AddressInfo {
    pub fn is_secondary(&self) -> bool {
        self.flags & IFA_F_SECONDARY != 0
    }

    pub fn is_nodad(&self) -> bool {
        self.flags & IFA_F_NODAD != 0
    }

    pub fn is_noprefixroute(&self) -> bool {
        self.flags & IFA_F_NOPREFIXROUTE != 0
    }

    pub fn from_message(m: &AddressMessage) -> Option<AddressInfo> {
        let mut local = None;
        let mut address = None;
        let mut label = None;
        let mut broadcast = None;
        let mut flags = u32::from(m.header.flags.bits());
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Label(l) => label = Some(l.clone()),
                AddressAttribute::Broadcast(b) => broadcast = Some(*b),
                AddressAttribute::Flags(f) => flags = f.bits(),
                _ => {}
            }
        }
        // IFA_LOCAL is the local address; IFA_ADDRESS is the peer on
        // point-to-point links and the only attribute for most IPv6 ones.
        Some(AddressInfo {
            ifindex: m.header.index,
            addr: local.or(address)?,
            prefix_len: m.header.prefix_len,
            scope: Scope::from_raw(m.header.scope.into()),
            label,
            broadcast,
            flags,
        })
    }
}

/// State of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub ifindex: u32,
    pub name: String,
    pub mac: Option<[u8; ETH_ALEN]>,
    /// IFF_UP: administratively up.
    pub admin_up: bool,
    /// IFF_RUNNING: operationally up (carrier and not dormant).
    pub running: bool,
    /// IFF_LOWER_UP: carrier.
    pub lower_up: bool,
    pub mtu: Option<u32>,
    /// Index of the parent link (macvlan, vlan, veth peer ...).
    pub parent: Option<u32>,
}

impl LinkInfo {
    /// What a VRRP instance treats as "interface usable": up and running.
    pub fn is_up(&self) -> bool {
        self.admin_up && self.running
    }

    pub fn from_message(m: &LinkMessage) -> LinkInfo {
        let flags = m.header.flags;
        let mut info = LinkInfo {
            ifindex: m.header.index,
            name: String::new(),
            mac: None,
            admin_up: flags.contains(LinkFlags::Up),
            running: flags.contains(LinkFlags::Running),
            lower_up: flags.contains(LinkFlags::LowerUp),
            mtu: None,
            parent: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => info.name = n.clone(),
                LinkAttribute::Address(bytes) => {
                    info.mac = <[u8; ETH_ALEN]>::try_from(bytes.as_slice()).ok();
                }
                LinkAttribute::Mtu(mtu) => info.mtu = Some(*mtu),
                LinkAttribute::Link(p) => info.parent = Some(*p),
                _ => {}
            }
        }
        info
    }
}

/// macvlan mode used for a VMAC interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacvlanMode {
    /// Default for keepalived's `use_vmac`: no traffic between macvlans.
    Private,
    Bridge,
}

/// A VRRP virtual-MAC interface (macvlan on top of the VRRP interface).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacSpec {
    /// Name of the macvlan (keepalived's default is `vrrp.<VRID>`).
    pub name: String,
    pub parent_ifindex: u32,
    pub vrid: u8,
    pub family: IpFamily,
    pub mode: MacvlanMode,
}

/// VRRP virtual router MAC (RFC 5798 §7.3): `00:00:5e:00:01:VRID` for IPv4,
/// `00:00:5e:00:02:VRID` for IPv6.
pub fn vmac_address(vrid: u8, family: IpFamily) -> [u8; ETH_ALEN] {
    let kind = match family {
        IpFamily::V4 => 0x01,
        IpFamily::V6 => 0x02,
    };
    [0x00, 0x00, 0x5e, 0x00, kind, vrid]
}

/// Handle on an rtnetlink connection in the namespace current at creation.
#[derive(Debug)]
pub struct Netlink {
    handle: rtnetlink::Handle,
    task: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ok_if(result: Result<()>, benign: &[i32]) -> Result<()> {
    match result {
        Err(e) if e.errno().is_some_and(|n| benign.contains(&n)) => Ok(()),
        other => other,
    }
}

impl Netlink {
    /// Opens the connection; its I/O task is spawned on the current tokio
    /// runtime.
    pub fn new() -> Result<Netlink> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| LinuxError::NoRuntime)?;
        let (conn, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(|e| LinuxError::io("netlink socket", e))?;
        let task = rt.spawn(conn);
        Ok(Netlink { handle, task })
    }

    /// Sends `msg` and waits for the kernel's acknowledgement.
    async fn ack(&self, op: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<()> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        let mut handle = self.handle.clone();
        let mut responses = handle
            .request(req)
            .map_err(|e| LinuxError::netlink(op, e))?;
        while let Some(resp) = responses.next().await {
            if let NetlinkPayload::Error(err) = resp.payload
                && err.code.is_some()
            {
                return Err(LinuxError::netlink(op, rtnetlink::Error::NetlinkError(err)));
            }
        }
        Ok(())
    }

    /// Adds an address; an identical existing address is success.
    pub async fn add_address(&self, spec: &AddressSpec) -> Result<()> {
        spec.check()?;
        let op = format!("add address {}/{}", spec.addr, spec.prefix_len);
        let msg = RouteNetlinkMessage::NewAddress(spec.message(true));
        ok_if(
            self.ack(&op, msg, NLM_F_CREATE | NLM_F_EXCL).await,
            &[libc::EEXIST],
        )
    }

    /// Deletes an address; an absent address is success.
    pub async fn del_address(&self, spec: &AddressSpec) -> Result<()> {
        spec.check()?;
        let op = format!("delete address {}/{}", spec.addr, spec.prefix_len);
        let msg = RouteNetlinkMessage::DelAddress(spec.message(false));
        ok_if(self.ack(&op, msg, 0).await, &[libc::EADDRNOTAVAIL])
    }

    /// Addresses (both families) configured on `ifindex`.
    pub async fn addresses(&self, ifindex: u32) -> Result<Vec<AddressInfo>> {
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .execute();
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let msg = item.map_err(|e| LinuxError::netlink("list addresses", e))?;
            out.extend(AddressInfo::from_message(&msg));
        }
        Ok(out)
    }

    /// Adds a route; an existing identical route is success.
    pub async fn add_route(&self, spec: &RouteSpec) -> Result<()> {
        let op = format!("add route {}/{}", spec.dst, spec.prefix_len);
        let msg = RouteNetlinkMessage::NewRoute(spec.message(false)?);
        ok_if(
            self.ack(&op, msg, NLM_F_CREATE | NLM_F_EXCL).await,
            &[libc::EEXIST],
        )
    }

    /// Deletes a route; an absent route is success.
    pub async fn del_route(&self, spec: &RouteSpec) -> Result<()> {
        let op = format!("delete route {}/{}", spec.dst, spec.prefix_len);
        let msg = RouteNetlinkMessage::DelRoute(spec.message(true)?);
        ok_if(self.ack(&op, msg, 0).await, &[libc::ESRCH, libc::ENOENT])
    }

    /// Adds a rule; an identical existing rule is success.
    pub async fn add_rule(&self, spec: &RuleSpec) -> Result<()> {
        let msg = RouteNetlinkMessage::NewRule(spec.message()?);
        ok_if(
            self.ack("add rule", msg, NLM_F_CREATE | NLM_F_EXCL).await,
            &[libc::EEXIST],
        )
    }

    /// Deletes a rule; an absent rule is success.
    pub async fn del_rule(&self, spec: &RuleSpec) -> Result<()> {
        let msg = RouteNetlinkMessage::DelRule(spec.message()?);
        ok_if(self.ack("delete rule", msg, 0).await, &[libc::ENOENT])
    }

    /// All interfaces.
    pub async fn links(&self) -> Result<Vec<LinkInfo>> {
        let mut stream = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let msg = item.map_err(|e| LinuxError::netlink("list links", e))?;
            out.push(LinkInfo::from_message(&msg));
        }
        Ok(out)
    }

    /// One interface by name.
    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo> {
        let mut stream = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match stream.next().await {
            Some(Ok(msg)) => Ok(LinkInfo::from_message(&msg)),
            Some(Err(e)) if netlink_errno(&e) == Some(libc::ENODEV) => {
                Err(LinuxError::NoSuchInterface(name.to_string()))
            }
            Some(Err(e)) => Err(LinuxError::netlink(format!("get link {name}"), e)),
            None => Err(LinuxError::NoSuchInterface(name.to_string())),
        }
    }

    /// One interface by index.
    pub async fn link_by_index(&self, ifindex: u32) -> Result<LinkInfo> {
        let mut stream = self.handle.link().get().match_index(ifindex).execute();
        match stream.next().await {
            Some(Ok(msg)) => Ok(LinkInfo::from_message(&msg)),
            Some(Err(e)) if netlink_errno(&e) == Some(libc::ENODEV) => {
                Err(LinuxError::NoSuchInterface(format!("index {ifindex}")))
            }
            Some(Err(e)) => Err(LinuxError::netlink(format!("get link {ifindex}"), e)),
            None => Err(LinuxError::NoSuchInterface(format!("index {ifindex}"))),
        }
    }

    /// Sets an interface administratively up or down.
    pub async fn set_link_up(&self, ifindex: u32, up: bool) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = ifindex;
        m.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        m.header.change_mask = LinkFlags::Up;
        self.ack(
            &format!("set link {ifindex} up={up}"),
            RouteNetlinkMessage::SetLink(m),
            0,
        )
        .await
    }

    /// Creates (or reuses) the VMAC macvlan described by `spec`, sets it up
    /// and returns its index. An existing interface of that name is reused
    /// only if it carries the expected virtual MAC.
    pub async fn create_vmac(&self, spec: &VmacSpec) -> Result<u32> {
        if spec.name.is_empty() || spec.name.len() >= libc::IFNAMSIZ {
            return Err(LinuxError::Invalid(format!(
                "interface name {:?}",
                spec.name
            )));
        }
        let mac = vmac_address(spec.vrid, spec.family);
        let mode = match spec.mode {
            MacvlanMode::Private => MacVlanMode::Private,
            MacvlanMode::Bridge => MacVlanMode::Bridge,
        };
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(spec.name.clone()));
        m.attributes.push(LinkAttribute::Link(spec.parent_ifindex));
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::MacVlan),
            NlLinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)])),
        ]));
        let op = format!("create macvlan {}", spec.name);
        ok_if(
            self.ack(
                &op,
                RouteNetlinkMessage::NewLink(m),
                NLM_F_CREATE | NLM_F_EXCL,
            )
            .await,
            &[libc::EEXIST],
        )?;
        let link = self.link_by_name(&spec.name).await?;
        if link.mac != Some(mac) {
            return Err(LinuxError::Invalid(format!(
                "{} exists with another MAC address",
                spec.name
            )));
        }
        self.set_link_up(link.ifindex, true).await?;
        Ok(link.ifindex)
    }

    /// Deletes an interface; an absent one is success.
    pub async fn delete_link(&self, ifindex: u32) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = ifindex;
        ok_if(
            self.ack(
                &format!("delete link {ifindex}"),
                RouteNetlinkMessage::DelLink(m),
                0,
            )
            .await,
            &[libc::ENODEV],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::{RouteAttribute, RouteScope};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // RFC 5798 §7.3: virtual router MAC addresses.
    #[test]
    fn rfc5798_7_3_virtual_mac() {
        assert_eq!(vmac_address(51, IpFamily::V4), [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(vmac_address(255, IpFamily::V6), [0, 0, 0x5e, 0, 2, 255]);
    }

    #[test]
    fn scope_round_trip() {
        for raw in 0..=255u8 {
            assert_eq!(Scope::from_raw(raw).to_raw(), raw);
        }
        assert_eq!(Scope::from_raw(253), Scope::Link);
    }

    #[test]
    fn address_message_carries_flags_label_and_broadcast() {
        let spec = AddressSpec::new(3, ip("192.0.2.50"), 24)
            .label("eth0:vip")
            .broadcast("192.0.2.255".parse().unwrap())
            .noprefixroute();
        let m = spec.message(true);
        assert_eq!(m.header.index, 3);
        assert_eq!(m.header.prefix_len, 24);
        assert!(
            m.attributes
                .contains(&AddressAttribute::Label("eth0:vip".into()))
        );
        assert!(
            m.attributes
                .contains(&AddressAttribute::Flags(AddressFlags::Noprefixroute))
        );
        let del = spec.message(false);
        assert_eq!(del.attributes.len(), 2, "delete names just the address");
        assert!(
            AddressSpec::new(1, ip("2001:db8::1"), 64)
                .label("x")
                .check()
                .is_err()
        );
        assert!(AddressSpec::new(1, ip("192.0.2.1"), 33).check().is_err());
    }

    #[test]
    fn route_scope_defaults_follow_ip_route() {
        let dev_only = RouteSpec::new(ip("198.51.100.0"), 24).oif(2);
        assert_eq!(
            dev_only.message(false).unwrap().header.scope,
            RouteScope::Link
        );
        let via = dev_only.clone().gateway(ip("192.0.2.2"));
        assert_eq!(
            via.message(false).unwrap().header.scope,
            RouteScope::Universe
        );
        assert_eq!(
            via.message(true).unwrap().header.scope,
            RouteScope::NoWhere,
            "delete matches any scope"
        );
        let big = RouteSpec::new(ip("198.51.100.0"), 24).table(1000);
        let m = big.message(false).unwrap();
        assert_eq!(m.header.table, 0);
        assert!(m.attributes.contains(&RouteAttribute::Table(1000)));
        assert!(
            RouteSpec::new(ip("198.51.100.0"), 24)
                .gateway(ip("2001:db8::1"))
                .message(false)
                .is_err()
        );
    }

    #[test]
    fn rule_selectors_must_match_family() {
        let ok = RuleSpec::new(IpFamily::V4, 100)
            .from(ip("192.0.2.50"), 32)
            .priority(1000)
            .message()
            .unwrap();
        assert_eq!(ok.header.src_len, 32);
        assert_eq!(ok.header.table, 100);
        assert!(
            RuleSpec::new(IpFamily::V6, 100)
                .from(ip("192.0.2.50"), 32)
                .message()
                .is_err()
        );
    }
}
