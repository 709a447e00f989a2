//! Safe by default, end to end with the `keel` binary in lab namespaces:
//! every kind of script runs as the user keepalived's rules give it, with a
//! clean environment; `enable_script_security` refuses a script others can
//! write; an unknown user disables a script instead of running it as root;
//! symlinks and FIFOs planted at the paths keel writes leave their targets
//! untouched and the adverts flowing.

mod vrrp_common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vrrp_common::*;

const S: Duration = Duration::from_secs(1);
const VIP: &str = "192.0.2.111";
/// The PATH keel gives scripts (keel_daemon::script::SCRIPT_PATH).
const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Set in the daemon's environment; no script may see it.
const LEAK: &str = "KEEL_TEST_SECRET";

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A root-owned `bin/rec` that records who ran it, and a world-writable
/// (sticky) `out/` it records into: `out/KIND` holds `uid=N gid=N groups=..`
/// and the sorted environment.
fn recorder(lab: &Lab) -> (PathBuf, PathBuf) {
    let bin = lab.dir().join("bin");
    let out = lab.dir().join("out");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    set_mode(lab.dir(), 0o755);
    set_mode(&bin, 0o755);
    set_mode(&out, 0o1777);
    let rec = bin.join("rec");
    std::fs::write(
        &rec,
        format!(
            "#!/bin/sh\nf={out}/$1\n{{ echo \"uid=$(id -u) gid=$(id -g) groups=$(id -G)\"; env | sort; }} > \"$f.$$\" && mv \"$f.$$\" \"$f\"\nexit 0\n",
            out = out.display()
        ),
    )
    .unwrap();
    set_mode(&rec, 0o755);
    (rec, out)
}

struct Keel {
    proc: keel_lab::LabProcess,
}

impl Keel {
    /// `keel -n -l -D -G -f conf` in `node`'s namespace with `env` and extra
    /// arguments; pid files and state files in the lab directory.
    fn start(lab: &Lab, node: &Node, conf: &str, env: &[(&str, String)], extra: &[&str]) -> Keel {
        let stem = lab.dir().join(node.name());
        let conf_path = stem.with_extension("conf");
        std::fs::write(&conf_path, conf).unwrap();
        let p = |k: &str| stem.with_extension(k).to_string_lossy().into_owned();
        let mut args: Vec<String> = vec![format!("{LEAK}=leaked")];
        args.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        args.push(keel_bin());
        for a in ["-n", "-l", "-D", "-G", "-f"] {
            args.push(a.to_string());
        }
        args.push(conf_path.to_string_lossy().into_owned());
        for (flag, k) in [("-p", "main.pid"), ("-r", "vrrp.pid"), ("-c", "chk.pid")] {
            args.push(flag.to_string());
            args.push(p(k));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Keel {
            proc: node.spawn("env", &refs).unwrap(),
        }
    }

    fn log(&self) -> String {
        self.proc.stderr().unwrap_or_default()
    }

    fn wait_log(&self, needle: &str, timeout: Duration) {
        let ok = wait_until(timeout, Duration::from_millis(20), || {
            self.log().contains(needle)
        });
        assert!(ok, "no {needle:?} in:\n{}", self.log());
    }
}

/// What a recorded run saw: the `id` line and the environment.
fn record(out: &Path, kind: &str, timeout: Duration) -> (String, Vec<(String, String)>) {
    let f = out.join(kind);
    let ok = wait_until(timeout, Duration::from_millis(50), || f.exists());
    assert!(ok, "script kind {kind} never ran");
    let text = std::fs::read_to_string(&f).unwrap();
    let mut lines = text.lines();
    let id = lines.next().unwrap_or("").to_string();
    let env = lines
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (id, env)
}

fn assert_ran_as(out: &Path, kind: &str, uid: u32, gid: u32, user: &str, home: &str) {
    let (id, env) = record(out, kind, 15 * S);
    // Supplementary groups are dropped: only the primary group is left.
    assert_eq!(id, format!("uid={uid} gid={gid} groups={gid}"), "{kind}");
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("PATH"), Some(SCRIPT_PATH), "{kind}: {env:?}");
    assert_eq!(get("USER"), Some(user), "{kind}: {env:?}");
    assert_eq!(get("LOGNAME"), Some(user), "{kind}: {env:?}");
    assert_eq!(get("HOME"), Some(home), "{kind}: {env:?}");
    assert_eq!(
        get(LEAK),
        None,
        "{kind} saw the daemon's environment: {env:?}"
    );
    assert_eq!(get("KEEL_LVS_STATE"), None, "{kind}: {env:?}");
}

// Every script kind (vrrp_script, notify_master, generic notify,
// notify_fifo_script, vrrp_notify_fifo_script, lvs_notify_fifo_script,
// MISC_CHECK, real server notify_up, quorum_up, startup_script and
// shutdown_script) runs as its user: its own
// `user`, else `script_user`, with keepalived's clean environment.
#[test]
fn every_script_kind_runs_as_its_user_with_a_clean_environment() {
    let lab = Lab::new("scrusr").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let (rec, out) = recorder(&lab);
    let rec = rec.display();
    let fifo = |n: &str| lab.dir().join(n).display().to_string();
    let conf = format!(
        "global_defs {{
    router_id one
    script_user nobody
    keel_lvs_backend nftables
    notify_fifo {nf}
    notify_fifo_script \"{rec} notify_fifo_script\"
    vrrp_notify_fifo {vf}
    vrrp_notify_fifo_script \"{rec} vrrp_notify_fifo_script\" daemon
    lvs_notify_fifo {lf}
    lvs_notify_fifo_script \"{rec} lvs_notify_fifo_script\"
    startup_script \"{rec} startup_script\" daemon
    shutdown_script \"{rec} shutdown_script\"
    shutdown_script_timeout 5
}}
vrrp_script chk {{
    script \"{rec} vrrp_script\"
    interval 1
    user daemon
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 0.1
    track_script {{
        chk
    }}
    notify_master \"{rec} notify_master\"
    notify \"{rec} notify\" daemon daemon
    virtual_ipaddress {{
        {VIP}
    }}
}}
virtual_server 192.0.2.144 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    alpha
    quorum_up \"{rec} quorum_up\"
    real_server 192.0.2.3 80 {{
        notify_up \"{rec} notify_up\" daemon
        MISC_CHECK {{
            misc_path \"{rec} misc_check\"
            misc_timeout 5
        }}
        delay_loop 1
    }}
}}
",
        nf = fifo("notify.fifo"),
        vf = fifo("vrrp.fifo"),
        lf = fifo("lvs.fifo"),
    );
    let lvs_state = lab.dir().join("lvs.json").display().to_string();
    let vrrp_state = lab.dir().join("vrrp.json").display().to_string();
    // The state file's old fixed temp name, planted as a link: the writer
    // uses unpredictable names and never follows one.
    let precious = lab.dir().join("precious");
    std::fs::write(&precious, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&precious, lab.dir().join("lvs.json.tmp")).unwrap();
    let k = Keel::start(
        &lab,
        &one,
        &conf,
        &[
            ("KEEL_LVS_STATE", lvs_state),
            ("KEEL_VRRP_STATE", vrrp_state),
        ],
        &[],
    );
    k.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", 10 * S);
    let nobody = ("nobody", "/nonexistent", 65534, 65534);
    let daemon = ("daemon", "/usr/sbin", 1, 1);
    for (kind, (user, home, uid, gid)) in [
        ("vrrp_script", daemon),
        ("notify_master", nobody),
        ("notify", daemon),
        ("notify_fifo_script", nobody),
        ("vrrp_notify_fifo_script", daemon),
        ("lvs_notify_fifo_script", nobody),
        ("misc_check", nobody),
        ("notify_up", daemon),
        ("quorum_up", nobody),
        ("startup_script", daemon),
    ] {
        assert_ran_as(&out, kind, uid, gid, user, home);
    }
    let state = lab.dir().join("lvs.json");
    let written = wait_until(5 * S, Duration::from_millis(50), || {
        std::fs::read_to_string(&state).is_ok_and(|s| s.contains("192.0.2.144"))
    });
    assert!(written, "no LVS state file");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me\n");
    k.proc.kill(LabSignal::SIGTERM).unwrap();
    assert!(
        k.proc.wait_timeout(10 * S).unwrap().is_some(),
        "keel did not stop"
    );
    let (user, home, uid, gid) = nobody;
    assert_ran_as(&out, "shutdown_script", uid, gid, user, home);
    // Nothing here runs as root, so no script is insecure.
    assert!(
        !k.log().contains("There are insecure scripts"),
        "{}",
        k.log()
    );
}

/// uid, primary gid and all groups of `user` from `id`, if it exists.
fn id_of(user: &str) -> Option<(u32, u32, String)> {
    let q = |flag: &str| {
        let o = std::process::Command::new("id")
            .arg(flag)
            .arg(user)
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    Some((q("-u")?.parse().ok()?, q("-g")?.parse().ok()?, q("-G")?))
}

// Supplementary groups are dropped unless `set_supplementary_groups` asks
// for the user's own (initgroups), which are then set before gid and uid.
#[test]
fn supplementary_groups_only_with_set_supplementary_groups() {
    // A user with a supplementary group: postgres (in ssl-cert) where
    // installed; elsewhere there is nothing to show.
    let user = "postgres";
    let Some((uid, gid, all)) = id_of(user).filter(|(_, _, g)| g.contains(' ')) else {
        eprintln!("no user with supplementary groups here; skipped");
        return;
    };
    let lab = Lab::new("scrgrp").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let (rec, out) = recorder(&lab);
    let conf = |extra: &str| {
        format!(
            "global_defs {{
    router_id one
    script_user {user}
    {extra}
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    notify_backup \"{rec} notify_backup\"
    virtual_ipaddress {{
        {VIP}
    }}
}}
",
            rec = rec.display()
        )
    };
    for (extra, groups) in [
        ("", gid.to_string()),
        ("set_supplementary_groups", all.clone()),
    ] {
        let _ = std::fs::remove_file(out.join("notify_backup"));
        let k = Keel::start(&lab, &one, &conf(extra), &[], &[]);
        let (id, _) = record(&out, "notify_backup", 10 * S);
        let mut want: Vec<&str> = groups.split(' ').collect();
        want.sort();
        let line = format!("uid={uid} gid={gid} groups=");
        assert!(id.starts_with(&line), "{extra}: {id}");
        let mut got: Vec<&str> = id[line.len()..].split(' ').collect();
        got.sort();
        assert_eq!(got, want, "{extra}: {id}");
        k.proc.kill(LabSignal::SIGTERM).unwrap();
        let _ = k.proc.wait_timeout(5 * S);
    }
}

// enable_script_security: a root script in a file its (non-root) group may
// write is refused with keepalived's wording and never run; its tracking
// counts as failed (FAULT), not as ignored.
#[test]
fn group_writable_script_is_refused_under_script_security() {
    let lab = Lab::new("scrsec").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let (rec, out) = recorder(&lab);
    let bad = lab.dir().join("bin").join("bad");
    std::fs::copy(&rec, &bad).unwrap();
    std::os::unix::fs::chown(&bad, Some(0), Some(65534)).unwrap();
    set_mode(&bad, 0o775);
    let conf = format!(
        "global_defs {{
    router_id one
    enable_script_security
    script_user root
}}
vrrp_script chk {{
    script \"{bad} vrrp_script\"
    interval 1
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 0.1
    track_script {{
        chk
    }}
    notify_master \"{bad} notify_master\"
    virtual_ipaddress {{
        {VIP}
    }}
}}
",
        bad = bad.display()
    );
    let k = Keel::start(&lab, &one, &conf, &[], &[]);
    k.wait_log(
        &format!(
            "Unsafe permissions found for script '{}' - disabling.",
            bad.display()
        ),
        5 * S,
    );
    k.wait_log("SECURITY VIOLATION - script", S);
    k.wait_log("VRRP_Instance(VI_1) Entering FAULT STATE", 5 * S);
    std::thread::sleep(2 * S);
    assert!(!out.join("vrrp_script").exists(), "refused script ran");
    assert!(!out.join("notify_master").exists(), "refused script ran");
    assert!(!k.log().contains("Entering MASTER STATE"), "{}", k.log());
}

// Paths are checked again at reload: a script someone made group-writable
// since the start is refused from then on.
#[test]
fn script_made_unsafe_is_refused_at_reload() {
    let lab = Lab::new("scrrel").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let (rec, out) = recorder(&lab);
    let script = lab.dir().join("bin").join("chk");
    std::fs::copy(&rec, &script).unwrap();
    set_mode(&script, 0o755);
    let conf = format!(
        "global_defs {{
    router_id one
    enable_script_security
    script_user root
}}
vrrp_script chk {{
    script \"{s} vrrp_script\"
    interval 1
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    track_script {{
        chk
    }}
    virtual_ipaddress {{
        {VIP}
    }}
}}
",
        s = script.display()
    );
    let k = Keel::start(&lab, &one, &conf, &[], &[]);
    let (id, _) = record(&out, "vrrp_script", 10 * S);
    assert!(id.starts_with("uid=0 gid=0"), "{id}");
    std::os::unix::fs::chown(&script, Some(0), Some(65534)).unwrap();
    set_mode(&script, 0o775);
    k.proc.kill(LabSignal::SIGHUP).unwrap();
    k.wait_log(
        &format!(
            "Unsafe permissions found for script '{}' - disabling.",
            script.display()
        ),
        5 * S,
    );
    k.wait_log("VRRP_Instance(VI_1) Entering FAULT STATE", 5 * S);
    std::fs::remove_file(out.join("vrrp_script")).unwrap();
    std::thread::sleep(3 * S);
    assert!(
        !out.join("vrrp_script").exists(),
        "refused script ran after reload"
    );
}

// Without enable_script_security the same script runs, with keepalived's
// warnings.
#[test]
fn unsafe_script_without_script_security_is_warned_about() {
    let lab = Lab::new("scrwarn").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let (rec, out) = recorder(&lab);
    let bad = lab.dir().join("bin").join("bad");
    std::fs::copy(&rec, &bad).unwrap();
    std::os::unix::fs::chown(&bad, Some(0), Some(65534)).unwrap();
    set_mode(&bad, 0o775);
    let conf = format!(
        "global_defs {{
    router_id one
    script_user root
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 0.1
    notify_master \"{bad} notify_master\"
    virtual_ipaddress {{
        {VIP}
    }}
}}
",
        bad = bad.display()
    );
    let k = Keel::start(&lab, &one, &conf, &[], &[]);
    k.wait_log(
        &format!("Unsafe permissions found for script '{}'.", bad.display()),
        5 * S,
    );
    k.wait_log(
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled. There are insecure scripts.",
        S,
    );
    let (id, _) = record(&out, "notify_master", 10 * S);
    assert!(id.starts_with("uid=0 gid=0"), "{id}");
}

// A user that does not exist disables the script; it never runs as root.
#[test]
fn unknown_user_disables_the_script() {
    let lab = Lab::new("scrunk").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let (rec, out) = recorder(&lab);
    let conf = format!(
        "global_defs {{
    router_id one
}}
vrrp_script chk {{
    script \"{rec} vrrp_script\"
    interval 1
    weight 10
    user no-such-user-keel
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 0.1
    track_script {{
        chk
    }}
    notify_master \"{rec} notify_master\" no-such-user-keel
    notify_backup \"{rec} notify_backup\"
    virtual_ipaddress {{
        {VIP}
    }}
}}
",
        rec = rec.display()
    );
    let k = Keel::start(&lab, &one, &conf, &[], &[]);
    k.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", 10 * S);
    // The script without a bad user still runs (as root: no
    // keepalived_script user here), so scripts are not all off.
    let (id, _) = record(&out, "notify_backup", 10 * S);
    assert!(id.starts_with("uid=0 "), "{id}");
    std::thread::sleep(2 * S);
    assert!(
        !out.join("vrrp_script").exists(),
        "ran with an unknown user"
    );
    assert!(
        !out.join("notify_master").exists(),
        "ran with an unknown user"
    );
    assert!(
        k.log().contains("no-such-user-keel") && k.log().contains("disabl"),
        "{}",
        k.log()
    );
}

// `-u` and global_defs `umask` set the mask keel and its scripts create
// files with; `-u` wins.
#[test]
fn umask_flag_and_config_umask_apply() {
    let lab = Lab::new("scrumask").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let (rec, out) = recorder(&lab);
    let conf = |umask: &str| {
        format!(
            "global_defs {{
    router_id one
    script_user root
    {umask}
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    notify_backup \"{rec} notify_backup\"
    virtual_ipaddress {{
        {VIP}
    }}
}}
",
            rec = rec.display()
        )
    };
    let mode = |f: &Path| std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
    for (umask_line, flag, want) in [
        ("umask 0027", None, 0o640),
        ("umask 0027", Some("--umask=077"), 0o600),
        ("umask IWGRP|IWOTH", None, 0o644),
    ] {
        let _ = std::fs::remove_file(out.join("notify_backup"));
        let extra: Vec<&str> = flag.into_iter().collect();
        let k = Keel::start(&lab, &one, &conf(umask_line), &[], &extra);
        record(&out, "notify_backup", 10 * S);
        assert_eq!(
            mode(&out.join("notify_backup")),
            want,
            "{umask_line} {flag:?}"
        );
        k.proc.kill(LabSignal::SIGTERM).unwrap();
        let _ = k.proc.wait_timeout(5 * S);
    }
}

fn plant_symlink(at: &Path, target: &Path) {
    let _ = std::fs::remove_file(at);
    std::os::unix::fs::symlink(target, at).unwrap();
}

fn plant_fifo(at: &Path) {
    let _ = std::fs::remove_file(at);
    let st = std::process::Command::new("mkfifo")
        .arg("-m")
        .arg("0666")
        .arg(at)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Puts back whatever was at a shared /tmp path when the test ends.
struct Restore(PathBuf, Option<PathBuf>);

impl Restore {
    fn new(path: &str) -> Restore {
        let p = PathBuf::from(path);
        let saved = p.with_extension(format!("saved.{}", std::process::id()));
        let had = std::fs::rename(&p, &saved).is_ok();
        Restore(p, had.then_some(saved))
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(s) = &self.1 {
            let _ = std::fs::rename(s, &self.0);
        }
    }
}

// Symlinks and FIFOs planted at the dump paths (/tmp/keepalived.data and
// .stats) and at the state file: the targets stay untouched, the files are
// written, and a FIFO never stalls the VRRP thread (the backup never sees
// the master go quiet).
#[test]
fn planted_symlinks_and_fifos_at_dump_and_state_paths() {
    let t = topo("plant");
    let precious = t.lab.dir().join("precious");
    std::fs::write(&precious, "keep me\n").unwrap();
    let data = Restore::new("/tmp/keepalived.data");
    let stats = Restore::new("/tmp/keepalived.stats");
    let state = t.lab.dir().join("vrrp.json");
    plant_symlink(&state, &precious);
    let v3 = "global_defs {\n    vrrp_version 3\n}\n";
    let inst = |prio: u8| {
        format!(
            "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
             priority {prio}\n    advert_int 0.1\n    virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n"
        )
    };
    let env = [("KEEL_VRRP_STATE", state.display().to_string())];
    let one = Keel::start(&t.lab, &t.one, &format!("{v3}{}", inst(200)), &env, &[]);
    one.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", 5 * S);
    let two_state = t.lab.dir().join("vrrp-two.json");
    let two = Keel::start(
        &t.lab,
        &t.two,
        &format!("{v3}{}", inst(100)),
        &[("KEEL_VRRP_STATE", two_state.display().to_string())],
        &[],
    );
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE", 5 * S);

    // Symlink at the data dump, FIFO at the stats dump.
    plant_symlink(&data.0, &precious);
    plant_fifo(&stats.0);
    one.proc.kill(LabSignal::SIGUSR1).unwrap();
    one.proc.kill(LabSignal::SIGUSR2).unwrap();
    let written = wait_until(3 * S, Duration::from_millis(20), || {
        std::fs::symlink_metadata(&data.0).is_ok_and(|m| m.is_file())
            && std::fs::read_to_string(&data.0).is_ok_and(|s| s.contains("VI_1"))
    });
    assert!(written, "data dump not written: {}", one.log());
    let replaced = wait_until(3 * S, Duration::from_millis(20), || {
        std::fs::symlink_metadata(&stats.0).is_ok_and(|m| m.is_file())
    });
    assert!(
        replaced,
        "stats dump not written over the FIFO: {}",
        one.log()
    );
    // Now a FIFO at both, dumped again while the backup watches.
    plant_fifo(&data.0);
    plant_fifo(&stats.0);
    for _ in 0..3 {
        one.proc.kill(LabSignal::SIGUSR1).unwrap();
        one.proc.kill(LabSignal::SIGUSR2).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(S);
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me\n");
    let meta = std::fs::symlink_metadata(&data.0).unwrap();
    assert!(meta.is_file(), "data dump left as {meta:?}");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // The state file replaced its planted symlink.
    assert!(std::fs::symlink_metadata(&state).unwrap().is_file());
    assert!(
        two.log().matches("Entering MASTER STATE").count() == 0,
        "{}",
        two.log()
    );
    assert!(one.proc.is_running());
}

// `-g`: a symlink or FIFO planted at the log path is refused (the daemon
// says so and exits) instead of being followed or blocking start-up.
#[test]
fn planted_symlink_or_fifo_at_the_log_file_is_refused() {
    let lab = Lab::new("plantlog").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let precious = lab.dir().join("precious");
    std::fs::write(&precious, "keep me\n").unwrap();
    let conf = format!(
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority 100\n    advert_int 0.1\n    virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n"
    );
    let link = lab.dir().join("log-link");
    plant_symlink(&link, &precious);
    let fifo = lab.dir().join("log-fifo");
    plant_fifo(&fifo);
    for planted in [&link, &fifo] {
        let g = format!("--log-file={}", planted.display());
        let k = Keel::start(&lab, &one, &conf, &[], &[&g]);
        let exited = k.proc.wait_timeout(5 * S).unwrap();
        assert!(
            exited.is_some_and(|st| !st.success()),
            "keel kept running with a planted log file {}",
            planted.display()
        );
    }
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me\n");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

use std::os::unix::fs::FileTypeExt;
