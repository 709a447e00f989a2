//! RFC 1071 Internet checksum and the pseudo-headers VRRP and ICMPv6 use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{ChecksumMode, IPPROTO_VRRP, Version};

/// One's-complement running sum of big-endian 16-bit words (odd tail padded
/// with a zero byte). A `u64` accumulator cannot overflow for any frame size
/// this crate handles, so folding happens only once at the end.
pub(crate) fn ones_sum(data: &[u8], acc: u64) -> u64 {
    let mut acc = acc;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

/// Folds the carries and complements: the value to store in a checksum
/// field, or 0 when verifying a message whose checksum field was included.
pub(crate) fn finish(acc: u64) -> u16 {
    let mut acc = acc;
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// RFC 1071 checksum of `data`.
pub fn internet_checksum(data: &[u8]) -> u16 {
    finish(ones_sum(data, 0))
}

/// IPv4 pseudo-header (RFC 768 layout) sum, as RFC 5798 §5.2.8 prescribes
/// for VRRPv3 over IPv4.
pub(crate) fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u64 {
    let mut acc = ones_sum(&src.octets(), 0);
    acc = ones_sum(&dst.octets(), acc);
    acc += u64::from(proto);
    acc + u64::from(len)
}

/// IPv6 pseudo-header (RFC 8200 §8.1) sum.
pub(crate) fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u64 {
    let mut acc = ones_sum(&src.octets(), 0);
    acc = ones_sum(&dst.octets(), acc);
    acc = ones_sum(&len.to_be_bytes(), acc);
    acc + u64::from(next_header)
}

/// Running sum over a VRRP message plus whatever pseudo-header its version,
/// family and `mode` call for. The message's checksum field is summed as it
/// is: zero it to compute a checksum, leave it to verify one.
pub(crate) fn vrrp_sum(
    msg: &[u8],
    version: Version,
    src: IpAddr,
    dst: IpAddr,
    mode: ChecksumMode,
) -> u64 {
    // The VRRP message is at most 8 + 255 * 16 + 8 bytes, so the length
    // always fits the pseudo-header fields.
    let len = msg.len();
    let pseudo = match (src, dst) {
        (IpAddr::V6(s), IpAddr::V6(d)) => pseudo_v6(s, d, IPPROTO_VRRP, len as u32),
        (IpAddr::V4(s), IpAddr::V4(d)) if version == Version::V3 => match mode {
            ChecksumMode::Rfc => pseudo_v4(s, d, IPPROTO_VRRP, len as u16),
            ChecksumMode::AsV2 => 0,
            ChecksumMode::OldUnicast { group } => pseudo_v4(s, group, IPPROTO_VRRP, len as u16),
        },
        _ => 0,
    };
    ones_sum(msg, pseudo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example_words() {
        // RFC 1071 §3 numerical example: sum of 0001 f203 f4f5 f6f7 is ddf2
        // after folding, so the checksum is its complement.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(internet_checksum(&[0x12]), !0x1200);
    }
}
