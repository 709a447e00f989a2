//! The load balancer's part of the canonical printer: virtual servers,
//! real servers and their checkers.

use super::*;

impl Printer {
    pub(super) fn checker_defaults(&mut self, c: Ctx, d: &CheckerDefaults) {
        if let Some(t) = d.connect_timeout {
            self.line(c, "connect_timeout", &[secs(t)]);
        }
        if let Some(r) = d.retry {
            self.line(c, "retry", &[r.to_string()]);
        }
        if let Some(t) = d.delay_before_retry {
            self.line(c, "delay_before_retry", &[secs(t)]);
        }
        if let Some(t) = d.warmup {
            self.line(c, "warmup", &[secs(t)]);
        }
        if let Some(t) = d.delay_loop {
            self.line(c, "delay_loop", &[secs(t)]);
        }
    }

    pub(super) fn virtual_server(&mut self, vs: &VirtualServer) {
        let c = Ctx::VirtualServer;
        let head = match &vs.address {
            VsAddress::Ip { address, port } => {
                let mut a = vec![address.to_string()];
                if *port != 0 {
                    a.push(port.to_string());
                }
                a
            }
            VsAddress::Fwmark { mark } => vec!["fwmark".into(), mark.to_string()],
            VsAddress::Group { name } => vec!["group".into(), name.clone()],
        };
        self.open(Ctx::Top, "virtual_server", &head);
        if let Some(f) = vs.ip_family {
            self.line(c, "ip_family", &[lvs_family(f).into()]);
        }
        self.line(c, "delay_loop", &[secs(vs.delay_loop)]);
        self.line(c, "lvs_sched", &[vs.lvs_sched.name().into()]);
        let (fallback, port) = match vs.lvs_sched {
            Scheduler::Sh { fallback, port } | Scheduler::Mh { fallback, port } => (fallback, port),
            _ => (false, false),
        };
        self.flag(c, "flag-1", fallback);
        self.flag(c, "flag-2", port);
        self.flag(c, "ops", vs.ops);
        self.line(c, "lvs_method", &method_words(&vs.lvs_method));
        if let Some(t) = vs.persistence_timeout {
            self.line(c, "persistence_timeout", &[t.to_string()]);
        }
        if let Some(len) = vs.persistence_granularity {
            self.line(c, "persistence_granularity", &[granularity_text(vs, len)]);
        }
        self.opt(c, "persistence_engine", &vs.persistence_engine);
        if let Some(p) = vs.protocol {
            self.line(c, "protocol", &[p.as_str().into()]);
        }
        self.flag(c, "ha_suspend", vs.ha_suspend);
        self.opt(c, "virtualhost", &vs.virtualhost);
        self.opt(c, "snmp_name", &vs.snmp_name);
        self.opt_bool(c, "smtp_alert", vs.smtp_alert);
        self.flag(c, "alpha", vs.alpha);
        self.flag(c, "omega", vs.omega);
        self.line(c, "quorum", &[vs.quorum.to_string()]);
        self.line(c, "hysteresis", &[vs.hysteresis.to_string()]);
        self.script("quorum_up", &vs.quorum_up);
        self.script("quorum_down", &vs.quorum_down);
        if let Some(s) = &vs.sorry_server {
            let mut a = vec![s.address.to_string()];
            a.extend(s.port.map(|p| p.to_string()));
            self.line(c, "sorry_server", &a);
            self.flag(c, "sorry_server_inhibit", s.inhibit);
            if let Some(m) = &s.lvs_method {
                self.line(c, "sorry_server_lvs_method", &method_words(m));
            }
        }
        self.flag(c, "inhibit_on_failure", vs.inhibit_on_failure);
        self.checker_defaults(c, &vs.checker_defaults);
        for r in &vs.other {
            self.raw(c, r);
        }
        for rs in &vs.real_servers {
            self.real_server(rs);
        }
        self.close();
    }

    pub(super) fn real_server(&mut self, rs: &RealServer) {
        let c = Ctx::RealServer;
        let mut head = vec![rs.address.to_string()];
        head.extend(rs.port.map(|p| p.to_string()));
        self.open(Ctx::VirtualServer, "real_server", &head);
        self.line(c, "weight", &[rs.weight.to_string()]);
        if let Some(m) = &rs.lvs_method {
            self.line(c, "lvs_method", &method_words(m));
        }
        self.opt_bool(c, "inhibit_on_failure", rs.inhibit_on_failure);
        self.script("notify_up", &rs.notify_up);
        self.script("notify_down", &rs.notify_down);
        if let Some(u) = rs.uthreshold {
            self.line(c, "uthreshold", &[u.to_string()]);
        }
        if let Some(l) = rs.lthreshold {
            self.line(c, "lthreshold", &[l.to_string()]);
        }
        self.opt_bool(c, "smtp_alert", rs.smtp_alert);
        self.opt_bool(c, "alpha", rs.alpha);
        self.opt(c, "virtualhost", &rs.virtualhost);
        self.opt(c, "snmp_name", &rs.snmp_name);
        self.checker_defaults(c, &rs.checker_defaults);
        for ch in &rs.checkers {
            self.checker(ch);
        }
        self.close();
    }

    pub(super) fn common(&mut self, c: Ctx, k: &CheckerCommon, connecting: bool) {
        if connecting {
            for (kw, v) in [
                ("connect_ip", k.connect_ip.map(|a| a.to_string())),
                ("connect_port", k.connect_port.map(|a| a.to_string())),
                ("bindto", k.bindto.map(|a| a.to_string())),
                ("bind_port", k.bind_port.map(|a| a.to_string())),
                ("bind_if", k.bind_if.clone()),
                ("fwmark", k.fwmark.map(|a| a.to_string())),
            ] {
                self.opt(c, kw, &v);
            }
            self.line(c, "connect_timeout", &[secs(k.connect_timeout)]);
        }
        self.line(c, "retry", &[k.retry.to_string()]);
        self.line(c, "delay_before_retry", &[secs(k.delay_before_retry)]);
        self.line(c, "warmup", &[secs(k.warmup)]);
        self.line(c, "delay_loop", &[secs(k.delay_loop)]);
        self.opt_bool(c, "alpha", k.alpha);
        self.opt_bool(c, "log_all_failures", k.log_all_failures);
    }

    pub(super) fn checker(&mut self, ch: &Checker) {
        let kind = ch.kind();
        match ch {
            Checker::HttpGet { common, http } | Checker::SslGet { common, http } => {
                let c = Ctx::HttpCheck;
                self.open(Ctx::RealServer, kind, &[]);
                self.common(c, common, true);
                self.line(
                    c,
                    "http_protocol",
                    std::slice::from_ref(&http.http_protocol),
                );
                self.opt(c, "virtualhost", &http.virtualhost);
                self.flag(c, "fast_recovery", http.fast_recovery);
                self.flag(c, "enable_sni", http.enable_sni);
                self.opt(c, "sni_name", &http.sni_name);
                self.flag(c, "tls_compliant", http.tls_compliant);
                for u in &http.urls {
                    self.url(u);
                }
                self.close();
            }
            Checker::Tcp { common } | Checker::Ping { common } => {
                self.open(Ctx::RealServer, kind, &[]);
                self.common(Ctx::TcpCheck, common, true);
                self.close();
            }
            Checker::Smtp { common, smtp } => {
                self.open(Ctx::RealServer, kind, &[]);
                self.common(Ctx::SmtpCheck, common, true);
                self.opt(Ctx::SmtpCheck, "helo_name", &smtp.helo_name);
                self.close();
            }
            Checker::Dns { common, dns } => {
                self.open(Ctx::RealServer, kind, &[]);
                self.common(Ctx::DnsCheck, common, true);
                self.line(Ctx::DnsCheck, "type", std::slice::from_ref(&dns.query_type));
                self.line(Ctx::DnsCheck, "name", std::slice::from_ref(&dns.name));
                self.close();
            }
            Checker::Misc { common, misc } => {
                let c = Ctx::MiscCheck;
                self.open(Ctx::RealServer, kind, &[]);
                self.common(c, common, false);
                self.script(
                    "misc_path",
                    &Some(Script {
                        command: misc.misc_path.command.clone(),
                        user: None,
                        group: None,
                    }),
                );
                if let Some(t) = misc.misc_timeout {
                    self.line(c, "misc_timeout", &[secs(t)]);
                }
                self.flag(c, "misc_dynamic", misc.misc_dynamic);
                if let Some(u) = &misc.misc_path.user {
                    let mut a = vec![u.clone()];
                    a.extend(misc.misc_path.group.clone());
                    self.line(c, "user", &a);
                }
                self.close();
            }
            Checker::Udp { common, udp } => {
                let c = Ctx::UdpCheck;
                self.open(Ctx::RealServer, kind, &[]);
                self.common(c, common, true);
                self.opt(c, "payload", &udp.payload);
                if udp.require_reply {
                    let a: Vec<String> = udp.require_reply_pattern.iter().cloned().collect();
                    self.line(c, "require_reply", &a);
                }
                if let Some(n) = udp.min_reply_length {
                    self.line(c, "min_reply_length", &[n.to_string()]);
                }
                if let Some(n) = udp.max_reply_length {
                    self.line(c, "max_reply_length", &[n.to_string()]);
                }
                self.close();
            }
            Checker::File { file } => {
                let c = Ctx::FileCheck;
                self.open(Ctx::RealServer, kind, &[]);
                self.line(c, "track_file", std::slice::from_ref(&file.track_file));
                if let Some(w) = file.weight {
                    self.weight_line(c, w, file.reverse);
                }
                self.close();
            }
            Checker::Bfd { bfd } => {
                let c = Ctx::BfdCheck;
                self.open(Ctx::RealServer, kind, &[]);
                self.line(c, "name", std::slice::from_ref(&bfd.name));
                self.opt_bool(c, "alpha", bfd.alpha);
                self.close();
            }
        }
    }

    pub(super) fn url(&mut self, u: &Url) {
        let c = Ctx::Url;
        self.open(Ctx::HttpCheck, "url", &[]);
        self.line(c, "path", std::slice::from_ref(&u.path));
        self.opt(c, "digest", &u.digest);
        if !u.status_code.is_empty() {
            let codes: Vec<String> = u
                .status_code
                .iter()
                .map(|r| {
                    if r.from == r.to {
                        r.from.to_string()
                    } else {
                        format!("{}-{}", r.from, r.to)
                    }
                })
                .collect();
            self.line(c, "status_code", &codes);
        }
        self.opt(c, "virtualhost", &u.virtualhost);
        self.opt(c, "regex", &u.regex);
        self.flag(c, "regex_no_match", u.regex_no_match);
        if !u.regex_options.is_empty() {
            self.line(c, "regex_options", &u.regex_options);
        }
        if let Some(o) = u.regex_min_offset {
            self.line(c, "regex_min_offset", &[o.to_string()]);
        }
        if let Some(o) = u.regex_max_offset {
            self.line(c, "regex_max_offset", &[o.to_string()]);
        }
        if let Some((a, b)) = u.regex_stack {
            self.line(c, "regex_stack", &[a.to_string(), b.to_string()]);
        }
        self.flag(c, "tls_compliant", u.tls_compliant);
        self.close();
    }
}

fn lvs_family(f: Family) -> &'static str {
    match f {
        Family::Inet => "inet",
        Family::Inet6 => "inet6",
    }
}

/// A dotted mask for IPv4 services (what keepalived documents), the
/// prefix length for IPv6 ones.
fn granularity_text(vs: &VirtualServer, len: u8) -> String {
    if vs.is_ipv6() || len > 32 {
        return len.to_string();
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    std::net::Ipv4Addr::from(mask).to_string()
}

fn method_words(m: &Method) -> Vec<String> {
    let Method::Tun { kind, csum } = *m else {
        return vec![m.keyword().into()];
    };
    let mut w = vec!["TUN".to_string(), "type".to_string()];
    match kind {
        TunnelKind::Ipip => w.push("ipip".into()),
        TunnelKind::Gre => w.push("gre".into()),
        TunnelKind::Gue { port } => {
            w.extend(["gue".to_string(), "port".to_string(), port.to_string()]);
        }
    }
    w.push(
        match csum {
            TunnelCsum::Nocsum => "nocsum",
            TunnelCsum::Csum => "csum",
            TunnelCsum::Remcsum => "remcsum",
        }
        .into(),
    );
    w
}

pub(super) fn vsg_words(e: &VsgEntry) -> Vec<String> {
    match e {
        VsgEntry::Range { first, last, port } => {
            let mut w = vec![if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            }];
            w.extend(port.map(|p| p.to_string()));
            w
        }
        VsgEntry::Fwmark { mark, family: f } => {
            let mut w = vec!["fwmark".to_string(), mark.to_string()];
            w.extend(f.map(|f| lvs_family(f).to_string()));
            w
        }
    }
}
