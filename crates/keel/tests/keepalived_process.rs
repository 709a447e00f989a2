//! keel as a drop-in for the keepalived process on real interfaces: every
//! signal of `keepalived --signum=NAME`, the JSON dump exporters read,
//! detaching without `-n`, and `-s` (run inside a named network namespace).

mod vrrp_common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vrrp_common::*;

const S: Duration = Duration::from_secs(1);

fn conf(name: &str, vip: &str) -> String {
    format!(
        "global_defs {{\n    router_id one\n    vrrp_version 3\n}}\nvrrp_instance {name} {{\n    state BACKUP\n    \
         interface eth0\n    virtual_router_id 51\n    priority 100\n    advert_int 0.1\n    \
         virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
    )
}

/// The number `keel --signum=NAME` prints.
fn signum(name: &str) -> i32 {
    let out = Command::new(keel_bin())
        .arg(format!("--signum={name}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "--signum={name}");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn send(pid: u32, num: i32) {
    let st = Command::new("kill")
        .args([&format!("-{num}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -{num} {pid}");
}

/// The JSON dump's entry for `name`, once the file has one.
fn json_entry(name: &str, timeout: Duration) -> serde_json::Value {
    let mut found = None;
    let ok = wait_until(timeout, Duration::from_millis(20), || {
        let Ok(text) = std::fs::read_to_string("/tmp/keepalived.json") else {
            return false;
        };
        let Ok(serde_json::Value::Array(v)) = serde_json::from_str(&text) else {
            return false;
        };
        found = v.into_iter().find(|e| e["data"]["iname"] == name);
        found.is_some()
    });
    assert!(ok, "no JSON dump for {name}");
    found.unwrap()
}

// Each keepalived signal, sent by the number `keel --signum` prints, is
// handled: the daemon stays up and keeps its VIP; JSON writes keepalived's
// dump and STATS_CLEAR zeroes the counters it shows; STOP stops.
#[test]
fn every_keepalived_signal_is_handled() {
    let t = topo("sigs");
    let name = format!("VI_SIG_{}", std::process::id());
    let vip = "192.0.2.131";
    let one = Daemon::start(&t.lab, &t.one, &conf(&name, vip));
    one.wait_vip(vip, true, 3 * S);
    let pid = one.proc.pid();
    for sig in ["RELOAD", "DATA", "STATS", "TDATA", "JSON"] {
        send(pid, signum(sig));
        std::thread::sleep(Duration::from_millis(300));
        assert!(one.is_running(), "keel died on {sig}:\n{}", one.log());
        assert!(one.has_vip(vip), "VIP lost after {sig}:\n{}", one.log());
    }

    let _ = std::fs::remove_file("/tmp/keepalived.json");
    std::thread::sleep(S);
    send(pid, signum("JSON"));
    let e = json_entry(&name, 3 * S);
    let d = &e["data"];
    assert_eq!(d["state"], 2, "MASTER is 2: {e}");
    assert_eq!(d["wantstate"], 2);
    assert_eq!(d["vrid"], 51);
    assert_eq!(d["ifp_ifname"], "eth0");
    assert_eq!(d["base_priority"], 100);
    assert_eq!(d["effective_priority"], 100);
    assert_eq!(d["vipset"], true);
    assert_eq!(d["adver_int"], 0.1);
    assert!(d["vips"][0].as_str().unwrap().starts_with(vip), "vips: {e}");
    let sent = e["stats"]["advert_sent"].as_u64().unwrap();
    assert!(sent >= 5, "adverts in a second at 0.1 s: {e}");
    for k in [
        "advert_rcvd",
        "become_master",
        "release_master",
        "packet_len_err",
        "advert_interval_err",
        "ip_ttl_err",
        "invalid_type_rcvd",
        "addr_list_err",
        "invalid_authtype",
        "authtype_mismatch",
        "auth_failure",
        "pri_zero_rcvd",
        "pri_zero_sent",
    ] {
        assert!(e["stats"][k].is_u64(), "stats.{k}: {e}");
    }
    assert_eq!(e["stats"]["become_master"], 1);

    send(pid, signum("STATS_CLEAR"));
    std::thread::sleep(Duration::from_millis(100));
    let _ = std::fs::remove_file("/tmp/keepalived.json");
    send(pid, signum("JSON"));
    let e = json_entry(&name, 3 * S);
    let after = e["stats"]["advert_sent"].as_u64().unwrap();
    assert!(
        after < sent,
        "STATS_CLEAR did not zero: {sent} then {after}"
    );
    assert_eq!(e["stats"]["become_master"], 0, "{e}");
    assert!(one.has_vip(vip));

    send(pid, signum("STOP"));
    assert!(one.proc.wait_timeout(5 * S).unwrap().is_some(), "STOP");
    assert!(!one.has_vip(vip), "VIP left behind after STOP");
}

// A keyword keel does not act on is logged at start, one line with file:line.
#[test]
fn daemon_logs_unimplemented_keywords() {
    let t = topo("notimpl");
    let text = conf("VI_NI", "192.0.2.134").replace(
        "    vrrp_version 3\n",
        "    vrrp_version 3\n    vrrp_gna_interval 1\n",
    );
    let one = Daemon::start(&t.lab, &t.one, &text);
    one.wait_log(
        &format!(
            "keel does not implement vrrp_gna_interval ({}:4); ignored",
            one.conf.display()
        ),
        3 * S,
    );
    assert!(one.is_running());
}

/// Kills a daemon that detached from the lab's process tracking.
struct Detached(Option<u32>);
impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(pid) = self.0.filter(|p| alive(*p)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

// Without -n keel detaches as keepalived does: the started process exits 0,
// the daemon runs on in a new session and writes its own pid files.
#[test]
fn detaches_without_n() {
    let t = topo("fork");
    let vip = "192.0.2.132";
    let c = t.lab.dir().join("fork.conf");
    std::fs::write(&c, conf("VI_FORK", vip)).unwrap();
    let main_pid = t.lab.dir().join("fork.main.pid");
    let vrrp_pid = t.lab.dir().join("fork.vrrp.pid");
    let (c_s, m_s, v_s) = (
        c.to_string_lossy().into_owned(),
        main_pid.to_string_lossy().into_owned(),
        vrrp_pid.to_string_lossy().into_owned(),
    );
    let starter = t
        .one
        .spawn(
            &keel_bin(),
            &["-l", "-G", "-P", "-f", &c_s, "-p", &m_s, "-r", &v_s],
        )
        .unwrap();
    let st = starter.wait_timeout(5 * S).unwrap();
    assert_eq!(
        st.and_then(|s| s.code()),
        Some(0),
        "the starting process exits 0 at once"
    );
    let mut pid = None;
    let ok = wait_until(3 * S, Duration::from_millis(20), || {
        pid = std::fs::read_to_string(&main_pid)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        pid.is_some()
    });
    assert!(ok, "no pid file {}", main_pid.display());
    let pid = pid.unwrap();
    let _guard = Detached(Some(pid));
    assert_ne!(pid, starter.pid(), "the pid file names the daemon");
    assert!(alive(pid));
    let vrrp = std::fs::read_to_string(&vrrp_pid).unwrap();
    assert_eq!(vrrp.trim().parse::<u32>().unwrap(), pid);
    // A new session: the daemon leads it.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields[3], pid.to_string(), "session id: {stat}");
    let up = wait_until(3 * S, Duration::from_millis(20), || {
        t.one.has_addr(ip(vip)).unwrap()
    });
    assert!(up, "the detached daemon took the VIP");

    send(pid, signum("STOP"));
    assert!(
        wait_until(5 * S, Duration::from_millis(20), || !alive(pid)),
        "daemon did not stop"
    );
    assert!(!t.one.has_addr(ip(vip)).unwrap());
    assert!(!main_pid.exists(), "pid file removed at stop");
}

// -s NAME: keel started in another namespace runs VRRP in NAME.
#[test]
fn namespace_flag_runs_inside_it() {
    let t = topo("netns");
    let vip = "192.0.2.133";
    let c = t.lab.dir().join("ns.conf");
    std::fs::write(&c, conf("VI_NS", vip)).unwrap();
    let stem = t.lab.dir().join("ns");
    let p = |k: &str| format!("{}.{k}.pid", stem.display());
    let (c_s, p1, p2) = (c.to_string_lossy().into_owned(), p("main"), p("vrrp"));
    // Started in the client's namespace, told to run in node one's.
    let proc = t
        .client
        .spawn(
            &keel_bin(),
            &[
                "-n",
                "-l",
                "-G",
                "-P",
                "-s",
                t.one.netns(),
                "-f",
                &c_s,
                "-p",
                &p1,
                "-r",
                &p2,
            ],
        )
        .unwrap();
    let up = wait_until(3 * S, Duration::from_millis(20), || {
        t.one.has_addr(ip(vip)).unwrap()
    });
    assert!(
        up,
        "VIP not on node one: {}",
        proc.stderr().unwrap_or_default()
    );
    assert!(!t.client.has_addr(ip(vip)).unwrap());
    proc.kill(LabSignal::SIGTERM).unwrap();
    assert!(proc.wait_timeout(5 * S).unwrap().is_some());
}
