//! virtual_server_group, virtual_server, real_server and health checkers.

use super::{Stmt, list_lines, normalize};
use crate::diag::Diagnostics;
use crate::keywords::Ctx;
use crate::model::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn parse_family(t: &str) -> Option<AddressFamily> {
    match t {
        "inet" => Some(AddressFamily::Inet),
        "inet6" => Some(AddressFamily::Inet6),
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

/// `NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
fn lvs_method(st: &Stmt, d: &mut Diagnostics) -> Option<LvsMethod> {
    let m = st.arg(0)?.to_ascii_uppercase();
    let method = match m.as_str() {
        // PNAT was an old synonym of NAT.
        "NAT" | "PNAT" => LvsMethod::Nat,
        "DR" => LvsMethod::Dr,
        "TUN" => {
            let mut tunnel_type = TunnelType::Ipip;
            let mut port = None;
            let mut checksum = None;
            let mut i = 1;
            while let Some(w) = st.arg(i) {
                match w {
                    "type" => {
                        match st.arg(i + 1) {
                            Some("ipip") => tunnel_type = TunnelType::Ipip,
                            Some("gue") => tunnel_type = TunnelType::Gue,
                            Some("gre") => tunnel_type = TunnelType::Gre,
                            _ => {
                                st.error(d, "tunnel type must be ipip, gue or gre");
                                return None;
                            }
                        }
                        i += 2;
                    }
                    "port" => {
                        port = st.uint(i + 1, 1, 65535, d);
                        i += 2;
                    }
                    "nocsum" => {
                        checksum = Some(TunnelChecksum::Nocsum);
                        i += 1;
                    }
                    "csum" => {
                        checksum = Some(TunnelChecksum::Csum);
                        i += 1;
                    }
                    "remcsum" => {
                        checksum = Some(TunnelChecksum::Remcsum);
                        i += 1;
                    }
                    o => {
                        st.error(d, format!("unknown tunnel option '{o}'"));
                        return None;
                    }
                }
            }
            if tunnel_type == TunnelType::Gue && port.is_none() {
                st.error(d, "a gue tunnel needs 'port N'");
                return None;
            }
            if tunnel_type != TunnelType::Gue && port.is_some() {
                st.error(d, "'port' is only valid for gue tunnels");
                return None;
            }
            LvsMethod::Tun {
                tunnel_type,
                port,
                checksum,
            }
        }
        _ => {
            st.error(d, format!("invalid method '{m}': expected NAT, DR or TUN"));
            return None;
        }
    };
    if !matches!(method, LvsMethod::Tun { .. }) && st.args.len() > 1 {
        st.error(d, "extra words after the forwarding method");
    }
    Some(method)
}

/// Checker timing settings shared by virtual and real servers.
fn checker_default(st: &Stmt, c: &mut CheckerDefaults, d: &mut Diagnostics) -> bool {
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

/// Build a virtual server; `None` when its address line is unusable.
pub(crate) fn virtual_server(block: &Stmt, d: &mut Diagnostics) -> Option<VirtualServer> {
    let address = match (block.arg(0), block.arg(1)) {
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
    };
    let mut vs = VirtualServer {
        address,
        ip_family: None,
        delay_loop: Duration::from_secs(60),
        lvs_sched: String::new(),
        sched_flags: SchedFlags::default(),
        lvs_method: LvsMethod::Nat,
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
    };
    let mut sorry_inhibit = false;
    let mut sorry_method = None;
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
            "lvs_sched" => {
                let s = st.string(0).unwrap_or_default();
                const KNOWN: &[&str] = &[
                    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr",
                    "sed", "nq", "twos",
                ];
                if !KNOWN.contains(&s.as_str()) {
                    st.warn(
                        d,
                        format!("unknown scheduler '{s}' (the kernel may not have it)"),
                    );
                }
                vs.lvs_sched = s;
            }
            "hashed" => vs.sched_flags.hashed = true,
            "ops" => vs.sched_flags.ops = true,
            "flag-1" | "sh-fallback" | "mh-fallback" => vs.sched_flags.flag_1 = true,
            "flag-2" | "sh-port" | "mh-port" => vs.sched_flags.flag_2 = true,
            "flag-3" => vs.sched_flags.flag_3 = true,
            "lvs_method" => set(&mut vs.lvs_method, lvs_method(&st, d)),
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
                let g = st.string(0).unwrap_or_default();
                let ok = g.parse::<Ipv4Addr>().is_ok() || g.parse::<u8>().is_ok_and(|n| n <= 128);
                if ok {
                    vs.persistence_granularity = Some(g);
                } else {
                    st.error(
                        d,
                        format!("invalid granularity '{g}': expected a netmask or prefix length"),
                    );
                }
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
            "sorry_server_lvs_method" => sorry_method = lvs_method(&st, d),
            "real_server" => rs_blocks.push(st),
            _ => vs.other.push(st.raw()),
        }
    }
    if let Some(s) = &mut vs.sorry_server {
        s.inhibit = sorry_inhibit;
        s.lvs_method = sorry_method;
    }
    if vs.lvs_sched.is_empty() {
        vs.lvs_sched = "wlc".to_string();
    }
    let by_address = !matches!(vs.address, VsAddress::Fwmark { .. });
    match (&vs.address, vs.protocol) {
        (VsAddress::Fwmark { .. }, Some(_)) => {
            block.warn(d, "protocol is ignored for a fwmark virtual server");
            vs.protocol = None;
        }
        (VsAddress::Ip { .. }, None) => {
            // keepalived's fallback; the kernel would otherwise pick UDP too.
            block.warn(d, "no protocol set; defaulting to UDP as keepalived does");
            vs.protocol = Some(Protocol::Udp);
        }
        _ => {}
    }
    if let VsAddress::Ip { port: 0, .. } = vs.address
        && vs.persistence_timeout.is_none()
    {
        block.warn(
            d,
            "port 0 is only valid for persistent services; setting persistence_timeout 360",
        );
        vs.persistence_timeout = Some(360);
    }
    if vs.sched_flags.ops
        && by_address
        && vs.protocol != Some(Protocol::Udp)
        && matches!(vs.address, VsAddress::Ip { .. })
    {
        block.error(d, "one-packet scheduling (ops) requires UDP; ops cleared");
        vs.sched_flags.ops = false;
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
            "lvs_method" => rs.lvs_method = lvs_method(&st, d).or(rs.lvs_method),
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
    for st in checker_blocks {
        rs.checkers.extend(checker(&st, vs, &rs, d));
    }
    Some(rs)
}

/// Options of a checker block before defaults are resolved.
#[derive(Default)]
struct CommonDraft {
    connect_ip: Option<IpAddr>,
    connect_port: Option<u16>,
    bindto: Option<IpAddr>,
    bind_port: Option<u16>,
    bind_if: Option<String>,
    fwmark: Option<u32>,
    alpha: Option<bool>,
    log_all_failures: Option<bool>,
    timing: CheckerDefaults,
}

fn common_stmt(st: &Stmt, c: &mut CommonDraft, d: &mut Diagnostics) -> bool {
    if checker_default(st, &mut c.timing, d) {
        return true;
    }
    match st.kw {
        "connect_ip" => c.connect_ip = st.ip(0, d),
        "connect_port" => c.connect_port = st.uint(0, 0, 65535, d),
        "bindto" => c.bindto = st.ip(0, d),
        "bind_port" => c.bind_port = st.uint(0, 1, 65535, d),
        "bind_if" => c.bind_if = st.string(0),
        "fwmark" => c.fwmark = st.uint(0, 0, i64::from(u32::MAX), d),
        "alpha" => c.alpha = st.flag(0, d),
        "log_all_failures" => c.log_all_failures = st.flag(0, d),
        _ => return false,
    }
    true
}

/// Resolve checker timing: checker, then real server, then virtual server,
/// then the checker type's default.
fn resolve(c: CommonDraft, vs: &VirtualServer, rs: &RealServer, kind: &str) -> CheckerCommon {
    let pick = |f: fn(&CheckerDefaults) -> Option<Duration>| {
        f(&c.timing)
            .or(f(&rs.checker_defaults))
            .or(f(&vs.checker_defaults))
    };
    let delay_loop = pick(|t| t.delay_loop).unwrap_or(vs.delay_loop);
    let retry = c
        .timing
        .retry
        .or(rs.checker_defaults.retry)
        .or(vs.checker_defaults.retry)
        .unwrap_or(match kind {
            "DNS_CHECK" => 3,
            "MISC_CHECK" => 0,
            _ => 1,
        });
    let delay_before_retry = pick(|t| t.delay_before_retry).unwrap_or(match kind {
        "HTTP_GET" | "SSL_GET" => Duration::from_secs(3),
        "DNS_CHECK" => delay_loop,
        _ => Duration::from_secs(1),
    });
    CheckerCommon {
        connect_ip: c.connect_ip,
        connect_port: c.connect_port,
        bindto: c.bindto,
        bind_port: c.bind_port,
        bind_if: c.bind_if,
        fwmark: c.fwmark,
        connect_timeout: pick(|t| t.connect_timeout).unwrap_or(Duration::from_secs(5)),
        retry,
        delay_before_retry,
        warmup: pick(|t| t.warmup).unwrap_or(delay_loop),
        delay_loop,
        alpha: c.alpha,
        log_all_failures: c.log_all_failures,
    }
}

fn checker(st: &Stmt, vs: &VirtualServer, rs: &RealServer, d: &mut Diagnostics) -> Vec<Checker> {
    let kind = st.kw;
    let ctx = match kind {
        "HTTP_GET" | "SSL_GET" => Ctx::HttpCheck,
        "TCP_CHECK" => Ctx::TcpCheck,
        "SMTP_CHECK" => Ctx::SmtpCheck,
        "DNS_CHECK" => Ctx::DnsCheck,
        "MISC_CHECK" => Ctx::MiscCheck,
        "UDP_CHECK" => Ctx::UdpCheck,
        "PING_CHECK" => Ctx::PingCheck,
        "FILE_CHECK" => Ctx::FileCheck,
        "BFD_CHECK" => Ctx::BfdCheck,
        _ => return Vec::new(),
    };
    let stmts = normalize(ctx, st.children(), d);
    let mut c = CommonDraft::default();
    let mut rest = Vec::new();
    for s in stmts {
        if !matches!(ctx, Ctx::FileCheck | Ctx::BfdCheck) && common_stmt(&s, &mut c, d) {
            continue;
        }
        rest.push(s);
    }
    match kind {
        "HTTP_GET" | "SSL_GET" => {
            let http = http_check(&rest, d);
            if http.urls.is_empty() {
                st.error(d, "no url; checker ignored");
                return Vec::new();
            }
            let common = resolve(c, vs, rs, kind);
            vec![if kind == "HTTP_GET" {
                Checker::HttpGet { common, http }
            } else {
                Checker::SslGet { common, http }
            }]
        }
        "TCP_CHECK" => vec![Checker::Tcp {
            common: resolve(c, vs, rs, kind),
        }],
        "PING_CHECK" => vec![Checker::Ping {
            common: resolve(c, vs, rs, kind),
        }],
        "SMTP_CHECK" => {
            let mut helo_name = None;
            let mut hosts = Vec::new();
            for s in &rest {
                match s.kw {
                    "helo_name" => helo_name = s.string(0),
                    "host" => {
                        // Legacy: each host block is a checker of its own.
                        let mut h = CommonDraft {
                            timing: c.timing.clone(),
                            ..CommonDraft::default()
                        };
                        for hs in normalize(Ctx::SmtpHost, s.children(), d) {
                            common_stmt(&hs, &mut h, d);
                        }
                        hosts.push(h);
                    }
                    _ => {}
                }
            }
            if hosts.is_empty() {
                hosts.push(c);
            } else {
                st.warn(
                    d,
                    "'host' blocks are deprecated: use one SMTP_CHECK per host",
                );
            }
            hosts
                .into_iter()
                .map(|h| Checker::Smtp {
                    common: resolve(h, vs, rs, kind),
                    smtp: SmtpCheck {
                        helo_name: helo_name.clone(),
                    },
                })
                .collect()
        }
        "DNS_CHECK" => {
            let mut dns = DnsCheck {
                query_type: "SOA".to_string(),
                name: ".".to_string(),
            };
            for s in &rest {
                match s.kw {
                    "type" => {
                        let t = s.arg(0).unwrap_or_default().to_ascii_uppercase();
                        if matches!(
                            t.as_str(),
                            "A" | "NS" | "CNAME" | "SOA" | "MX" | "TXT" | "AAAA"
                        ) {
                            dns.query_type = t;
                        } else {
                            s.error(d, format!("unknown DNS type '{t}'"));
                        }
                    }
                    "name" => set(&mut dns.name, s.string(0)),
                    _ => {}
                }
            }
            vec![Checker::Dns {
                common: resolve(c, vs, rs, kind),
                dns,
            }]
        }
        "MISC_CHECK" => {
            let mut path = None;
            let mut misc_timeout = None;
            let mut misc_dynamic = false;
            let mut user = None;
            for s in &rest {
                match s.kw {
                    "misc_path" => path = s.command_line(),
                    "misc_timeout" => misc_timeout = s.timer_pos(0, d),
                    "misc_dynamic" => misc_dynamic = true,
                    "user" => user = Some(super::user_group(&s.args)),
                    _ => {}
                }
            }
            let Some(mut misc_path) = path else {
                st.error(d, "no misc_path; checker ignored");
                return Vec::new();
            };
            if let Some((u, g)) = user {
                misc_path.user = u;
                misc_path.group = g;
            }
            vec![Checker::Misc {
                common: resolve(c, vs, rs, kind),
                misc: MiscCheck {
                    misc_path,
                    misc_timeout,
                    misc_dynamic,
                },
            }]
        }
        "UDP_CHECK" => {
            let mut udp = UdpCheck {
                payload: None,
                require_reply: false,
                require_reply_pattern: None,
                min_reply_length: None,
                max_reply_length: None,
            };
            let hex = |t: &str, wild: bool| {
                !t.is_empty()
                    && t.chars()
                        .all(|c| c.is_ascii_hexdigit() || (wild && matches!(c, 'X' | 'x')))
            };
            for s in &rest {
                match s.kw {
                    "payload" => {
                        let p = s.string(0).unwrap_or_default();
                        if hex(&p, false) {
                            udp.payload = Some(p);
                        } else {
                            s.error(d, "payload must be hexadecimal");
                        }
                    }
                    "require_reply" => {
                        udp.require_reply = true;
                        if let Some(p) = s.arg(0) {
                            if hex(p, true) {
                                udp.require_reply_pattern = Some(p.to_string());
                            } else {
                                s.error(d, "reply pattern must be hexadecimal (X for any nibble)");
                            }
                        }
                    }
                    "min_reply_length" => udp.min_reply_length = s.uint(0, 0, 65535, d),
                    "max_reply_length" => udp.max_reply_length = s.uint(0, 0, 65535, d),
                    _ => {}
                }
            }
            vec![Checker::Udp {
                common: resolve(c, vs, rs, kind),
                udp,
            }]
        }
        "FILE_CHECK" => {
            let mut file = FileCheck {
                track_file: String::new(),
                weight: None,
                reverse: false,
            };
            for s in &rest {
                match s.kw {
                    "track_file" => set(&mut file.track_file, s.string(0)),
                    "weight" => {
                        if let Some((w, r)) = s.weight(253, d) {
                            file.weight = Some(w);
                            file.reverse = r;
                        }
                    }
                    _ => {}
                }
            }
            if file.track_file.is_empty() {
                st.error(d, "FILE_CHECK has no track_file; ignored");
                return Vec::new();
            }
            vec![Checker::File { file }]
        }
        "BFD_CHECK" => {
            let mut bfd = BfdCheck {
                name: String::new(),
                alpha: None,
            };
            for s in &rest {
                match s.kw {
                    "name" => set(&mut bfd.name, s.string(0)),
                    "alpha" => bfd.alpha = s.flag(0, d),
                    _ => {}
                }
            }
            if bfd.name.is_empty() {
                st.error(d, "BFD_CHECK has no name; ignored");
                return Vec::new();
            }
            vec![Checker::Bfd { bfd }]
        }
        _ => Vec::new(),
    }
}

fn http_check(stmts: &[Stmt], d: &mut Diagnostics) -> HttpCheck {
    let mut h = HttpCheck {
        http_protocol: "1.0".to_string(),
        virtualhost: None,
        fast_recovery: false,
        enable_sni: false,
        sni_name: None,
        tls_compliant: false,
        urls: Vec::new(),
    };
    for st in stmts {
        match st.kw {
            "http_protocol" => {
                let p = st.string(0).unwrap_or_default();
                if matches!(p.as_str(), "1.0" | "1.0C" | "1.0c" | "1.1") {
                    h.http_protocol = p.to_ascii_uppercase();
                } else {
                    st.error(
                        d,
                        format!("invalid http_protocol '{p}': expected 1.0, 1.0C or 1.1"),
                    );
                }
            }
            "virtualhost" => h.virtualhost = st.string(0),
            "fast_recovery" => set(&mut h.fast_recovery, st.flag(0, d)),
            "enable_sni" => set(&mut h.enable_sni, st.flag(0, d)),
            "sni_name" => h.sni_name = st.string(0),
            "tls_compliant" => set(&mut h.tls_compliant, st.flag(0, d)),
            "url" => h.urls.extend(url(st, d)),
            _ => {}
        }
    }
    h
}

fn status_range(t: &str) -> Option<StatusRange> {
    let (a, b) = t.split_once('-').unwrap_or((t, t));
    let from: u16 = a.parse().ok()?;
    let to: u16 = b.parse().ok()?;
    ((100..=599).contains(&from) && (from..=599).contains(&to)).then_some(StatusRange { from, to })
}

fn url(block: &Stmt, d: &mut Diagnostics) -> Option<Url> {
    let mut u = Url {
        path: String::new(),
        digest: None,
        status_code: Vec::new(),
        virtualhost: None,
        regex: None,
        regex_no_match: false,
        regex_options: Vec::new(),
        regex_min_offset: None,
        regex_max_offset: None,
        regex_stack: None,
        tls_compliant: false,
    };
    for st in normalize(Ctx::Url, block.children(), d) {
        match st.kw {
            "path" => set(&mut u.path, st.string(0)),
            "digest" => {
                let dg = st.string(0).unwrap_or_default();
                if dg.len() == 32 && dg.chars().all(|c| c.is_ascii_hexdigit()) {
                    u.digest = Some(dg.to_ascii_lowercase());
                } else {
                    st.error(d, "digest must be 32 hexadecimal digits (MD5)");
                }
            }
            "status_code" => {
                for (i, a) in st.args.iter().enumerate() {
                    match status_range(&a.text) {
                        Some(r) => u.status_code.push(r),
                        None => st.error(
                            d,
                            format!(
                                "invalid status code '{}' (argument {}): expected 100-599 or a range",
                                a.text,
                                i + 1
                            ),
                        ),
                    }
                }
            }
            "virtualhost" => u.virtualhost = st.string(0),
            "regex" => u.regex = st.string(0),
            "regex_no_match" => u.regex_no_match = true,
            "regex_options" => u.regex_options = st.args.iter().map(|w| w.text.clone()).collect(),
            "regex_min_offset" => u.regex_min_offset = st.uint(0, 0, i64::MAX, d),
            "regex_max_offset" => u.regex_max_offset = st.uint(0, 0, i64::MAX, d),
            "regex_stack" => {
                if let (Some(a), Some(b)) = (st.uint(0, 0, i64::MAX, d), st.uint(1, 0, i64::MAX, d))
                {
                    u.regex_stack = Some((a, b));
                }
            }
            "tls_compliant" => set(&mut u.tls_compliant, st.flag(0, d)),
            _ => {}
        }
    }
    if u.path.is_empty() {
        block.error(d, "url without path; ignored");
        return None;
    }
    if u.status_code.is_empty() && u.digest.is_none() {
        u.status_code.push(StatusRange { from: 200, to: 299 });
    }
    Some(u)
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
