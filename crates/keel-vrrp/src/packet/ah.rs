//! keepalived's IPsec AH profile for VRRPv2 (RFC 2338 §5.3.6.3 / RFC 2402):
//! a 24-byte AH header between the IPv4 header and the VRRP message, SPI =
//! sender IPv4 address, 96-bit truncated HMAC-MD5 keyed with the 8-byte
//! `auth_pass`.

use hmac::{Hmac, Mac};
use md5::Md5;

use super::{AH_HEADER_LEN, IPPROTO_VRRP};

/// AH Payload Length for a 96-bit ICV: (3 + 3) 32-bit words minus 2 (RFC 2402 §2.2).
pub(crate) const AH_PAYLOAD_LEN: u8 = 4;
/// Truncated HMAC-MD5 length (RFC 2403 §2).
pub(crate) const ICV_LEN: usize = 12;

/// The parsed fixed part of an AH header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AhHeader {
    pub next_header: u8,
    pub payload_len: u8,
    pub spi: u32,
    pub seq: u32,
    pub icv: [u8; ICV_LEN],
}

impl AhHeader {
    /// `buf` must hold at least [`AH_HEADER_LEN`] bytes.
    pub fn parse(buf: &[u8]) -> Option<AhHeader> {
        let b = buf.get(..AH_HEADER_LEN)?;
        let mut icv = [0u8; ICV_LEN];
        icv.copy_from_slice(&b[12..24]);
        Some(AhHeader {
            next_header: b[0],
            payload_len: b[1],
            spi: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            seq: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            icv,
        })
    }
}

/// Appends an AH header with a zero ICV; [`compute_icv`] fills it in later.
pub(crate) fn write_header(out: &mut Vec<u8>, spi: u32, seq: u32) {
    out.push(IPPROTO_VRRP);
    out.push(AH_PAYLOAD_LEN);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&spi.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&[0u8; ICV_LEN]);
}

/// HMAC-MD5-96 over the IP header with its mutable fields zeroed (TOS,
/// flags/fragment offset, header checksum, and — as keepalived does — the
/// TTL only for unicast), the AH header with a zero ICV, and the VRRP message.
pub(crate) fn compute_icv(
    key: &[u8; 8],
    ip_header: &[u8],
    ah_header: &[u8],
    vrrp: &[u8],
    unicast: bool,
) -> [u8; ICV_LEN] {
    let mut ip = ip_header.to_vec();
    if ip.len() >= 20 {
        ip[1] = 0;
        ip[6] = 0;
        ip[7] = 0;
        ip[10] = 0;
        ip[11] = 0;
        if unicast {
            ip[8] = 0;
        }
    }
    let mut ah = ah_header.to_vec();
    if ah.len() >= AH_HEADER_LEN {
        ah[12..AH_HEADER_LEN].fill(0);
    }
    // HMAC accepts keys of any length, so construction cannot fail; fall back
    // to an all-zero ICV (which then fails verification) rather than panic.
    let Ok(mut mac) = Hmac::<Md5>::new_from_slice(key) else {
        return [0u8; ICV_LEN];
    };
    mac.update(&ip);
    mac.update(&ah);
    mac.update(vrrp);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; ICV_LEN];
    out.copy_from_slice(&full[..ICV_LEN]);
    out
}

/// Comparison whose time does not depend on where the inputs differ.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
