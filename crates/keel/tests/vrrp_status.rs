//! `keel status` against running daemons (seed scenario S8: the daemon's
//! state can be inspected): the VRRP state file each daemon writes
//! (KEEL_VRRP_STATE, one per daemon so tests run in parallel) read back by
//! `keel status` inside the node's namespace.

mod vrrp_common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use vrrp_common::*;

const S: Duration = Duration::from_secs(1);

fn state_file(t: &Topo, node: &str) -> PathBuf {
    t.lab.dir().join(format!("{node}-vrrp.json"))
}

fn start(t: &Topo, node: &Node, conf: &str, state: &Path) -> Daemon {
    let state = state.to_string_lossy().into_owned();
    // No load balancer here: point its state file where nothing is.
    let lvs = format!("{state}.lvs");
    Daemon::start_env(
        &t.lab,
        node,
        conf,
        Impl::Keel,
        &[("KEEL_VRRP_STATE", &state), ("KEEL_LVS_STATE", &lvs)],
    )
}

fn keel_status(node: &Node, state: &Path, json: bool) -> Output {
    let env = format!("KEEL_VRRP_STATE={}", state.display());
    let lvs = format!("KEEL_LVS_STATE={}.lvs", state.display());
    let bin = keel_bin();
    let mut args = vec![env.as_str(), lvs.as_str(), bin.as_str(), "status"];
    if json {
        args.push("--json");
    }
    node.exec("env", &args).unwrap()
}

fn text(node: &Node, state: &Path) -> String {
    let out = keel_status(node, state, false);
    assert_eq!(
        out.status.code(),
        Some(0),
        "keel status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The first instance of `keel status --json`, if it reports one.
fn try_instance(node: &Node, state: &Path) -> Option<Value> {
    let out = keel_status(node, state, true);
    if out.status.code() != Some(0) {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(v["vrrp"]["instances"][0].clone())
}

fn instance(node: &Node, state: &Path) -> Value {
    try_instance(node, state).expect("keel status --json failed")
}

/// Polls `keel status --json` until `cond` holds for the first instance.
fn wait_instance(node: &Node, state: &Path, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(5 * S, Duration::from_millis(100), || {
        last = try_instance(node, state).unwrap_or(Value::Null);
        cond(&last)
    });
    assert!(ok, "{what} not reported; last status: {last:#}");
    last
}

// Master and backup report their state, priorities, VIPs and (for the
// backup) the master's address; SIGTERM removes the file and `keel status`
// then exits 3.
#[test]
fn master_and_backup_report_their_state() {
    let t = topo("st-s1");
    let (f1, f2) = (state_file(&t, "one"), state_file(&t, "two"));
    let one = start(&t, &t.one, &seed("s1-node1", &[]), &f1);
    let two = start(&t, &t.two, &seed("s1-node2", &[]), &f2);
    one.wait_vip("192.0.2.111", true, 6 * S);
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE (init)", S);

    let m = wait_instance(&t.one, &f1, "MASTER with VIPs set", |i| {
        i["state"] == "MASTER" && i["vips_installed"] == true
    });
    assert_eq!(m["name"], "VI_1");
    assert_eq!(m["interface"], "eth0");
    assert_eq!(m["vrid"], 101);
    assert_eq!(m["version"], 2);
    assert_eq!(m["effective_priority"], 100);
    assert_eq!(m["base_priority"], 100);
    assert_eq!(m["advert_interval_ms"], 1000);
    assert_eq!(m["vips"][0]["addr"], "192.0.2.111");
    assert!(
        m["master_ip"].is_null(),
        "a MASTER has no other master: {m:#}"
    );
    assert!(m["counters"]["became_master"].as_u64().unwrap() >= 1);
    let b = wait_instance(&t.two, &f2, "BACKUP hearing node one", |i| {
        i["state"] == "BACKUP" && i["master_ip"] == "192.0.2.3"
    });
    assert_eq!(b["effective_priority"], 90);
    assert_eq!(b["vips_installed"], false);
    // Counters refresh at least once a second.
    let got_adverts = wait_until(4 * S, Duration::from_millis(200), || {
        instance(&t.two, &f2)["counters"]["adverts_received"]
            .as_u64()
            .unwrap()
            >= 2
    });
    assert!(got_adverts, "received adverts not counted");

    let tm = text(&t.one, &f1);
    assert!(
        tm.contains("VRRP_Instance(VI_1) eth0 vrid 101 v2  MASTER  prio 100 (base 100)  advert 1s  VIPs 192.0.2.111/32 (set)  since "),
        "{tm}"
    );
    let tb = text(&t.two, &f2);
    assert!(
        tb.contains("VRRP_Instance(VI_1) eth0 vrid 101 v2  BACKUP master 192.0.2.3  prio 90 (base 90)  advert 1s  VIPs 192.0.2.111/32 (not set)  since "),
        "{tb}"
    );
    assert!(!tb.contains("Load balancer"), "{tb}");

    one.stop();
    assert!(!f1.exists(), "state file left after SIGTERM");
    let out = keel_status(&t.one, &f1, false);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keel is not running"));
    // Node two took over and says so.
    wait_instance(&t.two, &f2, "node two MASTER", |i| i["state"] == "MASTER");
}

// S4's vrrp_script failing lowers the effective priority (100 - 5) and the
// tracker shows as failed; the script passing again restores both.
#[test]
fn script_failure_shows_in_priority_and_tracker() {
    let t = topo("st-s4");
    let flag = t.lab.dir().join("down");
    let flag_s = flag.to_string_lossy().into_owned();
    let f1 = state_file(&t, "one");
    let one = start(
        &t,
        &t.one,
        &seed("s4-node1", &[("/etc/keepalived/down", &flag_s)]),
        &f1,
    );
    one.wait_vip("192.0.2.166", true, 6 * S);
    let i = wait_instance(&t.one, &f1, "script ok", |i| {
        i["trackers"][0]["status"] == "ok"
    });
    assert_eq!(i["trackers"][0]["kind"], "script");
    assert_eq!(i["trackers"][0]["name"], "chk_down");
    assert_eq!(i["trackers"][0]["weight"], -5);
    assert_eq!(i["effective_priority"], 100);

    std::fs::write(&flag, "").unwrap();
    let i = wait_instance(&t.one, &f1, "script failure", |i| {
        i["trackers"][0]["status"] == "failed"
    });
    assert_eq!(i["effective_priority"], 95);
    assert_eq!(i["base_priority"], 100);
    let tx = text(&t.one, &f1);
    assert!(tx.contains("prio 95 (base 100)"), "{tx}");
    assert!(
        tx.contains("  track script chk_down  failed  weight -5"),
        "{tx}"
    );

    std::fs::remove_file(&flag).unwrap();
    wait_instance(&t.one, &f1, "script recovery", |i| {
        i["trackers"][0]["status"] == "ok" && i["effective_priority"] == 100
    });
    assert!(one.is_running());
}

// A SIGKILLed daemon cannot remove its file: `keel status` sees the dead
// pid and exits 3 rather than showing stale state.
#[test]
fn stale_file_of_a_killed_daemon_is_not_running() {
    let t = topo("st-kill");
    let f1 = state_file(&t, "one");
    let one = start(&t, &t.one, &seed("s1-node1", &[]), &f1);
    wait_instance(&t.one, &f1, "MASTER", |i| i["state"] == "MASTER");
    one.signal(LabSignal::SIGKILL);
    assert!(one.proc.wait_timeout(2 * S).unwrap().is_some());
    assert!(f1.exists());
    let out = keel_status(&t.one, &f1, true);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is dead"), "{err}");
}
