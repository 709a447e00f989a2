//! `keel check` / `keel -t` / `keel config`: exit codes as keepalived's `-t`,
//! diagnostics naming file:line and keyword.

use std::path::{Path, PathBuf};
use std::process::Command;

fn keel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keel"))
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("keel-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = keel().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn seed(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seed")
        .join(name)
        .display()
        .to_string()
}

const GOOD: &str = "vrrp_instance VI_1 {\n state MASTER\n interface lo\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n 192.0.2.111\n }\n}\n";

#[test]
fn good_config_exits_zero() {
    let d = TempDir::new("good");
    let f = d.write("k.conf", GOOD);
    let (code, out, _) = run(&["check", "-f", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("configuration OK"));
}

#[test]
fn missing_file_cannot_run() {
    let (code, _, err) = run(&["check", "-f", "/nonexistent/keel/keepalived.conf"]);
    assert_eq!(code, 4);
    assert!(err.contains("/nonexistent/keel/keepalived.conf"), "{err}");
}

#[test]
fn typo_is_reported_with_suggestion_and_exits_five() {
    let d = TempDir::new("typo");
    let f = d.write("k.conf", &GOOD.replace("priority 100", "priorty 100"));
    let f = f.to_str().unwrap();
    let (code, _, err) = run(&["check", "--offline", "-f", f]);
    // keepalived -t: "Unknown keyword" is a configuration error, exit 5.
    assert_eq!(code, 5, "{err}");
    assert!(err.contains(&format!("{f}:5")), "names file:line: {err}");
    assert!(err.contains("priorty") && err.contains("priority"), "{err}");
    let (code, _, _) = run(&["check", "--offline", "--strict", "-f", f]);
    assert_eq!(code, 5);
}

#[test]
fn out_of_range_vrid_is_an_error() {
    let d = TempDir::new("vrid");
    let f = d.write(
        "k.conf",
        &GOOD.replace("virtual_router_id 51", "virtual_router_id 256"),
    );
    let (code, _, err) = run(&["check", "--offline", "-f", f.to_str().unwrap()]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("virtual_router_id") && err.contains(":4"),
        "{err}"
    );
}

#[test]
fn missing_interface_is_a_host_error_unless_offline() {
    let d = TempDir::new("iface");
    let f = d.write(
        "k.conf",
        &GOOD.replace("interface lo", "interface keelnoif0"),
    );
    let f = f.to_str().unwrap();
    let (code, _, err) = run(&["check", "-f", f]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("keelnoif0"), "{err}");
    let (code, _, _) = run(&["check", "--offline", "-f", f]);
    assert_eq!(code, 0);
}

#[test]
fn missing_script_is_a_host_error() {
    let d = TempDir::new("script");
    let text = format!(
        "global_defs {{\n enable_script_security\n}}\n{}",
        GOOD.replace(
            "priority 100",
            "priority 100\n notify_master \"/nonexistent/notify.sh master\""
        )
    );
    let f = d.write("k.conf", &text);
    let (code, _, err) = run(&["check", "-f", f.to_str().unwrap()]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("/nonexistent/notify.sh"), "{err}");
}

#[test]
fn scripts_without_script_security_exit_six() {
    let (code, _, err) = run(&["check", "-f", &seed("s4-node1.conf")]);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("SECURITY VIOLATION"), "{err}");
}

#[test]
fn keepalived_t_flag_matches_check() {
    let d = TempDir::new("t");
    let f = d.write("k.conf", GOOD);
    let (code, _, _) = run(&["-t", "-f", f.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, _, _) = run(&[&format!("--config-test={}", "/nonexistent/x.conf")]);
    assert_eq!(code, 4);
}

#[test]
fn config_json_has_defaults() {
    let d = TempDir::new("json");
    let f = d.write("k.conf", GOOD);
    let (code, out, _) = run(&["config", "--json", "-f", f.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let inst = &v["vrrp_instances"][0];
    assert_eq!(inst["virtual_router_id"], 51);
    assert_eq!(inst["version"], 2, "keepalived's default vrrp_version");
    assert_eq!(inst["garp_master_repeat"], 5);
}

#[test]
fn seed_configs_check_offline() {
    for name in [
        "s1-node1.conf",
        "s1-node2.conf",
        "s1-node1-oneline.conf",
        "s2-node1.conf",
        "s3-node1.conf",
        "s7-node2.conf",
    ] {
        let (code, _, err) = run(&["check", "--offline", "-f", &seed(name)]);
        assert_eq!(code, 0, "{name}: {err}");
    }
}

#[test]
fn keepalived_flags_are_accepted() {
    let (code, out, _) = run(&["-v"]);
    assert_eq!(code, 0);
    assert!(out.contains("keel"));
    let (code, out, _) = run(&["--signum=RELOAD"]);
    assert_eq!((code, out.trim()), (0, "1"));
    // A typical unit-file command line parses (config test so nothing runs).
    let d = TempDir::new("flags");
    let f = d.write("k.conf", GOOD);
    let (code, _, err) = run(&[
        "-D",
        "-l",
        "-n",
        "-G",
        "-P",
        "-p",
        "/tmp/x.pid",
        "-r",
        "/tmp/y.pid",
        "-c",
        "/tmp/z.pid",
        "-S",
        "0",
        "-t",
        "-f",
        f.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
}

// A valid keepalived keyword keel does not act on is never silent: one line
// naming it with file:line; `--strict` fails on it.
#[test]
fn unimplemented_keyword_is_reported_and_strict_fails() {
    let d = TempDir::new("notimpl");
    let f = d.write(
        "k.conf",
        &format!("global_defs {{\n    vrrp_startup_delay 5\n}}\n{GOOD}"),
    );
    let f = f.to_str().unwrap();
    let line = format!("keel does not implement vrrp_startup_delay ({f}:2); ignored");
    let (code, _, err) = run(&["check", "--offline", "-f", f]);
    assert_eq!(code, 0, "{err}");
    assert!(err.lines().any(|l| l == line), "{err}");
    let (code, _, err) = run(&["check", "--offline", "--strict", "-f", f]);
    assert_eq!(code, 5, "{err}");
    assert!(err.lines().any(|l| l == line), "{err}");
}

/// A VRRP instance on eth0 with `body` added (and `head` before it).
fn eth0(head: &str, body: &str, vip: &str) -> String {
    format!(
        "{head}vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n priority 100\n{body} virtual_ipaddress {{\n {vip}\n }}\n}}\n"
    )
}

// `keel check` exits as keepalived 2.2.7's `-t` does. Each verdict was
// recorded by running `keepalived -t -f` on the same text in a namespace
// with an eth0 (scripts/differential.sh runs the maintainer's corpus).
// Offline: these classes depend on the text only.
#[test]
fn verdicts_match_keepalived_t() {
    let v3 = "global_defs {\n vrrp_version 3\n}\n";
    let cases: Vec<(&str, String, i32)> = vec![
        ("valid", eth0("", "", "192.0.2.1"), 0),
        (
            "unknown keyword",
            eth0("global_defs {\n foo_bar 1\n}\n", "", "192.0.2.1"),
            5,
        ),
        (
            "VRRPv3 interval not a multiple of 10 ms",
            eth0(v3, " advert_int 0.015\n", "192.0.2.1"),
            5,
        ),
        (
            "VRRPv3 interval over 40.95 s",
            eth0(v3, " advert_int 100\n", "192.0.2.1"),
            5,
        ),
        (
            "sync group with one member",
            eth0(
                "vrrp_sync_group G {\n group {\n VI_1\n }\n}\n",
                "",
                "192.0.2.1",
            ),
            5,
        ),
        (
            "track_interface naming the own interface",
            eth0("", " track_interface {\n eth0\n }\n", "192.0.2.1"),
            5,
        ),
        (
            "scope on an IPv6 address",
            eth0("", "", "2001:db8::1 scope link"),
            5,
        ),
        (
            "label on an IPv6 address",
            eth0("", "", "2001:db8::1 label eth0:1"),
            5,
        ),
        (
            "vrrp_iptables",
            eth0("global_defs {\n vrrp_iptables\n}\n", "", "192.0.2.1"),
            5,
        ),
        (
            "same VRID twice on one interface",
            format!(
                "{}{}",
                eth0("", "", "192.0.2.1"),
                eth0("", "", "192.0.2.2").replace("VI_1", "VI_2")
            ),
            5,
        ),
        (
            "instance without a VIP",
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n}\n".to_string(),
            5,
        ),
        (
            "unicast_src_ip without unicast peers",
            eth0("", " unicast_src_ip 192.0.2.3\n", "192.0.2.1"),
            5,
        ),
        (
            "empty unicast_peer block",
            eth0("", " unicast_peer {\n }\n", "192.0.2.1"),
            5,
        ),
        (
            "unicast with use_vmac without vmac_xmit_base",
            eth0(
                "",
                " use_vmac\n unicast_peer {\n 192.0.2.5\n }\n",
                "192.0.2.1",
            ),
            5,
        ),
        (
            "authentication with VRRPv3",
            eth0(
                v3,
                " authentication {\n auth_type PASS\n auth_pass abc\n }\n",
                "192.0.2.1",
            ),
            5,
        ),
        (
            "instance without an interface",
            "vrrp_instance VI_1 {\n virtual_router_id 51\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n"
                .to_string(),
            5,
        ),
        (
            "garp_master_repeat 0",
            eth0("", " garp_master_repeat 0\n", "192.0.2.1"),
            5,
        ),
        (
            "promote_secondaries with use_vmac",
            eth0("", " use_vmac\n promote_secondaries\n", "192.0.2.1"),
            5,
        ),
        (
            "one VMAC name for two instances",
            format!(
                "{}{}",
                eth0("", " use_vmac vrrp.77\n", "192.0.2.1"),
                eth0("", " use_vmac vrrp.77\n", "192.0.2.2")
                    .replace("VI_1", "VI_2")
                    .replace("virtual_router_id 51", "virtual_router_id 52")
            ),
            5,
        ),
        (
            "empty notification_email block",
            eth0("global_defs {\n notification_email {\n }\n}\n", "", "192.0.2.1"),
            5,
        ),
        (
            "extra closing brace",
            format!("{}}}\n", eth0("", "", "192.0.2.1")),
            5,
        ),
        (
            "block never closed",
            eth0("", "", "192.0.2.1")
                .trim_end()
                .trim_end_matches('}')
                .to_string(),
            5,
        ),
        (
            "alpha with a value on a virtual_server",
            "virtual_server 192.0.2.1 80 {\n delay_loop 6\n lb_algo rr\n lb_kind DR\n \
             protocol TCP\n alpha 1\n omega 1\n real_server 192.0.2.2 80 {\n TCP_CHECK {\n \
             connect_timeout 3\n }\n }\n}\n"
                .to_string(),
            0,
        ),
    ];
    let d = TempDir::new("verdicts");
    for (i, (what, text, keepalived)) in cases.iter().enumerate() {
        let f = d.write(&format!("v{i}.conf"), text);
        let (code, _, err) = run(&["check", "--offline", "-f", f.to_str().unwrap()]);
        assert_eq!(
            code, *keepalived,
            "{what}: keepalived -t exits {keepalived}\n{err}"
        );
    }
}

// The host side of the verdict (not --offline), also recorded from
// keepalived 2.2.7's -t: a script_user that does not exist is an error; a
// script that does not exist only disables it (and, disabled, it does not
// count toward the script-security verdict) unless VRRP runs: a vrrp_script
// keepalived disables is an error;
// the script-security verdict (6) wins over config errors (5). (keepalived
// also refuses a loopback interface, keel does not: `lo` here stands for
// the host's interface.)
#[test]
fn host_verdicts_match_keepalived_t() {
    let d = TempDir::new("hostverdicts");
    let cases = [
        (
            "script_user that does not exist",
            "global_defs {\n script_user no_such_user_keel\n}\nvrrp_script chk {\n script /bin/true\n}\n",
            5,
        ),
        (
            "missing script",
            "vrrp_script chk {\n script /nonexistent/keel-check.sh\n}\n",
            0,
        ),
        (
            "missing script of a vrrp_script while VRRP runs",
            "vrrp_script chk {\n script /nonexistent/keel-check.sh\n}\nvrrp_instance VI_1 {\n \
             interface lo\n virtual_router_id 51\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
            5,
        ),
        (
            "net_namespace: the host's interfaces and scripts are not checked",
            "net_namespace keel_no_such_ns\nvrrp_script chk {\n script /nonexistent/x.sh\n}\n\
             vrrp_instance VI_1 {\n interface keel_no_if9\n virtual_router_id 51\n \
             track_script {\n chk\n }\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
            0,
        ),
        (
            "notify_fifo_script runs as root without script security",
            "global_defs {\n notify_fifo /tmp/keel-check-test.fifo\n notify_fifo_script /bin/true\n}\n\
             vrrp_instance VI_1 {\n interface lo\n virtual_router_id 51\n \
             virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
            6,
        ),
        (
            "scripts but nothing that runs them",
            "global_defs {\n notify_fifo /tmp/keel-check-test.fifo\n notify_fifo_script /bin/true\n}\n",
            0,
        ),
        (
            "script security is reported over config errors",
            "global_defs {\n foo_bar 1\n}\nvrrp_script chk {\n script /bin/true\n}\n\
             vrrp_instance VI_1 {\n interface lo\n virtual_router_id 51\n track_script {\n \
             chk\n }\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
            6,
        ),
    ];
    for (i, (what, text, keepalived)) in cases.iter().enumerate() {
        let f = d.write(&format!("h{i}.conf"), text);
        let (code, _, err) = run(&["check", "-f", f.to_str().unwrap()]);
        assert_eq!(
            code, *keepalived,
            "{what}: keepalived -t exits {keepalived}\n{err}"
        );
    }
}
