//! Seed scenarios S1, S2, S7 and the failure cases (SIGKILL, link loss,
//! graceful stop) on real interfaces: `keel` runs in lab namespaces with the
//! tutorial's configurations (examples/seed/).

mod vrrp_common;

use std::time::Duration;

use vrrp_common::*;

const VIP: &str = "192.0.2.111";
const S: Duration = Duration::from_secs(1);

/// GARPs for `vip` sent by `mac` among captured frames (RFC 5227 §3
/// announcements: ARP with sender IP = target IP = the VIP).
fn garps_from(frames: &[keel_lab::CapturedPacket], vip: &str, mac: keel_lab::MacAddr) -> usize {
    let v = match ip(vip) {
        std::net::IpAddr::V4(v) => v.octets(),
        _ => unreachable!(),
    };
    frames
        .iter()
        .filter(|p| {
            let d = &p.data;
            d.len() >= 42
                && d[12..14] == [0x08, 0x06]
                && d[22..28] == mac.octets()
                && d[28..32] == v
                && d[38..42] == v
        })
        .count()
}

// S1: node two alone becomes MASTER; node one (higher priority) preempts it;
// the client's ARP entry follows the GARPs; the VIP is never on both nodes
// once they hear each other.
#[test]
fn s1_master_backup_preemption() {
    let t = topo("s1");
    let cap = t.lab.capture(&t.client, "arp").unwrap();
    let two = Daemon::start(&t.lab, &t.two, &seed("s1-node2", &[]));
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE (init)", 5 * S);
    two.wait_log("VRRP_Instance(VI_1) Transition to MASTER STATE", 6 * S);
    two.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", S);
    two.wait_log("VRRP_Instance(VI_1) setting protocol VIPs.", S);
    two.wait_log(
        &format!("VRRP_Instance(VI_1) Sending gratuitous ARPs on eth0 for {VIP}"),
        S,
    );
    two.wait_vip(VIP, true, S);
    assert_eq!(prefix_of(&t.two, "eth0", VIP), Some(32), "VIP is a /32");

    // The client learns the VIP at node two.
    assert!(t.client.ping(ip(VIP)).unwrap());
    assert_eq!(t.client.neigh(ip(VIP)).unwrap(), Some(t.two.mac()));

    let one = Daemon::start(&t.lab, &t.one, &seed("s1-node1", &[]));
    one.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE (init)", 5 * S);
    // From here both hear each other.
    watch_single_holder(&t.one, &t.two, VIP, 8 * S, || {
        one.has_vip(VIP) && !two.has_vip(VIP)
    });
    one.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", S);
    two.wait_log(
        "VRRP_Instance(VI_1) Received higher prio advert from 192.0.2.3 with priority 100, ours 90",
        S,
    );
    two.wait_log_n("VRRP_Instance(VI_1) Entering BACKUP STATE", 2, S);
    two.wait_log("VRRP_Instance(VI_1) removing protocol VIPs.", S);
    // The client's ARP cache follows node one's gratuitous ARPs.
    let moved = wait_until(3 * S, Duration::from_millis(50), || {
        t.client.neigh(ip(VIP)).unwrap() == Some(t.one.mac())
    });
    assert!(moved, "client ARP entry for the VIP still points elsewhere");
    // tcpdump may lag behind on a busy machine: wait for the frames.
    let seen = wait_until(3 * S, Duration::from_millis(50), || {
        let frames = cap.packets().unwrap();
        garps_from(&frames, VIP, t.two.mac()) >= 5 && garps_from(&frames, VIP, t.one.mac()) >= 5
    });
    assert!(seen, "GARP bursts (5 each) of both masters not captured");
    assert!(two.is_running() && one.is_running());
}

/// Starts node one (100) and node two (90) with the S1 configs and waits
/// until node one is the settled MASTER.
fn s1_pair(t: &Topo) -> (Daemon, Daemon) {
    let one = Daemon::start(&t.lab, &t.one, &seed("s1-node1", &[]));
    let two = Daemon::start(&t.lab, &t.two, &seed("s1-node2", &[]));
    one.wait_vip(VIP, true, 6 * S);
    one.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", S);
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE (init)", S);
    assert!(!two.has_vip(VIP));
    (one, two)
}

// S2: each node is MASTER of one VIP; a stopped node's VIP moves to the
// other and comes back when it returns.
#[test]
fn s2_master_master() {
    let t = topo("s2");
    let one = Daemon::start(&t.lab, &t.one, &seed("s2-node1", &[]));
    let two = Daemon::start(&t.lab, &t.two, &seed("s2-node2", &[]));
    one.wait_vip("192.0.2.111", true, 6 * S);
    two.wait_vip("192.0.2.122", true, 6 * S);
    assert!(!one.has_vip("192.0.2.122") && !two.has_vip("192.0.2.111"));
    one.stop();
    two.wait_vip("192.0.2.111", true, 2 * S);
    assert!(two.has_vip("192.0.2.122"));
    let one = Daemon::start(&t.lab, &t.one, &seed("s2-node1", &[]));
    one.wait_vip("192.0.2.111", true, 6 * S);
    two.wait_vip("192.0.2.111", false, S);
    assert!(two.has_vip("192.0.2.122") && !one.has_vip("192.0.2.122"));
}

// S7: with nopreempt a recovered higher-priority node stays BACKUP; it takes
// over only when the MASTER goes away.
#[test]
fn s7_nopreempt() {
    let t = topo("s7");
    let two = Daemon::start(&t.lab, &t.two, &seed("s7-node2", &[]));
    two.wait_vip(VIP, true, 6 * S);
    let one = Daemon::start(&t.lab, &t.one, &seed("s7-node1", &[]));
    one.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE (init)", 2 * S);
    // Longer than one's Master_Down_Interval (3.6 s): no preemption.
    std::thread::sleep(5 * S);
    assert!(two.has_vip(VIP) && !one.has_vip(VIP), "node one preempted");
    assert_eq!(one.count("Entering MASTER STATE"), 0);
    two.stop();
    one.wait_vip(VIP, true, 2 * S);
}

// A SIGKILLed master leaves its VIP behind; the backup takes over after
// Master_Down_Interval, and the restarted node removes the stale VIP at once
// before preempting again (keepalived's "removing VIPs" at start-up).
#[test]
fn sigkill_master_then_restart() {
    let t = topo("kill");
    let (one, two) = s1_pair(&t);
    one.signal(LabSignal::SIGKILL);
    assert!(one.proc.wait_timeout(2 * S).unwrap().is_some());
    two.wait_vip(VIP, true, 5 * S);
    two.wait_log("VRRP_Instance(VI_1) Receive advertisement timeout", S);
    assert!(one.has_vip(VIP), "a killed daemon cannot remove its VIP");
    let one = Daemon::start(&t.lab, &t.one, &seed("s1-node1", &[]));
    one.wait_vip(VIP, false, 2 * S);
    one.wait_log("VRRP_Instance(VI_1) removing protocol VIPs.", S);
    assert_eq!(one.count("Entering MASTER STATE"), 0);
    one.wait_vip(VIP, true, 6 * S);
    two.wait_vip(VIP, false, S);
}

// Link loss on the master's switch port: FAULT, VIP removed; the backup takes
// over; on link up the node returns through BACKUP and preempts.
#[test]
fn link_down_on_master_faults() {
    let t = topo("link");
    let (one, two) = s1_pair(&t);
    t.one.link_set(false).unwrap();
    one.wait_log("VRRP_Instance(VI_1) Entering FAULT STATE", 2 * S);
    one.wait_vip(VIP, false, S);
    two.wait_vip(VIP, true, 5 * S);
    t.one.link_set(true).unwrap();
    one.wait_log_n("VRRP_Instance(VI_1) Entering BACKUP STATE", 2, 3 * S);
    one.wait_vip(VIP, true, 6 * S);
    two.wait_vip(VIP, false, S);
}

// Graceful stop (SIGTERM): priority-0 advert, VIP removed, exit within about
// a second; the backup takes over after Skew_Time (RFC 5798 §6.4.2), well
// before Master_Down_Interval.
#[test]
fn sigterm_hands_over_fast() {
    let t = topo("term");
    let (one, two) = s1_pair(&t);
    let started = std::time::Instant::now();
    let took = one.stop();
    assert!(took < Duration::from_millis(1500), "stop took {took:?}");
    assert!(one.log().contains("VRRP_Instance(VI_1) sent 0 priority"));
    assert!(!one.has_vip(VIP));
    two.wait_vip(VIP, true, 2 * S);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "takeover after {:?} is slower than Skew_Time",
        started.elapsed()
    );
    two.wait_log(
        "VRRP_Instance(VI_1) Backup received priority 0 advertisement",
        S,
    );
}
