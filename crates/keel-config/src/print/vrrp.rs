//! The VRRP part of the canonical printer: scripts, trackers, sync groups
//! and instances.

use super::*;

impl Printer {
    pub(super) fn weight_line(&mut self, c: Ctx, w: i64, reverse: bool) {
        let mut a = vec![w.to_string()];
        if reverse {
            a.push("reverse".into());
        }
        self.line(c, "weight", &a);
    }

    pub(super) fn vrrp_script(&mut self, s: &VrrpScript) {
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

    pub(super) fn track_file(&mut self, t: &TrackFile) {
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

    pub(super) fn track_process(&mut self, t: &TrackProcess) {
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

    pub(super) fn bfd(&mut self, b: &BfdInstance) {
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

    pub(super) fn tracking(&mut self, t: &Tracking) {
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

    pub(super) fn notify(&mut self, n: &Notify) {
        self.script("notify_master", &n.master);
        self.script("notify_backup", &n.backup);
        self.script("notify_fault", &n.fault);
        self.script("notify_stop", &n.stop);
        self.script("notify_deleted", &n.deleted);
        self.script("notify", &n.generic);
        self.script("notify_master_rx_lower_pri", &n.master_rx_lower_pri);
    }

    pub(super) fn sync_group(&mut self, g: &SyncGroup) {
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

    pub(super) fn vrrp_instance(&mut self, vi: &VrrpInstance, g: &GlobalDefs) {
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
        self.instance_auth_vips(c, vi);
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
        self.instance_overrides(c, vi, g);
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

    fn instance_auth_vips(&mut self, c: Ctx, vi: &VrrpInstance) {
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
    }

    /// Per-instance settings that inherit a global default: written only
    /// where they differ from what would be inherited again.
    fn instance_overrides(&mut self, c: Ctx, vi: &VrrpInstance, g: &GlobalDefs) {
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
    }
}

fn family(f: AddressFamily) -> &'static str {
    match f {
        AddressFamily::Inet => "inet",
        AddressFamily::Inet6 => "inet6",
    }
}

pub(super) fn vip_words(v: &VirtualIp) -> Vec<String> {
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

pub(super) fn route_words(r: &Route) -> Vec<String> {
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

pub(super) fn rule_words(r: &Rule) -> Vec<String> {
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
