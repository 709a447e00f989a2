//! Any bytes, read as a raw IPv4 packet or as a bare VRRP message (IPv4 or
//! IPv6 addressing), must decode to an advert or a DropReason without
//! panicking; an accepted advert must re-encode.
#![no_main]

use keel_vrrp::packet::{
    AuthConfig, ChecksumMode, EncodeCtx, RxCtx, RxMeta, VRRP_MCAST_V4, VRRP_MCAST_V6, Version,
    decode, decode_ipv4_packet, encode_ipv4_packet, encode_vrrp, peek_ipv4_vrid,
};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the receiving instance's configuration so the
    // auth, checksum and unicast branches are all reachable.
    let (sel, bytes) = match data.split_first() {
        Some((s, rest)) => (*s, rest),
        None => (0, data),
    };
    let version = if sel & 1 == 0 {
        Version::V2
    } else {
        Version::V3
    };
    let auth = match (sel >> 1) & 3 {
        0 => AuthConfig::None,
        1 => AuthConfig::Pass("kp-pass".into()),
        _ => AuthConfig::Ah("kp-pass".into()),
    };
    let mut rx = RxCtx::new(version, &auth, 100);
    rx.unicast = sel & 0x08 != 0;
    rx.checksum = match (sel >> 4) & 3 {
        0 => ChecksumMode::Rfc,
        1 => ChecksumMode::AsV2,
        _ => ChecksumMode::OLD_UNICAST,
    };
    rx.ah_last_seq = (sel & 0x40 != 0).then_some(1);

    let _ = peek_ipv4_vrid(bytes);
    if let Ok(got) = decode_ipv4_packet(bytes, &rx) {
        let tx = EncodeCtx {
            src: got.header.src.into(),
            dst: got.header.dst.into(),
            checksum: rx.checksum,
            auth: &auth,
        };
        encode_ipv4_packet(&got.advert, &tx, got.header.id, got.header.ttl)
            .expect("an accepted advert must re-encode");
    }

    let v4_dst = if rx.unicast {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
    } else {
        IpAddr::V4(VRRP_MCAST_V4)
    };
    let v6_dst = if rx.unicast {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V6(VRRP_MCAST_V6)
    };
    for (src, dst) in [
        (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), v4_dst),
        (
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
            v6_dst,
        ),
    ] {
        let meta = RxMeta { src, dst, ttl: 255 };
        if let Ok(got) = decode(bytes, &meta, &rx) {
            let tx = EncodeCtx {
                src,
                dst,
                checksum: rx.checksum,
                auth: &auth,
            };
            encode_vrrp(&got.advert, &tx).expect("an accepted advert must re-encode");
        }
    }
});
