use std::net::IpAddr;

use super::*;
use crate::config::InstanceConfig;
use crate::packet::{Ipv4Header, parse_ipv4_packet};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg(vrid: u8, me: &str) -> InstanceConfig {
    let mut c = InstanceConfig::new(format!("VI_{vrid}"), vrid, ip(me));
    c.vips.vips.push(ip("192.0.2.50"));
    c
}

fn started(units: Vec<(InstanceConfig, WireConfig)>) -> Router {
    let mut r = Router::new(100);
    for (c, w) in units {
        r.add_unit(Unit::single(c, Instant::ZERO), vec![w]);
    }
    r.handle_all(Instant::ZERO, Event::Startup);
    r
}

fn transmits(r: &mut Router) -> Vec<Transmit> {
    std::iter::from_fn(|| r.poll_transmit()).collect()
}

fn header(t: &Transmit) -> Ipv4Header {
    parse_ipv4_packet(&t.bytes).unwrap().0
}

#[test]
fn index_is_by_ingress_family_and_vrid() {
    let mut r = Router::new(0);
    let (u0, c0) = r.add_unit(
        Unit::single(cfg(1, "192.0.2.1"), Instant::ZERO),
        vec![WireConfig::multicast(7, ip("192.0.2.1"))],
    );
    let (u1, _) = r.add_unit(
        Unit::single(cfg(1, "192.0.2.1"), Instant::ZERO),
        vec![WireConfig::multicast(8, ip("192.0.2.1"))],
    );
    let mut v6 = InstanceConfig::new("VI_6", 1, ip("fe80::1"));
    v6.vips.vips.push(ip("2001:db8::1"));
    let (u2, _) = r.add_unit(
        Unit::single(v6, Instant::ZERO),
        vec![WireConfig::multicast(7, ip("fe80::1"))],
    );
    assert!(c0.is_empty());
    assert_eq!(
        r.lookup(7, false, 1),
        Some(InstanceId {
            unit: u0,
            member: 0
        })
    );
    assert_eq!(
        r.lookup(8, false, 1),
        Some(InstanceId {
            unit: u1,
            member: 0
        })
    );
    assert_eq!(
        r.lookup(7, true, 1),
        Some(InstanceId {
            unit: u2,
            member: 0
        })
    );
    assert_eq!(r.lookup(7, false, 2), None);
    // Same key again: the first keeps it and the clash is reported.
    let (_, clash) = r.add_unit(
        Unit::single(cfg(1, "192.0.2.1"), Instant::ZERO),
        vec![WireConfig::multicast(7, ip("192.0.2.1"))],
    );
    assert_eq!(
        clash,
        vec![InstanceId {
            unit: u0,
            member: 0
        }]
    );
    assert_eq!(
        r.lookup(7, false, 1),
        Some(InstanceId {
            unit: u0,
            member: 0
        })
    );
    r.remove_unit(u0);
    assert_eq!(r.lookup(7, false, 1), None);
}

#[test]
fn unclaimed_datagrams_are_counted_as_orphans() {
    let mut r = started(vec![(
        cfg(1, "192.0.2.1"),
        WireConfig::multicast(0, ip("192.0.2.1")),
    )]);
    let mut other = started(vec![(
        cfg(2, "192.0.2.2"),
        WireConfig::multicast(0, ip("192.0.2.2")),
    )]);
    other.handle_timeout(Instant::from_micros(10_000_000));
    let t = transmits(&mut other).pop().unwrap();
    r.handle_datagram(Instant::ZERO, 0, Datagram::Ipv4(&t.bytes));
    r.handle_datagram(Instant::ZERO, 0, Datagram::Ipv4(&[0x45]));
    // The right VRID on another ingress is not ours either.
    r.handle_datagram(Instant::ZERO, 3, Datagram::Ipv4(&t.bytes));
    assert_eq!(r.orphan_drops().get("vrid_mismatch"), Some(&2));
    assert_eq!(r.orphan_drops().get("truncated"), Some(&1));
    // One report per reason within the log interval.
    let reports = std::iter::from_fn(|| r.poll_output())
        .filter(|o| matches!(o, Output::Dropped { instance: None, .. }))
        .count();
    assert_eq!(reports, 2);
}

#[test]
fn ip_id_counts_up_across_instances_and_ah_sequence_per_instance() {
    let mut ah = WireConfig::multicast(0, ip("192.0.2.1"));
    ah.auth = AuthConfig::Ah("k".into());
    let mut r = started(vec![
        (cfg(1, "192.0.2.1"), ah),
        (
            cfg(2, "192.0.2.1"),
            WireConfig::multicast(0, ip("192.0.2.1")),
        ),
    ]);
    let mut now = Instant::ZERO;
    let mut ids = Vec::new();
    let mut seqs = Vec::new();
    for _ in 0..6 {
        now = now + Duration::from_secs(1);
        r.handle_timeout(now);
        for t in transmits(&mut r) {
            ids.push(header(&t).id);
            if t.instance.unit == 0 {
                seqs.push(u32::from_be_bytes(t.bytes[28..32].try_into().unwrap()));
                assert_eq!(header(&t).protocol, crate::packet::IPPROTO_AH);
            }
        }
    }
    assert!(ids.len() >= 4);
    assert!(
        ids.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "{ids:?}"
    );
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(seqs.first(), Some(&1));
}

#[test]
fn unicast_transmits_go_to_each_peer_with_the_unicast_ttl() {
    let mut w = WireConfig::multicast(0, ip("192.0.2.1"));
    w.group = None;
    w.unicast_peers = vec![ip("192.0.2.2"), ip("192.0.2.3")];
    w.unicast_ttl = 10;
    let mut r = started(vec![(cfg(1, "192.0.2.1"), w)]);
    r.handle_timeout(Instant::from_micros(5_000_000));
    let ts = transmits(&mut r);
    let dsts: Vec<IpAddr> = ts.iter().map(|t| t.dst).collect();
    assert_eq!(dsts, vec![ip("192.0.2.2"), ip("192.0.2.3")]);
    assert!(ts.iter().all(|t| header(t).ttl == 10));
}

#[test]
fn adverts_sent_counts_only_what_reached_the_wire() {
    let mut r = started(vec![(
        cfg(1, "192.0.2.1"),
        WireConfig::multicast(0, ip("192.0.2.1")),
    )]);
    r.handle_timeout(Instant::from_micros(5_000_000));
    let ts = transmits(&mut r);
    let id = InstanceId { unit: 0, member: 0 };
    let sent = r.stats(id).unwrap().adverts_sent;
    assert_eq!(sent, ts.len() as u64);
    assert_eq!(r.record_send_error(&ts[0]), 1);
    let s = r.stats(id).unwrap();
    assert_eq!((s.adverts_sent, s.send_errors), (sent - 1, 1));
}

#[test]
fn a_peer_on_the_old_unicast_checksum_is_followed() {
    let mut w = WireConfig::multicast(0, ip("192.0.2.1"));
    w.group = None;
    w.unicast_peers = vec![ip("192.0.2.2")];
    let mut c = cfg(1, "192.0.2.1");
    c.version = crate::packet::Version::V3;
    c.priority = 50;
    let mut r = started(vec![(c, w)]);
    let adv = Advert {
        version: crate::packet::Version::V3,
        vrid: 1,
        priority: 100,
        max_adver_int_cs: 100,
        addresses: vec![ip("192.0.2.50")],
        auth: AuthData::None,
    };
    let ctx = EncodeCtx {
        src: ip("192.0.2.2"),
        dst: ip("192.0.2.1"),
        checksum: ChecksumMode::OLD_UNICAST,
        auth: &AuthConfig::None,
    };
    let bytes = packet::encode_ipv4_packet(&adv, &ctx, 1, 255).unwrap();
    let id = InstanceId { unit: 0, member: 0 };
    assert_eq!(r.checksum(id), Some(ChecksumMode::Rfc));
    r.handle_datagram(Instant::from_micros(10), 0, Datagram::Ipv4(&bytes));
    assert_eq!(r.checksum(id), Some(ChecksumMode::OLD_UNICAST));
    assert_eq!(r.stats(id).unwrap().adverts_received, 1);
    assert!(
        std::iter::from_fn(|| r.poll_output())
            .any(|o| matches!(o, Output::ChecksumFollowed { .. }))
    );
}

#[test]
fn unicast_source_check_drops_strangers_before_anything_else() {
    let mut w = WireConfig::multicast(0, ip("192.0.2.1"));
    w.group = None;
    w.unicast_peers = vec![ip("192.0.2.2")];
    w.unicast_src_check = Some(vec![PeerCheck {
        address: ip("192.0.2.2"),
        min_ttl: 0,
        max_ttl: 255,
    }]);
    let mut r = started(vec![(cfg(1, "192.0.2.1"), w)]);
    let adv = Advert {
        version: crate::packet::Version::V2,
        vrid: 1,
        priority: 200,
        max_adver_int_cs: 100,
        addresses: vec![ip("192.0.2.50")],
        auth: AuthData::None,
    };
    let ctx = EncodeCtx {
        src: ip("192.0.2.9"),
        dst: ip("192.0.2.1"),
        checksum: ChecksumMode::Rfc,
        auth: &AuthConfig::None,
    };
    let bytes = packet::encode_ipv4_packet(&adv, &ctx, 1, 255).unwrap();
    let id = InstanceId { unit: 0, member: 0 };
    r.handle_datagram(Instant::from_micros(10), 0, Datagram::Ipv4(&bytes));
    assert_eq!(
        r.stats(id).unwrap().drops.get("unicast_src_not_peer"),
        Some(&1)
    );
    assert_eq!(r.stats(id).unwrap().adverts_received, 0);
}

/// Every datagram is either taken as an advert or counted as a drop, once;
/// nothing a LAN can send panics the router.
mod never_silent {
    use proptest::prelude::*;

    use super::*;

    fn counted(r: &Router) -> u64 {
        let id = InstanceId { unit: 0, member: 0 };
        let s = r.stats(id).unwrap();
        s.adverts_received + s.drops.values().sum::<u64>() + r.orphan_drops().values().sum::<u64>()
    }

    fn valid() -> Vec<u8> {
        let adv = Advert {
            version: crate::packet::Version::V2,
            vrid: 1,
            priority: 100,
            max_adver_int_cs: 100,
            addresses: vec![ip("192.0.2.50")],
            auth: AuthData::Pass(AuthConfig::Pass("pw".into()).key_bytes()),
        };
        let ctx = EncodeCtx {
            src: ip("192.0.2.2"),
            dst: IpAddr::V4(crate::packet::VRRP_MCAST_V4),
            checksum: ChecksumMode::Rfc,
            auth: &AuthConfig::Pass("pw".into()),
        };
        packet::encode_ipv4_packet(&adv, &ctx, 1, 255).unwrap()
    }

    proptest! {
        #[test]
        fn every_datagram_is_accepted_or_counted(
            flips in proptest::collection::vec((0usize..64, any::<u8>()), 0..4),
            cut in 0usize..64,
            junk in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut w = WireConfig::multicast(0, ip("192.0.2.1"));
            w.auth = AuthConfig::Pass("pw".into());
            let mut r = started(vec![(cfg(1, "192.0.2.1"), w)]);
            let mut pkt = valid();
            for (i, x) in flips {
                if let Some(b) = pkt.get_mut(i) {
                    *b ^= x;
                }
            }
            pkt.truncate(pkt.len().saturating_sub(cut % 8));
            let now = Instant::from_micros(1);
            r.handle_datagram(now, 0, Datagram::Ipv4(&pkt));
            r.handle_datagram(now, 0, Datagram::Ipv4(&junk));
            let meta = RxMeta { src: ip("fe80::2"), dst: ip("ff02::12"), ttl: 255 };
            r.handle_datagram(now, 0, Datagram::Ipv6 { meta, payload: &junk });
            prop_assert_eq!(counted(&r), 3);
        }
    }
}
