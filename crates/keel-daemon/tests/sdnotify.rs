//! systemd notifications received on a socket the test binds, as systemd
//! would.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use keel_daemon::sdnotify::SdNotify;

fn recv(sock: &UnixDatagram) -> String {
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[test]
fn path_socket_gets_ready_status_watchdog_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let n = SdNotify::with_socket(path.to_str().unwrap()).unwrap();
    assert!(n.is_enabled());
    n.ready().unwrap();
    assert_eq!(recv(&sock), "READY=1");
    n.status("2 VRRP instances, 1 MASTER").unwrap();
    assert_eq!(recv(&sock), "STATUS=2 VRRP instances, 1 MASTER");
    n.watchdog().unwrap();
    assert_eq!(recv(&sock), "WATCHDOG=1");
    n.ready_with_status("running").unwrap();
    assert_eq!(recv(&sock), "READY=1\nSTATUS=running");
    n.stopping().unwrap();
    assert_eq!(recv(&sock), "STOPPING=1");
    n.reloading().unwrap();
    let r = recv(&sock);
    let usec: u64 = r
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .unwrap()
        .parse()
        .unwrap();
    assert!(usec > 0);
    assert!(n.status("two\nlines").is_err());
}

#[test]
fn abstract_socket_names_start_with_at() {
    let name = format!("keel-test-notify-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    let n = SdNotify::with_socket(&format!("@{name}")).unwrap();
    n.ready().unwrap();
    assert_eq!(recv(&sock), "READY=1");
}

#[test]
fn missing_socket_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let n = SdNotify::with_socket(dir.path().join("absent").to_str().unwrap()).unwrap();
    assert!(n.ready().is_err());
}
