//! One `vrrp_instance` block: its statements, then the rules that tie them
//! together once the whole block is read.

use super::super::{Stmt, consistency, list_lines, net, normalize};
use super::{common_stmt, name_of, set};
use crate::diag::Diagnostics;
use crate::keywords::Ctx;
use crate::model::*;
use std::net::IpAddr;
use std::time::Duration;

/// Statements whose meaning depends on others of the block, resolved in
/// [`finish`] once the whole block is read.
#[derive(Default)]
struct Pending<'a> {
    state: Option<InitialState>,
    priority: Option<u8>,
    unicast_block: bool,
    version: Option<u8>,
    vrid_seen: bool,
    advert: Option<(Duration, &'a crate::ast::Span)>,
}

/// Build one `vrrp_instance`; `None` when it cannot be used at all (no
/// virtual_router_id).
pub(crate) fn vrrp_instance(
    block: &Stmt,
    g: &GlobalDefs,
    d: &mut Diagnostics,
) -> Option<VrrpInstance> {
    let mut vi = defaults(block, g);
    let mut p = Pending::default();
    let stmts = normalize(Ctx::VrrpInstance, block.children(), d);
    for st in &stmts {
        if common_stmt(st, &mut vi.track, &mut vi.notify, &mut vi.smtp_alert, d) {
            continue;
        }
        stmt(st, &mut vi, &mut p, d);
    }
    finish(vi, p, block, g, d)
}

/// An instance before its block is read: keepalived's defaults and the
/// settings inherited from global_defs.
fn defaults(block: &Stmt, g: &GlobalDefs) -> VrrpInstance {
    VrrpInstance {
        name: name_of(block),
        state: InitialState::Backup,
        state_configured: false,
        interface: None,
        vrf: None,
        virtual_router_id: 0,
        priority: 100,
        advert_int: Duration::from_secs(1),
        version: g.vrrp_version,
        family: AddressFamily::Inet,
        authentication: None,
        auth_hmac: None,
        virtual_ipaddress: Vec::new(),
        virtual_ipaddress_excluded: Vec::new(),
        no_virtual_ipaddress: false,
        promote_secondaries: false,
        virtual_routes: Vec::new(),
        virtual_rules: Vec::new(),
        mcast_src_ip: None,
        unicast_src_ip: None,
        mcast_dst_ip: None,
        unicast_peer: Vec::new(),
        unicast_ttl: None,
        unicast_fault_no_peer: false,
        check_unicast_src: g.vrrp_check_unicast_src,
        track_src_ip: false,
        use_vmac: None,
        use_vmac_addr: false,
        vmac_xmit_base: false,
        use_ipvlan: None,
        nopreempt: false,
        preempt_delay: Duration::ZERO,
        garp_master_delay: g.vrrp_garp_master_delay,
        garp_master_repeat: g.vrrp_garp_master_repeat,
        garp_master_refresh: g.vrrp_garp_master_refresh,
        garp_master_refresh_repeat: g.vrrp_garp_master_refresh_repeat,
        garp_lower_prio_delay: g.vrrp_garp_lower_prio_delay,
        garp_lower_prio_repeat: g.vrrp_garp_lower_prio_repeat,
        garp_extra_if: g.vrrp_garp_extra_if.clone(),
        down_timer_adverts: g.vrrp_down_timer_adverts,
        lower_prio_no_advert: g.vrrp_lower_prio_no_advert,
        higher_prio_send_advert: g.vrrp_higher_prio_send_advert,
        owner_ignore_adverts: g.vrrp_owner_ignore_adverts,
        skip_check_adv_addr: g.vrrp_skip_check_adv_addr,
        strict_mode: g.vrrp_strict,
        accept: None,
        dont_track_primary: false,
        track: Tracking::default(),
        notify: Notify::default(),
        smtp_alert: None,
        notify_priority_changes: None,
        timer_expired_backup: false,
        linkbeat_use_polling: false,
        debug: None,
        sync_group: None,
        other: Vec::new(),
    }
}

fn stmt<'a>(st: &'a Stmt, vi: &mut VrrpInstance, p: &mut Pending<'a>, d: &mut Diagnostics) {
    match st.kw {
        "state" => match st.arg(0).map(str::to_ascii_uppercase).as_deref() {
            Some("MASTER") => p.state = Some(InitialState::Master),
            Some("BACKUP") => p.state = Some(InitialState::Backup),
            _ => st.error(d, "invalid state: expected MASTER or BACKUP"),
        },
        "interface" => vi.interface = st.string(0),
        "vrf" => vi.vrf = st.string(0),
        "virtual_router_id" => {
            if let Some(v) = st.uint(0, 1, 255, d) {
                vi.virtual_router_id = v;
                p.vrid_seen = true;
            }
        }
        "priority" => p.priority = st.uint(0, 1, 255, d).or(p.priority),
        "advert_int" => {
            // 0.01 s up to 255 s; the version-specific rules are applied
            // once the version is known.
            if let Some(v) = st.secs(0, Duration::from_millis(10), Duration::from_secs(255), d) {
                p.advert = Some((v, st.span()));
            }
        }
        "version" => p.version = st.uint(0, 2, 3, d).or(p.version),
        "authentication" => vi.authentication = authentication(st, d),
        "auth_hmac" => {
            // Validate keywords, keep the block verbatim.
            let stmts = normalize(Ctx::AuthHmac, st.children(), d);
            vi.auth_hmac = Some(stmts.iter().map(Stmt::raw).collect());
        }
        "virtual_ipaddress" => {
            for line in list_lines(st, d) {
                vi.virtual_ipaddress.extend(net::vips(&line, false, d));
            }
        }
        "virtual_ipaddress_excluded" => {
            for line in list_lines(st, d) {
                vi.virtual_ipaddress_excluded
                    .extend(net::vips(&line, false, d));
            }
        }
        "no_virtual_ipaddress" => vi.no_virtual_ipaddress = true,
        "promote_secondaries" => vi.promote_secondaries = true,
        "virtual_routes" => {
            for line in list_lines(st, d) {
                vi.virtual_routes.extend(net::route(&line, d));
            }
        }
        "virtual_rules" => {
            for line in list_lines(st, d) {
                vi.virtual_rules.extend(net::rule(&line, d));
            }
        }
        "mcast_src_ip" => vi.mcast_src_ip = st.ip(0, d),
        "unicast_src_ip" => vi.unicast_src_ip = st.ip(0, d),
        "mcast_dst_ip" => {
            vi.mcast_dst_ip = st.ip(0, d);
            if let Some(a) = vi.mcast_dst_ip
                && !a.is_multicast()
            {
                st.error(d, "mcast_dst_ip must be a multicast address");
                vi.mcast_dst_ip = None;
            }
        }
        "unicast_peer" => {
            p.unicast_block = true;
            vi.unicast_peer.extend(unicast_peers(st, d));
        }
        "unicast_ttl" => vi.unicast_ttl = st.uint(0, 1, 255, d),
        "unicast_fault_no_peer" => vi.unicast_fault_no_peer = true,
        "check_unicast_src" => vi.check_unicast_src = true,
        "track_src_ip" => vi.track_src_ip = true,
        "use_vmac" => {
            vi.use_vmac = Some(Vmac {
                name: st.string(0),
                options: st.args.iter().skip(1).map(|w| w.text.clone()).collect(),
            })
        }
        "use_vmac_addr" => vi.use_vmac_addr = true,
        "vmac_xmit_base" => vi.vmac_xmit_base = true,
        "use_ipvlan" => vi.use_ipvlan = Some(st.args.iter().map(|w| w.text.clone()).collect()),
        _ => other_stmt(st, vi, d),
    }
}

/// Statements that stand alone: preemption, gratuitous ARP, overrides of
/// global settings and what keel keeps verbatim.
fn other_stmt(st: &Stmt, vi: &mut VrrpInstance, d: &mut Diagnostics) {
    match st.kw {
        "nopreempt" => vi.nopreempt = true,
        "preempt" => vi.nopreempt = false,
        "preempt_delay" => set(
            &mut vi.preempt_delay,
            st.secs(0, Duration::ZERO, Duration::from_secs(1000), d),
        ),
        "garp_master_delay" => set(&mut vi.garp_master_delay, st.timer(0, d)),
        "garp_master_repeat" => set(&mut vi.garp_master_repeat, consistency::garp_repeat(st, d)),
        "garp_master_refresh" => set(&mut vi.garp_master_refresh, st.timer(0, d)),
        "garp_master_refresh_repeat" => {
            set(&mut vi.garp_master_refresh_repeat, st.uint(0, 0, 65535, d))
        }
        "garp_lower_prio_delay" => set(&mut vi.garp_lower_prio_delay, st.timer(0, d)),
        "garp_lower_prio_repeat" => set(&mut vi.garp_lower_prio_repeat, st.uint(0, 0, 65535, d)),
        "garp_extra_if" => vi.garp_extra_if = super::super::global::garp_extra_if(st, d),
        "down_timer_adverts" => set(&mut vi.down_timer_adverts, st.uint(0, 1, 100, d)),
        "lower_prio_no_advert" => set(&mut vi.lower_prio_no_advert, st.flag(0, d)),
        "higher_prio_send_advert" => set(&mut vi.higher_prio_send_advert, st.flag(0, d)),
        "owner_ignore_adverts" => set(&mut vi.owner_ignore_adverts, st.flag(0, d)),
        "skip_check_adv_addr" => set(&mut vi.skip_check_adv_addr, st.flag(0, d)),
        "strict_mode" => set(&mut vi.strict_mode, st.flag(0, d)),
        "accept" => vi.accept = Some(true),
        "no_accept" => vi.accept = Some(false),
        "dont_track_primary" => vi.dont_track_primary = true,
        "notify_priority_changes" => vi.notify_priority_changes = st.flag(0, d),
        "timer_expired_backup" => vi.timer_expired_backup = true,
        "linkbeat_use_polling" => vi.linkbeat_use_polling = true,
        "debug" => {
            vi.debug = match st.arg(0) {
                None => Some(1),
                Some(_) => st.uint(0, 0, 4, d),
            }
        }
        "lvs_sync_daemon_interface" => {
            st.warn(d, "deprecated: use lvs_sync_daemon in global_defs");
            vi.other.push(st.raw());
        }
        _ => vi.other.push(st.raw()),
    }
}

fn finish(
    mut vi: VrrpInstance,
    p: Pending<'_>,
    block: &Stmt,
    g: &GlobalDefs,
    d: &mut Diagnostics,
) -> Option<VrrpInstance> {
    let Pending {
        state,
        priority,
        unicast_block,
        version,
        vrid_seen,
        advert,
    } = p;
    if !vrid_seen {
        block.error(
            d,
            "vrrp_instance has no virtual_router_id; instance ignored",
        );
        return None;
    }
    // Family: the first VIP, else the unicast / multicast source or peers.
    vi.family = vi
        .virtual_ipaddress
        .first()
        .map(|v| family_of(&v.address))
        .or(vi.unicast_src_ip.as_ref().map(family_of))
        .or(vi.mcast_src_ip.as_ref().map(family_of))
        .or(vi.unicast_peer.first().map(|p| family_of(&p.address)))
        .unwrap_or(AddressFamily::Inet);
    for v in &vi.virtual_ipaddress {
        if family_of(&v.address) != vi.family {
            block.error(
                d,
                format!(
                    "virtual_ipaddress {} is not of the instance's address family (use virtual_ipaddress_excluded)",
                    v.address
                ),
            );
        }
    }
    vi.version = match version {
        Some(v) => v,
        None if vi.family == AddressFamily::Inet6 => 3,
        None => g.vrrp_version,
    };
    if vi.version == 2 && vi.family == AddressFamily::Inet6 && vi.strict_mode {
        block.error(
            d,
            "VRRPv2 with IPv6 is not allowed in strict mode; using version 3",
        );
        vi.version = 3;
    }
    // Priority and state follow each other when only one is written.
    vi.state_configured = state.is_some();
    vi.priority = match (priority, state) {
        (Some(p), _) => p,
        (None, Some(InitialState::Master)) => 255,
        (None, _) => 100,
    };
    vi.state = state.unwrap_or(if vi.priority == 255 {
        InitialState::Master
    } else {
        InitialState::Backup
    });
    if let Some((adv, span)) = advert {
        vi.advert_int = advert_int(adv, vi.version, span, d);
    }
    if vi.version == 3
        && let Some(_) = vi.authentication.take()
    {
        // keepalived -t: a config error (exit 5).
        block.error(
            d,
            "VRRP version 3 does not support authentication; authentication ignored",
        );
    }
    if vi.strict_mode && vi.authentication.take().is_some() {
        block.warn(
            d,
            "strict mode does not support authentication; authentication ignored",
        );
    }
    if vi.virtual_ipaddress.is_empty() && vi.strict_mode {
        block.error(d, "strict mode requires at least one virtual_ipaddress");
    }
    let has_interface = vi.interface.is_some() || g.default_interface.is_some();
    consistency::instance(&mut vi, has_interface, unicast_block, block, d);
    // keepalived clears these, so the model holds what will really happen.
    if vi.nopreempt && vi.priority == 255 {
        block.warn(
            d,
            "nopreempt is incompatible with priority 255 (address owner); cleared",
        );
        vi.nopreempt = false;
    }
    if vi.state == InitialState::Master {
        if vi.nopreempt {
            block.warn(
                d,
                "nopreempt does not work with 'state MASTER' (use 'state BACKUP' on every node); cleared",
            );
            vi.nopreempt = false;
        }
        if !vi.preempt_delay.is_zero() {
            block.warn(
                d,
                "preempt_delay does not work with 'state MASTER'; cleared",
            );
            vi.preempt_delay = Duration::ZERO;
        }
    }
    Some(vi)
}

fn family_of(a: &IpAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

/// keepalived's advert_int rules: VRRPv2 carries whole seconds (1..255),
/// VRRPv3 centiseconds (0.01..40.95 s); other values are rounded to the
/// nearest unit with a warning (RFC 3768 §5.3.7, RFC 5798 §5.2.7).
fn advert_int(v: Duration, version: u8, span: &crate::ast::Span, d: &mut Diagnostics) -> Duration {
    let micros = v.as_micros();
    if version == 2 {
        if micros.is_multiple_of(1_000_000) {
            return v;
        }
        let rounded = ((micros + 500_000) / 1_000_000).max(1) as u64;
        d.warn(
            span,
            "advert_int",
            format!(
                "VRRPv2 advertisement interval {}s must be a whole number of seconds; using {rounded}s",
                v.as_secs_f64()
            ),
        );
        Duration::from_secs(rounded)
    } else {
        if micros > 40_950_000 {
            // keepalived -t: a config error (exit 5).
            d.error(
                span,
                "advert_int",
                "VRRPv3 advertisement interval must be at most 40.95s; using 40.95s",
            );
            return Duration::from_millis(40_950);
        }
        if micros.is_multiple_of(10_000) {
            return v;
        }
        let cs = ((micros + 5_000) / 10_000).max(1) as u64;
        // keepalived rounds too, but through its config-error path: -t exits 5.
        d.error(
            span,
            "advert_int",
            format!(
                "VRRPv3 advertisement interval {}s must be in units of 10ms; using {}s",
                v.as_secs_f64(),
                cs as f64 / 100.0
            ),
        );
        Duration::from_millis(cs * 10)
    }
}

fn authentication(block: &Stmt, d: &mut Diagnostics) -> Option<Authentication> {
    let mut auth_type = None;
    let mut pass = None;
    for st in normalize(Ctx::Authentication, block.children(), d) {
        match st.kw {
            "auth_type" => match st.arg(0).map(str::to_ascii_uppercase).as_deref() {
                Some("PASS") => auth_type = Some(AuthType::Pass),
                Some("AH") => auth_type = Some(AuthType::Ah),
                _ => st.error(d, "invalid auth_type: expected PASS or AH"),
            },
            "auth_pass" => {
                let mut p = st.string(0).unwrap_or_default();
                if p.len() > 8 {
                    // keepalived keeps the first 8 bytes (the VRRPv2 field size).
                    st.error(
                        d,
                        format!(
                            "password is {} characters, at most 8 are used; truncated",
                            p.len()
                        ),
                    );
                    let mut cut = 8;
                    while !p.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    p.truncate(cut);
                }
                pass = Some(p);
            }
            _ => {}
        }
    }
    match (auth_type, pass) {
        (Some(auth_type), Some(auth_pass)) if !auth_pass.is_empty() => Some(Authentication {
            auth_type,
            auth_pass,
        }),
        (Some(_), _) => {
            block.error(d, "authentication without auth_pass; ignored");
            None
        }
        (None, _) => {
            block.error(d, "authentication without auth_type; ignored");
            None
        }
    }
}

fn unicast_peers(st: &Stmt, d: &mut Diagnostics) -> Vec<UnicastPeer> {
    let mut out = Vec::new();
    for line in list_lines(st, d) {
        let mut i = 0;
        while i < line.len() {
            let Ok(address) = line[i].text.parse::<IpAddr>() else {
                d.error(
                    &line[i].span,
                    st.name(),
                    format!("invalid peer address '{}'", line[i].text),
                );
                break;
            };
            let mut p = UnicastPeer {
                address,
                min_ttl: None,
                max_ttl: None,
            };
            i += 1;
            while let Some(opt @ ("min_ttl" | "max_ttl")) = line.get(i).map(|w| w.text.as_str()) {
                let v = line.get(i + 1).and_then(|w| w.text.parse::<u8>().ok());
                if v.is_none() {
                    d.error(
                        &line[i].span,
                        st.name(),
                        format!("'{opt}' needs a value 0..=255"),
                    );
                }
                if opt == "min_ttl" {
                    p.min_ttl = v;
                } else {
                    p.max_ttl = v;
                }
                i += 2;
            }
            out.push(p);
        }
    }
    out
}
