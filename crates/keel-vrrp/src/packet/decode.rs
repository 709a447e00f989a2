//! Advert decoding and the receive checks of RFC 3768 §7.1 / RFC 5798 §7.1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ah::{self, AH_PAYLOAD_LEN, AhHeader};
use super::checksum::{finish, vrrp_sum};
use super::ipv4::{Ipv4Header, parse_ipv4_packet};
use super::{
    AH_HEADER_LEN, Advert, AuthConfig, AuthData, ChecksumMode, IPPROTO_AH, IPPROTO_VRRP,
    VRRP_HEADER_LEN, VRRP_TTL, VRRP_V2_AUTH_LEN, Version, same_family,
};

/// Why a received packet was dropped. Each variant maps to a stable counter
/// name ([`DropReason::counter_name`]) for statistics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DropReason {
    /// Shorter than the IPv4 header, the VRRP header, or the length the IP
    /// header claims.
    #[error("packet truncated")]
    Truncated,
    /// IPv4 header invalid: version, header length, header checksum, or a fragment.
    #[error("invalid IPv4 header")]
    BadIpHeader,
    /// IPv4 protocol neither VRRP (112) nor AH (51).
    #[error("IP protocol is neither VRRP nor AH")]
    BadProtocol,
    /// Source and destination of different address families.
    #[error("source and destination address families differ")]
    FamilyMismatch,
    /// RFC 3768/5798 §7.1: TTL / hop limit not 255 on a multicast advert.
    #[error("TTL/hop limit is not 255")]
    TtlNot255,
    /// RFC 3768/5798 §7.1: VRRP version unknown or not the configured one.
    #[error("wrong VRRP version")]
    BadVersion,
    /// Type is not 1 (ADVERTISEMENT), RFC 5798 §5.2.2.
    #[error("not an ADVERTISEMENT")]
    BadType,
    /// RFC 3768/5798 §7.1: the message is not exactly the VRRP packet its
    /// address count describes.
    #[error("VRRP length does not match the address count")]
    BadLength,
    /// RFC 3768/5798 §7.1: VRRP checksum mismatch.
    #[error("bad VRRP checksum")]
    BadChecksum,
    /// The VRID differs from the one the caller asked to filter on.
    #[error("VRID not handled here")]
    VridMismatch,
    /// A multicast advert for a unicast instance or vice versa (keepalived).
    #[error("multicast/unicast destination does not match the configuration")]
    CastMismatch,
    /// RFC 3768 §5.3.6: Auth Type value not 0, 1 or 2.
    #[error("invalid authentication type")]
    InvalidAuthType,
    /// RFC 3768 §7.1: Auth Type (or AH presence) differs from the configuration.
    #[error("authentication type mismatch")]
    AuthTypeMismatch,
    /// RFC 2338 §5.3.6.1: simple text password mismatch.
    #[error("authentication failure (password)")]
    AuthFailure,
    /// AH header protecting something other than VRRP.
    #[error("AH header does not carry VRRP")]
    AhNotVrrp,
    /// AH header with a payload length other than keepalived's 96-bit ICV layout.
    #[error("malformed AH header")]
    AhMalformed,
    /// AH ICV (HMAC-MD5-96) mismatch: wrong key or tampered packet.
    #[error("AH ICV mismatch")]
    AhBadIcv,
    /// AH SPI is not the sender's IPv4 address.
    #[error("AH SPI is not the source address")]
    AhBadSpi,
    /// AH sequence number not above the last one accepted (replay).
    #[error("AH sequence number replayed")]
    AhReplay,
    /// RFC 3768 §7.1: v2 Adver Int differs from the configured interval.
    #[error("advertisement interval mismatch")]
    IntervalMismatch,
    /// RFC 5798 §7.1 (MAY): address count differs from the configuration.
    #[error("address count mismatch")]
    AddressCount,
    /// RFC 5798 §7.1 (MAY): address list differs from the configuration.
    #[error("address list mismatch")]
    AddressMismatch,
}

impl DropReason {
    /// Every reason, for registering counters.
    pub const ALL: [DropReason; 22] = [
        DropReason::Truncated,
        DropReason::BadIpHeader,
        DropReason::BadProtocol,
        DropReason::FamilyMismatch,
        DropReason::TtlNot255,
        DropReason::BadVersion,
        DropReason::BadType,
        DropReason::BadLength,
        DropReason::BadChecksum,
        DropReason::VridMismatch,
        DropReason::CastMismatch,
        DropReason::InvalidAuthType,
        DropReason::AuthTypeMismatch,
        DropReason::AuthFailure,
        DropReason::AhNotVrrp,
        DropReason::AhMalformed,
        DropReason::AhBadIcv,
        DropReason::AhBadSpi,
        DropReason::AhReplay,
        DropReason::IntervalMismatch,
        DropReason::AddressCount,
        DropReason::AddressMismatch,
    ];

    /// Stable snake_case name for counters and structured logs.
    pub fn counter_name(&self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::BadIpHeader => "bad_ip_header",
            DropReason::BadProtocol => "bad_protocol",
            DropReason::FamilyMismatch => "family_mismatch",
            DropReason::TtlNot255 => "ttl_not_255",
            DropReason::BadVersion => "bad_version",
            DropReason::BadType => "bad_type",
            DropReason::BadLength => "bad_length",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::VridMismatch => "vrid_mismatch",
            DropReason::CastMismatch => "cast_mismatch",
            DropReason::InvalidAuthType => "invalid_auth_type",
            DropReason::AuthTypeMismatch => "auth_type_mismatch",
            DropReason::AuthFailure => "auth_failure",
            DropReason::AhNotVrrp => "ah_not_vrrp",
            DropReason::AhMalformed => "ah_malformed",
            DropReason::AhBadIcv => "ah_bad_icv",
            DropReason::AhBadSpi => "ah_bad_spi",
            DropReason::AhReplay => "ah_replay",
            DropReason::IntervalMismatch => "interval_mismatch",
            DropReason::AddressCount => "address_count",
            DropReason::AddressMismatch => "address_mismatch",
        }
    }
}

/// Per-packet facts the socket layer knows (for IPv6: from IPV6_PKTINFO and
/// IPV6_HOPLIMIT control messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit as received.
    pub ttl: u8,
}

/// The receiving instance's configuration that the checks compare against.
#[derive(Debug, Clone, Copy)]
pub struct RxCtx<'a> {
    /// Expected VRRP version.
    pub version: Version,
    /// Configured authentication (v2 only; AH only over IPv4).
    pub auth: &'a AuthConfig,
    /// Our advertisement interval in centiseconds (v2 interval check).
    pub adver_int_cs: u16,
    /// Configured VRRPv3-over-IPv4 checksum flavour.
    pub checksum: ChecksumMode,
    /// With [`ChecksumMode::Rfc`], also accept a unicast advert whose
    /// checksum uses the pre-1.3.6 keepalived pseudo-header (multicast group
    /// as destination) and report it in [`Decoded::old_unicast_checksum`].
    /// keepalived's `old_unicast_checksum never` turns this off.
    pub detect_old_unicast: bool,
    /// The instance uses unicast peers: adverts must be unicast and the TTL
    /// check is skipped (keepalived; peers may be routed).
    pub unicast: bool,
    /// Drop adverts for other VRIDs. Leave `None` when one socket serves
    /// several instances and the caller dispatches on [`Advert::vrid`].
    pub vrid: Option<u8>,
    /// Last AH sequence number accepted from this sender, for replay protection.
    pub ah_last_seq: Option<u32>,
}

impl<'a> RxCtx<'a> {
    /// Multicast, RFC checksum with old-unicast detection, no VRID filter,
    /// no AH replay state.
    pub fn new(version: Version, auth: &'a AuthConfig, adver_int_cs: u16) -> Self {
        RxCtx {
            version,
            auth,
            adver_int_cs,
            checksum: ChecksumMode::Rfc,
            detect_old_unicast: true,
            unicast: false,
            vrid: None,
            ah_last_seq: None,
        }
    }
}

/// A VRRP message that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub advert: Advert,
    /// The checksum only matched the pre-1.3.6 keepalived unicast form; like
    /// keepalived, the caller should switch its own adverts to
    /// [`ChecksumMode::OLD_UNICAST`] for this instance.
    pub old_unicast_checksum: bool,
}

/// A full IPv4 packet that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub header: Ipv4Header,
    pub advert: Advert,
    /// See [`Decoded::old_unicast_checksum`].
    pub old_unicast_checksum: bool,
}

struct AhInput<'p> {
    ip_header: &'p [u8],
    ah_bytes: &'p [u8],
    header: AhHeader,
}

/// Decodes and checks a VRRP message (the IPv6 raw-socket payload, or the
/// bytes after the IPv4 header). AH-protected adverts need the IPv4 header:
/// use [`decode_ipv4_packet`].
pub fn decode(vrrp: &[u8], meta: &RxMeta, ctx: &RxCtx<'_>) -> Result<Decoded, DropReason> {
    decode_inner(vrrp, meta, ctx, None)
}

/// Decodes and checks a full IPv4 packet as a raw IPv4 socket returns it,
/// AH-protected or not. Source, destination and TTL come from the header.
pub fn decode_ipv4_packet(packet: &[u8], ctx: &RxCtx<'_>) -> Result<Received, DropReason> {
    let (header, payload) = parse_ipv4_packet(packet)?;
    let meta = RxMeta {
        src: IpAddr::V4(header.src),
        dst: IpAddr::V4(header.dst),
        ttl: header.ttl,
    };
    let decoded = match header.protocol {
        IPPROTO_VRRP => decode_inner(payload, &meta, ctx, None)?,
        IPPROTO_AH => {
            let ah = AhHeader::parse(payload).ok_or(DropReason::Truncated)?;
            if ah.next_header != IPPROTO_VRRP {
                return Err(DropReason::AhNotVrrp);
            }
            if ah.payload_len != AH_PAYLOAD_LEN {
                return Err(DropReason::AhMalformed);
            }
            let input = AhInput {
                ip_header: &packet[..header.header_len],
                ah_bytes: &payload[..AH_HEADER_LEN],
                header: ah,
            };
            decode_inner(&payload[AH_HEADER_LEN..], &meta, ctx, Some(input))?
        }
        _ => return Err(DropReason::BadProtocol),
    };
    Ok(Received {
        header,
        advert: decoded.advert,
        old_unicast_checksum: decoded.old_unicast_checksum,
    })
}

fn decode_inner(
    msg: &[u8],
    meta: &RxMeta,
    ctx: &RxCtx<'_>,
    ah_in: Option<AhInput<'_>>,
) -> Result<Decoded, DropReason> {
    if !same_family(meta.src, meta.dst) {
        return Err(DropReason::FamilyMismatch);
    }
    if msg.len() < VRRP_HEADER_LEN {
        return Err(DropReason::Truncated);
    }
    // RFC 3768 §7.1 / RFC 5798 §7.1: TTL 255. keepalived waives it for
    // unicast peers, whose adverts may be routed.
    if !ctx.unicast && meta.ttl != VRRP_TTL {
        return Err(DropReason::TtlNot255);
    }
    let version = Version::from_number(msg[0] >> 4).ok_or(DropReason::BadVersion)?;
    if version != ctx.version {
        return Err(DropReason::BadVersion);
    }
    if msg[0] & 0x0f != 1 {
        return Err(DropReason::BadType);
    }
    let v4 = meta.src.is_ipv4();
    let count = usize::from(msg[3]);
    let addr_len = if v4 { 4 } else { 16 };
    let trailer = if version == Version::V2 && v4 {
        VRRP_V2_AUTH_LEN
    } else {
        0
    };
    if msg.len() != VRRP_HEADER_LEN + count * addr_len + trailer {
        return Err(DropReason::BadLength);
    }
    let old_unicast_checksum = verify_checksum(msg, version, meta, ctx)?;
    if ctx.vrid.is_some_and(|v| v != msg[1]) {
        return Err(DropReason::VridMismatch);
    }
    if meta.dst.is_multicast() == ctx.unicast {
        return Err(DropReason::CastMismatch);
    }
    // keepalived: the AH protocol must be present exactly when AH is configured.
    if ah_in.is_some() != matches!(ctx.auth, AuthConfig::Ah(_)) {
        return Err(DropReason::AuthTypeMismatch);
    }

    let addresses: Vec<IpAddr> = msg[VRRP_HEADER_LEN..VRRP_HEADER_LEN + count * addr_len]
        .chunks_exact(addr_len)
        .map(|c| match *c {
            [a, b, c, d] => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            _ => {
                let mut o = [0u8; 16];
                o.copy_from_slice(c);
                IpAddr::V6(Ipv6Addr::from(o))
            }
        })
        .collect();

    let (max_adver_int_cs, auth) = match version {
        Version::V3 => {
            if ah_in.is_some() {
                return Err(DropReason::AuthTypeMismatch);
            }
            (
                u16::from_be_bytes([msg[4], msg[5]]) & 0x0fff,
                AuthData::None,
            )
        }
        Version::V2 => {
            let auth_type = msg[4];
            if auth_type > 2 {
                return Err(DropReason::InvalidAuthType);
            }
            // RFC 3768 §7.1: MUST verify the Auth Type matches the configuration.
            if auth_type != ctx.auth.auth_type() || (!v4 && auth_type != 0) {
                return Err(DropReason::AuthTypeMismatch);
            }
            let auth = match (ctx.auth, ah_in) {
                (AuthConfig::Pass(_), _) => {
                    let mut pw = [0u8; 8];
                    pw.copy_from_slice(&msg[msg.len() - VRRP_V2_AUTH_LEN..]);
                    if !ah::ct_eq(&pw, &ctx.auth.key_bytes()) {
                        return Err(DropReason::AuthFailure);
                    }
                    AuthData::Pass(pw)
                }
                (AuthConfig::Ah(_), Some(a)) => {
                    verify_ah(&a, msg, meta, ctx)?;
                    AuthData::Ah { seq: a.header.seq }
                }
                _ => AuthData::None,
            };
            // RFC 3768 §7.1: MUST drop on an Adver Interval mismatch.
            let cs = u16::from(msg[5]) * 100;
            if cs != ctx.adver_int_cs {
                return Err(DropReason::IntervalMismatch);
            }
            (cs, auth)
        }
    };

    Ok(Decoded {
        advert: Advert {
            version,
            vrid: msg[1],
            priority: msg[2],
            max_adver_int_cs,
            addresses,
            auth,
        },
        old_unicast_checksum,
    })
}

/// Returns whether only the old-unicast pseudo-header made the checksum valid.
fn verify_checksum(
    msg: &[u8],
    version: Version,
    meta: &RxMeta,
    ctx: &RxCtx<'_>,
) -> Result<bool, DropReason> {
    let ok = |mode: ChecksumMode| finish(vrrp_sum(msg, version, meta.src, meta.dst, mode)) == 0;
    if version == Version::V2 || !meta.src.is_ipv4() {
        return if ok(ctx.checksum) {
            Ok(false)
        } else {
            Err(DropReason::BadChecksum)
        };
    }
    match ctx.checksum {
        ChecksumMode::Rfc => {
            if ok(ChecksumMode::Rfc) {
                Ok(false)
            } else if ctx.detect_old_unicast
                && !meta.dst.is_multicast()
                && ok(ChecksumMode::OLD_UNICAST)
            {
                Ok(true)
            } else {
                Err(DropReason::BadChecksum)
            }
        }
        // keepalived does not check the checksum at all in this mode; accept
        // both well-formed variants so corruption is still caught.
        ChecksumMode::AsV2 => {
            if ok(ChecksumMode::AsV2) || ok(ChecksumMode::Rfc) {
                Ok(false)
            } else {
                Err(DropReason::BadChecksum)
            }
        }
        mode @ ChecksumMode::OldUnicast { .. } => {
            if ok(mode) {
                Ok(!ok(ChecksumMode::Rfc))
            } else {
                Err(DropReason::BadChecksum)
            }
        }
    }
}

fn verify_ah(
    a: &AhInput<'_>,
    msg: &[u8],
    meta: &RxMeta,
    ctx: &RxCtx<'_>,
) -> Result<(), DropReason> {
    let icv = ah::compute_icv(
        &ctx.auth.key_bytes(),
        a.ip_header,
        a.ah_bytes,
        msg,
        ctx.unicast,
    );
    if !ah::ct_eq(&icv, &a.header.icv) {
        return Err(DropReason::AhBadIcv);
    }
    let IpAddr::V4(src) = meta.src else {
        return Err(DropReason::AuthTypeMismatch);
    };
    if a.header.spi != u32::from(src) {
        return Err(DropReason::AhBadSpi);
    }
    if ctx.ah_last_seq.is_some_and(|last| a.header.seq <= last) {
        return Err(DropReason::AhReplay);
    }
    Ok(())
}

/// The VRID of a VRRP message, for dispatching to an instance before decoding.
pub fn peek_vrid(vrrp: &[u8]) -> Option<u8> {
    vrrp.get(1).copied()
}

/// The VRID of a raw IPv4 VRRP (or AH-wrapped VRRP) packet.
pub fn peek_ipv4_vrid(packet: &[u8]) -> Option<u8> {
    let (h, payload) = parse_ipv4_packet(packet).ok()?;
    match h.protocol {
        IPPROTO_VRRP => peek_vrid(payload),
        IPPROTO_AH => payload.get(AH_HEADER_LEN + 1).copied(),
        _ => None,
    }
}

/// RFC 5798 §7.1 / RFC 3768 §7.1 optional check that the advertised
/// addresses are the configured ones (order does not matter). Adverts from
/// the address owner (priority 255) always pass. keepalived only logs a
/// failure and keeps the advert; the RFC says drop — the caller chooses.
pub fn check_addresses(advert: &Advert, configured: &[IpAddr]) -> Result<(), DropReason> {
    if advert.priority == 255 {
        return Ok(());
    }
    if advert.addresses.len() != configured.len() {
        return Err(DropReason::AddressCount);
    }
    if configured.iter().all(|c| advert.addresses.contains(c))
        && advert.addresses.iter().all(|a| configured.contains(a))
    {
        Ok(())
    } else {
        Err(DropReason::AddressMismatch)
    }
}
