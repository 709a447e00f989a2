//! Address, route and rule lines (`virtual_ipaddress`, `virtual_routes`,
//! `virtual_rules` and their `static_*` forms), in `ip addr/route/rule`
//! syntax.

use crate::ast::Word;
use crate::diag::Diagnostics;
use crate::model::{AddressFamily, Route, Rule, VirtualIp};
use std::net::{IpAddr, Ipv4Addr};

/// `ADDR[/LEN]` with LEN checked against the family.
pub(crate) fn parse_prefix(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((addr, len))
}

fn host_mask(len: u8) -> u32 {
    u32::MAX.checked_shr(u32::from(len)).unwrap_or(0)
}

/// Options of an address line and whether each takes a value.
fn vip_option(word: &str) -> Option<bool> {
    match word {
        "dev" | "scope" | "label" | "peer" | "preferred_lft" | "track_group" => Some(true),
        "brd" | "broadcast" => Some(true),
        "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin" | "no_track"
        | "use_vmac" => Some(false),
        _ => None,
    }
}

/// One line of a `virtual_ipaddress`-style block. Several addresses on one
/// line (`{ 192.0.2.1 192.0.2.2 }` pasted on a single line) give several
/// entries. Bad addresses are reported and skipped.
pub(crate) fn vips(line: &[Word], static_addr: bool, d: &mut Diagnostics) -> Vec<VirtualIp> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let head = &line[i];
        let Some((address, prefix_len)) = parse_prefix(&head.text) else {
            d.error(
                &head.span,
                &head.text,
                "expected an IP address[/prefix] for a virtual address",
            );
            return out;
        };
        let mut v = VirtualIp {
            address,
            prefix_len,
            broadcast: None,
            dev: None,
            scope: None,
            label: None,
            peer: None,
            home: false,
            nodad: false,
            mngtmpaddr: false,
            noprefixroute: false,
            autojoin: false,
            no_track: false,
            preferred_lft: None,
            use_vmac: false,
            track_group: None,
        };
        // None: no brd; Some(None): '+' (or bare brd); Some(Some(false)): '-'.
        let mut brd_rel: Option<bool> = None;
        let mut ok = true;
        i += 1;
        while i < line.len() {
            let w = &line[i];
            let opt = w.text.as_str();
            let Some(takes_value) = vip_option(opt) else {
                if parse_prefix(opt).is_some() {
                    // The next address of a one-line list.
                    break;
                }
                d.error(
                    &w.span,
                    &head.text,
                    format!("unknown option '{opt}' for a virtual address; ignored"),
                );
                i += 1;
                continue;
            };
            let value = line.get(i + 1).map(|w| w.text.as_str());
            if matches!(opt, "brd" | "broadcast") {
                if !address.is_ipv4() {
                    d.error(&w.span, &head.text, "broadcast given for an IPv6 address");
                    ok = false;
                }
                match value {
                    Some("+") => {
                        brd_rel = Some(true);
                        i += 2;
                    }
                    Some("-") => {
                        brd_rel = Some(false);
                        i += 2;
                    }
                    Some(t) if t.parse::<Ipv4Addr>().is_ok() && !t.contains('/') => {
                        v.broadcast = t.parse().ok();
                        i += 2;
                    }
                    _ => {
                        // Older keepalived took a bare `brd` (as the seed
                        // tutorial writes it) as "compute the broadcast".
                        d.warn(
                            &w.span,
                            &head.text,
                            "'brd' without a value: using the computed broadcast ('brd +')",
                        );
                        brd_rel = Some(true);
                        i += 1;
                    }
                }
                continue;
            }
            if takes_value {
                let Some(value) = value else {
                    d.error(&w.span, &head.text, format!("'{opt}' needs a value"));
                    ok = false;
                    break;
                };
                ok &= vip_valued(&mut v, value, w, head, static_addr, d);
                i += 2;
                continue;
            }
            match opt {
                "home" => v.home = true,
                "-nodad" | "nodad" => v.nodad = true,
                "mngtmpaddr" => v.mngtmpaddr = true,
                "noprefixroute" => v.noprefixroute = true,
                "autojoin" => v.autojoin = true,
                "no_track" => v.no_track = true,
                "use_vmac" if !static_addr => v.use_vmac = true,
                _ => d.error(&w.span, &head.text, format!("'{opt}' is not valid here")),
            }
            i += 1;
        }
        vip_finish(&mut v, brd_rel, head, d);
        if ok {
            out.push(v);
        }
    }
    out
}

/// The value of a `virtual_ipaddress` option that takes one; false when the
/// address must be dropped.
fn vip_valued(
    v: &mut VirtualIp,
    value: &str,
    w: &Word,
    head: &Word,
    static_addr: bool,
    d: &mut Diagnostics,
) -> bool {
    let address = v.address;
    let opt = w.text.as_str();
    let mut ok = true;
    match opt {
        "dev" => v.dev = Some(value.to_string()),
        // IPv6 addresses have no scope or label in netlink:
        // keepalived drops them through its config-error path.
        "scope" | "label" if address.is_ipv6() => d.error(
            &w.span,
            &head.text,
            format!("Cannot specify {opt} for IPv6 addresses ({address}) - ignoring {opt}"),
        ),
        "scope" => v.scope = Some(value.to_string()),
        "label" => {
            if value.len() >= 16 {
                d.error(&w.span, &head.text, "label longer than 15 characters");
                ok = false;
            }
            v.label = Some(value.to_string())
        }
        "peer" => match parse_prefix(value) {
            Some((p, plen)) if p.is_ipv4() == address.is_ipv4() => {
                v.peer = Some(p);
                v.prefix_len = plen;
            }
            _ => {
                d.error(&w.span, &head.text, format!("invalid peer '{value}'"));
            }
        },
        "preferred_lft" => {
            if value == "forever" {
                v.preferred_lft = Some(u32::MAX);
            } else if let Ok(n) = value.parse() {
                v.preferred_lft = Some(n);
            } else {
                d.error(
                    &w.span,
                    &head.text,
                    format!("invalid preferred_lft '{value}'"),
                );
            }
        }
        "track_group" if static_addr => v.track_group = Some(value.to_string()),
        _ => d.error(&w.span, &head.text, format!("'{opt}' is not valid here")),
    }
    ok
}

/// The computed broadcast (`brd +` / `brd -`), which a peer address excludes.
fn vip_finish(v: &mut VirtualIp, brd_rel: Option<bool>, head: &Word, d: &mut Diagnostics) {
    if let (Some(plus), IpAddr::V4(a)) = (brd_rel, v.address) {
        let base = match v.peer {
            Some(IpAddr::V4(p)) => u32::from(p),
            _ => u32::from(a),
        };
        let m = host_mask(v.prefix_len);
        v.broadcast = Some(Ipv4Addr::from(if plus { base | m } else { base & !m }));
    }
    if v.peer.is_some() && v.broadcast.is_some() {
        d.error(
            &head.span,
            &head.text,
            "cannot give both a broadcast and a peer address; broadcast ignored",
        );
        v.broadcast = None;
    }
}

const ROUTE_TYPES: &[&str] = &[
    "unicast",
    "local",
    "broadcast",
    "multicast",
    "throw",
    "unreachable",
    "prohibit",
    "blackhole",
    "nat",
];

/// Route options keel keeps verbatim that take one value.
const ROUTE_VALUE_OPTS: &[&str] = &[
    "mtu",
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "ssthresh",
    "realms",
    "rto_min",
    "initcwnd",
    "initrwnd",
    "features",
    "quickack",
    "congctl",
    "pref",
    "hoplimit",
    "fastopen_no_cookie",
    "expires",
    "tos",
    "vrf",
    "from",
    "as",
    "ttl-propagate",
];

fn family_word(w: &str) -> Option<AddressFamily> {
    match w {
        "inet" => Some(AddressFamily::Inet),
        "inet6" => Some(AddressFamily::Inet6),
        _ => None,
    }
}

/// One `virtual_routes` line: `[inet|inet6] [TYPE] [to] DST [src IP] [via|gw IP]
/// [dev IF] [table T] [metric N] [scope S] [protocol P] [onlink] [no_track] ...`.
pub(crate) fn route(line: &[Word], d: &mut Diagnostics) -> Option<Route> {
    let head = &line[0];
    let mut r = Route::default();
    let mut dst: Option<String> = None;
    let mut i = 0;
    let words: Vec<&str> = line.iter().map(|w| w.text.as_str()).collect();
    if let Some(f) = family_word(words[0]) {
        r.family = Some(f);
        i += 1;
    }
    if let Some(t) = words.get(i)
        && ROUTE_TYPES.contains(t)
    {
        r.route_type = Some((*t).to_string());
        i += 1;
    }
    while i < words.len() {
        let w = words[i];
        let value = words.get(i + 1).map(|s| (*s).to_string());
        let need = |d: &mut Diagnostics| {
            if value.is_none() {
                d.error(
                    &line[i].span,
                    &head.text,
                    format!("route option '{w}' needs a value"),
                );
            }
        };
        if let Some(slot) = route_slot(&mut r, w) {
            need(d);
            *slot = value;
            i += 2;
            continue;
        }
        match w {
            "to" | "dst" => {
                need(d);
                dst = value;
                i += 2;
            }
            "via" | "gw" => {
                need(d);
                // `via inet6 ADDR` names the family of the gateway.
                if value.as_deref().and_then(family_word).is_some() {
                    r.via = words.get(i + 2).map(|s| (*s).to_string());
                    i += 3;
                } else {
                    r.via = value;
                    i += 2;
                }
            }
            "metric" | "preference" | "priority" => {
                match value.as_deref().map(str::parse::<u32>) {
                    Some(Ok(n)) => r.metric = Some(n),
                    _ => d.error(&line[i].span, &head.text, format!("'{w}' needs a number")),
                }
                i += 2;
            }
            "onlink" => {
                r.onlink = true;
                i += 1;
            }
            "no_track" => {
                r.no_track = true;
                i += 1;
            }
            "nexthop" | "encap" | "or" => {
                if w == "or" {
                    d.warn(
                        &line[i].span,
                        &head.text,
                        "'or' in a route is deprecated: use 'nexthop'",
                    );
                }
                // Multi-word constructs: kept verbatim to the end of line.
                r.options
                    .extend(words[i..].iter().map(|s| (*s).to_string()));
                break;
            }
            w if ROUTE_VALUE_OPTS.contains(&w) => {
                r.options.push(w.to_string());
                if let Some(v) = value {
                    r.options.push(v);
                }
                i += 2;
            }
            w if dst.is_none() => {
                dst = Some(w.to_string());
                i += 1;
            }
            w => {
                d.error(
                    &line[i].span,
                    &head.text,
                    format!("unknown route option '{w}'; ignored"),
                );
                i += 1;
            }
        }
    }
    route_dst(r, dst, head, d)
}

/// The field of a route option that takes one word verbatim.
fn route_slot<'r>(r: &'r mut Route, w: &str) -> Option<&'r mut Option<String>> {
    match w {
        "src" => Some(&mut r.src),
        "dev" | "oif" => Some(&mut r.dev),
        "table" => Some(&mut r.table),
        "scope" => Some(&mut r.scope),
        "protocol" | "proto" => Some(&mut r.protocol),
        "track_group" => Some(&mut r.track_group),
        _ => None,
    }
}

/// A route needs a destination: a prefix or `default`/`any`/`all`.
fn route_dst(mut r: Route, dst: Option<String>, head: &Word, d: &mut Diagnostics) -> Option<Route> {
    match dst {
        Some(dst) => {
            if !matches!(dst.as_str(), "default" | "any" | "all") && parse_prefix(&dst).is_none() {
                d.error(
                    &head.span,
                    &head.text,
                    format!("invalid route destination '{dst}'"),
                );
                return None;
            }
            r.dst = dst;
            Some(r)
        }
        None => {
            d.error(&head.span, &head.text, "route has no destination");
            None
        }
    }
}

const RULE_ACTIONS: &[&str] = &["blackhole", "prohibit", "unreachable", "nop"];
const RULE_VALUE_OPTS: &[&str] = &[
    "realms",
    "sport",
    "dport",
    "ipproto",
    "uidrange",
    "suppress_prefixlength",
    "sup_pl",
    "suppress_ifgroup",
    "sup_group",
    "protocol",
    "tunnel-id",
    "goto",
];

/// One `virtual_rules` line in `ip rule` syntax.
pub(crate) fn rule(line: &[Word], d: &mut Diagnostics) -> Option<Rule> {
    let head = &line[0];
    let mut r = Rule::default();
    let words: Vec<&str> = line.iter().map(|w| w.text.as_str()).collect();
    let mut i = 0;
    if let Some(f) = family_word(words[0]) {
        r.family = Some(f);
        i += 1;
    }
    while i < words.len() {
        let w = words[i];
        let value = words.get(i + 1).map(|s| (*s).to_string());
        if value.is_none() && !matches!(w, "no_track" | "l3mdev") && !RULE_ACTIONS.contains(&w) {
            d.error(
                &line[i].span,
                &head.text,
                format!("rule option '{w}' needs a value"),
            );
            return None;
        }
        let mut step = 2;
        match w {
            "from" => r.from = value,
            "to" => r.to = value,
            "table" | "lookup" => r.table = value,
            "priority" | "preference" | "order" | "pref" => {
                match value.as_deref().map(str::parse::<u32>) {
                    Some(Ok(n)) => r.priority = Some(n),
                    _ => d.error(&line[i].span, &head.text, format!("'{w}' needs a number")),
                }
            }
            "fwmark" => r.fwmark = value,
            "iif" | "dev" => r.iif = value,
            "oif" => r.oif = value,
            "tos" | "dsfield" => r.tos = value,
            "type" => r.action = value,
            "track_group" => r.track_group = value,
            "no_track" => {
                r.no_track = true;
                step = 1;
            }
            "l3mdev" => {
                r.options.push(w.to_string());
                step = 1;
            }
            w if RULE_ACTIONS.contains(&w) => {
                r.action = Some(w.to_string());
                step = 1;
            }
            w if RULE_VALUE_OPTS.contains(&w) => {
                r.options.push(w.to_string());
                r.options.extend(value);
            }
            w => {
                d.error(
                    &line[i].span,
                    &head.text,
                    format!("unknown rule option '{w}'; ignored"),
                );
                step = 1;
            }
        }
        i += step;
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_prefix("192.0.2.1/24"),
            Some(("192.0.2.1".parse().unwrap(), 24))
        );
        assert_eq!(
            parse_prefix("2001:db8::1"),
            Some(("2001:db8::1".parse().unwrap(), 128))
        );
        assert_eq!(parse_prefix("192.0.2.1/33"), None);
        assert_eq!(host_mask(32), 0);
        assert_eq!(host_mask(24), 0xff);
        assert_eq!(host_mask(0), u32::MAX);
    }
}
