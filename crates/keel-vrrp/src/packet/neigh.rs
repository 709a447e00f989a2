//! Gratuitous ARP and unsolicited Neighbour Advertisement frames, sent for
//! each virtual address on becoming master (RFC 5798 §6.4.2) so neighbours
//! repoint their caches at this router's MAC.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum::{finish, ones_sum, pseudo_v6};

/// Length of a gratuitous ARP Ethernet frame (unpadded, as on a veth).
pub const ARP_FRAME_LEN: usize = 42;
/// Length of the ICMPv6 part of an unsolicited NA with a target link-layer option.
pub const NA_ICMPV6_LEN: usize = 32;
/// Length of an unsolicited NA Ethernet frame.
pub const NA_FRAME_LEN: usize = 14 + 40 + NA_ICMPV6_LEN;

const ICMPV6: u8 = 58;
const ND_NEIGHBOR_ADVERT: u8 = 136;
const ND_OPT_TARGET_LINKADDR: u8 = 2;
const NA_FLAG_ROUTER: u8 = 0x80;
const NA_FLAG_OVERRIDE: u8 = 0x20;
/// ff02::1, all-nodes (RFC 4861 §7.2.6 unsolicited advertisements).
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A gratuitous ARP for `ip` from `mac`, as keepalived sends it: a broadcast
/// ARP *request* (op 1) whose sender and target IP are both `ip` and whose
/// target MAC is ff:ff:ff:ff:ff:ff. Ready for an AF_PACKET socket.
pub fn encode_garp(mac: [u8; 6], ip: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    let mut f = [0u8; ARP_FRAME_LEN];
    f[0..6].fill(0xff);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[32..38].fill(0xff);
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// The ICMPv6 part of an unsolicited Neighbour Advertisement (RFC 4861
/// §4.4, §7.2.6): Override set, Solicited clear, Router set when `router`
/// (keepalived sets it when the interface forwards IPv6), target `target`,
/// and a target link-layer address option carrying `mac`. The checksum uses
/// the pseudo-header for `src` → `dst`. For a raw ICMPv6 socket.
pub fn encode_unsolicited_na(
    mac: [u8; 6],
    target: Ipv6Addr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    router: bool,
) -> [u8; NA_ICMPV6_LEN] {
    let mut m = [0u8; NA_ICMPV6_LEN];
    m[0] = ND_NEIGHBOR_ADVERT;
    m[4] = NA_FLAG_OVERRIDE | if router { NA_FLAG_ROUTER } else { 0 };
    m[8..24].copy_from_slice(&target.octets());
    m[24] = ND_OPT_TARGET_LINKADDR;
    m[25] = 1; // in units of 8 bytes
    m[26..32].copy_from_slice(&mac);
    let ck = finish(ones_sum(
        &m,
        pseudo_v6(src, dst, ICMPV6, NA_ICMPV6_LEN as u32),
    ));
    m[2..4].copy_from_slice(&ck.to_be_bytes());
    m
}

/// A complete Ethernet frame carrying an unsolicited NA for `target`, as
/// keepalived sends it on an AF_PACKET socket: to 33:33:00:00:00:01 /
/// ff02::1, hop limit 255, IPv6 source `src` (keepalived uses the virtual
/// address itself).
pub fn encode_unsolicited_na_frame(
    mac: [u8; 6],
    target: Ipv6Addr,
    src: Ipv6Addr,
    router: bool,
) -> [u8; NA_FRAME_LEN] {
    let mut f = [0u8; NA_FRAME_LEN];
    f[0..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    f[14] = 0x60;
    f[18..20].copy_from_slice(&(NA_ICMPV6_LEN as u16).to_be_bytes());
    f[20] = ICMPV6;
    f[21] = 255;
    f[22..38].copy_from_slice(&src.octets());
    f[38..54].copy_from_slice(&ALL_NODES.octets());
    f[54..].copy_from_slice(&encode_unsolicited_na(mac, target, src, ALL_NODES, router));
    f
}
