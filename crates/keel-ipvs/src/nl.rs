//! Netlink and generic-netlink framing, hand-encoded.
//!
//! Layouts (all fields in host byte order unless noted):
//! * `struct nlmsghdr` (`include/uapi/linux/netlink.h`): `u32 len, u16 type,
//!   u16 flags, u32 seq, u32 pid`, 16 bytes; messages are padded to 4 bytes.
//! * `struct genlmsghdr` (`include/uapi/linux/genetlink.h`): `u8 cmd,
//!   u8 version, u16 reserved`, 4 bytes, right after the netlink header.
//! * `struct nlattr`: `u16 len, u16 type`, then the payload; `len` counts
//!   header and payload but not the padding to 4 bytes. The top two bits of
//!   `type` are the `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER` flags.
//! * `struct nlmsgerr`: `i32 error` (0 or a negative errno) and the request's
//!   header, then (with `NETLINK_EXT_ACK`) attributes such as the message.

use crate::error::DecodeError;

pub const NLMSG_HDRLEN: usize = 16;
pub const GENL_HDRLEN: usize = 4;
pub const NLA_HDRLEN: usize = 4;

pub const NLM_F_REQUEST: u16 = 0x1;
#[cfg(test)]
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_ROOT | NLM_F_MATCH`.
pub const NLM_F_DUMP: u16 = 0x300;
/// In an error message: the request's payload was left out (`NLM_F_CAPPED`).
pub const NLM_F_CAPPED: u16 = 0x100;
/// In an error message: extended-ack attributes follow (`NLM_F_ACK_TLVS`).
pub const NLM_F_ACK_TLVS: u16 = 0x200;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

/// `NLMSGERR_ATTR_MSG`: the extended-ack text.
pub const NLMSGERR_ATTR_MSG: u16 = 1;

pub const NLA_TYPE_MASK: u16 = 0x3fff;

/// The generic-netlink controller's fixed family id (`GENL_ID_CTRL`).
pub const GENL_ID_CTRL: u16 = 0x10;
pub const CTRL_CMD_GETFAMILY: u8 = 3;
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;

pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Builds one generic-netlink request: headers first, attributes appended,
/// lengths patched in by [`Request::finish`] and the nest helpers.
#[derive(Debug, Clone)]
pub struct Request {
    buf: Vec<u8>,
}

impl Request {
    pub fn new(family: u16, flags: u16, seq: u32, cmd: u8, version: u8) -> Request {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched by finish
        buf.extend_from_slice(&family.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        // Port id 0: the kernel fills in the sending socket's.
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&[cmd, version, 0, 0]);
        Request { buf }
    }

    pub fn put(&mut self, ty: u16, payload: &[u8]) {
        let len = NLA_HDRLEN + payload.len();
        // Attribute payloads here are at most a few dozen bytes; a u16
        // overflow would need a caller bug, and is clamped rather than wrapped.
        let len16 = u16::try_from(len).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    pub fn put_u8(&mut self, ty: u16, v: u8) {
        self.put(ty, &[v]);
    }

    pub fn put_u16(&mut self, ty: u16, v: u16) {
        self.put(ty, &v.to_ne_bytes());
    }

    /// A 16-bit value in network byte order (ports).
    pub fn put_be16(&mut self, ty: u16, v: u16) {
        self.put(ty, &v.to_be_bytes());
    }

    pub fn put_u32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_ne_bytes());
    }

    /// A NUL-terminated string (`NLA_NUL_STRING`).
    pub fn put_str(&mut self, ty: u16, s: &str) {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.put(ty, &v);
    }

    /// Opens a nested attribute; close it with [`Request::end_nest`].
    ///
    /// `NLA_F_NESTED` (0x8000) is left clear, as ipvsadm (libnl's `nla_nest_start`)
    /// sends it: IPVS parses its nests with the liberal, pre-5.2 rules that
    /// accept either.
    pub fn begin_nest(&mut self, ty: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        start
    }

    pub fn end_nest(&mut self, start: usize) {
        let len = u16::try_from(self.buf.len() - start).unwrap_or(u16::MAX);
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    pub fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }
}

/// One netlink message of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    /// Everything after the 16-byte header, padding excluded.
    pub payload: &'a [u8],
}

/// Splits a datagram into its netlink messages.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { rest: buf }
}

pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = parse_message(self.rest);
        match r {
            Ok((msg, used)) => {
                self.rest = self.rest.get(used..).unwrap_or(&[]);
                Some(Ok(msg))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn parse_message(buf: &[u8]) -> Result<(Message<'_>, usize), DecodeError> {
    if buf.len() < NLMSG_HDRLEN {
        return Err(DecodeError::Truncated {
            what: "netlink header",
            need: NLMSG_HDRLEN,
            have: buf.len(),
        });
    }
    let len = read_u32(buf, 0) as usize;
    if len < NLMSG_HDRLEN || len > buf.len() {
        return Err(DecodeError::BadMessageLength {
            len,
            buf: buf.len(),
        });
    }
    let msg = Message {
        ty: read_u16(buf, 4),
        flags: read_u16(buf, 6),
        seq: read_u32(buf, 8),
        pid: read_u32(buf, 12),
        payload: &buf[NLMSG_HDRLEN..len],
    };
    Ok((msg, align4(len).min(buf.len())))
}

/// A generic-netlink message body: command, version and attribute bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenlBody<'a> {
    pub cmd: u8,
    pub version: u8,
    pub attrs: &'a [u8],
}

pub fn genl_body(payload: &[u8]) -> Result<GenlBody<'_>, DecodeError> {
    if payload.len() < GENL_HDRLEN {
        return Err(DecodeError::Truncated {
            what: "generic netlink header",
            need: GENL_HDRLEN,
            have: payload.len(),
        });
    }
    Ok(GenlBody {
        cmd: payload[0],
        version: payload[1],
        attrs: &payload[GENL_HDRLEN..],
    })
}

/// The error (or ack) carried by an `NLMSG_ERROR` message: the errno as the
/// kernel sent it (0 or negative) and the extended-ack text, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMsg {
    pub error: i32,
    pub ext_msg: Option<String>,
}

pub fn error_msg(msg: &Message<'_>) -> Result<ErrorMsg, DecodeError> {
    let p = msg.payload;
    if p.len() < 4 {
        return Err(DecodeError::Truncated {
            what: "nlmsgerr",
            need: 4,
            have: p.len(),
        });
    }
    let error = read_u32(p, 0) as i32;
    let mut ext_msg = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        // The echoed request: its header only when capped, else all of it.
        let echoed = if msg.flags & NLM_F_CAPPED != 0 || p.len() < 4 + NLMSG_HDRLEN {
            NLMSG_HDRLEN
        } else {
            align4(read_u32(p, 4) as usize)
        };
        if let Some(tlvs) = p.get(4 + echoed..) {
            for a in attrs(tlvs) {
                let a = a?;
                if a.ty == NLMSGERR_ATTR_MSG {
                    ext_msg = Some(a.string("extended ack message")?.to_owned());
                }
            }
        }
    }
    Ok(ErrorMsg { error, ext_msg })
}

/// One attribute: its type (flags masked off) and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    pub ty: u16,
    pub payload: &'a [u8],
}

pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { rest: buf }
}

pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Fewer than a header's worth of bytes left is padding.
        if self.rest.len() < NLA_HDRLEN {
            self.rest = &[];
            return None;
        }
        let len = read_u16(self.rest, 0) as usize;
        let ty = read_u16(self.rest, 2) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > self.rest.len() {
            let have = self.rest.len();
            self.rest = &[];
            return Some(Err(DecodeError::Truncated {
                what: "netlink attribute",
                need: len.max(NLA_HDRLEN),
                have,
            }));
        }
        let attr = Attr {
            ty,
            payload: &self.rest[NLA_HDRLEN..len],
        };
        self.rest = self.rest.get(align4(len)..).unwrap_or(&[]);
        Some(Ok(attr))
    }
}

impl<'a> Attr<'a> {
    fn exact<const N: usize>(&self, what: &'static str) -> Result<[u8; N], DecodeError> {
        <[u8; N]>::try_from(self.payload).map_err(|_| DecodeError::BadAttributeLength {
            what,
            len: self.payload.len(),
            expected: N,
        })
    }

    pub fn u8(&self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.exact::<1>(what)?[0])
    }

    pub fn u16(&self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_ne_bytes(self.exact(what)?))
    }

    pub fn be16(&self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.exact(what)?))
    }

    pub fn u32(&self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_ne_bytes(self.exact(what)?))
    }

    /// The raw 4 bytes (big-endian fields such as an IPv4 netmask).
    pub fn bytes4(&self, what: &'static str) -> Result<[u8; 4], DecodeError> {
        self.exact(what)
    }

    pub fn u64(&self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_ne_bytes(self.exact(what)?))
    }

    pub fn bytes16(&self, what: &'static str) -> Result<[u8; 16], DecodeError> {
        self.exact(what)
    }

    /// A NUL-terminated string; bytes after the first NUL are ignored.
    pub fn string(&self, what: &'static str) -> Result<&'a str, DecodeError> {
        let end = self
            .payload
            .iter()
            .position(|&b| b == 0)
            .ok_or(DecodeError::BadString { what })?;
        std::str::from_utf8(&self.payload[..end]).map_err(|_| DecodeError::BadString { what })
    }
}

fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The request asking nlctrl for a family's id by name.
pub fn getfamily_request(seq: u32, name: &str) -> Vec<u8> {
    let mut r = Request::new(
        GENL_ID_CTRL,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        CTRL_CMD_GETFAMILY,
        1,
    );
    r.put_str(CTRL_ATTR_FAMILY_NAME, name);
    r.finish()
}

/// The family id in nlctrl's `CTRL_CMD_NEWFAMILY` reply.
pub fn family_id(attrs_buf: &[u8]) -> Result<u16, DecodeError> {
    for a in attrs(attrs_buf) {
        let a = a?;
        if a.ty == CTRL_ATTR_FAMILY_ID {
            return a.u16("CTRL_ATTR_FAMILY_ID");
        }
    }
    Err(DecodeError::Missing {
        what: "CTRL_ATTR_FAMILY_ID",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden bytes of nlctrl's GETFAMILY for "IPVS": nlmsghdr (len 28,
    /// type GENL_ID_CTRL, flags REQUEST|ACK, seq 7, pid 0), genlmsghdr (cmd 3,
    /// version 1), then CTRL_ATTR_FAMILY_NAME "IPVS\0" (len 9, padded to 12).
    #[test]
    fn getfamily_golden_bytes() {
        let mut want = Vec::new();
        want.extend_from_slice(&32u32.to_ne_bytes());
        want.extend_from_slice(&0x10u16.to_ne_bytes());
        want.extend_from_slice(&5u16.to_ne_bytes());
        want.extend_from_slice(&7u32.to_ne_bytes());
        want.extend_from_slice(&0u32.to_ne_bytes());
        want.extend_from_slice(&[3, 1, 0, 0]);
        want.extend_from_slice(&9u16.to_ne_bytes());
        want.extend_from_slice(&2u16.to_ne_bytes());
        want.extend_from_slice(b"IPVS\0\0\0\0");
        assert_eq!(getfamily_request(7, "IPVS"), want);
    }

    #[test]
    fn nests_carry_their_full_length() {
        let mut r = Request::new(40, NLM_F_REQUEST, 1, 1, 1);
        let n = r.begin_nest(1);
        r.put_u16(1, 2);
        r.put_u8(2, 9);
        r.end_nest(n);
        let buf = r.finish();
        let msg = messages(&buf).next().unwrap().unwrap();
        let body = genl_body(msg.payload).unwrap();
        let outer: Vec<_> = attrs(body.attrs).map(|a| a.unwrap()).collect();
        assert_eq!(outer.len(), 1);
        // 4 (nest header) + 8 (u16 attr, padded) + 8 (u8 attr, padded)
        assert_eq!(outer[0].payload.len(), 16);
        let inner: Vec<_> = attrs(outer[0].payload).map(|a| a.unwrap()).collect();
        assert_eq!(inner[0].u16("x").unwrap(), 2);
        assert_eq!(inner[1].u8("y").unwrap(), 9);
    }

    #[test]
    fn several_messages_in_one_datagram() {
        let a = Request::new(40, NLM_F_MULTI, 1, 1, 1).finish();
        let mut done = Vec::new();
        done.extend_from_slice(&20u32.to_ne_bytes());
        done.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        done.extend_from_slice(&NLM_F_MULTI.to_ne_bytes());
        done.extend_from_slice(&1u32.to_ne_bytes());
        done.extend_from_slice(&0u32.to_ne_bytes());
        done.extend_from_slice(&0u32.to_ne_bytes());
        let mut buf = a.clone();
        buf.extend_from_slice(&done);
        let types: Vec<u16> = messages(&buf).map(|m| m.unwrap().ty).collect();
        assert_eq!(types, vec![40, NLMSG_DONE]);
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let full = getfamily_request(1, "IPVS");
        for cut in 1..full.len() {
            let part = &full[..cut];
            let r: Result<Vec<_>, _> = messages(part).collect();
            assert!(r.is_err(), "cut at {cut} parsed");
        }
        // An attribute claiming more bytes than remain.
        let bad = [200u8, 0, 1, 0, 1, 2, 3, 4];
        assert!(attrs(&bad).next().unwrap().is_err());
        // An attribute shorter than its own header.
        let bad = [2u8, 0, 1, 0];
        assert!(attrs(&bad).next().unwrap().is_err());
    }

    #[test]
    fn error_message_with_extended_ack_text() {
        // nlmsgerr: error -22, the echoed request header (capped), then
        // NLMSGERR_ATTR_MSG "bad\0".
        let mut p = Vec::new();
        p.extend_from_slice(&(-22i32).to_ne_bytes());
        p.extend_from_slice(&[0u8; 16]);
        p.extend_from_slice(&8u16.to_ne_bytes());
        p.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        p.extend_from_slice(b"bad\0");
        let msg = Message {
            ty: NLMSG_ERROR,
            flags: NLM_F_CAPPED | NLM_F_ACK_TLVS,
            seq: 1,
            pid: 0,
            payload: &p,
        };
        let e = error_msg(&msg).unwrap();
        assert_eq!(e.error, -22);
        assert_eq!(e.ext_msg.as_deref(), Some("bad"));
    }

    #[test]
    fn family_id_from_newfamily_reply() {
        let mut r = Request::new(GENL_ID_CTRL, 0, 1, 1, 2);
        r.put_str(CTRL_ATTR_FAMILY_NAME, "IPVS");
        r.put_u16(CTRL_ATTR_FAMILY_ID, 32);
        let buf = r.finish();
        let msg = messages(&buf).next().unwrap().unwrap();
        let body = genl_body(msg.payload).unwrap();
        assert_eq!(family_id(body.attrs).unwrap(), 32);
        assert!(family_id(&[]).is_err());
    }
}
