//! `ipvsadm -ln`-style listing of a table, so that scripts and people used
//! to IPVS can read keel's state the same way.

use crate::table::{Persistence, ServiceKey, SockAddrText, Table};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

/// The banner ipvsadm prints for the IPVS version every current kernel has.
pub const VERSION_LINE: &str = "IP Virtual Server version 1.2.1 (size=4096)";

/// Lists `table` like `ipvsadm -ln` does (connection counters are shown as
/// 0). Services and destinations come in key order.
pub fn format_ipvsadm(table: &Table) -> String {
    let table = table.normalized();
    let mut out = String::new();
    out.push_str(VERSION_LINE);
    out.push('\n');
    out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
    out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    for svc in &table.services {
        let mut line = match svc.key {
            ServiceKey::Addr { ip, proto, port } => {
                format!(
                    "{:<4} {} {}",
                    proto.as_str(),
                    SockAddrText(ip, port),
                    svc.scheduler
                )
            }
            ServiceKey::Fwmark { mark, .. } => format!("FWM  {mark} {}", svc.scheduler),
        };
        let flags = svc.scheduler.flags_text();
        if !flags.is_empty() {
            let _ = write!(line, " ({flags})");
        }
        if let Some(p) = svc.persistence {
            let _ = write!(line, " persistent {}", p.timeout);
            if let Some(mask) = persistence_mask(&svc.key, p) {
                let _ = write!(line, " mask {mask}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        for d in &svc.destinations {
            let addr = SockAddrText(d.addr, d.port).to_string();
            let line = format!(
                "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
                addr,
                d.method.ipvsadm_name(),
                d.weight,
                0,
                0
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// ipvsadm shows a v4 persistence mask only when it is not /32, as a dotted
/// mask; a v6 one as a prefix length when not /128.
fn persistence_mask(key: &ServiceKey, p: Persistence) -> Option<String> {
    let len = p.netmask?;
    match key.family() {
        crate::table::Family::Inet => {
            if len >= 32 {
                return None;
            }
            let bits = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            Some(IpAddr::V4(Ipv4Addr::from(bits)).to_string())
        }
        crate::table::Family::Inet6 => (len < 128).then(|| len.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Destination, Method, Protocol, Scheduler, VirtualService};

    #[test]
    fn lists_like_ipvsadm() {
        let mut svc = VirtualService::new(
            ServiceKey::Addr {
                ip: IpAddr::from([192, 0, 2, 144]),
                proto: Protocol::Tcp,
                port: 80,
            },
            Scheduler::Rr,
        );
        for o in [12u8, 11] {
            svc.destinations.push(Destination {
                addr: IpAddr::from([192, 0, 2, o]),
                port: 80,
                weight: 1,
                method: Method::Dr,
                upper_threshold: 0,
                lower_threshold: 0,
            });
        }
        let mut fwm = VirtualService::new(
            ServiceKey::Fwmark {
                mark: 7,
                family: crate::table::Family::Inet,
            },
            Scheduler::Sh {
                fallback: true,
                port: true,
            },
        );
        fwm.persistence = Some(Persistence {
            timeout: 360,
            netmask: Some(24),
        });
        fwm.destinations.push(Destination {
            addr: "2001:db8::5".parse().unwrap(),
            port: 8080,
            weight: 100,
            method: Method::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        });
        let text = format_ipvsadm(&Table {
            services: vec![svc, fwm],
        });
        assert_eq!(
            text,
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  192.0.2.144:80 rr\n\
             \x20 -> 192.0.2.11:80                Route   1      0          0\n\
             \x20 -> 192.0.2.12:80                Route   1      0          0\n\
             FWM  7 sh (sh-fallback,sh-port) persistent 360 mask 255.255.255.0\n\
             \x20 -> [2001:db8::5]:8080           Masq    100    0          0\n"
        );
    }
}
