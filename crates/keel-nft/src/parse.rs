//! Reads keel's tables back from `nft -j list table ...` output into a
//! [`Table`], cross-checking the recorded settings with the rules that
//! actually forward.

use crate::render::{Existing, dest_chain, service_chain};
use keel_lvs::{
    BackendError, Destination, Family, Method, Persistence, Protocol, Scheduler, ServiceKey, Table,
    VirtualService,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

fn err(msg: impl Into<String>) -> BackendError {
    BackendError::State(msg.into())
}

/// Rules of one chain: `(comment, expressions)`.
type Rules = Vec<(Option<String>, Vec<Value>)>;

#[derive(Default)]
struct Listing {
    /// Verdict-map name → elements as (key, goto target).
    maps: BTreeMap<String, Vec<(Value, String)>>,
    chains: BTreeMap<String, Rules>,
}

fn listing(json: &str) -> Result<Listing, BackendError> {
    let doc: Value =
        serde_json::from_str(json).map_err(|e| err(format!("nft JSON output: {e}")))?;
    let items = doc
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| err("nft JSON output has no \"nftables\" array"))?;
    let mut l = Listing::default();
    for item in items {
        if let Some(map) = item.get("map") {
            let name = str_field(map, "name")?;
            let mut elems = Vec::new();
            if let Some(list) = map.get("elem").and_then(Value::as_array) {
                for e in list {
                    let pair = e
                        .as_array()
                        .filter(|p| p.len() == 2)
                        .ok_or_else(|| err(format!("map {name}: element {e}")))?;
                    elems.push((pair[0].clone(), goto_target(&pair[1])?));
                }
            }
            l.maps.insert(name, elems);
        } else if let Some(chain) = item.get("chain") {
            l.chains.entry(str_field(chain, "name")?).or_default();
        } else if let Some(rule) = item.get("rule") {
            let chain = str_field(rule, "chain")?;
            let comment = rule
                .get("comment")
                .and_then(Value::as_str)
                .map(str::to_string);
            let expr = rule
                .get("expr")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            l.chains.entry(chain).or_default().push((comment, expr));
        }
    }
    Ok(l)
}

fn str_field(v: &Value, key: &str) -> Result<String, BackendError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| err(format!("missing {key:?} in {v}")))
}

fn goto_target(v: &Value) -> Result<String, BackendError> {
    v.get("goto")
        .and_then(|g| g.get("target"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| err(format!("expected a goto verdict, found {v}")))
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        let s = v.as_str()?;
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        }
    })
}

fn proto(v: &Value) -> Option<Protocol> {
    let number = match v.as_str() {
        Some("tcp") => return Some(Protocol::Tcp),
        Some("udp") => return Some(Protocol::Udp),
        Some("sctp") => return Some(Protocol::Sctp),
        _ => as_u64(v)?,
    };
    match number {
        6 => Some(Protocol::Tcp),
        17 => Some(Protocol::Udp),
        132 => Some(Protocol::Sctp),
        _ => None,
    }
}

fn service_key(map: &str, key: &Value) -> Result<ServiceKey, BackendError> {
    let bad = || err(format!("map {map}: unexpected key {key}"));
    if map.ends_with("fwm4") || map.ends_with("fwm6") {
        let mark = as_u64(key)
            .and_then(|m| u32::try_from(m).ok())
            .ok_or_else(bad)?;
        let family = if map.ends_with('4') {
            Family::Inet
        } else {
            Family::Inet6
        };
        return Ok(ServiceKey::Fwmark { mark, family });
    }
    let parts = key
        .get("concat")
        .and_then(Value::as_array)
        .ok_or_else(bad)?;
    let ip: IpAddr = parts
        .first()
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let proto = parts.get(1).and_then(proto).ok_or_else(bad)?;
    let port = match parts.get(2) {
        Some(p) => as_u64(p)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(bad)?,
        None => 0,
    };
    Ok(ServiceKey::Addr { ip, proto, port })
}

fn first_comment<'a>(rules: &'a Rules, prefix: &str) -> Option<&'a str> {
    rules
        .first()
        .and_then(|(c, _)| c.as_deref())
        .and_then(|c| c.strip_prefix(prefix))
}

fn parse_service_comment(
    chain: &str,
    text: &str,
) -> Result<(Scheduler, Option<Persistence>), BackendError> {
    let bad = || err(format!("chain {chain}: unexpected comment {text:?}"));
    let mut sched = None;
    let mut persist = None;
    for field in text.split_whitespace() {
        if let Some(v) = field.strip_prefix("sched=") {
            let mut parts = v.split(',');
            let base = parts
                .next()
                .and_then(Scheduler::from_name)
                .ok_or_else(bad)?;
            let mut fallback = false;
            let mut port = false;
            for flag in parts {
                match flag {
                    "fallback" => fallback = true,
                    "port" => port = true,
                    _ => return Err(bad()),
                }
            }
            sched = Some(base.with_flags(fallback, port));
        } else if let Some(v) = field.strip_prefix("persist=") {
            persist = Some(if v == "none" {
                None
            } else {
                let (t, m) = match v.split_once('/') {
                    Some((t, m)) => (t, Some(m.parse::<u8>().map_err(|_| bad())?)),
                    None => (v, None),
                };
                Some(Persistence {
                    timeout: t.parse().map_err(|_| bad())?,
                    netmask: m,
                })
            });
        }
    }
    Ok((sched.ok_or_else(bad)?, persist.ok_or_else(bad)?))
}

fn parse_dest_comment(chain: &str, text: &str) -> Result<Destination, BackendError> {
    let bad = || err(format!("chain {chain}: unexpected comment {text:?}"));
    let mut fields = text.split_whitespace();
    let addr_text = fields.next().ok_or_else(bad)?;
    let sock: std::net::SocketAddr = addr_text.parse().map_err(|_| bad())?;
    let mut weight = None;
    let mut method = None;
    for field in fields {
        if let Some(v) = field.strip_prefix("weight=") {
            weight = Some(v.parse::<u32>().map_err(|_| bad())?);
        } else if let Some(v) = field.strip_prefix("method=") {
            method = Some(match v {
                "nat" => Method::Nat,
                "dr" => Method::Dr,
                _ => return Err(bad()),
            });
        }
    }
    Ok(Destination {
        addr: sock.ip(),
        port: sock.port(),
        weight: weight.ok_or_else(bad)?,
        method: method.ok_or_else(bad)?,
        upper_threshold: 0,
        lower_threshold: 0,
    })
}

/// What a real-server chain's last rule does.
enum Target {
    Dnat(IpAddr, u16),
    Redirect(u16),
    Fwd(IpAddr),
    Accept,
}

fn target(chain: &str, rules: &Rules) -> Result<Target, BackendError> {
    let last = rules
        .last()
        .and_then(|(_, e)| e.last())
        .ok_or_else(|| err(format!("chain {chain} is empty")))?;
    let addr_of = |v: &Value| -> Option<IpAddr> { v.get("addr")?.as_str()?.parse().ok() };
    let port_of = |v: &Value| -> u16 {
        v.get("port")
            .and_then(as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0)
    };
    if let Some(d) = last.get("dnat") {
        let a = addr_of(d).ok_or_else(|| err(format!("chain {chain}: dnat {d}")))?;
        return Ok(Target::Dnat(a, port_of(d)));
    }
    if let Some(r) = last.get("redirect") {
        return Ok(Target::Redirect(port_of(r)));
    }
    if let Some(f) = last.get("fwd") {
        let a = addr_of(f).ok_or_else(|| err(format!("chain {chain}: fwd {f}")))?;
        return Ok(Target::Fwd(a));
    }
    if last.get("accept").is_some() {
        return Ok(Target::Accept);
    }
    Err(err(format!(
        "chain {chain}: unexpected final statement {last}"
    )))
}

/// Whether a rule matches against a named set (`… @set goto …`): a DR flow
/// lookup, which leads established flows to their server whatever its
/// weight, so it says nothing about scheduling.
fn looks_up_a_set(exprs: &[Value]) -> bool {
    exprs.iter().any(|e| {
        e.get("match")
            .and_then(|m| m.get("right"))
            .and_then(Value::as_str)
            .is_some_and(|r| r.starts_with('@'))
    })
}

/// Every `goto` target of a chain's scheduling rules, verdict maps
/// included.
fn scheduled_targets(rules: &Rules) -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(t) = m
                    .get("goto")
                    .and_then(|g| g.get("target"))
                    .and_then(Value::as_str)
                {
                    out.insert(t.to_string());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for (_, exprs) in rules.iter().filter(|(_, e)| !looks_up_a_set(e)) {
        for e in exprs {
            walk(e, &mut out);
        }
    }
    out
}

/// Names of the chains, sets and maps in a `nft -j list table` output.
pub fn existing_objects(json: &str) -> Result<Existing, BackendError> {
    let doc: Value =
        serde_json::from_str(json).map_err(|e| err(format!("nft JSON output: {e}")))?;
    let items = doc
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| err("nft JSON output has no \"nftables\" array"))?;
    let mut ex = Existing::default();
    for item in items {
        if let Some(v) = item.get("chain") {
            ex.chains.insert(str_field(v, "name")?);
        } else if let Some(v) = item.get("set") {
            ex.sets.insert(str_field(v, "name")?);
        } else if let Some(v) = item.get("map") {
            ex.maps.insert(str_field(v, "name")?);
        }
    }
    Ok(ex)
}

/// The items of table `name` in an `nft -j list ruleset FAMILY` output,
/// as `nft -j list table` would give them; `None` when there is no such
/// table.
pub(crate) fn one_table(json: &str, name: &str) -> Result<Option<String>, BackendError> {
    let mut doc: Value =
        serde_json::from_str(json).map_err(|e| err(format!("nft JSON output: {e}")))?;
    let items = doc
        .get_mut("nftables")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| err("nft JSON output has no \"nftables\" array"))?;
    let mut found = false;
    items.retain(|item| {
        if let Some(t) = item.get("table") {
            let ours = t.get("name").and_then(Value::as_str) == Some(name);
            found |= ours;
            return ours;
        }
        match item.as_object().and_then(|o| o.values().next()) {
            Some(inner) if item.get("metainfo").is_none() => {
                inner.get("table").and_then(Value::as_str) == Some(name)
            }
            _ => true,
        }
    });
    Ok(found.then(|| doc.to_string()))
}

/// `terse` (an `nft -t -j list table` output, maps without elements) with
/// each map replaced by its full listing from `maps` (`nft -j list map`
/// outputs).
pub(crate) fn with_maps(terse: &str, maps: &[String]) -> Result<String, BackendError> {
    let mut full: BTreeMap<String, Value> = BTreeMap::new();
    for json in maps {
        let doc: Value =
            serde_json::from_str(json).map_err(|e| err(format!("nft JSON output: {e}")))?;
        for item in doc
            .get("nftables")
            .and_then(Value::as_array)
            .ok_or_else(|| err("nft JSON output has no \"nftables\" array"))?
        {
            if let Some(map) = item.get("map") {
                full.insert(str_field(map, "name")?, item.clone());
            }
        }
    }
    let mut doc: Value =
        serde_json::from_str(terse).map_err(|e| err(format!("nft JSON output: {e}")))?;
    let items = doc
        .get_mut("nftables")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| err("nft JSON output has no \"nftables\" array"))?;
    for item in items.iter_mut() {
        let Some(map) = item.get("map") else { continue };
        let name = str_field(map, "name")?;
        *item = full
            .remove(&name)
            .ok_or_else(|| err(format!("no listing of map {name}")))?;
    }
    Ok(doc.to_string())
}

/// Reads the services of one of keel's tables (`nft -j list table` output).
pub fn parse_listing(json: &str) -> Result<Table, BackendError> {
    let l = listing(json)?;
    let mut services = Vec::new();
    for (map, elems) in &l.maps {
        let is_dispatch = map.starts_with("svc") || map.starts_with("dr");
        if !is_dispatch {
            continue;
        }
        for (key, chain) in elems {
            let key = service_key(map, key)?;
            if *chain != service_chain(&key) {
                return Err(err(format!(
                    "map {map}: {key} leads to chain {chain}, expected {}",
                    service_chain(&key)
                )));
            }
            let rules = l
                .chains
                .get(chain)
                .ok_or_else(|| err(format!("map {map} names missing chain {chain}")))?;
            let text = first_comment(rules, "keel vs ")
                .ok_or_else(|| err(format!("chain {chain} lacks keel's service comment")))?;
            let (scheduler, persistence) = parse_service_comment(chain, text)?;
            let mut svc = VirtualService::new(key, scheduler);
            svc.persistence = persistence;
            let prefix = format!("{chain}/rs-");
            for (dchain, drules) in l.chains.range(prefix.clone()..) {
                if !dchain.starts_with(&prefix) {
                    break;
                }
                let text = first_comment(drules, "keel rs ").ok_or_else(|| {
                    err(format!("chain {dchain} lacks keel's real-server comment"))
                })?;
                let d = parse_dest_comment(dchain, text)?;
                if *dchain != dest_chain(chain, d.key()) {
                    return Err(err(format!("chain {dchain} describes {}", d.key())));
                }
                check_target(dchain, &d, target(dchain, drules)?)?;
                svc.destinations.push(d);
            }
            let scheduled = scheduled_targets(rules);
            let live: BTreeSet<String> = svc
                .destinations
                .iter()
                .filter(|d| d.weight > 0)
                .map(|d| dest_chain(chain, d.key()))
                .collect();
            // Every scheduled server must have weight; not every one with
            // weight need be scheduled (fewer slots than servers, or one
            // persistence group for all clients).
            if !scheduled.is_subset(&live) || (scheduled.is_empty() && !live.is_empty()) {
                return Err(err(format!(
                    "chain {chain} schedules {scheduled:?} but the servers with weight are {live:?}"
                )));
            }
            services.push(svc);
        }
    }
    Ok(Table { services }.normalized())
}

fn check_target(chain: &str, d: &Destination, t: Target) -> Result<(), BackendError> {
    let ok = match (d.method, t) {
        (Method::Nat, Target::Dnat(a, p)) => a == d.addr && p == d.port,
        (Method::Nat, Target::Redirect(p)) => p == d.port,
        (Method::Dr, Target::Fwd(a)) => a == d.addr,
        (Method::Dr, Target::Accept) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "chain {chain}: rules do not forward to {}",
            d.key()
        )))
    }
}

/// Merges the services read from several tables (inet and netdev).
pub fn merge(tables: impl IntoIterator<Item = Table>) -> Table {
    Table {
        services: tables.into_iter().flat_map(|t| t.services).collect(),
    }
    .normalized()
}
