//! Advert encoding.

use std::net::IpAddr;

use super::checksum::{finish, vrrp_sum};
use super::ipv4::{Ipv4Header, write_header};
use super::{
    AH_HEADER_LEN, Advert, AuthConfig, AuthData, ChecksumMode, IPPROTO_AH, IPPROTO_VRRP,
    V3_MAX_ADVER_INT_CS, VRRP_HEADER_LEN, VRRP_TOS, VRRP_V2_AUTH_LEN, Version, ah, same_family,
};

/// Addressing and options for encoding one advert.
#[derive(Debug, Clone, Copy)]
pub struct EncodeCtx<'a> {
    /// Source address of the IP packet (part of the v3 / IPv6 pseudo-header,
    /// and the AH SPI).
    pub src: IpAddr,
    /// Destination: the multicast group or a unicast peer.
    pub dst: IpAddr,
    /// VRRPv3-over-IPv4 checksum flavour; ignored for v2 and IPv6.
    pub checksum: ChecksumMode,
    /// The instance's configured authentication. Only the AH key is taken
    /// from here; what goes on the wire is `Advert::auth`.
    pub auth: &'a AuthConfig,
}

/// Why an advert cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("source {src} and destination {dst} are of different address families")]
    FamilyMismatch { src: IpAddr, dst: IpAddr },
    #[error("virtual address {0} is not of the packet's address family")]
    AddressFamily(IpAddr),
    #[error("{0} virtual addresses do not fit the 8-bit count field")]
    TooManyAddresses(usize),
    #[error("advert interval {0} cs cannot be expressed in this VRRP version")]
    Interval(u16),
    #[error("VRRPv3 and IPv6 adverts carry no authentication")]
    AuthNotSupported,
    #[error("AH authentication needs an AH key in the instance configuration")]
    MissingAhKey,
    #[error("AH authentication needs the IPv4 header: use encode_ipv4_packet")]
    AhNeedsIpv4Packet,
    #[error("encode_ipv4_packet needs IPv4 source and destination")]
    NotIpv4,
}

/// Builds the VRRP message: for IPv4 what follows the IP header (or the AH
/// header), for IPv6 the payload handed to a raw socket, with the checksum
/// filled in (RFC 3768 §5.3.8, RFC 5798 §5.2.8).
pub fn encode_vrrp(advert: &Advert, ctx: &EncodeCtx<'_>) -> Result<Vec<u8>, EncodeError> {
    if matches!(advert.auth, AuthData::Ah { .. }) {
        return Err(EncodeError::AhNeedsIpv4Packet);
    }
    build_message(advert, ctx)
}

fn build_message(advert: &Advert, ctx: &EncodeCtx<'_>) -> Result<Vec<u8>, EncodeError> {
    if !same_family(ctx.src, ctx.dst) {
        return Err(EncodeError::FamilyMismatch {
            src: ctx.src,
            dst: ctx.dst,
        });
    }
    if let Some(a) = advert.addresses.iter().find(|a| !same_family(**a, ctx.src)) {
        return Err(EncodeError::AddressFamily(*a));
    }
    let count = u8::try_from(advert.addresses.len())
        .map_err(|_| EncodeError::TooManyAddresses(advert.addresses.len()))?;
    let v4 = ctx.src.is_ipv4();
    let has_auth_trailer = advert.version == Version::V2 && v4;
    if advert.auth != AuthData::None && !has_auth_trailer {
        return Err(EncodeError::AuthNotSupported);
    }

    let mut out =
        Vec::with_capacity(VRRP_HEADER_LEN + advert.addresses.len() * 16 + VRRP_V2_AUTH_LEN);
    out.push((advert.version.number() << 4) | 1);
    out.push(advert.vrid);
    out.push(advert.priority);
    out.push(count);
    match advert.version {
        Version::V2 => {
            let cs = advert.max_adver_int_cs;
            if (cs / 100) * 100 != cs || cs / 100 > 255 {
                return Err(EncodeError::Interval(cs));
            }
            out.push(advert.auth.auth_type());
            out.push((cs / 100) as u8);
        }
        Version::V3 => {
            if advert.max_adver_int_cs > V3_MAX_ADVER_INT_CS {
                return Err(EncodeError::Interval(advert.max_adver_int_cs));
            }
            // The 4 reserved bits stay zero (RFC 5798 §5.2.6).
            out.extend_from_slice(&advert.max_adver_int_cs.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0]);
    for a in &advert.addresses {
        match a {
            IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
        }
    }
    if has_auth_trailer {
        match advert.auth {
            AuthData::Pass(p) => out.extend_from_slice(&p),
            // Type 0 and AH send zeros (RFC 3768 §5.3.10; keepalived for AH).
            AuthData::None | AuthData::Ah { .. } => out.extend_from_slice(&[0u8; 8]),
        }
    }
    let ck = finish(vrrp_sum(
        &out,
        advert.version,
        ctx.src,
        ctx.dst,
        ctx.checksum,
    ));
    out[6..8].copy_from_slice(&ck.to_be_bytes());
    Ok(out)
}

/// Builds a complete IPv4 packet for a raw `IP_HDRINCL` socket, as keepalived
/// sends it: TOS 0xc0, no DF, no options, the caller's IP ID and TTL (255,
/// or `unicast_ttl` for unicast peers), protocol 112 — or 51 with an AH
/// header when `advert.auth` is [`AuthData::Ah`] — and the header checksum.
pub fn encode_ipv4_packet(
    advert: &Advert,
    ctx: &EncodeCtx<'_>,
    ip_id: u16,
    ttl: u8,
) -> Result<Vec<u8>, EncodeError> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (ctx.src, ctx.dst) else {
        return Err(EncodeError::NotIpv4);
    };
    let msg = build_message(advert, ctx)?;
    let ah_seq = match advert.auth {
        AuthData::Ah { seq } => Some(seq),
        _ => None,
    };
    let ah_len = if ah_seq.is_some() { AH_HEADER_LEN } else { 0 };
    let total = 20 + ah_len + msg.len();
    // At most 20 + 24 + 8 + 255 * 4 + 8 bytes.
    let header = Ipv4Header {
        header_len: 20,
        tos: VRRP_TOS,
        total_len: total as u16,
        id: ip_id,
        flags_fragment: 0,
        ttl,
        protocol: if ah_seq.is_some() {
            IPPROTO_AH
        } else {
            IPPROTO_VRRP
        },
        checksum: 0,
        src,
        dst,
    };
    let mut out = Vec::with_capacity(total);
    write_header(&mut out, &header);
    if let Some(seq) = ah_seq {
        let AuthConfig::Ah(_) = ctx.auth else {
            return Err(EncodeError::MissingAhKey);
        };
        ah::write_header(&mut out, u32::from(src), seq);
        let icv = ah::compute_icv(
            &ctx.auth.key_bytes(),
            &out[..20],
            &out[20..20 + AH_HEADER_LEN],
            &msg,
            !dst.is_multicast(),
        );
        out[20 + 12..20 + AH_HEADER_LEN].copy_from_slice(&icv);
    }
    out.extend_from_slice(&msg);
    Ok(out)
}
