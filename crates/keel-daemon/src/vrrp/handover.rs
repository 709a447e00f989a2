//! Keeping the crash hand-over ([`keel_linux::emergency`]) current: for
//! every MASTER instance, its last advert to each destination re-encoded at
//! priority 0, and the deletions of its addresses.
//!
//! The plan is rebuilt after a flush that changed what it would say (a
//! state change, a new destination, reopened sockets, a reload), never per
//! advert: the hot path only keeps the last transmit of each destination.

use keel_linux::emergency::{self, HandOver};
use keel_vrrp::instance::State;
use keel_vrrp::packet::IPPROTO_VRRP;
use keel_vrrp::router::Transmit;

use super::Runtime;

/// `bytes` (an IPv4 packet with its header when `header_included`, else a
/// VRRP message) with priority 0 and the VRRP checksum updated
/// incrementally (RFC 1624 eqn. 3), so every checksum flavour a peer may
/// use stays right. None for what cannot be re-signed here: AH's ICV
/// covers the priority.
pub(super) fn priority_zero(bytes: &[u8], header_included: bool) -> Option<Vec<u8>> {
    let off = if header_included {
        let ihl = usize::from(*bytes.first()? & 0x0f) * 4;
        if *bytes.get(9)? != IPPROTO_VRRP || ihl < 20 {
            return None;
        }
        ihl
    } else {
        0
    };
    let v = bytes.get(off..off + 8)?;
    let old = u16::from_be_bytes([v[2], v[3]]);
    let new = old & 0x00ff;
    let hc = u16::from_be_bytes([v[6], v[7]]);
    let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let mut out = bytes.to_vec();
    out[off + 2] = 0;
    out[off + 6..off + 8].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    Some(out)
}

impl Runtime {
    /// Keeps `t` (already sent) as the latest advert of its destination.
    pub(super) fn keep_transmit(&mut self, t: Transmit) {
        let key = (t.instance, t.dst);
        if self.last_tx.insert(key, t).is_none() {
            self.handover_dirty = true;
        }
    }

    /// Publishes a new plan if something it holds changed.
    pub(super) fn refresh_handover(&mut self) {
        if !std::mem::take(&mut self.handover_dirty) {
            return;
        }
        let mut plan = HandOver::new();
        for ir in self.insts.values().filter(|ir| ir.state == State::Master) {
            for t in self.last_tx.values().filter(|t| t.instance == ir.id) {
                let Some(sock) = self.sockets.sender(t.ingress) else {
                    continue;
                };
                let Some(bytes) = priority_zero(&t.bytes, sock.header_included()) else {
                    continue;
                };
                if let Err(e) = plan.advert(sock, t.dst, bytes) {
                    tracing::debug!("crash hand-over for {}: {e}", ir.plan.engine.name);
                }
            }
            if !self.releasing {
                continue;
            }
            for a in &ir.plan.addresses {
                if let Ok(i) = keel_linux::ifindex(&a.dev) {
                    plan.delete_address(i, a.addr, a.prefix_len);
                }
            }
        }
        let (adverts, deletions) = plan.len();
        tracing::debug!("crash hand-over: {adverts} priority-0 adverts, {deletions} VIP deletions");
        emergency::publish(plan);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_vrrp::packet::{Advert, AuthConfig, ChecksumMode, EncodeCtx, Version};

    fn encode(version: Version, priority: u8, checksum: ChecksumMode) -> Vec<u8> {
        // VRRPv3 has no authentication (RFC 5798 §9).
        let key = match version {
            Version::V2 => AuthConfig::Pass("secret".into()),
            _ => AuthConfig::None,
        };
        let adv = Advert {
            version,
            vrid: 51,
            priority,
            max_adver_int_cs: 100,
            addresses: vec![
                "192.0.2.111".parse().unwrap(),
                "192.0.2.112".parse().unwrap(),
            ],
            auth: key.advert_auth(0),
        };
        let ctx = EncodeCtx {
            src: "192.0.2.3".parse().unwrap(),
            dst: "224.0.0.18".parse().unwrap(),
            checksum,
            auth: &key,
        };
        keel_vrrp::packet::encode_ipv4_packet(&adv, &ctx, 7, 255).unwrap()
    }

    #[test]
    fn priority_zero_equals_an_advert_encoded_at_priority_zero() {
        for (v, ck) in [
            (Version::V2, ChecksumMode::Rfc),
            (Version::V3, ChecksumMode::Rfc),
            (Version::V3, ChecksumMode::AsV2),
        ] {
            for prio in [1, 100, 150, 254, 255] {
                let patched = priority_zero(&encode(v, prio, ck), true).unwrap();
                assert_eq!(patched, encode(v, 0, ck), "{v:?} priority {prio}");
            }
        }
    }

    #[test]
    fn priority_zero_refuses_ah_and_short_packets() {
        let mut ah = encode(Version::V2, 100, ChecksumMode::Rfc);
        ah[9] = 51;
        assert_eq!(priority_zero(&ah, true), None);
        assert_eq!(priority_zero(&[0x45, 0, 0], true), None);
        assert_eq!(priority_zero(&[0x31, 1, 100], false), None);
    }
}
