//! Lab behaviour against the real kernel (needs root).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use keel_lab::{Lab, LabOptions, LabSignal, MacAddr, NAME_PREFIX, wait_until};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn root_interfaces() -> BTreeSet<String> {
    std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

#[test]
fn three_nodes_ping_each_other() {
    let lab = Lab::new("ping").unwrap();
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let b = lab.add_node("b", &["192.0.2.2/24"]).unwrap();
    let c = lab.add_node("c", &["192.0.2.3/24"]).unwrap();
    assert!(a.ping(ip("192.0.2.2")).unwrap());
    assert!(b.ping(ip("192.0.2.3")).unwrap());
    assert!(c.ping(ip("192.0.2.1")).unwrap());
    assert!(!a.ping(ip("192.0.2.99")).unwrap(), "nobody owns .99");
    assert_eq!(a.neigh(ip("192.0.2.2")).unwrap(), Some(b.mac()));
    assert_eq!(
        a.ip_addrs("eth0").unwrap(),
        vec![(ip("192.0.2.1"), 24)],
        "IPv6 is disabled, so only the configured address is there"
    );
    assert!(b.has_addr(ip("192.0.2.2")).unwrap());
    assert!(!b.has_addr(ip("192.0.2.1")).unwrap());
    let names = lab.namespaces();
    assert_eq!(names.len(), 4);
    assert!(names.iter().all(|n| n.starts_with(NAME_PREFIX)));
}

#[test]
fn lab_never_touches_the_root_namespace() {
    let before = root_interfaces();
    let lab = Lab::new("iso").unwrap();
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let _b = lab.add_node("b", &["192.0.2.2/24"]).unwrap();
    assert!(a.ping(ip("192.0.2.2")).unwrap());
    assert_eq!(before, root_interfaces(), "root namespace gained a link");
    // The node interface lives in the node namespace, not in the root one.
    let out = a
        .exec_checked("ip", &["-o", "link", "show", "eth0"])
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("eth0"));
    let port = lab
        .exec_switch("ip", &["-o", "link", "show", a.switch_port()])
        .unwrap();
    assert!(String::from_utf8_lossy(&port.stdout).contains("master br0"));
    drop(lab);
    assert_eq!(before, root_interfaces());
}

#[test]
fn parallel_labs_with_identical_addresses_do_not_collide() {
    let run = |tag: &'static str| {
        std::thread::spawn(move || {
            let lab = Lab::new(tag).unwrap();
            let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
            let b = lab.add_node("b", &["192.0.2.2/24"]).unwrap();
            assert!(a.ping(ip("192.0.2.2")).unwrap());
            let names = lab.namespaces();
            (names, a.mac(), b.ping(ip("192.0.2.1")).unwrap())
        })
    };
    let (n1, mac1, ok1) = run("par").join().unwrap();
    let h2 = run("par");
    let h3 = run("par");
    let (n2, mac2, ok2) = h2.join().unwrap();
    let (n3, _, ok3) = h3.join().unwrap();
    assert!(ok1 && ok2 && ok3);
    let all: BTreeSet<_> = n1.iter().chain(&n2).chain(&n3).collect();
    assert_eq!(all.len(), n1.len() + n2.len() + n3.len());
    assert_ne!(mac1, mac2, "random MACs differ between labs");
    for n in all {
        assert!(!netns_exists(n), "{n} left behind");
    }
}

#[test]
fn drop_after_panic_kills_processes_and_removes_namespaces() {
    let mut names = Vec::new();
    let mut pid = 0;
    let mut dir = std::path::PathBuf::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::new("panic").unwrap();
        let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
        let p = a.spawn("sleep", &["300"]).unwrap();
        pid = p.pid();
        names = lab.namespaces();
        dir = lab.dir().to_path_buf();
        assert!(names.iter().all(|n| netns_exists(n)));
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        panic!("test body failed");
    }));
    assert!(result.is_err());
    assert_eq!(names.len(), 2);
    for n in &names {
        assert!(!netns_exists(n), "{n} survived the panic");
    }
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "sleep survived"
    );
    // Logs are kept for post-mortems when a test panics.
    assert!(dir.join("a-0-sleep.out").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spawn_tracks_output_signals_and_exit() {
    let lab = Lab::new("spawn").unwrap();
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let echo = a
        .spawn("sh", &["-c", "echo out; echo err >&2; exit 3"])
        .unwrap();
    let status = echo.wait_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(echo.stdout().unwrap(), "out\n");
    assert_eq!(echo.stderr().unwrap(), "err\n");

    let sleeper = a.spawn("sleep", &["300"]).unwrap();
    assert!(sleeper.is_running());
    assert!(
        sleeper
            .wait_timeout(Duration::from_millis(50))
            .unwrap()
            .is_none()
    );
    sleeper.kill(LabSignal::SIGTERM).unwrap();
    let status = sleeper
        .wait_timeout(Duration::from_secs(5))
        .unwrap()
        .unwrap();
    assert!(!status.success());
    // Signalling an exited process is a harmless no-op.
    sleeper.kill(LabSignal::SIGKILL).unwrap();

    // The process really ran inside the node namespace.
    let ipa = a.spawn("ip", &["-o", "addr", "show", "eth0"]).unwrap();
    ipa.wait_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert!(ipa.stdout().unwrap().contains("192.0.2.1/24"));
}

#[test]
fn capture_sees_pings() {
    let lab = Lab::with_options(
        "cap",
        LabOptions {
            fixed_macs: true,
            ..LabOptions::default()
        },
    )
    .unwrap();
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let b = lab.add_node("b", &["192.0.2.2/24"]).unwrap();
    assert_eq!(a.mac(), "02:6b:6c:00:00:01".parse::<MacAddr>().unwrap());
    assert_eq!(b.mac(), "02:6b:6c:00:00:02".parse::<MacAddr>().unwrap());
    let cap = lab.capture(&b, "icmp").unwrap();
    assert!(a.ping(ip("192.0.2.2")).unwrap());
    assert!(wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        || cap.packets().map(|p| p.len() >= 2).unwrap_or(false)
    ));
    let packets = cap.stop().unwrap();
    let request = packets
        .iter()
        .find(|p| p.data.len() >= 34 && p.data[23] == 1 && p.data[34] == 8)
        .expect("echo request captured");
    assert_eq!(&request.data[0..6], &b.mac().0, "dst MAC");
    assert_eq!(&request.data[6..12], &a.mac().0, "src MAC");
    assert_eq!(&request.data[12..14], &[0x08, 0x00]);
    assert_eq!(&request.data[26..30], &[192, 0, 2, 1]);
    assert_eq!(&request.data[30..34], &[192, 0, 2, 2]);
    assert!(request.ts.as_secs() > 1_600_000_000);
}

#[test]
fn link_set_pulls_the_cable() {
    let lab = Lab::new("link").unwrap();
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let b = lab.add_node("b", &["192.0.2.2/24"]).unwrap();
    assert!(a.ping(ip("192.0.2.2")).unwrap());
    b.link_set(false).unwrap();
    let out = b
        .exec_checked("ip", &["-o", "link", "show", "eth0"])
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("NO-CARRIER"));
    assert!(!a.ping(ip("192.0.2.2")).unwrap());
    b.link_set(true).unwrap();
    assert!(wait_until(
        Duration::from_secs(5),
        Duration::from_millis(50),
        || a.ping(ip("192.0.2.2")).unwrap()
    ));
}

#[test]
fn ipv6_lab_nodes_reach_each_other() {
    let lab = Lab::with_options(
        "v6",
        LabOptions {
            ipv6: true,
            ..LabOptions::default()
        },
    )
    .unwrap();
    let a = lab
        .add_node("a", &["192.0.2.1/24", "2001:db8::1/64"])
        .unwrap();
    let _b = lab
        .add_node("b", &["192.0.2.2/24", "2001:db8::2/64"])
        .unwrap();
    assert!(a.ping(ip("2001:db8::2")).unwrap());
    assert!(
        a.ip_addrs("eth0")
            .unwrap()
            .contains(&(ip("2001:db8::1"), 64))
    );
    // IPv6 addresses are refused in a lab without IPv6.
    let v4 = Lab::new("v4only").unwrap();
    assert!(v4.add_node("a", &["2001:db8::1/64"]).is_err());
}

#[test]
fn run_in_and_block_on_execute_inside_the_node() {
    let lab = Lab::new("runin").unwrap();
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let _b = lab.add_node("b", &["192.0.2.2/24"]).unwrap();
    // /proc/sys/net resolves per thread: the lab disabled IPv6 in the node.
    let v6_off = "/proc/sys/net/ipv6/conf/all/disable_ipv6";
    let in_node = a
        .run_in(|| std::fs::read_to_string(v6_off))
        .unwrap()
        .unwrap();
    assert_eq!(in_node.trim(), "1");
    let dev_dir = a
        .run_in(|| Path::new("/proc/sys/net/ipv4/conf/eth0").exists())
        .unwrap();
    assert!(dev_dir);
    let reply = a
        .block_on(|| async {
            let sock = tokio::net::UdpSocket::bind("192.0.2.1:0").await?;
            sock.send_to(b"x", "192.0.2.2:9").await?;
            sock.local_addr()
        })
        .unwrap()
        .unwrap();
    assert_eq!(reply.ip(), ip("192.0.2.1"));
    // Binding to a lab address fails outside the lab.
    assert!(std::net::UdpSocket::bind("192.0.2.1:0").is_err());
}

#[test]
fn sweep_removes_only_namespaces_of_dead_creators() {
    // A PID that cannot exist (above the kernel maximum) plays a dead creator.
    let dead = format!("{NAME_PREFIX}4194399-0000-sweep-sw");
    let live = format!("{NAME_PREFIX}{}-ffff0-sweep-sw", std::process::id());
    for n in [&dead, &live] {
        let st = std::process::Command::new("ip")
            .args(["netns", "add", n])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let removed = Lab::sweep_stale().unwrap();
    assert!(removed.contains(&dead));
    assert!(!netns_exists(&dead));
    assert!(netns_exists(&live));
    std::process::Command::new("ip")
        .args(["netns", "del", &live])
        .status()
        .unwrap();
}

#[test]
fn invalid_names_are_rejected() {
    let lab = Lab::new("names").unwrap();
    assert!(lab.add_node("", &[]).is_err());
    assert!(lab.add_node("UPPER", &[]).is_err());
    assert!(lab.add_node("waytoolongname", &[]).is_err());
    assert!(lab.add_node("a", &["192.0.2.1"]).is_err());
    lab.add_node("a", &[]).unwrap();
    assert!(lab.add_node("a", &[]).is_err(), "duplicate");
}

#[test]
fn curl_and_arping_reach_other_nodes() {
    let lab = Lab::new("tools").unwrap();
    let a = lab.add_node("a", &["192.0.2.1/24"]).unwrap();
    let b = lab.add_node("b", &["192.0.2.2/24"]).unwrap();
    let arp = a.arping(ip("192.0.2.2"), 1).unwrap();
    assert!(arp.status.success(), "{arp:?}");
    assert!(String::from_utf8_lossy(&arp.stdout).contains(&b.mac().to_string()));

    let server = b
        .spawn(
            "/usr/bin/python3",
            &["-m", "http.server", "8080", "--bind", "192.0.2.2"],
        )
        .unwrap();
    let mut body = String::new();
    assert!(wait_until(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let out = a.curl("http://192.0.2.2:8080/").unwrap();
            body = String::from_utf8_lossy(&out.stdout).into_owned();
            out.status.success()
        }
    ));
    assert!(body.contains("Directory listing"), "{body}");
    server.stop(Duration::from_secs(2)).unwrap();
    assert!(!a.curl("http://192.0.2.2:8080/").unwrap().status.success());
}
