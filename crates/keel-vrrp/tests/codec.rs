//! Wire codec tests: keepalived reference packets (byte-exact both ways),
//! checksum variants, AH, and one test per receive check of RFC 3768 §7.1 /
//! RFC 5798 §7.1.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use keel_vrrp::packet::*;
use md5::Md5;

// ---------------------------------------------------------------- fixtures

const LB1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const LB2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
const LB2_MAC: [u8; 6] = [0x02, 0x6b, 0x70, 0x00, 0x00, 0x02];

/// A packet from a `tcpdump -xx` dump: the hex of the first frame after the
/// `# title` comment line.
fn hex_frame(file: &str, title: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with(&format!("# {title}")));
    lines.next().unwrap();
    let mut bytes = Vec::new();
    for l in lines.skip_while(|l| !l.trim_start().starts_with("0x")) {
        let l = l.trim_start();
        if !l.starts_with("0x") {
            break;
        }
        let hex: String = l.split_once(':').unwrap().1.split_whitespace().collect();
        for i in (0..hex.len()).step_by(2) {
            bytes.push(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
        }
    }
    bytes
}

fn advert(version: Version, prio: u8, cs: u16, auth: AuthData) -> Advert {
    Advert {
        version,
        vrid: 51,
        priority: prio,
        max_adver_int_cs: cs,
        addresses: vec![IpAddr::V4(VIP)],
        auth,
    }
}

fn pass(p: &str) -> AuthConfig {
    AuthConfig::Pass(p.to_string())
}

fn kp_pass() -> AuthData {
    pass("kp-pass").advert_auth(0)
}

fn ctx_tx(src: Ipv4Addr, dst: Ipv4Addr, auth: &AuthConfig) -> EncodeCtx<'_> {
    EncodeCtx {
        src: src.into(),
        dst: dst.into(),
        checksum: ChecksumMode::Rfc,
        auth,
    }
}

fn mcast_packet(a: &Advert, src: Ipv4Addr, id: u16, auth: &AuthConfig) -> Vec<u8> {
    encode_ipv4_packet(a, &ctx_tx(src, VRRP_MCAST_V4, auth), id, 255).unwrap()
}

/// Recomputes the IPv4 header checksum after a test edited the header.
fn fix_ip_checksum(p: &mut [u8]) {
    p[10] = 0;
    p[11] = 0;
    let ck = internet_checksum(&p[..20]);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
}

/// Recomputes a VRRPv2 checksum (no pseudo-header) at `off` in `p`.
fn fix_v2_checksum(p: &mut [u8], off: usize) {
    p[off + 6] = 0;
    p[off + 7] = 0;
    let ck = internet_checksum(&p[off..]);
    p[off + 6..off + 8].copy_from_slice(&ck.to_be_bytes());
}

// ------------------------------------------------- reference packets (§4.1)

struct Reference {
    file: &'static str,
    title: &'static str,
    src: Ipv4Addr,
    ip_id: u16,
    advert: Advert,
    auth: AuthConfig,
}

fn references() -> Vec<Reference> {
    vec![
        Reference {
            file: "vrrpv2-pass-advint1.hex.txt",
            title: "first advert",
            src: LB2,
            ip_id: 1,
            advert: advert(Version::V2, 90, 100, kp_pass()),
            auth: pass("kp-pass"),
        },
        Reference {
            file: "vrrpv2-pass-advint1.hex.txt",
            title: "first priority-0 advert",
            src: LB1,
            ip_id: 8,
            advert: advert(Version::V2, 0, 100, kp_pass()),
            auth: pass("kp-pass"),
        },
        Reference {
            file: "vrrpv3-advint1.hex.txt",
            title: "first advert",
            src: LB2,
            ip_id: 1,
            advert: advert(Version::V3, 90, 100, AuthData::None),
            auth: AuthConfig::None,
        },
        Reference {
            file: "vrrpv3-advint1.hex.txt",
            title: "first priority-0 advert",
            src: LB1,
            ip_id: 8,
            advert: advert(Version::V3, 0, 100, AuthData::None),
            auth: AuthConfig::None,
        },
        Reference {
            file: "vrrpv3-advint0.1.hex.txt",
            title: "first advert",
            src: LB2,
            ip_id: 1,
            advert: advert(Version::V3, 90, 10, AuthData::None),
            auth: AuthConfig::None,
        },
        Reference {
            file: "vrrpv3-advint0.1.hex.txt",
            title: "first priority-0 advert",
            src: LB1,
            ip_id: 66,
            advert: advert(Version::V3, 0, 10, AuthData::None),
            auth: AuthConfig::None,
        },
    ]
}

#[test]
fn reference_adverts_encode_byte_exact() {
    for r in references() {
        let frame = hex_frame(r.file, r.title);
        assert_eq!(&frame[12..14], &[0x08, 0x00], "{} {}", r.file, r.title);
        let ip = mcast_packet(&r.advert, r.src, r.ip_id, &r.auth);
        assert_eq!(ip, frame[14..], "{} {}", r.file, r.title);
    }
}

#[test]
fn reference_adverts_decode_to_the_same_advert() {
    for r in references() {
        let frame = hex_frame(r.file, r.title);
        let ctx = RxCtx::new(r.advert.version, &r.auth, r.advert.max_adver_int_cs);
        let rx = decode_ipv4_packet(&frame[14..], &ctx).unwrap();
        assert_eq!(rx.advert, r.advert, "{} {}", r.file, r.title);
        assert_eq!(rx.header.src, r.src);
        assert_eq!(rx.header.dst, VRRP_MCAST_V4);
        assert_eq!(rx.header.id, r.ip_id);
        assert_eq!(rx.header.ttl, 255);
        assert_eq!(rx.header.tos, 0xc0);
        assert!(!rx.old_unicast_checksum);
        // The VRRP message alone decodes the same way.
        let meta = RxMeta {
            src: r.src.into(),
            dst: VRRP_MCAST_V4.into(),
            ttl: 255,
        };
        assert_eq!(decode(&frame[34..], &meta, &ctx).unwrap().advert, r.advert);
        assert_eq!(peek_ipv4_vrid(&frame[14..]), Some(51));
        assert_eq!(peek_vrid(&frame[34..]), Some(51));
    }
}

#[test]
fn reference_vrrp_message_alone_is_byte_exact() {
    let frame = hex_frame("vrrpv3-advint1.hex.txt", "first advert");
    let a = advert(Version::V3, 90, 100, AuthData::None);
    let msg = encode_vrrp(&a, &ctx_tx(LB2, VRRP_MCAST_V4, &AuthConfig::None)).unwrap();
    assert_eq!(msg, frame[34..]);
}

#[test]
fn reference_garp_byte_exact() {
    for file in [
        "vrrpv2-pass-advint1.hex.txt",
        "vrrpv3-advint1.hex.txt",
        "vrrpv3-advint0.1.hex.txt",
    ] {
        let frame = hex_frame(file, "first gratuitous ARP");
        assert_eq!(frame.len(), ARP_FRAME_LEN);
        assert_eq!(encode_garp(LB2_MAC, VIP)[..], frame[..], "{file}");
    }
}

#[test]
fn parse_ipv4_packet_splits_header_and_trims_padding() {
    let frame = hex_frame("vrrpv3-advint1.hex.txt", "first advert");
    let mut padded = frame[14..].to_vec();
    padded.extend_from_slice(&[0; 14]); // Ethernet minimum-frame padding
    let (h, payload) = parse_ipv4_packet(&padded).unwrap();
    assert_eq!(h.header_len, 20);
    assert_eq!(h.total_len, 32);
    assert_eq!(h.protocol, IPPROTO_VRRP);
    assert_eq!(h.flags_fragment, 0, "keepalived sends without DF");
    assert_eq!(payload, &frame[34..]);
    let ctx = RxCtx::new(Version::V3, &AuthConfig::None, 100);
    assert!(decode_ipv4_packet(&padded, &ctx).is_ok());
}

// ------------------------------------------------------ checksum variants

#[test]
fn rfc5798_5_2_8_v3_ipv4_checksum_covers_pseudo_header() {
    // keepalived-probe §4.1: 0x0fa3 with the pseudo-header, 0xb234 without.
    let a = advert(Version::V3, 90, 100, AuthData::None);
    let mut ctx = ctx_tx(LB2, VRRP_MCAST_V4, &AuthConfig::None);
    assert_eq!(encode_vrrp(&a, &ctx).unwrap()[6..8], [0x0f, 0xa3]);
    ctx.checksum = ChecksumMode::AsV2;
    let as_v2 = encode_vrrp(&a, &ctx).unwrap();
    assert_eq!(as_v2[6..8], [0xb2, 0x34]);
    // v2 never has a pseudo-header whatever the mode.
    let v2 = advert(Version::V2, 90, 100, AuthData::None);
    let rfc = encode_vrrp(&v2, &ctx_tx(LB2, VRRP_MCAST_V4, &AuthConfig::None)).unwrap();
    assert_eq!(encode_vrrp(&v2, &ctx).unwrap(), rfc);
    assert_eq!(internet_checksum(&rfc), 0);
}

#[test]
fn v3_checksum_as_v2_is_rejected_by_rfc_receivers_and_accepted_by_as_v2_receivers() {
    let a = advert(Version::V3, 90, 100, AuthData::None);
    let mut tx = ctx_tx(LB2, VRRP_MCAST_V4, &AuthConfig::None);
    tx.checksum = ChecksumMode::AsV2;
    let pkt = encode_ipv4_packet(&a, &tx, 1, 255).unwrap();
    let mut rx = RxCtx::new(Version::V3, &AuthConfig::None, 100);
    assert_eq!(
        decode_ipv4_packet(&pkt, &rx).unwrap_err(),
        DropReason::BadChecksum
    );
    rx.checksum = ChecksumMode::AsV2;
    assert_eq!(decode_ipv4_packet(&pkt, &rx).unwrap().advert, a);
    // An AsV2 receiver still accepts RFC-checksummed adverts from other peers.
    let rfc = mcast_packet(&a, LB2, 1, &AuthConfig::None);
    assert_eq!(decode_ipv4_packet(&rfc, &rx).unwrap().advert, a);
}

#[test]
fn old_unicast_checksum_uses_the_multicast_group_in_the_pseudo_header() {
    let a = advert(Version::V3, 90, 100, AuthData::None);
    let mut tx = ctx_tx(LB2, LB1, &AuthConfig::None);
    tx.checksum = ChecksumMode::OLD_UNICAST;
    let old = encode_ipv4_packet(&a, &tx, 1, 255).unwrap();
    // Same checksum as the multicast advert in the capture.
    assert_eq!(old[26..28], [0x0f, 0xa3]);
    tx.checksum = ChecksumMode::Rfc;
    let new = encode_ipv4_packet(&a, &tx, 1, 255).unwrap();
    assert_ne!(old[26..28], new[26..28]);

    let mut rx = RxCtx::new(Version::V3, &AuthConfig::None, 100);
    rx.unicast = true;
    // Auto-detection, as keepalived does without `old_unicast_checksum never`.
    let got = decode_ipv4_packet(&old, &rx).unwrap();
    assert!(got.old_unicast_checksum);
    assert_eq!(got.advert, a);
    assert!(!decode_ipv4_packet(&new, &rx).unwrap().old_unicast_checksum);
    rx.detect_old_unicast = false;
    assert_eq!(
        decode_ipv4_packet(&old, &rx).unwrap_err(),
        DropReason::BadChecksum
    );
    // Configured old mode: accepts old form, flags it, rejects the RFC form.
    rx.checksum = ChecksumMode::OLD_UNICAST;
    assert!(decode_ipv4_packet(&old, &rx).unwrap().old_unicast_checksum);
    assert_eq!(
        decode_ipv4_packet(&new, &rx).unwrap_err(),
        DropReason::BadChecksum
    );
}

/// Independent RFC 8200 §8.1 pseudo-header checksum, word by word.
fn naive_ipv6_sum(src: Ipv6Addr, dst: Ipv6Addr, next: u8, body: &[u8]) -> u16 {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&src.octets());
    bytes.extend_from_slice(&dst.octets());
    bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&[0, 0, 0, next]);
    bytes.extend_from_slice(body);
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    let mut sum: u32 = 0;
    for w in bytes.chunks(2) {
        sum += u32::from(w[0]) << 8 | u32::from(w[1]);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[test]
fn rfc5798_5_2_8_ipv6_checksum_uses_ipv6_pseudo_header() {
    let src: Ipv6Addr = "fe80::6b70:1".parse().unwrap();
    let a = Advert {
        version: Version::V3,
        vrid: 7,
        priority: 200,
        max_adver_int_cs: 25,
        addresses: vec!["fe80::1".parse().unwrap(), "2001:db8::50".parse().unwrap()],
        auth: AuthData::None,
    };
    let tx = EncodeCtx {
        src: src.into(),
        dst: VRRP_MCAST_V6.into(),
        // Ignored for IPv6.
        checksum: ChecksumMode::AsV2,
        auth: &AuthConfig::None,
    };
    let msg = encode_vrrp(&a, &tx).unwrap();
    assert_eq!(msg.len(), 8 + 32);
    assert_eq!(msg[..8], [0x31, 7, 200, 2, 0x00, 25, msg[6], msg[7]]);
    assert_eq!(naive_ipv6_sum(src, VRRP_MCAST_V6, 112, &msg), 0xffff);
    // Without the pseudo-header it would not verify.
    assert_ne!(internet_checksum(&msg), 0);
    let meta = RxMeta {
        src: src.into(),
        dst: VRRP_MCAST_V6.into(),
        ttl: 255,
    };
    let rx = RxCtx::new(Version::V3, &AuthConfig::None, 25);
    assert_eq!(decode(&msg, &meta, &rx).unwrap().advert, a);
}

// ------------------------------------------------------------ NA / GARP

#[test]
fn rfc4861_7_2_6_unsolicited_na_frame() {
    let target: Ipv6Addr = "2001:db8::50".parse().unwrap();
    let f = encode_unsolicited_na_frame(LB2_MAC, target, target, false);
    assert_eq!(f.len(), NA_FRAME_LEN);
    assert_eq!(f[..6], [0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(f[6..12], LB2_MAC);
    assert_eq!(f[12..14], [0x86, 0xdd]);
    assert_eq!(f[14] >> 4, 6);
    assert_eq!(u16::from_be_bytes([f[18], f[19]]), 32);
    assert_eq!(f[20], 58, "next header ICMPv6");
    assert_eq!(f[21], 255, "RFC 4861 §7.1.2 hop limit 255");
    assert_eq!(f[22..38], target.octets());
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    assert_eq!(f[38..54], all_nodes.octets());
    let icmp = &f[54..];
    assert_eq!(icmp[0], 136);
    assert_eq!(icmp[1], 0);
    assert_eq!(icmp[4], 0x20, "override only: not solicited, not router");
    assert_eq!(icmp[8..24], target.octets());
    assert_eq!(icmp[24..32], [2, 1, 0x02, 0x6b, 0x70, 0, 0, 2]);
    assert_eq!(naive_ipv6_sum(target, all_nodes, 58, icmp), 0xffff);
    assert_eq!(
        encode_unsolicited_na(LB2_MAC, target, target, all_nodes, false)[..],
        icmp[..]
    );
    let routed = encode_unsolicited_na_frame(LB2_MAC, target, target, true);
    assert_eq!(routed[54 + 4], 0xa0, "router + override");
    assert_eq!(naive_ipv6_sum(target, all_nodes, 58, &routed[54..]), 0xffff);
}

#[test]
fn garp_is_a_broadcast_request_with_sender_equal_target() {
    let ip = Ipv4Addr::new(203, 0, 113, 9);
    let mac = [0x02, 0, 0, 0, 0, 0x99];
    let f = encode_garp(mac, ip);
    assert_eq!(f[..6], [0xff; 6]);
    assert_eq!(f[20..22], [0, 1]);
    assert_eq!(f[22..28], mac);
    assert_eq!(f[28..32], ip.octets());
    assert_eq!(f[32..38], [0xff; 6]);
    assert_eq!(f[38..42], ip.octets());
}

// ------------------------------------------------------------------- AH

fn ah_key() -> AuthConfig {
    AuthConfig::Ah("kp-ahkey".to_string())
}

fn ah_packet(seq: u32, dst: Ipv4Addr) -> Vec<u8> {
    let key = ah_key();
    let a = advert(Version::V2, 90, 100, AuthData::Ah { seq });
    encode_ipv4_packet(&a, &ctx_tx(LB2, dst, &key), 3, 255).unwrap()
}

/// Independent ICV: HMAC-MD5-96 over the IP header (TOS, flags/offset,
/// checksum zeroed; TTL too when unicast), AH with zero ICV, VRRP message.
fn reference_icv(pkt: &[u8], key: &[u8], unicast: bool) -> Vec<u8> {
    let mut buf = pkt.to_vec();
    buf[1] = 0;
    buf[6] = 0;
    buf[7] = 0;
    buf[10] = 0;
    buf[11] = 0;
    if unicast {
        buf[8] = 0;
    }
    buf[32..44].fill(0);
    let mut mac = Hmac::<Md5>::new_from_slice(key).unwrap();
    mac.update(&buf);
    mac.finalize().into_bytes()[..12].to_vec()
}

#[test]
fn ah_packet_layout_matches_keepalived() {
    let pkt = ah_packet(1, VRRP_MCAST_V4);
    assert_eq!(pkt.len(), 20 + 24 + 20);
    assert_eq!(pkt[9], IPPROTO_AH);
    assert_eq!(u16::from_be_bytes([pkt[2], pkt[3]]), 64);
    assert_eq!(internet_checksum(&pkt[..20]), 0);
    let ah = &pkt[20..44];
    assert_eq!(ah[0], IPPROTO_VRRP, "next header");
    assert_eq!(ah[1], 4, "payload length for a 96-bit ICV");
    assert_eq!(ah[2..4], [0, 0]);
    assert_eq!(ah[4..8], LB2.octets(), "SPI = source address");
    assert_eq!(ah[8..12], 1u32.to_be_bytes());
    let vrrp = &pkt[44..];
    assert_eq!(vrrp[4], 2, "auth type AH");
    assert_eq!(vrrp[12..20], [0; 8], "no password on the wire");
    assert_eq!(internet_checksum(vrrp), 0);
    assert_eq!(ah[12..24], reference_icv(&pkt, b"kp-ahkey", false)[..]);
    // Unicast: keepalived also zeroes the TTL.
    let uni = ah_packet(1, LB1);
    assert_eq!(uni[32..44], reference_icv(&uni, b"kp-ahkey", true)[..]);
}

#[test]
fn ah_round_trip() {
    let key = ah_key();
    let rx = RxCtx::new(Version::V2, &key, 100);
    for seq in [1, 2, 0xffff_fffd] {
        let got = decode_ipv4_packet(&ah_packet(seq, VRRP_MCAST_V4), &rx).unwrap();
        assert_eq!(
            got.advert,
            advert(Version::V2, 90, 100, AuthData::Ah { seq })
        );
        assert_eq!(got.header.protocol, IPPROTO_AH);
    }
    assert_eq!(peek_ipv4_vrid(&ah_packet(1, VRRP_MCAST_V4)), Some(51));
}

#[test]
fn ah_detects_tampering_of_every_covered_byte() {
    let key = ah_key();
    let rx = RxCtx::new(Version::V2, &key, 100);
    let pkt = ah_packet(5, VRRP_MCAST_V4);
    // Mutable fields (TOS 1, flags/offset 6-7, checksum 10-11) are not covered.
    let mutable = [1usize, 6, 7, 10, 11];
    for i in 0..pkt.len() {
        if mutable.contains(&i) {
            continue;
        }
        let mut t = pkt.clone();
        t[i] ^= 0x01;
        if i < 20 {
            fix_ip_checksum(&mut t);
        }
        if i >= 44 && !(50..52).contains(&i) {
            // Make the VRRP checksum valid again so only AH can catch it.
            fix_v2_checksum(&mut t, 44);
        }
        assert!(
            decode_ipv4_packet(&t, &rx).is_err(),
            "flipping byte {i} went unnoticed"
        );
    }
    // A changed TOS is not covered (mutable in RFC 2402 §3.3.3.1.1.1).
    let mut t = pkt.clone();
    t[1] = 0x00;
    fix_ip_checksum(&mut t);
    assert!(decode_ipv4_packet(&t, &rx).is_ok());
    // The ICV fails on a priority change with a fixed-up VRRP checksum.
    let mut t = pkt.clone();
    t[44 + 2] = 255;
    fix_v2_checksum(&mut t, 44);
    assert_eq!(
        decode_ipv4_packet(&t, &rx).unwrap_err(),
        DropReason::AhBadIcv
    );
    // Wrong key.
    let other = AuthConfig::Ah("other".into());
    let rx2 = RxCtx::new(Version::V2, &other, 100);
    assert_eq!(
        decode_ipv4_packet(&pkt, &rx2).unwrap_err(),
        DropReason::AhBadIcv
    );
}

#[test]
fn ah_unicast_ttl_is_not_covered() {
    let key = ah_key();
    let mut rx = RxCtx::new(Version::V2, &key, 100);
    rx.unicast = true;
    let mut pkt = ah_packet(9, LB1);
    pkt[8] = 61; // routed over a few hops
    fix_ip_checksum(&mut pkt);
    assert!(decode_ipv4_packet(&pkt, &rx).is_ok());
}

#[test]
fn ah_needs_a_key_and_an_ipv4_packet() {
    let a = advert(Version::V2, 90, 100, AuthData::Ah { seq: 1 });
    assert_eq!(
        encode_ipv4_packet(&a, &ctx_tx(LB2, VRRP_MCAST_V4, &pass("x")), 1, 255).unwrap_err(),
        EncodeError::MissingAhKey
    );
    assert_eq!(
        encode_vrrp(&a, &ctx_tx(LB2, VRRP_MCAST_V4, &ah_key())).unwrap_err(),
        EncodeError::AhNeedsIpv4Packet
    );
}

// --------------------------------------------------------- encode errors

#[test]
fn encode_rejects_unrepresentable_adverts() {
    let none = AuthConfig::None;
    let tx = ctx_tx(LB2, VRRP_MCAST_V4, &none);
    // RFC 3768 §5.3.7: whole seconds in 8 bits.
    let a = advert(Version::V2, 90, 150, AuthData::None);
    assert_eq!(
        encode_vrrp(&a, &tx).unwrap_err(),
        EncodeError::Interval(150)
    );
    let a = advert(Version::V2, 90, 25600, AuthData::None);
    assert_eq!(
        encode_vrrp(&a, &tx).unwrap_err(),
        EncodeError::Interval(25600)
    );
    // RFC 5798 §5.2.7: 12 bits of centiseconds.
    let a = advert(Version::V3, 90, 4096, AuthData::None);
    assert_eq!(
        encode_vrrp(&a, &tx).unwrap_err(),
        EncodeError::Interval(4096)
    );
    let a = advert(Version::V3, 90, 4095, AuthData::None);
    assert!(encode_vrrp(&a, &tx).is_ok());
    // v3 has no authentication (RFC 5798 §9).
    let a = advert(Version::V3, 90, 100, kp_pass());
    assert_eq!(
        encode_vrrp(&a, &tx).unwrap_err(),
        EncodeError::AuthNotSupported
    );
    let mut a = advert(Version::V3, 90, 100, AuthData::None);
    a.addresses = (0..256u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i)))
        .collect();
    assert_eq!(
        encode_vrrp(&a, &tx).unwrap_err(),
        EncodeError::TooManyAddresses(256)
    );
    let mut a = advert(Version::V3, 90, 100, AuthData::None);
    a.addresses.push("2001:db8::1".parse().unwrap());
    assert!(matches!(
        encode_vrrp(&a, &tx).unwrap_err(),
        EncodeError::AddressFamily(_)
    ));
    let mixed = EncodeCtx {
        src: LB2.into(),
        dst: VRRP_MCAST_V6.into(),
        checksum: ChecksumMode::Rfc,
        auth: &none,
    };
    assert!(matches!(
        encode_vrrp(&advert(Version::V3, 1, 100, AuthData::None), &mixed).unwrap_err(),
        EncodeError::FamilyMismatch { .. }
    ));
    let v6 = EncodeCtx {
        src: "fe80::1".parse().unwrap(),
        dst: VRRP_MCAST_V6.into(),
        checksum: ChecksumMode::Rfc,
        auth: &none,
    };
    let a6 = Advert {
        addresses: vec![],
        ..advert(Version::V3, 1, 100, AuthData::None)
    };
    assert_eq!(
        encode_ipv4_packet(&a6, &v6, 1, 255).unwrap_err(),
        EncodeError::NotIpv4
    );
}

#[test]
fn unicast_ttl_is_the_callers() {
    let a = advert(Version::V3, 90, 100, AuthData::None);
    let p = encode_ipv4_packet(&a, &ctx_tx(LB2, LB1, &AuthConfig::None), 77, 64).unwrap();
    assert_eq!(p[8], 64);
    assert_eq!(p[4..6], 77u16.to_be_bytes());
    assert_eq!(p[16..20], LB1.octets());
}

// --------------------------------------------------- receive checks (§7.1)

fn v2_pkt() -> Vec<u8> {
    mcast_packet(
        &advert(Version::V2, 90, 100, kp_pass()),
        LB2,
        1,
        &pass("kp-pass"),
    )
}

fn v3_pkt() -> Vec<u8> {
    mcast_packet(
        &advert(Version::V3, 90, 100, AuthData::None),
        LB2,
        1,
        &AuthConfig::None,
    )
}

/// Every way a packet can be refused, one case per reason.
fn drop_cases() -> Vec<(DropReason, Result<(), DropReason>)> {
    let none = AuthConfig::None;
    let kp = pass("kp-pass");
    let key = ah_key();
    let v2 = RxCtx::new(Version::V2, &kp, 100);
    let v3 = RxCtx::new(Version::V3, &none, 100);
    let ipv4 = |p: &[u8], c: &RxCtx<'_>| decode_ipv4_packet(p, c).map(|_| ());
    let mut cases = Vec::new();

    cases.push((DropReason::Truncated, ipv4(&v3_pkt()[..19], &v3)));
    let mut p = v3_pkt();
    p[0] = 0x65;
    cases.push((DropReason::BadIpHeader, ipv4(&p, &v3)));
    let mut p = v3_pkt();
    p[9] = 17;
    fix_ip_checksum(&mut p);
    cases.push((DropReason::BadProtocol, ipv4(&p, &v3)));
    let meta = RxMeta {
        src: LB2.into(),
        dst: VRRP_MCAST_V6.into(),
        ttl: 255,
    };
    cases.push((
        DropReason::FamilyMismatch,
        decode(&v3_pkt()[20..], &meta, &v3).map(|_| ()),
    ));
    // RFC 5798 §7.1: MUST verify TTL is 255.
    let mut p = v3_pkt();
    p[8] = 254;
    fix_ip_checksum(&mut p);
    cases.push((DropReason::TtlNot255, ipv4(&p, &v3)));
    // RFC 5798 §7.1: MUST verify the VRRP version.
    cases.push((DropReason::BadVersion, ipv4(&v3_pkt(), &v2)));
    // RFC 5798 §5.2.2: type 1 only.
    let mut p = v3_pkt();
    p[20] = 0x32;
    cases.push((DropReason::BadType, ipv4(&p, &v3)));
    // RFC 5798 §7.1: complete VRRP packet.
    let mut p = v3_pkt();
    p[23] = 2;
    cases.push((DropReason::BadLength, ipv4(&p, &v3)));
    // RFC 5798 §7.1: MUST verify the checksum.
    let mut p = v3_pkt();
    p[27] ^= 0xff;
    cases.push((DropReason::BadChecksum, ipv4(&p, &v3)));
    let mut filtered = v3;
    filtered.vrid = Some(52);
    cases.push((DropReason::VridMismatch, ipv4(&v3_pkt(), &filtered)));
    let mut uni = v3;
    uni.unicast = true;
    cases.push((DropReason::CastMismatch, ipv4(&v3_pkt(), &uni)));
    // RFC 3768 §5.3.6: auth types 0..2.
    let mut p = v2_pkt();
    p[24] = 3;
    fix_v2_checksum(&mut p, 20);
    cases.push((DropReason::InvalidAuthType, ipv4(&p, &v2)));
    // RFC 3768 §7.1: Auth Type must match the configuration.
    let v2_none = RxCtx::new(Version::V2, &none, 100);
    cases.push((DropReason::AuthTypeMismatch, ipv4(&v2_pkt(), &v2_none)));
    // RFC 3768 §7.1: MUST perform the authentication.
    let wrong = pass("kp-pasx");
    let v2_wrong = RxCtx::new(Version::V2, &wrong, 100);
    cases.push((DropReason::AuthFailure, ipv4(&v2_pkt(), &v2_wrong)));
    let v2_ah = RxCtx::new(Version::V2, &key, 100);
    let mut p = ah_packet(1, VRRP_MCAST_V4);
    p[20] = 6;
    cases.push((DropReason::AhNotVrrp, ipv4(&p, &v2_ah)));
    let mut p = ah_packet(1, VRRP_MCAST_V4);
    p[21] = 5;
    cases.push((DropReason::AhMalformed, ipv4(&p, &v2_ah)));
    let other = AuthConfig::Ah("nope".into());
    cases.push((
        DropReason::AhBadIcv,
        ipv4(
            &ah_packet(1, VRRP_MCAST_V4),
            &RxCtx::new(Version::V2, &other, 100),
        ),
    ));
    // A valid ICV over a SPI that is not the source address.
    let mut p = ah_packet(1, VRRP_MCAST_V4);
    p[24..28].copy_from_slice(&LB1.octets());
    let icv = reference_icv(&p, b"kp-ahkey", false);
    p[32..44].copy_from_slice(&icv);
    cases.push((DropReason::AhBadSpi, ipv4(&p, &v2_ah)));
    let mut replay = v2_ah;
    replay.ah_last_seq = Some(7);
    cases.push((
        DropReason::AhReplay,
        ipv4(&ah_packet(7, VRRP_MCAST_V4), &replay),
    ));
    // RFC 3768 §7.1: MUST drop on an Adver Interval mismatch.
    let v2_slow = RxCtx::new(Version::V2, &kp, 200);
    cases.push((DropReason::IntervalMismatch, ipv4(&v2_pkt(), &v2_slow)));
    // RFC 5798 §7.1 (MAY): address list checks.
    let a = advert(Version::V3, 90, 100, AuthData::None);
    cases.push((
        DropReason::AddressCount,
        check_addresses(&a, &[VIP.into(), LB1.into()]),
    ));
    cases.push((
        DropReason::AddressMismatch,
        check_addresses(&a, &[LB1.into()]),
    ));
    cases
}

#[test]
fn every_drop_reason_is_produced_by_its_case() {
    let cases = drop_cases();
    for (want, got) in &cases {
        assert_eq!(got, &Err(*want), "case for {want:?}");
    }
    let covered: HashSet<DropReason> = cases.iter().map(|(r, _)| *r).collect();
    let all: HashSet<DropReason> = DropReason::ALL.into_iter().collect();
    assert_eq!(covered, all, "a DropReason lacks a test case");
}

#[test]
fn counter_names_are_stable_unique_snake_case() {
    let names: HashSet<&str> = DropReason::ALL.iter().map(|r| r.counter_name()).collect();
    assert_eq!(names.len(), DropReason::ALL.len());
    for n in &names {
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
    assert_eq!(DropReason::TtlNot255.counter_name(), "ttl_not_255");
    assert_eq!(DropReason::BadChecksum.counter_name(), "bad_checksum");
    assert_eq!(
        DropReason::AuthFailure.to_string(),
        "authentication failure (password)"
    );
}

#[test]
fn truncation_at_every_length_is_reported_not_panicking() {
    let v3 = RxCtx::new(Version::V3, &AuthConfig::None, 100);
    let p = v3_pkt();
    for n in 0..p.len() {
        let r = decode_ipv4_packet(&p[..n], &v3);
        assert_eq!(r.unwrap_err(), DropReason::Truncated, "length {n}");
    }
    let meta = RxMeta {
        src: LB2.into(),
        dst: VRRP_MCAST_V4.into(),
        ttl: 255,
    };
    for n in 0..8 {
        assert_eq!(
            decode(&p[20..20 + n], &meta, &v3).unwrap_err(),
            DropReason::Truncated
        );
    }
    // Past the fixed header, a short message is a length error.
    assert_eq!(
        decode(&p[20..30], &meta, &v3).unwrap_err(),
        DropReason::BadLength
    );
}

#[test]
fn rfc3768_7_1_unicast_peers_skip_the_ttl_check() {
    // keepalived waives the TTL rule for unicast peers (they may be routed).
    let a = advert(Version::V3, 90, 100, AuthData::None);
    let p = encode_ipv4_packet(&a, &ctx_tx(LB2, LB1, &AuthConfig::None), 1, 60).unwrap();
    let mut rx = RxCtx::new(Version::V3, &AuthConfig::None, 100);
    rx.unicast = true;
    assert_eq!(decode_ipv4_packet(&p, &rx).unwrap().advert, a);
    rx.unicast = false;
    assert_eq!(
        decode_ipv4_packet(&p, &rx).unwrap_err(),
        DropReason::TtlNot255
    );
}

#[test]
fn ah_configured_but_plain_packet_or_vice_versa_is_auth_type_mismatch() {
    let key = ah_key();
    let kp = pass("kp-pass");
    let rx_ah = RxCtx::new(Version::V2, &key, 100);
    assert_eq!(
        decode_ipv4_packet(&v2_pkt(), &rx_ah).unwrap_err(),
        DropReason::AuthTypeMismatch
    );
    let rx_pass = RxCtx::new(Version::V2, &kp, 100);
    assert_eq!(
        decode_ipv4_packet(&ah_packet(1, VRRP_MCAST_V4), &rx_pass).unwrap_err(),
        DropReason::AuthTypeMismatch
    );
}

#[test]
fn rfc5798_7_1_v3_interval_mismatch_is_not_a_drop() {
    // Only VRRPv2 requires matching intervals; a v3 backup learns the
    // master's interval (RFC 5798 §6.4.2).
    let rx = RxCtx::new(Version::V3, &AuthConfig::None, 300);
    assert_eq!(
        decode_ipv4_packet(&v3_pkt(), &rx)
            .unwrap()
            .advert
            .max_adver_int_cs,
        100
    );
}

#[test]
fn rfc5798_5_2_6_v3_reserved_bits_are_ignored() {
    let mut p = v3_pkt();
    p[24] |= 0xf0;
    // Keep the checksum valid: the reserved bits are part of it.
    let mut bytes = p[20..].to_vec();
    bytes[6] = 0;
    bytes[7] = 0;
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&LB2.octets());
    pseudo.extend_from_slice(&VRRP_MCAST_V4.octets());
    pseudo.extend_from_slice(&[0, 112, 0, bytes.len() as u8]);
    pseudo.extend_from_slice(&bytes);
    let ck = internet_checksum(&pseudo);
    p[26..28].copy_from_slice(&ck.to_be_bytes());
    let rx = RxCtx::new(Version::V3, &AuthConfig::None, 100);
    assert_eq!(
        decode_ipv4_packet(&p, &rx).unwrap().advert.max_adver_int_cs,
        100
    );
}

#[test]
fn rfc5798_7_1_address_owner_adverts_pass_the_address_check() {
    let mut a = advert(Version::V3, 255, 100, AuthData::None);
    assert!(check_addresses(&a, &[LB1.into()]).is_ok());
    a.priority = 254;
    assert!(check_addresses(&a, &[VIP.into()]).is_ok());
}

#[test]
fn v2_auth_none_ignores_auth_data_contents() {
    // RFC 3768 §5.3.10: receivers ignore the data for type 0.
    let none = AuthConfig::None;
    let mut p = mcast_packet(&advert(Version::V2, 90, 100, AuthData::None), LB2, 1, &none);
    p[32..40].copy_from_slice(b"garbage!");
    fix_v2_checksum(&mut p, 20);
    let rx = RxCtx::new(Version::V2, &none, 100);
    assert_eq!(
        decode_ipv4_packet(&p, &rx).unwrap().advert.auth,
        AuthData::None
    );
}

#[test]
fn auth_config_key_is_truncated_and_nul_padded_to_8_bytes() {
    assert_eq!(pass("kp-pass").key_bytes(), *b"kp-pass\0");
    assert_eq!(pass("0123456789").key_bytes(), *b"01234567");
    assert_eq!(AuthConfig::None.key_bytes(), [0; 8]);
    assert_eq!(ah_key().advert_auth(4), AuthData::Ah { seq: 4 });
    assert_eq!(AuthConfig::None.advert_auth(4), AuthData::None);
}
