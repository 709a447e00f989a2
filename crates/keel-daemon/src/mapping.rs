//! From the keepalived.conf model to what the VRRP runtime drives: one
//! [`InstancePlan`] per `vrrp_instance` (the engine's [`InstanceConfig`] plus
//! the addressing, authentication and kernel objects the engine leaves to the
//! daemon).
//!
//! Pure: the host facts the mapping depends on (interface addresses) come in
//! as a [`HostInfo`], so the mapping is unit-tested without a network.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use keel_config::model::{
    self as m, AddressFamily, AuthType, Config, Route, Rule, TrackRef, VirtualIp, VrrpInstance,
};
use keel_linux::{IpFamily, RouteKind, RouteSpec, RuleSpec, Scope};
use keel_vrrp::config::{GarpConfig, InstanceConfig, ObjectId, Version, VipSet};
use keel_vrrp::packet::{AuthConfig, ChecksumMode};
use keel_vrrp::router::{IngressId, WireConfig};
use keel_vrrp::track::{TrackConfig, TrackId, TrackKind, TrackState};

/// What the mapping needs to know about the host.
#[derive(Debug, Clone, Default)]
pub struct HostInfo {
    /// Addresses per interface name, in the kernel's order (primary first).
    pub addresses: HashMap<String, Vec<IpAddr>>,
}

impl HostInfo {
    /// First address of `family` on `ifname` usable as an advert source:
    /// IPv4 any, IPv6 link-local first (RFC 5798 §5.1.2.1).
    pub fn primary(&self, ifname: &str, v6: bool) -> Option<IpAddr> {
        let addrs = self.addresses.get(ifname)?;
        if v6 {
            addrs
                .iter()
                .find(|a| matches!(a, IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80))
                .or_else(|| addrs.iter().find(|a| a.is_ipv6()))
                .copied()
        } else {
            addrs.iter().find(|a| a.is_ipv4()).copied()
        }
    }
}

/// Where a tracker's state comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrackSource {
    Script(String),
    Interface(String),
    File(String),
    Process(String),
}

/// An address the instance installs (VIP or eVIP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPlan {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// Interface it goes on (`dev`, else the instance's interface).
    pub dev: String,
    pub broadcast: Option<Ipv4Addr>,
    pub scope: Scope,
    pub label: Option<String>,
    pub nodad: bool,
    pub noprefixroute: bool,
}

/// A virtual route, with the interface still by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    pub spec: RouteSpec,
    pub dev: Option<String>,
}

/// `use_vmac`: a macvlan carrying the virtual router MAC (RFC 5798 §7.3)
/// on the instance's interface. The VIPs live on it, so a takeover changes
/// no ARP cache; the adverts leave from it too unless `vmac_xmit_base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacPlan {
    /// Interface name: as configured, else `vrrp.VRID` (`vrrpN.VRID` when
    /// another instance already has that name, as keepalived does).
    pub name: String,
    /// `vmac_xmit_base`: adverts are sent and received on the base interface.
    pub xmit_base: bool,
}

/// Everything the runtime needs for one `vrrp_instance`.
#[derive(Debug, Clone, PartialEq)]
pub struct InstancePlan {
    pub engine: InstanceConfig,
    pub interface: String,
    pub v6: bool,
    pub auth: AuthConfig,
    /// Multicast group, or `None` for unicast peers.
    pub group: Option<IpAddr>,
    pub unicast_src: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    /// TTL of unicast adverts (keepalived's `unicast_ttl`, default 255).
    pub unicast_ttl: u8,
    /// `check_unicast_src` (per instance, global `vrrp_check_unicast_src`,
    /// or implied by a peer's `min_ttl`/`max_ttl`): unicast adverts must come
    /// from one of these peers, within its TTL range. `None`: no check.
    pub unicast_src_check: Option<Vec<PeerCheck>>,
    pub checksum: ChecksumMode,
    /// By address, for the VIPs and eVIPs of [`InstanceConfig::vips`].
    pub addresses: Vec<AddressPlan>,
    /// Indexed by the [`ObjectId`]s in the engine's [`VipSet::routes`].
    pub routes: Vec<RoutePlan>,
    /// Indexed by the [`ObjectId`]s in the engine's [`VipSet::rules`].
    pub rules: Vec<RuleSpec>,
    /// Engine tracker id → what feeds it.
    pub tracks: Vec<(TrackId, TrackSource)>,
    pub smtp_alert: bool,
    pub sync_group: Option<String>,
    /// Skip the RFC 5798 §7.1 advertised-address check (`skip_check_adv_addr`).
    pub skip_check_adv_addr: bool,
    /// `use_vmac`, or `None`.
    pub vmac: Option<VmacPlan>,
}

pub use keel_vrrp::router::{PeerCheck, UnicastSrcDrop};

impl InstancePlan {
    pub fn address(&self, addr: IpAddr) -> Option<&AddressPlan> {
        self.addresses.iter().find(|a| a.addr == addr)
    }

    /// keepalived's unicast source check (see
    /// [`keel_vrrp::router::check_unicast_source`]).
    pub fn check_unicast_source(&self, src: IpAddr, ttl: u8) -> Result<(), UnicastSrcDrop> {
        keel_vrrp::router::check_unicast_source(self.unicast_src_check.as_deref(), src, ttl)
    }

    /// How the router puts this instance's adverts on the wire and checks
    /// the ones it receives.
    pub fn wire(&self, ingress: IngressId) -> WireConfig {
        WireConfig {
            ingress,
            auth: self.auth.clone(),
            group: self.group,
            unicast_peers: self.unicast_peers.clone(),
            unicast_ttl: self.unicast_ttl,
            unicast_src_check: self.unicast_src_check.clone(),
            checksum: self.checksum,
            check_adv_addr: !self.skip_check_adv_addr,
        }
    }

    /// Interface the adverts are sent and received on: the VMAC for
    /// multicast without `vmac_xmit_base`, else the configured interface.
    /// Unicast adverts always use the base: a peer sending from its own VMAC
    /// would ARP for our address with our virtual MAC as source, and the
    /// kernel hands such a frame to our VMAC alone, which may not answer for
    /// the base's address, so the peer would never learn where to send.
    pub fn advert_interface(&self) -> &str {
        match &self.vmac {
            Some(v) if !v.xmit_base && self.group.is_some() => &v.name,
            _ => &self.interface,
        }
    }
}

/// Why an instance cannot run (keepalived logs these and drops the instance).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("VRRP_Instance({0}) has no interface and no default_interface")]
    NoInterface(String),
    #[error(
        "VRRP_Instance({name}) interface {interface} has no {family} address to send adverts from"
    )]
    NoSourceAddress {
        name: String,
        interface: String,
        family: &'static str,
    },
}

/// The plans of every instance that can run, and the reasons the others cannot.
pub fn plan_instances(cfg: &Config, host: &HostInfo) -> (Vec<InstancePlan>, Vec<MappingError>) {
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    // Configured VMAC names are taken first, so a generated one never
    // collides with a name written further down the file.
    let mut vmac_names: HashSet<String> = cfg
        .vrrp_instances
        .iter()
        .filter_map(|vi| vi.use_vmac.as_ref().and_then(configured_vmac_name))
        .collect();
    for vi in &cfg.vrrp_instances {
        match plan_instance_with(cfg, vi, host, &mut vmac_names) {
            Ok(p) => plans.push(p),
            Err(e) => errors.push(e),
        }
    }
    (plans, errors)
}

fn secs_or(d: Duration, fallback: Duration) -> Duration {
    if d.is_zero() { fallback } else { d }
}

/// Longest interface name the kernel takes (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

/// The `use_vmac NAME` word when it can name an interface (the word may also
/// be a MAC address or an option keyword, which keel does not name links by).
fn configured_vmac_name(v: &m::Vmac) -> Option<String> {
    let n = v.name.as_deref()?;
    let ok = !n.is_empty()
        && n.len() <= MAX_IFNAME
        && n != "."
        && n != ".."
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        && n.chars().any(|c| c.is_ascii_alphabetic())
        && n != "netlink_notify_msg"
        && n != "group";
    ok.then(|| n.to_string())
}

/// keepalived's default VMAC names: `vrrp.VRID`, then `vrrp1.VRID`,
/// `vrrp2.VRID` ... when the name is taken by another instance (the same
/// VRID on another interface or in the other address family).
fn default_vmac_name(vrid: u8, taken: &HashSet<String>) -> String {
    let mut name = format!("vrrp.{vrid}");
    let mut n = 0u32;
    while taken.contains(&name) {
        n += 1;
        name = format!("vrrp{n}.{vrid}");
    }
    name
}

/// Maps one instance.
pub fn plan_instance(
    cfg: &Config,
    vi: &VrrpInstance,
    host: &HostInfo,
) -> Result<InstancePlan, MappingError> {
    plan_instance_with(cfg, vi, host, &mut HashSet::new())
}

/// Maps one instance; `vmac_names` holds the VMAC names already in use and
/// receives this instance's.
fn plan_instance_with(
    cfg: &Config,
    vi: &VrrpInstance,
    host: &HostInfo,
    vmac_names: &mut HashSet<String>,
) -> Result<InstancePlan, MappingError> {
    let g = &cfg.global_defs;
    let interface = vi
        .interface
        .clone()
        .or_else(|| g.default_interface.clone())
        .ok_or_else(|| MappingError::NoInterface(vi.name.clone()))?;
    let v6 = vi.family == AddressFamily::Inet6;
    let unicast = !vi.unicast_peer.is_empty();
    let configured_src = vi.unicast_src_ip.or(vi.mcast_src_ip);
    let primary = match configured_src {
        Some(a) => a,
        None => host
            .primary(&interface, v6)
            .ok_or_else(|| MappingError::NoSourceAddress {
                name: vi.name.clone(),
                interface: interface.clone(),
                family: if v6 { "IPv6" } else { "IPv4" },
            })?,
    };
    let version = if vi.version == 3 {
        Version::V3
    } else {
        Version::V2
    };
    let auth = match (&vi.authentication, version, v6) {
        (Some(a), Version::V2, false) => match a.auth_type {
            AuthType::Pass => AuthConfig::Pass(a.auth_pass.clone()),
            AuthType::Ah => AuthConfig::Ah(a.auth_pass.clone()),
        },
        _ => AuthConfig::None,
    };

    let vmac = vmac_plan(vi, vmac_names);
    // Addresses without a `dev` go where the virtual MAC answers for them.
    let vip_dev = vmac
        .as_ref()
        .map_or(interface.as_str(), |v| v.name.as_str());

    let (vips, addresses, routes, rules) = vip_objects(vi, vip_dev);

    let mut tracks = Vec::new();
    let mut track_cfgs = Vec::new();
    let group = vi.sync_group.as_deref().and_then(|n| cfg.sync_group(n));
    let mut refs: Vec<&m::Tracking> = vec![&vi.track];
    if let Some(sg) = group {
        refs.push(&sg.track);
    }
    for t in refs {
        add_tracks(cfg, t, &mut tracks, &mut track_cfgs);
    }

    let mut engine = InstanceConfig::new(vi.name.clone(), vi.virtual_router_id, primary);
    engine.interface = interface.clone();
    engine.version = version;
    engine.priority = vi.priority.max(1);
    engine.advert_interval = secs_or(vi.advert_int, Duration::from_secs(1));
    engine.preempt = !vi.nopreempt;
    engine.preempt_delay = vi.preempt_delay;
    engine.down_timer_adverts = vi.down_timer_adverts.max(1);
    engine.strict = vi.strict_mode;
    engine.lower_prio_no_advert = vi.lower_prio_no_advert;
    engine.higher_prio_send_advert = vi.higher_prio_send_advert;
    engine.owner_ignore_adverts = vi.owner_ignore_adverts;
    engine.vips = vips;
    engine.garp = GarpConfig {
        master_repeat: vi.garp_master_repeat,
        master_delay: vi.garp_master_delay,
        master_refresh: vi.garp_master_refresh,
        master_refresh_repeat: vi.garp_master_refresh_repeat,
        lower_prio_repeat: vi.garp_lower_prio_repeat,
        lower_prio_delay: vi.garp_lower_prio_delay,
    };
    engine.tracks = track_cfgs;

    let smtp_alert = vi
        .smtp_alert
        .or(group.and_then(|sg| sg.smtp_alert))
        .or(g.smtp_alert_vrrp)
        .or(g.smtp_alert)
        .unwrap_or(false);

    Ok(InstancePlan {
        engine,
        interface,
        v6,
        auth,
        group: if unicast {
            None
        } else {
            Some(match vi.mcast_dst_ip {
                Some(a) => a,
                None if v6 => IpAddr::V6(g.vrrp_mcast_group6),
                None => IpAddr::V4(g.vrrp_mcast_group4),
            })
        },
        unicast_src: if unicast { Some(primary) } else { None },
        unicast_peers: vi.unicast_peer.iter().map(|p| p.address).collect(),
        unicast_ttl: vi.unicast_ttl.unwrap_or(255),
        unicast_src_check: unicast_src_check(g, vi, unicast),
        checksum: checksum_mode(g, vi),
        addresses,
        routes,
        rules,
        tracks,
        smtp_alert,
        sync_group: vi.sync_group.clone(),
        skip_check_adv_addr: vi.skip_check_adv_addr || g.vrrp_skip_check_adv_addr,
        vmac,
    })
}

/// The instance's VMAC interface: its configured name, else the first free
/// `vrrp.VRID` name, which `vmac_names` then holds.
fn vmac_plan(vi: &VrrpInstance, vmac_names: &mut HashSet<String>) -> Option<VmacPlan> {
    vi.use_vmac.as_ref().map(|v| {
        let name = match configured_vmac_name(v) {
            Some(n) => n,
            None => {
                let n = default_vmac_name(vi.virtual_router_id, vmac_names);
                vmac_names.insert(n.clone());
                n
            }
        };
        VmacPlan {
            name,
            xmit_base: vi.vmac_xmit_base,
        }
    })
}

/// The addresses, routes and rules the instance owns, and the engine's view
/// of them (indexes into the route and rule lists).
fn vip_objects(
    vi: &VrrpInstance,
    vip_dev: &str,
) -> (VipSet, Vec<AddressPlan>, Vec<RoutePlan>, Vec<RuleSpec>) {
    let mut addresses = Vec::new();
    let mut vips = VipSet::default();
    for v in &vi.virtual_ipaddress {
        vips.vips.push(v.address);
        addresses.push(address_plan(v, vip_dev));
    }
    for v in &vi.virtual_ipaddress_excluded {
        vips.evips.push(v.address);
        addresses.push(address_plan(v, vip_dev));
    }
    let mut routes = Vec::new();
    for r in &vi.virtual_routes {
        if let Some(p) = route_plan(r) {
            vips.routes.push(routes.len() as ObjectId);
            routes.push(p);
        }
    }
    let mut rules = Vec::new();
    for r in &vi.virtual_rules {
        if let Some(s) = rule_spec(r) {
            vips.rules.push(rules.len() as ObjectId);
            rules.push(s);
        }
    }
    (vips, addresses, routes, rules)
}

/// keepalived checks the source only in unicast mode; giving a peer a TTL
/// range turns the check on for the instance.
fn unicast_src_check(
    g: &m::GlobalDefs,
    vi: &m::VrrpInstance,
    unicast: bool,
) -> Option<Vec<PeerCheck>> {
    let ttl_range = vi
        .unicast_peer
        .iter()
        .any(|p| p.min_ttl.is_some() || p.max_ttl.is_some());
    let on = vi.check_unicast_src || g.vrrp_check_unicast_src || ttl_range;
    (unicast && on).then(|| {
        vi.unicast_peer
            .iter()
            .map(|p| PeerCheck {
                address: p.address,
                min_ttl: p.min_ttl.unwrap_or(0),
                max_ttl: p.max_ttl.unwrap_or(255),
            })
            .collect()
    })
}

fn add_tracks(
    cfg: &Config,
    t: &m::Tracking,
    tracks: &mut Vec<(TrackId, TrackSource)>,
    out: &mut Vec<TrackConfig>,
) {
    let mut push = |src: TrackSource, mut tc: TrackConfig| {
        if tracks.iter().any(|(_, s)| *s == src) {
            return;
        }
        tc.id = tracks.len() as TrackId + 1;
        tracks.push((tc.id, src));
        out.push(tc);
    };
    for r in &t.scripts {
        let Some(s) = cfg.vrrp_script(&r.name) else {
            continue;
        };
        let (weight, reverse) = ref_weight(r, i64::from(s.weight), s.reverse);
        let tc = TrackConfig::new(0, &r.name, TrackKind::Script, weight)
            .reverse(reverse)
            .initial(if s.init_fail {
                TrackState::Down
            } else {
                TrackState::Up
            });
        push(TrackSource::Script(r.name.clone()), tc);
    }
    for r in &t.interfaces {
        let (weight, reverse) = ref_weight(r, 0, false);
        let tc = TrackConfig::new(0, &r.name, TrackKind::Interface, weight).reverse(reverse);
        push(TrackSource::Interface(r.name.clone()), tc);
    }
    for r in &t.files {
        let Some(f) = cfg.track_files.iter().find(|f| f.name == r.name) else {
            continue;
        };
        let (weight, reverse) = ref_weight(r, f.weight, f.reverse);
        let init = f.init_file.as_ref().map(|i| i.value).unwrap_or(0);
        let tc = TrackConfig::new(0, &r.name, TrackKind::File, weight)
            .reverse(reverse)
            .initial(TrackState::Value(init));
        push(TrackSource::File(r.name.clone()), tc);
    }
    for r in &t.processes {
        let Some(p) = cfg.track_processes.iter().find(|p| p.name == r.name) else {
            continue;
        };
        let (weight, reverse) = ref_weight(r, i64::from(p.weight), p.reverse);
        let tc = TrackConfig::new(0, &r.name, TrackKind::Process, weight).reverse(reverse);
        push(TrackSource::Process(r.name.clone()), tc);
    }
}

fn ref_weight(r: &TrackRef, own: i64, own_reverse: bool) -> (i32, bool) {
    match r.weight {
        Some(w) => (w.clamp(-254, 254) as i32, r.reverse),
        None => (own.clamp(-254, 254) as i32, own_reverse || r.reverse),
    }
}

/// keepalived's scope words, or a number.
pub fn parse_scope(s: &str) -> Option<Scope> {
    Some(match s {
        "global" | "universe" => Scope::Global,
        "site" => Scope::Site,
        "link" => Scope::Link,
        "host" => Scope::Host,
        "nowhere" => Scope::Nowhere,
        n => Scope::from_raw(n.parse().ok()?),
    })
}

fn address_plan(v: &VirtualIp, interface: &str) -> AddressPlan {
    AddressPlan {
        addr: v.address,
        prefix_len: v.prefix_len,
        dev: v.dev.clone().unwrap_or_else(|| interface.to_string()),
        broadcast: v.broadcast,
        scope: v
            .scope
            .as_deref()
            .and_then(parse_scope)
            .unwrap_or(Scope::Global),
        label: v.label.clone(),
        nodad: v.nodad,
        noprefixroute: v.noprefixroute,
    }
}

/// `ADDR[/LEN]`, `default` or `all`, for a family (when known).
fn parse_prefix(s: &str, family: Option<IpFamily>) -> Option<(IpAddr, u8)> {
    if s == "default" || s == "all" || s == "any" {
        let fam = family.unwrap_or(IpFamily::V4);
        let zero = match fam {
            IpFamily::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpFamily::V6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        return Some((zero, 0));
    }
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((addr, len))
}

/// Table names of iproute2's defaults, or a number.
fn parse_table(s: &str) -> Option<u32> {
    match s {
        "main" => Some(254),
        "local" => Some(255),
        "default" => Some(253),
        n => n.parse().ok(),
    }
}

fn family_of(f: Option<AddressFamily>) -> Option<IpFamily> {
    f.map(|f| match f {
        AddressFamily::Inet => IpFamily::V4,
        AddressFamily::Inet6 => IpFamily::V6,
    })
}

/// A `virtual_routes` line, or `None` (logged) when keel cannot install it.
pub fn route_plan(r: &Route) -> Option<RoutePlan> {
    let hint = family_of(r.family).or_else(|| {
        [r.via.as_deref(), r.src.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|s| s.parse::<IpAddr>().ok())
            .map(|a| IpFamily::of(&a))
    });
    let Some((dst, len)) = parse_prefix(&r.dst, hint) else {
        tracing::warn!(
            "virtual route {}: cannot parse the destination; ignored",
            r.dst
        );
        return None;
    };
    let mut spec = RouteSpec::new(dst, len);
    if let Some(via) = r.via.as_deref() {
        match via.parse() {
            Ok(gw) => spec = spec.gateway(gw),
            Err(_) => {
                tracing::warn!("virtual route {}: bad gateway {via}; ignored", r.dst);
                return None;
            }
        }
    }
    if let Some(src) = r.src.as_deref().and_then(|s| s.parse().ok()) {
        spec = spec.src(src);
    }
    if let Some(t) = r.table.as_deref() {
        match parse_table(t) {
            Some(t) => spec = spec.table(t),
            None => {
                tracing::warn!("virtual route {}: unknown table {t}; ignored", r.dst);
                return None;
            }
        }
    }
    if let Some(metric) = r.metric {
        spec = spec.metric(metric);
    }
    if let Some(s) = r.scope.as_deref().and_then(parse_scope) {
        spec = spec.scope(s);
    }
    match r.route_type.as_deref() {
        None | Some("unicast") => {}
        Some("blackhole") => spec = spec.kind(RouteKind::Blackhole),
        Some("unreachable") => spec = spec.kind(RouteKind::Unreachable),
        Some("prohibit") => spec = spec.kind(RouteKind::Prohibit),
        Some(other) => {
            tracing::warn!(
                "virtual route {}: route type {other} not supported; ignored",
                r.dst
            );
            return None;
        }
    }
    Some(RoutePlan {
        spec,
        dev: r.dev.clone(),
    })
}

/// A `virtual_rules` line, or `None` (logged) when keel cannot install it.
pub fn rule_spec(r: &Rule) -> Option<RuleSpec> {
    let hint = family_of(r.family).or_else(|| {
        [r.from.as_deref(), r.to.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|s| parse_prefix(s, None))
            .map(|(a, _)| IpFamily::of(&a))
    });
    let family = hint.unwrap_or(IpFamily::V4);
    let Some(table) = r.table.as_deref().and_then(parse_table) else {
        tracing::warn!("virtual rule without a usable table; ignored");
        return None;
    };
    let mut spec = RuleSpec::new(family, table);
    if let Some(f) = r.from.as_deref() {
        let (a, l) = parse_prefix(f, Some(family))?;
        if l > 0 {
            spec = spec.from(a, l);
        }
    }
    if let Some(t) = r.to.as_deref() {
        let (a, l) = parse_prefix(t, Some(family))?;
        if l > 0 {
            spec = spec.to(a, l);
        }
    }
    if let Some(p) = r.priority {
        spec = spec.priority(p);
    }
    if let Some(i) = &r.iif {
        spec = spec.iif(i.clone());
    }
    if let Some(o) = &r.oif {
        spec = spec.oif(o.clone());
    }
    Some(spec)
}

/// keepalived's `v3_checksum_as_v2` (global or per instance): VRRPv3 IPv4
/// checksums without the pseudo-header, for peers that predate RFC 9568's
/// clarification. `old_unicast_checksum` is detected on receive instead.
fn checksum_mode(g: &keel_config::model::GlobalDefs, vi: &VrrpInstance) -> ChecksumMode {
    let set = |other: &[keel_config::model::RawStatement]| {
        other.iter().any(|r| r.keyword == "v3_checksum_as_v2")
    };
    if set(&g.other) || set(&vi.other) {
        ChecksumMode::AsV2
    } else {
        ChecksumMode::Rfc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        let (c, d) = keel_config::from_str(text, "test.conf").unwrap();
        assert!(!d.has_errors(), "{:?}", d.items);
        c
    }

    fn host() -> HostInfo {
        let mut h = HostInfo::default();
        h.addresses.insert(
            "eth0".into(),
            vec![
                "fe80::1".parse().unwrap(),
                "192.0.2.3".parse().unwrap(),
                "192.0.2.200".parse().unwrap(),
            ],
        );
        h
    }

    const S4: &str = r#"
vrrp_script chk_down {
    script "[[ -f /etc/keepalived/down ]] && exit 1 || exit 0"
    interval 1
    weight -5
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 22
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 123.com
    }
    virtual_ipaddress {
        192.0.2.166
        192.0.2.167/24 brd 192.0.2.255 dev eth0 scope link label eth0:1
    }
    track_script {
        chk_down
    }
    track_interface {
        eth1
    }
}
"#;

    #[test]
    fn seed_s4_instance_maps_to_engine_config() {
        let (plans, errs) = plan_instances(&cfg(S4), &host());
        assert!(errs.is_empty());
        let p = &plans[0];
        assert_eq!(p.engine.vrid, 22);
        assert_eq!(p.engine.priority, 100);
        // First IPv4 address of the interface is the advert source.
        assert_eq!(p.engine.primary_ip, "192.0.2.3".parse::<IpAddr>().unwrap());
        assert_eq!(p.engine.version, Version::V2);
        assert_eq!(p.auth, AuthConfig::Pass("123.com".into()));
        assert_eq!(p.group, Some("224.0.0.18".parse().unwrap()));
        assert_eq!(p.engine.vips.vips.len(), 2);
        let a = p.address("192.0.2.166".parse().unwrap()).unwrap();
        assert_eq!((a.prefix_len, a.dev.as_str()), (32, "eth0"));
        let b = p.address("192.0.2.167".parse().unwrap()).unwrap();
        assert_eq!(b.prefix_len, 24);
        assert_eq!(b.broadcast, Some("192.0.2.255".parse().unwrap()));
        assert_eq!(b.scope, Scope::Link);
        assert_eq!(b.label.as_deref(), Some("eth0:1"));
        // Script weight from the vrrp_script, interface weight 0 (= FAULT).
        let s = &p.engine.tracks[0];
        assert_eq!((s.kind, s.weight), (TrackKind::Script, -5));
        let i = &p.engine.tracks[1];
        assert_eq!((i.kind, i.weight), (TrackKind::Interface, 0));
        assert_eq!(
            p.tracks,
            vec![
                (s.id, TrackSource::Script("chk_down".into())),
                (i.id, TrackSource::Interface("eth1".into()))
            ]
        );
    }

    #[test]
    fn unicast_v3_and_owner_priority() {
        let c = cfg(r#"
global_defs { vrrp_version 3 }
vrrp_instance VI_2 {
    state MASTER
    interface eth0
    virtual_router_id 7
    advert_int 0.1
    unicast_src_ip 192.0.2.200
    unicast_peer { 192.0.2.5 }
    nopreempt
    virtual_ipaddress { 192.0.2.50 }
}
"#);
        let (plans, _) = plan_instances(&c, &host());
        let p = &plans[0];
        assert_eq!(p.engine.version, Version::V3);
        // keepalived: `state MASTER` without a priority is the address owner.
        assert_eq!(p.engine.priority, 255);
        assert_eq!(p.engine.advert_interval, Duration::from_millis(100));
        assert_eq!(p.group, None);
        assert_eq!(p.unicast_src, Some("192.0.2.200".parse().unwrap()));
        assert_eq!(
            p.engine.primary_ip,
            "192.0.2.200".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            p.unicast_peers,
            vec!["192.0.2.5".parse::<IpAddr>().unwrap()]
        );
        // keepalived: `state MASTER` cancels nopreempt.
        assert!(p.engine.preempt);
        assert_eq!(p.auth, AuthConfig::None);
    }

    /// keepalived's `check_unicast_src` / `vrrp_check_unicast_src` and the
    /// peers' `min_ttl`/`max_ttl` (which turn the check on by themselves).
    #[test]
    fn unicast_source_check_follows_keepalived() {
        let inst = |extra: &str, peers: &str| {
            format!(
                "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 9\n {extra}\n unicast_peer {{\n{peers}\n }}\n virtual_ipaddress {{ 192.0.2.60 }}\n}}\n"
            )
        };
        let peer: IpAddr = "192.0.2.5".parse().unwrap();
        let stranger: IpAddr = "192.0.2.9".parse().unwrap();

        let (plans, _) = plan_instances(&cfg(&inst("", "192.0.2.5")), &host());
        assert_eq!(plans[0].unicast_src_check, None);
        assert_eq!(plans[0].check_unicast_source(stranger, 64), Ok(()));

        let (plans, _) = plan_instances(&cfg(&inst("check_unicast_src", "192.0.2.5")), &host());
        let p = &plans[0];
        assert_eq!(p.check_unicast_source(peer, 64), Ok(()));
        let e = p.check_unicast_source(stranger, 255).unwrap_err();
        assert_eq!(e, UnicastSrcDrop::NotPeer { src: stranger });
        assert_eq!(e.counter_name(), "unicast_src_not_peer");
        assert_eq!(
            e.to_string(),
            "unicast source address 192.0.2.9 not a unicast peer"
        );

        let global = format!(
            "global_defs {{\n vrrp_check_unicast_src\n}}\n{}",
            inst("", "192.0.2.5")
        );
        let (plans, _) = plan_instances(&cfg(&global), &host());
        assert!(plans[0].check_unicast_source(stranger, 255).is_err());

        let (plans, _) = plan_instances(
            &cfg(&inst("", "192.0.2.5 min_ttl 250 max_ttl 254\n192.0.2.6")),
            &host(),
        );
        let p = &plans[0];
        assert!(p.check_unicast_source(stranger, 252).is_err());
        assert_eq!(p.check_unicast_source(peer, 250), Ok(()));
        assert_eq!(p.check_unicast_source(peer, 254), Ok(()));
        let e = p.check_unicast_source(peer, 255).unwrap_err();
        assert_eq!(e.counter_name(), "unicast_ttl_out_of_range");
        assert_eq!(
            e.to_string(),
            "TTL/HL 255 from 192.0.2.5 not in range [250, 254]"
        );
        assert!(p.check_unicast_source(peer, 249).is_err());
        // A peer without a range accepts any TTL.
        assert_eq!(
            p.check_unicast_source("192.0.2.6".parse().unwrap(), 0),
            Ok(())
        );

        // Multicast instances never check (keepalived: unicast mode only).
        let mc = "global_defs {\n vrrp_check_unicast_src\n}\nvrrp_instance M {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress { 192.0.2.60 }\n}\n";
        let (plans, _) = plan_instances(&cfg(mc), &host());
        assert_eq!(plans[0].unicast_src_check, None);
    }

    /// keepalived's `v3_checksum_as_v2`, global or per instance, selects the
    /// VRRPv3 checksum without the IPv4 pseudo-header (RFC 9568 §8 interop).
    #[test]
    fn v3_checksum_as_v2_selects_the_plain_checksum() {
        let inst = "vrrp_instance VI_1 {\n version 3\n interface eth0\n virtual_router_id 9\n virtual_ipaddress { 192.0.2.60 }\n}\n";
        let (plans, _) = plan_instances(&cfg(inst), &host());
        assert_eq!(plans[0].checksum, ChecksumMode::Rfc);
        let global = format!("global_defs {{\n v3_checksum_as_v2\n}}\n{inst}");
        let (plans, _) = plan_instances(&cfg(&global), &host());
        assert_eq!(plans[0].checksum, ChecksumMode::AsV2);
        let local = inst.replace(" version 3\n", " version 3\n v3_checksum_as_v2\n");
        let (plans, _) = plan_instances(&cfg(&local), &host());
        assert_eq!(plans[0].checksum, ChecksumMode::AsV2);
    }

    #[test]
    fn missing_source_address_is_reported() {
        let c = cfg(
            "vrrp_instance X { interface eth9\n virtual_router_id 1\n virtual_ipaddress { 192.0.2.9 } }",
        );
        let (plans, errs) = plan_instances(&c, &host());
        assert!(plans.is_empty());
        assert!(matches!(errs[0], MappingError::NoSourceAddress { .. }));
    }

    #[test]
    fn use_vmac_puts_vips_on_the_vmac_and_adverts_on_it() {
        let c = cfg(r#"
vrrp_instance A {
    interface eth0
    virtual_router_id 51
    use_vmac
    virtual_ipaddress {
        192.0.2.111/24
        192.0.2.112 dev eth0
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 52
    use_vmac vip52
    vmac_xmit_base
    virtual_ipaddress { 192.0.2.122 }
}
vrrp_instance C {
    interface eth0
    virtual_router_id 53
    virtual_ipaddress { 192.0.2.133 }
}
"#);
        let (plans, errs) = plan_instances(&c, &host());
        assert!(errs.is_empty());
        let a = &plans[0];
        let v = a.vmac.as_ref().unwrap();
        assert_eq!((v.name.as_str(), v.xmit_base), ("vrrp.51", false));
        assert_eq!(a.advert_interface(), "vrrp.51");
        assert_eq!(a.interface, "eth0", "link state still follows the base");
        let unicast = InstancePlan {
            group: None,
            ..a.clone()
        };
        assert_eq!(unicast.advert_interface(), "eth0", "unicast uses the base");
        let dev =
            |p: &InstancePlan, vip: &str| p.address(vip.parse().unwrap()).unwrap().dev.clone();
        assert_eq!(dev(a, "192.0.2.111"), "vrrp.51");
        assert_eq!(dev(a, "192.0.2.112"), "eth0", "an explicit dev is kept");
        let b = &plans[1];
        assert_eq!(b.vmac.as_ref().unwrap().name, "vip52");
        assert_eq!(b.advert_interface(), "eth0", "vmac_xmit_base");
        assert_eq!(dev(b, "192.0.2.122"), "vip52");
        let c = &plans[2];
        assert_eq!((c.vmac.as_ref(), c.advert_interface()), (None, "eth0"));
        assert_eq!(dev(c, "192.0.2.133"), "eth0");
    }

    #[test]
    fn default_vmac_names_do_not_collide() {
        let mut h = host();
        h.addresses
            .insert("eth1".into(), vec!["198.51.100.3".parse().unwrap()]);
        let c = cfg(r#"
vrrp_instance A {
    interface eth0
    virtual_router_id 51
    use_vmac
    virtual_ipaddress { 192.0.2.111 }
}
vrrp_instance B {
    interface eth1
    virtual_router_id 51
    use_vmac
    virtual_ipaddress { 198.51.100.111 }
}
vrrp_instance C {
    interface eth1
    virtual_router_id 52
    use_vmac vrrp.52
    virtual_ipaddress { 198.51.100.112 }
}
vrrp_instance D {
    interface eth0
    virtual_router_id 52
    use_vmac
    virtual_ipaddress { 192.0.2.112 }
}
"#);
        let (plans, errs) = plan_instances(&c, &h);
        assert!(errs.is_empty());
        let names: Vec<&str> = plans
            .iter()
            .map(|p| p.vmac.as_ref().unwrap().name.as_str())
            .collect();
        assert_eq!(names, ["vrrp.51", "vrrp1.51", "vrrp.52", "vrrp1.52"]);
        assert_eq!(
            plans[1]
                .address("198.51.100.111".parse().unwrap())
                .unwrap()
                .dev,
            "vrrp1.51"
        );
    }

    #[test]
    fn routes_and_rules() {
        let r = Route {
            dst: "198.51.100.0/24".into(),
            via: Some("192.0.2.1".into()),
            table: Some("100".into()),
            metric: Some(5),
            ..Route::default()
        };
        let p = route_plan(&r).unwrap();
        assert_eq!(p.spec.prefix_len, 24);
        assert_eq!(p.spec.gateway, Some("192.0.2.1".parse().unwrap()));
        assert_eq!((p.spec.table, p.spec.metric), (100, Some(5)));
        let bh = Route {
            dst: "203.0.113.0/24".into(),
            route_type: Some("blackhole".into()),
            ..Route::default()
        };
        assert_eq!(route_plan(&bh).unwrap().spec.kind, RouteKind::Blackhole);
        let rule = Rule {
            from: Some("192.0.2.0/24".into()),
            table: Some("100".into()),
            priority: Some(10),
            ..Rule::default()
        };
        let s = rule_spec(&rule).unwrap();
        assert_eq!(s.from, Some(("192.0.2.0".parse().unwrap(), 24)));
        assert_eq!((s.table, s.priority), (100, Some(10)));
        assert!(
            rule_spec(&Rule::default()).is_none(),
            "a rule needs a table"
        );
    }
}
