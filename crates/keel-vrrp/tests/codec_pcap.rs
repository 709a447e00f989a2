//! Every VRRP advert and gratuitous ARP in keepalived's reference captures
//! decodes, passes every receive check (RFC 3768 §7.1 / RFC 5798 §7.1), and
//! re-encodes to the identical bytes.

use std::net::IpAddr;

use keel_vrrp::packet::*;

/// Frames of a classic little-endian microsecond pcap with Ethernet link type.
fn pcap_frames(file: &str) -> Vec<Vec<u8>> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let d = std::fs::read(path).unwrap();
    assert_eq!(d[..4], [0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    assert_eq!(
        u32::from_le_bytes(d[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= d.len() {
        let incl = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap()) as usize;
        let orig = u32::from_le_bytes(d[off + 12..off + 16].try_into().unwrap()) as usize;
        assert_eq!(incl, orig, "capture must not be truncated");
        off += 16;
        frames.push(d[off..off + incl].to_vec());
        off += incl;
    }
    assert_eq!(off, d.len());
    frames
}

#[derive(Default, Debug)]
struct Tally {
    adverts: usize,
    priority_zero: usize,
    garps: usize,
    other_arp: usize,
}

fn check_capture(file: &str, version: Version, auth: &AuthConfig, adver_int_cs: u16) -> Tally {
    let rx = RxCtx::new(version, auth, adver_int_cs);
    let mut t = Tally::default();
    for (n, f) in pcap_frames(file).iter().enumerate() {
        let ethertype = u16::from_be_bytes([f[12], f[13]]);
        match ethertype {
            0x0800 => {
                assert_eq!(f[..6], [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12], "{file}#{n}");
                let got = decode_ipv4_packet(&f[14..], &rx)
                    .unwrap_or_else(|e| panic!("{file} frame {n}: {e}"));
                assert_eq!(got.advert.version, version);
                assert_eq!(got.advert.vrid, 51);
                assert_eq!(got.advert.max_adver_int_cs, adver_int_cs);
                assert_eq!(got.advert.addresses, vec![IpAddr::from([192, 0, 2, 50])]);
                let tx = EncodeCtx {
                    src: got.header.src.into(),
                    dst: got.header.dst.into(),
                    checksum: ChecksumMode::Rfc,
                    auth,
                };
                let again =
                    encode_ipv4_packet(&got.advert, &tx, got.header.id, got.header.ttl).unwrap();
                assert_eq!(again, f[14..], "{file} frame {n} re-encodes differently");
                // The source MAC is the sender's interface MAC (no VMAC).
                assert_eq!(f[6..11], [0x02, 0x6b, 0x70, 0x00, 0x00]);
                assert_eq!(f[11], got.header.src.octets()[3]);
                t.adverts += 1;
                if got.advert.priority == 0 {
                    t.priority_zero += 1;
                }
            }
            // Ordinary ARP traffic of the lab's client is not ours to check.
            0x0806 if f[28..32] != f[38..42] || f[..6] != [0xff; 6] => t.other_arp += 1,
            0x0806 => {
                let mac: [u8; 6] = f[6..12].try_into().unwrap();
                let ip = std::net::Ipv4Addr::new(f[28], f[29], f[30], f[31]);
                assert_eq!(encode_garp(mac, ip)[..], f[..], "{file} frame {n}");
                t.garps += 1;
            }
            other => panic!("{file} frame {n}: unexpected ethertype {other:#06x}"),
        }
    }
    t
}

#[test]
fn v2_pass_capture_round_trips() {
    let t = check_capture(
        "vrrpv2-pass-advint1.pcap",
        Version::V2,
        &AuthConfig::Pass("kp-pass".into()),
        100,
    );
    assert_eq!((t.adverts, t.priority_zero, t.garps), (16, 2, 20));
}

#[test]
fn v3_1s_capture_round_trips() {
    let t = check_capture("vrrpv3-advint1.pcap", Version::V3, &AuthConfig::None, 100);
    assert_eq!((t.adverts, t.priority_zero, t.garps), (16, 2, 20));
}

#[test]
fn v3_100ms_capture_round_trips() {
    let t = check_capture("vrrpv3-advint0.1.pcap", Version::V3, &AuthConfig::None, 10);
    assert_eq!((t.adverts, t.priority_zero, t.garps), (106, 2, 20));
}

#[test]
fn v2_failover_sequence_capture_round_trips() {
    let t = check_capture(
        "failover-sequence-v2-advint1.pcap",
        Version::V2,
        &AuthConfig::Pass("kp-pass".into()),
        100,
    );
    assert_eq!((t.adverts, t.priority_zero, t.garps), (151, 7, 235));
}

#[test]
fn v3_failover_sequence_capture_round_trips() {
    let t = check_capture(
        "failover-sequence-v3-advint0.1.pcap",
        Version::V3,
        &AuthConfig::None,
        10,
    );
    assert_eq!((t.adverts, t.priority_zero, t.garps), (768, 7, 235));
}

#[test]
fn vrrp_script_weight_capture_round_trips() {
    let t = check_capture(
        "vrrp-script-weight-failover-v2.pcap",
        Version::V2,
        &AuthConfig::Pass("kp-pass".into()),
        100,
    );
    assert_eq!(
        (t.adverts, t.priority_zero, t.garps, t.other_arp),
        (52, 2, 70, 4)
    );
}
