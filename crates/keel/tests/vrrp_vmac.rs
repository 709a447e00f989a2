//! `use_vmac`: the VIP lives on a macvlan carrying the virtual router MAC
//! (RFC 5798 §7.3, 00:00:5e:00:01:VRID), so a takeover leaves every ARP
//! cache as it was. Two keel directors and a client on the lab switch.

mod vrrp_common;

use std::time::Duration;

use keel_lab::MacAddr;
use vrrp_common::*;

const VIP: &str = "192.0.2.111";
const VMAC_IF: &str = "vrrp.51";
const S: Duration = Duration::from_secs(1);

/// RFC 5798 §7.3: the IPv4 virtual router MAC of VRID 51.
fn vmac() -> MacAddr {
    "00:00:5e:00:01:33".parse().unwrap()
}

fn conf(router: &str, priority: u8, extra: &str) -> String {
    format!(
        r#"
global_defs {{
    router_id {router}
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    use_vmac
    {extra}
    virtual_ipaddress {{
        {VIP}/24
    }}
}}
"#
    )
}

/// MAC and `ip -d link` text of `dev` on `node`, or `None` when it is absent.
fn link(node: &Node, dev: &str) -> Option<(MacAddr, String)> {
    let out = node
        .exec("ip", &["-d", "-o", "link", "show", "dev", dev])
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .and_then(|m| m.parse().ok())?;
    Some((mac, text))
}

fn conf_value(node: &Node, dev: &str, key: &str) -> String {
    let path = format!("/proc/sys/net/ipv4/conf/{dev}/{key}");
    let out = node.exec("cat", &[&path]).unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Source MACs of the frames the client captured (Ethernet header bytes 6..12).
fn sources(frames: &[keel_lab::CapturedPacket]) -> Vec<MacAddr> {
    frames
        .iter()
        .filter(|p| p.data.len() >= 14)
        .map(|p| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&p.data[6..12]);
            MacAddr(m)
        })
        .collect()
}

/// Gratuitous ARPs for the VIP whose Ethernet source and ARP sender are `mac`.
fn garps_from(frames: &[keel_lab::CapturedPacket], mac: MacAddr) -> usize {
    let v = match ip(VIP) {
        std::net::IpAddr::V4(v) => v.octets(),
        _ => unreachable!(),
    };
    frames
        .iter()
        .filter(|p| {
            let d = &p.data;
            d.len() >= 42
                && d[6..12] == mac.octets()
                && d[12..14] == [0x08, 0x06]
                && d[22..28] == mac.octets()
                && d[28..32] == v
                && d[38..42] == v
        })
        .count()
}

/// The MAC that answers the client's ARP requests for the VIP (arping), and
/// the one its neighbour table holds after a ping.
fn client_sees(t: &Topo) -> (String, Option<MacAddr>) {
    let out = t.client.arping(ip(VIP), 2).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(t.client.ping(ip(VIP)).unwrap(), "VIP does not answer pings");
    (text, t.client.neigh(ip(VIP)).unwrap())
}

fn assert_vmac_set_up(node: &Node, with_vip: bool) {
    let (mac, text) = link(node, VMAC_IF).expect("no VMAC interface");
    assert_eq!(mac, vmac());
    assert!(text.contains("macvlan mode private"), "{text}");
    assert!(text.contains(",UP,"), "VMAC not up: {text}");
    assert_eq!(
        prefix_of(node, VMAC_IF, VIP),
        if with_vip { Some(24) } else { None }
    );
    assert_eq!(prefix_of(node, "eth0", VIP), None, "VIP on the base");
    // Only the VMAC answers ARP for the VIP; the base keeps quiet about it.
    assert_eq!(conf_value(node, "eth0", "arp_ignore"), "1");
    assert_eq!(conf_value(node, "eth0", "arp_filter"), "1");
    // ARP requests from the base name the base's own address, not the VIP.
    assert_eq!(conf_value(node, "eth0", "arp_announce"), "2");
    assert_eq!(conf_value(node, VMAC_IF, "arp_ignore"), "1");
    assert_eq!(conf_value(node, VMAC_IF, "accept_local"), "1");
    assert_eq!(conf_value(node, VMAC_IF, "rp_filter"), "0");
}

#[test]
fn vmac_failover_keeps_the_clients_arp_entry() {
    let t = topo("vmac");
    let adverts = t.lab.capture(&t.client, "ip proto 112").unwrap();
    let arp = t.lab.capture(&t.client, "arp").unwrap();
    let one = Daemon::start(&t.lab, &t.one, &conf("one", 100, ""));
    let two = Daemon::start(&t.lab, &t.two, &conf("two", 90, ""));
    one.wait_vip(VIP, true, 6 * S);
    one.wait_log(
        "VRRP_Instance(VI_1) Success creating VMAC interface vrrp.51",
        S,
    );
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE", S);
    assert_vmac_set_up(&t.one, true);
    // The backup has its VMAC ready, without the VIP.
    assert_vmac_set_up(&t.two, false);

    let (arping, neigh) = client_sees(&t);
    assert!(arping.contains(&vmac().to_string()), "{arping}");
    assert!(!arping.contains(&t.one.mac().to_string()), "{arping}");
    assert_eq!(neigh, Some(vmac()));
    // RFC 5798 §7.2: adverts leave with the virtual MAC as source.
    let ok = wait_until(3 * S, Duration::from_millis(50), || {
        let srcs = sources(&adverts.packets().unwrap());
        srcs.len() >= 2 && srcs.iter().all(|m| *m == vmac())
    });
    assert!(
        ok,
        "adverts not from the virtual MAC: {:?}",
        sources(&adverts.packets().unwrap())
    );

    one.stop();
    assert!(
        one.log()
            .contains("VRRP_Instance(VI_1) Success removing VMAC interface vrrp.51")
    );
    assert!(
        link(&t.one, VMAC_IF).is_none(),
        "stopped node kept its VMAC"
    );
    // The base's ARP settings are as they were before keel touched them.
    assert_eq!(conf_value(&t.one, "eth0", "arp_ignore"), "0");
    assert_eq!(conf_value(&t.one, "eth0", "arp_filter"), "0");
    assert_eq!(conf_value(&t.one, "eth0", "arp_announce"), "0");
    two.wait_vip(VIP, true, 3 * S);
    assert_vmac_set_up(&t.two, true);

    // Nothing changed for the client: same MAC, now answered by node two.
    assert_eq!(t.client.neigh(ip(VIP)).unwrap(), Some(vmac()));
    let (arping, neigh) = client_sees(&t);
    assert!(arping.contains(&vmac().to_string()), "{arping}");
    assert!(!arping.contains(&t.two.mac().to_string()), "{arping}");
    assert_eq!(neigh, Some(vmac()));
    let seen = wait_until(3 * S, Duration::from_millis(50), || {
        garps_from(&arp.packets().unwrap(), vmac()) >= 10
    });
    assert!(
        seen,
        "GARP bursts of both masters not sent from the virtual MAC"
    );
    assert_eq!(garps_from(&arp.packets().unwrap(), t.two.mac()), 0);
    assert_eq!(garps_from(&arp.packets().unwrap(), t.one.mac()), 0);
}

// vmac_xmit_base: the VIP still sits on the VMAC, but adverts leave from the
// base interface with its own MAC.
#[test]
fn vmac_xmit_base_sends_adverts_from_the_base() {
    let t = topo("vmacxb");
    let adverts = t.lab.capture(&t.client, "ip proto 112").unwrap();
    let one = Daemon::start(&t.lab, &t.one, &conf("one", 100, "vmac_xmit_base"));
    let two = Daemon::start(&t.lab, &t.two, &conf("two", 90, "vmac_xmit_base"));
    one.wait_vip(VIP, true, 6 * S);
    assert_vmac_set_up(&t.one, true);
    // Node two may also advertise for a moment if both start within the
    // skew difference on a loaded machine; what matters is that no advert
    // leaves from the virtual MAC and node one's come from its base.
    let ok = wait_until(3 * S, Duration::from_millis(50), || {
        let srcs = sources(&adverts.packets().unwrap());
        srcs.iter().filter(|m| **m == t.one.mac()).count() >= 2
            && !srcs.iter().any(|m| *m == vmac())
    });
    assert!(
        ok,
        "adverts not from the base MAC: {:?}",
        sources(&adverts.packets().unwrap())
    );
    // Node two hears them on its base and stays BACKUP.
    std::thread::sleep(2 * S);
    assert!(!two.has_vip(VIP));
    let (_, neigh) = client_sees(&t);
    assert_eq!(neigh, Some(vmac()));
}

// Another agent deletes the MASTER's VMAC: keel creates it again and puts the
// VIP back on it.
#[test]
fn deleted_vmac_is_recreated_with_its_vip() {
    let t = topo("vmacdel");
    let one = Daemon::start(&t.lab, &t.one, &conf("one", 100, ""));
    one.wait_vip(VIP, true, 6 * S);
    t.one
        .exec_checked("ip", &["link", "del", "dev", VMAC_IF])
        .unwrap();
    one.wait_log(
        "VRRP_Instance(VI_1) VMAC interface vrrp.51 is missing - re-creating",
        2 * S,
    );
    one.wait_vip(VIP, true, 2 * S);
    assert_vmac_set_up(&t.one, true);
    let (_, neigh) = client_sees(&t);
    assert_eq!(neigh, Some(vmac()));
}

// RHEL's net.ipv4.conf.all.rp_filter=1 would override the VMAC's 0 (the
// kernel takes the larger): the client's ARP requests and pings arriving on
// the VMAC would fail the reverse-path check, since the route back to the
// client is the base's. keel moves `all` onto each interface while it has
// VMACs and puts everything back on stop.
#[test]
fn vmac_works_with_strict_rp_filter() {
    let t = topo("vmacrp");
    for n in [&t.one, &t.two] {
        n.exec_checked("sysctl", &["-qw", "net.ipv4.conf.all.rp_filter=1"])
            .unwrap();
    }
    let one = Daemon::start(&t.lab, &t.one, &conf("one", 100, ""));
    let two = Daemon::start(&t.lab, &t.two, &conf("two", 90, ""));
    one.wait_vip(VIP, true, 6 * S);
    assert_eq!(conf_value(&t.one, "all", "rp_filter"), "0");
    assert_eq!(conf_value(&t.one, "eth0", "rp_filter"), "1");
    assert_eq!(conf_value(&t.one, VMAC_IF, "rp_filter"), "0");
    let (arping, neigh) = client_sees(&t);
    assert!(arping.contains(&vmac().to_string()), "{arping}");
    assert_eq!(neigh, Some(vmac()));
    one.stop();
    assert_eq!(conf_value(&t.one, "all", "rp_filter"), "1");
    assert_eq!(conf_value(&t.one, "eth0", "rp_filter"), "0");
    two.wait_vip(VIP, true, 3 * S);
    let (_, neigh) = client_sees(&t);
    assert_eq!(neigh, Some(vmac()));
}

// IPv6 (VRRPv3): the VMAC carries 00:00:5e:00:02:VRID (RFC 5798 §7.3) and a
// copy of the base's link-local address, the advert source (§5.1.2.1).
#[test]
fn ipv6_vmac_failover_keeps_the_clients_neighbour_entry() {
    let lab = Lab::with_options(
        "vmac6",
        keel_lab::LabOptions {
            ipv6: true,
            ..Default::default()
        },
    )
    .unwrap();
    let n1 = lab.add_node("one", &["2001:db8::3/64"]).unwrap();
    let n2 = lab.add_node("two", &["2001:db8::5/64"]).unwrap();
    let client = lab.add_node("client", &["2001:db8::10/64"]).unwrap();
    let vip6 = "2001:db8::100";
    let vmac6: MacAddr = "00:00:5e:00:02:33".parse().unwrap();
    let c = |prio: u8| {
        format!(
            "vrrp_instance VI_6 {{\n state BACKUP\n interface eth0\n virtual_router_id 51\n \
             priority {prio}\n advert_int 1\n version 3\n use_vmac\n \
             virtual_ipaddress {{\n {vip6}/64\n }}\n}}\n"
        )
    };
    let adverts = lab.capture(&client, "ip6 proto 112").unwrap();
    let one = Daemon::start(&lab, &n1, &c(100));
    let two = Daemon::start(&lab, &n2, &c(90));
    one.wait_vip(vip6, true, 6 * S);
    let (mac, _) = link(&n1, VMAC_IF).unwrap();
    assert_eq!(mac, vmac6);
    assert_eq!(prefix_of(&n1, VMAC_IF, vip6), Some(64));
    // The base's link-local address is mirrored onto the VMAC.
    let base_ll: Vec<_> = n1
        .ip_addrs("eth0")
        .unwrap()
        .into_iter()
        .filter(|(a, _)| a.to_string().starts_with("fe80:"))
        .collect();
    assert!(!base_ll.is_empty());
    for ll in &base_ll {
        assert!(n1.ip_addrs(VMAC_IF).unwrap().contains(ll), "{ll:?}");
    }
    std::thread::sleep(S);
    assert!(!two.has_vip(vip6), "both hold the VIP:\n{}", two.log());
    let ok = wait_until(3 * S, Duration::from_millis(50), || {
        let srcs = sources(&adverts.packets().unwrap());
        srcs.len() >= 2 && srcs.iter().all(|m| *m == vmac6)
    });
    assert!(ok, "{:?}", sources(&adverts.packets().unwrap()));
    assert!(client.ping(ip(vip6)).unwrap());
    assert_eq!(client.neigh(ip(vip6)).unwrap(), Some(vmac6));

    one.stop();
    assert!(link(&n1, VMAC_IF).is_none());
    two.wait_vip(vip6, true, 3 * S);
    assert!(client.ping(ip(vip6)).unwrap());
    assert_eq!(client.neigh(ip(vip6)).unwrap(), Some(vmac6));
}

// Unicast peers: the adverts reach the peer's base address and the backup
// stays BACKUP; the VIP still answers from the virtual MAC.
#[test]
fn vmac_with_unicast_peers() {
    let t = topo("vmacuni");
    let uni = |me: &str, peer: &str| {
        format!("unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}")
    };
    let one = Daemon::start(
        &t.lab,
        &t.one,
        &conf("one", 100, &uni("192.0.2.3", "192.0.2.5")),
    );
    let two = Daemon::start(
        &t.lab,
        &t.two,
        &conf("two", 90, &uni("192.0.2.5", "192.0.2.3")),
    );
    one.wait_vip(VIP, true, 6 * S);
    std::thread::sleep(4 * S);
    assert!(!two.has_vip(VIP), "backup took the VIP:\n{}", two.log());
    let (_, neigh) = client_sees(&t);
    assert_eq!(neigh, Some(vmac()));
    one.stop();
    two.wait_vip(VIP, true, 3 * S);
}

// SIGHUP: dropping `use_vmac` deletes the VMAC and moves the VIP onto the
// base (whose ARP settings are put back); adding it again re-creates it.
#[test]
fn reload_adds_and_removes_the_vmac() {
    let t = topo("vmachup");
    let one = Daemon::start(&t.lab, &t.one, &conf("one", 100, ""));
    one.wait_vip(VIP, true, 6 * S);
    assert_vmac_set_up(&t.one, true);
    std::fs::write(&one.conf, conf("one", 100, "").replace("use_vmac", "")).unwrap();
    one.signal(LabSignal::SIGHUP);
    one.wait_log(
        "VRRP_Instance(VI_1) Success removing VMAC interface vrrp.51",
        2 * S,
    );
    let moved = wait_until(4 * S, Duration::from_millis(20), || {
        prefix_of(&t.one, "eth0", VIP) == Some(24)
    });
    assert!(moved, "VIP not on eth0 after reload:\n{}", one.log());
    assert!(link(&t.one, VMAC_IF).is_none());
    assert_eq!(conf_value(&t.one, "eth0", "arp_ignore"), "0");
    std::fs::write(&one.conf, conf("one", 100, "")).unwrap();
    one.signal(LabSignal::SIGHUP);
    one.wait_log_n(
        "VRRP_Instance(VI_1) Success creating VMAC interface vrrp.51",
        2,
        2 * S,
    );
    let back = wait_until(4 * S, Duration::from_millis(20), || {
        prefix_of(&t.one, VMAC_IF, VIP) == Some(24)
    });
    assert!(back, "VIP not on the VMAC after reload:\n{}", one.log());
    assert_vmac_set_up(&t.one, true);
    assert!(one.is_running());
}
