//! The IPVS generic-netlink client: one netlink socket, one request at a
//! time, every kernel answer checked.

use crate::error::{DecodeError, IpvsError};
use crate::msg::{self, Dest, IPVS_GENL_NAME, IPVS_GENL_VERSION, Info, Service, cmd, cmd_attr};
use crate::nl::{self, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, Request};
use keel_lvs::ServiceKey;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};
use std::io;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// `MSG_PEEK` and `MSG_TRUNC` from `<sys/socket.h>` (Linux values): a peek
/// with MSG_TRUNC returns the datagram's real length, so the buffer can be
/// sized before the real read and no reply is ever cut short.
const MSG_PEEK: i32 = 0x2;
const MSG_TRUNC: i32 = 0x20;

const ENOENT: i32 = 2;
const ESRCH: i32 = 3;

/// A connection to the kernel's IPVS over generic netlink.
///
/// Methods take `&self`: requests are serialised on an internal lock, so one
/// client can be shared between threads.
#[derive(Debug)]
pub struct Ipvs {
    sock: Mutex<Socket>,
    family: u16,
    seq: AtomicU32,
}

impl Ipvs {
    /// Opens a generic-netlink socket and resolves the `IPVS` family through
    /// nlctrl. [`IpvsError::NotAvailable`] when the kernel has no IPVS (nlctrl
    /// answers ENOENT; asking it also makes the kernel try to load `ip_vs`).
    pub fn open() -> Result<Ipvs, IpvsError> {
        let mut sock = Socket::new(NETLINK_GENERIC).map_err(IpvsError::Socket)?;
        sock.bind_auto().map_err(IpvsError::Socket)?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(IpvsError::Socket)?;
        // Both are conveniences (error text, shorter error replies) that old
        // kernels lack; failing to set them changes nothing else.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        let mut client = Ipvs {
            sock: Mutex::new(sock),
            family: nl::GENL_ID_CTRL,
            seq: AtomicU32::new(1),
        };
        let seq = client.next_seq();
        let req = nl::getfamily_request(seq, IPVS_GENL_NAME);
        let replies = match client.transact("resolve the IPVS family", &req, seq) {
            Ok(r) => r,
            Err(IpvsError::Kernel { errno: ENOENT, .. }) => return Err(IpvsError::NotAvailable),
            Err(e) => return Err(e),
        };
        let body = replies.first().ok_or(IpvsError::Decode {
            op: "resolve the IPVS family",
            source: DecodeError::Unexpected("nlctrl sent no family".to_string()),
        })?;
        let attrs = nl::genl_body(body).map_err(|source| IpvsError::Decode {
            op: "resolve the IPVS family",
            source,
        })?;
        client.family = nl::family_id(attrs.attrs).map_err(|source| IpvsError::Decode {
            op: "resolve the IPVS family",
            source,
        })?;
        Ok(client)
    }

    /// The generic-netlink family id the kernel gave IPVS.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// IPVS version and connection-table size (`IPVS_CMD_GET_INFO`).
    pub fn info(&self) -> Result<Info, IpvsError> {
        const OP: &str = "get IPVS info";
        let replies = self.request(OP, cmd::GET_INFO, false, |_| Ok(()))?;
        let body = replies.first().ok_or(IpvsError::Decode {
            op: OP,
            source: DecodeError::Unexpected("no info reply".to_string()),
        })?;
        let g = genl(OP, body)?;
        msg::decode_info(g).map_err(|source| IpvsError::Decode { op: OP, source })
    }

    /// Every virtual service (`IPVS_CMD_GET_SERVICE`, dumped).
    pub fn services(&self) -> Result<Vec<Service>, IpvsError> {
        const OP: &str = "list services";
        let replies = self.request(OP, cmd::GET_SERVICE, true, |_| Ok(()))?;
        let mut out = Vec::with_capacity(replies.len());
        for body in &replies {
            out.push(service_from_reply(OP, body)?);
        }
        Ok(out)
    }

    /// One service, `None` when the kernel has no such service.
    pub fn service(&self, key: &ServiceKey) -> Result<Option<Service>, IpvsError> {
        const OP: &str = "get service";
        let r = self.request(OP, cmd::GET_SERVICE, false, |r| {
            msg::encode_service_id(r, key);
            Ok(())
        });
        match r {
            Ok(replies) => match replies.first() {
                Some(body) => Ok(Some(service_from_reply(OP, body)?)),
                None => Ok(None),
            },
            Err(e) if matches!(e.errno(), Some(ESRCH)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The destinations of a service (`IPVS_CMD_GET_DEST`, dumped).
    pub fn dests(&self, key: &ServiceKey) -> Result<Vec<Dest>, IpvsError> {
        const OP: &str = "list destinations";
        let replies = self.request(OP, cmd::GET_DEST, true, |r| {
            msg::encode_service_id(r, key);
            Ok(())
        })?;
        let mut out = Vec::with_capacity(replies.len());
        for body in &replies {
            let g = genl(OP, body)?;
            let nest = msg::find_attr(g, cmd_attr::DEST)
                .map_err(|source| IpvsError::Decode { op: OP, source })?
                .ok_or(IpvsError::Decode {
                    op: OP,
                    source: DecodeError::Missing {
                        what: "IPVS_CMD_ATTR_DEST",
                    },
                })?;
            out.push(
                msg::decode_dest(nest.payload, key.family())
                    .map_err(|source| IpvsError::Decode { op: OP, source })?,
            );
        }
        Ok(out)
    }

    /// Adds a service (`IPVS_CMD_NEW_SERVICE`). A scheduler the kernel
    /// cannot load gives [`IpvsError::SchedulerUnavailable`].
    pub fn add_service(&self, svc: &Service) -> Result<(), IpvsError> {
        self.write_service("add service", cmd::NEW_SERVICE, svc)
    }

    /// Changes a service's scheduler, flags, persistence or engine
    /// (`IPVS_CMD_SET_SERVICE`).
    pub fn edit_service(&self, svc: &Service) -> Result<(), IpvsError> {
        self.write_service("edit service", cmd::SET_SERVICE, svc)
    }

    fn write_service(&self, op: &'static str, command: u8, svc: &Service) -> Result<(), IpvsError> {
        match self.request(op, command, false, |r| msg::encode_service(r, svc)) {
            Ok(_) => Ok(()),
            // The kernel answers ENOENT when request_module finds no
            // ip_vs_<sched> (or ip_vs_pe_<name>) module.
            Err(IpvsError::Kernel { errno: ENOENT, .. }) => match &svc.pe_name {
                None => Err(IpvsError::SchedulerUnavailable(svc.sched_name.clone())),
                Some(pe) => Err(IpvsError::Kernel {
                    op,
                    errno: ENOENT,
                    message: Some(format!(
                        "scheduler {:?} or persistence engine {pe:?} is not available",
                        svc.sched_name
                    )),
                }),
            },
            Err(e) => Err(e),
        }
    }

    /// Removes a service and its destinations (`IPVS_CMD_DEL_SERVICE`).
    pub fn del_service(&self, key: &ServiceKey) -> Result<(), IpvsError> {
        self.request("delete service", cmd::DEL_SERVICE, false, |r| {
            msg::encode_service_id(r, key);
            Ok(())
        })
        .map(drop)
    }

    /// Adds a destination to a service (`IPVS_CMD_NEW_DEST`).
    pub fn add_dest(&self, key: &ServiceKey, dest: &Dest) -> Result<(), IpvsError> {
        self.request("add destination", cmd::NEW_DEST, false, |r| {
            msg::encode_service_id(r, key);
            msg::encode_dest(r, dest)
        })
        .map(drop)
    }

    /// Changes a destination's method, weight, thresholds or tunnel
    /// (`IPVS_CMD_SET_DEST`).
    pub fn edit_dest(&self, key: &ServiceKey, dest: &Dest) -> Result<(), IpvsError> {
        self.request("edit destination", cmd::SET_DEST, false, |r| {
            msg::encode_service_id(r, key);
            msg::encode_dest(r, dest)
        })
        .map(drop)
    }

    /// Removes a destination (`IPVS_CMD_DEL_DEST`).
    pub fn del_dest(&self, key: &ServiceKey, addr: IpAddr, port: u16) -> Result<(), IpvsError> {
        self.request("delete destination", cmd::DEL_DEST, false, |r| {
            msg::encode_service_id(r, key);
            msg::encode_dest_id(r, addr, port);
            Ok(())
        })
        .map(drop)
    }

    /// Removes every service (`IPVS_CMD_FLUSH`).
    pub fn flush(&self) -> Result<(), IpvsError> {
        self.request("flush", cmd::FLUSH, false, |_| Ok(()))
            .map(drop)
    }

    /// Zeroes the counters of one service, or of everything
    /// (`IPVS_CMD_ZERO`).
    pub fn zero(&self, key: Option<&ServiceKey>) -> Result<(), IpvsError> {
        self.request("zero counters", cmd::ZERO, false, |r| {
            if let Some(k) = key {
                msg::encode_service_id(r, k);
            }
            Ok(())
        })
        .map(drop)
    }

    fn next_seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Builds an IPVS request with `fill`, sends it, and returns the
    /// generic-netlink payloads of the replies.
    fn request(
        &self,
        op: &'static str,
        command: u8,
        dump: bool,
        fill: impl FnOnce(&mut Request) -> Result<(), IpvsError>,
    ) -> Result<Vec<Vec<u8>>, IpvsError> {
        let seq = self.next_seq();
        let flags = if dump {
            NLM_F_REQUEST | NLM_F_DUMP
        } else {
            NLM_F_REQUEST | NLM_F_ACK
        };
        let mut r = Request::new(self.family, flags, seq, command, IPVS_GENL_VERSION);
        fill(&mut r)?;
        self.transact(op, &r.finish(), seq)
    }

    /// Sends one request and collects the payloads of its data replies,
    /// until the ack (plain requests carry NLM_F_ACK) or `NLMSG_DONE`
    /// (dumps).
    fn transact(&self, op: &'static str, req: &[u8], seq: u32) -> Result<Vec<Vec<u8>>, IpvsError> {
        // A poisoned lock only means another thread panicked mid-request;
        // the socket itself is still usable, and replies to that request are
        // skipped below by their sequence number.
        let sock = self.sock.lock().unwrap_or_else(|p| p.into_inner());
        send_all(&sock, req)?;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            recv_datagram(&sock, &mut buf)?;
            for m in nl::messages(&buf) {
                let m = m.map_err(|source| IpvsError::Decode { op, source })?;
                if m.seq != seq {
                    continue;
                }
                match m.ty {
                    NLMSG_ERROR => {
                        let e =
                            nl::error_msg(&m).map_err(|source| IpvsError::Decode { op, source })?;
                        if e.error == 0 {
                            return Ok(out);
                        }
                        return Err(IpvsError::Kernel {
                            op,
                            errno: e.error.saturating_neg(),
                            message: e.ext_msg,
                        });
                    }
                    NLMSG_DONE => {
                        // A dump's final status: 0, or the error that cut it
                        // short.
                        let status = m
                            .payload
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(0);
                        if status < 0 {
                            return Err(IpvsError::Kernel {
                                op,
                                errno: status.saturating_neg(),
                                message: None,
                            });
                        }
                        return Ok(out);
                    }
                    nl::NLMSG_NOOP => {}
                    nl::NLMSG_OVERRUN => {
                        return Err(IpvsError::Decode {
                            op,
                            source: DecodeError::Unexpected("netlink overrun".to_string()),
                        });
                    }
                    _ => out.push(m.payload.to_vec()),
                }
            }
        }
    }
}

fn genl<'a>(op: &'static str, body: &'a [u8]) -> Result<&'a [u8], IpvsError> {
    nl::genl_body(body)
        .map(|g| g.attrs)
        .map_err(|source| IpvsError::Decode { op, source })
}

fn service_from_reply(op: &'static str, body: &[u8]) -> Result<Service, IpvsError> {
    let g = genl(op, body)?;
    let nest = msg::find_attr(g, cmd_attr::SERVICE)
        .map_err(|source| IpvsError::Decode { op, source })?
        .ok_or(IpvsError::Decode {
            op,
            source: DecodeError::Missing {
                what: "IPVS_CMD_ATTR_SERVICE",
            },
        })?;
    msg::decode_service(nest.payload).map_err(|source| IpvsError::Decode { op, source })
}

fn send_all(sock: &Socket, req: &[u8]) -> Result<(), IpvsError> {
    loop {
        match sock.send(req, 0) {
            Ok(n) if n == req.len() => return Ok(()),
            Ok(n) => {
                return Err(IpvsError::Socket(io::Error::other(format!(
                    "short netlink send: {n} of {} bytes",
                    req.len()
                ))));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(IpvsError::Socket(e)),
        }
    }
}

/// Reads one whole datagram into `buf` (replacing its contents).
fn recv_datagram(sock: &Socket, buf: &mut Vec<u8>) -> Result<(), IpvsError> {
    loop {
        let mut probe: Vec<u8> = Vec::with_capacity(16);
        let size = match sock.recv(&mut probe, MSG_PEEK | MSG_TRUNC) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(IpvsError::Socket(e)),
        };
        buf.clear();
        buf.reserve(size.max(16));
        match sock.recv(buf, 0) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(IpvsError::Socket(e)),
        }
    }
}
