//! Diagnostics for mistakes: each names file:line, the keyword, and (for a
//! typo) the keyword that was probably meant; the rest of the file loads.

use keel_config::diag::{Diagnostic, Severity};
use keel_config::model::*;
use std::time::Duration;

fn run(text: &str) -> (Config, Vec<Diagnostic>) {
    let (cfg, d) = keel_config::from_str(text, "/etc/keepalived/test.conf").unwrap();
    (cfg, d.items)
}

fn instance(body: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n{body}\n    virtual_ipaddress {{\n        192.0.2.10\n    }}\n}}\n"
    )
}

fn only(d: &[Diagnostic], sev: Severity) -> Vec<&Diagnostic> {
    d.iter().filter(|x| x.severity == sev).collect()
}

#[test]
fn typo_gets_a_suggestion_and_the_rest_loads() {
    let (cfg, d) = run(&instance("    priorty 150\n    advert_int 2"));
    // An error as in keepalived's -t (exit 5); the rest still loads.
    let w = only(&d, Severity::Error);
    assert_eq!(w.len(), 1, "{d:?}");
    assert_eq!(w[0].keyword, "priorty");
    assert_eq!(w[0].suggestion.as_deref(), Some("priority"));
    assert_eq!(w[0].span.line, 4);
    let shown = w[0].to_string();
    assert!(
        shown.starts_with("/etc/keepalived/test.conf:4:5: error: 'priorty'"),
        "{shown}"
    );
    assert!(shown.contains("did you mean 'priority'"), "{shown}");
    let vi = &cfg.vrrp_instances[0];
    assert_eq!(vi.priority, 100, "default kept");
    assert_eq!(
        vi.advert_int,
        Duration::from_secs(2),
        "later lines still load"
    );
}

#[test]
fn unrelated_unknown_keyword_has_no_suggestion() {
    let (_, d) = run(&instance("    frobnicate_everything yes"));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].suggestion, None);
}

#[test]
fn vrid_out_of_range() {
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 256\n}\n";
    let (cfg, d) = run(text);
    let e = only(&d, Severity::Error);
    assert_eq!(e[0].keyword, "virtual_router_id");
    assert_eq!(e[0].span.line, 3);
    assert!(e[0].message.contains("1..=255"), "{}", e[0].message);
    assert!(
        e[0].to_string()
            .starts_with("/etc/keepalived/test.conf:3:5: error: 'virtual_router_id'")
    );
    // An instance without a usable VRID cannot run.
    assert!(cfg.vrrp_instances.is_empty());
}

#[test]
fn priority_zero_is_an_error_and_keeps_the_default() {
    let (cfg, d) = run(&instance("    priority 0"));
    let e = only(&d, Severity::Error);
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].keyword.as_str(), e[0].span.line), ("priority", 4));
    assert_eq!(cfg.vrrp_instances[0].priority, 100);
}

#[test]
fn password_longer_than_eight_is_truncated_with_an_error() {
    let (cfg, d) = run(&instance(
        "    authentication {\n        auth_type PASS\n        auth_pass 123456789\n    }",
    ));
    let e = only(&d, Severity::Error);
    assert_eq!(e.len(), 1, "{d:?}");
    assert_eq!((e[0].keyword.as_str(), e[0].span.line), ("auth_pass", 6));
    assert!(e[0].message.contains("at most 8"));
    // keepalived keeps the first 8 bytes (the RFC 3768 §5.3.6.1 field).
    assert_eq!(
        cfg.vrrp_instances[0]
            .authentication
            .as_ref()
            .unwrap()
            .auth_pass,
        "12345678"
    );
}

#[test]
fn wrong_arity() {
    let (cfg, d) = run(&instance("    priority\n    advert_int 1 2"));
    let e = only(&d, Severity::Error);
    assert_eq!(e.len(), 2, "{d:?}");
    assert_eq!((e[0].keyword.as_str(), e[0].span.line), ("priority", 4));
    assert!(e[0].message.contains("missing value"));
    assert_eq!((e[1].keyword.as_str(), e[1].span.line), ("advert_int", 5));
    assert!(e[1].message.contains("too many arguments"));
    assert!(e[1].message.contains("'2'"));
    assert_eq!(cfg.vrrp_instances[0].advert_int, Duration::from_secs(1));
}

#[test]
fn unknown_top_level_block() {
    let text = "vrrp_instanse VI_1 {\n    priority 100\n}\nglobal_defs {\n    router_id r1\n}\n";
    let (cfg, d) = run(text);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].keyword, "vrrp_instanse");
    assert_eq!(d[0].span.line, 1);
    assert_eq!(d[0].suggestion.as_deref(), Some("vrrp_instance"));
    assert!(d[0].message.contains("top level"));
    assert!(cfg.vrrp_instances.is_empty());
    assert_eq!(cfg.global_defs.router_id.as_deref(), Some("r1"));
}

#[test]
fn v2_fractional_advert_int_is_rounded_with_a_warning() {
    let (cfg, d) = run(&instance("    advert_int 1.6"));
    assert_eq!(cfg.vrrp_instances[0].advert_int, Duration::from_secs(2));
    assert!(
        d.iter()
            .any(|x| x.severity == Severity::Warning && x.keyword == "advert_int")
    );
    let (cfg, _) = run(&instance("    advert_int 0.1"));
    // The probe of keepalived 2.2.7 saw 0.1 s go out as 1 s on the wire.
    assert_eq!(cfg.vrrp_instances[0].advert_int, Duration::from_secs(1));
}

#[test]
fn v3_advert_int_takes_centiseconds() {
    // RFC 5798 §5.2.7: 12-bit centisecond field.
    let (cfg, d) = run(&instance("    version 3\n    advert_int 0.05"));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(cfg.vrrp_instances[0].advert_int, Duration::from_millis(50));
    let (cfg, _) = run(&instance("    version 3\n    advert_int 41"));
    assert_eq!(
        cfg.vrrp_instances[0].advert_int,
        Duration::from_millis(40_950)
    );
}

#[test]
fn weights_out_of_range() {
    let text = format!(
        "vrrp_script s {{\n    script /bin/true\n    weight 254\n}}\n{}",
        instance("    track_script {\n        s weight -300\n    }")
    );
    let (_, d) = run(&text);
    let e = only(&d, Severity::Error);
    assert_eq!(e.len(), 2, "{d:?}");
    assert_eq!((e[0].keyword.as_str(), e[0].span.line), ("weight", 3));
    assert!(e[0].message.contains("-253..=253"));
    assert_eq!(e[1].keyword, "track_script");
}

#[test]
fn preempt_delay_limit() {
    let (cfg, d) = run(&instance("    state BACKUP\n    preempt_delay 1001"));
    assert_eq!(only(&d, Severity::Error)[0].keyword, "preempt_delay");
    assert_eq!(cfg.vrrp_instances[0].preempt_delay, Duration::ZERO);
    let (cfg, _) = run(&instance("    state BACKUP\n    preempt_delay 4.12"));
    assert_eq!(
        cfg.vrrp_instances[0].preempt_delay,
        Duration::from_millis(4120)
    );
}

#[test]
fn missing_script_reference_is_ignored_with_a_warning() {
    let (cfg, d) = run(&instance("    track_script {\n        nosuch\n    }"));
    assert!(cfg.vrrp_instances[0].track.scripts.is_empty());
    let w = only(&d, Severity::Warning);
    assert_eq!(w.len(), 1);
    assert!(w[0].message.contains("'nosuch'"));
}

#[test]
fn sync_group_member_must_exist() {
    let text = format!(
        "vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_9\n    }}\n}}\n{}",
        instance("")
    );
    let (cfg, d) = run(&text);
    assert_eq!(cfg.sync_groups[0].group, ["VI_1"]);
    assert!(d.iter().any(|x| x.message.contains("'VI_9'")));
    assert_eq!(cfg.vrrp_instances[0].sync_group.as_deref(), Some("G"));
}

#[test]
fn duplicate_vrid_on_one_interface() {
    let text = format!("{}{}", instance(""), instance("").replace("VI_1", "VI_2"));
    let (_, d) = run(&text);
    let e = only(&d, Severity::Error);
    assert_eq!(e.len(), 1, "{d:?}");
    assert!(e[0].message.contains("VI_1"));
    assert_eq!(e[0].span.line, 9);
}

#[test]
fn duplicate_instance_name() {
    let text = format!("{}{}", instance(""), instance("").replace("51", "52"));
    let (_, d) = run(&text);
    assert!(
        d.iter()
            .any(|x| x.severity == Severity::Error && x.message.contains("duplicate name 'VI_1'"))
    );
}

#[test]
fn unknown_virtual_server_group() {
    let (_, d) = run("virtual_server group NOPE {\n    lvs_sched rr\n    lb_kind NAT\n}\n");
    let e = only(&d, Severity::Error);
    assert_eq!(e.len(), 1);
    assert!(e[0].message.contains("'NOPE'"));
    assert_eq!(e[0].span.line, 1);
}

#[test]
fn state_master_without_priority_is_the_owner() {
    let (cfg, _) = run(&instance("    state MASTER"));
    assert_eq!(cfg.vrrp_instances[0].priority, 255);
    let (cfg, _) = run(&instance("    priority 255"));
    assert_eq!(cfg.vrrp_instances[0].state, InitialState::Master);
}

#[test]
fn ipv6_instance_defaults_to_version_3() {
    let text = "vrrp_instance V6 {\n    interface eth0\n    virtual_router_id 9\n    virtual_ipaddress {\n        2001:db8::9/64\n    }\n}\n";
    let (cfg, d) = run(text);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(cfg.vrrp_instances[0].version, 3);
    assert_eq!(cfg.vrrp_instances[0].family, AddressFamily::Inet6);
}

#[test]
fn v3_with_authentication_drops_it() {
    let (cfg, d) = run(&instance(
        "    version 3\n    authentication {\n        auth_type PASS\n        auth_pass x\n    }",
    ));
    assert_eq!(cfg.vrrp_instances[0].authentication, None);
    assert!(d.iter().any(|x| {
        x.message
            .contains("version 3 does not support authentication")
    }));
}

#[test]
fn quoted_keyword_is_not_split_off() {
    // `notify "..." user` would be split if the argument were unquoted and
    // a keyword; quoting protects it.
    let (cfg, d) = run(&instance("    notify_master \"priority\""));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        cfg.vrrp_instances[0]
            .notify
            .master
            .as_ref()
            .unwrap()
            .command,
        "priority"
    );
}

#[test]
fn unquoted_script_takes_the_whole_line() {
    // keepalived takes every word after `script` as the command.
    let (cfg, d) = run("vrrp_script chk {\n    script killall -0 httpd\n    interval 2\n}\n");
    assert!(d.is_empty(), "{d:?}");
    let s = &cfg.vrrp_scripts[0];
    assert_eq!(s.script.command, "killall -0 httpd");
    assert_eq!(s.script.user, None);
    assert_eq!(s.interval, Duration::from_secs(2));
    // Pasted on one line, the next keyword still ends the command.
    let (cfg, d) = run("vrrp_script chk { script killall -0 nginx interval 1 weight -5 }\n");
    assert!(d.is_empty(), "{d:?}");
    let s = &cfg.vrrp_scripts[0];
    assert_eq!(s.script.command, "killall -0 nginx");
    assert_eq!((s.interval, s.weight), (Duration::from_secs(1), -5));
}

#[test]
fn misc_path_words_keep_their_quoting() {
    let text = "virtual_server 192.0.2.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 192.0.2.2 80 {\n        MISC_CHECK {\n            misc_path /bin/check \"a b\" c\n        }\n    }\n}\n";
    let (cfg, d) = run(text);
    assert!(d.is_empty(), "{d:?}");
    let Checker::Misc { misc, .. } = &cfg.virtual_servers[0].real_servers[0].checkers[0] else {
        panic!()
    };
    assert_eq!(misc.misc_path.command, "/bin/check \"a b\" c");
    let printed = keel_config::to_keepalived_conf(&cfg);
    let (again, _) = keel_config::from_str(&printed, "p").unwrap();
    assert_eq!(again, cfg);
}
