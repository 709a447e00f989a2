//! Canonical keepalived.conf text for a [`Config`].
//!
//! The output is plain keepalived syntax (one statement per line, four-space
//! indentation, scripts always quoted) that keepalived and keel both read
//! back to the same model: `build(parse(to_keepalived_conf(c))) == c`.
//! Values keel derives (defaults, inherited global settings) are written
//! only where they differ from what would be derived again.

use crate::keywords::{self, Ctx};
use crate::model::*;
use std::fmt::Write as _;
use std::time::Duration;

mod lvs;

use lvs::vsg_words;

/// Write `cfg` as keepalived.conf text.
pub fn to_keepalived_conf(cfg: &Config) -> String {
    let mut p = Printer::default();
    p.global_defs(&cfg.global_defs);
    for s in &cfg.vrrp_scripts {
        p.vrrp_script(s);
    }
    for t in &cfg.track_files {
        p.track_file(t);
    }
    for t in &cfg.track_processes {
        p.track_process(t);
    }
    for t in &cfg.track_groups {
        p.open(Ctx::Top, "track_group", std::slice::from_ref(&t.name));
        p.list("group", t.group.iter().map(|g| vec![g.clone()]));
        p.close();
    }
    for b in &cfg.bfd_instances {
        p.bfd(b);
    }
    for g in &cfg.garp_groups {
        p.open(Ctx::Top, "garp_group", &[]);
        if let Some(t) = g.garp_interval {
            p.line(Ctx::GarpGroup, "garp_interval", &[secs(t)]);
        }
        if let Some(t) = g.gna_interval {
            p.line(Ctx::GarpGroup, "gna_interval", &[secs(t)]);
        }
        p.list("interfaces", g.interfaces.iter().map(|i| vec![i.clone()]));
        p.close();
    }
    if !cfg.linkbeat_interfaces.is_empty() {
        p.list(
            "linkbeat_interfaces",
            cfg.linkbeat_interfaces.iter().map(|l| {
                std::iter::once(l.interface.clone())
                    .chain(l.kind.clone())
                    .collect()
            }),
        );
    }
    if !cfg.interface_up_down_delays.is_empty() {
        p.list(
            "interface_up_down_delays",
            cfg.interface_up_down_delays
                .iter()
                .map(|l| vec![l.interface.clone(), secs(l.down), secs(l.up)]),
        );
    }
    if !cfg.static_ipaddress.is_empty() {
        p.list(
            "static_ipaddress",
            cfg.static_ipaddress.iter().map(vip_words),
        );
    }
    if !cfg.static_routes.is_empty() {
        p.list("static_routes", cfg.static_routes.iter().map(route_words));
    }
    if !cfg.static_rules.is_empty() {
        p.list("static_rules", cfg.static_rules.iter().map(rule_words));
    }
    for vi in &cfg.vrrp_instances {
        p.vrrp_instance(vi, &cfg.global_defs);
    }
    for g in &cfg.sync_groups {
        p.sync_group(g);
    }
    if let Some(s) = &cfg.ssl {
        p.open(Ctx::Top, "SSL", &[]);
        for (k, v) in [
            ("password", &s.password),
            ("ca", &s.ca),
            ("certificate", &s.certificate),
            ("key", &s.key),
        ] {
            if let Some(v) = v {
                p.line(Ctx::Ssl, k, std::slice::from_ref(v));
            }
        }
        p.close();
    }
    for g in &cfg.virtual_server_groups {
        p.list_named(
            "virtual_server_group",
            &g.name,
            g.entries.iter().map(vsg_words),
        );
    }
    for vs in &cfg.virtual_servers {
        p.virtual_server(vs);
    }
    for r in &cfg.other {
        p.raw(Ctx::Top, r);
    }
    p.out
}

#[derive(Default)]
struct Printer {
    out: String,
    depth: usize,
}

/// Seconds as keepalived writes timers: `1`, `0.5`, `0.01`.
fn secs(d: Duration) -> String {
    let micros = d.as_micros();
    let whole = micros / 1_000_000;
    let frac = micros % 1_000_000;
    if frac == 0 {
        whole.to_string()
    } else {
        let f = format!("{frac:06}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
}

fn needs_quotes(w: &str) -> bool {
    w.is_empty()
        || w.chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '{' | '}' | '#' | '!' | '\\' | '$'))
}

fn quote(w: &str) -> String {
    let mut s = String::with_capacity(w.len() + 2);
    s.push('"');
    for c in w.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            _ => s.push(c),
        }
    }
    s.push('"');
    s
}

fn b2s(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

impl Printer {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
    }

    /// Words of a statement; an argument that is itself a keyword of `ctx`
    /// is quoted so it cannot be read back as a new statement.
    fn words(&mut self, ctx: Ctx, kw: &str, args: &[String]) {
        self.indent();
        self.out.push_str(kw);
        for a in args {
            self.out.push(' ');
            if needs_quotes(a) || keywords::lookup(ctx, a).is_some() {
                self.out.push_str(&quote(a));
            } else {
                self.out.push_str(a);
            }
        }
    }

    fn line(&mut self, ctx: Ctx, kw: &str, args: &[String]) {
        self.words(ctx, kw, args);
        self.out.push('\n');
    }

    fn flag(&mut self, ctx: Ctx, kw: &str, on: bool) {
        if on {
            self.line(ctx, kw, &[]);
        }
    }

    fn opt(&mut self, ctx: Ctx, kw: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.line(ctx, kw, std::slice::from_ref(v));
        }
    }

    fn opt_bool(&mut self, ctx: Ctx, kw: &str, v: Option<bool>) {
        if let Some(v) = v {
            self.line(ctx, kw, &[b2s(v)]);
        }
    }

    fn open(&mut self, ctx: Ctx, kw: &str, args: &[String]) {
        self.words(ctx, kw, args);
        self.out.push_str(" {\n");
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str("}\n");
        if self.depth == 0 {
            self.out.push('\n');
        }
    }

    fn list_named(&mut self, kw: &str, name: &str, lines: impl Iterator<Item = Vec<String>>) {
        self.open(Ctx::Top, kw, &[name.to_string()]);
        for l in lines {
            if let Some((first, rest)) = l.split_first() {
                let head = if needs_quotes(first) {
                    quote(first)
                } else {
                    first.clone()
                };
                self.line(Ctx::List, &head, rest);
            }
        }
        self.close();
    }

    /// A data block (addresses, names, routes): one entry per line.
    fn list(&mut self, kw: &str, lines: impl Iterator<Item = Vec<String>>) {
        self.open(Ctx::Top, kw, &[]);
        for l in lines {
            if let Some((first, rest)) = l.split_first() {
                let head = if needs_quotes(first) {
                    quote(first)
                } else {
                    first.clone()
                };
                self.line(Ctx::List, &head, rest);
            }
        }
        self.close();
    }

    fn script(&mut self, kw: &str, s: &Option<Script>) {
        if let Some(s) = s {
            self.indent();
            self.out.push_str(kw);
            if !s.command.is_empty() {
                self.out.push(' ');
                self.out.push_str(&quote(&s.command));
            }
            if let Some(u) = &s.user {
                let _ = write!(self.out, " {}", quote(u));
                if let Some(g) = &s.group {
                    let _ = write!(self.out, " {}", quote(g));
                }
            }
            self.out.push('\n');
        }
    }

    fn raw(&mut self, ctx: Ctx, r: &RawStatement) {
        match &r.block {
            Some(children) => {
                self.open(ctx, &r.keyword, &r.args);
                // A raw block's own keywords are unknown to keel: no context.
                for c in children {
                    self.raw(Ctx::List, c);
                }
                self.close();
            }
            None => self.line(ctx, &r.keyword, &r.args),
        }
    }

    fn global_defs(&mut self, g: &GlobalDefs) {
        let d = GlobalDefs::default();
        if *g == d {
            return;
        }
        let c = Ctx::GlobalDefs;
        self.open(Ctx::Top, "global_defs", &[]);
        self.opt(c, "router_id", &g.router_id);
        if !g.notification_email.is_empty() {
            self.list(
                "notification_email",
                g.notification_email.iter().map(|e| vec![e.clone()]),
            );
        }
        self.opt(c, "notification_email_from", &g.notification_email_from);
        if let Some(s) = &g.smtp_server {
            let mut a = vec![s.host.clone()];
            if s.port != 25 {
                a.push(s.port.to_string());
            }
            self.line(c, "smtp_server", &a);
        }
        self.opt(c, "smtp_helo_name", &g.smtp_helo_name);
        if g.smtp_connect_timeout != d.smtp_connect_timeout {
            self.line(c, "smtp_connect_timeout", &[secs(g.smtp_connect_timeout)]);
        }
        self.opt_bool(c, "smtp_alert", g.smtp_alert);
        self.opt_bool(c, "smtp_alert_vrrp", g.smtp_alert_vrrp);
        self.opt_bool(c, "smtp_alert_checker", g.smtp_alert_checker);
        self.flag(c, "no_email_faults", g.no_email_faults);
        self.flag(c, "checker_log_all_failures", g.checker_log_all_failures);
        if let Some(u) = &g.script_user {
            let mut a = vec![u.user.clone()];
            a.extend(u.group.clone());
            self.line(c, "script_user", &a);
        }
        self.flag(c, "enable_script_security", g.enable_script_security);
        self.opt(c, "default_interface", &g.default_interface);
        if g.dynamic_interfaces {
            let a: Vec<String> = if g.dynamic_interfaces_allow_if_changes {
                vec!["allow_if_changes".into()]
            } else {
                vec![]
            };
            self.line(c, "dynamic_interfaces", &a);
        }
        if g.vrrp_mcast_group4 != d.vrrp_mcast_group4 {
            self.line(c, "vrrp_mcast_group4", &[g.vrrp_mcast_group4.to_string()]);
        }
        if g.vrrp_mcast_group6 != d.vrrp_mcast_group6 {
            self.line(c, "vrrp_mcast_group6", &[g.vrrp_mcast_group6.to_string()]);
        }
        if g.vrrp_version != d.vrrp_version {
            self.line(c, "vrrp_version", &[g.vrrp_version.to_string()]);
        }
        self.flag(c, "vrrp_strict", g.vrrp_strict);
        self.flag(c, "vrrp_check_unicast_src", g.vrrp_check_unicast_src);
        self.flag(c, "vrrp_skip_check_adv_addr", g.vrrp_skip_check_adv_addr);
        self.flag(c, "vrrp_lower_prio_no_advert", g.vrrp_lower_prio_no_advert);
        self.flag(
            c,
            "vrrp_higher_prio_send_advert",
            g.vrrp_higher_prio_send_advert,
        );
        self.flag(c, "vrrp_owner_ignore_adverts", g.vrrp_owner_ignore_adverts);
        for (kw, v, dv) in [
            (
                "vrrp_garp_master_delay",
                g.vrrp_garp_master_delay,
                d.vrrp_garp_master_delay,
            ),
            (
                "vrrp_garp_master_refresh",
                g.vrrp_garp_master_refresh,
                d.vrrp_garp_master_refresh,
            ),
            (
                "vrrp_garp_lower_prio_delay",
                g.vrrp_garp_lower_prio_delay,
                g.vrrp_garp_master_delay,
            ),
            (
                "vrrp_garp_interval",
                g.vrrp_garp_interval,
                d.vrrp_garp_interval,
            ),
            (
                "vrrp_gna_interval",
                g.vrrp_gna_interval,
                d.vrrp_gna_interval,
            ),
        ] {
            if v != dv {
                self.line(c, kw, &[secs(v)]);
            }
        }
        for (kw, v, dv) in [
            (
                "vrrp_garp_master_repeat",
                g.vrrp_garp_master_repeat,
                d.vrrp_garp_master_repeat,
            ),
            (
                "vrrp_garp_master_refresh_repeat",
                g.vrrp_garp_master_refresh_repeat,
                d.vrrp_garp_master_refresh_repeat,
            ),
            (
                "vrrp_garp_lower_prio_repeat",
                g.vrrp_garp_lower_prio_repeat,
                g.vrrp_garp_master_repeat,
            ),
            (
                "vrrp_down_timer_adverts",
                g.vrrp_down_timer_adverts,
                d.vrrp_down_timer_adverts,
            ),
        ] {
            if v != dv {
                self.line(c, kw, &[v.to_string()]);
            }
        }
        self.flag(c, "vrrp_min_garp", g.vrrp_min_garp);
        if let Some(x) = &g.vrrp_garp_extra_if {
            self.garp_extra_if(c, "vrrp_garp_extra_if", x);
        }
        if let Some(t) = g.vrrp_startup_delay {
            self.line(c, "vrrp_startup_delay", &[secs(t)]);
        }
        for (kw, f) in [
            ("notify_fifo", &g.notify_fifo),
            ("vrrp_notify_fifo", &g.vrrp_notify_fifo),
            ("lvs_notify_fifo", &g.lvs_notify_fifo),
        ] {
            if let Some(f) = f {
                let mut a = vec![f.path.clone()];
                a.extend(f.user.clone());
                a.extend(f.group.clone());
                self.line(c, kw, &a);
                self.script(&format!("{kw}_script"), &f.script);
            }
        }
        if let Some(s) = &g.lvs_sync_daemon {
            let mut a = vec![s.interface.clone()];
            if let Some(i) = &s.instance {
                a.extend(["inst".to_string(), i.clone()]);
            }
            for (k, v) in [
                ("id", s.id.map(|v| v.to_string())),
                ("maxlen", s.maxlen.map(|v| v.to_string())),
                ("port", s.port.map(|v| v.to_string())),
                ("ttl", s.ttl.map(|v| v.to_string())),
                ("group", s.group.map(|v| v.to_string())),
            ] {
                if let Some(v) = v {
                    a.extend([k.to_string(), v]);
                }
            }
            self.line(c, "lvs_sync_daemon", &a);
        }
        if let Some(t) = &g.lvs_timeouts {
            let mut a = Vec::new();
            for (k, v) in [("tcp", t.tcp), ("tcpfin", t.tcpfin), ("udp", t.udp)] {
                if let Some(v) = v {
                    a.extend([k.to_string(), v.to_string()]);
                }
            }
            if !a.is_empty() {
                self.line(c, "lvs_timeouts", &a);
            }
        }
        self.flag(c, "lvs_flush", g.lvs_flush);
        if let Some(b) = g.keel_lvs_backend {
            self.line(c, "keel_lvs_backend", &[b.as_str().to_string()]);
        }
        for (kw, v) in [
            ("max_auto_priority", g.max_auto_priority),
            ("vrrp_priority", g.vrrp_priority),
            ("checker_priority", g.checker_priority),
            ("bfd_priority", g.bfd_priority),
        ] {
            if let Some(v) = v {
                self.line(c, kw, &[v.to_string()]);
            }
        }
        self.flag(c, "vrrp_no_swap", g.vrrp_no_swap);
        self.flag(c, "checker_no_swap", g.checker_no_swap);
        self.opt(c, "snmp_socket", &g.snmp_socket);
        self.flag(c, "enable_traps", g.enable_traps);
        self.flag(c, "enable_snmp_vrrp", g.enable_snmp_vrrp);
        self.flag(c, "enable_snmp_checker", g.enable_snmp_checker);
        self.flag(c, "enable_snmp_rfc", g.enable_snmp_rfc);
        self.flag(c, "enable_snmp_rfcv2", g.enable_snmp_rfcv2);
        self.flag(c, "enable_snmp_rfcv3", g.enable_snmp_rfcv3);
        self.flag(c, "enable_dbus", g.enable_dbus);
        self.opt(c, "dbus_service_name", &g.dbus_service_name);
        for r in &g.other {
            self.raw(c, r);
        }
        self.close();
    }

    fn garp_extra_if(&mut self, c: Ctx, kw: &str, x: &GarpExtraIf) {
        let mut a = vec![secs(x.delay)];
        if x.all {
            a.push("all".into());
        }
        self.line(c, kw, &a);
    }

    fn weight_line(&mut self, c: Ctx, w: i64, reverse: bool) {
        let mut a = vec![w.to_string()];
        if reverse {
            a.push("reverse".into());
        }
        self.line(c, "weight", &a);
    }

    fn vrrp_script(&mut self, s: &VrrpScript) {
        let c = Ctx::VrrpScript;
        self.open(Ctx::Top, "vrrp_script", std::slice::from_ref(&s.name));
        if !s.script.command.is_empty() {
            self.script(
                "script",
                &Some(Script {
                    command: s.script.command.clone(),
                    user: None,
                    group: None,
                }),
            );
        }
        self.line(c, "interval", &[secs(s.interval)]);
        self.line(c, "timeout", &[secs(s.timeout)]);
        self.weight_line(c, i64::from(s.weight), s.reverse);
        self.line(c, "rise", &[s.rise.to_string()]);
        self.line(c, "fall", &[s.fall.to_string()]);
        if let Some(u) = &s.script.user {
            let mut a = vec![u.clone()];
            a.extend(s.script.group.clone());
            self.line(c, "user", &a);
        }
        self.flag(c, "init_fail", s.init_fail);
        self.close();
    }

    fn track_file(&mut self, t: &TrackFile) {
        let c = Ctx::TrackFile;
        self.open(Ctx::Top, "track_file", std::slice::from_ref(&t.name));
        self.opt(c, "file", &t.file);
        self.weight_line(c, t.weight, t.reverse);
        if let Some(i) = &t.init_file {
            let mut a = vec![i.value.to_string()];
            if i.overwrite {
                a.push("overwrite".into());
            }
            self.line(c, "init_file", &a);
        }
        self.close();
    }

    fn track_process(&mut self, t: &TrackProcess) {
        let c = Ctx::TrackProcess;
        self.open(
            Ctx::Top,
            "vrrp_track_process",
            std::slice::from_ref(&t.name),
        );
        if !t.process.is_empty() {
            self.line(c, "process", &t.process);
        }
        match t.param_match {
            Some(ParamMatch::Exact) => self.line(c, "param_match", &[]),
            Some(ParamMatch::Partial) => self.line(c, "param_match", &["partial".into()]),
            Some(ParamMatch::Initial) => self.line(c, "param_match", &["initial".into()]),
            None => {}
        }
        self.weight_line(c, i64::from(t.weight), t.reverse);
        self.line(c, "quorum", &[t.quorum.to_string()]);
        if let Some(m) = t.quorum_max {
            self.line(c, "quorum_max", &[m.to_string()]);
        }
        if let Some(d) = t.fork_delay {
            self.line(c, "fork_delay", &[secs(d)]);
        }
        if let Some(d) = t.terminate_delay {
            self.line(c, "terminate_delay", &[secs(d)]);
        }
        self.flag(c, "full_command", t.full_command);
        self.close();
    }

    fn bfd(&mut self, b: &BfdInstance) {
        let c = Ctx::Bfd;
        let ms = |d: Duration| d.as_millis().to_string();
        self.open(Ctx::Top, "bfd_instance", std::slice::from_ref(&b.name));
        if let Some(a) = b.neighbor_ip {
            self.line(c, "neighbor_ip", &[a.to_string()]);
        }
        if let Some(a) = b.source_ip {
            self.line(c, "source_ip", &[a.to_string()]);
        }
        self.line(c, "min_rx", &[ms(b.min_rx)]);
        self.line(c, "min_tx", &[ms(b.min_tx)]);
        self.line(c, "idle_tx", &[ms(b.idle_tx)]);
        self.line(c, "multiplier", &[b.multiplier.to_string()]);
        self.flag(c, "passive", b.passive);
        self.line(c, "ttl", &[b.ttl.to_string()]);
        self.line(c, "hoplimit", &[b.hoplimit.to_string()]);
        if let Some(h) = b.max_hops {
            self.line(c, "max_hops", &[h.to_string()]);
        }
        self.flag(c, "multihop", b.multihop);
        self.weight_line(c, i64::from(b.weight), b.reverse);
        self.flag(c, "vrrp", b.vrrp);
        self.flag(c, "checker", b.checker);
        self.close();
    }

    fn tracking(&mut self, t: &Tracking) {
        for (kw, list) in [
            ("track_interface", &t.interfaces),
            ("track_script", &t.scripts),
            ("track_file", &t.files),
            ("track_process", &t.processes),
            ("track_bfd", &t.bfds),
        ] {
            if list.is_empty() {
                continue;
            }
            self.list(
                kw,
                list.iter().map(|r| {
                    let mut l = vec![r.name.clone()];
                    if let Some(w) = r.weight {
                        l.extend(["weight".to_string(), w.to_string()]);
                        if r.reverse {
                            l.push("reverse".into());
                        }
                    }
                    l
                }),
            );
        }
    }

    fn notify(&mut self, n: &Notify) {
        self.script("notify_master", &n.master);
        self.script("notify_backup", &n.backup);
        self.script("notify_fault", &n.fault);
        self.script("notify_stop", &n.stop);
        self.script("notify_deleted", &n.deleted);
        self.script("notify", &n.generic);
        self.script("notify_master_rx_lower_pri", &n.master_rx_lower_pri);
    }

    fn sync_group(&mut self, g: &SyncGroup) {
        let c = Ctx::SyncGroup;
        self.open(Ctx::Top, "vrrp_sync_group", std::slice::from_ref(&g.name));
        self.list("group", g.group.iter().map(|m| vec![m.clone()]));
        self.tracking(&g.track);
        self.notify(&g.notify);
        self.opt_bool(c, "smtp_alert", g.smtp_alert);
        self.flag(c, "global_tracking", g.global_tracking);
        self.flag(
            c,
            "sync_group_tracking_weight",
            g.sync_group_tracking_weight,
        );
        self.opt_bool(c, "notify_priority_changes", g.notify_priority_changes);
        self.close();
    }

    fn vrrp_instance(&mut self, vi: &VrrpInstance, g: &GlobalDefs) {
        let c = Ctx::VrrpInstance;
        self.open(Ctx::Top, "vrrp_instance", std::slice::from_ref(&vi.name));
        if vi.state_configured {
            let s = match vi.state {
                InitialState::Master => "MASTER",
                InitialState::Backup => "BACKUP",
            };
            self.line(c, "state", &[s.into()]);
        }
        self.opt(c, "interface", &vi.interface);
        self.opt(c, "vrf", &vi.vrf);
        self.line(c, "virtual_router_id", &[vi.virtual_router_id.to_string()]);
        self.line(c, "priority", &[vi.priority.to_string()]);
        self.line(c, "advert_int", &[secs(vi.advert_int)]);
        self.line(c, "version", &[vi.version.to_string()]);
        if let Some(a) = &vi.authentication {
            self.open(c, "authentication", &[]);
            let t = match a.auth_type {
                AuthType::Pass => "PASS",
                AuthType::Ah => "AH",
            };
            self.line(Ctx::Authentication, "auth_type", &[t.into()]);
            self.line(
                Ctx::Authentication,
                "auth_pass",
                std::slice::from_ref(&a.auth_pass),
            );
            self.close();
        }
        if let Some(h) = &vi.auth_hmac {
            self.open(c, "auth_hmac", &[]);
            for r in h {
                self.raw(Ctx::AuthHmac, r);
            }
            self.close();
        }
        if !vi.virtual_ipaddress.is_empty() {
            self.list(
                "virtual_ipaddress",
                vi.virtual_ipaddress.iter().map(vip_words),
            );
        }
        if !vi.virtual_ipaddress_excluded.is_empty() {
            self.list(
                "virtual_ipaddress_excluded",
                vi.virtual_ipaddress_excluded.iter().map(vip_words),
            );
        }
        self.flag(c, "no_virtual_ipaddress", vi.no_virtual_ipaddress);
        self.flag(c, "promote_secondaries", vi.promote_secondaries);
        if !vi.virtual_routes.is_empty() {
            self.list("virtual_routes", vi.virtual_routes.iter().map(route_words));
        }
        if !vi.virtual_rules.is_empty() {
            self.list("virtual_rules", vi.virtual_rules.iter().map(rule_words));
        }
        for (kw, a) in [
            ("mcast_src_ip", vi.mcast_src_ip),
            ("unicast_src_ip", vi.unicast_src_ip),
            ("mcast_dst_ip", vi.mcast_dst_ip),
        ] {
            if let Some(a) = a {
                self.line(c, kw, &[a.to_string()]);
            }
        }
        if !vi.unicast_peer.is_empty() {
            self.list(
                "unicast_peer",
                vi.unicast_peer.iter().map(|p| {
                    let mut l = vec![p.address.to_string()];
                    if let Some(t) = p.min_ttl {
                        l.extend(["min_ttl".to_string(), t.to_string()]);
                    }
                    if let Some(t) = p.max_ttl {
                        l.extend(["max_ttl".to_string(), t.to_string()]);
                    }
                    l
                }),
            );
        }
        if let Some(t) = vi.unicast_ttl {
            self.line(c, "unicast_ttl", &[t.to_string()]);
        }
        self.flag(c, "unicast_fault_no_peer", vi.unicast_fault_no_peer);
        self.flag(
            c,
            "check_unicast_src",
            vi.check_unicast_src && !g.vrrp_check_unicast_src,
        );
        self.flag(c, "track_src_ip", vi.track_src_ip);
        if let Some(v) = &vi.use_vmac {
            let mut a: Vec<String> = v.name.iter().cloned().collect();
            a.extend(v.options.iter().cloned());
            self.line(c, "use_vmac", &a);
        }
        self.flag(c, "use_vmac_addr", vi.use_vmac_addr);
        self.flag(c, "vmac_xmit_base", vi.vmac_xmit_base);
        if let Some(v) = &vi.use_ipvlan {
            self.line(c, "use_ipvlan", v);
        }
        self.flag(c, "nopreempt", vi.nopreempt);
        if !vi.preempt_delay.is_zero() {
            self.line(c, "preempt_delay", &[secs(vi.preempt_delay)]);
        }
        for (kw, v, dv) in [
            (
                "garp_master_delay",
                vi.garp_master_delay,
                g.vrrp_garp_master_delay,
            ),
            (
                "garp_master_refresh",
                vi.garp_master_refresh,
                g.vrrp_garp_master_refresh,
            ),
            (
                "garp_lower_prio_delay",
                vi.garp_lower_prio_delay,
                g.vrrp_garp_lower_prio_delay,
            ),
        ] {
            if v != dv {
                self.line(c, kw, &[secs(v)]);
            }
        }
        for (kw, v, dv) in [
            (
                "garp_master_repeat",
                vi.garp_master_repeat,
                g.vrrp_garp_master_repeat,
            ),
            (
                "garp_master_refresh_repeat",
                vi.garp_master_refresh_repeat,
                g.vrrp_garp_master_refresh_repeat,
            ),
            (
                "garp_lower_prio_repeat",
                vi.garp_lower_prio_repeat,
                g.vrrp_garp_lower_prio_repeat,
            ),
            (
                "down_timer_adverts",
                vi.down_timer_adverts,
                g.vrrp_down_timer_adverts,
            ),
        ] {
            if v != dv {
                self.line(c, kw, &[v.to_string()]);
            }
        }
        if vi.garp_extra_if != g.vrrp_garp_extra_if
            && let Some(x) = &vi.garp_extra_if
        {
            self.garp_extra_if(c, "garp_extra_if", x);
        }
        for (kw, v, dv) in [
            (
                "lower_prio_no_advert",
                vi.lower_prio_no_advert,
                g.vrrp_lower_prio_no_advert,
            ),
            (
                "higher_prio_send_advert",
                vi.higher_prio_send_advert,
                g.vrrp_higher_prio_send_advert,
            ),
            (
                "owner_ignore_adverts",
                vi.owner_ignore_adverts,
                g.vrrp_owner_ignore_adverts,
            ),
            (
                "skip_check_adv_addr",
                vi.skip_check_adv_addr,
                g.vrrp_skip_check_adv_addr,
            ),
            ("strict_mode", vi.strict_mode, g.vrrp_strict),
        ] {
            if v != dv {
                self.line(c, kw, &[b2s(v)]);
            }
        }
        match vi.accept {
            Some(true) => self.line(c, "accept", &[]),
            Some(false) => self.line(c, "no_accept", &[]),
            None => {}
        }
        self.flag(c, "dont_track_primary", vi.dont_track_primary);
        self.tracking(&vi.track);
        self.notify(&vi.notify);
        self.opt_bool(c, "smtp_alert", vi.smtp_alert);
        self.opt_bool(c, "notify_priority_changes", vi.notify_priority_changes);
        self.flag(c, "timer_expired_backup", vi.timer_expired_backup);
        self.flag(c, "linkbeat_use_polling", vi.linkbeat_use_polling);
        if let Some(dbg) = vi.debug {
            self.line(c, "debug", &[dbg.to_string()]);
        }
        for r in &vi.other {
            self.raw(c, r);
        }
        self.close();
    }
}

fn family(f: AddressFamily) -> &'static str {
    match f {
        AddressFamily::Inet => "inet",
        AddressFamily::Inet6 => "inet6",
    }
}

fn vip_words(v: &VirtualIp) -> Vec<String> {
    let mut w = Vec::new();
    match v.peer {
        Some(p) => {
            w.push(v.address.to_string());
            w.extend(["peer".to_string(), format!("{p}/{}", v.prefix_len)]);
        }
        None => w.push(format!("{}/{}", v.address, v.prefix_len)),
    }
    if let Some(b) = v.broadcast {
        w.extend(["brd".to_string(), b.to_string()]);
    }
    for (k, val) in [
        ("dev", &v.dev),
        ("scope", &v.scope),
        ("label", &v.label),
        ("track_group", &v.track_group),
    ] {
        if let Some(val) = val {
            w.extend([k.to_string(), val.clone()]);
        }
    }
    for (k, on) in [
        ("home", v.home),
        ("-nodad", v.nodad),
        ("mngtmpaddr", v.mngtmpaddr),
        ("noprefixroute", v.noprefixroute),
        ("autojoin", v.autojoin),
        ("no_track", v.no_track),
        ("use_vmac", v.use_vmac),
    ] {
        if on {
            w.push(k.to_string());
        }
    }
    if let Some(l) = v.preferred_lft {
        w.push("preferred_lft".into());
        w.push(if l == u32::MAX {
            "forever".into()
        } else {
            l.to_string()
        });
    }
    w
}

fn route_words(r: &Route) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(f) = r.family {
        w.push(family(f).to_string());
    }
    w.extend(r.route_type.clone());
    w.push(r.dst.clone());
    for (k, v) in [
        ("src", r.src.clone()),
        ("via", r.via.clone()),
        ("dev", r.dev.clone()),
        ("table", r.table.clone()),
        ("metric", r.metric.map(|m| m.to_string())),
        ("scope", r.scope.clone()),
        ("protocol", r.protocol.clone()),
        ("track_group", r.track_group.clone()),
    ] {
        if let Some(v) = v {
            w.extend([k.to_string(), v]);
        }
    }
    if r.onlink {
        w.push("onlink".into());
    }
    if r.no_track {
        w.push("no_track".into());
    }
    w.extend(r.options.iter().cloned());
    w
}

fn rule_words(r: &Rule) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(f) = r.family {
        w.push(family(f).to_string());
    }
    for (k, v) in [
        ("from", r.from.clone()),
        ("to", r.to.clone()),
        ("table", r.table.clone()),
        ("priority", r.priority.map(|p| p.to_string())),
        ("fwmark", r.fwmark.clone()),
        ("iif", r.iif.clone()),
        ("oif", r.oif.clone()),
        ("tos", r.tos.clone()),
        ("type", r.action.clone()),
        ("track_group", r.track_group.clone()),
    ] {
        if let Some(v) = v {
            w.extend([k.to_string(), v]);
        }
    }
    if r.no_track {
        w.push("no_track".into());
    }
    w.extend(r.options.iter().cloned());
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_format() {
        assert_eq!(secs(Duration::from_secs(60)), "60");
        assert_eq!(secs(Duration::from_millis(10)), "0.01");
        assert_eq!(secs(Duration::from_micros(1_500_001)), "1.500001");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert!(needs_quotes("[[ -f /x ]] && exit 1"));
        assert!(!needs_quotes("/bin/true"));
    }
}
