//! `ipvsadm -ln`-style listing of a table, so that scripts and people used
//! to IPVS can read keel's state the same way.

use crate::table::{Family, Persistence, Protocol, ServiceKey, SockAddrText, Table};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

/// The banner ipvsadm prints for the IPVS version every current kernel has.
pub const VERSION_LINE: &str = "IP Virtual Server version 1.2.1 (size=4096)";

/// Lists `table` like `ipvsadm -ln` does (connection counters are shown as
/// 0). Services come in ipvsadm's order ([`ipvsadm_order`]), destinations
/// by address then port.
pub fn format_ipvsadm(table: &Table) -> String {
    let table = in_ipvsadm_order(table);
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
            ServiceKey::Fwmark {
                mark,
                family: Family::Inet,
            } => format!("FWM  {mark} {}", svc.scheduler),
            ServiceKey::Fwmark {
                mark,
                family: Family::Inet6,
            } => format!("FWM  {mark} IPv6 {}", svc.scheduler),
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

/// `table` normalised ([`Table::normalized`]) with its services in the
/// order [`format_ipvsadm`] lists them: code that walks the listing's lines
/// alongside the table's services must walk this table.
pub fn in_ipvsadm_order(table: &Table) -> Table {
    let mut table = table.normalized();
    table.services.sort_by_key(|s| ipvsadm_order(&s.key));
    table
}

/// The sort key `ipvsadm -ln` lists services by: firewall mark (0 for
/// address services, so they come first), then address family (the kernel's
/// AF_INET 2 before AF_INET6 10), then IP protocol number (TCP 6, UDP 17,
/// SCTP 132), then address, then port.
///
/// ipvsadm compares marks and addresses by subtracting them as 32-bit
/// words, which misorders values more than 2^31 apart; this key compares
/// them as numbers, which is what that comparison means for every table
/// whose marks and addresses are not that far apart.
pub fn ipvsadm_order(key: &ServiceKey) -> (u32, u8, u8, u128, u16) {
    let af = |family: Family| match family {
        Family::Inet => 2,
        Family::Inet6 => 10,
    };
    match *key {
        ServiceKey::Addr { ip, proto, port } => {
            let proto = match proto {
                Protocol::Tcp => 6,
                Protocol::Udp => 17,
                Protocol::Sctp => 132,
            };
            let addr = match ip {
                IpAddr::V4(a) => u128::from(u32::from(a)),
                IpAddr::V6(a) => u128::from(a),
            };
            (0, af(key.family()), proto, addr, port)
        }
        ServiceKey::Fwmark { mark, family } => (mark, af(family), 0, 0, 0),
    }
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

    fn header_lines(text: &str) -> Vec<&str> {
        text.lines()
            .skip(3)
            .filter(|l| !l.starts_with("  ->"))
            .collect()
    }

    #[test]
    fn services_in_ipvsadm_order_mark_family_protocol_address_port() {
        let addr = |ip: &str, proto, port| {
            VirtualService::new(
                ServiceKey::Addr {
                    ip: ip.parse().unwrap(),
                    proto,
                    port,
                },
                Scheduler::Rr,
            )
        };
        let fwm =
            |mark, family| VirtualService::new(ServiceKey::Fwmark { mark, family }, Scheduler::Rr);
        let table = Table {
            services: vec![
                fwm(9, Family::Inet6),
                addr("2001:db8::1", Protocol::Tcp, 80),
                addr("192.0.2.1", Protocol::Sctp, 3868),
                fwm(9, Family::Inet),
                addr("192.0.2.2", Protocol::Tcp, 80),
                addr("192.0.2.1", Protocol::Udp, 53),
                fwm(3, Family::Inet6),
                addr("192.0.2.2", Protocol::Tcp, 22),
                addr("192.0.2.10", Protocol::Tcp, 80),
            ],
        };
        assert_eq!(
            header_lines(&format_ipvsadm(&table)),
            vec![
                "TCP  192.0.2.2:22 rr",
                "TCP  192.0.2.2:80 rr",
                "TCP  192.0.2.10:80 rr",
                "UDP  192.0.2.1:53 rr",
                "SCTP 192.0.2.1:3868 rr",
                "TCP  [2001:db8::1]:80 rr",
                "FWM  3 IPv6 rr",
                "FWM  9 rr",
                "FWM  9 IPv6 rr",
            ]
        );
        // Callers pairing the listing with services walk this order.
        let ordered = in_ipvsadm_order(&table);
        assert_eq!(
            ordered
                .services
                .first()
                .map(|s| s.key.to_string())
                .as_deref(),
            Some("TCP 192.0.2.2:22")
        );
        assert_eq!(
            ordered
                .services
                .last()
                .map(|s| s.key.to_string())
                .as_deref(),
            Some("FWM 9 IPv6")
        );
    }

    #[test]
    fn ipv6_fwmark_flags_and_persistence_masks() {
        let mut fwm6 = VirtualService::new(
            ServiceKey::Fwmark {
                mark: 9,
                family: Family::Inet6,
            },
            Scheduler::Mh {
                fallback: true,
                port: true,
            },
        );
        fwm6.persistence = Some(Persistence {
            timeout: 360,
            netmask: Some(64),
        });
        let mut v6 = VirtualService::new(
            ServiceKey::Addr {
                ip: "2001:db8::1".parse().unwrap(),
                proto: Protocol::Tcp,
                port: 80,
            },
            Scheduler::Wrr,
        );
        // A /128 granularity is the whole address: no mask shown.
        v6.persistence = Some(Persistence {
            timeout: 50,
            netmask: Some(128),
        });
        let mut v4 = VirtualService::new(
            ServiceKey::Addr {
                ip: IpAddr::from([192, 0, 2, 5]),
                proto: Protocol::Udp,
                port: 53,
            },
            Scheduler::Sh {
                fallback: false,
                port: true,
            },
        );
        v4.persistence = Some(Persistence {
            timeout: 360,
            netmask: Some(32),
        });
        v4.destinations.push(Destination {
            addr: IpAddr::from([198, 51, 100, 7]),
            port: 53,
            weight: 0,
            method: Method::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        });
        let text = format_ipvsadm(&Table {
            services: vec![fwm6, v6, v4],
        });
        assert_eq!(
            text.lines().skip(3).collect::<Vec<_>>(),
            vec![
                "UDP  192.0.2.5:53 sh (sh-port) persistent 360",
                "  -> 198.51.100.7:53              Masq    0      0          0",
                "TCP  [2001:db8::1]:80 wrr persistent 50",
                "FWM  9 IPv6 mh (mh-fallback,mh-port) persistent 360 mask 64",
            ]
        );
    }
}
