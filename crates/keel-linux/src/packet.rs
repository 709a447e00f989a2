//! Sending prepared Ethernet frames (gratuitous ARP, unsolicited neighbour
//! advertisements) through an AF_PACKET socket.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::error::{LinuxError, Result};
use crate::iface::{self, ETH_ALEN};

/// Shortest frame accepted: destination, source and EtherType.
pub const ETH_HEADER_LEN: usize = 14;

/// A send-only AF_PACKET socket for one interface. It is opened with
/// protocol 0, so the kernel never queues received frames on it.
#[derive(Debug)]
pub struct PacketSocket {
    fd: AsyncFd<OwnedFd>,
    ifindex: u32,
    ifname: String,
    mac: [u8; ETH_ALEN],
}

impl PacketSocket {
    /// Opens the socket on `ifname` and reads the interface's MAC. Requires
    /// CAP_NET_RAW and a tokio runtime.
    pub fn open(ifname: &str) -> Result<Self> {
        let ifindex = iface::ifindex(ifname)?;
        let mac = iface::mac_address(ifname)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(LinuxError::NoRuntime);
        }
        // SAFETY: socket(2) takes no pointers; the result is checked below.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(LinuxError::io(
                format!("socket(AF_PACKET) ({ifname})"),
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: `raw` is a freshly created descriptor that nothing else
        // owns; OwnedFd takes sole ownership and closes it on drop.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the OwnedFd is moved into the AsyncFd, which never hands out
        // ownership of it, so the descriptor stays open and unchanged for the
        // AsyncFd's whole lifetime.
        let fd = unsafe { AsyncFd::register(owned) }
            .map_err(|e| LinuxError::io(format!("register with tokio ({ifname})"), e.into()))?;
        Ok(PacketSocket {
            fd,
            ifindex,
            ifname: ifname.to_string(),
            mac,
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The interface MAC read at open time (the source for GARP frames).
    pub fn mac(&self) -> [u8; ETH_ALEN] {
        self.mac
    }

    /// Transmits `frame` (a complete Ethernet frame: destination MAC, source
    /// MAC, EtherType, payload) unchanged on the interface.
    pub async fn send(&self, frame: &[u8]) -> Result<usize> {
        if frame.len() < ETH_HEADER_LEN {
            return Err(LinuxError::Invalid(format!(
                "frame of {} bytes is shorter than an Ethernet header",
                frame.len()
            )));
        }
        // SAFETY: `sockaddr_ll` is a plain C struct; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        // Already in network byte order, as sll_protocol expects.
        sll.sll_protocol = u16::from_ne_bytes([frame[12], frame[13]]);
        sll.sll_ifindex = i32::try_from(self.ifindex)
            .map_err(|_| LinuxError::Invalid(format!("ifindex {}", self.ifindex)))?;
        sll.sll_halen = ETH_ALEN as u8;
        sll.sll_addr[..ETH_ALEN].copy_from_slice(&frame[..ETH_ALEN]);
        self.fd
            .async_io(Interest::WRITABLE, |fd| {
                // SAFETY: `frame` and `sll` are live for the whole call, the
                // lengths passed match their sizes, and the fd is open.
                let n = unsafe {
                    libc::sendto(
                        fd.as_raw_fd(),
                        frame.as_ptr().cast(),
                        frame.len(),
                        0,
                        (&sll as *const libc::sockaddr_ll).cast(),
                        std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            })
            .await
            .map_err(|e| LinuxError::io(format!("sendto AF_PACKET ({})", self.ifname), e))
    }
}
