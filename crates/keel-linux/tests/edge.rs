//! keel-linux against the real kernel, each test inside its own keel-lab
//! (needs root). Code under test runs on a thread inside a lab node's
//! namespace (`Node::block_on`); the test thread stays in the root namespace.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::mpsc;
use std::time::Duration;

use keel_lab::{Lab, LabOptions, Node, wait_until};
use keel_linux::*;
use tokio::time::timeout;

const SECOND: Duration = Duration::from_secs(1);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn lab(hint: &str, ipv6: bool) -> Lab {
    Lab::with_options(
        hint,
        LabOptions {
            ipv6,
            fixed_macs: true,
            ..LabOptions::default()
        },
    )
    .unwrap()
}

/// Runs `receiver` in `rx` and, once it has signalled readiness, `sender`
/// in `tx`; returns what the receiver produced.
fn exchange<R, FR, FutR, FS, FutS>(rx: &Node, receiver: FR, tx: &Node, sender: FS) -> R
where
    R: Send,
    FR: FnOnce(mpsc::Sender<()>) -> FutR + Send,
    FutR: Future<Output = R>,
    FS: FnOnce() -> FutS + Send,
    FutS: Future<Output = ()>,
{
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let handle = s.spawn(|| rx.block_on(|| receiver(ready_tx)).unwrap());
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("receiver never became ready");
        tx.block_on(sender).unwrap();
        handle.join().unwrap()
    })
}

/// keepalived 2.2.7's VRRPv3 advert (VRID 51, prio 90, 1 s, VIP 192.0.2.50)
/// from 192.0.2.2, IP header included, as captured in the reference probe.
const KEEPALIVED_V3_ADVERT: [u8; 32] = [
    0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x98, 0xc0, 0x00, 0x02, 0x02,
    0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0x5a, 0x01, 0x00, 0x64, 0x0f, 0xa3, 0xc0, 0x00, 0x02, 0x32,
];

// RFC 5798 §5.1.1.3: adverts are sent with TTL 255 to 224.0.0.18; the
// receiver must see the TTL to be able to discard anything below 255.
#[test]
fn rfc5798_5_1_1_multicast_advert_round_trip_matches_keepalived_bytes() {
    let lab = lab("vrrp4", false);
    let lb1 = lab.add_node("lb1", &["192.0.2.1/24"]).unwrap();
    let lb2 = lab.add_node("lb2", &["192.0.2.2/24"]).unwrap();
    let cap = lab.capture(&lb1, "ip proto 112").unwrap();
    let hdrincl = VrrpSocketOptions {
        header_included: true,
        ..Default::default()
    };
    let got = exchange(
        &lb1,
        |ready| {
            let opts = hdrincl.clone();
            async move {
                let sock = VrrpSocket::open_v4("eth0", Some(VRRP_GROUP_V4), &opts).unwrap();
                ready.send(()).unwrap();
                timeout(5 * SECOND, sock.recv()).await.unwrap().unwrap()
            }
        },
        &lb2,
        || {
            let opts = hdrincl.clone();
            async move {
                let sock = VrrpSocket::open_v4("eth0", Some(VRRP_GROUP_V4), &opts).unwrap();
                let dst = IpAddr::V4(VRRP_GROUP_V4);
                let n = sock.send_to(&KEEPALIVED_V3_ADVERT, dst).await.unwrap();
                assert_eq!(n, KEEPALIVED_V3_ADVERT.len());
            }
        },
    );
    // Multicast loopback is off: the sender's own joined socket hears
    // nothing of its own advert.
    let own_echo = lb2
        .block_on(|| async {
            let sock =
                VrrpSocket::open_v4("eth0", Some(VRRP_GROUP_V4), &Default::default()).unwrap();
            sock.send_to(&KEEPALIVED_V3_ADVERT[20..], IpAddr::V4(VRRP_GROUP_V4))
                .await
                .unwrap();
            timeout(Duration::from_millis(300), sock.recv())
                .await
                .is_ok()
        })
        .unwrap();
    assert_eq!(got.src, ip("192.0.2.2"));
    assert_eq!(got.dst, IpAddr::V4(VRRP_GROUP_V4));
    assert_eq!(got.ttl, 255);
    assert_eq!(got.ifindex, lb1.ifindex());
    assert_eq!(got.packet, KEEPALIVED_V3_ADVERT.to_vec());
    assert_eq!(got.payload(), &KEEPALIVED_V3_ADVERT[20..]);
    assert!(!own_echo, "own multicast advert was looped back");

    assert!(wait_until(5 * SECOND, Duration::from_millis(20), || {
        cap.packets().map(|p| !p.is_empty()).unwrap_or(false)
    }));
    let frames = cap.stop().unwrap();
    let first = &frames[0].data;
    assert_eq!(&first[0..6], &[0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
    assert_eq!(&first[6..12], &lb2.mac().0);
    assert_eq!(&first[14..], &KEEPALIVED_V3_ADVERT, "wire bytes differ");
}

// RFC 5798 §5.1.1.3 / §5.1.1.1: without IP_HDRINCL the kernel builds the
// header; TTL must still be 255 and keepalived's TOS 0xc0 kept.
#[test]
fn rfc5798_5_1_1_3_kernel_built_header_has_ttl_255_and_tos_c0() {
    let lab = lab("vrrp4k", false);
    let lb1 = lab.add_node("lb1", &["192.0.2.1/24"]).unwrap();
    let lb2 = lab.add_node("lb2", &["192.0.2.2/24"]).unwrap();
    let payload = KEEPALIVED_V3_ADVERT[20..].to_vec();
    let got = exchange(
        &lb1,
        |ready| async move {
            let sock =
                VrrpSocket::open_v4("eth0", Some(VRRP_GROUP_V4), &Default::default()).unwrap();
            assert!(!sock.header_included());
            ready.send(()).unwrap();
            timeout(5 * SECOND, sock.recv()).await.unwrap().unwrap()
        },
        &lb2,
        || {
            let payload = payload.clone();
            async move {
                let sock =
                    VrrpSocket::open_v4("eth0", Some(VRRP_GROUP_V4), &Default::default()).unwrap();
                sock.send_to(&payload, IpAddr::V4(VRRP_GROUP_V4))
                    .await
                    .unwrap();
            }
        },
    );
    assert_eq!(got.ttl, 255);
    assert_eq!(got.packet[1], VRRP_TOS);
    assert_eq!(got.packet[9], 112);
    assert_eq!(got.payload_offset, 20);
    assert_eq!(got.payload(), payload.as_slice());
    assert_eq!(got.src, ip("192.0.2.2"));
}

#[test]
fn unicast_mode_sends_to_a_peer_from_the_bound_source() {
    let lab = lab("vrrpuc", false);
    let lb1 = lab.add_node("lb1", &["192.0.2.1/24"]).unwrap();
    let lb2 = lab.add_node("lb2", &["192.0.2.2/24"]).unwrap();
    let got = exchange(
        &lb1,
        |ready| async move {
            let opts = VrrpSocketOptions {
                unicast_src: Some(ip("192.0.2.1")),
                ..Default::default()
            };
            let sock = VrrpSocket::open_v4("eth0", None, &opts).unwrap();
            ready.send(()).unwrap();
            timeout(5 * SECOND, sock.recv()).await.unwrap().unwrap()
        },
        &lb2,
        || async {
            let opts = VrrpSocketOptions {
                unicast_src: Some(ip("192.0.2.2")),
                ..Default::default()
            };
            let sock = VrrpSocket::open_v4("eth0", None, &opts).unwrap();
            sock.send_to(b"\x31\x33\x5a\x01", ip("192.0.2.1"))
                .await
                .unwrap();
        },
    );
    assert_eq!(got.src, ip("192.0.2.2"));
    assert_eq!(got.dst, ip("192.0.2.1"));
    assert_eq!(got.ttl, 255);
    assert_eq!(got.payload(), b"\x31\x33\x5a\x01");
}

// RFC 5798 §5.1.2: IPv6 adverts go to ff02::12 from the link-local address
// with hop limit 255.
#[test]
fn rfc5798_5_1_2_ipv6_multicast_hop_limit_and_destination() {
    let lab = lab("vrrp6", true);
    let lb1 = lab
        .add_node("lb1", &["192.0.2.1/24", "2001:db8::1/64"])
        .unwrap();
    let lb2 = lab
        .add_node("lb2", &["192.0.2.2/24", "2001:db8::2/64"])
        .unwrap();
    let cap = lab.capture(&lb1, "ip6 proto 112").unwrap();
    let payload = b"\x31\x33\x5a\x01\x00\x64\x00\x00".to_vec();
    let got = exchange(
        &lb1,
        |ready| async move {
            let sock =
                VrrpSocket::open_v6("eth0", Some(VRRP_GROUP_V6), &Default::default()).unwrap();
            ready.send(()).unwrap();
            timeout(5 * SECOND, sock.recv()).await.unwrap().unwrap()
        },
        &lb2,
        || {
            let payload = payload.clone();
            async move {
                let sock =
                    VrrpSocket::open_v6("eth0", Some(VRRP_GROUP_V6), &Default::default()).unwrap();
                assert!(sock.is_ipv6());
                sock.send_to(&payload, IpAddr::V6(VRRP_GROUP_V6))
                    .await
                    .unwrap();
            }
        },
    );
    assert_eq!(got.dst, IpAddr::V6(VRRP_GROUP_V6));
    assert_eq!(got.ttl, 255);
    assert_eq!(got.ifindex, lb1.ifindex());
    assert_eq!(got.payload(), payload.as_slice());
    let IpAddr::V6(src) = got.src else {
        panic!("IPv4 source on an IPv6 socket")
    };
    assert_eq!(src.segments()[0], 0xfe80, "source must be link-local");

    assert!(wait_until(5 * SECOND, Duration::from_millis(20), || {
        cap.packets().map(|p| !p.is_empty()).unwrap_or(false)
    }));
    let frame = cap.stop().unwrap().remove(0).data;
    assert_eq!(&frame[0..6], &[0x33, 0x33, 0, 0, 0, 0x12]);
    assert_eq!(frame[14 + 7], 255, "hop limit on the wire");
    assert_eq!(frame[14 + 6], 112, "next header");
}

#[test]
fn ipv6_unicast_reports_global_source_and_destination() {
    let lab = lab("vrrp6uc", true);
    let lb1 = lab.add_node("lb1", &["2001:db8::1/64"]).unwrap();
    let lb2 = lab.add_node("lb2", &["2001:db8::2/64"]).unwrap();
    let got = exchange(
        &lb1,
        |ready| async move {
            let opts = VrrpSocketOptions {
                unicast_src: Some(ip("2001:db8::1")),
                ..Default::default()
            };
            let sock = VrrpSocket::open_v6("eth0", None, &opts).unwrap();
            ready.send(()).unwrap();
            timeout(5 * SECOND, sock.recv()).await.unwrap().unwrap()
        },
        &lb2,
        || async {
            let opts = VrrpSocketOptions {
                unicast_src: Some(ip("2001:db8::2")),
                ..Default::default()
            };
            let sock = VrrpSocket::open_v6("eth0", None, &opts).unwrap();
            sock.send_to(b"vrrp", ip("2001:db8::1")).await.unwrap();
        },
    );
    assert_eq!(got.src, ip("2001:db8::2"));
    assert_eq!(got.dst, ip("2001:db8::1"));
    assert_eq!(got.ttl, 255);
    assert_eq!(got.payload(), b"vrrp");
}

#[test]
fn socket_open_rejects_bad_arguments() {
    let lab = lab("vrrpbad", false);
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    a.block_on(|| async {
        assert!(matches!(
            VrrpSocket::open_v4("nope0", Some(VRRP_GROUP_V4), &Default::default()),
            Err(LinuxError::NoSuchInterface(_))
        ));
        assert!(matches!(
            VrrpSocket::open_v4(
                "eth0",
                Some(Ipv4Addr::new(192, 0, 2, 9)),
                &Default::default()
            ),
            Err(LinuxError::Invalid(_))
        ));
        let v6src = VrrpSocketOptions {
            unicast_src: Some(ip("2001:db8::1")),
            ..Default::default()
        };
        assert!(VrrpSocket::open_v4("eth0", None, &v6src).is_err());
        let sock = VrrpSocket::open_v4("eth0", None, &Default::default()).unwrap();
        assert!(matches!(
            sock.send_to(b"x", IpAddr::V6(Ipv6Addr::LOCALHOST)).await,
            Err(LinuxError::Invalid(_))
        ));
    })
    .unwrap();
    // Outside a runtime the socket cannot be registered.
    a.run_in(|| {
        assert!(matches!(
            VrrpSocket::open_v4("eth0", None, &Default::default()),
            Err(LinuxError::NoRuntime)
        ));
    })
    .unwrap();
}

fn text(out: std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn addresses_are_added_and_deleted_idempotently() {
    let lab = lab("addr", false);
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let idx = a.ifindex();
    let vip = AddressSpec::new(idx, ip("192.0.2.50"), 24).label("eth0:vip");
    let brd = AddressSpec::new(idx, ip("192.0.2.60"), 24).broadcast(Ipv4Addr::new(192, 0, 2, 255));
    let listed = a
        .block_on(|| async {
            let nl = Netlink::new().unwrap();
            nl.add_address(&vip).await.unwrap();
            nl.add_address(&vip).await.unwrap();
            nl.add_address(&brd).await.unwrap();
            nl.addresses(idx).await.unwrap()
        })
        .unwrap();
    let shown = text(
        a.exec_checked("ip", &["-o", "addr", "show", "dev", "eth0"])
            .unwrap(),
    );
    assert!(
        shown.contains("inet 192.0.2.50/24 scope global secondary eth0:vip"),
        "{shown}"
    );
    assert!(
        shown.contains("inet 192.0.2.60/24 brd 192.0.2.255 scope global secondary eth0"),
        "{shown}"
    );
    let info = listed
        .iter()
        .find(|i| i.addr == ip("192.0.2.50"))
        .expect("listed");
    assert!(info.is_secondary());
    assert_eq!(info.prefix_len, 24);
    assert_eq!(info.label.as_deref(), Some("eth0:vip"));
    assert_eq!(info.broadcast, None);
    assert_eq!(info.scope, Scope::Global);
    assert!(listed.iter().any(|i| i.addr == ip("192.0.2.1")));

    a.block_on(|| async {
        let nl = Netlink::new().unwrap();
        nl.del_address(&vip).await.unwrap();
        nl.del_address(&vip).await.unwrap();
        nl.del_address(&brd).await.unwrap();
    })
    .unwrap();
    assert!(!a.has_addr(ip("192.0.2.50")).unwrap());
    assert!(!a.has_addr(ip("192.0.2.60")).unwrap());
    assert!(a.has_addr(ip("192.0.2.1")).unwrap());
}

#[test]
fn ipv6_address_flags_reach_the_kernel() {
    let lab = lab("addr6", true);
    let a = lab.add_node("a", &["2001:db8::1/64"]).unwrap();
    let spec = AddressSpec::new(a.ifindex(), ip("2001:db8:1::50"), 64)
        .nodad()
        .noprefixroute();
    let info = a
        .block_on(|| async {
            let nl = Netlink::new().unwrap();
            nl.add_address(&spec).await.unwrap();
            nl.add_address(&spec).await.unwrap();
            let found = nl
                .addresses(a.ifindex())
                .await
                .unwrap()
                .into_iter()
                .find(|i| i.addr == ip("2001:db8:1::50"));
            found.unwrap()
        })
        .unwrap();
    assert!(info.is_nodad() && info.is_noprefixroute());
    let shown = text(
        a.exec_checked("ip", &["-o", "-6", "addr", "show", "dev", "eth0"])
            .unwrap(),
    );
    let line = shown
        .lines()
        .find(|l| l.contains("2001:db8:1::50/64"))
        .unwrap();
    assert!(
        line.contains("nodad") && line.contains("noprefixroute"),
        "{line}"
    );
    let routes = text(a.exec_checked("ip", &["-6", "route", "show"]).unwrap());
    assert!(
        !routes.contains("2001:db8:1::/64"),
        "prefix route created: {routes}"
    );
    a.block_on(|| async {
        let nl = Netlink::new().unwrap();
        nl.del_address(&spec).await.unwrap();
        nl.del_address(&spec).await.unwrap();
    })
    .unwrap();
    assert!(!a.has_addr(ip("2001:db8:1::50")).unwrap());
}

#[test]
fn routes_are_added_and_deleted_idempotently() {
    let lab = lab("route", false);
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let _b = lab.add_node("b", &["192.0.2.2/24"]).unwrap();
    let idx = a.ifindex();
    let via = RouteSpec::new(ip("198.51.100.0"), 24)
        .gateway(ip("192.0.2.2"))
        .oif(idx)
        .table(100)
        .metric(5);
    let dev = RouteSpec::new(ip("203.0.113.0"), 24)
        .oif(idx)
        .src(ip("192.0.2.1"));
    let black = RouteSpec::new(ip("203.0.113.128"), 25)
        .kind(RouteKind::Blackhole)
        .table(100);
    a.block_on(|| async {
        let nl = Netlink::new().unwrap();
        for r in [&via, &dev, &black] {
            nl.add_route(r).await.unwrap();
            nl.add_route(r).await.unwrap();
        }
    })
    .unwrap();
    let t100 = text(
        a.exec_checked("ip", &["route", "show", "table", "100"])
            .unwrap(),
    );
    assert!(
        t100.contains("198.51.100.0/24 via 192.0.2.2 dev eth0 proto keepalived metric 5"),
        "{t100}"
    );
    assert!(
        t100.contains("blackhole 203.0.113.128/25 proto keepalived"),
        "{t100}"
    );
    let main = text(a.exec_checked("ip", &["route", "show"]).unwrap());
    assert!(
        main.contains("203.0.113.0/24 dev eth0 proto keepalived scope link src 192.0.2.1"),
        "{main}"
    );
    a.block_on(|| async {
        let nl = Netlink::new().unwrap();
        for r in [&via, &dev, &black] {
            nl.del_route(r).await.unwrap();
            nl.del_route(r).await.unwrap();
        }
    })
    .unwrap();
    let t100 = text(
        a.exec_checked("ip", &["route", "show", "table", "100"])
            .unwrap(),
    );
    let main = text(a.exec_checked("ip", &["route", "show"]).unwrap());
    assert!(t100.trim().is_empty(), "{t100}");
    assert!(!main.contains("203.0.113.0/24"), "{main}");
}

#[test]
fn rules_are_added_and_deleted_idempotently() {
    let lab = lab("rule", false);
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let from = RuleSpec::new(IpFamily::V4, 100)
        .from(ip("192.0.2.50"), 32)
        .priority(1000);
    let to = RuleSpec::new(IpFamily::V4, 1000)
        .to(ip("198.51.100.0"), 24)
        .priority(1001);
    a.block_on(|| async {
        let nl = Netlink::new().unwrap();
        for r in [&from, &to] {
            nl.add_rule(r).await.unwrap();
            nl.add_rule(r).await.unwrap();
        }
    })
    .unwrap();
    let rules = text(a.exec_checked("ip", &["rule", "show"]).unwrap());
    assert!(
        rules.contains("1000:\tfrom 192.0.2.50 lookup 100"),
        "{rules}"
    );
    assert!(
        rules.contains("1001:\tfrom all to 198.51.100.0/24 lookup 1000"),
        "{rules}"
    );
    assert_eq!(rules.matches("1000:").count(), 1, "duplicate rule: {rules}");
    a.block_on(|| async {
        let nl = Netlink::new().unwrap();
        for r in [&from, &to] {
            nl.del_rule(r).await.unwrap();
            nl.del_rule(r).await.unwrap();
        }
    })
    .unwrap();
    let rules = text(a.exec_checked("ip", &["rule", "show"]).unwrap());
    assert!(
        !rules.contains("1000:") && !rules.contains("1001:"),
        "{rules}"
    );
}

fn garp_frame(mac: [u8; 6], vip: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&vip);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&vip);
    f
}

// RFC 5798 §6.4.1 (ii): on becoming master, broadcast a gratuitous ARP for
// each VIP so neighbours update their caches.
#[test]
fn rfc5798_6_4_1_gratuitous_arp_updates_a_neighbours_cache() {
    let lab = lab("garp", false);
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let b = lab.add_node("b", &["192.0.2.2/24"]).unwrap();
    let vip = ip("192.0.2.50");
    b.exec_checked(
        "ip",
        &[
            "neigh",
            "replace",
            "192.0.2.50",
            "lladdr",
            "02:00:00:00:00:99",
            "dev",
            "eth0",
            "nud",
            "stale",
        ],
    )
    .unwrap();
    assert_ne!(b.neigh(vip).unwrap(), Some(a.mac()));
    let cap = lab.capture(&b, "arp").unwrap();
    let frame = garp_frame(a.mac().0, [192, 0, 2, 50]);
    let (mac, sent) = a
        .block_on(|| async {
            let sock = PacketSocket::open("eth0").unwrap();
            assert_eq!(sock.ifindex(), a.ifindex());
            let sent = sock.send(&frame).await.unwrap();
            (sock.mac(), sent)
        })
        .unwrap();
    assert_eq!(mac, a.mac().0);
    assert_eq!(sent, 42);
    assert!(wait_until(5 * SECOND, Duration::from_millis(20), || {
        b.neigh(vip).unwrap() == Some(a.mac())
    }));
    assert!(wait_until(5 * SECOND, Duration::from_millis(20), || {
        cap.packets().map(|p| !p.is_empty()).unwrap_or(false)
    }));
    let frames = cap.stop().unwrap();
    assert!(
        frames.iter().any(|p| p.data == frame),
        "GARP not on the wire"
    );
}

#[test]
fn short_frames_are_refused() {
    let lab = lab("short", false);
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    a.block_on(|| async {
        let sock = PacketSocket::open("eth0").unwrap();
        assert!(matches!(
            sock.send(&[0xff; 13]).await,
            Err(LinuxError::Invalid(_))
        ));
    })
    .unwrap();
}

#[test]
fn pulling_the_switch_port_yields_link_down_then_up() {
    let lab = lab("linkev", false);
    let b = lab.add_node("b", &["192.0.2.2/24"]).unwrap();
    let main = b.clone();
    let events = exchange(
        &b,
        |ready| async move {
            let mut mon = NetlinkMonitor::new().await.unwrap();
            assert_eq!(
                mon.link_is_up(keel_linux::ifindex("eth0").unwrap()),
                Some(true)
            );
            ready.send(()).unwrap();
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + 5 * SECOND;
            while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, mon.next()).await {
                let up = matches!(ev, NetEvent::LinkUp { .. });
                seen.push(ev);
                if up {
                    break;
                }
            }
            seen
        },
        &b,
        || async move {
            main.link_set(false).unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            main.link_set(true).unwrap();
        },
    );
    let down = NetEvent::LinkDown {
        ifindex: b.ifindex(),
        name: "eth0".into(),
    };
    let up = NetEvent::LinkUp {
        ifindex: b.ifindex(),
        name: "eth0".into(),
    };
    let pos_down = events.iter().position(|e| *e == down);
    let pos_up = events.iter().position(|e| *e == up);
    assert!(
        matches!((pos_down, pos_up), (Some(d), Some(u)) if d < u),
        "{events:?}"
    );
}

#[test]
fn ip_addr_add_and_del_yield_address_events() {
    let lab = lab("addrev", false);
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let main = a.clone();
    let events = exchange(
        &a,
        |ready| async move {
            let mut mon = NetlinkMonitor::new().await.unwrap();
            ready.send(()).unwrap();
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + 5 * SECOND;
            while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, mon.next()).await {
                let done = matches!(ev, NetEvent::AddrRemoved { .. });
                seen.push(ev);
                if done {
                    break;
                }
            }
            seen
        },
        &a,
        || async move {
            main.exec_checked("ip", &["addr", "add", "192.0.2.77/24", "dev", "eth0"])
                .unwrap();
            main.exec_checked("ip", &["addr", "del", "192.0.2.77/24", "dev", "eth0"])
                .unwrap();
        },
    );
    let added = NetEvent::AddrAdded {
        ifindex: a.ifindex(),
        addr: ip("192.0.2.77"),
        prefix_len: 24,
    };
    let removed = NetEvent::AddrRemoved {
        ifindex: a.ifindex(),
        addr: ip("192.0.2.77"),
        prefix_len: 24,
    };
    assert_eq!(events, vec![added, removed]);
}

// RFC 5798 §7.3: the virtual router MAC is 00-00-5E-00-01-{VRID} (IPv4) and
// 00-00-5E-00-02-{VRID} (IPv6).
#[test]
fn rfc5798_7_3_vmac_macvlan_carries_the_virtual_router_mac() {
    let lab = lab("vmac", false);
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let (v4, v6, again, info) = a
        .block_on(|| async {
            let nl = Netlink::new().unwrap();
            let parent = keel_linux::ifindex("eth0").unwrap();
            let spec4 = VmacSpec {
                name: "vrrp.51".into(),
                parent_ifindex: parent,
                vrid: 51,
                family: IpFamily::V4,
                mode: MacvlanMode::Private,
            };
            let spec6 = VmacSpec {
                name: "vrrp6.51".into(),
                family: IpFamily::V6,
                mode: MacvlanMode::Bridge,
                ..spec4.clone()
            };
            let v4 = nl.create_vmac(&spec4).await.unwrap();
            let v6 = nl.create_vmac(&spec6).await.unwrap();
            let again = nl.create_vmac(&spec4).await.unwrap();
            let info = nl.link_by_index(v4).await.unwrap();
            (v4, v6, again, info)
        })
        .unwrap();
    assert_eq!(v4, again, "re-creating reuses the interface");
    assert_eq!(info.name, "vrrp.51");
    assert_eq!(info.mac, Some([0, 0, 0x5e, 0, 1, 51]));
    assert!(info.admin_up);
    assert_eq!(info.parent, Some(a.ifindex()));
    let d4 = text(
        a.exec_checked("ip", &["-d", "-o", "link", "show", "vrrp.51"])
            .unwrap(),
    );
    assert!(d4.contains("link/ether 00:00:5e:00:01:33"), "{d4}");
    assert!(d4.contains("macvlan mode private"), "{d4}");
    assert!(d4.contains(",UP"), "{d4}");
    let d6 = text(
        a.exec_checked("ip", &["-d", "-o", "link", "show", "vrrp6.51"])
            .unwrap(),
    );
    assert!(d6.contains("link/ether 00:00:5e:00:02:33"), "{d6}");
    assert!(d6.contains("macvlan mode bridge"), "{d6}");

    a.block_on(|| async {
        let nl = Netlink::new().unwrap();
        for idx in [v4, v6] {
            nl.delete_link(idx).await.unwrap();
            nl.delete_link(idx).await.unwrap();
        }
        assert!(matches!(
            nl.link_by_name("vrrp.51").await,
            Err(LinuxError::NoSuchInterface(_))
        ));
    })
    .unwrap();
    assert!(
        !a.exec("ip", &["link", "show", "vrrp.51"])
            .unwrap()
            .status
            .success()
    );
}

#[test]
fn sysctls_apply_to_the_callers_namespace_only() {
    let lab = lab("sysctl", false);
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let key = "net.ipv4.conf.all.arp_announce";
    let root_before = read_sysctl(key).unwrap();
    let target = if root_before == "2" { "1" } else { "2" };
    let read_back = a
        .run_in(|| {
            write_conf(ConfFamily::Ipv4, "eth0", "arp_ignore", "1").unwrap();
            write_sysctl(key, target).unwrap();
            (
                read_conf(ConfFamily::Ipv4, "eth0", "arp_ignore").unwrap(),
                read_sysctl(key).unwrap(),
            )
        })
        .unwrap();
    assert_eq!(read_back, ("1".to_string(), target.to_string()));
    let via_tool = text(
        a.exec_checked(
            "cat",
            &[
                "/proc/sys/net/ipv4/conf/eth0/arp_ignore",
                "/proc/sys/net/ipv4/conf/all/arp_announce",
            ],
        )
        .unwrap(),
    );
    assert_eq!(via_tool, format!("1\n{target}\n"));
    assert_eq!(
        read_sysctl(key).unwrap(),
        root_before,
        "root namespace changed"
    );
}

#[test]
fn interface_lookups_see_the_node_interface() {
    let lab = lab("iface", false);
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let (idx, name, mac, link) = a
        .block_on(|| async {
            let idx = keel_linux::ifindex("eth0").unwrap();
            let nl = Netlink::new().unwrap();
            (
                idx,
                keel_linux::ifname(idx).unwrap(),
                mac_address("eth0").unwrap(),
                nl.link_by_name("eth0").await.unwrap(),
            )
        })
        .unwrap();
    assert_eq!(idx, a.ifindex());
    assert_eq!(name, "eth0");
    assert_eq!(mac, a.mac().0);
    assert_eq!(format_mac(&mac), a.mac().to_string());
    assert_eq!(link.ifindex, idx);
    assert_eq!(link.mac, Some(mac));
    assert!(link.is_up() && link.lower_up);
    a.block_on(|| async {
        let nl = Netlink::new().unwrap();
        assert!(matches!(
            nl.link_by_name("nope0").await,
            Err(LinuxError::NoSuchInterface(_))
        ));
        assert!(matches!(
            mac_address("nope0"),
            Err(LinuxError::NoSuchInterface(_))
        ));
    })
    .unwrap();
}

fn ones_complement_sum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for chunk in chunks {
        for pair in chunk.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Unsolicited neighbour advertisement (RFC 4861 §4.4, §7.2.6): override
/// flag set, target link-layer address option, sent to all-nodes.
fn unsolicited_na_frame(mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let mut icmp = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&mac);
    let len = (icmp.len() as u32).to_be_bytes();
    let csum = ones_complement_sum(&[
        &target.octets(),
        &all_nodes.octets(),
        &len,
        &[0, 0, 0, 58],
        &icmp,
    ]);
    icmp[2..4].copy_from_slice(&csum.to_be_bytes());
    let mut f = vec![0x33, 0x33, 0, 0, 0, 1];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&target.octets());
    f.extend_from_slice(&all_nodes.octets());
    f.extend_from_slice(&icmp);
    f
}

// RFC 5798 §6.4.2 (iii) / RFC 4861 §7.2.6: an IPv6 master sends unsolicited
// NAs with the override flag; neighbours replace their cached link address.
#[test]
fn rfc4861_7_2_6_unsolicited_na_overrides_a_neighbours_cache() {
    let lab = lab("una", true);
    let a = lab.add_node("a", &["2001:db8::1/64"]).unwrap();
    let b = lab.add_node("b", &["2001:db8::2/64"]).unwrap();
    let vip = ip("2001:db8::50");
    b.exec_checked(
        "ip",
        &[
            "-6",
            "neigh",
            "replace",
            "2001:db8::50",
            "lladdr",
            "02:00:00:00:00:99",
            "dev",
            "eth0",
            "nud",
            "stale",
        ],
    )
    .unwrap();
    let IpAddr::V6(target) = vip else {
        unreachable!()
    };
    let frame = unsolicited_na_frame(a.mac().0, target);
    let cap = lab.capture(&b, "icmp6").unwrap();
    a.block_on(|| async {
        let sock = PacketSocket::open("eth0").unwrap();
        assert_eq!(sock.send(&frame).await.unwrap(), frame.len());
    })
    .unwrap();
    assert!(wait_until(5 * SECOND, Duration::from_millis(20), || {
        b.neigh(vip).unwrap() == Some(a.mac())
    }));
    assert!(wait_until(5 * SECOND, Duration::from_millis(20), || {
        cap.packets()
            .map(|p| p.iter().any(|p| p.data == frame))
            .unwrap_or(false)
    }));
}

#[test]
fn packets_too_large_for_vrrp_are_skipped() {
    let lab = lab("vrrpbig", false);
    let lb1 = lab.add_node("lb1", &["192.0.2.1/24"]).unwrap();
    let lb2 = lab.add_node("lb2", &["192.0.2.2/24"]).unwrap();
    let got = exchange(
        &lb1,
        |ready| async move {
            let sock =
                VrrpSocket::open_v4("eth0", Some(VRRP_GROUP_V4), &Default::default()).unwrap();
            ready.send(()).unwrap();
            timeout(5 * SECOND, sock.recv()).await.unwrap().unwrap()
        },
        &lb2,
        || async {
            let sock =
                VrrpSocket::open_v4("eth0", Some(VRRP_GROUP_V4), &Default::default()).unwrap();
            let group = IpAddr::V4(VRRP_GROUP_V4);
            // Fragmented on the wire, reassembled before raw delivery.
            sock.send_to(&[0x31; 9000], group).await.unwrap();
            sock.send_to(b"small", group).await.unwrap();
        },
    );
    assert_eq!(got.payload(), b"small");
}

// keepalived's `auth_type AH` adverts are IP protocol 51: a VRRP (112)
// socket never sees them, the AH socket does, and the VRRP socket does not
// take the AH one's packets either.
#[test]
fn ah_adverts_arrive_on_the_ah_socket_only() {
    use keel_vrrp::packet::{Advert, AuthConfig, AuthData, ChecksumMode, EncodeCtx, Version};
    let lab = lab("vrrpah", false);
    let lb1 = lab.add_node("lb1", &["192.0.2.1/24"]).unwrap();
    let lb2 = lab.add_node("lb2", &["192.0.2.2/24"]).unwrap();
    let key = AuthConfig::Ah("secret".into());
    let advert = Advert {
        version: Version::V2,
        vrid: 51,
        priority: 100,
        max_adver_int_cs: 100,
        addresses: vec![ip("192.0.2.50")],
        auth: AuthData::Ah { seq: 1 },
    };
    let ctx = EncodeCtx {
        src: ip("192.0.2.2"),
        dst: IpAddr::V4(VRRP_GROUP_V4),
        checksum: ChecksumMode::Rfc,
        auth: &key,
    };
    let bytes = keel_vrrp::packet::encode_ipv4_packet(&advert, &ctx, 7, 255).unwrap();
    let (ah_got, vrrp_got) = exchange(
        &lb1,
        |ready| async move {
            let ah = VrrpSocketOptions {
                header_included: true,
                ah: true,
                ..Default::default()
            };
            let ah_sock = VrrpSocket::open_v4("eth0", Some(VRRP_GROUP_V4), &ah).unwrap();
            let vrrp_sock =
                VrrpSocket::open_v4("eth0", Some(VRRP_GROUP_V4), &Default::default()).unwrap();
            ready.send(()).unwrap();
            let a = timeout(5 * SECOND, ah_sock.recv()).await.unwrap().unwrap();
            let v = timeout(Duration::from_millis(300), vrrp_sock.recv())
                .await
                .is_ok();
            (a, v)
        },
        &lb2,
        || {
            let bytes = bytes.clone();
            async move {
                let opts = VrrpSocketOptions {
                    header_included: true,
                    ..Default::default()
                };
                let sock = VrrpSocket::open_v4("eth0", Some(VRRP_GROUP_V4), &opts).unwrap();
                sock.send_to(&bytes, IpAddr::V4(VRRP_GROUP_V4))
                    .await
                    .unwrap();
            }
        },
    );
    assert!(!vrrp_got, "a protocol-112 socket saw an AH packet");
    assert_eq!(ah_got.packet[9], IPPROTO_AH);
    assert_eq!(ah_got.src, ip("192.0.2.2"));
    assert_eq!(ah_got.packet.len(), bytes.len());
    assert_eq!(keel_vrrp::packet::peek_ipv4_vrid(&ah_got.packet), Some(51));
}
