//! Interoperation with FRRouting's vrrpd (Debian's `frr` package) on one lab
//! LAN, VRRPv3 (RFC 5798) over IPv4 with 1 s adverts: the higher priority
//! wins whichever implementation holds it, a graceful stop of keel hands the
//! virtual router to FRR at once, and once the two hear each other there is
//! never more than one master.
//!
//! FRR's vrrpd only drives a macvlan that carries the virtual MAC and the
//! VIP: as master the macvlan is up, as backup it is set `protodown on`
//! (carrier off), so "FRR holds the VIP" means "the macvlan is not
//! protodown". vrrpd needs zebra; both run in the node namespace as the `frr`
//! user with their config, pid files, zebra socket and vty sockets in a
//! directory of the lab's own, so several labs run side by side and nothing
//! touches the root namespace's FRR paths.
//!
//! Checksums: FRR computes the VRRPv3 IPv4 checksum over the RFC 5798 §5.2.8
//! pseudo-header, which is also keel's (and keepalived's) default, so keel
//! needs no `v3_checksum_as_v2` to talk to FRR: FRR counting keel's adverts
//! as received and keel yielding to FRR's show both directions accept the
//! other's checksum.

mod vrrp_common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use vrrp_common::*;

const S: Duration = Duration::from_secs(1);
const VRID: u8 = 51;
const VIP: &str = "192.0.2.111";
const MACVLAN: &str = "vrrp4-51";
const ZEBRA: &str = "/usr/lib/frr/zebra";
const VRRPD: &str = "/usr/lib/frr/vrrpd";

fn keel_conf(priority: u8) -> String {
    format!(
        "global_defs {{\n    router_id keel\n    vrrp_version 3\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {VRID}\n    \
         priority {priority}\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n"
    )
}

/// zebra + vrrpd on one node, driving a macvlan `vrrp4-51` on eth0.
struct Frr {
    node: Node,
    dir: PathBuf,
    zebra: keel_lab::LabProcess,
    vrrpd: keel_lab::LabProcess,
}

impl Frr {
    fn start(lab: &Lab, node: &Node, priority: u8) -> Frr {
        assert!(
            std::path::Path::new(VRRPD).exists(),
            "FRR is not installed ({VRRPD} missing): run scripts/install-deps.sh"
        );
        let dir = lab.dir().join(format!("frr-{}", node.name()));
        std::fs::create_dir_all(&dir).unwrap();
        let dev = node.ifname();
        std::fs::write(
            dir.join("zebra.conf"),
            format!("hostname frr-{}\nlog stdout informational\n", node.name()),
        )
        .unwrap();
        std::fs::write(
            dir.join("vrrpd.conf"),
            format!(
                "hostname frr-{n}\nlog stdout debugging\ndebug vrrp protocol\ndebug vrrp packets\n\
                 interface {dev}\n vrrp {VRID} version 3\n vrrp {VRID} priority {priority}\n \
                 vrrp {VRID} advertisement-interval 1000\n vrrp {VRID} ip {VIP}\n",
                n = node.name()
            ),
        )
        .unwrap();
        // The daemons drop to the `frr` user (FRR refuses root unless root is
        // in the frrvty group), which must own its pid files and sockets.
        let st = std::process::Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "chown frr:frr {dir:?}");

        // The virtual MAC for IPv4 is 00:00:5e:00:01:VRID (RFC 5798 §7.3);
        // bridge mode so that eth0 still sees the peers' adverts while the
        // macvlan is protodown.
        let mac = format!("00:00:5e:00:01:{VRID:02x}");
        let vip = format!("{VIP}/24");
        for args in [
            &[
                "link", "add", MACVLAN, "link", dev, "type", "macvlan", "mode", "bridge",
            ][..],
            &["link", "set", MACVLAN, "address", &mac],
            &["addr", "add", &vip, "dev", MACVLAN],
            &["link", "set", MACVLAN, "up"],
        ] {
            node.exec_checked("ip", args).unwrap();
        }

        let d = dir.to_string_lossy().into_owned();
        let path = |f: &str| format!("{d}/{f}");
        let (zsock, zconf, zpid, vconf, vpid) = (
            path("zserv.api"),
            path("zebra.conf"),
            path("zebra.pid"),
            path("vrrpd.conf"),
            path("vrrpd.pid"),
        );
        let common = |conf: &str, pid: &str| -> Vec<String> {
            [
                "-u",
                "frr",
                "-g",
                "frr",
                "-f",
                conf,
                "-i",
                pid,
                "-z",
                &zsock,
                "--vty_socket",
                &d,
                // No TCP vty: the vty sockets in `dir` are enough.
                "-P",
                "0",
                "--log",
                "stdout",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let zargs = common(&zconf, &zpid);
        let zebra = node
            .spawn(ZEBRA, &zargs.iter().map(String::as_str).collect::<Vec<_>>())
            .unwrap();
        let up = wait_until(5 * S, Duration::from_millis(20), || {
            std::path::Path::new(&zsock).exists()
        });
        assert!(
            up,
            "zebra did not open {zsock}; stdout:\n{}\nstderr:\n{}",
            zebra.stdout().unwrap_or_default(),
            zebra.stderr().unwrap_or_default()
        );
        let vargs = common(&vconf, &vpid);
        let vrrpd = node
            .spawn(VRRPD, &vargs.iter().map(String::as_str).collect::<Vec<_>>())
            .unwrap();
        Frr {
            node: node.clone(),
            dir,
            zebra,
            vrrpd,
        }
    }

    fn log(&self) -> String {
        let mut s = String::new();
        for (name, p) in [("vrrpd", &self.vrrpd), ("zebra", &self.zebra)] {
            s.push_str(&format!("--- {name} ---\n"));
            s.push_str(&p.stdout().unwrap_or_default());
            s.push_str(&p.stderr().unwrap_or_default());
        }
        s
    }

    fn vtysh(&self, cmd: &str) -> String {
        let d = self.dir.to_string_lossy();
        let out = self
            .node
            .exec("vtysh", &["--vty_socket", &d, "-c", cmd])
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The IPv4 virtual router's state as `show vrrp` prints it
    /// ("Initialize", "Backup", "Master"), if vrrpd answers.
    fn status(&self) -> Option<String> {
        self.vtysh("show vrrp")
            .lines()
            .find_map(|l| l.trim().strip_prefix("Status (v4)"))
            .map(|rest| rest.trim().to_string())
    }

    /// The number in a counter line of `show vrrp`
    /// (e.g. "Advertisements Rx (v4)").
    fn counter(&self, name: &str) -> Option<u64> {
        self.vtysh("show vrrp")
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|rest| rest.trim().parse().ok())
    }

    /// Whether the VIP is in service here: on the macvlan, and the macvlan
    /// neither protodown nor down.
    fn serving(&self) -> bool {
        let out = self
            .node
            .exec("ip", &["-d", "-o", "link", "show", "dev", MACVLAN])
            .unwrap();
        let link = String::from_utf8_lossy(&out.stdout);
        let up = link.contains("LOWER_UP") && !link.contains("protodown on");
        up && prefix_of(&self.node, MACVLAN, VIP).is_some()
    }

    fn wait_status(&self, want: &str, timeout: Duration) {
        let mut last = None;
        let ok = wait_until(timeout, Duration::from_millis(50), || {
            last = self.status();
            last.as_deref() == Some(want)
        });
        assert!(
            ok,
            "FRR on {} not {want} within {timeout:?} (last {last:?}); log:\n{}",
            self.node.name(),
            self.log()
        );
    }

    fn wait_serving(&self, want: bool, timeout: Duration) {
        let ok = wait_until(timeout, Duration::from_millis(20), || {
            self.serving() == want
        });
        assert!(
            ok,
            "FRR on {}: macvlan {MACVLAN} {} within {timeout:?}; log:\n{}",
            self.node.name(),
            if want {
                "not in service"
            } else {
                "still in service"
            },
            self.log()
        );
    }

    fn running(&self) -> bool {
        self.zebra.is_running() && self.vrrpd.is_running()
    }
}

/// For `span`, polls both sides: fails if keel holds the VIP while FRR's
/// macvlan is in service (or FRR says Master) in two polls in a row (a single
/// poll may straddle a hand-over), or if `master` stops being the master.
fn single_master_for(k: &Daemon, f: &Frr, keel_is_master: bool, span: Duration) {
    let end = Instant::now() + span;
    let mut both_before = false;
    while Instant::now() < end {
        let keel = k.has_vip(VIP);
        let status = f.status();
        let frr = f.serving() || status.as_deref() == Some("Master");
        let both = keel && frr;
        assert!(
            !(both && both_before),
            "two masters: keel holds {VIP} and FRR is {status:?}; keel log:\n{}\nFRR log:\n{}",
            k.log(),
            f.log()
        );
        both_before = both;
        if !both {
            assert_eq!(
                (keel, frr),
                (keel_is_master, !keel_is_master),
                "mastership moved (FRR {status:?}); keel log:\n{}\nFRR log:\n{}",
                k.log(),
                f.log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(k.is_running() && f.running());
}

// keel (100) and FRR (90) start together: keel is elected (RFC 5798 §6.4.2,
// a backup hearing a higher priority stays backup), FRR's macvlan stays
// protodown; on a graceful stop keel sends priority 0 (§6.4.3) and FRR takes
// over after its skew time, well before Master_Down_Interval.
#[test]
fn rfc5798_keel_master_frr_backup_then_keel_stop_hands_over() {
    let t = topo("frra");
    let f = Frr::start(&t.lab, &t.two, 90);
    let k = Daemon::start(&t.lab, &t.one, &keel_conf(100));
    k.wait_vip(VIP, true, 6 * S);
    f.wait_status("Backup", 3 * S);
    f.wait_serving(false, 2 * S);
    // FRR heard keel's adverts: the checksum and format are acceptable to it.
    let rx = f.counter("Advertisements Rx (v4)").unwrap_or(0);
    assert!(rx >= 1, "FRR counted no adverts from keel:\n{}", f.log());
    // Beyond one Master_Down_Interval (3 s + skew): still one master.
    single_master_for(&k, &f, true, 4 * S);

    let t0 = Instant::now();
    k.stop();
    assert!(!k.has_vip(VIP), "keel kept {VIP} after stopping");
    f.wait_status("Master", 2 * S);
    f.wait_serving(true, S);
    // Priority 0 means Skew_Time (~0.65 s at 90), not the full 3.65 s.
    assert!(
        t0.elapsed() < 3 * S,
        "FRR took {:?} to take over: keel's priority-0 advert was not honoured",
        t0.elapsed()
    );
}

// The reverse priorities: FRR (100) wins, keel (90) stays backup. keel starts
// first and is master alone; FRR comes up, and because it preempts (RFC 5798
// §6.4.3) keel yields on its first advert and withdraws the VIP. When FRR
// stops, keel takes the VIP back.
#[test]
fn rfc5798_frr_preempts_keel_and_keel_stays_backup() {
    let t = topo("frrb");
    let k = Daemon::start(&t.lab, &t.one, &keel_conf(90));
    k.wait_vip(VIP, true, 6 * S);
    let f = Frr::start(&t.lab, &t.two, 100);
    f.wait_status("Master", 8 * S);
    f.wait_serving(true, S);
    k.wait_vip(VIP, false, 2 * S);
    // keel decoded FRR's advert (checksum included) and yielded to it.
    k.wait_log(
        "VRRP_Instance(VI_1) Received higher prio advert from 192.0.2.5 with priority 100, ours 90",
        S,
    );
    k.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE", S);
    single_master_for(&k, &f, false, 5 * S);

    // vrrpd stopping as master sends priority 0 and sets its macvlan
    // protodown; keel (a backup) takes over after Skew_Time (~0.65 s at 90)
    // instead of Master_Down_Interval (~3.65 s), RFC 5798 §6.4.2.
    let t0 = Instant::now();
    f.vrrpd.kill(LabSignal::SIGTERM).unwrap();
    k.wait_vip(VIP, true, 3 * S);
    assert!(
        t0.elapsed() < 2 * S,
        "keel took {:?} to take over: FRR's priority-0 advert was not honoured; log:\n{}",
        t0.elapsed(),
        k.log()
    );
    f.wait_serving(false, S);
}
