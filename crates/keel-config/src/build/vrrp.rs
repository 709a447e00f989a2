//! vrrp_script, trackers, sync groups and vrrp_instance.

use super::{Stmt, consistency, list_lines, normalize};
use crate::ast::{Span, Word};
use crate::diag::Diagnostics;
use crate::keywords::Ctx;
use crate::model::*;
use std::collections::HashMap;
use std::time::Duration;

mod instance;

pub(crate) use instance::vrrp_instance;

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

    sync_group_members(cfg, &span_of, fallback.as_ref(), d);

    consistency::vmac_names_unique(cfg, &span_of, d);

    vrid_clashes(cfg, &span_of, d);
}

/// Sync group members must exist and belong to one group only.
fn sync_group_members(
    cfg: &mut Config,
    span_of: &dyn Fn(&str, &str) -> Option<Span>,
    fallback: Option<&Span>,
    d: &mut Diagnostics,
) {
    let mut member_of: HashMap<String, String> = HashMap::new();
    for sg in &mut cfg.sync_groups {
        let sp = span_of("vrrp_sync_group", &sg.name).or(fallback.cloned());
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
}

/// Two instances with the same VRID on the same interface and family
/// would answer each other's adverts.
fn vrid_clashes(cfg: &Config, span_of: &dyn Fn(&str, &str) -> Option<Span>, d: &mut Diagnostics) {
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
