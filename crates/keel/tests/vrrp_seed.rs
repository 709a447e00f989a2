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
    watch_single_holder(&t.one, &t.two, VIP, 8 * S, || one.has_vip(VIP) && !two.has_vip(VIP));
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
