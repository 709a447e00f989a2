//! Route and policy-rule specifications and their rtnetlink messages.

use std::net::IpAddr;

use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};

use super::{IpFamily, Scope};
use crate::error::{LinuxError, Result};

/// `rtm_type` of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

impl RouteKind {
    pub(super) fn raw(self) -> u8 {
        match self {
            RouteKind::Unicast => 1,
            RouteKind::Blackhole => 6,
            RouteKind::Unreachable => 7,
            RouteKind::Prohibit => 8,
        }
    }
}

/// Routing protocol number keepalived stamps on its routes (`proto keepalived`).
pub const RTPROT_KEEPALIVED: u8 = 18;
/// The main routing table.
pub const RT_TABLE_MAIN: u32 = 254;

/// A route to add or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: IpAddr,
    pub prefix_len: u8,
    pub gateway: Option<IpAddr>,
    /// Output interface.
    pub oif: Option<u32>,
    pub table: u32,
    /// Priority / metric.
    pub metric: Option<u32>,
    /// `None`: on add, `link` for a gateway-less IPv4 unicast route and
    /// `global` otherwise (as `ip route` does); on delete, any scope.
    pub scope: Option<Scope>,
    /// Preferred source address.
    pub src: Option<IpAddr>,
    pub kind: RouteKind,
    /// Routing protocol (default [`RTPROT_KEEPALIVED`]); deletes only match
    /// routes with the same protocol.
    pub protocol: u8,
}

impl RouteSpec {
    pub fn new(dst: IpAddr, prefix_len: u8) -> RouteSpec {
        RouteSpec {
            dst,
            prefix_len,
            gateway: None,
            oif: None,
            table: RT_TABLE_MAIN,
            metric: None,
            scope: None,
            src: None,
            kind: RouteKind::Unicast,
            protocol: RTPROT_KEEPALIVED,
        }
    }

    pub fn gateway(mut self, gw: IpAddr) -> Self {
        self.gateway = Some(gw);
        self
    }

    pub fn oif(mut self, ifindex: u32) -> Self {
        self.oif = Some(ifindex);
        self
    }

    pub fn table(mut self, table: u32) -> Self {
        self.table = table;
        self
    }

    pub fn metric(mut self, metric: u32) -> Self {
        self.metric = Some(metric);
        self
    }

    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    pub fn src(mut self, src: IpAddr) -> Self {
        self.src = Some(src);
        self
    }

    pub fn kind(mut self, kind: RouteKind) -> Self {
        self.kind = kind;
        self
    }

    pub(super) fn message(&self, for_delete: bool) -> Result<RouteMessage> {
        let fam = IpFamily::of(&self.dst);
        if self.prefix_len > fam.max_prefix() {
            return Err(LinuxError::Invalid(format!(
                "prefix /{} for {}",
                self.prefix_len, self.dst
            )));
        }
        for other in [self.gateway, self.src].into_iter().flatten() {
            if IpFamily::of(&other) != fam {
                return Err(LinuxError::Invalid(format!(
                    "{other} mixes address families with {}",
                    self.dst
                )));
            }
        }
        let raddr = |ip: IpAddr| match ip {
            IpAddr::V4(a) => RouteAddress::Inet(a),
            IpAddr::V6(a) => RouteAddress::Inet6(a),
        };
        let mut m = RouteMessage::default();
        m.header.address_family = fam.netlink();
        m.header.destination_prefix_length = self.prefix_len;
        m.header.protocol = RouteProtocol::from(self.protocol);
        m.header.kind = RouteType::from(self.kind.raw());
        let scope = match (self.scope, for_delete) {
            (Some(s), _) => s,
            (None, true) => Scope::Nowhere,
            (None, false) => {
                if fam == IpFamily::V4 && self.gateway.is_none() && self.kind == RouteKind::Unicast
                {
                    Scope::Link
                } else {
                    Scope::Global
                }
            }
        };
        m.header.scope = RouteScope::from(scope.to_raw());
        match u8::try_from(self.table) {
            Ok(t) => m.header.table = t,
            Err(_) => {
                m.header.table = 0;
                m.attributes.push(RouteAttribute::Table(self.table));
            }
        }
        if self.prefix_len > 0 {
            m.attributes
                .push(RouteAttribute::Destination(raddr(self.dst)));
        }
        if let Some(gw) = self.gateway {
            m.attributes.push(RouteAttribute::Gateway(raddr(gw)));
        }
        if let Some(oif) = self.oif {
            m.attributes.push(RouteAttribute::Oif(oif));
        }
        if let Some(metric) = self.metric {
            m.attributes.push(RouteAttribute::Priority(metric));
        }
        if let Some(src) = self.src {
            m.attributes.push(RouteAttribute::PrefSource(raddr(src)));
        }
        Ok(m)
    }
}

/// A policy-routing rule (`ip rule ... lookup TABLE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub family: IpFamily,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub table: u32,
    pub priority: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
}

impl RuleSpec {
    pub fn new(family: IpFamily, table: u32) -> RuleSpec {
        RuleSpec {
            family,
            from: None,
            to: None,
            table,
            priority: None,
            iif: None,
            oif: None,
        }
    }

    pub fn from(mut self, addr: IpAddr, prefix_len: u8) -> Self {
        self.from = Some((addr, prefix_len));
        self
    }

    pub fn to(mut self, addr: IpAddr, prefix_len: u8) -> Self {
        self.to = Some((addr, prefix_len));
        self
    }

    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = Some(priority);
        self
    }

    pub fn iif(mut self, ifname: impl Into<String>) -> Self {
        self.iif = Some(ifname.into());
        self
    }

    pub fn oif(mut self, ifname: impl Into<String>) -> Self {
        self.oif = Some(ifname.into());
        self
    }

    pub(super) fn message(&self) -> Result<RuleMessage> {
        let mut m = RuleMessage::default();
        m.header.family = self.family.netlink();
        m.header.action = RuleAction::ToTable;
        match u8::try_from(self.table) {
            Ok(t) => m.header.table = t,
            Err(_) => {
                m.header.table = 0;
                m.attributes.push(RuleAttribute::Table(self.table));
            }
        }
        for (selector, is_src) in [(self.from, true), (self.to, false)] {
            let Some((addr, len)) = selector else {
                continue;
            };
            if IpFamily::of(&addr) != self.family || len > self.family.max_prefix() {
                return Err(LinuxError::Invalid(format!(
                    "rule selector {addr}/{len} for a {:?} rule",
                    self.family
                )));
            }
            if is_src {
                m.header.src_len = len;
                m.attributes.push(RuleAttribute::Source(addr));
            } else {
                m.header.dst_len = len;
                m.attributes.push(RuleAttribute::Destination(addr));
            }
        }
        if let Some(p) = self.priority {
            m.attributes.push(RuleAttribute::Priority(p));
        }
        if let Some(i) = &self.iif {
            m.attributes.push(RuleAttribute::Iifname(i.clone()));
        }
        if let Some(o) = &self.oif {
            m.attributes.push(RuleAttribute::Oifname(o.clone()));
        }
        Ok(m)
    }
}
