//! virtual_server_group, virtual_server, real_server and health checkers.

use super::{Stmt, list_lines, normalize};
use crate::diag::Diagnostics;
use crate::keywords::Ctx;
use crate::model::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

mod checker;
mod service;

use checker::checker;

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn parse_family(t: &str) -> Option<Family> {
    match t {
        "inet" => Some(Family::Inet),
        "inet6" => Some(Family::Inet6),
        _ => None,
    }
}

/// `A.B.C.D-E`, `A-B` (full addresses) or `A/len`: first and last address.
pub(crate) fn parse_range(text: &str) -> Option<(IpAddr, IpAddr)> {
    if let Some((a, len)) = text.split_once('/') {
        let a: IpAddr = a.parse().ok()?;
        let len: u32 = len.parse().ok()?;
        return match a {
            IpAddr::V4(v) if len <= 32 => {
                let host = u32::MAX.checked_shr(len).unwrap_or(0);
                let n = u32::from(v);
                Some((
                    Ipv4Addr::from(n & !host).into(),
                    Ipv4Addr::from(n | host).into(),
                ))
            }
            IpAddr::V6(v) if len <= 128 => {
                let host = u128::MAX.checked_shr(len).unwrap_or(0);
                let n = u128::from(v);
                Some((
                    Ipv6Addr::from(n & !host).into(),
                    Ipv6Addr::from(n | host).into(),
                ))
            }
            _ => None,
        };
    }
    let Some((a, b)) = text.split_once('-') else {
        let a: IpAddr = text.parse().ok()?;
        return Some((a, a));
    };
    let first: IpAddr = a.parse().ok()?;
    let last = match (first, b.parse::<IpAddr>()) {
        (_, Ok(l)) if l.is_ipv4() == first.is_ipv4() => l,
        (IpAddr::V4(f), Err(_)) => {
            let end: u8 = b.parse().ok()?;
            let o = f.octets();
            Ipv4Addr::new(o[0], o[1], o[2], end).into()
        }
        (IpAddr::V6(f), Err(_)) => {
            let end = u16::from_str_radix(b, 16).ok()?;
            let mut s = f.segments();
            s[7] = end;
            Ipv6Addr::from(s).into()
        }
        _ => return None,
    };
    let ordered = match (first, last) {
        (IpAddr::V4(f), IpAddr::V4(l)) => f <= l,
        (IpAddr::V6(f), IpAddr::V6(l)) => f <= l,
        _ => false,
    };
    ordered.then_some((first, last))
}

pub(crate) fn vs_group(block: &Stmt, d: &mut Diagnostics) -> VirtualServerGroup {
    let mut g = VirtualServerGroup {
        name: block.string(0).unwrap_or_default(),
        entries: Vec::new(),
    };
    for line in list_lines(block, d) {
        let head = &line[0];
        if head.text == "fwmark" {
            let mark = line.get(1).and_then(|w| w.text.parse::<u32>().ok());
            let family = match line.get(2) {
                None => Some(None),
                Some(w) => parse_family(&w.text).map(Some),
            };
            match (mark, family, line.len() <= 3) {
                (Some(mark), Some(family), true) => {
                    g.entries.push(VsgEntry::Fwmark { mark, family })
                }
                _ => d.error(&head.span, "fwmark", "expected 'fwmark N [inet|inet6]'"),
            }
            continue;
        }
        let Some((first, last)) = parse_range(&head.text) else {
            d.error(
                &head.span,
                &head.text,
                "expected an address, range (A.B.C.D-E) or prefix, then an optional port",
            );
            continue;
        };
        let port = match line.get(1) {
            None => None,
            Some(w) => match w.text.parse::<u16>() {
                Ok(p) => Some(p),
                Err(_) => {
                    d.error(&w.span, &head.text, format!("invalid port '{}'", w.text));
                    continue;
                }
            },
        };
        if line.len() > 2 {
            d.error(
                &line[2].span,
                &head.text,
                "too many words on virtual_server_group line",
            );
            continue;
        }
        g.entries.push(VsgEntry::Range { first, last, port });
    }
    g
}

/// Checker timing settings shared by virtual and real servers.
pub(super) fn checker_default(st: &Stmt, c: &mut CheckerDefaults, d: &mut Diagnostics) -> bool {
    match st.kw {
        "connect_timeout" => c.connect_timeout = st.timer_pos(0, d).or(c.connect_timeout),
        "retry" => c.retry = st.uint(0, 0, i64::from(u32::MAX), d).or(c.retry),
        "delay_before_retry" => c.delay_before_retry = st.timer(0, d).or(c.delay_before_retry),
        "warmup" => c.warmup = st.timer(0, d).or(c.warmup),
        "delay_loop" => c.delay_loop = st.timer_pos(0, d).or(c.delay_loop),
        _ => return false,
    }
    true
}

/// `virtual_server IP [PORT] | fwmark N | group NAME`.
fn vs_address(block: &Stmt, d: &mut Diagnostics) -> Option<VsAddress> {
    Some(match (block.arg(0), block.arg(1)) {
        (Some("fwmark"), Some(_)) => VsAddress::Fwmark {
            mark: block.uint(1, 1, i64::from(u32::MAX), d)?,
        },
        (Some("group"), Some(name)) => VsAddress::Group {
            name: name.to_string(),
        },
        (Some(a), port) => {
            let Ok(address) = a.parse::<IpAddr>() else {
                block.error(d, format!("invalid virtual server address '{a}'"));
                return None;
            };
            let port = match port {
                Some(_) => block.uint(1, 0, 65535, d)?,
                None => 0,
            };
            VsAddress::Ip { address, port }
        }
        (None, _) => return None,
    })
}

/// A virtual server with keepalived's defaults.
fn new_vs(address: VsAddress) -> VirtualServer {
    VirtualServer {
        address,
        ip_family: None,
        delay_loop: Duration::from_secs(60),
        lvs_sched: Scheduler::Wlc,
        ops: false,
        lvs_method: Method::Nat,
        persistence_timeout: None,
        persistence_granularity: None,
        persistence_engine: None,
        protocol: None,
        ha_suspend: false,
        virtualhost: None,
        snmp_name: None,
        smtp_alert: None,
        alpha: false,
        omega: false,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        sorry_server: None,
        inhibit_on_failure: false,
        checker_defaults: CheckerDefaults::default(),
        real_servers: Vec::new(),
        other: Vec::new(),
    }
}

/// Build a virtual server; `None` when its address line is unusable.
pub(crate) fn virtual_server(block: &Stmt, d: &mut Diagnostics) -> Option<VirtualServer> {
    let mut vs = new_vs(vs_address(block, d)?);
    let mut sorry_inhibit = false;
    let mut sorry_method = None;
    let mut sched = None;
    let mut method = None;
    // flag-1 and flag-2 may come before lvs_sched.
    let mut flags = (false, false);
    let mut rs_blocks = Vec::new();
    for st in normalize(Ctx::VirtualServer, block.children(), d) {
        // delay_loop is the virtual server's own setting (and the fallback
        // for its checkers, via `vs.delay_loop`).
        if st.kw != "delay_loop" && checker_default(&st, &mut vs.checker_defaults, d) {
            continue;
        }
        match st.kw {
            "ip_family" => match st.arg(0).and_then(parse_family) {
                Some(f) => vs.ip_family = Some(f),
                None => st.error(d, "expected inet or inet6"),
            },
            "delay_loop" => set(&mut vs.delay_loop, st.timer_pos(0, d)),
            "lvs_sched" => sched = service::scheduler(&st, d).or(sched),
            "ops" => vs.ops = true,
            "flag-1" | "sh-fallback" | "mh-fallback" => flags.0 = true,
            "flag-2" | "sh-port" | "mh-port" => flags.1 = true,
            "lvs_method" => method = service::lvs_method(&st, d).or(method),
            "persistence_engine" => vs.persistence_engine = st.string(0),
            "persistence_timeout" => {
                vs.persistence_timeout = match st.arg(0) {
                    // keepalived's default persistence: 6 minutes.
                    None => Some(360),
                    Some(_) => st
                        .uint(0, 1, i64::from(u32::MAX), d)
                        .or(vs.persistence_timeout),
                }
            }
            "persistence_granularity" => {
                vs.persistence_granularity =
                    service::granularity(&st, d).or(vs.persistence_granularity)
            }
            "protocol" => match st.arg(0).map(str::to_ascii_uppercase).as_deref() {
                Some("TCP") => vs.protocol = Some(Protocol::Tcp),
                Some("UDP") => vs.protocol = Some(Protocol::Udp),
                Some("SCTP") => vs.protocol = Some(Protocol::Sctp),
                _ => st.error(d, "invalid protocol: expected TCP, UDP or SCTP"),
            },
            "ha_suspend" => vs.ha_suspend = true,
            "smtp_alert" => vs.smtp_alert = st.flag(0, d),
            "virtualhost" => vs.virtualhost = st.string(0),
            "snmp_name" => vs.snmp_name = st.string(0),
            "alpha" => vs.alpha = true,
            "omega" => vs.omega = true,
            "quorum_up" => vs.quorum_up = st.script(),
            "quorum_down" => vs.quorum_down = st.script(),
            "quorum" => set(&mut vs.quorum, st.uint(0, 1, i64::from(u32::MAX), d)),
            "hysteresis" => set(&mut vs.hysteresis, st.uint(0, 0, i64::from(u32::MAX), d)),
            "inhibit_on_failure" => set(&mut vs.inhibit_on_failure, st.flag(0, d)),
            "sorry_server" => {
                let port = match st.arg(1) {
                    Some(_) => st.uint(1, 0, 65535, d),
                    None => None,
                };
                if let Some(address) = st.ip(0, d) {
                    vs.sorry_server = Some(SorryServer {
                        address,
                        port,
                        inhibit: false,
                        lvs_method: None,
                    });
                }
            }
            "sorry_server_inhibit" => sorry_inhibit = true,
            "sorry_server_lvs_method" => sorry_method = service::lvs_method(&st, d),
            "real_server" => rs_blocks.push(st),
            _ => vs.other.push(st.raw()),
        }
    }
    if let Some(s) = &mut vs.sorry_server {
        s.inhibit = sorry_inhibit;
        s.lvs_method = sorry_method;
    }
    service::finish_vs(block, &mut vs, (sched, method), d);
    vs.lvs_sched = vs.lvs_sched.with_flags(flags.0, flags.1);
    if let Some(s) = &vs.sorry_server {
        let port = service::server_port(
            block,
            &vs,
            "sorry server",
            (s.address, s.port, s.lvs_method),
            d,
        );
        if let Some(s) = &mut vs.sorry_server {
            s.port = port;
        }
    }
    if vs.ops && matches!(vs.address, VsAddress::Ip { .. }) && vs.protocol != Some(Protocol::Udp) {
        block.error(d, "one-packet scheduling (ops) requires UDP; ops cleared");
        vs.ops = false;
    }
    if vs.ha_suspend && matches!(vs.address, VsAddress::Fwmark { .. }) {
        block.error(d, "ha_suspend cannot be used with fwmark; cleared");
        vs.ha_suspend = false;
    }
    for st in rs_blocks {
        if let Some(rs) = real_server(&st, &vs, d) {
            vs.real_servers.push(rs);
        }
    }
    Some(vs)
}

fn real_server(block: &Stmt, vs: &VirtualServer, d: &mut Diagnostics) -> Option<RealServer> {
    let address = block.ip(0, d)?;
    let port = match block.arg(1) {
        Some(_) => Some(block.uint(1, 0, 65535, d)?),
        None => None,
    };
    let mut rs = RealServer {
        address,
        port,
        weight: 1,
        lvs_method: None,
        inhibit_on_failure: None,
        notify_up: None,
        notify_down: None,
        uthreshold: None,
        lthreshold: None,
        smtp_alert: None,
        alpha: None,
        virtualhost: None,
        snmp_name: None,
        checker_defaults: CheckerDefaults::default(),
        checkers: Vec::new(),
    };
    let mut checker_blocks = Vec::new();
    for st in normalize(Ctx::RealServer, block.children(), d) {
        if checker_default(&st, &mut rs.checker_defaults, d) {
            continue;
        }
        match st.kw {
            "weight" => set(&mut rs.weight, st.uint(0, 0, 65535, d)),
            "lvs_method" => rs.lvs_method = service::lvs_method(&st, d).or(rs.lvs_method),
            "uthreshold" => rs.uthreshold = st.uint(0, 0, i64::from(u32::MAX), d),
            "lthreshold" => rs.lthreshold = st.uint(0, 0, i64::from(u32::MAX), d),
            "inhibit_on_failure" => rs.inhibit_on_failure = st.flag(0, d),
            "notify_up" => rs.notify_up = st.script(),
            "notify_down" => rs.notify_down = st.script(),
            "alpha" => rs.alpha = st.flag(0, d),
            "smtp_alert" => rs.smtp_alert = st.flag(0, d),
            "virtualhost" => rs.virtualhost = st.string(0),
            "snmp_name" => rs.snmp_name = st.string(0),
            _ => checker_blocks.push(st),
        }
    }
    if let (Some(u), Some(l)) = (rs.uthreshold, rs.lthreshold)
        && l > u
    {
        block.error(d, "lthreshold is higher than uthreshold");
    }
    rs.port = service::server_port(
        block,
        vs,
        "real server",
        (rs.address, rs.port, rs.lvs_method),
        d,
    );
    for st in checker_blocks {
        rs.checkers.extend(checker(&st, vs, &rs, d));
    }
    Some(rs)
}

/// virtual_server references to groups and duplicate services;
/// `vs_spans[i]` is where `cfg.virtual_servers[i]` was written.
pub(crate) fn cross_check(cfg: &Config, vs_spans: &[crate::ast::Span], d: &mut Diagnostics) {
    let mut seen: Vec<(&VsAddress, Option<Protocol>)> = Vec::new();
    for (vs, span) in cfg.virtual_servers.iter().zip(vs_spans) {
        if let VsAddress::Group { name } = &vs.address
            && cfg.virtual_server_group(name).is_none()
        {
            d.error(
                span,
                "virtual_server",
                format!("virtual_server_group '{name}' is not defined"),
            );
        }
        let key = (&vs.address, vs.protocol);
        if seen.contains(&key) {
            d.error(
                span,
                "virtual_server",
                "duplicate virtual_server (same address, port and protocol)",
            );
        }
        seen.push(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |s: &str| parse_range(s).map(|(a, b)| (a.to_string(), b.to_string()));
        assert_eq!(
            r("192.0.2.1-10"),
            Some(("192.0.2.1".into(), "192.0.2.10".into()))
        );
        assert_eq!(
            r("192.0.2.250-192.0.3.10"),
            Some(("192.0.2.250".into(), "192.0.3.10".into()))
        );
        assert_eq!(
            r("192.0.2.8/29"),
            Some(("192.0.2.8".into(), "192.0.2.15".into()))
        );
        assert_eq!(
            r("2001:db8::1-ff"),
            Some(("2001:db8::1".into(), "2001:db8::ff".into()))
        );
        assert_eq!(r("192.0.2.10-1"), None);
    }
}
