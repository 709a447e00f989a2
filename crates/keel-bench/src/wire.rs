//! VRRP adverts in a capture.

use std::net::Ipv4Addr;
use std::time::Duration;

use keel_lab::CapturedPacket;

const ETH_HLEN: usize = 14;
const IPPROTO_VRRP: u8 = 112;

/// Capture times of the adverts (type 1, priority > 0) for `vrid` sent by
/// `src`, from Ethernet frames.
pub fn advert_times(packets: &[CapturedPacket], src: Ipv4Addr, vrid: u8) -> Vec<Duration> {
    packets
        .iter()
        .filter(|p| is_advert(&p.data, src, vrid))
        .map(|p| p.ts)
        .collect()
}

fn is_advert(f: &[u8], src: Ipv4Addr, vrid: u8) -> bool {
    let Some(ip) = f.get(ETH_HLEN..) else {
        return false;
    };
    if f.get(12..14) != Some(&[0x08, 0x00]) || ip.len() < 20 || ip[0] >> 4 != 4 {
        return false;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip[9] != IPPROTO_VRRP || ip.get(12..16) != Some(&src.octets()[..]) {
        return false;
    }
    match ip.get(ihl..ihl + 3) {
        Some(v) => v[0] & 0x0f == 1 && v[1] == vrid && v[2] > 0,
        None => false,
    }
}

/// Gaps between consecutive times, in milliseconds.
pub fn intervals_ms(times: &[Duration]) -> Vec<f64> {
    times
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]).as_secs_f64() * 1000.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(src: [u8; 4], vrid: u8, prio: u8, proto: u8) -> Vec<u8> {
        let mut f = vec![0x01, 0, 0x5e, 0, 0, 0x12, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0xc0, 0, 32, 0, 1, 0, 0, 255, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[224, 0, 0, 18]);
        f.extend_from_slice(&[0x31, vrid, prio, 1, 0, 100, 0, 0, 192, 0, 2, 50]);
        f
    }

    fn pkt(ms: u64, data: Vec<u8>) -> CapturedPacket {
        CapturedPacket {
            ts: Duration::from_millis(ms),
            data,
        }
    }

    #[test]
    fn picks_adverts_of_one_router_and_vrid() {
        let me = Ipv4Addr::new(192, 0, 2, 1);
        let pkts = vec![
            pkt(0, frame([192, 0, 2, 1], 51, 100, 112)),
            pkt(5, frame([192, 0, 2, 2], 51, 90, 112)),
            pkt(7, frame([192, 0, 2, 1], 52, 100, 112)),
            pkt(9, frame([192, 0, 2, 1], 51, 100, 17)),
            // Priority 0 (resigning) is not a periodic advert.
            pkt(11, frame([192, 0, 2, 1], 51, 0, 112)),
            pkt(1000, frame([192, 0, 2, 1], 51, 100, 112)),
            pkt(2003, frame([192, 0, 2, 1], 51, 100, 112)),
            pkt(2010, vec![0; 10]),
        ];
        let t = advert_times(&pkts, me, 51);
        assert_eq!(t.len(), 3);
        let iv = intervals_ms(&t);
        assert_eq!(iv.len(), 2);
        assert!((iv[0] - 1000.0).abs() < 1e-9 && (iv[1] - 1003.0).abs() < 1e-9);
    }
}
