//! The IPv4 header around adverts received on, or sent through, a raw socket.

use std::net::Ipv4Addr;

use super::checksum::internet_checksum;
use super::decode::DropReason;

/// The fields of an IPv4 header that matter to VRRP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Header {
    /// Header length in bytes (20 without options).
    pub header_len: usize,
    pub tos: u8,
    pub total_len: u16,
    pub id: u16,
    /// Flags (top 3 bits) and fragment offset, as on the wire.
    pub flags_fragment: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub checksum: u16,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// Splits a raw IPv4 packet into its header and payload, the payload cut to
/// the header's total length (anything after it is link-layer padding).
///
/// Fails with [`DropReason::Truncated`] when the buffer is shorter than the
/// header claims and [`DropReason::BadIpHeader`] for a non-IPv4 version, a
/// header length below 20, a bad header checksum, or a fragment (the kernel
/// reassembles before raw-socket delivery, so a fragment here is forged).
pub fn parse_ipv4_packet(packet: &[u8]) -> Result<(Ipv4Header, &[u8]), DropReason> {
    if packet.len() < 20 {
        return Err(DropReason::Truncated);
    }
    if packet[0] >> 4 != 4 {
        return Err(DropReason::BadIpHeader);
    }
    let header_len = usize::from(packet[0] & 0x0f) * 4;
    if header_len < 20 {
        return Err(DropReason::BadIpHeader);
    }
    if packet.len() < header_len {
        return Err(DropReason::Truncated);
    }
    let total_len = u16::from_be_bytes([packet[2], packet[3]]);
    if usize::from(total_len) < header_len {
        return Err(DropReason::BadIpHeader);
    }
    if packet.len() < usize::from(total_len) {
        return Err(DropReason::Truncated);
    }
    if internet_checksum(&packet[..header_len]) != 0 {
        return Err(DropReason::BadIpHeader);
    }
    let flags_fragment = u16::from_be_bytes([packet[6], packet[7]]);
    // MF flag or a non-zero offset.
    if flags_fragment & 0x3fff != 0 {
        return Err(DropReason::BadIpHeader);
    }
    let hdr = Ipv4Header {
        header_len,
        tos: packet[1],
        total_len,
        id: u16::from_be_bytes([packet[4], packet[5]]),
        flags_fragment,
        ttl: packet[8],
        protocol: packet[9],
        checksum: u16::from_be_bytes([packet[10], packet[11]]),
        src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
        dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
    };
    Ok((hdr, &packet[header_len..usize::from(total_len)]))
}

/// Writes `h` as a 20-byte IPv4 header (keepalived's layout: no options, so
/// no Router Alert) and fills in its checksum; `h.header_len` and
/// `h.checksum` are ignored.
pub(crate) fn write_header(out: &mut Vec<u8>, h: &Ipv4Header) {
    let start = out.len();
    out.push(0x45);
    out.push(h.tos);
    out.extend_from_slice(&h.total_len.to_be_bytes());
    out.extend_from_slice(&h.id.to_be_bytes());
    out.extend_from_slice(&h.flags_fragment.to_be_bytes());
    out.push(h.ttl);
    out.push(h.protocol);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&h.src.octets());
    out.extend_from_slice(&h.dst.octets());
    let ck = internet_checksum(&out[start..start + 20]);
    out[start + 10..start + 12].copy_from_slice(&ck.to_be_bytes());
}
