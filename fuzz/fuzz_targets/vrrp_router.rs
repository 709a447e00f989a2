//! A sequence of datagrams, as raw sockets return them, through
//! `Router::handle_datagram`: IPv4 packets (VRRP or AH) and IPv6 VRRP
//! messages, to an IPv4 and an IPv6 instance of the same VRID.
//!
//! Input: `sel vrid` then records `kind len_hi len_lo bytes...`. `sel`
//! picks the instances' version, authentication, unicast and address check;
//! `kind` bit 0 picks IPv6, bits 1..7 advance the clock (in 100 ms steps)
//! before the datagram, so timers fire and states change in between.
//!
//! Beyond "no panic": every datagram is either taken as an advert or
//! counted as exactly one drop (what `show stats` reports), and every advert
//! the router asks to send encodes.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use keel_vrrp::config::InstanceConfig;
use keel_vrrp::instance::Event;
use keel_vrrp::packet::{AuthConfig, ChecksumMode, RxMeta, VRRP_MCAST_V6, Version};
use keel_vrrp::router::{Datagram, InstanceId, Output, Router, Unit, WireConfig};
use keel_vrrp::time::Instant;
use libfuzzer_sys::fuzz_target;

const V4_ME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const V4_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
const V6_ME: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
const V6_PEER: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2));

fn instance(sel: u8, vrid: u8, me: IpAddr, vip: IpAddr, peer: IpAddr) -> (Unit, WireConfig) {
    let mut c = InstanceConfig::new(format!("VI_{vrid}_{}", me.is_ipv6()), vrid, me);
    // IPv6 is VRRPv3 only.
    c.version = if sel & 1 == 0 && me.is_ipv4() {
        Version::V2
    } else {
        Version::V3
    };
    c.priority = if sel & 0x80 != 0 { 255 } else { 100 };
    c.vips.vips.push(vip);
    let mut w = WireConfig::multicast(0, me);
    w.auth = match ((sel >> 1) & 3, me.is_ipv4() && c.version == Version::V2) {
        (1, true) => AuthConfig::Pass("kp-pass".into()),
        (2 | 3, true) => AuthConfig::Ah("kp-pass".into()),
        _ => AuthConfig::None,
    };
    if sel & 0x08 != 0 {
        w.group = None;
        w.unicast_peers = vec![peer];
    }
    if sel & 0x10 != 0 {
        w.check_adv_addr = false;
    }
    if sel & 0x20 != 0 {
        w.checksum = ChecksumMode::OLD_UNICAST;
    }
    (Unit::single(c, Instant::ZERO), w)
}

fn counted(r: &Router, ids: &[InstanceId]) -> u64 {
    let per_instance: u64 = ids
        .iter()
        .filter_map(|&id| r.stats(id))
        .map(|s| s.adverts_received + s.drops.values().sum::<u64>())
        .sum();
    per_instance + r.orphan_drops().values().sum::<u64>()
}

fn drain(r: &mut Router) {
    while r.poll_transmit().is_some() {}
    while let Some(o) = r.poll_output() {
        assert!(
            !matches!(o, Output::EncodeFailed { .. }),
            "an advert the router built does not encode: {o:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let (&[sel, vrid], mut rest) = data.split_at(data.len().min(2)) else {
        return;
    };
    let vrid = vrid.max(1);
    let mut r = Router::new(1);
    let mut ids = Vec::new();
    for (me, vip, peer) in [
        (V4_ME, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50)), V4_PEER),
        (
            V6_ME,
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x50)),
            V6_PEER,
        ),
    ] {
        let (unit, wire) = instance(sel, vrid, me, vip, peer);
        let (unit, clashes) = r.add_unit(unit, vec![wire]);
        assert!(clashes.is_empty(), "IPv4 and IPv6 share a VRID");
        ids.push(InstanceId { unit, member: 0 });
    }
    let mut now = Instant::ZERO;
    r.handle_all(now, Event::Startup);
    drain(&mut r);

    let mut handled = 0u64;
    while let [kind, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        now = now + Duration::from_millis(100 * u64::from(kind >> 1));
        r.handle_timeout(now);
        drain(&mut r);
        let dgram = if kind & 1 == 0 {
            Datagram::Ipv4(bytes)
        } else {
            let dst = if sel & 0x08 != 0 {
                V6_ME
            } else {
                IpAddr::V6(VRRP_MCAST_V6)
            };
            let meta = RxMeta {
                src: V6_PEER,
                dst,
                ttl: 255,
            };
            Datagram::Ipv6 {
                meta,
                payload: bytes,
            }
        };
        r.handle_datagram(now, 0, dgram);
        handled += 1;
        assert_eq!(
            counted(&r, &ids),
            handled,
            "a datagram was neither taken nor counted as a drop"
        );
        drain(&mut r);
    }
});
