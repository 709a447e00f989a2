//! Renders a [`Table`] as one nft script that replaces keel's tables
//! atomically (`nft -f -` applies a file as a single transaction).
//!
//! Layout, in the spirit of kube-proxy's nftables mode:
//!
//! * `table inet <name>` holds the NAT services: `prerouting` and `output`
//!   nat chains dispatch every service with one verdict-map lookup keyed on
//!   `daddr . l4proto . dport` (`daddr . l4proto` for port-0 services,
//!   `meta mark` for fwmark services) to a chain per virtual service
//!   (`vs-…`), which picks a chain per real server (`vs-…/rs-…`) that
//!   does the `dnat`. Only new connections pass nat chains, so conntrack
//!   keeps established connections on their server whatever the maps say:
//!   weight 0 (left out of the maps) is IPVS's quiescent state for free.
//! * `table netdev <name>` holds the DR services: an ingress chain per
//!   device dispatches the same way, the service chain hashes the flow into
//!   a consistent slot table, and the real-server chain does `fwd ip to RS
//!   device DEV`, which keeps the IP header (destination still the VIP) and
//!   lets the kernel's neighbour table supply the server's MAC. There is
//!   no conntrack at ingress, so rr/wrr services keep their own flow table:
//!   a set per real server (`vs-…/flows-…`) of `saddr . sport` that the
//!   real-server chain refreshes on every packet. Known flows go back to
//!   their server, a TCP SYN of a new one takes the next turn of a `numgen`
//!   rotation, anything else falls back to the slot table.
//!
//! Each `vs-` chain starts with a commented counter rule recording what
//! cannot be read back from the rules themselves (scheduler, persistence);
//! each `rs-` chain starts with one recording the destination and weight.
//! [`crate::parse`] reads them back and cross-checks them with the rules
//! that schedule (not the flow-set lookups, which also lead to quiescent
//! servers).

use keel_lvs::{
    Capabilities, DestKey, Destination, Family, Method, MethodKind, Persistence, Protocol,
    Scheduler, ServiceKey, Table, VirtualService, slot_ranges, slot_table, validate,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;

mod dr;
mod nat;

use dr::render_dr;
use nat::render_nat;

/// Rendering choices that are not part of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Name of keel's `inet` and `netdev` tables.
    pub table: String,
    /// Interface each DR virtual address arrives on (where the ingress hook
    /// is attached and where packets leave towards the real servers).
    pub dr_devices: BTreeMap<IpAddr, String>,
    /// Interface for DR virtual addresses not in `dr_devices`.
    pub dr_default_device: Option<String>,
    /// Which real servers need their traffic masqueraded (source NAT to
    /// the director) because their replies would not come back through it.
    pub masquerade: Masquerade,
    /// Slots of the consistent-hash tables (DR, sh, dh, mh).
    pub slots: u32,
    /// Seed of `jhash`; the same on every director so that a VRRP failover
    /// keeps DR flows the slot table placed on their servers. Connections
    /// rr/wrr gave a turn live in the master's flow sets only: after a
    /// failover the new master places them by the slot table, which moves
    /// some (IPVS without its sync daemon loses them all).
    pub hash_seed: u32,
    /// The director's own addresses besides loopback: a destination here
    /// (a local sorry server) is served by the local stack.
    pub local_addrs: BTreeSet<IpAddr>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            table: "keel".to_string(),
            dr_devices: BTreeMap::new(),
            dr_default_device: None,
            masquerade: Masquerade::None,
            slots: keel_lvs::DEFAULT_SLOTS,
            hash_seed: 0x6b65_656c,
            local_addrs: BTreeSet::new(),
        }
    }
}

/// Source NAT for NAT-forwarded connections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Masquerade {
    /// Real servers route back through the director (classic LVS-NAT).
    #[default]
    None,
    /// Every NAT real server.
    All,
    /// These real-server addresses only.
    Only(BTreeSet<IpAddr>),
}

impl Masquerade {
    fn applies(&self, addr: IpAddr) -> bool {
        match self {
            Masquerade::None => false,
            Masquerade::All => true,
            Masquerade::Only(set) => set.contains(&addr),
        }
    }
}

/// A table this data plane cannot install.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Unsupported(#[from] keel_lvs::Unsupported),
    #[error(
        "virtual server {0}: no interface known for DR virtual address {1}; name it (the interface holding the VIP) in the data plane options"
    )]
    NoDrDevice(ServiceKey, IpAddr),
    #[error("invalid {what} {value:?} for an nftables name")]
    BadName { what: &'static str, value: String },
    #[error("slot count must be at least 1")]
    NoSlots,
}

/// What the nftables data plane supports.
pub fn capabilities() -> Capabilities {
    Capabilities {
        data_plane: "nftables".to_string(),
        schedulers: vec!["rr", "wrr", "sh", "dh", "mh"],
        methods: vec![MethodKind::Nat, MethodKind::Dr],
        // The ingress hook runs before anything could have set a mark.
        fwmark_methods: vec![MethodKind::Nat],
        mixed_methods: false,
        mixed_families: false,
        thresholds: false,
    }
}

/// The script deleting keel's tables (if present) in one transaction.
pub fn render_clear(table_name: &str) -> Result<String, RenderError> {
    check_name("table name", table_name)?;
    let mut s = String::new();
    // `add` then `delete` in one transaction removes the table whether or
    // not it existed, without failing.
    for family in ["inet", "netdev"] {
        let _ = writeln!(s, "table {family} {table_name} {{}}");
        let _ = writeln!(s, "delete table {family} {table_name}");
    }
    Ok(s)
}

/// The method a service is forwarded with; a service without destinations
/// counts as NAT (its chain then rejects new connections).
pub(crate) fn service_method(svc: &VirtualService) -> MethodKind {
    svc.destinations
        .first()
        .map(|d| MethodKind::of(d.method))
        .unwrap_or(MethodKind::Nat)
}

/// Names of the objects in one of keel's current tables, as listed by
/// [`crate::existing_objects`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    pub chains: BTreeSet<String>,
    pub sets: BTreeSet<String>,
    pub maps: BTreeSet<String>,
}

/// Renders `table` as an nft script that replaces keel's tables with
/// exactly this content in one transaction. Pure: same input, same text.
pub fn render(table: &Table, opts: &Options) -> Result<String, RenderError> {
    render_update(table, opts, None, None)
}

/// Like [`render`], but when keel's tables already exist (`inet` holding
/// `inet`, `netdev` holding `netdev`, as listed by
/// [`crate::existing_objects`]), the script empties and rebuilds them
/// instead of deleting them, so that the sets the kernel fills from the
/// packet path keep their entries: persistence sets of services whose
/// persistence settings did not change keep their clients (IPVS keeps its
/// persistence templates across table edits too), and the flow sets of DR
/// round-robin services keep every connection on its server unless that
/// server was removed.
pub fn render_update(
    table: &Table,
    opts: &Options,
    inet: Option<&Existing>,
    netdev: Option<&Existing>,
) -> Result<String, RenderError> {
    validate(table, &capabilities())?;
    if opts.slots == 0 {
        return Err(RenderError::NoSlots);
    }
    check_name("table name", &opts.table)?;
    let table = table.normalized();
    let (dr, nat): (Vec<&VirtualService>, Vec<&VirtualService>) = table
        .services
        .iter()
        .partition(|s| service_method(s) == MethodKind::Dr);
    let mut out = String::new();
    let t = &opts.table;
    for (family, existing, keep) in [
        (
            "inet",
            inet.filter(|_| !nat.is_empty()),
            wanted_affinity_sets(&nat),
        ),
        (
            "netdev",
            netdev.filter(|_| !dr.is_empty()),
            wanted_flow_sets(&dr),
        ),
    ] {
        let Some(ex) = existing else {
            // `add` then `delete` in one transaction removes the table
            // whether or not it existed, without failing.
            let _ = writeln!(out, "table {family} {t} {{}}\ndelete table {family} {t}");
            continue;
        };
        let _ = writeln!(out, "table {family} {t} {{}}\nflush table {family} {t}");
        // Verdict-map elements reference chains: maps go first.
        for m in &ex.maps {
            let _ = writeln!(out, "delete map {family} {t} {m}");
        }
        for set in ex.sets.iter().filter(|s| !keep.contains(*s)) {
            let _ = writeln!(out, "delete set {family} {t} {set}");
        }
        for c in &ex.chains {
            let _ = writeln!(out, "delete chain {family} {t} {c}");
        }
    }
    if !nat.is_empty() {
        render_nat(&mut out, &nat, opts);
    }
    if !dr.is_empty() {
        render_dr(&mut out, &dr, opts)?;
    }
    Ok(out)
}

fn wanted_affinity_sets(services: &[&VirtualService]) -> BTreeSet<String> {
    let mut keep = BTreeSet::new();
    for svc in services {
        if let Some(p) = svc.persistence {
            let chain = service_chain(&svc.key);
            for d in svc.schedulable() {
                keep.insert(affinity_set(&chain, p, d.key()));
            }
        }
    }
    keep
}

/// How long a DR flow stays pinned to its server after its last packet:
/// IPVS's default timeouts of an established TCP connection and of a UDP
/// one. Every packet refreshes it, so only idle flows outlive it (and then
/// fall back to the slot table).
fn flow_timeout(svc: &VirtualService) -> u32 {
    match svc.key {
        ServiceKey::Addr {
            proto: Protocol::Udp,
            ..
        } => 300,
        _ => 900,
    }
}

/// Flows remembered per real server; past it new flows are still
/// forwarded, by the slot table alone, so a SYN flood cannot grow the
/// sets without bound.
const FLOW_SET_SIZE: u32 = 65536;

/// Whether a DR service pins each flow to the server the rotation gave its
/// first packet. netdev ingress has no conntrack: without its own flow
/// table rr/wrr could only hash flows, which spreads them but does not
/// take turns. With persistence the client, not the flow, is the unit, and
/// the hash already keeps it on one server.
pub(crate) fn pins_flows(svc: &VirtualService) -> bool {
    matches!(svc.scheduler, Scheduler::Rr | Scheduler::Wrr) && svc.persistence.is_none()
}

/// `<service chain>/flows-900s-192.0.2.11-80`: the flows pinned to one
/// real server. The timeout is part of the name so that a set is only ever
/// kept across updates with the definition it was created with.
fn flow_set(svc: &VirtualService, d: DestKey) -> String {
    format!(
        "{}/flows-{}s-{}-{}",
        service_chain(&svc.key),
        flow_timeout(svc),
        addr_name(d.addr),
        d.port
    )
}

fn wanted_flow_sets(services: &[&VirtualService]) -> BTreeSet<String> {
    let mut keep = BTreeSet::new();
    for svc in services.iter().filter(|s| pins_flows(s)) {
        for d in &svc.destinations {
            keep.insert(flow_set(svc, d.key()));
        }
    }
    keep
}

fn check_name(what: &'static str, value: &str) -> Result<(), RenderError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RenderError::BadName {
            what,
            value: value.to_string(),
        })
    }
}

fn check_device(value: &str) -> Result<(), RenderError> {
    // Interface names: at most 15 bytes, no quotes, slashes or blanks.
    let ok = !value.is_empty()
        && value.len() <= 15
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '/' | '\\'));
    if ok {
        Ok(())
    } else {
        Err(RenderError::BadName {
            what: "interface name",
            value: value.to_string(),
        })
    }
}

fn addr_name(ip: IpAddr) -> String {
    ip.to_string().replace(':', ".")
}

/// `vs-tcp-192.0.2.144-80`, `vs-fwm-7`, `vs-fwm6-7`.
pub(crate) fn service_chain(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { ip, proto, port } => format!(
            "vs-{}-{}-{}",
            proto.as_str().to_ascii_lowercase(),
            addr_name(*ip),
            port
        ),
        ServiceKey::Fwmark { mark, family } => match family {
            Family::Inet => format!("vs-fwm-{mark}"),
            Family::Inet6 => format!("vs-fwm6-{mark}"),
        },
    }
}

/// `<service chain>/rs-192.0.2.11-80`.
pub(crate) fn dest_chain(svc: &str, d: DestKey) -> String {
    format!("{svc}/rs-{}-{}", addr_name(d.addr), d.port)
}

/// `<service chain>/aff-360s-24-192.0.2.11-80`: the persistence settings
/// are part of the name so that a set is only ever kept across updates
/// with the definition it was created with.
fn affinity_set(svc: &str, p: Persistence, d: DestKey) -> String {
    let mask = p
        .netmask
        .map(|m| m.to_string())
        .unwrap_or_else(|| "host".to_string());
    format!(
        "{svc}/aff-{}s-{mask}-{}-{}",
        p.timeout.max(1),
        addr_name(d.addr),
        d.port
    )
}

/// Comment of a service chain's first rule:
/// `keel vs sched=sh,fallback,port persist=360/24`.
pub(crate) fn service_comment(svc: &VirtualService) -> String {
    let mut sched = svc.scheduler.name().to_string();
    if let Scheduler::Sh { fallback, port } | Scheduler::Mh { fallback, port } = svc.scheduler {
        if fallback {
            sched.push_str(",fallback");
        }
        if port {
            sched.push_str(",port");
        }
    }
    let persist = match svc.persistence {
        None => "none".to_string(),
        Some(Persistence {
            timeout,
            netmask: None,
        }) => timeout.to_string(),
        Some(Persistence {
            timeout,
            netmask: Some(m),
        }) => format!("{timeout}/{m}"),
    };
    format!("keel vs sched={sched} persist={persist}")
}

/// Comment of a real-server chain's first rule:
/// `keel rs 192.0.2.11:80 weight=1 method=dr`.
pub(crate) fn dest_comment(d: &Destination) -> String {
    let method = match d.method {
        Method::Dr => "dr",
        _ => "nat",
    };
    format!("keel rs {} weight={} method={method}", d.key(), d.weight)
}

fn is_local(opts: &Options, addr: IpAddr) -> bool {
    addr.is_loopback() || opts.local_addrs.contains(&addr)
}

fn ip_kw(family: Family) -> &'static str {
    match family {
        Family::Inet => "ip",
        Family::Inet6 => "ip6",
    }
}

fn proto_kw(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// Dispatch maps of one table: name, key type, rule text, elements.
struct DispatchMap {
    name: &'static str,
    key_type: &'static str,
    selector: &'static str,
    elements: Vec<(String, String)>,
}

fn dispatch_maps(services: &[&VirtualService], dr: bool) -> Vec<DispatchMap> {
    let mut maps = vec![
        DispatchMap {
            name: if dr { "dr-fwm4" } else { "svc-fwm4" },
            key_type: "mark",
            selector: "meta nfproto ipv4 meta mark",
            elements: vec![],
        },
        DispatchMap {
            name: if dr { "dr-fwm6" } else { "svc-fwm6" },
            key_type: "mark",
            selector: "meta nfproto ipv6 meta mark",
            elements: vec![],
        },
        DispatchMap {
            name: if dr { "dr4" } else { "svc4" },
            key_type: "ipv4_addr . inet_proto . inet_service",
            selector: "ip daddr . meta l4proto . th dport",
            elements: vec![],
        },
        DispatchMap {
            name: if dr { "dr6" } else { "svc6" },
            key_type: "ipv6_addr . inet_proto . inet_service",
            selector: "ip6 daddr . meta l4proto . th dport",
            elements: vec![],
        },
        DispatchMap {
            name: if dr { "dr4-anyport" } else { "svc4-anyport" },
            key_type: "ipv4_addr . inet_proto",
            selector: "ip daddr . meta l4proto",
            elements: vec![],
        },
        DispatchMap {
            name: if dr { "dr6-anyport" } else { "svc6-anyport" },
            key_type: "ipv6_addr . inet_proto",
            selector: "ip6 daddr . meta l4proto",
            elements: vec![],
        },
    ];
    for svc in services {
        let chain = service_chain(&svc.key);
        let (idx, key) = match svc.key {
            ServiceKey::Fwmark { mark, family } => {
                (if family == Family::Inet { 0 } else { 1 }, mark.to_string())
            }
            ServiceKey::Addr { ip, proto, port } => {
                let v6 = usize::from(ip.is_ipv6());
                if port == 0 {
                    (4 + v6, format!("{ip} . {}", proto_kw(proto)))
                } else {
                    (2 + v6, format!("{ip} . {} . {port}", proto_kw(proto)))
                }
            }
        };
        maps[idx].elements.push((key, chain));
    }
    maps.retain(|m| !m.elements.is_empty());
    maps
}

fn write_maps(out: &mut String, maps: &[DispatchMap]) {
    for m in maps {
        let _ = writeln!(out, "\tmap {} {{", m.name);
        let _ = writeln!(out, "\t\ttype {} : verdict", m.key_type);
        out.push_str("\t\telements = {\n");
        for (i, (k, chain)) in m.elements.iter().enumerate() {
            let sep = if i + 1 == m.elements.len() { "" } else { "," };
            let _ = writeln!(out, "\t\t\t{k} : goto {chain}{sep}");
        }
        out.push_str("\t\t}\n\t}\n");
    }
}

fn write_dispatch_rules(out: &mut String, maps: &[DispatchMap]) {
    for m in maps {
        let _ = writeln!(out, "\t\t{} vmap @{}", m.selector, m.name);
    }
}

/// The hash input of a hashing scheduler: `ip saddr . th sport` and so on;
/// `None` when every packet is to go to the same server.
fn hash_key(svc: &VirtualService, family: Family, dr: bool) -> Option<String> {
    let ip = ip_kw(family);
    let with_port = match svc.scheduler {
        Scheduler::Dh => return Some(format!("{ip} daddr")),
        Scheduler::Sh { port, .. } => port,
        // Without conntrack every packet of a flow must reach the same
        // server, so DR hashes the full source for mh, and for rr/wrr
        // flows whose start it did not see.
        _ => dr,
    };
    if dr && let Some(p) = svc.persistence {
        // Persistence without a connection table: one server per client
        // (or client network). jhash cannot take a masked value, only raw
        // whole bytes of the header, so the network prefix is rounded down
        // to whole bytes: a coarser group still keeps each finer group on
        // one server.
        let (full, offset) = match family {
            Family::Inet => (32u8, 96),
            Family::Inet6 => (128u8, 64),
        };
        let len = p.netmask.unwrap_or(full).min(full);
        if len == full {
            return Some(format!("{ip} saddr"));
        }
        let bits = u32::from(len / 8) * 8;
        if bits == 0 {
            return None;
        }
        return Some(format!("@nh,{offset},{bits}"));
    }
    Some(if with_port {
        format!("{ip} saddr . th sport")
    } else {
        format!("{ip} saddr")
    })
}

fn mask_suffix(family: Family, netmask: Option<u8>) -> String {
    let Some(len) = netmask else {
        return String::new();
    };
    match family {
        Family::Inet if len < 32 => {
            let bits = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            format!(" & {}", std::net::Ipv4Addr::from(bits))
        }
        Family::Inet6 if len < 128 => {
            let bits = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            format!(" & {}", std::net::Ipv6Addr::from(bits))
        }
        _ => String::new(),
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn range_text(first: u32, last: u32) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// `numgen inc mod N vmap { … }`: strict rotation over `live` (weight >
/// 0). IPVS's wrr order for weights 3:1 is A A A B: an interval map over a
/// counter reproduces it, reduced by the weights' gcd; rr ignores weights.
fn rotation(svc: &VirtualService, live: &[&Destination], chain: &str) -> String {
    let weights: Vec<u32> = live
        .iter()
        .map(|d| {
            if svc.scheduler == Scheduler::Rr {
                1
            } else {
                d.weight
            }
        })
        .collect();
    let g = weights.iter().copied().fold(0, gcd).max(1);
    let mut next = 0u32;
    let mut entries = Vec::new();
    for (d, w) in live.iter().zip(&weights) {
        let n = w / g;
        entries.push(format!(
            "{} : goto {}",
            range_text(next, next + n - 1),
            dest_chain(chain, d.key())
        ));
        next += n;
    }
    format!("numgen inc mod {next} vmap {{ {} }}", entries.join(", "))
}

/// The rule choosing a real-server chain among `live` (weight > 0).
fn schedule_rule(
    svc: &VirtualService,
    live: &[&Destination],
    chain: &str,
    opts: &Options,
    dr: bool,
) -> String {
    let target = |d: &Destination| format!("goto {}", dest_chain(chain, d.key()));
    if !dr && matches!(svc.scheduler, Scheduler::Rr | Scheduler::Wrr) {
        return format!("\t\t{}\n", rotation(svc, live, chain));
    }
    let owned: Vec<Destination> = live
        .iter()
        .map(|d| {
            let mut d = (*d).clone();
            // rr ignores weights (beyond 0 meaning "none").
            if svc.scheduler == Scheduler::Rr {
                d.weight = 1;
            }
            d
        })
        .collect();
    let slots = slot_table(&owned, opts.slots);
    let Some(key) = hash_key(svc, svc.key.family(), dr) else {
        // One group for all clients: the owner of slot 0 takes everything.
        return match slots.first() {
            Some(&i) => format!("\t\t{}\n", target(&owned[i])),
            None => "\t\treject\n".to_string(),
        };
    };
    let entries: Vec<String> = slot_ranges(&slots)
        .into_iter()
        .map(|(a, b, i)| format!("{} : {}", range_text(a, b), target(&owned[i])))
        .collect();
    let mut s = format!(
        "\t\tjhash {key} mod {} seed 0x{:08x} vmap {{\n",
        opts.slots, opts.hash_seed
    );
    for (i, e) in entries.iter().enumerate() {
        let sep = if i + 1 == entries.len() { "" } else { "," };
        let _ = writeln!(s, "\t\t\t{e}{sep}");
    }
    s.push_str("\t\t}\n");
    s
}
