//! keepalived's own sample configurations (copied from doc/samples into
//! tests/samples/) load without any Error diagnostic, mean what each file
//! says, and survive the printer round trip.

use keel_config::diag::Diagnostics;
use keel_config::model::*;
use keel_config::{MemSource, PreprocessOptions, load_str};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn sample_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(format!("keepalived.conf.{name}"))
}

fn load_with_id(name: &str, config_id: &str) -> (Config, Diagnostics) {
    load_expecting(name, config_id, &[])
}

/// Loads a sample whose only errors are `expected` (keywords), as
/// keepalived's own `-t` reports them.
fn load_expecting(name: &str, config_id: &str, expected: &[&str]) -> (Config, Diagnostics) {
    let path = sample_path(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let opts = PreprocessOptions {
        config_id: config_id.to_string(),
        ..PreprocessOptions::default()
    };
    let parsed = load_str(&text, &path, &MemSource::new(), &opts).unwrap();
    let mut diags = parsed.diagnostics;
    let cfg = keel_config::build(&parsed.nodes, &mut diags);
    let errors: Vec<String> = diags
        .errors()
        .filter(|d| !expected.contains(&d.keyword.as_str()))
        .map(|d| d.to_string())
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}");
    assert_eq!(
        diags.errors().count(),
        errors.len() + expected.len(),
        "{name}"
    );
    // The canonical text reads back to the same model.
    let printed = keel_config::to_keepalived_conf(&cfg);
    let (again, d2) = keel_config::from_str(&printed, "printed.conf").unwrap();
    assert!(
        !d2.has_errors(),
        "{name} printed: {:#?}\n{printed}",
        d2.items
    );
    assert_eq!(again, cfg, "{name} round trip:\n{printed}");
    (cfg, diags)
}

fn load(name: &str) -> Config {
    load_with_id(name, "").0
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn vs_ip(addr: &str, port: u16) -> VsAddress {
    VsAddress::Ip {
        address: ip(addr),
        port,
    }
}

fn kinds(rs: &RealServer) -> Vec<&'static str> {
    rs.checkers.iter().map(Checker::kind).collect()
}

#[test]
fn every_sample_is_covered() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/samples");
    let n = std::fs::read_dir(dir).unwrap().count();
    // One test below per sample; update both together.
    assert_eq!(n, 26);
}

#[test]
fn http_get_port() {
    let c = load("HTTP_GET.port");
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.lvs_sched, Scheduler::Rr);
    assert_eq!(vs.lvs_method, Method::Nat);
    assert_eq!(vs.persistence_timeout, Some(50));
    assert_eq!(kinds(&vs.real_servers[0]), ["SSL_GET"]);
    let common = vs.real_servers[0].checkers[0].common().unwrap();
    assert!(
        common.connect_port.is_some(),
        "the sample's point is connect_port"
    );
}

#[test]
fn ipv6() {
    let c = load("IPv6");
    assert_eq!(c.virtual_servers.len(), 1);
    let vs = &c.virtual_servers[0];
    // The group form is commented out; the group itself is defined.
    assert_eq!(vs.address, vs_ip("ae00::1", 80));
    assert!(
        !c.virtual_server_group("IPv6_group")
            .unwrap()
            .entries
            .is_empty()
    );
    // Only SMTP_CHECK is left uncommented.
    assert_eq!(vs.real_servers.len(), 1);
    let rs = &vs.real_servers[0];
    assert_eq!((rs.address, rs.port), (ip("ae00::10"), Some(25)));
    let [Checker::Smtp { smtp, common }] = &rs.checkers[..] else {
        panic!("{:?}", rs.checkers)
    };
    assert_eq!(smtp.helo_name.as_deref(), Some("foo.bar.com"));
    assert_eq!(common.retry, 3);
}

#[test]
fn ping_check() {
    let c = load("PING_CHECK");
    assert_eq!(kinds(&c.virtual_servers[0].real_servers[0]), ["PING_CHECK"]);
}

#[test]
fn smtp_check() {
    let c = load("SMTP_CHECK");
    let vs = &c.virtual_servers[0];
    let smtp: Vec<_> = vs
        .real_servers
        .iter()
        .flat_map(|r| r.checkers.iter())
        .filter_map(|ch| match ch {
            Checker::Smtp { common, smtp } => Some((common, smtp)),
            _ => None,
        })
        .collect();
    // Legacy `host {}` blocks each become a checker of their own.
    assert!(smtp.len() > 3, "{}", smtp.len());
    assert!(smtp.iter().any(|(_, s)| s.helo_name.is_some()));
    assert!(smtp.iter().any(|(c, _)| c.connect_ip.is_some()));
}

#[test]
fn ssl_get() {
    let c = load("SSL_GET");
    assert_eq!(c.virtual_servers.len(), 2);
    assert_eq!(c.vrrp_instances[0].virtual_router_id, 51);
    let all: Vec<_> = c
        .virtual_servers
        .iter()
        .flat_map(|v| v.real_servers.iter().flat_map(kinds))
        .collect();
    assert!(all.contains(&"SSL_GET") && all.contains(&"HTTP_GET"));
    assert_eq!(c.virtual_servers[0].address, vs_ip("192.168.200.100", 443));
}

#[test]
fn udp_check() {
    let c = load("UDP_CHECK");
    let rs = &c.virtual_servers[0].real_servers[0];
    let [Checker::Udp { udp, common }] = &rs.checkers[..] else {
        panic!("{:?}", rs.checkers)
    };
    // require_reply is commented out in the sample.
    assert!(!udp.require_reply);
    assert_eq!(common.connect_timeout, Duration::from_secs(3));
    assert_eq!(common.retry, 3);
}

#[test]
fn conditional_conf_per_config_id() {
    for (id, prio, script, ns) in [
        (
            "high",
            170,
            "/etc/keepalived/scripts/check_high_VI_0.sh",
            "high",
        ),
        (
            "low",
            85,
            "/etc/keepalived/scripts/check_low_VI_0.sh",
            "low",
        ),
    ] {
        let (c, _) = load_with_id("conditional_conf", id);
        let vi = &c.vrrp_instances[0];
        assert_eq!(vi.priority, prio);
        assert_eq!(vi.version, 3);
        // v3 carries centiseconds; 12 s is valid.
        assert_eq!(vi.advert_int, Duration::from_secs(12));
        assert!(vi.use_vmac.is_some());
        assert_eq!(c.vrrp_script("check_VI_0").unwrap().script.command, script);
        assert_eq!(
            c.vrrp_script("check_VI_0").unwrap().timeout,
            Duration::from_secs(10)
        );
        assert_eq!(vi.track.interfaces.len(), 2);
        assert_eq!(vi.track.interfaces[1].weight, Some(20));
        assert_eq!(c.other[0].keyword, "net_namespace");
        assert_eq!(c.other[0].args, [ns]);
    }
}

#[test]
fn default_sample_with_vrrp_strict() {
    let (c, d) = load_with_id("default", "");
    assert!(c.global_defs.vrrp_strict);
    let vi = &c.vrrp_instances[0];
    assert_eq!(vi.virtual_router_id, 51);
    assert!(vi.strict_mode, "vrrp_strict applies to every instance");
    // Strict mode drops authentication (with a warning), as keepalived does.
    assert_eq!(vi.authentication, None);
    assert!(d.warnings().any(|w| w.message.contains("strict mode")));
    assert_eq!(c.virtual_servers.len(), 3);
}

#[test]
fn fwmark() {
    let c = load("fwmark");
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.address, VsAddress::Fwmark { mark: 1 });
    assert_eq!(
        vs.protocol, None,
        "protocol is meaningless for fwmark services"
    );
    assert_eq!(vs.persistence_timeout, Some(900));
    assert_eq!(vs.real_servers.len(), 2);
}

#[test]
fn inhibit() {
    let c = load("inhibit");
    let rs = &c.virtual_servers[0].real_servers[0];
    assert_eq!(rs.inhibit_on_failure, Some(true));
}

#[test]
fn misc_check() {
    let c = load("misc_check");
    let [Checker::Misc { misc, common }] = &c.virtual_servers[0].real_servers[0].checkers[..]
    else {
        panic!()
    };
    assert_eq!(misc.misc_path.command, "/usr/local/bin/script.sh");
    assert!(common.retry <= 1);
}

#[test]
fn misc_check_arg() {
    let c = load("misc_check_arg");
    let [Checker::Misc { misc, .. }] = &c.virtual_servers[0].real_servers[0].checkers[..] else {
        panic!()
    };
    assert!(
        misc.misc_path
            .command
            .starts_with("/usr/local/bin/script.sh ")
    );
}

#[test]
fn quorum() {
    let c = load("quorum");
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.quorum, 7);
    assert_eq!(vs.hysteresis, 2);
    assert!(vs.alpha && vs.omega);
    assert_eq!(vs.lvs_sched, Scheduler::Wrr);
    assert_eq!(vs.real_servers.len(), 10);
    assert!(vs.quorum_up.is_some() && vs.quorum_down.is_some());
    assert!(vs.real_servers.iter().all(|r| kinds(r) == ["TCP_CHECK"]));
}

#[test]
fn sample() {
    let c = load("sample");
    assert_eq!(c.vrrp_instances[0].virtual_router_id, 50);
    assert_eq!(c.virtual_servers.len(), 1);
    assert_eq!(kinds(&c.virtual_servers[0].real_servers[0]), ["HTTP_GET"]);
}

#[test]
fn status_code() {
    let c = load("status_code");
    let [Checker::SslGet { http, common }] = &c.virtual_servers[0].real_servers[0].checkers[..]
    else {
        panic!()
    };
    let r = |from, to| StatusRange { from, to };
    assert_eq!(
        http.urls[0].status_code,
        vec![r(200, 299), r(400, 499), r(503, 503), r(505, 505)]
    );
    assert_eq!(
        http.urls[1].digest.as_deref(),
        Some("9b3a0c85a887a256d6939da88aabd8cd")
    );
    assert_eq!(http.urls[1].status_code, vec![r(200, 200)]);
    assert_eq!(common.retry, 3);
    assert_eq!(c.virtual_servers[0].address, vs_ip("192.168.200.100", 443));
}

#[test]
fn track_interface() {
    let c = load("track_interface");
    let vi = &c.vrrp_instances[0];
    assert_eq!(vi.virtual_router_id, 51);
    assert!(!vi.track.interfaces.is_empty());
}

#[test]
fn virtual_server_group() {
    let c = load("virtual_server_group");
    let g = c.virtual_server_group("VSG_1").unwrap();
    assert!(g.entries.contains(&VsgEntry::Range {
        first: ip("192.168.200.3"),
        last: ip("192.168.200.10"),
        port: Some(80)
    }));
    assert!(g.entries.contains(&VsgEntry::Fwmark {
        mark: 2,
        family: None
    }));
    assert!(matches!(&c.virtual_servers[0].address, VsAddress::Group { name } if name == "VSG_1"));
}

#[test]
fn virtualhost() {
    let c = load("virtualhost");
    let vs = &c.virtual_servers[0];
    let has_vhost = vs.virtualhost.is_some()
        || vs.real_servers.iter().any(|r| {
            r.virtualhost.is_some()
                || r.checkers.iter().any(|ch| match ch {
                    Checker::SslGet { http, .. } | Checker::HttpGet { http, .. } => {
                        http.virtualhost.is_some()
                            || http.urls.iter().any(|u| u.virtualhost.is_some())
                    }
                    _ => false,
                })
        });
    assert!(has_vhost);
}

#[test]
fn vrrp() {
    let c = load("vrrp");
    let vrids: Vec<u8> = c
        .vrrp_instances
        .iter()
        .map(|i| i.virtual_router_id)
        .collect();
    assert_eq!(vrids, [51, 50, 52, 53]);
}

#[test]
fn vrrp_localcheck() {
    let c = load("vrrp.localcheck");
    assert_eq!(c.vrrp_instances.len(), 9);
    assert!(!c.vrrp_scripts.is_empty());
    assert!(c.vrrp_instances.iter().any(|i| !i.track.scripts.is_empty()));
}

#[test]
fn vrrp_lvs_syncd() {
    // The sample lists its sync group members without `group { }`:
    // keepalived -t reports both lines as unknown keywords (exit 5).
    let (c, d) = load_expecting("vrrp.lvs_syncd", "", &["VI_2", "VI_3"]);
    assert_eq!(c.vrrp_instances.len(), 3);
    // The deprecated per-instance keyword is kept and reported.
    assert!(
        c.vrrp_instances[0]
            .other
            .iter()
            .any(|r| r.keyword == "lvs_sync_daemon_interface")
    );
    assert!(
        d.warnings()
            .any(|w| w.keyword == "lvs_sync_daemon_interface")
    );
    assert_eq!(c.virtual_servers.len(), 1);
}

#[test]
fn vrrp_routes() {
    let c = load("vrrp.routes");
    let routes = &c.vrrp_instances[0].virtual_routes;
    let first = &routes[0];
    assert_eq!(first.src.as_deref(), Some("192.168.100.1"));
    assert_eq!(first.dst, "192.168.109.0/24");
    assert_eq!(first.via.as_deref(), Some("192.168.200.254"));
    assert_eq!(first.dev.as_deref(), Some("eth1"));
    assert!(
        routes
            .iter()
            .any(|r| r.route_type.as_deref() == Some("blackhole"))
    );
    let gw = routes
        .iter()
        .find(|r| r.table.as_deref() == Some("100"))
        .unwrap();
    assert_eq!(
        (gw.dst.as_str(), gw.via.as_deref()),
        ("0.0.0.0/0", Some("192.168.0.1"))
    );
}

#[test]
fn vrrp_rules() {
    let c = load("vrrp.rules");
    assert_eq!(c.static_rules.len(), 2);
    assert_eq!(c.static_rules[0].from.as_deref(), Some("192.168.100.0/24"));
    assert_eq!(c.static_rules[0].table.as_deref(), Some("1"));
    let vi = &c.vrrp_instances[0];
    assert_eq!(vi.virtual_rules.len(), 2);
    assert_eq!(vi.virtual_ipaddress[1].dev.as_deref(), Some("eth1"));
}

#[test]
fn vrrp_scripts() {
    let c = load("vrrp.scripts");
    let g = c.sync_group("G1").unwrap();
    assert_eq!(g.group, ["VI_2", "VI_3"]);
    assert_eq!(
        g.notify.master.as_ref().unwrap().command,
        "/usr/local/bin/vrrp.mast arg1 arg2"
    );
    let vi = c.vrrp_instance("VI_1").unwrap();
    assert_eq!(vi.smtp_alert, Some(true));
    assert_eq!(
        vi.notify.backup.as_ref().unwrap().command,
        "/usr/local/bin/vrrp.sh  BACKUP   VI_1",
        "spacing inside quotes is kept"
    );
    assert_eq!(
        c.vrrp_instance("VI_2").unwrap().sync_group.as_deref(),
        Some("G1")
    );
    assert_eq!(
        c.vrrp_instance("VI_2").unwrap().virtual_ipaddress[0].prefix_len,
        27
    );
}

#[test]
fn vrrp_static_ipaddress() {
    let c = load("vrrp.static_ipaddress");
    assert_eq!(c.static_ipaddress.len(), 3);
    assert_eq!(c.static_ipaddress[0].scope.as_deref(), Some("link"));
    assert_eq!(c.static_ipaddress[2].dev.as_deref(), Some("eth2"));
    assert_eq!(c.vrrp_instances[0].virtual_routes.len(), 4);
    assert_eq!(c.vrrp_instances[0].virtual_router_id, 51);
}

#[test]
fn vrrp_sync() {
    let c = load("vrrp.sync");
    assert_eq!(c.sync_groups.len(), 2);
    assert_eq!(c.vrrp_instances.len(), 9);
    for g in &c.sync_groups {
        assert!(!g.group.is_empty());
        for m in &g.group {
            assert_eq!(
                c.vrrp_instance(m).unwrap().sync_group.as_ref(),
                Some(&g.name)
            );
        }
    }
}

#[test]
fn samples_dir_is_a_copy_of_keepalived_doc_samples() {
    // Guard against an accidental edit of the copies: every file still
    // starts like a keepalived sample.
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samples")).unwrap()
    {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(text.trim_start().starts_with('!') || text.trim_start().starts_with('#'));
    }
}
