//! Receive-side safety on real interfaces: `auth_type AH` adverts (IP
//! protocol 51) reach the peer and survive restarts of either node, and an
//! advert whose address list differs from ours is obeyed only from the
//! address owner (RFC 3768 §7.1, RFC 5798 §7.1).

mod vrrp_common;

use std::time::Duration;

use vrrp_common::*;

const VIP: &str = "192.0.2.111";
const S: Duration = Duration::from_secs(1);

fn ah(name: &str) -> String {
    seed(name, &[("auth_type PASS", "auth_type AH")])
}

/// Asserts for `d` that node one holds the VIP and node two does not.
fn one_stays_master(t: &Topo, d: Duration) {
    let ok = wait_until(d, Duration::from_millis(50), || {
        !(t.one.has_addr(ip(VIP)).unwrap() && !t.two.has_addr(ip(VIP)).unwrap())
    });
    assert!(!ok, "the VIP moved away from node one");
}

#[test]
fn ah_pair_converges_and_restarts_of_either_node_converge() {
    let t = topo("wah");
    let one = Daemon::start(&t.lab, &t.one, &ah("s1-node1"));
    let two = Daemon::start(&t.lab, &t.two, &ah("s1-node2"));
    one.wait_vip(VIP, true, 6 * S);
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE", 5 * S);
    // Without protocol-51 sockets node two never hears node one and goes
    // MASTER after Master_Down (3.65 s).
    one_stays_master(&t, 5 * S);
    assert_eq!(two.count("Entering MASTER STATE"), 0, "{}", two.log());

    // Node one restarts: node two takes over, then node one preempts with
    // AH sequence numbers counting from 1 again.
    one.stop();
    two.wait_vip(VIP, true, 5 * S);
    let one = Daemon::start(&t.lab, &t.one, &ah("s1-node1"));
    watch_single_holder(&t.one, &t.two, VIP, 8 * S, || {
        one.has_vip(VIP) && !two.has_vip(VIP)
    });
    one_stays_master(&t, 5 * S);

    // Node two restarts: it stays BACKUP.
    two.stop();
    let two = Daemon::start(&t.lab, &t.two, &ah("s1-node2"));
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE", 5 * S);
    one_stays_master(&t, 5 * S);
    assert_eq!(two.count("Entering MASTER STATE"), 0, "{}", two.log());
    assert_eq!(one.count("ah_replay"), 0, "{}", one.log());
    assert_eq!(two.count("ah_replay"), 0, "{}", two.log());
}

/// A third router on the LAN (the client node) advertising VRID 101 with
/// `priority` and another VIP list.
fn rogue(t: &Topo, priority: u8) -> Daemon {
    let conf = seed(
        "s1-node1",
        &[
            ("priority 100", &format!("priority {priority}")),
            ("192.0.2.111", "192.0.2.99"),
            ("router_id one", "router_id rogue"),
        ],
    );
    Daemon::start(&t.lab, &t.client, &conf)
}

#[test]
fn rfc3768_7_1_foreign_address_list_is_obeyed_only_from_the_owner() {
    let t = topo("waddr");
    let one = Daemon::start(&t.lab, &t.one, &seed("s1-node1", &[]));
    let two = Daemon::start(&t.lab, &t.two, &seed("s1-node2", &[]));
    one.wait_vip(VIP, true, 6 * S);
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE", 5 * S);

    // Priority 254 and another list: dropped, counted, nothing moves.
    let r = rogue(&t, 254);
    one.wait_log("carries other virtual addresses than ours", 6 * S);
    two.wait_log("carries other virtual addresses than ours", 2 * S);
    one_stays_master(&t, 4 * S);
    assert_eq!(one.count("Received higher prio advert"), 0);
    r.stop();

    // Priority 255 (the address owner): processed, node one yields.
    let _r = rogue(&t, 255);
    one.wait_log(
        "VRRP_Instance(VI_1) Received higher prio advert from 192.0.2.10 with priority 255",
        6 * S,
    );
    one.wait_vip(VIP, false, 2 * S);
    assert!(!t.two.has_addr(ip(VIP)).unwrap());
}
