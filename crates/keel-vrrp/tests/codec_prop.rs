//! Property tests: encode∘decode is the identity for every representable
//! advert (IPv4 v2/v3, AH, IPv6), and decoding arbitrary bytes never panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use keel_vrrp::packet::*;
use proptest::prelude::*;

fn v4_addrs() -> impl Strategy<Value = Vec<IpAddr>> {
    prop::collection::vec(
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        0..20,
    )
}

fn v6_addrs() -> impl Strategy<Value = Vec<IpAddr>> {
    prop::collection::vec(
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        0..12,
    )
}

fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("unicast", |a| !a.is_multicast())
}

#[derive(Debug, Clone)]
enum Auth4 {
    None,
    Pass(String),
    Ah(String, u32),
}

fn auth4() -> impl Strategy<Value = Auth4> {
    prop_oneof![
        Just(Auth4::None),
        "[a-zA-Z0-9]{1,8}".prop_map(Auth4::Pass),
        ("[a-zA-Z0-9]{1,8}", any::<u32>()).prop_map(|(k, s)| Auth4::Ah(k, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// RFC 3768 §5 / RFC 5798 §5 layouts round-trip over IPv4, multicast and
    /// unicast, every checksum mode and every v2 authentication.
    #[test]
    fn ipv4_round_trip(
        v3 in any::<bool>(),
        vrid in any::<u8>(),
        priority in any::<u8>(),
        cs3 in 0u16..=0x0fff,
        secs in any::<u8>(),
        addresses in v4_addrs(),
        auth in auth4(),
        src in unicast_v4(),
        peer in prop::option::of(unicast_v4()),
        mode in prop_oneof![Just(ChecksumMode::Rfc), Just(ChecksumMode::AsV2), Just(ChecksumMode::OLD_UNICAST)],
        ip_id in any::<u16>(),
    ) {
        let version = if v3 { Version::V3 } else { Version::V2 };
        let (config, data) = match (&auth, v3) {
            (_, true) | (Auth4::None, _) => (AuthConfig::None, AuthData::None),
            (Auth4::Pass(p), false) => {
                let c = AuthConfig::Pass(p.clone());
                let d = c.advert_auth(0);
                (c, d)
            }
            (Auth4::Ah(k, s), false) => (AuthConfig::Ah(k.clone()), AuthData::Ah { seq: *s }),
        };
        let cs = if v3 { cs3 } else { u16::from(secs) * 100 };
        let advert = Advert { version, vrid, priority, max_adver_int_cs: cs, addresses, auth: data };
        let dst = peer.unwrap_or(VRRP_MCAST_V4);
        let unicast = peer.is_some();
        let tx = EncodeCtx { src: src.into(), dst: dst.into(), checksum: mode, auth: &config };
        let ttl = if unicast { 64 } else { 255 };
        let pkt = encode_ipv4_packet(&advert, &tx, ip_id, ttl).unwrap();
        let mut rx = RxCtx::new(version, &config, cs);
        rx.checksum = mode;
        rx.unicast = unicast;
        let got = decode_ipv4_packet(&pkt, &rx).unwrap();
        prop_assert_eq!(&got.advert, &advert);
        prop_assert_eq!(got.header.id, ip_id);
        prop_assert_eq!(got.header.ttl, ttl);
        // And the bytes are reproduced from the decoded form.
        prop_assert_eq!(encode_ipv4_packet(&got.advert, &tx, ip_id, ttl).unwrap(), pkt);
    }

    /// RFC 5798 §5.1.2 / §5.2.8: IPv6 adverts round-trip with the IPv6 pseudo-header checksum.
    #[test]
    fn ipv6_round_trip(
        v3 in any::<bool>(),
        vrid in any::<u8>(),
        priority in any::<u8>(),
        cs3 in 0u16..=0x0fff,
        secs in any::<u8>(),
        addresses in v6_addrs(),
        src in any::<u128>(),
        peer in prop::option::of(any::<u128>().prop_filter("unicast", |a| (a >> 120) != 0xff)),
    ) {
        let version = if v3 { Version::V3 } else { Version::V2 };
        let cs = if v3 { cs3 } else { u16::from(secs) * 100 };
        let advert = Advert { version, vrid, priority, max_adver_int_cs: cs, addresses, auth: AuthData::None };
        let src = IpAddr::V6(Ipv6Addr::from(src));
        let dst = IpAddr::V6(peer.map_or(VRRP_MCAST_V6, Ipv6Addr::from));
        let none = AuthConfig::None;
        let tx = EncodeCtx { src, dst, checksum: ChecksumMode::Rfc, auth: &none };
        let msg = encode_vrrp(&advert, &tx).unwrap();
        let mut rx = RxCtx::new(version, &none, cs);
        rx.unicast = peer.is_some();
        let meta = RxMeta { src, dst, ttl: 255 };
        let got = decode(&msg, &meta, &rx).unwrap();
        prop_assert_eq!(&got.advert, &advert);
        prop_assert!(!got.old_unicast_checksum);
    }
}

fn contexts() -> Vec<(Version, AuthConfig, bool)> {
    vec![
        (Version::V2, AuthConfig::None, false),
        (Version::V2, AuthConfig::Pass("kp-pass".into()), false),
        (Version::V2, AuthConfig::Ah("kp-pass".into()), true),
        (Version::V3, AuthConfig::None, false),
        (Version::V3, AuthConfig::None, true),
    ]
}

fn decode_all_ways(bytes: &[u8]) {
    for (version, auth, unicast) in contexts() {
        let mut rx = RxCtx::new(version, &auth, 100);
        rx.unicast = unicast;
        rx.ah_last_seq = Some(3);
        let _ = decode_ipv4_packet(bytes, &rx);
        let _ = peek_ipv4_vrid(bytes);
        let _ = parse_ipv4_packet(bytes);
        for (src, dst) in [
            (IpAddr::from([192, 0, 2, 2]), IpAddr::from([224, 0, 0, 18])),
            (IpAddr::from([192, 0, 2, 2]), IpAddr::from([192, 0, 2, 1])),
            (IpAddr::V6(Ipv6Addr::LOCALHOST), IpAddr::V6(VRRP_MCAST_V6)),
        ] {
            let meta = RxMeta { src, dst, ttl: 255 };
            let _ = decode(bytes, &meta, &rx);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Arbitrary bytes never make the decoder panic.
    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        decode_all_ways(&bytes);
    }

    /// Nor do well-formed packets with a few bytes changed, which reach the
    /// deeper checks that random bytes rarely get past.
    #[test]
    fn decode_never_panics_on_mutated_packets(
        which in 0usize..3,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let key = AuthConfig::Ah("kp-pass".into());
        let pass = AuthConfig::Pass("kp-pass".into());
        let none = AuthConfig::None;
        let vip = IpAddr::from([192, 0, 2, 50]);
        let (version, auth, cfg) = match which {
            0 => (Version::V2, AuthData::Ah { seq: 9 }, &key),
            1 => (Version::V2, pass.advert_auth(0), &pass),
            _ => (Version::V3, AuthData::None, &none),
        };
        let advert = Advert { version, vrid: 51, priority: 90, max_adver_int_cs: 100, addresses: vec![vip], auth };
        let tx = EncodeCtx { src: IpAddr::from([192, 0, 2, 2]), dst: IpAddr::V4(VRRP_MCAST_V4), checksum: ChecksumMode::Rfc, auth: cfg };
        let mut pkt = encode_ipv4_packet(&advert, &tx, 1, 255).unwrap();
        for (i, b) in edits {
            let i = i.index(pkt.len());
            pkt[i] = b;
        }
        if do_cut {
            pkt.truncate(cut.index(pkt.len() + 1));
        }
        decode_all_ways(&pkt);
        if pkt.len() > 20 {
            decode_all_ways(&pkt[20..]);
        }
    }
}
