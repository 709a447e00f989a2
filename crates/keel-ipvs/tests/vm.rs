//! IPVS programmed in a real kernel and read back, compared with what
//! Debian's `ipvsadm -ln` prints for the same kernel state.
//!
//! This binary has its own harness (`harness = false`, `keel_lab::vm`). On a kernel with
//! IPVS (inside `scripts/ipvs-vm.sh`, which sets `KEEL_IPVS_VM=1`, or on a
//! host that has IPVS) it runs every test, each on its own thread in a fresh
//! network namespace, hence with its own empty IPVS table. On a kernel
//! without IPVS it first checks that `IpvsBackend::open()` reports exactly
//! that, then runs itself once inside the VM (`scripts/ipvs-vm.sh run --
//! <this binary> <args>`) and exits with the VM run's status: the tests
//! never pass without having run against IPVS.
//!
//! Output follows libtest's (`test NAME ... ok`, `test result: ...`), and the
//! usual `FILTER`, `--exact`, `--list` and `--ignored` arguments work.

use keel_ipvs::{Dest, Forward, Ipvs, IpvsBackend, IpvsError, Service, ServiceFlags, TunnelType};
use keel_lvs::{
    Backend, BackendError, Change, DestKey, Destination, Family, Method, Persistence, Protocol,
    Scheduler, ServiceKey, Table, TunnelCsum, TunnelKind, Unsupported, VirtualService, diff,
    format_ipvsadm,
};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Command, ExitCode};
use std::time::Duration;

// ---------------------------------------------------------------- helpers

fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp(ip: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        ip: v4(ip),
        proto: Protocol::Tcp,
        port,
    }
}

fn dest(ip: &str, port: u16, weight: u32, method: Method) -> Destination {
    Destination {
        addr: v4(ip),
        port,
        weight,
        method,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

fn service(key: ServiceKey, sched: Scheduler, dests: Vec<Destination>) -> VirtualService {
    let mut s = VirtualService::new(key, sched);
    s.destinations = dests;
    s
}

fn backend() -> IpvsBackend {
    IpvsBackend::open().expect("IPVS in the test kernel")
}

/// `ipvsadm ARGS` in the calling thread's network namespace (a child
/// process inherits the namespace of the thread that forks it).
fn ipvsadm(args: &[&str]) -> String {
    let out = Command::new("ipvsadm")
        .args(args)
        .output()
        .expect("run ipvsadm");
    assert!(
        out.status.success(),
        "ipvsadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ipvsadm pads destination lines with trailing spaces; keel-lvs's listing
/// trims them. Everything else must match byte for byte.
fn trim_lines(s: &str) -> String {
    s.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}

/// Syncs `want`, then checks the kernel's table three ways: the backend
/// reads back exactly `want`, a second sync finds nothing to do, and
/// keel-lvs's `format_ipvsadm` of what the backend read equals `ipvsadm -ln`.
fn sync_and_verify(b: &mut IpvsBackend, want: &Table) -> Vec<Change> {
    let changes = b.sync(want).unwrap_or_else(|e| panic!("sync: {e}"));
    let got = b.read().unwrap();
    assert_eq!(got, want.normalized());
    assert_eq!(diff(&got, want), vec![]);
    assert!(
        b.sync(want).unwrap().is_empty(),
        "second sync changed things"
    );
    assert_eq!(format_ipvsadm(&got), trim_lines(&ipvsadm(&["-ln"])));
    changes
}

// ---------------------------------------------------------------- tests

fn open_resolves_family_and_reports_info() {
    let ipvs = Ipvs::open().unwrap();
    // Dynamic generic-netlink ids start after GENL_ID_CTRL (0x10).
    assert!(ipvs.family_id() > 0x10, "family id {}", ipvs.family_id());
    let info = ipvs.info().unwrap();
    assert_eq!(info.version_string(), "1.2.1");
    let banner = ipvsadm(&["-ln"]);
    let first = banner.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "IP Virtual Server version {} (size={})",
            info.version_string(),
            info.conn_tab_size
        )
    );
    assert!(ipvs.services().unwrap().is_empty());
}

fn every_scheduler_programs_and_reads_back() {
    let mut b = backend();
    let available = keel_ipvs::available_schedulers();
    let mut table = Table::new();
    let mut port = 1000;
    for name in Scheduler::NAMES {
        if !available.contains(&name) {
            continue;
        }
        let base = Scheduler::from_name(name).unwrap();
        let flag_sets: &[(bool, bool)] = match base {
            Scheduler::Sh { .. } | Scheduler::Mh { .. } => {
                &[(false, false), (true, false), (false, true), (true, true)]
            }
            _ => &[(false, false)],
        };
        for &(f1, f2) in flag_sets {
            port += 1;
            table.services.push(service(
                tcp("192.0.2.1", port),
                base.with_flags(f1, f2),
                vec![
                    dest("198.51.100.1", 80, 1, Method::Dr),
                    dest("198.51.100.2", 80, 3, Method::Dr),
                ],
            ));
        }
    }
    // rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf are in every kernel
    // since 5.x; mh/sh add three flag variants each.
    assert!(table.services.len() >= 13 + 6, "{}", table.services.len());
    sync_and_verify(&mut b, &table);
    // The kernel's own names and flag bits, not just our model of them.
    let raw = b.client().services().unwrap();
    let mh = raw
        .iter()
        .find(|s| s.sched_name == "mh" && s.flags.contains(ServiceFlags::SCHED1))
        .expect("an mh service with flag-1");
    assert!(mh.flags.contains(ServiceFlags::HASHED));
}

fn scheduler_missing_from_kernel_is_a_typed_error() {
    let mut b = backend();
    let available = keel_ipvs::available_schedulers();
    for name in Scheduler::NAMES {
        let k = tcp("192.0.2.1", 80);
        let r = b.client().add_service(&Service::new(k, name));
        if available.contains(&name) {
            r.unwrap_or_else(|e| panic!("{name}: {e}"));
            b.client().del_service(&k).unwrap();
        } else {
            // twos exists from Linux 6.2 on; the VM's 6.1 lacks it.
            match r {
                Err(IpvsError::SchedulerUnavailable(n)) => assert_eq!(n, name),
                other => panic!("{name}: {other:?}"),
            }
            let t = Table {
                services: vec![service(k, Scheduler::from_name(name).unwrap(), vec![])],
            };
            match b.sync(&t) {
                Err(BackendError::Unsupported(Unsupported::Scheduler { scheduler, .. })) => {
                    assert_eq!(scheduler, name)
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }
    assert!(b.read().unwrap().services.is_empty());
}

fn forwarding_methods_nat_dr_and_tunnels() {
    let mut b = backend();
    let tun = |kind, csum| Method::Tun { kind, csum };
    let table = Table {
        services: vec![service(
            tcp("192.0.2.10", 80),
            Scheduler::Wrr,
            vec![
                dest("198.51.100.1", 8080, 1, Method::Nat),
                dest("198.51.100.2", 80, 2, Method::Dr),
                dest(
                    "198.51.100.3",
                    80,
                    3,
                    tun(TunnelKind::Ipip, TunnelCsum::Nocsum),
                ),
                dest(
                    "198.51.100.4",
                    80,
                    4,
                    tun(TunnelKind::Gue { port: 6080 }, TunnelCsum::Remcsum),
                ),
                dest(
                    "198.51.100.5",
                    80,
                    5,
                    tun(TunnelKind::Gre, TunnelCsum::Csum),
                ),
                dest(
                    "198.51.100.6",
                    80,
                    6,
                    tun(TunnelKind::Gue { port: 5555 }, TunnelCsum::Csum),
                ),
            ],
        )],
    };
    sync_and_verify(&mut b, &table);
    let raw = b.client().dests(&tcp("192.0.2.10", 80)).unwrap();
    let by = |last: u8| {
        raw.iter()
            .find(|d| d.addr == IpAddr::from([198, 51, 100, last]))
            .unwrap()
    };
    assert_eq!(by(1).fwd, Forward::Masq);
    assert_eq!(by(2).fwd, Forward::Route);
    assert_eq!(
        (by(4).fwd, by(4).tun_type, by(4).tun_port, by(4).tun_flags),
        (Forward::Tunnel, TunnelType::Gue, 6080, 2)
    );
    assert_eq!((by(5).tun_type, by(5).tun_flags), (TunnelType::Gre, 1));
    // ipvsadm's own view of the tunnel parameters.
    let text = ipvsadm(&["-ln", "--tun-info"]);
    assert!(
        text.lines()
            .any(|l| l.contains("198.51.100.4:80") && l.contains("gue") && l.contains("6080")),
        "{text}"
    );
}

fn persistence_timeout_and_netmask() {
    let mut b = backend();
    let mut a = service(
        tcp("192.0.2.20", 443),
        Scheduler::Wlc,
        vec![dest("198.51.100.1", 443, 1, Method::Nat)],
    );
    a.persistence = Some(Persistence {
        timeout: 360,
        netmask: Some(24),
    });
    let mut all_ports = service(
        tcp("192.0.2.21", 0),
        Scheduler::Rr,
        vec![dest("198.51.100.2", 0, 1, Method::Dr)],
    );
    all_ports.persistence = Some(Persistence {
        timeout: 50,
        netmask: None,
    });
    let table = Table {
        services: vec![a, all_ports],
    };
    sync_and_verify(&mut b, &table);
    let raw = b
        .client()
        .service(&tcp("192.0.2.20", 443))
        .unwrap()
        .unwrap();
    assert!(raw.flags.contains(ServiceFlags::PERSISTENT));
    assert_eq!((raw.timeout, raw.netmask), (360, 0xffff_ff00));
    let text = ipvsadm(&["-ln"]);
    assert!(
        text.contains("TCP  192.0.2.20:443 wlc persistent 360 mask 255.255.255.0"),
        "{text}"
    );
}

fn fwmark_services() {
    let mut b = backend();
    let mut m = service(
        ServiceKey::Fwmark {
            mark: 7,
            family: Family::Inet,
        },
        Scheduler::Sh {
            fallback: true,
            port: false,
        },
        vec![
            dest("198.51.100.1", 0, 1, Method::Dr),
            dest("198.51.100.2", 0, 1, Method::Dr),
        ],
    );
    m.persistence = Some(Persistence {
        timeout: 600,
        netmask: Some(16),
    });
    let m2 = service(
        ServiceKey::Fwmark {
            mark: 4242,
            family: Family::Inet,
        },
        Scheduler::Lc,
        vec![dest("198.51.100.3", 8080, 2, Method::Nat)],
    );
    let table = Table {
        services: vec![m, m2],
    };
    sync_and_verify(&mut b, &table);
    let raw = b.client().services().unwrap();
    assert!(raw.iter().any(|s| s.key
        == ServiceKey::Fwmark {
            mark: 7,
            family: Family::Inet
        }));
}

fn ipv6_services() {
    let mut b = backend();
    let k = ServiceKey::Addr {
        ip: v4("2001:db8::1"),
        proto: Protocol::Tcp,
        port: 80,
    };
    let mut s = service(
        k,
        Scheduler::Mh {
            fallback: false,
            port: true,
        },
        vec![
            dest("2001:db8::10", 80, 1, Method::Nat),
            dest("2001:db8::11", 8080, 2, Method::Dr),
        ],
    );
    s.persistence = Some(Persistence {
        timeout: 120,
        netmask: Some(64),
    });
    let udp = service(
        ServiceKey::Addr {
            ip: v4("2001:db8::2"),
            proto: Protocol::Udp,
            port: 53,
        },
        Scheduler::Rr,
        vec![dest("2001:db8::20", 53, 1, Method::Nat)],
    );
    let table = Table {
        services: vec![s, udp],
    };
    sync_and_verify(&mut b, &table);
    let raw = b.client().service(&k).unwrap().unwrap();
    assert_eq!(raw.netmask, 64);
    let dests = b.client().dests(&k).unwrap();
    assert!(dests.iter().all(|d| d.addr.is_ipv6()));
}

fn ipv6_fwmark_service() {
    let mut b = backend();
    let k = ServiceKey::Fwmark {
        mark: 9,
        family: Family::Inet6,
    };
    let table = Table {
        services: vec![service(
            k,
            Scheduler::Wrr,
            vec![dest("2001:db8::30", 0, 5, Method::Dr)],
        )],
    };
    sync_and_verify(&mut b, &table);
    let raw = b.client().services().unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].key, k);
    let text = ipvsadm(&["-ln"]);
    assert!(text.contains("FWM  9 IPv6 wrr"), "{text}");
}

/// Services whose key order differs from ipvsadm's (mark, family,
/// protocol, address, port) list identically, and persistence masks that
/// cover the whole address (/32, /128), which the kernel reports as no
/// mask, settle after one sync.
fn listing_order_and_full_length_masks() {
    let mut b = backend();
    let addr = |ip: &str, proto, port| ServiceKey::Addr {
        ip: v4(ip),
        proto,
        port,
    };
    let whole = |len| {
        Some(Persistence {
            timeout: 300,
            netmask: Some(len),
        })
    };
    let mut v4_full = service(
        addr("192.0.2.71", Protocol::Tcp, 443),
        Scheduler::Rr,
        vec![dest("198.51.100.1", 443, 1, Method::Nat)],
    );
    v4_full.persistence = whole(32);
    let mut v6_full = service(
        addr("2001:db8::70", Protocol::Tcp, 80),
        Scheduler::Wrr,
        vec![dest("2001:db8::71", 80, 1, Method::Nat)],
    );
    v6_full.persistence = whole(128);
    let mut fwm6 = service(
        ServiceKey::Fwmark {
            mark: 5,
            family: Family::Inet6,
        },
        Scheduler::Sh {
            fallback: true,
            port: true,
        },
        vec![dest("2001:db8::72", 0, 1, Method::Dr)],
    );
    fwm6.persistence = whole(128);
    let table = Table {
        services: vec![
            fwm6,
            service(
                ServiceKey::Fwmark {
                    mark: 5,
                    family: Family::Inet,
                },
                Scheduler::Rr,
                vec![dest("198.51.100.2", 0, 1, Method::Dr)],
            ),
            service(
                ServiceKey::Fwmark {
                    mark: 2,
                    family: Family::Inet6,
                },
                Scheduler::Rr,
                vec![],
            ),
            v6_full,
            service(
                addr("192.0.2.70", Protocol::Sctp, 3868),
                Scheduler::Rr,
                vec![],
            ),
            service(addr("192.0.2.70", Protocol::Udp, 53), Scheduler::Rr, vec![]),
            v4_full,
            service(addr("192.0.2.72", Protocol::Tcp, 22), Scheduler::Rr, vec![]),
            service(addr("192.0.2.72", Protocol::Tcp, 8), Scheduler::Rr, vec![]),
        ],
    };
    sync_and_verify(&mut b, &table);
    let listing = ipvsadm(&["-ln"]);
    let services: Vec<&str> = listing
        .lines()
        .skip(3)
        .filter(|l| !l.starts_with("  ->"))
        .map(str::trim_end)
        .collect();
    assert_eq!(
        services,
        vec![
            "TCP  192.0.2.71:443 rr persistent 300",
            "TCP  192.0.2.72:8 rr",
            "TCP  192.0.2.72:22 rr",
            "UDP  192.0.2.70:53 rr",
            "SCTP 192.0.2.70:3868 rr",
            "TCP  [2001:db8::70]:80 wrr persistent 300",
            "FWM  2 IPv6 rr",
            "FWM  5 rr",
            "FWM  5 IPv6 sh (sh-fallback,sh-port) persistent 300",
        ],
        "{listing}"
    );
}

fn udp_and_sctp_services() {
    let mut b = backend();
    let table = Table {
        services: vec![
            service(
                ServiceKey::Addr {
                    ip: v4("192.0.2.30"),
                    proto: Protocol::Udp,
                    port: 53,
                },
                Scheduler::Rr,
                vec![dest("198.51.100.1", 53, 1, Method::Nat)],
            ),
            service(
                ServiceKey::Addr {
                    ip: v4("192.0.2.31"),
                    proto: Protocol::Sctp,
                    port: 3868,
                },
                Scheduler::Sed,
                vec![dest("198.51.100.2", 3868, 1, Method::Dr)],
            ),
        ],
    };
    sync_and_verify(&mut b, &table);
}

fn weights_and_thresholds() {
    let mut b = backend();
    let k = tcp("192.0.2.40", 80);
    let mut d1 = dest("198.51.100.1", 80, 0, Method::Dr);
    d1.upper_threshold = 1000;
    d1.lower_threshold = 100;
    let d2 = dest("198.51.100.2", 80, 100, Method::Dr);
    let d3 = dest("198.51.100.3", 80, i32::MAX as u32, Method::Dr);
    let table = Table {
        services: vec![service(k, Scheduler::Wlc, vec![d1, d2, d3])],
    };
    sync_and_verify(&mut b, &table);
    let raw = b.client().dests(&k).unwrap();
    let d = raw.iter().find(|d| d.addr == v4("198.51.100.1")).unwrap();
    assert_eq!((d.weight, d.u_threshold, d.l_threshold), (0, 1000, 100));
    let text = ipvsadm(&["-ln", "--thresholds"]);
    assert!(
        text.lines()
            .any(|l| l.contains("198.51.100.1:80") && l.contains("1000") && l.contains("100")),
        "{text}"
    );
    // Beyond the kernel's int: refused before anything is sent.
    let mut too_big = table.clone();
    too_big.services[0].destinations[1].weight = u32::MAX;
    assert!(b.sync(&too_big).is_err());
    assert_eq!(b.read().unwrap(), table.normalized());
}

fn edit_and_delete() {
    let mut b = backend();
    let k1 = tcp("192.0.2.50", 80);
    let k2 = tcp("192.0.2.51", 80);
    let before = Table {
        services: vec![
            service(
                k1,
                Scheduler::Rr,
                vec![
                    dest("198.51.100.1", 80, 1, Method::Dr),
                    dest("198.51.100.2", 80, 1, Method::Dr),
                    dest("198.51.100.3", 80, 1, Method::Dr),
                ],
            ),
            service(
                k2,
                Scheduler::Rr,
                vec![dest("198.51.100.9", 80, 1, Method::Nat)],
            ),
        ],
    };
    sync_and_verify(&mut b, &before);

    let mut after = before.clone();
    after.services.remove(1);
    let s = &mut after.services[0];
    s.scheduler = Scheduler::Sh {
        fallback: true,
        port: true,
    };
    s.persistence = Some(Persistence {
        timeout: 30,
        netmask: Some(28),
    });
    s.destinations[0].weight = 0;
    s.destinations[1].method = Method::Nat;
    s.destinations[1].upper_threshold = 7;
    s.destinations.remove(2);
    s.destinations.push(dest("198.51.100.4", 80, 9, Method::Dr));
    let changes = sync_and_verify(&mut b, &after);
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| match c {
            Change::AddService(_) => "add-svc",
            Change::EditService(_) => "edit-svc",
            Change::DelService(_) => "del-svc",
            Change::AddDest(..) => "add-dest",
            Change::EditDest(..) => "edit-dest",
            Change::DelDest(..) => "del-dest",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "edit-svc",
            "edit-dest",
            "edit-dest",
            "del-dest",
            "add-dest",
            "del-svc"
        ]
    );

    // Persistence off again, service kept.
    let mut plain = after.clone();
    plain.services[0].persistence = None;
    sync_and_verify(&mut b, &plain);
    let raw = b.client().service(&k1).unwrap().unwrap();
    assert!(!raw.flags.contains(ServiceFlags::PERSISTENT));

    b.clear().unwrap();
    assert_eq!(b.read().unwrap(), Table::new());
    assert_eq!(
        format_ipvsadm(&Table::new()),
        trim_lines(&ipvsadm(&["-ln"]))
    );
}

fn changes_made_behind_our_back_converge() {
    let mut b = backend();
    let k = tcp("192.0.2.60", 80);
    let want = Table {
        services: vec![service(
            k,
            Scheduler::Wrr,
            vec![
                dest("198.51.100.1", 80, 1, Method::Dr),
                dest("198.51.100.2", 80, 2, Method::Dr),
            ],
        )],
    };
    sync_and_verify(&mut b, &want);
    ipvsadm(&["-d", "-t", "192.0.2.60:80", "-r", "198.51.100.1:80"]);
    ipvsadm(&[
        "-e",
        "-t",
        "192.0.2.60:80",
        "-r",
        "198.51.100.2:80",
        "-g",
        "-w",
        "7",
    ]);
    ipvsadm(&["-A", "-t", "192.0.2.61:80", "-s", "lc"]);
    ipvsadm(&["-a", "-t", "192.0.2.61:80", "-r", "198.51.100.5:80", "-m"]);
    let changes = sync_and_verify(&mut b, &want);
    assert_eq!(changes.len(), 3, "{changes:?}");

    // Changes computed from a stale view still converge: an add of what
    // exists becomes an edit, a delete of what is gone is a no-op.
    let stale = vec![
        Change::AddDest(k, dest("198.51.100.2", 80, 4, Method::Dr)),
        Change::DelDest(
            k,
            DestKey {
                addr: v4("198.51.100.77"),
                port: 80,
            },
        ),
        Change::DelService(tcp("192.0.2.99", 80)),
    ];
    b.apply_changes(&stale).unwrap();
    let got = b.read().unwrap();
    assert_eq!(got.services[0].destinations[1].weight, 4);
}

fn mixed_families_only_through_tunnels() {
    let mut b = backend();
    let k = ServiceKey::Addr {
        ip: v4("2001:db8::50"),
        proto: Protocol::Tcp,
        port: 80,
    };
    let ok = Table {
        services: vec![service(
            k,
            Scheduler::Rr,
            vec![
                dest(
                    "198.51.100.1",
                    80,
                    1,
                    Method::Tun {
                        kind: TunnelKind::Ipip,
                        csum: TunnelCsum::Nocsum,
                    },
                ),
                dest("2001:db8::51", 80, 1, Method::Dr),
            ],
        )],
    };
    b.sync(&ok).unwrap();
    assert_eq!(b.read().unwrap(), ok.normalized());
    let raw = b.client().dests(&k).unwrap();
    assert!(raw.iter().any(|d| d.addr == v4("198.51.100.1")));

    let mut bad = ok.clone();
    bad.services[0].destinations[0].method = Method::Nat;
    match b.sync(&bad) {
        Err(BackendError::Unsupported(Unsupported::MixedFamilies { dest, .. })) => {
            assert_eq!(dest, v4("198.51.100.1"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(b.read().unwrap(), ok.normalized());
}

fn kernel_refusals_are_typed() {
    let b = backend();
    let c = b.client();
    let k = tcp("192.0.2.70", 80);
    c.add_service(&Service::new(k, "rr")).unwrap();
    let e = c.add_service(&Service::new(k, "rr")).unwrap_err();
    assert_eq!(e.errno(), Some(17), "{e}"); // EEXIST
    assert!(matches!(e, IpvsError::Kernel { .. }));
    let missing = tcp("192.0.2.71", 80);
    assert_eq!(c.del_service(&missing).unwrap_err().errno(), Some(3)); // ESRCH
    assert_eq!(c.service(&missing).unwrap(), None);
    let d = Dest::new(v4("198.51.100.1"), 80);
    c.add_dest(&k, &d).unwrap();
    assert_eq!(c.add_dest(&k, &d).unwrap_err().errno(), Some(17));
    assert_eq!(
        c.del_dest(&k, v4("198.51.100.2"), 80).unwrap_err().errno(),
        Some(2) // ENOENT
    );
    // GUE without a port is refused by the kernel.
    let mut gue = Dest::new(v4("198.51.100.3"), 80);
    gue.fwd = Forward::Tunnel;
    gue.tun_type = TunnelType::Gue;
    assert!(matches!(
        c.add_dest(&k, &gue),
        Err(IpvsError::Kernel { errno: 22, .. })
    ));
    // A name the kernel's policy (NLA_NUL_STRING, 15 chars) would refuse is
    // refused before sending.
    assert!(matches!(
        c.add_service(&Service::new(
            tcp("192.0.2.72", 80),
            "a-very-long-scheduler"
        )),
        Err(IpvsError::Invalid { .. })
    ));
    c.flush().unwrap();
    assert!(c.services().unwrap().is_empty());
}

fn one_packet_flag_and_persistence_engine_round_trip() {
    let b = backend();
    let c = b.client();
    let k = ServiceKey::Addr {
        ip: v4("192.0.2.80"),
        proto: Protocol::Udp,
        port: 5060,
    };
    let mut s = Service::new(k, "rr");
    s.flags.set(ServiceFlags::ONEPACKET, true);
    s.flags.set(ServiceFlags::PERSISTENT, true);
    s.timeout = 90;
    s.pe_name = Some("sip".to_string());
    c.add_service(&s).unwrap();
    let got = c.service(&k).unwrap().unwrap();
    assert!(got.flags.contains(ServiceFlags::ONEPACKET));
    assert_eq!(got.pe_name.as_deref(), Some("sip"));
    assert_eq!(got.timeout, 90);
    let text = ipvsadm(&["-ln"]);
    assert!(
        text.contains("UDP  192.0.2.80:5060 rr persistent 90 pe sip ops"),
        "{text}"
    );
    s.flags.set(ServiceFlags::ONEPACKET, false);
    s.pe_name = None;
    c.edit_service(&s).unwrap();
    let got = c.service(&k).unwrap().unwrap();
    assert!(!got.flags.contains(ServiceFlags::ONEPACKET));
    assert_eq!(got.pe_name, None);
}

/// A local connection attempt to the virtual address is scheduled by IPVS
/// (LOCAL_OUT hook) and shows in the destination's connection counters.
fn connection_counters_read_back() {
    let mut b = backend();
    ip(&["link", "add", "vip0", "type", "dummy"]);
    ip(&["addr", "add", "192.0.2.90/24", "dev", "vip0"]);
    ip(&["link", "set", "vip0", "up"]);
    let k = tcp("192.0.2.90", 80);
    let table = Table {
        services: vec![service(
            k,
            Scheduler::Rr,
            vec![dest("192.0.2.91", 80, 1, Method::Nat)],
        )],
    };
    b.sync(&table).unwrap();
    let before = b.client().dests(&k).unwrap();
    assert_eq!((before[0].active_conns, before[0].inact_conns), (0, 0));
    // No real server answers; the SYN alone creates the IPVS connection.
    let _ = TcpStream::connect_timeout(
        &SocketAddr::new(v4("192.0.2.90"), 80),
        Duration::from_millis(300),
    );
    let after = b.client().dests(&k).unwrap();
    assert_eq!(
        after[0].active_conns + after[0].inact_conns,
        1,
        "{:?}",
        after[0]
    );
    let text = ipvsadm(&["-ln"]);
    let line = text.lines().find(|l| l.contains("192.0.2.91:80")).unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (cols[4], cols[5]),
        (
            after[0].active_conns.to_string().as_str(),
            after[0].inact_conns.to_string().as_str()
        )
    );
}

// ---------------------------------------------------------------- harness

/// On a kernel without IPVS, `IpvsBackend::open()` reports exactly that
/// (the daemon's cue to fall back to nftables).
fn host_without_ipvs_reports_not_available() {
    match IpvsBackend::open() {
        Err(IpvsError::NotAvailable) => {}
        Ok(_) => {
            panic!("IpvsBackend::open() on a kernel without IPVS: want NotAvailable, got a backend")
        }
        Err(e) => {
            panic!("IpvsBackend::open() on a kernel without IPVS: want NotAvailable, got {e}")
        }
    }
}

/// Runs on each test's own thread: the network namespace it enters (and so
/// its IPVS table) is that test's alone.
fn fresh_netns() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    // IPVS refuses IPv4 real servers whose address type it cannot classify,
    // and a namespace has no local routing table until an address (here
    // lo's) exists.
    ip(&["link", "set", "lo", "up"]);
}

const SUITE: keel_lab::vm::Suite = keel_lab::vm::Suite {
    tests: &[
        (
            "open_resolves_family_and_reports_info",
            open_resolves_family_and_reports_info,
        ),
        (
            "every_scheduler_programs_and_reads_back",
            every_scheduler_programs_and_reads_back,
        ),
        (
            "scheduler_missing_from_kernel_is_a_typed_error",
            scheduler_missing_from_kernel_is_a_typed_error,
        ),
        (
            "forwarding_methods_nat_dr_and_tunnels",
            forwarding_methods_nat_dr_and_tunnels,
        ),
        (
            "persistence_timeout_and_netmask",
            persistence_timeout_and_netmask,
        ),
        ("fwmark_services", fwmark_services),
        ("ipv6_services", ipv6_services),
        ("ipv6_fwmark_service", ipv6_fwmark_service),
        (
            "listing_order_and_full_length_masks",
            listing_order_and_full_length_masks,
        ),
        ("udp_and_sctp_services", udp_and_sctp_services),
        ("weights_and_thresholds", weights_and_thresholds),
        ("edit_and_delete", edit_and_delete),
        (
            "changes_made_behind_our_back_converge",
            changes_made_behind_our_back_converge,
        ),
        (
            "mixed_families_only_through_tunnels",
            mixed_families_only_through_tunnels,
        ),
        ("kernel_refusals_are_typed", kernel_refusals_are_typed),
        (
            "one_packet_flag_and_persistence_engine_round_trip",
            one_packet_flag_and_persistence_engine_round_trip,
        ),
        (
            "connection_counters_read_back",
            connection_counters_read_back,
        ),
    ],
    host_test: (
        "host_without_ipvs_reports_not_available",
        host_without_ipvs_reports_not_available,
    ),
    // One at a time: the kernel dumps IPVS services by position in a hash
    // table shared by every namespace, so services added in another test's
    // namespace during a dump shift the positions and `ipvsadm -ln` can list
    // a service twice (seen in CI), which would fail the listing comparisons.
    workers: 1,
    vm_timeout_secs: 300,
    prepare: fresh_netns,
};

fn main() -> ExitCode {
    keel_lab::vm::main(&SUITE, || IpvsBackend::open().is_ok())
}
