//! Raw IP sockets for VRRP (IP protocol 112), IPv4 and IPv6, and for the
//! IPsec AH (protocol 51) that carries keepalived's `auth_type AH` adverts.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::error::{LinuxError, Result};
use crate::iface;

pub use keel_vrrp::packet::{
    IPPROTO_AH, IPPROTO_VRRP, VRRP_MCAST_V4 as VRRP_GROUP_V4, VRRP_MCAST_V6 as VRRP_GROUP_V6,
    VRRP_TOS, VRRP_TTL,
};

/// Larger than any valid VRRP packet (IPv6, 255 addresses: 4088 bytes plus
/// headers); anything that does not fit is dropped as invalid.
const RECV_BUF: usize = 8192;

/// How a [`VrrpSocket`] is set up besides interface and group.
#[derive(Debug, Clone, Default)]
pub struct VrrpSocketOptions {
    /// Bind to this local address (unicast mode: `unicast_src_ip`). The kernel
    /// then also only delivers packets addressed to it, so leave it unset on a
    /// socket that must receive multicast adverts. Binding works even before
    /// the address is configured (IP_FREEBIND).
    pub unicast_src: Option<IpAddr>,
    /// IPv4 only: the caller supplies the whole IPv4 header (IP_HDRINCL), so
    /// TOS, TTL, ID and flags can match keepalived byte for byte. The kernel
    /// still fills in the checksum and total length (and a zero ID / source).
    /// When off, `send_to` takes the bare VRRP message and the kernel builds
    /// the header with TOS 0xc0 and TTL 255.
    pub header_included: bool,
    /// IPv4 only: receive IPsec AH (protocol 51) instead of VRRP. Adverts
    /// of `auth_type AH` arrive as AH packets, which a protocol-112 socket
    /// never sees; they are still sent through the VRRP socket, whose
    /// IP_HDRINCL header names protocol 51 itself.
    pub ah: bool,
}

/// One VRRP packet as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// IPv4: the whole packet, IP header included. IPv6: the VRRP message
    /// only (raw IPv6 sockets never see the IPv6 header).
    pub packet: Vec<u8>,
    /// Where the VRRP message starts in `packet`.
    pub payload_offset: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit the packet arrived with.
    pub ttl: u8,
    /// Interface the packet arrived on.
    pub ifindex: u32,
}

impl Received {
    /// The VRRP message.
    pub fn payload(&self) -> &[u8] {
        self.packet.get(self.payload_offset..).unwrap_or(&[])
    }
}

/// A raw VRRP socket bound to one interface (SO_BINDTODEVICE), optionally
/// joined to a multicast group on it. Multicast loopback is off, so a node
/// never hears its own adverts.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    ifindex: u32,
    ifname: String,
    v6: bool,
    header_included: bool,
}

fn sockerr(op: &str, ifname: &str) -> impl FnOnce(io::Error) -> LinuxError {
    let op = format!("{op} ({ifname})");
    move |e| LinuxError::io(op, e)
}

/// A non-blocking raw socket of IP protocol `proto` bound to `ifname`.
fn raw_vrrp_socket(domain: Domain, family: &str, ifname: &str, proto: u8) -> Result<Socket> {
    let s = Socket::new(
        domain,
        Type::RAW.nonblocking().cloexec(),
        Some(Protocol::from(i32::from(proto))),
    )
    .map_err(sockerr(
        &format!("socket({family}, SOCK_RAW, {proto})"),
        ifname,
    ))?;
    s.bind_device(Some(ifname.as_bytes()))
        .map_err(sockerr("SO_BINDTODEVICE", ifname))?;
    Ok(s)
}

fn check_group(group: Option<IpAddr>) -> Result<()> {
    match group {
        Some(g) if !g.is_multicast() => {
            Err(LinuxError::Invalid(format!("{g} is not a multicast group")))
        }
        _ => Ok(()),
    }
}

impl VrrpSocket {
    /// Opens an IPv4 VRRP socket on `ifname`, joining `group` (normally
    /// [`VRRP_GROUP_V4`]; `None` for unicast-only operation). Requires
    /// CAP_NET_RAW. Must be called within a tokio runtime.
    pub fn open_v4(
        ifname: &str,
        group: Option<Ipv4Addr>,
        opts: &VrrpSocketOptions,
    ) -> Result<Self> {
        let ifindex = iface::ifindex(ifname)?;
        check_group(group.map(IpAddr::from))?;
        let src = match opts.unicast_src {
            None => None,
            Some(IpAddr::V4(a)) => Some(a),
            Some(IpAddr::V6(a)) => {
                return Err(LinuxError::Invalid(format!(
                    "IPv6 source {a} for an IPv4 socket"
                )));
            }
        };
        let proto = if opts.ah { IPPROTO_AH } else { IPPROTO_VRRP };
        let s = raw_vrrp_socket(Domain::IPV4, "AF_INET", ifname, proto)?;
        s.set_header_included_v4(opts.header_included)
            .map_err(sockerr("IP_HDRINCL", ifname))?;
        s.set_tos_v4(u32::from(VRRP_TOS))
            .map_err(sockerr("IP_TOS", ifname))?;
        s.set_ttl_v4(u32::from(VRRP_TTL))
            .map_err(sockerr("IP_TTL", ifname))?;
        s.set_multicast_ttl_v4(u32::from(VRRP_TTL))
            .map_err(sockerr("IP_MULTICAST_TTL", ifname))?;
        s.set_multicast_loop_v4(false)
            .map_err(sockerr("IP_MULTICAST_LOOP", ifname))?;
        // Without this a raw socket also receives groups joined by any other
        // socket on the host.
        s.set_multicast_all_v4(false)
            .map_err(sockerr("IP_MULTICAST_ALL", ifname))?;
        set_multicast_if_index_v4(&s, ifindex).map_err(sockerr("IP_MULTICAST_IF", ifname))?;
        setsockopt(&s, sockopt::Ipv4PacketInfo, &true)
            .map_err(|e| LinuxError::io(format!("IP_PKTINFO ({ifname})"), e.into()))?;
        if let Some(g) = group {
            s.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex))
                .map_err(sockerr("IP_ADD_MEMBERSHIP", ifname))?;
        }
        if let Some(a) = src {
            s.set_freebind_v4(true)
                .map_err(sockerr("IP_FREEBIND", ifname))?;
            s.bind(&SocketAddrV4::new(a, 0).into())
                .map_err(sockerr("bind", ifname))?;
        }
        Self::wrap(s, ifindex, ifname, false, opts.header_included)
    }

    /// Opens an IPv6 VRRP socket on `ifname`, joining `group` (normally
    /// [`VRRP_GROUP_V6`]; `None` for unicast-only operation). Hop limits are
    /// 255 for multicast and unicast; hop limit and destination of received
    /// packets are reported via IPV6_RECVHOPLIMIT / IPV6_RECVPKTINFO.
    pub fn open_v6(
        ifname: &str,
        group: Option<Ipv6Addr>,
        opts: &VrrpSocketOptions,
    ) -> Result<Self> {
        let ifindex = iface::ifindex(ifname)?;
        check_group(group.map(IpAddr::from))?;
        let src = match opts.unicast_src {
            None => None,
            Some(IpAddr::V6(a)) => Some(a),
            Some(IpAddr::V4(a)) => {
                return Err(LinuxError::Invalid(format!(
                    "IPv4 source {a} for an IPv6 socket"
                )));
            }
        };
        if opts.ah {
            return Err(LinuxError::Invalid(
                "AH authentication is IPv4 only".to_string(),
            ));
        }
        let s = raw_vrrp_socket(Domain::IPV6, "AF_INET6", ifname, IPPROTO_VRRP)?;
        s.set_multicast_hops_v6(u32::from(VRRP_TTL))
            .map_err(sockerr("IPV6_MULTICAST_HOPS", ifname))?;
        s.set_unicast_hops_v6(u32::from(VRRP_TTL))
            .map_err(sockerr("IPV6_UNICAST_HOPS", ifname))?;
        s.set_multicast_loop_v6(false)
            .map_err(sockerr("IPV6_MULTICAST_LOOP", ifname))?;
        s.set_multicast_all_v6(false)
            .map_err(sockerr("IPV6_MULTICAST_ALL", ifname))?;
        s.set_multicast_if_v6(ifindex)
            .map_err(sockerr("IPV6_MULTICAST_IF", ifname))?;
        s.set_recv_hoplimit_v6(true)
            .map_err(sockerr("IPV6_RECVHOPLIMIT", ifname))?;
        setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)
            .map_err(|e| LinuxError::io(format!("IPV6_RECVPKTINFO ({ifname})"), e.into()))?;
        if let Some(g) = group {
            s.join_multicast_v6(&g, ifindex)
                .map_err(sockerr("IPV6_ADD_MEMBERSHIP", ifname))?;
        }
        if let Some(a) = src {
            s.set_freebind_v6(true)
                .map_err(sockerr("IPV6_FREEBIND", ifname))?;
            let scope = if is_link_local_v6(&a) { ifindex } else { 0 };
            s.bind(&SocketAddrV6::new(a, 0, 0, scope).into())
                .map_err(sockerr("bind", ifname))?;
        }
        Self::wrap(s, ifindex, ifname, true, false)
    }

    fn wrap(
        s: Socket,
        ifindex: u32,
        ifname: &str,
        v6: bool,
        header_included: bool,
    ) -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(LinuxError::NoRuntime);
        }
        // SAFETY: the Socket is moved into the AsyncFd, which owns it until
        // drop; a socket2 Socket never closes or replaces its descriptor.
        let fd = unsafe { AsyncFd::register(s) }
            .map_err(|e| LinuxError::io(format!("register with tokio ({ifname})"), e.into()))?;
        Ok(VrrpSocket {
            fd,
            ifindex,
            ifname: ifname.to_string(),
            v6,
            header_included,
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    pub fn is_ipv6(&self) -> bool {
        self.v6
    }

    /// Whether `send_to` expects a full IPv4 packet (IP_HDRINCL).
    pub fn header_included(&self) -> bool {
        self.header_included
    }

    /// The descriptor, for [`crate::emergency`]'s pre-built sends.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.get_ref().as_raw_fd()
    }

    /// Sends one packet to `dst` (the group, or a unicast peer). With
    /// [`VrrpSocketOptions::header_included`], `bytes` is a whole IPv4 packet;
    /// otherwise the VRRP message.
    pub async fn send_to(&self, bytes: &[u8], dst: IpAddr) -> Result<usize> {
        let addr: SockAddr = match (dst, self.v6) {
            (IpAddr::V4(a), false) => SocketAddr::V4(SocketAddrV4::new(a, 0)).into(),
            (IpAddr::V6(a), true) => {
                let scope = if a.is_multicast() || is_link_local_v6(&a) {
                    self.ifindex
                } else {
                    0
                };
                SocketAddr::V6(SocketAddrV6::new(a, 0, 0, scope)).into()
            }
            _ => {
                return Err(LinuxError::Invalid(format!(
                    "destination {dst} does not match the socket family"
                )));
            }
        };
        self.fd
            .async_io(Interest::WRITABLE, |s| s.send_to(bytes, &addr))
            .await
            .map_err(|e| LinuxError::io(format!("sendto {dst} ({})", self.ifname), e))
    }

    /// Waits for the next VRRP packet. Cancel-safe: a packet is either
    /// returned or left in the socket. Packets too large to be VRRP are
    /// skipped. The packet is read into a buffer on the caller's future
    /// and copied out at its exact size, so a queue of received packets
    /// costs what they weigh, not 8 KiB each.
    pub async fn recv(&self) -> Result<Received> {
        let mut buf = [0u8; RECV_BUF];
        let meta = loop {
            let meta = if self.v6 {
                self.recv_v6(&mut buf).await?
            } else {
                self.recv_v4(&mut buf).await?
            };
            if let Some(meta) = meta {
                break meta;
            }
        };
        Ok(Received {
            packet: buf.get(..meta.len).unwrap_or(&[]).to_vec(),
            payload_offset: meta.payload_offset,
            src: meta.src,
            dst: meta.dst,
            ttl: meta.ttl,
            ifindex: meta.ifindex,
        })
    }

    async fn recv_v4(&self, buf: &mut [u8]) -> Result<Option<Meta>> {
        let (len, ifindex, truncated) = self
            .fd
            .async_io(Interest::READABLE, |s| {
                let mut iov = [IoSliceMut::new(buf)];
                let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
                let msg = recvmsg::<SockaddrStorage>(
                    s.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::empty(),
                )
                .map_err(io::Error::from)?;
                let mut ifindex = None;
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::Ipv4PacketInfo(info) = c {
                            ifindex = u32::try_from(info.ipi_ifindex).ok();
                        }
                    }
                }
                let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
                Ok((msg.bytes, ifindex, truncated))
            })
            .await
            .map_err(|e| LinuxError::io(format!("recvmsg ({})", self.ifname), e))?;
        if truncated {
            return Ok(None);
        }
        let packet = buf.get(..len).unwrap_or(&[]);
        let (src, dst, ttl, payload_offset) = parse_ipv4_header(packet).ok_or_else(|| {
            LinuxError::Invalid(format!("short or non-IPv4 packet ({len} bytes)"))
        })?;
        Ok(Some(Meta {
            len,
            payload_offset,
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
            ttl,
            ifindex: ifindex.unwrap_or(self.ifindex),
        }))
    }

    async fn recv_v6(&self, buf: &mut [u8]) -> Result<Option<Meta>> {
        let (len, src, dst, hops, ifindex, truncated) = self
            .fd
            .async_io(Interest::READABLE, |s| {
                let mut iov = [IoSliceMut::new(buf)];
                let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
                let msg = recvmsg::<SockaddrStorage>(
                    s.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::empty(),
                )
                .map_err(io::Error::from)?;
                let src = msg
                    .address
                    .as_ref()
                    .and_then(|a| a.as_sockaddr_in6())
                    .map(|a| a.ip());
                let (mut dst, mut hops, mut ifindex) = (None, None, None);
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        match c {
                            ControlMessageOwned::Ipv6PacketInfo(info) => {
                                dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                                ifindex = Some(info.ipi6_ifindex);
                            }
                            ControlMessageOwned::Ipv6HopLimit(h) => hops = u8::try_from(h).ok(),
                            _ => {}
                        }
                    }
                }
                let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
                Ok((msg.bytes, src, dst, hops, ifindex, truncated))
            })
            .await
            .map_err(|e| LinuxError::io(format!("recvmsg ({})", self.ifname), e))?;
        if truncated {
            return Ok(None);
        }
        let missing = |what: &str| LinuxError::Invalid(format!("recvmsg gave no {what}"));
        Ok(Some(Meta {
            len,
            payload_offset: 0,
            src: IpAddr::V6(src.ok_or_else(|| missing("source address"))?),
            dst: IpAddr::V6(dst.ok_or_else(|| missing("IPV6_PKTINFO"))?),
            ttl: hops.ok_or_else(|| missing("IPV6_HOPLIMIT"))?,
            ifindex: ifindex.unwrap_or(self.ifindex),
        }))
    }
}

/// What `recvmsg` reported besides the bytes themselves.
struct Meta {
    len: usize,
    payload_offset: usize,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    ifindex: u32,
}

/// (src, dst, ttl, header length) of an IPv4 packet.
fn parse_ipv4_header(p: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, usize)> {
    let first = *p.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || p.len() < ihl {
        return None;
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    Some((src, dst, p[8], ihl))
}

fn is_link_local_v6(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// IP_MULTICAST_IF by interface index (`struct ip_mreqn`), which socket2 only
/// offers by address.
fn set_multicast_if_index_v4(s: &Socket, ifindex: u32) -> io::Result<()> {
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: i32::try_from(ifindex)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
    };
    // SAFETY: the fd is valid for the call; the option value points to a
    // live, initialised `ip_mreqn` whose exact size is passed as optlen.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&mreqn as *const libc::ip_mreqn).cast(),
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_fields() {
        // keepalived's VRRPv3 advert header from the reference capture.
        let pkt = [
            0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x98, 0xc0, 0x00,
            0x02, 0x02, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x33,
        ];
        let (src, dst, ttl, off) = parse_ipv4_header(&pkt).unwrap();
        assert_eq!(src, Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(dst, VRRP_GROUP_V4);
        assert_eq!(ttl, 255);
        assert_eq!(off, 20);
        assert!(parse_ipv4_header(&pkt[..19]).is_none());
        assert!(parse_ipv4_header(&[0x60; 40]).is_none());
        assert!(parse_ipv4_header(&[0x44; 40]).is_none(), "IHL below 5");
    }

    #[test]
    fn link_local_detection() {
        assert!(is_link_local_v6(&"fe80::1".parse().unwrap()));
        assert!(!is_link_local_v6(&"2001:db8::1".parse().unwrap()));
        assert!(!is_link_local_v6(&VRRP_GROUP_V6));
    }
}
