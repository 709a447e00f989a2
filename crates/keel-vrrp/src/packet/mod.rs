//! VRRP wire codec: advertisements (RFC 3768 v2, RFC 5798/9568 v3), the
//! keepalived-compatible IPsec AH variant of v2, and the gratuitous ARP /
//! unsolicited Neighbour Advertisement frames sent on becoming master.
//!
//! Pure functions over byte slices: no sockets and no clock. Every receive
//! check of RFC 3768 §7.1 / RFC 5798 §7.1 that depends only on the packet and
//! the instance configuration lives in [`decode`]; a failure is a typed
//! [`DropReason`] with a stable counter name.
//!
//! Layouts produced here are byte-for-byte those of keepalived 2.2.x (see the
//! reference captures in `tests/data/`).

mod ah;
mod checksum;
mod decode;
mod encode;
mod ipv4;
mod neigh;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use checksum::internet_checksum;
pub use decode::{
    Decoded, DropReason, Received, RxCtx, RxMeta, check_addresses, decode, decode_ipv4_packet,
    peek_ipv4_vrid, peek_vrid,
};
pub use encode::{EncodeCtx, EncodeError, encode_ipv4_packet, encode_vrrp};
pub use ipv4::{Ipv4Header, parse_ipv4_packet};
pub use neigh::{
    ARP_FRAME_LEN, NA_FRAME_LEN, NA_ICMPV6_LEN, encode_garp, encode_unsolicited_na,
    encode_unsolicited_na_frame,
};

/// IP protocol number of VRRP (RFC 5798 §5.1.1.3).
pub const IPPROTO_VRRP: u8 = 112;
/// IP protocol number of IPsec AH (RFC 2402 §2), used by keepalived's `auth_type AH`.
pub const IPPROTO_AH: u8 = 51;
/// TTL / hop limit every multicast advert must carry (RFC 5798 §5.1.1.3, §7.1).
pub const VRRP_TTL: u8 = 255;
/// IPv4 VRRP multicast group (RFC 5798 §5.1.1.2).
pub const VRRP_MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 VRRP multicast group (RFC 5798 §5.1.2.2).
pub const VRRP_MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Length of the fixed VRRP header (both versions).
pub const VRRP_HEADER_LEN: usize = 8;
/// Length of the v2 authentication data trailer (RFC 3768 §5.3.10), IPv4 only.
pub const VRRP_V2_AUTH_LEN: usize = 8;
/// Length of the AH header keepalived inserts (RFC 2402 §2 with a 96-bit ICV).
pub const AH_HEADER_LEN: usize = 24;
/// Largest v3 Max Advertise Interval (12 bits of centiseconds, RFC 5798 §5.2.7).
pub const V3_MAX_ADVER_INT_CS: u16 = 0x0fff;
/// IPv4 header TOS keepalived sets on adverts (Internetwork Control).
pub const VRRP_TOS: u8 = 0xc0;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768.
    V2,
    /// RFC 5798 / RFC 9568.
    V3,
}

impl Version {
    /// The value of the version nibble.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    /// Parses the version nibble.
    pub fn from_number(n: u8) -> Option<Version> {
        match n {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

/// Authentication carried by an advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthData {
    /// Auth type 0 (v2), or any v3 advert.
    None,
    /// v2 auth type 1: the password, NUL-padded to 8 bytes (RFC 2338 §5.3.6.1).
    Pass([u8; 8]),
    /// v2 auth type 2: the packet travels inside an IPsec AH header whose SPI
    /// is the sender's IPv4 address and whose ICV is HMAC-MD5-96 keyed with
    /// the password (keepalived's RFC 2402 profile).
    Ah {
        /// AH sequence number (keepalived starts at 1 and increments per advert).
        seq: u32,
    },
}

impl AuthData {
    /// The v2 Auth Type field value.
    pub fn auth_type(&self) -> u8 {
        match self {
            AuthData::None => 0,
            AuthData::Pass(_) => 1,
            AuthData::Ah { .. } => 2,
        }
    }
}

/// An instance's configured authentication (keepalived `authentication {}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum AuthConfig {
    /// No authentication.
    #[default]
    None,
    /// `auth_type PASS` with `auth_pass`.
    Pass(String),
    /// `auth_type AH` with `auth_pass` as the HMAC key.
    Ah(String),
}

impl AuthConfig {
    /// The v2 Auth Type value this configuration expects on the wire.
    pub fn auth_type(&self) -> u8 {
        match self {
            AuthConfig::None => 0,
            AuthConfig::Pass(_) => 1,
            AuthConfig::Ah(_) => 2,
        }
    }

    /// The 8 secret bytes keepalived uses: the password truncated to 8 bytes
    /// and NUL-padded. All-zero for [`AuthConfig::None`].
    pub fn key_bytes(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        if let AuthConfig::Pass(p) | AuthConfig::Ah(p) = self {
            let b = p.as_bytes();
            let n = b.len().min(8);
            out[..n].copy_from_slice(&b[..n]);
        }
        out
    }

    /// The [`AuthData`] an advert sent under this configuration carries;
    /// `ah_seq` is used only for AH.
    pub fn advert_auth(&self, ah_seq: u32) -> AuthData {
        match self {
            AuthConfig::None => AuthData::None,
            AuthConfig::Pass(_) => AuthData::Pass(self.key_bytes()),
            AuthConfig::Ah(_) => AuthData::Ah { seq: ah_seq },
        }
    }
}

/// How the VRRPv3 checksum over IPv4 is computed. IPv6 always uses the
/// RFC 8200 pseudo-header and VRRPv2 never uses one, whatever the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// RFC 5798 §5.2.8: pseudo-header with the packet's real source and
    /// destination addresses (keepalived's default since 1.3.6).
    #[default]
    Rfc,
    /// keepalived `v3_checksum_as_v2`: the VRRP message alone, no
    /// pseudo-header (interoperates with some vendor stacks).
    AsV2,
    /// keepalived `old_unicast_checksum`: what keepalived before 1.3.6 sent for
    /// unicast VRRPv3 — the pseudo-header carries the multicast group
    /// (`vrrp_mcast_group4`, normally 224.0.0.18) instead of the real unicast
    /// destination. Identical to `Rfc` for multicast adverts.
    OldUnicast {
        /// The group address written into the pseudo-header.
        group: Ipv4Addr,
    },
}

impl ChecksumMode {
    /// `OldUnicast` with the standard group 224.0.0.18.
    pub const OLD_UNICAST: ChecksumMode = ChecksumMode::OldUnicast {
        group: VRRP_MCAST_V4,
    };
}

/// A VRRP advertisement, independent of the wire version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advert {
    pub version: Version,
    /// Virtual Router ID (1..=255 in valid configurations; 0 is carried as-is).
    pub vrid: u8,
    /// 0 = master stepping down, 255 = address owner.
    pub priority: u8,
    /// Advertisement interval in centiseconds. v3: the 12-bit Max Adver Int;
    /// v2: the 8-bit Adver Int in seconds times 100.
    pub max_adver_int_cs: u16,
    /// Virtual addresses, all of the packet's address family.
    pub addresses: Vec<IpAddr>,
    pub auth: AuthData,
}

/// Whether two addresses belong to the same IP family.
pub(crate) fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}
