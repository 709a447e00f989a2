//! The last words of a dying daemon: priority-0 adverts for every MASTER
//! instance and deletions of its virtual addresses, prepared in advance and
//! sent by [`fire`] from a panic hook or a fatal-signal handler.
//!
//! A crash otherwise leaves the peer waiting Master_Down_Interval (3.6 s at
//! `advert_int 1`) and the VIPs on both nodes. A signal handler may not lock
//! nor allocate, so the runtime publishes an immutable [`HandOver`] (encoded
//! packets, socket addresses, netlink messages) each time what it would say
//! changes, and [`fire`] only reads it and calls `sendto(2)`/`send(2)`.
//!
//! Publication is an atomic pointer swap. A replaced plan is freed only when
//! no reader has announced itself; readers announce themselves before they
//! load the pointer, so a plan being read is never freed (at worst a plan
//! is leaked while the process dies anyway).

use std::net::IpAddr;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};

use crate::error::{LinuxError, Result};
use crate::vrrp_socket::VrrpSocket;

/// The signals that end the process with a hand-over.
pub const FATAL_SIGNALS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGILL,
    libc::SIGFPE,
];

const RTM_DELADDR: u16 = 21;
const NLM_F_REQUEST: u16 = 1;
const IFA_LOCAL: u16 = 2;

static PLAN: AtomicPtr<HandOver> = AtomicPtr::new(std::ptr::null_mut());
static READERS: AtomicUsize = AtomicUsize::new(0);
static FIRED: AtomicBool = AtomicBool::new(false);
static NETLINK_FD: AtomicI32 = AtomicI32::new(-1);

struct Advert {
    fd: RawFd,
    addr: libc::sockaddr_storage,
    addr_len: libc::socklen_t,
    bytes: Vec<u8>,
}

/// What to send when the process dies. Built off the hot path by the VRRP
/// runtime and published with [`publish`].
#[derive(Default)]
pub struct HandOver {
    adverts: Vec<Advert>,
    deletions: Vec<Vec<u8>>,
    /// Keeps the descriptors in `adverts` open while this plan may be read.
    sockets: Vec<Arc<VrrpSocket>>,
}

impl std::fmt::Debug for HandOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandOver")
            .field("adverts", &self.adverts.len())
            .field("deletions", &self.deletions.len())
            .finish()
    }
}

impl HandOver {
    pub fn new() -> HandOver {
        HandOver::default()
    }

    /// Adverts and address deletions in this plan.
    pub fn len(&self) -> (usize, usize) {
        (self.adverts.len(), self.deletions.len())
    }

    pub fn is_empty(&self) -> bool {
        self.adverts.is_empty() && self.deletions.is_empty()
    }

    /// Sends `bytes` (as [`VrrpSocket::send_to`] takes them) on `sock` to `dst`.
    pub fn advert(&mut self, sock: &Arc<VrrpSocket>, dst: IpAddr, bytes: Vec<u8>) -> Result<()> {
        let (addr, addr_len) = sockaddr(dst, sock.is_ipv6(), sock.ifindex())?;
        self.adverts.push(Advert {
            fd: sock.raw_fd(),
            addr,
            addr_len,
            bytes,
        });
        if !self.sockets.iter().any(|s| Arc::ptr_eq(s, sock)) {
            self.sockets.push(Arc::clone(sock));
        }
        Ok(())
    }

    /// Deletes `addr/prefix_len` from interface `ifindex` (RTM_DELADDR).
    pub fn delete_address(&mut self, ifindex: u32, addr: IpAddr, prefix_len: u8) {
        self.deletions
            .push(deladdr_message(ifindex, addr, prefix_len));
    }
}

/// The RTM_DELADDR request for one address, without an ACK request: a
/// dying process reads no answer.
pub fn deladdr_message(ifindex: u32, addr: IpAddr, prefix_len: u8) -> Vec<u8> {
    let (family, raw): (u8, Vec<u8>) = match addr {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
    };
    let attr_len = 4 + raw.len();
    let total = 16 + 8 + attr_len.next_multiple_of(4);
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&RTM_DELADDR.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel assigns it
    m.extend_from_slice(&[family, prefix_len, 0, 0]);
    m.extend_from_slice(&ifindex.to_ne_bytes());
    m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    m.extend_from_slice(&IFA_LOCAL.to_ne_bytes());
    m.extend_from_slice(&raw);
    m.resize(total, 0);
    m
}

fn sockaddr(dst: IpAddr, v6: bool, ifindex: u32) -> Result<(libc::sockaddr_storage, u32)> {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match (dst, v6) {
        (IpAddr::V4(a), false) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned
            // for sockaddr_in; the write stays inside `ss`.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(ss).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        (IpAddr::V6(a), true) => {
            let link_scoped = a.is_multicast() || (a.segments()[0] & 0xffc0) == 0xfe80;
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                sin6_scope_id: if link_scoped { ifindex } else { 0 },
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned
            // for sockaddr_in6; the write stays inside `ss`.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(ss).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
        _ => {
            return Err(LinuxError::Invalid(format!(
                "destination {dst} does not match the socket family"
            )));
        }
    };
    Ok((ss, len as libc::socklen_t))
}

/// Opens the netlink socket the address deletions go out on (in the network
/// namespace of the calling thread) and installs the handler of
/// [`FATAL_SIGNALS`]. Idempotent.
pub fn install() -> Result<()> {
    if NETLINK_FD.load(Ordering::Acquire) < 0 {
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(LinuxError::io(
                "emergency netlink socket",
                std::io::Error::last_os_error(),
            ));
        }
        if NETLINK_FD
            .compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `fd` was opened above and is owned by nobody else.
            unsafe { libc::close(fd) };
        }
    }
    for sig in FATAL_SIGNALS {
        // SAFETY: sigaction is plain old data; all zeroes is a valid value.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_fatal_signal as *const () as libc::sighandler_t;
        // SA_ONSTACK: a stack overflow is a SIGSEGV too, and Rust gives every
        // thread an alternate signal stack. SA_RESETHAND: the re-raise dies.
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESETHAND;
        // SAFETY: `sa.sa_mask` is a valid sigset_t to initialise.
        unsafe { libc::sigfillset(&mut sa.sa_mask) };
        // SAFETY: `sa` is fully initialised and the handler only performs
        // async-signal-safe calls (see `on_fatal_signal`).
        if unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) } != 0 {
            return Err(LinuxError::io("sigaction", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Replaces the published plan.
pub fn publish(plan: HandOver) {
    let new = Box::into_raw(Box::new(plan));
    let old = PLAN.swap(new, Ordering::SeqCst);
    if old.is_null() {
        return;
    }
    if READERS.load(Ordering::SeqCst) == 0 {
        // SAFETY: `old` came from Box::into_raw in an earlier publish and is
        // no longer reachable through PLAN; no reader announced itself
        // before the swap, and a later reader loads the new pointer.
        drop(unsafe { Box::from_raw(old) });
    }
    // Otherwise a reader may hold it: leaked, the process is dying.
}

/// Whether [`fire`] ran: the runtime then sends no more ordinary adverts,
/// which would undo the hand-over at the peer.
pub fn fired() -> bool {
    FIRED.load(Ordering::SeqCst)
}

/// Sends the published plan: adverts first, then address deletions.
/// Async-signal-safe: no locks, no allocation, only `sendto`/`send`. Runs
/// once per process; returns the number of packets the kernel took.
pub fn fire() -> usize {
    if FIRED.swap(true, Ordering::SeqCst) {
        return 0;
    }
    READERS.fetch_add(1, Ordering::SeqCst);
    let ptr = PLAN.load(Ordering::SeqCst);
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: non-null pointers in PLAN come from Box::into_raw and are
    // freed only while READERS is 0; it is not 0 from here on.
    let plan = unsafe { &*ptr };
    let mut sent = 0;
    for a in &plan.adverts {
        // SAFETY: the buffer and address are valid for the given lengths,
        // and `plan.sockets` keeps `a.fd` open.
        let r = unsafe {
            libc::sendto(
                a.fd,
                a.bytes.as_ptr().cast(),
                a.bytes.len(),
                libc::MSG_DONTWAIT,
                std::ptr::addr_of!(a.addr).cast(),
                a.addr_len,
            )
        };
        if r >= 0 {
            sent += 1;
        }
    }
    let nl = NETLINK_FD.load(Ordering::SeqCst);
    if nl >= 0 {
        for m in &plan.deletions {
            // SAFETY: `m` is a valid buffer; a netlink socket takes a
            // request without a destination address (the kernel).
            if unsafe { libc::send(nl, m.as_ptr().cast(), m.len(), 0) } >= 0 {
                sent += 1;
            }
        }
    }
    sent
}

/// Ends the process at once with `code`, without running destructors or
/// atexit handlers (another thread may hold any lock).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) is always safe to call and does not return.
    unsafe { libc::_exit(code) }
}

extern "C" fn on_fatal_signal(
    sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    fire();
    // SAFETY: signal(2) and raise(3) are async-signal-safe. SA_RESETHAND
    // already restored the default action; setting it again covers a
    // handler entered through another path. The raised signal is blocked
    // until this handler returns and then kills the process (a fault
    // re-executes the faulting instruction and dies the same way).
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deladdr_message_is_one_aligned_request() {
        let m = deladdr_message(7, "192.0.2.111".parse().unwrap(), 32);
        assert_eq!(m.len(), 16 + 8 + 8);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 32);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), RTM_DELADDR);
        assert_eq!(m[16], libc::AF_INET as u8);
        assert_eq!(m[17], 32);
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 7);
        assert_eq!(&m[28..32], &[192, 0, 2, 111]);
        let m6 = deladdr_message(7, "2001:db8::1".parse().unwrap(), 128);
        assert_eq!(m6.len(), 16 + 8 + 20);
    }
}
