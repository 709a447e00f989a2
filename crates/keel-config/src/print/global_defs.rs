//! The `global_defs` block of the canonical printer.

use super::*;

impl Printer {
    pub(super) fn global_defs(&mut self, g: &GlobalDefs) {
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
        self.global_garp(c, g, &d);
        self.global_fifos_lvs(c, g);
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

    pub(super) fn garp_extra_if(&mut self, c: Ctx, kw: &str, x: &GarpExtraIf) {
        let mut a = vec![secs(x.delay)];
        if x.all {
            a.push("all".into());
        }
        self.line(c, kw, &a);
    }

    /// Gratuitous ARP / NA timers, written where they differ from the default.
    fn global_garp(&mut self, c: Ctx, g: &GlobalDefs, d: &GlobalDefs) {
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
    }

    fn global_fifos_lvs(&mut self, c: Ctx, g: &GlobalDefs) {
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
    }
}
