//! vrrp_script, trackers, sync groups and vrrp_instance.

use super::{Stmt, consistency, list_lines, net, normalize};
use crate::ast::Word;
use crate::diag::Diagnostics;
use crate::keywords::Ctx;
use crate::model::*;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn name_of(block: &Stmt) -> String {
    block.string(0).unwrap_or_default()
}

pub(crate) fn vrrp_script(block: &Stmt, d: &mut Diagnostics) -> VrrpScript {
    let mut s = VrrpScript {
        name: name_of(block),
        script: Script {
            command: String::new(),
            user: None,
            group: None,
        },
        interval: Duration::from_secs(1),
        timeout: Duration::ZERO,
        weight: 0,
        reverse: false,
        rise: 1,
        fall: 1,
        init_fail: false,
    };
    let mut timeout = None;
    let mut user = None;
    for st in normalize(Ctx::VrrpScript, block.children(), d) {
        match st.kw {
            "script" => set(&mut s.script, st.command_line()),
            "interval" => set(&mut s.interval, st.timer_pos(0, d)),
            "timeout" => timeout = st.timer_pos(0, d).or(timeout),
            "weight" => {
                if let Some((w, r)) = st.weight(253, d) {
                    s.weight = w as i32;
                    s.reverse = r;
                }
            }
            "rise" => set(&mut s.rise, st.uint(0, 1, i64::from(u32::MAX), d)),
            "fall" => set(&mut s.fall, st.uint(0, 1, i64::from(u32::MAX), d)),
            "user" => user = Some(super::user_group(&st.args)),
            "init_fail" => s.init_fail = true,
            _ => {}
        }
    }
    // A `user` line wins over user/group written after the script.
    if let Some((u, g)) = user {
        s.script.user = u;
        s.script.group = g;
    }
    s.timeout = timeout.unwrap_or(s.interval);
    if s.script.command.is_empty() {
        block.error(d, "vrrp_script has no 'script'");
    }
    s
}

pub(crate) fn track_file(block: &Stmt, d: &mut Diagnostics) -> TrackFile {
    let mut t = TrackFile {
        name: name_of(block),
        file: None,
        weight: 1,
        reverse: false,
        init_file: None,
    };
    for st in normalize(Ctx::TrackFile, block.children(), d) {
        match st.kw {
            "file" => t.file = st.string(0),
            "weight" => {
                if let Some((w, r)) = st.weight(i64::from(i32::MAX), d) {
                    t.weight = w;
                    t.reverse = r;
                }
            }
            "init_file" => {
                let mut init = InitFile {
                    value: 0,
                    overwrite: false,
                };
                for (i, a) in st.args.iter().enumerate() {
                    if a.text == "overwrite" {
                        init.overwrite = true;
                    } else if let Some(v) = st.int(i, i64::from(i32::MIN), i64::from(i32::MAX), d) {
                        init.value = v;
                    }
                }
                t.init_file = Some(init);
            }
            _ => {}
        }
    }
    if t.file.is_none() {
        block.error(d, "track_file has no 'file'");
    }
    t
}

pub(crate) fn track_process(block: &Stmt, d: &mut Diagnostics) -> TrackProcess {
    let mut t = TrackProcess {
        name: name_of(block),
        process: Vec::new(),
        param_match: None,
        weight: 0,
        reverse: false,
        quorum: 1,
        quorum_max: None,
        fork_delay: None,
        terminate_delay: None,
        full_command: false,
    };
    for st in normalize(Ctx::TrackProcess, block.children(), d) {
        match st.kw {
            "process" => t.process = st.args.iter().map(|w| w.text.clone()).collect(),
            "param_match" => {
                t.param_match = match st.arg(0) {
                    None => Some(ParamMatch::Exact),
                    Some("partial") => Some(ParamMatch::Partial),
                    Some("initial") => Some(ParamMatch::Initial),
                    Some(o) => {
                        st.error(
                            d,
                            format!("invalid value '{o}': expected partial or initial"),
                        );
                        t.param_match
                    }
                }
            }
            "weight" => {
                if let Some((w, r)) = st.weight(254, d) {
                    t.weight = w as i32;
                    t.reverse = r;
                }
            }
            "quorum" => set(&mut t.quorum, st.uint(0, 0, 65535, d)),
            "quorum_max" => t.quorum_max = st.uint(0, 0, 65535, d),
            "delay" => {
                let v = st.timer(0, d);
                if v.is_some() {
                    t.fork_delay = v;
                    t.terminate_delay = v;
                }
            }
            "fork_delay" => t.fork_delay = st.timer(0, d).or(t.fork_delay),
            "terminate_delay" => t.terminate_delay = st.timer(0, d).or(t.terminate_delay),
            "full_command" => t.full_command = true,
            _ => {}
        }
    }
    // Parameters given without param_match must match exactly.
    if t.param_match.is_none() && t.process.len() > 1 {
        t.param_match = Some(ParamMatch::Exact);
    }
    if t.process.is_empty() {
        block.error(d, "vrrp_track_process has no 'process'");
    }
    if let Some(max) = t.quorum_max
        && max < t.quorum
    {
        block.error(d, "quorum_max is lower than quorum");
    }
    t
}

pub(crate) fn track_group(block: &Stmt, d: &mut Diagnostics) -> TrackGroup {
    let mut t = TrackGroup {
        name: name_of(block),
        group: Vec::new(),
    };
    for st in normalize(Ctx::TrackGroup, block.children(), d) {
        for line in list_lines(&st, d) {
            t.group.extend(line.into_iter().map(|w| w.text));
        }
    }
    t
}

/// Lines of a `track_*` block: `NAME [weight N [reverse]]`, several names
/// allowed on one line.
fn track_refs(st: &Stmt, lim: i64, d: &mut Diagnostics) -> Vec<TrackRef> {
    let mut out = Vec::new();
    for line in list_lines(st, d) {
        let mut i = 0;
        while i < line.len() {
            let name: &Word = &line[i];
            let mut r = TrackRef {
                name: name.text.clone(),
                weight: None,
                reverse: false,
            };
            i += 1;
            if line.get(i).is_some_and(|w| w.text == "weight") {
                match line.get(i + 1).map(|w| w.text.parse::<i64>()) {
                    Some(Ok(w)) if (-lim..=lim).contains(&w) => r.weight = Some(w),
                    _ => d.error(
                        &line[i].span,
                        st.name(),
                        format!(
                            "weight for '{}' must be an integer in {}..={}",
                            r.name, -lim, lim
                        ),
                    ),
                }
                i += 2;
                match line.get(i).map(|w| w.text.as_str()) {
                    Some("reverse") => {
                        r.reverse = true;
                        i += 1;
                    }
                    Some("noreverse") => i += 1,
                    _ => {}
                }
            }
            out.push(r);
        }
    }
    out
}

/// Handles the `track_*` and `notify*` keywords shared by instances and
/// sync groups; false when `st` is none of them.
fn common_stmt(
    st: &Stmt,
    track: &mut Tracking,
    notify: &mut Notify,
    smtp_alert: &mut Option<bool>,
    d: &mut Diagnostics,
) -> bool {
    match st.kw {
        "track_interface" => track.interfaces.extend(track_refs(st, 253, d)),
        "track_script" => track.scripts.extend(track_refs(st, 253, d)),
        "track_file" => track.files.extend(track_refs(st, 254, d)),
        "track_process" => track.processes.extend(track_refs(st, 254, d)),
        "track_bfd" => track.bfds.extend(track_refs(st, 253, d)),
        "notify_master" => notify.master = st.script(),
        "notify_backup" => notify.backup = st.script(),
        "notify_fault" => notify.fault = st.script(),
        "notify_stop" => notify.stop = st.script(),
        "notify_deleted" => {
            notify.deleted = st.script().or(Some(Script {
                command: String::new(),
                user: None,
                group: None,
            }))
        }
        "notify" => notify.generic = st.script(),
        "notify_master_rx_lower_pri" => notify.master_rx_lower_pri = st.script(),
        "smtp_alert" => *smtp_alert = st.flag(0, d),
        _ => return false,
    }
    true
}

pub(crate) fn sync_group(block: &Stmt, d: &mut Diagnostics) -> SyncGroup {
    let mut g = SyncGroup {
        name: name_of(block),
        group: Vec::new(),
        track: Tracking::default(),
        notify: Notify::default(),
        smtp_alert: None,
        global_tracking: false,
        sync_group_tracking_weight: false,
        notify_priority_changes: None,
    };
    for st in normalize(Ctx::SyncGroup, block.children(), d) {
        if common_stmt(&st, &mut g.track, &mut g.notify, &mut g.smtp_alert, d) {
            continue;
        }
        match st.kw {
            "group" => {
                for line in list_lines(&st, d) {
                    g.group.extend(line.into_iter().map(|w| w.text));
                }
            }
            "global_tracking" => {
                st.warn(d, "deprecated: use sync_group_tracking_weight");
                g.global_tracking = true;
            }
            "sync_group_tracking_weight" => g.sync_group_tracking_weight = true,
            "notify_priority_changes" => g.notify_priority_changes = st.flag(0, d),
            _ => {}
        }
    }
    g
}

pub(crate) fn garp_group(block: &Stmt, d: &mut Diagnostics) -> GarpGroup {
    let mut g = GarpGroup {
        garp_interval: None,
        gna_interval: None,
        interfaces: Vec::new(),
    };
    for st in normalize(Ctx::GarpGroup, block.children(), d) {
        match st.kw {
            "garp_interval" => g.garp_interval = st.timer(0, d),
            "gna_interval" => g.gna_interval = st.timer(0, d),
            "interface" => g.interfaces.extend(st.string(0)),
            "interfaces" => {
                for line in list_lines(&st, d) {
                    g.interfaces.extend(line.into_iter().map(|w| w.text));
                }
            }
            _ => {}
        }
    }
    if g.interfaces.is_empty() {
        block.error(d, "garp_group has no interface");
    }
    g
}

fn family_of(a: &IpAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

/// Build one `vrrp_instance`; `None` when it cannot be used at all (no
/// virtual_router_id).
pub(crate) fn vrrp_instance(
    block: &Stmt,
    g: &GlobalDefs,
    d: &mut Diagnostics,
) -> Option<VrrpInstance> {
    let mut vi = VrrpInstance {
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
    };
    let mut state = None;
    let mut priority = None;
    let mut unicast_block = false;
    let mut version = None;
    let mut vrid_seen = false;
    let mut advert: Option<(Duration, &crate::ast::Span)> = None;
    let stmts = normalize(Ctx::VrrpInstance, block.children(), d);
    for st in &stmts {
        if common_stmt(st, &mut vi.track, &mut vi.notify, &mut vi.smtp_alert, d) {
            continue;
        }
        match st.kw {
            "state" => match st.arg(0).map(str::to_ascii_uppercase).as_deref() {
                Some("MASTER") => state = Some(InitialState::Master),
                Some("BACKUP") => state = Some(InitialState::Backup),
                _ => st.error(d, "invalid state: expected MASTER or BACKUP"),
            },
            "interface" => vi.interface = st.string(0),
            "vrf" => vi.vrf = st.string(0),
            "virtual_router_id" => {
                if let Some(v) = st.uint(0, 1, 255, d) {
                    vi.virtual_router_id = v;
                    vrid_seen = true;
                }
            }
            "priority" => priority = st.uint(0, 1, 255, d).or(priority),
            "advert_int" => {
                // 0.01 s up to 255 s; the version-specific rules are applied
                // once the version is known.
                if let Some(v) = st.secs(0, Duration::from_millis(10), Duration::from_secs(255), d)
                {
                    advert = Some((v, st.span()));
                }
            }
            "version" => version = st.uint(0, 2, 3, d).or(version),
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
                unicast_block = true;
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
            "nopreempt" => vi.nopreempt = true,
            "preempt" => vi.nopreempt = false,
            "preempt_delay" => set(
                &mut vi.preempt_delay,
                st.secs(0, Duration::ZERO, Duration::from_secs(1000), d),
            ),
            "garp_master_delay" => set(&mut vi.garp_master_delay, st.timer(0, d)),
            "garp_master_repeat" => {
                set(&mut vi.garp_master_repeat, consistency::garp_repeat(st, d))
            }
            "garp_master_refresh" => set(&mut vi.garp_master_refresh, st.timer(0, d)),
            "garp_master_refresh_repeat" => {
                set(&mut vi.garp_master_refresh_repeat, st.uint(0, 0, 65535, d))
            }
            "garp_lower_prio_delay" => set(&mut vi.garp_lower_prio_delay, st.timer(0, d)),
            "garp_lower_prio_repeat" => {
                set(&mut vi.garp_lower_prio_repeat, st.uint(0, 0, 65535, d))
            }
            "garp_extra_if" => vi.garp_extra_if = super::global::garp_extra_if(st, d),
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

/// References between blocks, and duplicates, checked once everything is
/// read (keepalived resolves them after parsing too).
pub(crate) fn cross_check(cfg: &mut Config, top: &[Stmt], d: &mut Diagnostics) {
    let span_of = |kw: &str, name: &str| {
        top.iter()
            .find(|s| s.kw == kw && s.arg(0) == Some(name))
            .map(|s| s.span().clone())
    };
    let fallback = top.first().map(|s| s.span().clone());
    let scripts: Vec<String> = cfg.vrrp_scripts.iter().map(|s| s.name.clone()).collect();
    let files: Vec<String> = cfg.track_files.iter().map(|s| s.name.clone()).collect();
    let procs: Vec<String> = cfg.track_processes.iter().map(|s| s.name.clone()).collect();
    let bfds: Vec<String> = cfg.bfd_instances.iter().map(|s| s.name.clone()).collect();

    for (kw, names) in [
        ("vrrp_script", &scripts),
        ("track_file", &files),
        ("vrrp_track_process", &procs),
        ("bfd_instance", &bfds),
        (
            "vrrp_instance",
            &cfg.vrrp_instances.iter().map(|i| i.name.clone()).collect(),
        ),
        (
            "vrrp_sync_group",
            &cfg.sync_groups.iter().map(|i| i.name.clone()).collect(),
        ),
    ] {
        let mut seen = std::collections::HashSet::new();
        for n in names {
            if !seen.insert(n) {
                let spans: Vec<_> = top
                    .iter()
                    .filter(|s| keyword_matches(s.kw, kw) && s.arg(0) == Some(n.as_str()))
                    .map(|s| s.span().clone())
                    .collect();
                if let Some(sp) = spans.get(1).or(fallback.as_ref()) {
                    d.error(sp, kw, format!("duplicate name '{n}'"));
                }
            }
        }
    }

    let check_refs = |owner: &str, owner_kw: &str, track: &mut Tracking, d: &mut Diagnostics| {
        let sp = span_of(owner_kw, owner).or(fallback.clone());
        for (list, known, what) in [
            (&mut track.scripts, &scripts, "track_script"),
            (&mut track.files, &files, "track_file"),
            (&mut track.processes, &procs, "track_process"),
            (&mut track.bfds, &bfds, "track_bfd"),
        ] {
            list.retain(|r| {
                let ok = known.contains(&r.name);
                if !ok && let Some(sp) = &sp {
                    // keepalived logs this and ignores the entry.
                    d.warn(
                        sp,
                        what,
                        format!("'{}' in {owner} is not defined; ignored", r.name),
                    );
                }
                ok
            });
        }
    };
    for vi in &mut cfg.vrrp_instances {
        check_refs(&vi.name.clone(), "vrrp_instance", &mut vi.track, d);
        consistency::own_interface_tracked(vi, span_of("vrrp_instance", &vi.name), d);
    }
    for sg in &mut cfg.sync_groups {
        check_refs(&sg.name.clone(), "vrrp_sync_group", &mut sg.track, d);
    }

    // Sync group members must exist and belong to one group only.
    let mut member_of: HashMap<String, String> = HashMap::new();
    for sg in &mut cfg.sync_groups {
        let sp = span_of("vrrp_sync_group", &sg.name).or(fallback.clone());
        let instances = &cfg.vrrp_instances;
        sg.group.retain(|m| {
            let ok = instances.iter().any(|i| &i.name == m);
            if !ok && let Some(sp) = &sp {
                d.warn(
                    sp,
                    "group",
                    format!(
                        "vrrp_instance '{m}' of sync group '{}' does not exist; ignored",
                        sg.name
                    ),
                );
            }
            ok
        });
        for m in &sg.group {
            if let Some(prev) = member_of.insert(m.clone(), sg.name.clone())
                && let Some(sp) = &sp
            {
                d.error(
                    sp,
                    "group",
                    format!("vrrp_instance '{m}' is already in sync group '{prev}'"),
                );
            }
        }
        if sg.group.len() == 1 {
            consistency::one_member_group(sp.as_ref(), &sg.name, d);
        }
    }
    for vi in &mut cfg.vrrp_instances {
        vi.sync_group = member_of.get(&vi.name).cloned();
    }

    consistency::vmac_names_unique(cfg, &span_of, d);

    // Two instances with the same VRID on the same interface and family
    // would answer each other's adverts.
    let mut vrids: HashMap<(Option<String>, AddressFamily, u8), String> = HashMap::new();
    for vi in &cfg.vrrp_instances {
        let iface = vi
            .interface
            .clone()
            .or(cfg.global_defs.default_interface.clone());
        let key = (iface, vi.family, vi.virtual_router_id);
        if let Some(prev) = vrids.insert(key, vi.name.clone())
            && vi.use_vmac.is_none()
            && let Some(sp) = span_of("vrrp_instance", &vi.name)
        {
            d.error(
                &sp,
                "virtual_router_id",
                format!(
                    "virtual_router_id {} is also used by vrrp_instance '{prev}' on the same interface and address family",
                    vi.virtual_router_id
                ),
            );
        }
    }
}

fn keyword_matches(canonical: &str, kw: &str) -> bool {
    canonical == kw
}
