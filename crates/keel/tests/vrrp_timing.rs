//! Advert timing on the wire: a MASTER sends one advert every
//! Advertisement_Interval (RFC 5798 §6.4.3: after sending, "reset the
//! Adver_Timer to Advertisement_Interval"), not a millisecond or two more.
//! A systematically long interval eats into the backup's Skew_Time margin
//! and, at 100 ms adverts, lets peers drift apart by 1 % per advert.

mod vrrp_common;

use std::time::Duration;

use vrrp_common::*;

const VIP: &str = "192.0.2.50";
const ADVERTS: usize = 20;

fn conf() -> String {
    conf_with("")
}

fn conf_with(global: &str) -> String {
    format!(
        "global_defs {{\n    router_id one\n    vrrp_version 3\n{global}}}\n\
         vrrp_instance VI_1 {{\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    \
         priority 100\n    advert_int 0.1\n    virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n"
    )
}

/// Intervals between consecutive captured frames, in milliseconds.
fn intervals_ms(packets: &[keel_lab::CapturedPacket]) -> Vec<f64> {
    packets
        .windows(2)
        .map(|w| (w[1].ts.as_secs_f64() - w[0].ts.as_secs_f64()) * 1e3)
        .collect()
}

/// (policy, rt_priority, nice) of the daemon's thread named `keel-vrrp`,
/// from /proc/PID/task/TID/stat (fields 41, 40 and 19).
fn vrrp_thread_sched(pid: u32) -> Option<(u32, u32, i32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() != "keel-vrrp" {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
        // Fields after the parenthesised command name start at field 3.
        let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| rest.get(n - 3).copied();
        return Some((
            field(41)?.parse().ok()?,
            field(40)?.parse().ok()?,
            field(19)?.parse().ok()?,
        ));
    }
    None
}

/// The VRRP thread runs under SCHED_RR (policy 2) priority 1 by default so
/// that scripts and other load cannot delay adverts; keepalived's
/// `vrrp_rt_priority` and `vrrp_priority` (nice) are honoured, and keel's
/// `vrrp_rt_priority 0` keeps it SCHED_OTHER.
#[test]
fn vrrp_thread_is_real_time_by_default_and_follows_global_defs() {
    let t = topo("rtprio");
    let cases = [
        ("", (2, 1, 0)),
        (
            "    vrrp_rt_priority 20\n    vrrp_priority -3\n",
            (2, 20, -3),
        ),
        ("    vrrp_rt_priority 0\n    vrrp_priority -4\n", (0, 0, -4)),
    ];
    for (global, want) in cases {
        let d = Daemon::start(&t.lab, &t.one, &conf_with(global));
        d.wait_vip(VIP, true, Duration::from_secs(5));
        // Applied once start-up is over, right after the VIP at the latest.
        let mut got = None;
        let ok = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
            got = vrrp_thread_sched(d.proc.pid());
            got == Some(want)
        });
        assert!(
            ok,
            "{global:?}: got {got:?}, want {want:?}; log:\n{}",
            d.log()
        );
        d.stop();
    }
}

/// RFC 5798 §6.4.3: the median advert interval at advert_int 0.1 is
/// 100 ms to within half a millisecond, as seen by another host.
#[test]
fn rfc5798_6_4_3_median_advert_interval_is_the_configured_interval() {
    let t = topo("timing");
    let d = Daemon::start(&t.lab, &t.one, &conf());
    d.wait_vip(VIP, true, Duration::from_secs(5));
    let cap = t
        .lab
        .capture(&t.client, "ip proto 112 and src host 192.0.2.3")
        .unwrap();
    let enough = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        cap.packets().map(|p| p.len() > ADVERTS).unwrap_or(false)
    });
    let packets = cap.stop().unwrap();
    assert!(
        enough,
        "only {} adverts captured; log:\n{}",
        packets.len(),
        d.log()
    );
    let mut iv = intervals_ms(&packets[..=ADVERTS]);
    assert_eq!(iv.len(), ADVERTS);
    iv.sort_by(f64::total_cmp);
    let median = (iv[ADVERTS / 2 - 1] + iv[ADVERTS / 2]) / 2.0;
    assert!(
        (median - 100.0).abs() <= 0.5,
        "median advert interval {median:.3} ms, intervals {iv:.3?}"
    );
    d.stop();
}
