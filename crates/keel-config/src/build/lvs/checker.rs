//! Health checker blocks of a real server, with their timing resolved
//! from checker, real server, virtual server and type defaults.

use super::super::{Stmt, normalize};
use super::{checker_default, set};
use crate::diag::Diagnostics;
use crate::keywords::Ctx;
use crate::model::*;
use std::net::IpAddr;
use std::time::Duration;

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

pub(super) fn checker(
    st: &Stmt,
    vs: &VirtualServer,
    rs: &RealServer,
    d: &mut Diagnostics,
) -> Vec<Checker> {
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
        "SMTP_CHECK" => smtp_check(st, &rest, c, vs, rs, d),
        "DNS_CHECK" => dns_check(st, &rest, c, vs, rs, d),
        "MISC_CHECK" => misc_check(st, &rest, c, vs, rs, d),
        "UDP_CHECK" => udp_check(st, &rest, c, vs, rs, d),
        "FILE_CHECK" => file_check(st, &rest, d),
        "BFD_CHECK" => bfd_check(st, &rest, d),
        _ => Vec::new(),
    }
}

fn smtp_check(
    st: &Stmt,
    rest: &[Stmt],
    c: CommonDraft,
    vs: &VirtualServer,
    rs: &RealServer,
    d: &mut Diagnostics,
) -> Vec<Checker> {
    let kind = st.kw;
    let mut helo_name = None;
    let mut hosts = Vec::new();
    for s in rest {
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

fn dns_check(
    st: &Stmt,
    rest: &[Stmt],
    c: CommonDraft,
    vs: &VirtualServer,
    rs: &RealServer,
    d: &mut Diagnostics,
) -> Vec<Checker> {
    let kind = st.kw;
    let mut dns = DnsCheck {
        query_type: "SOA".to_string(),
        name: ".".to_string(),
    };
    for s in rest {
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

fn misc_check(
    st: &Stmt,
    rest: &[Stmt],
    c: CommonDraft,
    vs: &VirtualServer,
    rs: &RealServer,
    d: &mut Diagnostics,
) -> Vec<Checker> {
    let kind = st.kw;
    let mut path = None;
    let mut misc_timeout = None;
    let mut misc_dynamic = false;
    let mut user = None;
    for s in rest {
        match s.kw {
            "misc_path" => path = s.command_line(),
            "misc_timeout" => misc_timeout = s.timer_pos(0, d),
            "misc_dynamic" => misc_dynamic = true,
            "user" => user = Some(super::super::user_group(&s.args)),
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

fn udp_check(
    st: &Stmt,
    rest: &[Stmt],
    c: CommonDraft,
    vs: &VirtualServer,
    rs: &RealServer,
    d: &mut Diagnostics,
) -> Vec<Checker> {
    let kind = st.kw;
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
    for s in rest {
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

fn file_check(st: &Stmt, rest: &[Stmt], d: &mut Diagnostics) -> Vec<Checker> {
    let mut file = FileCheck {
        track_file: String::new(),
        weight: None,
        reverse: false,
    };
    for s in rest {
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

fn bfd_check(st: &Stmt, rest: &[Stmt], d: &mut Diagnostics) -> Vec<Checker> {
    let mut bfd = BfdCheck {
        name: String::new(),
        alpha: None,
    };
    for s in rest {
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
