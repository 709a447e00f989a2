//! global_defs, bfd_instance, SSL and the small top-level blocks.

use super::{Stmt, list_lines, normalize, parse_secs};
use crate::diag::Diagnostics;
use crate::keywords::Ctx;
use crate::model::*;
use std::time::Duration;

/// Build `global_defs` from every `global_defs` block (later ones override).
pub(crate) fn global_defs<'a>(
    blocks: impl Iterator<Item = &'a Stmt>,
    diags: &mut Diagnostics,
) -> GlobalDefs {
    let mut g = GlobalDefs::default();
    let mut lower_delay = None;
    let mut lower_repeat = None;
    for block in blocks {
        for st in normalize(Ctx::GlobalDefs, block.children(), diags) {
            global_stmt(&st, &mut g, &mut lower_delay, &mut lower_repeat, diags);
        }
    }
    // The lower-priority GARP settings follow the master ones unless set.
    g.vrrp_garp_lower_prio_delay = lower_delay.unwrap_or(g.vrrp_garp_master_delay);
    g.vrrp_garp_lower_prio_repeat = lower_repeat.unwrap_or(g.vrrp_garp_master_repeat);
    g
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn fifo(st: &Stmt) -> Option<NotifyFifo> {
    let (user, group) = super::user_group(&st.args[1..]);
    Some(NotifyFifo {
        path: st.string(0)?,
        user,
        group,
        script: None,
    })
}

fn fifo_script(st: &Stmt, slot: &mut Option<NotifyFifo>, diags: &mut Diagnostics) {
    match slot {
        Some(f) => f.script = st.script(),
        None => st.error(diags, "needs the matching fifo to be set first"),
    }
}

fn global_stmt(
    st: &Stmt,
    g: &mut GlobalDefs,
    lower_delay: &mut Option<Duration>,
    lower_repeat: &mut Option<u32>,
    diags: &mut Diagnostics,
) {
    let d = diags;
    match st.kw {
        "router_id" => g.router_id = st.string(0),
        "notification_email" => {
            for line in list_lines(st, d) {
                g.notification_email
                    .extend(line.into_iter().map(|w| w.text));
            }
            super::consistency::notification_email(st, g, d);
        }
        "notification_email_from" => g.notification_email_from = st.string(0),
        "smtp_server" => {
            let port = match st.arg(1) {
                Some(_) => st.uint(1, 1, 65535, d),
                None => Some(25),
            };
            if let (Some(host), Some(port)) = (st.string(0), port) {
                g.smtp_server = Some(SmtpServer { host, port });
            }
        }
        "smtp_helo_name" => g.smtp_helo_name = st.string(0),
        "smtp_connect_timeout" => set(&mut g.smtp_connect_timeout, st.timer_pos(0, d)),
        "smtp_alert" => g.smtp_alert = st.flag(0, d),
        "smtp_alert_vrrp" => g.smtp_alert_vrrp = st.flag(0, d),
        "smtp_alert_checker" => g.smtp_alert_checker = st.flag(0, d),
        "no_email_faults" => g.no_email_faults = true,
        "checker_log_all_failures" => set(&mut g.checker_log_all_failures, st.flag(0, d)),
        "script_user" => {
            let (user, group) = super::user_group(&st.args);
            if let Some(user) = user {
                g.script_user = Some(ScriptUser { user, group });
            }
        }
        "enable_script_security" => g.enable_script_security = true,
        "default_interface" => g.default_interface = st.string(0),
        "dynamic_interfaces" => {
            g.dynamic_interfaces = true;
            match st.arg(0) {
                None => {}
                Some("allow_if_changes") => g.dynamic_interfaces_allow_if_changes = true,
                Some(o) => st.error(d, format!("unknown option '{o}'")),
            }
        }
        "vrrp_mcast_group4" => match st.arg(0).and_then(|t| t.parse().ok()) {
            Some(a) if std::net::Ipv4Addr::is_multicast(&a) => g.vrrp_mcast_group4 = a,
            _ => st.error(d, "expected an IPv4 multicast address"),
        },
        "vrrp_mcast_group6" => match st.arg(0).and_then(|t| t.parse().ok()) {
            Some(a) if std::net::Ipv6Addr::is_multicast(&a) => g.vrrp_mcast_group6 = a,
            _ => st.error(d, "expected an IPv6 multicast address"),
        },
        "vrrp_version" => set(&mut g.vrrp_version, st.uint(0, 2, 3, d)),
        "vrrp_strict" => g.vrrp_strict = true,
        "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = true,
        "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = true,
        "vrrp_lower_prio_no_advert" => set(&mut g.vrrp_lower_prio_no_advert, st.flag(0, d)),
        "vrrp_higher_prio_send_advert" => set(&mut g.vrrp_higher_prio_send_advert, st.flag(0, d)),
        "vrrp_owner_ignore_adverts" => g.vrrp_owner_ignore_adverts = true,
        "vrrp_garp_master_delay" => set(&mut g.vrrp_garp_master_delay, st.timer(0, d)),
        "vrrp_garp_master_repeat" => set(&mut g.vrrp_garp_master_repeat, st.uint(0, 0, 65535, d)),
        "vrrp_garp_master_refresh" => set(&mut g.vrrp_garp_master_refresh, st.timer(0, d)),
        "vrrp_garp_master_refresh_repeat" => set(
            &mut g.vrrp_garp_master_refresh_repeat,
            st.uint(0, 0, 65535, d),
        ),
        "vrrp_garp_lower_prio_delay" => *lower_delay = st.timer(0, d).or(*lower_delay),
        "vrrp_garp_lower_prio_repeat" => *lower_repeat = st.uint(0, 0, 65535, d).or(*lower_repeat),
        "vrrp_garp_interval" => set(&mut g.vrrp_garp_interval, st.timer(0, d)),
        "vrrp_gna_interval" => set(&mut g.vrrp_gna_interval, st.timer(0, d)),
        "vrrp_min_garp" => set(&mut g.vrrp_min_garp, st.flag(0, d)),
        "vrrp_garp_extra_if" => g.vrrp_garp_extra_if = garp_extra_if(st, d),
        "vrrp_down_timer_adverts" => set(&mut g.vrrp_down_timer_adverts, st.uint(0, 1, 100, d)),
        "vrrp_startup_delay" => g.vrrp_startup_delay = st.timer(0, d),
        "notify_fifo" => g.notify_fifo = fifo(st),
        "vrrp_notify_fifo" => g.vrrp_notify_fifo = fifo(st),
        "lvs_notify_fifo" => g.lvs_notify_fifo = fifo(st),
        "notify_fifo_script" => fifo_script(st, &mut g.notify_fifo, d),
        "vrrp_notify_fifo_script" => fifo_script(st, &mut g.vrrp_notify_fifo, d),
        "lvs_notify_fifo_script" => fifo_script(st, &mut g.lvs_notify_fifo, d),
        "lvs_sync_daemon" => g.lvs_sync_daemon = lvs_sync_daemon(st, d),
        "lvs_timeouts" => g.lvs_timeouts = lvs_timeouts(st, d),
        "lvs_flush" => g.lvs_flush = true,
        "keel_lvs_backend" => match st.arg(0) {
            Some("auto") => g.keel_lvs_backend = Some(LvsBackendChoice::Auto),
            Some("ipvs") => g.keel_lvs_backend = Some(LvsBackendChoice::Ipvs),
            Some("nftables") => g.keel_lvs_backend = Some(LvsBackendChoice::Nftables),
            _ => st.error(d, "expected ipvs, nftables or auto"),
        },
        "max_auto_priority" => {
            g.max_auto_priority = match st.arg(0) {
                None => Some(1),
                Some(_) => st.uint(0, -1, 99, d),
            }
        }
        "vrrp_priority" => g.vrrp_priority = st.uint(0, -20, 19, d),
        "checker_priority" => g.checker_priority = st.uint(0, -20, 19, d),
        "bfd_priority" => g.bfd_priority = st.uint(0, -20, 19, d),
        "vrrp_no_swap" => g.vrrp_no_swap = true,
        "checker_no_swap" => g.checker_no_swap = true,
        "snmp_socket" => g.snmp_socket = st.string(0),
        "enable_traps" => g.enable_traps = true,
        "enable_snmp_vrrp" => g.enable_snmp_vrrp = true,
        "enable_snmp_checker" => g.enable_snmp_checker = true,
        "enable_snmp_rfc" => g.enable_snmp_rfc = true,
        "enable_snmp_rfcv2" => g.enable_snmp_rfcv2 = true,
        "enable_snmp_rfcv3" => g.enable_snmp_rfcv3 = true,
        "enable_dbus" => g.enable_dbus = true,
        "dbus_service_name" => g.dbus_service_name = st.string(0),
        "vrrp_iptables" | "vrrp_ipsets" => super::consistency::no_iptables(st, g, d),
        _ => g.other.push(st.raw()),
    }
}

/// `[vrrp_]garp_extra_if DELAY [all]`.
pub(crate) fn garp_extra_if(st: &Stmt, d: &mut Diagnostics) -> Option<GarpExtraIf> {
    let delay = st.timer(0, d)?;
    let all = match st.arg(1) {
        None => false,
        Some("all") => true,
        Some(o) => {
            st.error(d, format!("unknown option '{o}': expected 'all'"));
            return None;
        }
    };
    Some(GarpExtraIf { delay, all })
}

fn lvs_sync_daemon(st: &Stmt, d: &mut Diagnostics) -> Option<LvsSyncDaemon> {
    let mut s = LvsSyncDaemon {
        interface: st.string(0)?,
        instance: None,
        id: None,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
    };
    let mut i = 1;
    // keepalived also accepts the instance name as the second bare word.
    if let Some(w) = st.arg(1)
        && !matches!(w, "inst" | "id" | "maxlen" | "port" | "ttl" | "group")
    {
        s.instance = Some(w.to_string());
        i = 2;
    }
    while let Some(opt) = st.arg(i) {
        if st.arg(i + 1).is_none() {
            st.error(d, format!("option '{opt}' needs a value"));
            return None;
        }
        match opt {
            "inst" => s.instance = st.string(i + 1),
            "id" => s.id = st.uint(i + 1, 0, 255, d),
            "maxlen" => s.maxlen = st.uint(i + 1, 1, 65535 - 20 - 8, d),
            "port" => s.port = st.uint(i + 1, 1, 65535, d),
            "ttl" => s.ttl = st.uint(i + 1, 1, 255, d),
            "group" => s.group = st.ip(i + 1, d),
            o => {
                st.error(d, format!("unknown option '{o}'"));
                return None;
            }
        }
        i += 2;
    }
    Some(s)
}

fn lvs_timeouts(st: &Stmt, d: &mut Diagnostics) -> Option<LvsTimeouts> {
    let mut t = LvsTimeouts::default();
    let mut i = 0;
    while let Some(opt) = st.arg(i) {
        let v = if st.arg(i + 1).is_some() {
            st.uint(i + 1, 0, i64::from(u32::MAX), d)
        } else {
            st.error(d, format!("option '{opt}' needs a value"));
            None
        };
        match opt {
            "tcp" => t.tcp = v,
            "tcpfin" => t.tcpfin = v,
            "udp" => t.udp = v,
            o => st.error(
                d,
                format!("unknown option '{o}': expected tcp, tcpfin or udp"),
            ),
        }
        i += 2;
    }
    Some(t)
}

pub(crate) fn bfd_instance(block: &Stmt, d: &mut Diagnostics) -> BfdInstance {
    let mut b = BfdInstance {
        name: block.string(0).unwrap_or_default(),
        neighbor_ip: None,
        source_ip: None,
        min_rx: Duration::from_millis(10),
        min_tx: Duration::from_millis(10),
        idle_tx: Duration::from_secs(1),
        multiplier: 5,
        passive: false,
        ttl: 255,
        hoplimit: 64,
        max_hops: None,
        multihop: false,
        weight: 0,
        reverse: false,
        vrrp: false,
        checker: false,
    };
    let ms = |st: &Stmt, d: &mut Diagnostics| {
        // BFD timers are written in milliseconds.
        st.uint::<u64>(0, 1, 1_000_000, d)
            .map(Duration::from_millis)
    };
    for st in normalize(Ctx::Bfd, block.children(), d) {
        match st.kw {
            "neighbor_ip" => b.neighbor_ip = st.ip(0, d),
            "source_ip" => b.source_ip = st.ip(0, d),
            "min_rx" => set(&mut b.min_rx, ms(&st, d)),
            "min_tx" => set(&mut b.min_tx, ms(&st, d)),
            "idle_tx" => set(&mut b.idle_tx, ms(&st, d)),
            "multiplier" => set(&mut b.multiplier, st.uint(0, 1, 255, d)),
            "passive" => b.passive = true,
            "ttl" => set(&mut b.ttl, st.uint(0, 1, 255, d)),
            "hoplimit" => set(&mut b.hoplimit, st.uint(0, 1, 255, d)),
            "max_hops" => b.max_hops = st.uint(0, 0, 255, d),
            "multihop" => set(&mut b.multihop, st.flag(0, d)),
            "weight" => {
                if let Some((w, r)) = st.weight(253, d) {
                    b.weight = w as i32;
                    b.reverse = r;
                }
            }
            "vrrp" => b.vrrp = true,
            "checker" => b.checker = true,
            _ => {}
        }
    }
    if b.neighbor_ip.is_none() {
        block.error(d, "bfd_instance has no neighbor_ip");
    }
    b
}

pub(crate) fn ssl(block: &Stmt, d: &mut Diagnostics) -> SslConfig {
    let mut s = SslConfig::default();
    for st in normalize(Ctx::Ssl, block.children(), d) {
        match st.kw {
            "password" => s.password = st.string(0),
            "ca" => s.ca = st.string(0),
            "certificate" => s.certificate = st.string(0),
            "key" => s.key = st.string(0),
            _ => {}
        }
    }
    s
}

pub(crate) fn linkbeat(block: &Stmt, cfg: &mut Config, d: &mut Diagnostics) {
    for line in list_lines(block, d) {
        let kind = line.get(1).map(|w| w.text.to_ascii_uppercase());
        if let Some(k) = &kind
            && !matches!(k.as_str(), "MII" | "ETHTOOL" | "IOCTL")
        {
            d.error(
                &line[1].span,
                &line[0].text,
                "expected MII, ETHTOOL or IOCTL",
            );
            continue;
        }
        cfg.linkbeat_interfaces.push(LinkbeatInterface {
            interface: line[0].text.clone(),
            kind,
        });
    }
}

pub(crate) fn up_down_delays(block: &Stmt, cfg: &mut Config, d: &mut Diagnostics) {
    for line in list_lines(block, d) {
        let get = |i: usize| line.get(i).map(|w| parse_secs(&w.text));
        match (get(1), get(2)) {
            (Some(Some(down)), None) => cfg.interface_up_down_delays.push(InterfaceUpDownDelay {
                interface: line[0].text.clone(),
                down,
                up: Duration::ZERO,
            }),
            (Some(Some(down)), Some(Some(up))) => {
                cfg.interface_up_down_delays.push(InterfaceUpDownDelay {
                    interface: line[0].text.clone(),
                    down,
                    up,
                })
            }
            _ => d.error(
                &line[0].span,
                &line[0].text,
                "expected 'INTERFACE DOWN_DELAY [UP_DELAY]' in seconds",
            ),
        }
    }
}
