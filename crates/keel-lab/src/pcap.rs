//! Minimal reader for classic libpcap files (the format `tcpdump -w` writes).

use std::time::Duration;

use crate::error::{LabError, Result};

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedPacket {
    /// Capture time since the Unix epoch.
    pub ts: Duration,
    /// The captured bytes (for a veth: the Ethernet frame).
    pub data: Vec<u8>,
}

/// Link-layer type number of the capture (1 = Ethernet).
pub const LINKTYPE_ETHERNET: u32 = 1;

const GLOBAL_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

#[derive(Clone, Copy)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(match self {
            Order::Little => u32::from_le_bytes(raw),
            Order::Big => u32::from_be_bytes(raw),
        })
    }
}

/// Parsed capture file: link type plus packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapFile {
    pub linktype: u32,
    pub packets: Vec<CapturedPacket>,
}

/// Decodes a pcap file.
///
/// A truncated *last* record is ignored rather than reported: tcpdump may be
/// in the middle of writing it when a running capture is inspected.
pub fn parse_pcap(bytes: &[u8]) -> Result<PcapFile> {
    if bytes.len() < GLOBAL_HEADER_LEN {
        // tcpdump writes the header only once the capture is open; an empty
        // file just means "nothing yet".
        if bytes.is_empty() {
            return Ok(PcapFile {
                linktype: LINKTYPE_ETHERNET,
                packets: Vec::new(),
            });
        }
        return Err(LabError::Pcap(format!(
            "file shorter than the global header ({} bytes)",
            bytes.len()
        )));
    }
    let magic_le = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let (order, nanos) = match magic_le {
        0xa1b2_c3d4 => (Order::Little, false),
        0xa1b2_3c4d => (Order::Little, true),
        0xd4c3_b2a1 => (Order::Big, false),
        0x4d3c_b2a1 => (Order::Big, true),
        other => return Err(LabError::Pcap(format!("unknown magic {other:#010x}"))),
    };
    let linktype = order
        .u32(bytes, 20)
        .ok_or_else(|| LabError::Pcap("short global header".into()))?;
    let mut packets = Vec::new();
    let mut at = GLOBAL_HEADER_LEN;
    while at + RECORD_HEADER_LEN <= bytes.len() {
        let (Some(sec), Some(frac), Some(incl)) = (
            order.u32(bytes, at),
            order.u32(bytes, at + 4),
            order.u32(bytes, at + 8),
        ) else {
            break;
        };
        let start = at + RECORD_HEADER_LEN;
        let Some(end) = start.checked_add(incl as usize) else {
            return Err(LabError::Pcap("record length overflows".into()));
        };
        let Some(data) = bytes.get(start..end) else {
            break;
        };
        let sub = if nanos {
            Duration::from_nanos(u64::from(frac))
        } else {
            Duration::from_micros(u64::from(frac))
        };
        packets.push(CapturedPacket {
            ts: Duration::from_secs(u64::from(sec)) + sub,
            data: data.to_vec(),
        });
        at = end;
    }
    Ok(PcapFile { linktype, packets })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_le(nanos: bool) -> Vec<u8> {
        let mut v = Vec::new();
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        v.extend_from_slice(&magic.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&262_144u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        v
    }

    fn record_le(sec: u32, frac: u32, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&sec.to_le_bytes());
        v.extend_from_slice(&frac.to_le_bytes());
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_microsecond_records() {
        let mut f = header_le(false);
        f.extend(record_le(10, 250_000, &[1, 2, 3]));
        f.extend(record_le(11, 1, &[4]));
        let p = parse_pcap(&f).unwrap();
        assert_eq!(p.linktype, 1);
        assert_eq!(p.packets.len(), 2);
        assert_eq!(p.packets[0].ts, Duration::from_millis(10_250));
        assert_eq!(p.packets[0].data, vec![1, 2, 3]);
        assert_eq!(p.packets[1].ts, Duration::new(11, 1_000));
    }

    #[test]
    fn parses_nanosecond_and_big_endian_files() {
        let mut f = header_le(true);
        f.extend(record_le(1, 5, &[9]));
        assert_eq!(parse_pcap(&f).unwrap().packets[0].ts, Duration::new(1, 5));

        let mut be = Vec::new();
        be.extend_from_slice(&0xa1b2_c3d4u32.to_be_bytes());
        be.extend_from_slice(&[0, 2, 0, 4]);
        be.extend_from_slice(&[0; 12]);
        be.extend_from_slice(&1u32.to_be_bytes());
        be.extend_from_slice(&7u32.to_be_bytes());
        be.extend_from_slice(&0u32.to_be_bytes());
        be.extend_from_slice(&2u32.to_be_bytes());
        be.extend_from_slice(&2u32.to_be_bytes());
        be.extend_from_slice(&[0xaa, 0xbb]);
        let p = parse_pcap(&be).unwrap();
        assert_eq!(p.packets[0].ts, Duration::from_secs(7));
        assert_eq!(p.packets[0].data, vec![0xaa, 0xbb]);
    }

    #[test]
    fn truncated_tail_is_ignored_and_garbage_rejected() {
        let mut f = header_le(false);
        f.extend(record_le(1, 0, &[1, 2, 3, 4]));
        f.extend(&record_le(2, 0, &[5, 6, 7, 8])[..18]);
        assert_eq!(parse_pcap(&f).unwrap().packets.len(), 1);
        assert!(parse_pcap(&[0u8; 24]).is_err());
        assert!(parse_pcap(&[0xd4, 0xc3]).is_err());
        assert!(parse_pcap(&[]).unwrap().packets.is_empty());
    }
}
