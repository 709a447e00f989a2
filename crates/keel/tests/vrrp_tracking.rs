//! Seed scenarios S4 (vrrp_script on a flag file), S5 (process check with
//! `killall -0`) and S6 (notify scripts and SMTP alerts) on real interfaces.

mod vrrp_common;

use std::path::Path;
use std::time::Duration;

use vrrp_common::*;

const S: Duration = Duration::from_secs(1);
const VIP: &str = "192.0.2.166";

// S4: `[[ -f flag ]] && exit 1 || exit 0` with weight -5: creating the flag
// drops node one to 95 < 98 and node two takes over; removing it restores
// 100 and node one forces a new election and wins it back.
#[test]
fn s4_flag_file_script_moves_the_vip() {
    let t = topo("s4");
    let flag = t.lab.dir().join("down");
    let flag_s = flag.to_string_lossy().into_owned();
    let one = Daemon::start(
        &t.lab,
        &t.one,
        &seed("s4-node1", &[("/etc/keepalived/down", &flag_s)]),
    );
    let two = Daemon::start(
        &t.lab,
        &t.two,
        // Separate hosts in the tutorial: node two's flag is another file.
        &seed(
            "s4-node2",
            &[("/etc/keepalived/down", &format!("{flag_s}.two"))],
        ),
    );
    one.wait_vip(VIP, true, 6 * S);
    one.wait_log("VRRP_Script(chk_down) succeeded", S);
    std::fs::write(&flag, "").unwrap();
    one.wait_log("VRRP_Script(chk_down) failed", 3 * S);
    one.wait_log(
        "VRRP_Instance(VI_1) Changing effective priority from 100 to 95",
        S,
    );
    two.wait_vip(VIP, true, 6 * S);
    one.wait_log(
        "VRRP_Instance(VI_1) Received higher prio advert from 192.0.2.5 with priority 98, ours 95",
        S,
    );
    one.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE", S);
    one.wait_log("VRRP_Instance(VI_1) removing protocol VIPs.", S);
    one.wait_vip(VIP, false, S);

    std::fs::remove_file(&flag).unwrap();
    one.wait_log_n("VRRP_Script(chk_down) succeeded", 2, 3 * S);
    one.wait_log("VRRP_Instance(VI_1) forcing a new MASTER election", S);
    one.wait_vip(VIP, true, 6 * S);
    one.wait_log_n(
        "VRRP_Instance(VI_1) Sending gratuitous ARPs on eth0 for 192.0.2.166",
        2,
        S,
    );
    two.wait_vip(VIP, false, S);
}

/// A copy of `sleep` under a name unique to this test process, so that
/// `killall -0 NAME` (which sees every process of the host) only finds ours.
fn fake_service(dir: &Path, tag: &str) -> (String, String) {
    let name = format!("kw{}{tag}", std::process::id() % 100_000);
    let path = dir.join(&name);
    std::fs::copy("/bin/sleep", &path).unwrap();
    (name, path.to_string_lossy().into_owned())
}

// S5: each node tracks its web server with `killall -0`; stopping the
// master's moves the VIP, starting it again moves it back.
#[test]
fn s5_process_check_moves_the_vip() {
    let t = topo("s5");
    let (httpd, httpd_path) = fake_service(t.lab.dir(), "h");
    let (nginx, nginx_path) = fake_service(t.lab.dir(), "n");
    let web1 = t.one.spawn(&httpd_path, &["600"]).unwrap();
    let _web2 = t.two.spawn(&nginx_path, &["600"]).unwrap();
    let one = Daemon::start(
        &t.lab,
        &t.one,
        &seed(
            "s5-node1",
            &[("killall -0 httpd", &format!("killall -0 {httpd}"))],
        ),
    );
    let two = Daemon::start(
        &t.lab,
        &t.two,
        &seed(
            "s5-node2",
            &[("killall -0 nginx", &format!("killall -0 {nginx}"))],
        ),
    );
    one.wait_vip(VIP, true, 6 * S);
    web1.stop(S).unwrap();
    one.wait_log("VRRP_Script(chk_httpd) failed", 3 * S);
    two.wait_vip(VIP, true, 6 * S);
    one.wait_vip(VIP, false, S);
    let _web1 = t.one.spawn(&httpd_path, &["600"]).unwrap();
    one.wait_log_n("VRRP_Script(chk_httpd) succeeded", 2, 3 * S);
    one.wait_vip(VIP, true, 6 * S);
    two.wait_vip(VIP, false, S);
}

/// aiosmtpd delivering into a Maildir, listening on 127.0.0.1:25 inside the
/// node's namespace (the seed configs' `smtp_server 127.0.0.1`).
fn smtp_sink(node: &Node, maildir: &Path) -> keel_lab::LabProcess {
    let md = maildir.to_string_lossy().into_owned();
    let p = node
        .spawn(
            "/usr/bin/python3",
            &[
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                "127.0.0.1:25",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                &md,
            ],
        )
        .unwrap();
    let up = wait_until(15 * S, Duration::from_millis(100), || {
        node.exec("bash", &["-c", "exec 3<>/dev/tcp/127.0.0.1/25"])
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    assert!(
        up,
        "aiosmtpd did not start: {}",
        p.stderr().unwrap_or_default()
    );
    p
}

fn mails(maildir: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect()
}

// S6: notify_master / notify_backup / notify_fault run with their argument,
// in order (the first is the start-up BACKUP); with smtp_alert each
// transition is also mailed.
#[test]
fn s6_notify_scripts_and_mail() {
    let t = topo("s6");
    let dir = t.lab.dir().to_path_buf();
    let out = dir.join("notify.out");
    let script = dir.join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\n", out.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let maildir = dir.join("Maildir");
    let _smtp = smtp_sink(&t.one, &maildir);
    let script_s = script.to_string_lossy().into_owned();
    let conf1 = seed(
        "s6-node1",
        &[
            ("/etc/keepalived/notify.sh", &script_s),
            ("    notify_master", "    smtp_alert\n    notify_master"),
        ],
    );
    let one = Daemon::start(&t.lab, &t.one, &conf1);
    one.wait_vip("192.0.2.111", true, 6 * S);
    // A higher-priority node sends node one to BACKUP.
    let conf2 = seed("s6-node1", &[("priority 100", "priority 150")]);
    let conf2 = conf2
        .replace("notify_master", "#")
        .replace("notify_backup", "#")
        .replace("notify_fault", "#");
    let two = Daemon::start(&t.lab, &t.two, &conf2);
    two.wait_vip("192.0.2.111", true, 6 * S);
    one.wait_vip("192.0.2.111", false, S);
    // Link loss: FAULT.
    t.one.link_set(false).unwrap();
    one.wait_log("VRRP_Instance(VI_1) Entering FAULT STATE", 2 * S);
    let ok = wait_until(5 * S, Duration::from_millis(50), || {
        std::fs::read_to_string(&out).unwrap_or_default() == "backup\nmaster\nbackup\nfault\n"
    });
    assert!(
        ok,
        "notify scripts ran as {:?}",
        std::fs::read_to_string(&out).unwrap_or_default()
    );
    // One mail per transition (backup, master, backup, fault), each sent on
    // its own connection: wait for all of them, not merely for a count.
    let subjects = [
        "Entering MASTER state",
        "Entering BACKUP state",
        "Entering FAULT state",
    ]
    .map(|what| format!("Subject: [one] VRRP Instance VI_1 - {what}"));
    let got = wait_until(10 * S, Duration::from_millis(100), || {
        let m = mails(&maildir);
        m.len() >= 4 && subjects.iter().all(|s| m.iter().any(|x| x.contains(s)))
    });
    let m = mails(&maildir);
    assert!(got, "expected 4 mails, got {}: {m:?}", m.len());
    for subject in &subjects {
        assert!(
            m.iter().any(|x| x.contains(subject)),
            "no mail {subject:?}: {m:?}"
        );
    }
    assert!(m.iter().all(|x| x.contains("root@localhost")));
}

// track_file: the number in a file times the weight moves the priority. The
// file is replaced by a rename, as tools that write atomically do; keel
// learns of it through inotify.
#[test]
fn track_file_value_moves_the_vip() {
    let t = topo("tfile");
    let file = t.lab.dir().join("weight");
    std::fs::write(&file, "0\n").unwrap();
    let conf = |prio: u32, tracked: bool| {
        let track = if tracked {
            format!(
                "track_file tf {{\n file {}\n weight -1\n}}\n",
                file.display()
            )
        } else {
            String::new()
        };
        let inst_track = if tracked {
            " track_file {\n  tf\n }\n"
        } else {
            ""
        };
        format!(
            "{track}vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 61\n priority {prio}\n advert_int 1\n{inst_track} virtual_ipaddress {{\n  {VIP}\n }}\n}}\n"
        )
    };
    let one = Daemon::start(&t.lab, &t.one, &conf(100, true));
    let two = Daemon::start(&t.lab, &t.two, &conf(98, false));
    one.wait_vip(VIP, true, 6 * S);
    let tmp = t.lab.dir().join("weight.tmp");
    std::fs::write(&tmp, "5\n").unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    one.wait_log(
        "VRRP_Instance(VI_1) Changing effective priority from 100 to 95",
        2 * S,
    );
    two.wait_vip(VIP, true, 6 * S);
    one.wait_vip(VIP, false, S);
    std::fs::write(&file, "0\n").unwrap();
    one.wait_log(
        "VRRP_Instance(VI_1) Changing effective priority from 95 to 100",
        2 * S,
    );
    one.wait_vip(VIP, true, 6 * S);
    two.wait_vip(VIP, false, S);
}
