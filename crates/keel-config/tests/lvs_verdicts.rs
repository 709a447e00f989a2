//! keepalived's `-t` verdict on virtual-server settings it reports as
//! config errors (exit 5) while the daemon still runs with its default.
//!
//! Each `lvs_verdicts/NAME.conf` is a config of keel's own whose first line
//! records what `keepalived -t -f NAME.conf` (2.2.7) exited with and whose
//! second line the message keel's error must contain. keel must give the
//! same verdict (an error diagnostic with file:line exactly when keepalived
//! exits 5). When keepalived is installed, the recorded verdicts are checked
//! against it too.

use keel_config::diag::Severity;
use keel_config::model::*;
use keel_config::{FsSource, PreprocessOptions, load_config};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Case {
    path: PathBuf,
    exit: i32,
    message: String,
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lvs_verdicts");
    let mut v: Vec<Case> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines = text.lines();
            let exit = lines
                .next()
                .and_then(|l| l.strip_prefix("# keepalived 2.2.7 -t: exit "))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("{}: no recorded verdict", path.display()));
            let message = lines
                .next()
                .and_then(|l| l.strip_prefix("# keel:"))
                .unwrap_or_default()
                .trim()
                .to_string();
            Case {
                path,
                exit,
                message,
            }
        })
        .collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

fn load(path: &Path) -> (Config, keel_config::diag::Diagnostics) {
    load_config(path, &FsSource, &PreprocessOptions::default()).unwrap()
}

#[test]
fn keel_check_gives_keepalived_verdict_with_file_and_line() {
    let cases = cases();
    assert!(cases.len() >= 15, "{}", cases.len());
    for case in cases {
        let (_, diags) = load(&case.path);
        let errors: Vec<_> = diags.errors().collect();
        let name = case.path.display();
        if case.exit == 0 {
            assert!(errors.is_empty(), "{name}: {errors:#?}");
            continue;
        }
        let hit = errors
            .iter()
            .find(|d| d.message.contains(&case.message))
            .unwrap_or_else(|| {
                panic!(
                    "{name}: no error containing {:?}: {errors:#?}",
                    case.message
                )
            });
        assert_eq!(hit.severity, Severity::Error);
        assert_eq!(*hit.span.file, case.path, "{name}");
        assert!(hit.span.line >= 3, "{name}: {hit}");
    }
}

fn vs_of(file: &str) -> VirtualServer {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lvs_verdicts")
        .join(file);
    let (cfg, _) = load(&path);
    cfg.virtual_servers.into_iter().next().unwrap()
}

#[test]
fn the_rest_runs_with_keepalived_defaults() {
    assert_eq!(vs_of("no-scheduler.conf").lvs_sched, Scheduler::Wlc);
    assert_eq!(vs_of("unknown-scheduler.conf").lvs_sched, Scheduler::Wlc);
    assert_eq!(vs_of("unknown-lb-kind.conf").lvs_method, Method::Nat);
    assert_eq!(vs_of("no-lb-kind.conf").lvs_method, Method::Nat);
    assert_eq!(vs_of("no-protocol.conf").protocol, Some(Protocol::Udp));
    assert_eq!(
        vs_of("port-zero-not-persistent.conf").persistence_timeout,
        Some(360)
    );
    // A mismatched port is reset to the service's; a fwmark service's
    // real server loses its port.
    assert_eq!(vs_of("dr-port-mismatch.conf").real_servers[0].port, None);
    assert_eq!(vs_of("fwmark-dr-port.conf").real_servers[0].port, None);
    assert_eq!(
        vs_of("sorry-server-dr-port.conf")
            .sorry_server
            .unwrap()
            .port,
        None
    );
    // NAT rewrites the port, so it may differ.
    assert_eq!(
        vs_of("nat-port-differs.conf").real_servers[0].port,
        Some(8080)
    );
    let g = vs_of("granularity-not-contiguous.conf");
    assert_eq!(g.persistence_granularity, None);
}

fn keepalived_exit(path: &Path) -> Option<i32> {
    let mut child = Command::new("/usr/sbin/keepalived")
        .args(["-t", "-l", "-D", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().ok()? {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn recorded_verdicts_are_keepalived_s() {
    if !Path::new("/usr/sbin/keepalived").exists() {
        eprintln!("keepalived not installed; recorded verdicts not re-checked");
        return;
    }
    for case in cases() {
        let got = keepalived_exit(&case.path);
        assert_eq!(got, Some(case.exit), "{}", case.path.display());
    }
}

#[test]
fn unknown_scheduler_name_is_an_error_not_a_guess() {
    let text =
        "virtual_server 192.0.2.144 80 {\n    lb_algo fancy\n    lb_kind DR\n    protocol TCP\n}\n";
    let (cfg, diags) = keel_config::from_str(text, "/etc/keepalived/test.conf").unwrap();
    let e: Vec<_> = diags.errors().collect();
    // keepalived reports the bad name, then the default it falls back to.
    assert!(
        e.iter()
            .any(|d| d.message.contains("'fancy'") && d.span.line == 2),
        "{e:#?}"
    );
    assert!(e.iter().all(|d| d.message.contains("scheduler")), "{e:#?}");
    assert_eq!(cfg.virtual_servers[0].lvs_sched, Scheduler::Wlc);
}
