//! Tables covering every scheduler and forwarding method, shared by the
//! golden-file tests and the kernel round-trip tests.

use keel_lvs::{
    Destination, Family, Method, Persistence, Protocol, Scheduler, ServiceKey, Table,
    VirtualService,
};
use keel_nft::{Masquerade, Options};
use std::net::IpAddr;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn tcp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        ip: ip(addr),
        proto: Protocol::Tcp,
        port,
    }
}

pub fn udp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        ip: ip(addr),
        proto: Protocol::Udp,
        port,
    }
}

pub fn dest(addr: &str, port: u16, weight: u32, method: Method) -> Destination {
    Destination {
        addr: ip(addr),
        port,
        weight,
        method,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

pub fn service(key: ServiceKey, sched: Scheduler, dests: Vec<Destination>) -> VirtualService {
    let mut s = VirtualService::new(key, sched);
    s.destinations = dests;
    s
}

pub fn table(services: Vec<VirtualService>) -> Table {
    Table { services }
}

/// Small slot tables keep the golden files readable.
pub fn small_opts() -> Options {
    Options {
        slots: 31,
        ..Options::default()
    }
}

pub fn dr_opts(dev: &str) -> Options {
    Options {
        dr_default_device: Some(dev.to_string()),
        ..small_opts()
    }
}

fn two(method: Method, w1: u32, w2: u32) -> Vec<Destination> {
    vec![
        dest("192.0.2.11", 80, w1, method),
        dest("192.0.2.12", 80, w2, method),
    ]
}

/// `(name, table, options)` for each golden file; DR cases use device
/// `eth0`.
pub fn cases() -> Vec<(&'static str, Table, Options)> {
    let vip = || tcp("203.0.113.10", 80);
    let mut v = Vec::new();
    v.push(("empty", Table::new(), Options::default()));
    v.push((
        "nat_rr",
        table(vec![service(vip(), Scheduler::Rr, two(Method::Nat, 1, 1))]),
        small_opts(),
    ));
    let mut wrr = two(Method::Nat, 3, 1);
    wrr.push(dest("192.0.2.13", 80, 0, Method::Nat));
    v.push((
        "nat_wrr_quiescent",
        table(vec![service(vip(), Scheduler::Wrr, wrr)]),
        small_opts(),
    ));
    v.push((
        "nat_sh",
        table(vec![service(
            vip(),
            Scheduler::Sh {
                fallback: true,
                port: false,
            },
            two(Method::Nat, 1, 1),
        )]),
        small_opts(),
    ));
    v.push((
        "nat_dh",
        table(vec![service(vip(), Scheduler::Dh, two(Method::Nat, 2, 1))]),
        small_opts(),
    ));
    v.push((
        "nat_mh_port_default_slots",
        table(vec![service(
            vip(),
            Scheduler::Mh {
                fallback: false,
                port: true,
            },
            two(Method::Nat, 1, 1),
        )]),
        Options::default(),
    ));
    let mut persist = service(vip(), Scheduler::Rr, two(Method::Nat, 1, 1));
    persist.persistence = Some(Persistence {
        timeout: 360,
        netmask: Some(24),
    });
    v.push((
        "nat_persistence_masquerade",
        table(vec![persist]),
        Options {
            masquerade: Masquerade::Only([ip("192.0.2.12")].into_iter().collect()),
            ..small_opts()
        },
    ));
    v.push((
        "nat_fwmark",
        table(vec![
            service(
                ServiceKey::Fwmark {
                    mark: 7,
                    family: Family::Inet,
                },
                Scheduler::Rr,
                vec![
                    dest("192.0.2.11", 0, 1, Method::Nat),
                    dest("192.0.2.12", 8080, 1, Method::Nat),
                ],
            ),
            service(
                ServiceKey::Fwmark {
                    mark: 8,
                    family: Family::Inet6,
                },
                Scheduler::Wrr,
                vec![dest("2001:db8::11", 0, 1, Method::Nat)],
            ),
        ]),
        small_opts(),
    ));
    let mut v6 = service(
        ServiceKey::Addr {
            ip: ip("2001:db8::10"),
            proto: Protocol::Udp,
            port: 0,
        },
        Scheduler::Wrr,
        vec![
            dest("2001:db8::11", 0, 2, Method::Nat),
            dest("2001:db8::12", 0, 1, Method::Nat),
        ],
    );
    v6.persistence = Some(Persistence {
        timeout: 60,
        netmask: Some(64),
    });
    v.push((
        "nat_ipv6_udp_all_ports",
        table(vec![v6]),
        Options {
            masquerade: Masquerade::All,
            ..small_opts()
        },
    ));
    let mut sorry = two(Method::Nat, 0, 0);
    sorry.push(dest("127.0.0.1", 8080, 1, Method::Nat));
    v.push((
        "nat_sorry_local",
        table(vec![
            service(vip(), Scheduler::Wrr, sorry),
            service(tcp("203.0.113.10", 443), Scheduler::Rr, vec![]),
        ]),
        small_opts(),
    ));
    v.push((
        "dr_rr",
        table(vec![service(vip(), Scheduler::Rr, two(Method::Dr, 1, 1))]),
        dr_opts("eth0"),
    ));
    // Flow sets for every server, the quiescent one included; the SYN
    // rotation only for TCP.
    v.push((
        "dr_wrr_quiescent_udp_ipv6",
        table(vec![
            service(vip(), Scheduler::Wrr, {
                let mut d = two(Method::Dr, 3, 1);
                d.push(dest("192.0.2.13", 80, 0, Method::Dr));
                d
            }),
            service(
                udp("203.0.113.10", 53),
                Scheduler::Rr,
                vec![
                    dest("192.0.2.11", 53, 1, Method::Dr),
                    dest("192.0.2.12", 53, 1, Method::Dr),
                ],
            ),
            service(
                tcp("2001:db8::10", 80),
                Scheduler::Rr,
                vec![
                    dest("2001:db8::11", 80, 1, Method::Dr),
                    dest("2001:db8::12", 80, 1, Method::Dr),
                ],
            ),
        ]),
        dr_opts("eth0"),
    ));
    let mut dr_p = service(
        vip(),
        Scheduler::Sh {
            fallback: false,
            port: false,
        },
        vec![
            dest("192.0.2.11", 80, 1, Method::Dr),
            dest("192.0.2.12", 80, 0, Method::Dr),
            dest("127.0.0.1", 80, 0, Method::Dr),
        ],
    );
    dr_p.persistence = Some(Persistence {
        timeout: 360,
        netmask: Some(24),
    });
    let mut dr_coarse = service(
        tcp("203.0.113.10", 443),
        Scheduler::Rr,
        vec![
            dest("192.0.2.11", 443, 1, Method::Dr),
            dest("192.0.2.12", 443, 1, Method::Dr),
        ],
    );
    dr_coarse.persistence = Some(Persistence {
        timeout: 60,
        netmask: Some(4),
    });
    v.push((
        "dr_sh_persistence_and_nat",
        table(vec![
            dr_p,
            dr_coarse,
            service(
                tcp("203.0.113.10", 8080),
                Scheduler::Rr,
                two(Method::Nat, 1, 1),
            ),
        ]),
        dr_opts("eth0"),
    ));
    v
}
