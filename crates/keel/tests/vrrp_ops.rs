//! Operational behaviour of the keel VRRP daemon on real interfaces:
//! reconciliation of VIPs removed behind its back, SIGHUP reloads, state and
//! statistics dumps, systemd readiness, track_interface, and IPv6.

mod vrrp_common;

use std::time::Duration;

use vrrp_common::*;

const S: Duration = Duration::from_secs(1);
const VIP: &str = "192.0.2.111";

fn instance(name: &str, vrid: u8, prio: u8, vip: &str, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {vrid}\n    \
         priority {prio}\n    advert_int 0.1\n{extra}    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
    )
}

const V3: &str = "global_defs {\n    router_id one\n    vrrp_version 3\n}\n";

// A VIP deleted by another agent while we are MASTER is put back and logged.
#[test]
fn vip_removed_by_another_agent_is_restored() {
    let t = topo("recon");
    let conf = format!("{V3}{}", instance("VI_1", 51, 100, VIP, ""));
    let one = Daemon::start(&t.lab, &t.one, &conf);
    one.wait_vip(VIP, true, 3 * S);
    t.one
        .exec_checked("ip", &["addr", "del", &format!("{VIP}/32"), "dev", "eth0"])
        .unwrap();
    one.wait_log(
        &format!(
            "VRRP_Instance(VI_1) VIP {VIP} was removed from eth0 by another agent - re-adding"
        ),
        2 * S,
    );
    one.wait_vip(VIP, true, S);
}

// SIGHUP: a changed priority takes effect without restarting the instance,
// a new instance starts, a removed one is deleted (its VIP withdrawn).
#[test]
fn sighup_reload_keeps_matched_instances() {
    let t = topo("reload");
    let one = Daemon::start(
        &t.lab,
        &t.one,
        &format!("{V3}{}", instance("VI_1", 51, 100, VIP, "")),
    );
    let two = Daemon::start(
        &t.lab,
        &t.two,
        &format!("{V3}{}", instance("VI_1", 51, 90, VIP, "")),
    );
    one.wait_vip(VIP, true, 3 * S);
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE (init)", S);

    // Node two: higher priority for VI_1 and a new VI_2.
    let conf2 = format!(
        "{V3}{}{}",
        instance("VI_1", 51, 110, VIP, ""),
        instance("VI_2", 52, 100, "192.0.2.122", "")
    );
    std::fs::write(&two.conf, conf2).unwrap();
    two.signal(LabSignal::SIGHUP);
    two.wait_log(
        "VRRP_Instance(VI_1) Changing effective priority from 90 to 110",
        2 * S,
    );
    two.wait_vip(VIP, true, 3 * S);
    two.wait_vip("192.0.2.122", true, 3 * S);
    one.wait_vip(VIP, false, S);
    // VI_1 was not restarted: one start-up only.
    assert_eq!(
        two.count("VRRP_Instance(VI_1) Entering BACKUP STATE (init)"),
        1
    );

    // Remove VI_2 again.
    std::fs::write(
        &two.conf,
        format!("{V3}{}", instance("VI_1", 51, 110, VIP, "")),
    )
    .unwrap();
    two.signal(LabSignal::SIGHUP);
    two.wait_vip("192.0.2.122", false, 2 * S);
    assert!(two.has_vip(VIP));
    assert!(two.is_running());
}

// SIGUSR1 writes the state dump, systemd gets READY=1 on NOTIFY_SOCKET.
#[test]
fn state_dump_and_sd_notify() {
    let t = topo("dump");
    let sock_path = t.lab.dir().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(5 * S)).unwrap();
    let conf = format!("{V3}{}", instance("VI_DUMP", 51, 100, VIP, ""));
    let one = Daemon::start_env(
        &t.lab,
        &t.one,
        &conf,
        Impl::Keel,
        &[("NOTIFY_SOCKET", &sock_path.to_string_lossy())],
    );
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    one.wait_vip(VIP, true, 3 * S);
    let data = std::path::Path::new("/tmp/keepalived.data");
    one.signal(LabSignal::SIGUSR1);
    let ok = wait_until(3 * S, Duration::from_millis(20), || {
        std::fs::read_to_string(data)
            .map(|s| s.contains("VRRP Instance = VI_DUMP") && s.contains("State = MASTER"))
            .unwrap_or(false)
    });
    assert!(ok, "state dump: {:?}", std::fs::read_to_string(data));
}

// track_interface with weight 0: the tracked link going down means FAULT.
#[test]
fn track_interface_down_faults() {
    let t = topo("trackif");
    t.one
        .exec_checked(
            "ip",
            &[
                "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1",
            ],
        )
        .unwrap();
    for l in ["uplink0", "uplink1"] {
        t.one.exec_checked("ip", &["link", "set", l, "up"]).unwrap();
    }
    let conf = format!(
        "{V3}{}",
        instance(
            "VI_1",
            51,
            100,
            VIP,
            "    track_interface {\n        uplink0\n    }\n"
        )
    );
    let one = Daemon::start(&t.lab, &t.one, &conf);
    let two = Daemon::start(
        &t.lab,
        &t.two,
        &format!("{V3}{}", instance("VI_1", 51, 90, VIP, "")),
    );
    one.wait_vip(VIP, true, 3 * S);
    // The far end going down takes the carrier away from uplink0.
    t.one
        .exec_checked("ip", &["link", "set", "uplink1", "down"])
        .unwrap();
    one.wait_log("VRRP_Instance(VI_1) Entering FAULT STATE", 2 * S);
    one.wait_vip(VIP, false, S);
    two.wait_vip(VIP, true, 2 * S);
    t.one
        .exec_checked("ip", &["link", "set", "uplink1", "up"])
        .unwrap();
    one.wait_vip(VIP, true, 3 * S);
}

// IPv6 (VRRPv3 over ff02::12 from link-local sources, RFC 5798 §5.1.2):
// the VIP follows the master and the backup takes over on stop.
#[test]
fn ipv6_failover() {
    let lab = Lab::with_options(
        "v6",
        keel_lab::LabOptions {
            ipv6: true,
            ..Default::default()
        },
    )
    .unwrap();
    let n1 = lab.add_node("one", &["2001:db8::3/64"]).unwrap();
    let n2 = lab.add_node("two", &["2001:db8::5/64"]).unwrap();
    let vip6 = "2001:db8::100";
    let c = |prio| format!("{V3}{}", instance("VI_6", 61, prio, vip6, ""));
    let one = Daemon::start(&lab, &n1, &c(100));
    let two = Daemon::start(&lab, &n2, &c(90));
    one.wait_vip(vip6, true, 4 * S);
    std::thread::sleep(S);
    assert!(!two.has_vip(vip6), "both hold the IPv6 VIP:\n{}", two.log());
    one.stop();
    two.wait_vip(vip6, true, 2 * S);
}
