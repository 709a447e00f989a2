//! Log lines as syslog and a log file receive them.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use keel_daemon::logging::{Facility, KeelLayer, LogOptions};
use tracing_subscriber::layer::SubscriberExt;

fn syslog_sink(dir: &std::path::Path) -> (UnixDatagram, std::path::PathBuf) {
    let path = dir.join("log.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    (sock, path)
}

fn recv(sock: &UnixDatagram) -> Option<String> {
    let mut buf = [0u8; 4096];
    sock.recv(&mut buf)
        .ok()
        .map(|n| String::from_utf8(buf[..n].to_vec()).unwrap())
}

fn with_layer(opts: &LogOptions, f: impl FnOnce()) {
    let subscriber = tracing_subscriber::registry().with(KeelLayer::new(opts).unwrap());
    tracing::subscriber::with_default(subscriber, f);
}

#[test]
fn syslog_line_is_rfc3164_with_keepalived_wording_then_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, path) = syslog_sink(dir.path());
    let opts = LogOptions {
        syslog_socket: path,
        ..LogOptions::default()
    };
    with_layer(&opts, || {
        tracing::info!(
            instance = "VI_1",
            priority = 100,
            "(VI_1) Entering MASTER STATE"
        );
        tracing::warn!("(VI_1) Received advert with wrong VRID");
    });
    let pid = std::process::id();
    // daemon (3) * 8 + info (6) = 30; warning (4) = 28.
    assert_eq!(
        recv(&sock).unwrap(),
        format!(
            "<30>Keepalived_vrrp[{pid}]: (VI_1) Entering MASTER STATE instance=VI_1 priority=100"
        )
    );
    assert_eq!(
        recv(&sock).unwrap(),
        format!("<28>Keepalived_vrrp[{pid}]: (VI_1) Received advert with wrong VRID")
    );
}

#[test]
fn detail_flag_enables_debug_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, path) = syslog_sink(dir.path());
    let mut opts = LogOptions {
        syslog_socket: path,
        ..LogOptions::default()
    };
    with_layer(&opts, || tracing::debug!("detail only"));
    assert_eq!(recv(&sock), None);
    opts.detail = true;
    with_layer(&opts, || tracing::debug!("detail only"));
    let got = recv(&sock).unwrap();
    assert!(
        got.starts_with("<31>") && got.ends_with(": detail only"),
        "{got}"
    );
}

#[test]
fn facility_flag_and_no_syslog_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, path) = syslog_sink(dir.path());
    let mut opts = LogOptions::from_flags(false, false, false, None, Some("7"), "keel").unwrap();
    opts.syslog_socket = path;
    assert_eq!(opts.facility, Facility::Local(7));
    with_layer(&opts, || tracing::error!("boom"));
    // local7 (23) * 8 + err (3) = 187.
    assert_eq!(
        recv(&sock).unwrap(),
        format!("<187>keel[{}]: boom", std::process::id())
    );
    opts.syslog = false;
    with_layer(&opts, || tracing::error!("boom"));
    assert_eq!(recv(&sock), None);
    assert!(LogOptions::from_flags(false, false, false, None, Some("local9"), "keel").is_err());
}

#[test]
fn log_file_gets_stamped_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keel.log");
    let opts =
        LogOptions::from_flags(false, false, true, Some(&file), None, "Keepalived_vrrp").unwrap();
    with_layer(&opts, || {
        tracing::info!("(VI_1) Entering BACKUP STATE");
        tracing::info!(reason = "higher prio advert", "(VI_1) removing VIPs.");
    });
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].ends_with(" INFO  (VI_1) Entering BACKUP STATE"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with("(VI_1) removing VIPs. reason=\"higher prio advert\""),
        "{}",
        lines[1]
    );
    // ISO 8601 UTC stamp first.
    assert_eq!(lines[0].as_bytes()[4], b'-');
    assert!(lines[0].split(' ').next().unwrap().ends_with('Z'));
}

#[test]
fn bad_log_file_is_reported_at_startup() {
    let opts = LogOptions {
        file: Some("/nonexistent-dir/keel.log".into()),
        syslog: false,
        ..LogOptions::default()
    };
    assert!(KeelLayer::new(&opts).is_err());
}
