//! The load balancer's pure parts: configuration to data-plane table,
//! start-time validation, nftables options and the `keel lvs` listing.

use keel_daemon::lvs::{
    CheckResult, CheckState, LvsError, LvsState, RsState, SorryState, VsState, format_status,
    full_table, nft_options,
};
use keel_lvs::{Method, Protocol, Scheduler, ServiceKey, Table, TunnelCsum, TunnelKind};
use std::net::IpAddr;

fn config(text: &str) -> keel_config::Config {
    let (cfg, diags) = keel_config::from_str(text, "/etc/keepalived/test.conf").unwrap();
    assert!(!diags.has_errors(), "{:?}", diags.items);
    cfg
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const S3: &str = "
vrrp_instance VI_1 {
    interface eth1
    virtual_router_id 22
    priority 100
    virtual_ipaddress {
        192.0.2.144/32 dev eth0
        192.0.2.145/32
    }
}
virtual_server 192.0.2.144 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    sorry_server 127.0.0.1 80
    real_server 192.0.2.11 80 {
        weight 1
        TCP_CHECK { connect_timeout 1 }
    }
    real_server 192.0.2.12 80 {
        weight 3
        inhibit_on_failure
        TCP_CHECK { connect_timeout 1 }
    }
}
";

fn vs_key() -> ServiceKey {
    ServiceKey::Addr {
        ip: ip("192.0.2.144"),
        proto: Protocol::Tcp,
        port: 80,
    }
}

#[test]
fn full_table_holds_every_real_server_and_the_sorry_server() {
    let t = full_table(&config(S3)).unwrap();
    assert_eq!(t.services.len(), 1);
    let svc = &t.services[0];
    assert_eq!(svc.key, vs_key());
    assert_eq!(svc.scheduler, Scheduler::Rr);
    let dests: Vec<(IpAddr, u32, Method)> = svc
        .destinations
        .iter()
        .map(|d| (d.addr, d.weight, d.method))
        .collect();
    // The sorry server is there inhibited (weight 0) so that its method is
    // validated too.
    assert_eq!(
        dests,
        vec![
            (ip("127.0.0.1"), 0, Method::Dr),
            (ip("192.0.2.11"), 1, Method::Dr),
            (ip("192.0.2.12"), 3, Method::Dr),
        ]
    );
}

#[test]
fn unsupported_scheduler_is_refused_with_validates_message() {
    let cfg = config(&S3.replace("lb_algo rr", "lb_algo wlc"));
    let t = full_table(&cfg).unwrap();
    let err = keel_lvs::validate(&t, &keel_nft::capabilities()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "virtual server TCP 192.0.2.144:80: lvs_sched wlc is not available on the nftables data plane; use rr, wrr, sh, dh or mh"
    );
    assert!(keel_lvs::validate(&t, &keel_lvs::Capabilities::ipvs()).is_ok());
}

#[test]
fn scheduler_flags_persistence_and_tunnels_carry_over() {
    let cfg = config(
        "
virtual_server 192.0.2.144 443 {
    lvs_sched sh
    sh-fallback
    sh-port
    lvs_method TUN type gue port 6080 csum
    protocol TCP
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    real_server 192.0.2.11 443 {
        TCP_CHECK { connect_timeout 1 }
    }
}
virtual_server 2001:db8::144 443 {
    lb_kind NAT
    lvs_sched rr
    protocol TCP
    persistence_timeout
    persistence_granularity 64
    real_server 2001:db8::11 443 {
        TCP_CHECK { connect_timeout 1 }
    }
}
",
    );
    let t = full_table(&cfg).unwrap();
    let v4 = &t.services[0];
    assert_eq!(
        v4.scheduler,
        Scheduler::Sh {
            fallback: true,
            port: true
        }
    );
    let p = v4.persistence.unwrap();
    assert_eq!((p.timeout, p.netmask), (600, Some(24)));
    assert_eq!(
        v4.destinations[0].method,
        Method::Tun {
            kind: TunnelKind::Gue { port: 6080 },
            csum: TunnelCsum::Csum
        }
    );
    let v6 = &t.services[1];
    let p = v6.persistence.unwrap();
    assert_eq!((p.timeout, p.netmask), (360, Some(64)));
    // NAT is keepalived's default method.
    assert_eq!(v6.destinations[0].method, Method::Nat);
}

#[test]
fn the_desired_table_leaves_failed_servers_out_unless_inhibited() {
    let cfg = config(S3);
    let mut set = keel_check::CheckerSet::from_config(&cfg, &keel_check::Host::default()).unwrap();
    set.start(keel_check::Timestamp::ZERO, |_, _| {
        std::time::Duration::ZERO
    });
    let fail = keel_check::ProbeResult::fail("connection refused");
    let due = set.take_due(keel_check::Timestamp::ZERO);
    for rs in 0..2 {
        let id = keel_check::CheckerId {
            vs: 0,
            rs,
            checker: 0,
        };
        assert!(due.contains(&id));
        set.on_result(id, &fail, keel_check::Timestamp::ZERO);
    }
    let t = set.desired_table();
    let dests: Vec<(IpAddr, u32)> = t.services[0]
        .destinations
        .iter()
        .map(|d| (d.addr, d.weight))
        .collect();
    // .11 removed, .12 inhibited to weight 0, the sorry server in.
    assert_eq!(
        dests,
        vec![(ip("127.0.0.1"), 1), (ip("192.0.2.12"), 0)],
        "{t:?}"
    );
}

#[test]
fn dr_devices_come_from_the_vrrp_addresses() {
    let o = nft_options(&config(S3));
    assert_eq!(o.dr_devices.get(&ip("192.0.2.144")).unwrap(), "eth0");
    // Without `dev`, the instance's interface.
    assert_eq!(o.dr_devices.get(&ip("192.0.2.145")).unwrap(), "eth1");
    // Two interfaces: no guess for other VIPs.
    assert_eq!(o.dr_default_device, None);
    let one_if = config(&S3.replace("interface eth1", "interface eth0"));
    assert_eq!(
        nft_options(&one_if).dr_default_device.as_deref(),
        Some("eth0")
    );
    assert!(o.local_addrs.iter().any(|a| a.is_loopback()));
}

#[test]
fn dr_device_of_an_address_vrrp_does_not_manage_is_the_one_holding_it() {
    // Every host has 127.0.0.1 on lo.
    let cfg = config(&S3.replace(
        "virtual_server 192.0.2.144 80",
        "virtual_server 127.0.0.1 80",
    ));
    assert_eq!(
        nft_options(&cfg)
            .dr_devices
            .get(&ip("127.0.0.1"))
            .map(String::as_str),
        Some("lo")
    );
}

fn state() -> LvsState {
    let check = |ok: bool, detail: &str, at: f64| CheckState {
        kind: "HTTP_GET".to_string(),
        up: ok,
        last: Some(CheckResult {
            ok,
            detail: detail.to_string(),
            at,
            elapsed_ms: 3,
        }),
    };
    LvsState {
        pid: 1,
        data_plane: "nftables".to_string(),
        nft_table: "keel".to_string(),
        updated: 1000.0,
        error: None,
        virtual_servers: vec![VsState {
            name: "[192.0.2.144]:tcp:80".to_string(),
            services: vec![vs_key()],
            quorum_up: true,
            live_weight: 1,
            sorry_server: Some(SorryState {
                addr: ip("127.0.0.1"),
                port: 80,
                active: false,
            }),
            real_servers: vec![
                RsState {
                    name: "[192.0.2.11]:tcp:80".to_string(),
                    addr: ip("192.0.2.11"),
                    port: 80,
                    alive: true,
                    weight: 1,
                    checkers: vec![check(true, "all urls passed", 998.0)],
                },
                RsState {
                    name: "[192.0.2.12]:tcp:80".to_string(),
                    addr: ip("192.0.2.12"),
                    port: 80,
                    alive: false,
                    weight: 1,
                    checkers: vec![check(false, "connection refused", 999.5)],
                },
            ],
        }],
    }
}

#[test]
fn keel_lvs_lists_like_ipvsadm_with_health_columns() {
    let mut t = Table::new();
    let mut svc = keel_lvs::VirtualService::new(vs_key(), Scheduler::Rr);
    svc.destinations.push(keel_lvs::Destination {
        addr: ip("192.0.2.11"),
        port: 80,
        weight: 1,
        method: Method::Dr,
        upper_threshold: 0,
        lower_threshold: 0,
    });
    t.services.push(svc);
    let text = format_status(&t, &state(), 1000.0);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], keel_lvs::ipvsadm::VERSION_LINE);
    assert!(lines[2].ends_with(" Health LastCheck    Result"), "{text}");
    // The health column lines up with its header.
    assert_eq!(
        lines[2].find("Health"),
        lines[4].find(" up ").map(|i| i + 1),
        "{text}"
    );
    assert_eq!(lines[3], "TCP  192.0.2.144:80 rr");
    let cols: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "->",
            "192.0.2.11:80",
            "Route",
            "1",
            "0",
            "0",
            "up",
            "2.0s",
            "ago",
            "ok:",
            "all",
            "urls",
            "passed"
        ],
        "{text}"
    );
    assert_eq!(lines[5], "Real servers not in the table:");
    assert_eq!(
        lines[6],
        "  [192.0.2.12]:tcp:80 of VS [192.0.2.144]:tcp:80: down (not in the table), last check 0.5s ago failed: connection refused"
    );
    assert_eq!(lines.len(), 7, "{text}");
}

#[test]
fn state_file_round_trips_through_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lvs.json");
    std::fs::write(&path, serde_json::to_string(&state()).unwrap()).unwrap();
    assert_eq!(keel_daemon::lvs::read_state(&path).unwrap(), state());
    assert!(matches!(
        keel_daemon::lvs::read_state(&dir.path().join("missing.json")),
        Err(LvsError::State { .. })
    ));
}

/// ipvsadm lists TCP before UDP whatever the addresses; the health columns
/// must follow the listing's order, not the table's.
#[test]
fn health_columns_follow_ipvsadm_service_order() {
    let dest = |a: &str, port| keel_lvs::Destination {
        addr: ip(a),
        port,
        weight: 1,
        method: Method::Dr,
        upper_threshold: 0,
        lower_threshold: 0,
    };
    let mut t = Table::new();
    let udp_key = ServiceKey::Addr {
        ip: ip("192.0.2.100"),
        proto: Protocol::Udp,
        port: 53,
    };
    let mut udp = keel_lvs::VirtualService::new(udp_key, Scheduler::Rr);
    udp.destinations.push(dest("192.0.2.13", 53));
    let mut tcp = keel_lvs::VirtualService::new(vs_key(), Scheduler::Rr);
    tcp.destinations.push(dest("192.0.2.11", 80));
    t.services.push(udp);
    t.services.push(tcp);
    let text = format_status(&t, &state(), 1000.0);
    let line_of = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap()
            .to_string()
    };
    assert!(line_of("192.0.2.11:80").contains(" up "), "{text}");
    assert!(!line_of("192.0.2.13:53").contains(" up "), "{text}");
    let tcp_at = text.find("TCP  192.0.2.144:80").unwrap();
    let udp_at = text.find("UDP  192.0.2.100:53").unwrap();
    assert!(tcp_at < udp_at, "ipvsadm's order: {text}");
}
