//! The seed tutorial's configurations (examples/seed/) load with the meaning
//! the tutorial expects: the scenarios S1..S7 of shared/seed-scenarios.md.

use keel_config::diag::Severity;
use keel_config::model::*;
use keel_config::{FsSource, PreprocessOptions, load_config};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

fn seed_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seed")
        .join(name)
}

fn load(name: &str) -> (Config, keel_config::diag::Diagnostics) {
    load_config(&seed_path(name), &FsSource, &PreprocessOptions::default()).unwrap()
}

/// Loads with no error; returns the model and the warning texts.
fn load_ok(name: &str) -> (Config, Vec<String>) {
    let (cfg, diags) = load(name);
    let errors: Vec<String> = diags.errors().map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
    (cfg, diags.warnings().map(|d| d.to_string()).collect())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn check_global(cfg: &Config, router_id: &str) {
    let g = &cfg.global_defs;
    assert_eq!(g.router_id.as_deref(), Some(router_id));
    assert_eq!(g.notification_email, vec!["root@localhost".to_string()]);
    assert_eq!(
        g.notification_email_from.as_deref(),
        Some("keepalived@localhost")
    );
    assert_eq!(
        g.smtp_server,
        Some(SmtpServer {
            host: "127.0.0.1".into(),
            port: 25
        })
    );
    assert_eq!(g.smtp_connect_timeout, Duration::from_secs(30));
}

/// The VRRP fields every seed instance sets.
fn check_instance(
    vi: &VrrpInstance,
    name: &str,
    state: InitialState,
    vrid: u8,
    prio: u8,
    pass: &str,
    vip: &str,
) {
    assert_eq!(vi.name, name);
    assert_eq!(vi.state, state);
    assert_eq!(vi.interface.as_deref(), Some("eth0"));
    assert_eq!(vi.virtual_router_id, vrid);
    assert_eq!(vi.priority, prio);
    assert_eq!(vi.advert_int, Duration::from_secs(1));
    assert_eq!(vi.version, 2);
    assert_eq!(
        vi.authentication,
        Some(Authentication {
            auth_type: AuthType::Pass,
            auth_pass: pass.into()
        })
    );
    assert_eq!(vi.virtual_ipaddress.len(), 1);
    assert_eq!(vi.virtual_ipaddress[0].address, ip(vip));
    assert_eq!(vi.virtual_ipaddress[0].prefix_len, 32);
    // Defaults the tutorial relies on: preemption on, GARP 5 + 5 after 5 s.
    assert!(!vi.nopreempt);
    assert_eq!(vi.garp_master_repeat, 5);
    assert_eq!(vi.garp_master_delay, Duration::from_secs(5));
}

#[test]
fn s1_master_backup_one_vip() {
    let (c1, w1) = load_ok("s1-node1.conf");
    check_global(&c1, "one");
    assert!(w1.is_empty(), "{w1:?}");
    assert_eq!(c1.vrrp_instances.len(), 1);
    check_instance(
        &c1.vrrp_instances[0],
        "VI_1",
        InitialState::Master,
        101,
        100,
        "123.com",
        "192.0.2.111",
    );
    // RFC 5798 §5.2.2 / keepalived default multicast group.
    assert_eq!(
        c1.global_defs.vrrp_mcast_group4,
        Ipv4Addr::new(224, 0, 0, 18)
    );
    let (c2, _) = load_ok("s1-node2.conf");
    check_global(&c2, "two");
    check_instance(
        &c2.vrrp_instances[0],
        "VI_1",
        InitialState::Backup,
        101,
        90,
        "123.com",
        "192.0.2.111",
    );
}

#[test]
fn s1_one_line_paste_means_the_same() {
    let (multi, _) = load_ok("s1-node1.conf");
    let (one, warnings) = load_ok("s1-node1-oneline.conf");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(one, multi);
}

#[test]
fn s2_master_master() {
    let (c1, _) = load_ok("s2-node1.conf");
    let (c2, _) = load_ok("s2-node2.conf");
    let [a1, b1] = &c1.vrrp_instances[..] else {
        panic!("two instances expected")
    };
    let [a2, b2] = &c2.vrrp_instances[..] else {
        panic!("two instances expected")
    };
    check_instance(
        a1,
        "VI_1",
        InitialState::Master,
        101,
        100,
        "123.com",
        "192.0.2.111",
    );
    check_instance(
        b1,
        "VI_2",
        InitialState::Backup,
        111,
        90,
        "456.com",
        "192.0.2.122",
    );
    check_instance(
        a2,
        "VI_1",
        InitialState::Backup,
        101,
        90,
        "123.com",
        "192.0.2.111",
    );
    check_instance(
        b2,
        "VI_2",
        InitialState::Master,
        111,
        100,
        "456.com",
        "192.0.2.122",
    );
}

#[test]
fn s3_lvs_direct_routing() {
    for (file, state, prio, rid) in [
        ("s3-node1.conf", InitialState::Master, 100, "one"),
        ("s3-node2.conf", InitialState::Backup, 90, "two"),
    ] {
        let (c, warnings) = load_ok(file);
        check_global(&c, rid);
        assert_eq!(
            c.global_defs.vrrp_mcast_group4,
            Ipv4Addr::new(224, 0, 101, 11)
        );
        let vi = &c.vrrp_instances[0];
        check_instance(vi, "VI_1", state, 22, prio, "123.com", "192.0.2.144");
        // `VIP/32 dev IF brd`: bare brd computes the broadcast (the address
        // itself for a /32, as the tutorial's `ip a` output shows).
        let vip = &vi.virtual_ipaddress[0];
        assert_eq!(vip.dev.as_deref(), Some("eth0"));
        assert_eq!(vip.broadcast, Some(Ipv4Addr::new(192, 0, 2, 144)));
        assert!(warnings.iter().any(|w| w.contains("'brd' without a value")));
        // nat_mask is obsolete: a warning, nothing else.
        assert!(warnings.iter().any(|w| w.contains("'nat_mask'")));

        assert_eq!(c.virtual_servers.len(), 1);
        let vs = &c.virtual_servers[0];
        assert_eq!(
            vs.address,
            VsAddress::Ip {
                address: ip("192.0.2.144"),
                port: 80
            }
        );
        assert_eq!(vs.delay_loop, Duration::from_secs(3));
        assert_eq!(vs.lvs_sched, Scheduler::Rr);
        assert_eq!(vs.lvs_method, Method::Dr);
        assert_eq!(vs.protocol, Some(Protocol::Tcp));
        assert_eq!(
            vs.persistence_timeout, None,
            "commented out in the tutorial"
        );
        let sorry = vs.sorry_server.as_ref().unwrap();
        assert_eq!((sorry.address, sorry.port), (ip("127.0.0.1"), Some(80)));
        assert_eq!(vs.real_servers.len(), 2);
        for (rs, addr) in vs.real_servers.iter().zip(["192.0.2.11", "192.0.2.12"]) {
            assert_eq!(rs.address, ip(addr));
            assert_eq!(rs.port, Some(80));
            assert_eq!(rs.weight, 1);
            let [Checker::HttpGet { common, http }] = &rs.checkers[..] else {
                panic!("one HTTP_GET expected: {:?}", rs.checkers)
            };
            assert_eq!(common.connect_timeout, Duration::from_secs(3));
            assert_eq!(common.retry, 3, "nb_get_retry is the old name of retry");
            assert_eq!(common.delay_before_retry, Duration::from_secs(3));
            assert_eq!(
                common.delay_loop,
                Duration::from_secs(3),
                "inherited from the VS"
            );
            assert_eq!(http.urls.len(), 1);
            assert_eq!(http.urls[0].path, "/index.html");
            assert_eq!(
                http.urls[0].status_code,
                vec![StatusRange { from: 200, to: 200 }]
            );
            assert_eq!(http.urls[0].digest, None);
        }
    }
}

#[test]
fn s4_track_script_with_shell_syntax() {
    for (file, state, prio) in [
        ("s4-node1.conf", InitialState::Master, 100),
        ("s4-node2.conf", InitialState::Backup, 98),
    ] {
        let (c, _) = load_ok(file);
        let s = c.vrrp_script("chk_down").unwrap();
        assert_eq!(
            s.script.command, "[[ -f /etc/keepalived/down ]] && exit 1 || exit 0",
            "kept verbatim"
        );
        assert_eq!(s.interval, Duration::from_secs(1));
        assert_eq!(
            s.timeout,
            Duration::from_secs(1),
            "timeout defaults to interval"
        );
        assert_eq!(s.weight, -5);
        assert_eq!((s.rise, s.fall), (1, 1));
        let vi = &c.vrrp_instances[0];
        check_instance(vi, "VI_1", state, 22, prio, "123.com", "192.0.2.166");
        assert_eq!(
            vi.track.scripts,
            vec![TrackRef {
                name: "chk_down".into(),
                weight: None,
                reverse: false
            }]
        );
    }
}

#[test]
fn s5_track_the_web_server_process() {
    for (file, script, cmd) in [
        ("s5-node1.conf", "chk_httpd", "killall -0 httpd"),
        ("s5-node2.conf", "chk_nginx", "killall -0 nginx"),
    ] {
        let (c, _) = load_ok(file);
        let s = c.vrrp_script(script).unwrap();
        assert_eq!(s.script.command, cmd);
        assert_eq!(s.weight, -5);
        assert_eq!(c.vrrp_instances[0].track.scripts[0].name, script);
    }
}

#[test]
fn s6_notify_scripts() {
    let (c, _) = load_ok("s6-node1.conf");
    let n = &c.vrrp_instances[0].notify;
    let cmd = |s: &Option<Script>| s.as_ref().map(|s| s.command.clone());
    assert_eq!(
        cmd(&n.master).as_deref(),
        Some("/etc/keepalived/notify.sh master")
    );
    assert_eq!(
        cmd(&n.backup).as_deref(),
        Some("/etc/keepalived/notify.sh backup")
    );
    assert_eq!(
        cmd(&n.fault).as_deref(),
        Some("/etc/keepalived/notify.sh fault")
    );
    assert_eq!(n.master.as_ref().unwrap().user, None);
}

#[test]
fn s7_nopreempt() {
    let (c1, _) = load_ok("s7-node1.conf");
    let (c2, _) = load_ok("s7-node2.conf");
    for (c, prio) in [(&c1, 100), (&c2, 90)] {
        let vi = &c.vrrp_instances[0];
        assert!(vi.nopreempt);
        assert_eq!(vi.state, InitialState::Backup);
        assert_eq!(vi.priority, prio);
    }
}

#[test]
fn nopreempt_with_state_master_is_cleared_like_keepalived() {
    let text = std::fs::read_to_string(seed_path("s7-node1.conf"))
        .unwrap()
        .replace("state BACKUP", "state MASTER");
    let (c, d) = keel_config::from_str(&text, "s7-master.conf").unwrap();
    assert!(!c.vrrp_instances[0].nopreempt);
    let w: Vec<_> = d.warnings().collect();
    assert!(
        w.iter()
            .any(|w| w.message.contains("nopreempt does not work"))
    );
    assert!(w.iter().all(|w| w.severity == Severity::Warning));
}

#[test]
fn every_seed_config_round_trips_through_the_printer() {
    let dir = seed_path("");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let (cfg, _) = load_config(&path, &FsSource, &PreprocessOptions::default()).unwrap();
        let printed = keel_config::to_keepalived_conf(&cfg);
        let (again, diags) = keel_config::from_str(&printed, "printed.conf").unwrap();
        assert!(!diags.has_errors(), "{}: {:?}", path.display(), diags.items);
        assert_eq!(again, cfg, "{}:\n{printed}", path.display());
        n += 1;
    }
    assert_eq!(n, 14);
}
