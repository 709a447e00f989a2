//! A virtual server's data-plane settings as typed values: forwarding
//! method, scheduler, persistence granularity; and keepalived's checks of
//! them once the block is read (its `-t` exits 5 on each of these, while
//! the daemon carries on with the default it names).

use super::super::Stmt;
use crate::diag::Diagnostics;
use crate::model::*;
use std::net::Ipv4Addr;

/// `NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
/// keepalived matches the method name case-sensitively: `dr` and the old
/// `PNAT` are refused.
pub(super) fn lvs_method(st: &Stmt, d: &mut Diagnostics) -> Option<Method> {
    let m = st.arg(0)?;
    let method = match m {
        "NAT" => Method::Nat,
        "DR" => Method::Dr,
        "TUN" => tunnel(st, d)?,
        _ => {
            st.error(
                d,
                format!("unknown [{m}] routing method: expected NAT, DR or TUN"),
            );
            return None;
        }
    };
    if !matches!(method, Method::Tun { .. }) && st.args.len() > 1 {
        st.error(d, "extra words after the forwarding method");
    }
    Some(method)
}

fn tunnel(st: &Stmt, d: &mut Diagnostics) -> Option<Method> {
    let mut kind = "ipip";
    let mut port = None;
    let mut csum = TunnelCsum::Nocsum;
    let mut i = 1;
    while let Some(w) = st.arg(i) {
        match w {
            "type" => {
                match st.arg(i + 1) {
                    Some(t @ ("ipip" | "gue" | "gre")) => kind = t,
                    _ => {
                        st.error(d, "tunnel type must be ipip, gue or gre");
                        return None;
                    }
                }
                i += 2;
            }
            "port" => {
                port = st.uint(i + 1, 1, 65535, d);
                i += 2;
            }
            "nocsum" | "csum" | "remcsum" => {
                csum = match w {
                    "csum" => TunnelCsum::Csum,
                    "remcsum" => TunnelCsum::Remcsum,
                    _ => TunnelCsum::Nocsum,
                };
                i += 1;
            }
            o => {
                st.error(d, format!("unknown tunnel option '{o}'"));
                return None;
            }
        }
    }
    let kind = match (kind, port) {
        ("gue", Some(port)) => TunnelKind::Gue { port },
        ("gue", None) => {
            st.error(d, "a gue tunnel needs 'port N'");
            return None;
        }
        (_, Some(_)) => {
            st.error(d, "'port' is only valid for gue tunnels");
            return None;
        }
        ("gre", None) => TunnelKind::Gre,
        _ => TunnelKind::Ipip,
    };
    Some(Method::Tun { kind, csum })
}

/// `lvs_sched NAME`: one of the schedulers keepalived knows.
pub(super) fn scheduler(st: &Stmt, d: &mut Diagnostics) -> Option<Scheduler> {
    let name = st.arg(0)?;
    let sched = Scheduler::from_name(name);
    if sched.is_none() {
        st.error(
            d,
            format!(
                "invalid lvs_scheduler '{name}': expected one of {}",
                Scheduler::NAMES.join(", ")
            ),
        );
    }
    sched
}

/// `persistence_granularity MASK|LEN` as a prefix length.
pub(super) fn granularity(st: &Stmt, d: &mut Diagnostics) -> Option<u8> {
    let g = st.arg(0)?;
    match Persistence::granularity_prefix(g) {
        Some(len) => Some(len),
        // keepalived hands such a mask to the kernel as it is; keel's data
        // planes group clients by prefix only.
        None if g.parse::<Ipv4Addr>().is_ok() => {
            st.warn(
                d,
                format!("netmask '{g}' is not contiguous; clients are grouped by whole address"),
            );
            None
        }
        None => {
            st.error(
                d,
                format!(
                    "invalid persistence_granularity '{g}': expected a netmask or prefix length"
                ),
            );
            None
        }
    }
}

/// keepalived's name of an address service or server:
/// `[192.0.2.144]:tcp:80`.
fn name(addr: std::net::IpAddr, proto: Option<Protocol>, port: u16) -> String {
    let p = proto.map_or("none", Protocol::keepalived_name);
    format!("[{addr}]:{p}:{port}")
}

/// The checks keepalived makes once a virtual server block is read:
/// scheduler, forwarding method, protocol and port 0 (each an error that
/// `-t` counts, with the default it falls back to applied).
pub(super) fn finish_vs(
    block: &Stmt,
    vs: &mut VirtualServer,
    (sched, method): (Option<Scheduler>, Option<Method>),
    d: &mut Diagnostics,
) {
    let label = match &vs.address {
        VsAddress::Ip { address, port } => name(*address, vs.protocol, *port),
        VsAddress::Fwmark { mark } => format!("FWM {mark}"),
        VsAddress::Group { name } => format!("[{name}]"),
    };
    vs.lvs_sched = sched.unwrap_or_else(|| {
        block.error(
            d,
            format!("virtual server {label}: no scheduler set, setting default 'wlc'"),
        );
        Scheduler::Wlc
    });
    vs.lvs_method = method.unwrap_or_else(|| {
        block.error(
            d,
            format!("virtual server {label}: no forwarding method set, setting default NAT"),
        );
        Method::Nat
    });
    match (&vs.address, vs.protocol) {
        (VsAddress::Fwmark { .. }, Some(_)) => {
            block.warn(d, "protocol is ignored for a fwmark virtual server");
            vs.protocol = None;
        }
        (VsAddress::Ip { .. }, None) => {
            block.error(
                d,
                format!("virtual server {label}: no protocol set - defaulting to UDP"),
            );
            vs.protocol = Some(Protocol::Udp);
        }
        _ => {}
    }
    if let VsAddress::Ip { port: 0, .. } = vs.address
        && vs.persistence_timeout.is_none()
    {
        block.error(
            d,
            "port 0 is only valid for persistent services; setting persistence_timeout 360",
        );
        vs.persistence_timeout = Some(360);
    }
    if let Some(len) = vs.persistence_granularity
        && len > 32
        && !vs.is_ipv6()
    {
        block.warn(
            d,
            format!("persistence_granularity /{len} is longer than an IPv4 address; ignored"),
        );
        vs.persistence_granularity = None;
    }
}

/// keepalived's port rule for servers reached without NAT (DR, TUN): the
/// packet keeps the service's port, so a different real or sorry server
/// port is an error and is reset; a fwmark service has no port to keep.
/// Returns the port to use.
pub(super) fn server_port(
    block: &Stmt,
    vs: &VirtualServer,
    what: &str,
    (addr, port, method): (std::net::IpAddr, Option<u16>, Option<Method>),
    d: &mut Diagnostics,
) -> Option<u16> {
    let method = method.unwrap_or(vs.lvs_method);
    let Some(p) = port.filter(|&p| p != 0) else {
        return port;
    };
    if method == Method::Nat {
        return port;
    }
    match &vs.address {
        VsAddress::Fwmark { mark } => {
            block.error(
                d,
                format!(
                    "fwmark virtual server FWM {mark}, {what} {} has port specified - clearing",
                    name(addr, None, p)
                ),
            );
            None
        }
        VsAddress::Ip { address, port: vp } if *vp != p => {
            block.error(
                d,
                format!(
                    "virtual server {} and {what} {} ports don't match - resetting",
                    name(*address, vs.protocol, *vp),
                    name(addr, vs.protocol, p)
                ),
            );
            None
        }
        _ => port,
    }
}
