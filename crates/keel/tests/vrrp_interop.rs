//! Interoperation with the real keepalived (Debian's package) on one lab
//! LAN: either can be MASTER, preemption works both ways, for VRRPv2 with
//! PASS authentication, VRRPv3 with 100 ms adverts and unicast peers; an
//! authentication mismatch is logged and counted by keel.

mod vrrp_common;

use std::time::Duration;

use vrrp_common::*;

const S: Duration = Duration::from_secs(1);
const VIP: &str = "192.0.2.50";

struct Opts {
    version: u8,
    advert: &'static str,
    auth: Option<&'static str>,
    /// (own address, peer address) for unicast.
    unicast: Option<(&'static str, &'static str)>,
}

fn conf(o: &Opts, router: &str, priority: u8) -> String {
    let auth = match o.auth {
        Some(p) => format!(
            "    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}\n"
        ),
        None => String::new(),
    };
    let unicast = match o.unicast {
        Some((src, peer)) => {
            format!("    unicast_src_ip {src}\n    unicast_peer {{\n        {peer}\n    }}\n")
        }
        None => String::new(),
    };
    format!(
        "global_defs {{\n    router_id {router}\n    vrrp_version {v}\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int {adv}\n{auth}{unicast}    virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n",
        v = o.version,
        adv = o.advert,
    )
}

fn one_conf(o: &Opts, priority: u8) -> String {
    conf(o, "one", priority)
}

fn two_conf(o: &Opts, priority: u8) -> String {
    let o2 = Opts {
        unicast: o.unicast.map(|(a, b)| (b, a)),
        ..*o
    };
    conf(&o2, "two", priority)
}

/// Node one runs `first` with priority 100, node two `second` with 90:
/// node one becomes MASTER, node two stays BACKUP; when node one stops,
/// node two takes over; when it restarts, it preempts back.
fn preemption_round(tag: &str, o: &Opts, first: Impl, second: Impl, fast: bool) {
    let t = topo(tag);
    let settle = if fast { 2 * S } else { 7 * S };
    let a = Daemon::start_impl(&t.lab, &t.one, &one_conf(o, 100), first);
    let b = Daemon::start_impl(&t.lab, &t.two, &two_conf(o, 90), second);
    a.wait_vip(VIP, true, settle);
    // Several Master_Down intervals: the backup must stay BACKUP.
    std::thread::sleep(if fast { S } else { 4 * S });
    assert!(
        !b.has_vip(VIP),
        "both nodes hold the VIP; {}:\n{}\n{}:\n{}",
        a.label,
        a.log(),
        b.label,
        b.log()
    );
    a.stop();
    b.wait_vip(VIP, true, if fast { S } else { 3 * S });
    let a = Daemon::start_impl(&t.lab, &t.one, &one_conf(o, 100), first);
    a.wait_vip(VIP, true, settle);
    b.wait_vip(VIP, false, S);
    let yielded = "Entering BACKUP STATE";
    b.wait_log(yielded, S);
    assert!(a.is_running() && b.is_running());
}

const V2_PASS: Opts = Opts {
    version: 2,
    advert: "1",
    auth: Some("123.com"),
    unicast: None,
};

#[test]
fn v2_pass_keel_master_keepalived_backup() {
    preemption_round("iov2a", &V2_PASS, Impl::Keel, Impl::Keepalived, false);
}

#[test]
fn v2_pass_keepalived_master_keel_backup() {
    preemption_round("iov2b", &V2_PASS, Impl::Keepalived, Impl::Keel, false);
}

const V3_FAST: Opts = Opts {
    version: 3,
    advert: "0.1",
    auth: None,
    unicast: None,
};

#[test]
fn v3_100ms_keel_master_keepalived_backup() {
    preemption_round("iov3a", &V3_FAST, Impl::Keel, Impl::Keepalived, true);
}

#[test]
fn v3_100ms_keepalived_master_keel_backup() {
    preemption_round("iov3b", &V3_FAST, Impl::Keepalived, Impl::Keel, true);
}

const UNICAST: Opts = Opts {
    version: 3,
    advert: "0.1",
    auth: None,
    unicast: Some(("192.0.2.3", "192.0.2.5")),
};

#[test]
fn unicast_peers_both_ways() {
    preemption_round("iouni", &UNICAST, Impl::Keel, Impl::Keepalived, true);
}

// Different passwords: neither router accepts the other's adverts (RFC 2338
// §5.3.6.1), so both end up MASTER. keel must say so loudly and count it.
#[test]
fn auth_mismatch_is_logged_and_counted() {
    let t = topo("ioauth");
    let theirs = Opts {
        auth: Some("other"),
        ..V2_PASS
    };
    let k = Daemon::start(&t.lab, &t.one, &one_conf(&V2_PASS, 90));
    let ka = Daemon::start_impl(&t.lab, &t.two, &two_conf(&theirs, 100), Impl::Keepalived);
    k.wait_log(
        "VRRP_Instance(VI_1) dropped advert from 192.0.2.5: authentication failure (password) (auth_failure = 1)",
        6 * S,
    );
    ka.wait_vip(VIP, true, 6 * S);
    // Counted per reason in the statistics dump (SIGUSR2).
    let stats = std::path::Path::new("/tmp/keepalived.stats");
    let before = std::fs::metadata(stats).and_then(|m| m.modified()).ok();
    k.signal(LabSignal::SIGUSR2);
    let ok = wait_until(3 * S, Duration::from_millis(20), || {
        std::fs::metadata(stats).and_then(|m| m.modified()).ok() != before
            && std::fs::read_to_string(stats)
                .map(|s| s.contains("VRRP Instance: VI_1"))
                .unwrap_or(false)
    });
    assert!(ok, "no statistics dump");
    let text = std::fs::read_to_string(stats).unwrap();
    let n: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("auth_failure: "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(n >= 1, "auth_failure counter: {text}");
}
