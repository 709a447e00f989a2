//! keepalived's unicast source checks on real interfaces: `check_unicast_src`
//! (per instance) and `vrrp_check_unicast_src` (global) discard unicast
//! adverts from addresses that are not configured peers; a peer's
//! `min_ttl`/`max_ttl` discards its adverts outside that TTL range.

mod vrrp_common;

use std::time::Duration;

use vrrp_common::*;

const S: Duration = Duration::from_secs(1);
const VIP: &str = "192.0.2.111";
const A: &str = "192.0.2.3";
const B: &str = "192.0.2.5";
const C: &str = "192.0.2.7";

/// VRRPv3 at 100 ms so that elections settle in well under a second.
fn conf(global: &str, priority: u8, src: &str, peers: &[&str], extra: &str) -> String {
    let peers: String = peers.iter().map(|p| format!("        {p}\n")).collect();
    format!(
        "global_defs {{\n    vrrp_version 3\n{global}}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int 0.1\n    unicast_src_ip {src}\n{extra}    \
         unicast_peer {{\n{peers}    }}\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

struct Three {
    lab: Lab,
    a: Node,
    b: Node,
    c: Node,
}

fn three(hint: &str) -> Three {
    let lab = Lab::new(hint).unwrap();
    let a = lab.add_node("a", &["192.0.2.3/24"]).unwrap();
    let b = lab.add_node("b", &["192.0.2.5/24"]).unwrap();
    let c = lab.add_node("c", &["192.0.2.7/24"]).unwrap();
    Three { lab, a, b, c }
}

/// A (150) and B (100) list only each other; C (200) is in neither list but
/// sends its adverts to both. Returns A, B and C once C is MASTER.
fn start_three(t: &Three, a_check: (&str, &str), b_check: (&str, &str)) -> [Daemon; 3] {
    let a = Daemon::start(&t.lab, &t.a, &conf(a_check.0, 150, A, &[B], a_check.1));
    a.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", 5 * S);
    a.wait_vip(VIP, true, S);
    let b = Daemon::start(&t.lab, &t.b, &conf(b_check.0, 100, B, &[A], b_check.1));
    b.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE (init)", 5 * S);
    let c = Daemon::start(&t.lab, &t.c, &conf("", 200, C, &[A, B], ""));
    // C never hears A (A only advertises to B), so it always becomes MASTER.
    c.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", 5 * S);
    [a, b, c]
}

// C's adverts are dropped by A (instance keyword) and B (global keyword):
// A stays MASTER, B stays BACKUP following A, both log and count the drops.
#[test]
fn stranger_is_ignored_with_check_unicast_src() {
    let t = three("unisrcon");
    let [a, b, _c] = start_three(
        &t,
        ("", "    check_unicast_src\n"),
        ("    vrrp_check_unicast_src\n", ""),
    );
    let line = format!(
        "VRRP_Instance(VI_1) unicast source address {C} not a unicast peer - discarding (unicast_src_not_peer = 1)"
    );
    a.wait_log(&line, 3 * S);
    b.wait_log(&line, 3 * S);
    // Twenty of C's adverts later nothing has changed.
    std::thread::sleep(2 * S);
    assert!(a.has_vip(VIP), "A lost the VIP; log:\n{}", a.log());
    assert_eq!(a.count("Received higher prio advert"), 0, "{}", a.log());
    assert_eq!(a.count("Entering BACKUP STATE"), 1, "{}", a.log());
    assert_eq!(b.count("Entering MASTER STATE"), 0, "{}", b.log());
    assert!(!b.has_vip(VIP));
    // Rate limited: one warning per 10 s however many adverts were dropped.
    assert_eq!(a.count("not a unicast peer - discarding"), 1, "{}", a.log());
}

// The same three nodes without the check: C's priority 200 wins the election.
#[test]
fn stranger_takes_over_without_check_unicast_src() {
    let t = three("unisrcoff");
    let [a, b, c] = start_three(&t, ("", ""), ("", ""));
    a.wait_log(
        &format!(
            "VRRP_Instance(VI_1) Received higher prio advert from {C} with priority 200, ours 150"
        ),
        3 * S,
    );
    a.wait_vip(VIP, false, S);
    c.wait_vip(VIP, true, S);
    assert_eq!(a.count("not a unicast peer"), 0);
    assert_eq!(b.count("not a unicast peer"), 0);
    assert_eq!(b.count("Entering MASTER STATE"), 0, "{}", b.log());
}

// B accepts A only with a TTL in 250..=254 (keepalived: a TTL range turns
// the source check on). A's default unicast TTL 255 is outside it, so both
// become MASTER; with `unicast_ttl 252` on A, B follows A again.
#[test]
fn peer_ttl_range_is_enforced() {
    let t = three("unittl");
    let b = Daemon::start(
        &t.lab,
        &t.b,
        &conf("", 100, B, &[&format!("{A} min_ttl 250 max_ttl 254")], ""),
    );
    b.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", 5 * S);
    let a = Daemon::start(&t.lab, &t.a, &conf("", 150, A, &[B], ""));
    b.wait_log(
        &format!(
            "VRRP_Instance(VI_1) TTL/HL 255 from {A} not in range [250, 254] - discarding (unicast_ttl_out_of_range = 1)"
        ),
        5 * S,
    );
    a.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", 5 * S);
    std::thread::sleep(S);
    assert!(b.has_vip(VIP), "B yielded to A; log:\n{}", b.log());
    assert_eq!(b.count("Received higher prio advert"), 0, "{}", b.log());

    a.stop();
    let a = Daemon::start(
        &t.lab,
        &t.a,
        &conf("", 150, A, &[B], "    unicast_ttl 252\n"),
    );
    b.wait_log(
        &format!(
            "VRRP_Instance(VI_1) Received higher prio advert from {A} with priority 150, ours 100"
        ),
        5 * S,
    );
    b.wait_vip(VIP, false, S);
    a.wait_vip(VIP, true, S);
}
