//! `keel realserver`: the real-server side of direct routing that the
//! tutorial does by hand, idempotent and undoable, inside a lab namespace.

use keel_lab::Lab;

fn keel_in(node: &keel_lab::Node, args: &[&str]) -> (i32, String) {
    let mut full = vec!["realserver"];
    full.extend_from_slice(args);
    let out = node.exec(env!("CARGO_BIN_EXE_keel"), &full).unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn sysctl(node: &keel_lab::Node, key: &str) -> String {
    let out = node
        .exec("cat", &[&format!("/proc/sys/net/ipv4/conf/{key}")])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn prepare_is_idempotent_and_undo_reverts() {
    let lab = Lab::new("rsrv").unwrap();
    let rs = lab.add_node("rs1", &["192.0.2.11/24"]).unwrap();
    let vip: std::net::IpAddr = "192.0.2.144".parse().unwrap();

    let (code, out) = keel_in(&rs, &["--vip", "192.0.2.144"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(sysctl(&rs, "all/arp_ignore"), "1");
    assert_eq!(sysctl(&rs, "all/arp_announce"), "2");
    assert_eq!(sysctl(&rs, "lo/arp_ignore"), "1");
    assert_eq!(sysctl(&rs, "lo/arp_announce"), "2");
    let lo = rs.ip_addrs("lo").unwrap();
    assert!(lo.contains(&(vip, 32)), "VIP /32 on lo: {lo:?}");

    let (code, out) = keel_in(&rs, &["--vip", "192.0.2.144"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        rs.ip_addrs("lo")
            .unwrap()
            .iter()
            .filter(|a| a.0 == vip)
            .count(),
        1
    );

    let (code, out) = keel_in(&rs, &["--vip", "192.0.2.144", "--undo"]);
    assert_eq!(code, 0, "{out}");
    assert!(!rs.ip_addrs("lo").unwrap().iter().any(|a| a.0 == vip));
    assert_eq!(sysctl(&rs, "all/arp_ignore"), "0");
}
