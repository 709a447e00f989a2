//! A minimal DNS query encoder and response decoder (RFC 1035 §4.1).

/// Encodes a standard query with RD set (RFC 1035 §4.1.1) for `name`
/// (`.` is the root) of type `qtype`, class IN.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut m = Vec::with_capacity(32 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    m.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    m.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        // RFC 1035 §2.3.4: labels are 63 octets or less.
        if label.len() > 63 {
            return None;
        }
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    if m.len() > 12 + 255 {
        return None;
    }
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes()); // IN
    Some(m)
}

/// The parts of a response the check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    pub is_response: bool,
    pub rcode: u8,
    /// RR types of the answer section.
    pub answer_types: Vec<u16>,
}

fn skip_name(m: &[u8], mut pos: usize) -> Option<usize> {
    // Compression pointers (RFC 1035 §4.1.4) end the name.
    for _ in 0..128 {
        let len = *m.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => pos += 1 + len as usize,
            0xc0 => {
                m.get(pos + 1)?;
                return Some(pos + 2);
            }
            _ => return None,
        }
    }
    None
}

fn u16_at(m: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(pos)?, *m.get(pos + 1)?]))
}

pub fn decode_response(m: &[u8]) -> Option<Response> {
    let id = u16_at(m, 0)?;
    let flags = u16_at(m, 2)?;
    let qd = u16_at(m, 4)?;
    let an = u16_at(m, 6)?;
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(m, pos)? + 4;
    }
    let mut answer_types = Vec::new();
    for _ in 0..an {
        pos = skip_name(m, pos)?;
        let ty = u16_at(m, pos)?;
        let rdlen = u16_at(m, pos + 8)? as usize;
        pos += 10 + rdlen;
        if pos > m.len() {
            return None;
        }
        answer_types.push(ty);
    }
    Some(Response {
        id,
        is_response: flags & 0x8000 != 0,
        rcode: (flags & 0x000f) as u8,
        answer_types,
    })
}
