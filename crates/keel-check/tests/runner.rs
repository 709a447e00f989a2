//! The runner end to end: keepalived.conf text pointing at real local
//! servers, the action stream and the published table.

mod common;

use common::*;
use keel_check::core::{Action, CheckerSet, ScriptKind};
use keel_check::probe::ProbeContext;
use keel_check::run::{RunOptions, spawn};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

fn set(text: &str) -> CheckerSet {
    let (cfg, diags) = keel_config::from_str(text, "test.conf").unwrap();
    assert!(
        !diags.has_errors(),
        "{:?}",
        diags.errors().map(|d| d.to_string()).collect::<Vec<_>>()
    );
    CheckerSet::from_config(&cfg, &keel_check::Host::default()).unwrap()
}

/// Collects actions until `pred` matches one (or the deadline passes).
async fn wait_for(
    rx: &mut UnboundedReceiver<Action>,
    seen: &mut Vec<Action>,
    within: Duration,
    pred: impl Fn(&Action) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(a)) => {
                let hit = pred(&a);
                seen.push(a);
                if hit {
                    return true;
                }
            }
            _ => return false,
        }
    }
}

fn log_lines(seen: &[Action]) -> Vec<&str> {
    seen.iter()
        .filter_map(|a| match a {
            Action::Log(l) => Some(l.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn http_get_server_goes_down_after_exactly_retry_plus_one_failed_requests() {
    let srv = HttpServer::start(200, b"ok kp-rs1\n").await;
    let port = srv.addr.port();
    let text = format!(
        r#"
virtual_server 192.0.2.144 80 {{
    lb_algo wlc
    lb_kind NAT
    delay_loop 0.3
    protocol TCP
    real_server 127.0.0.1 {port} {{
        HTTP_GET {{
            url {{ path /health digest bdb320234c312e246b87fedf92276463 }}
            connect_timeout 1
            retry 2
            delay_before_retry 0.1
            warmup 0
        }}
    }}
}}
"#
    );
    let (handle, mut rx) = spawn(set(&text), ProbeContext::default(), RunOptions::default());
    let mut seen = Vec::new();
    let table = handle.table();
    // Started alive (not alpha); the first check succeeds.
    assert!(
        wait_for(
            &mut rx,
            &mut seen,
            Duration::from_secs(3),
            |a| matches!(a, Action::Log(l) if l.starts_with("Remote Web server"))
        )
        .await
    );
    assert_eq!(table.borrow().services[0].destinations.len(), 1);
    // Break it: the body changes, so the digest no longer matches.
    *srv.body.lock().unwrap() = b"ok kp-rs2\n".to_vec();
    let before = srv.hits();
    assert!(
        wait_for(&mut rx, &mut seen, Duration::from_secs(5), |a| matches!(
            a,
            Action::RealServerDown { .. }
        ))
        .await
    );
    assert_eq!(srv.hits() - before, 3, "retry 2 => 3 failed requests");
    let lines = log_lines(&seen);
    let label = format!("[127.0.0.1]:tcp:{port}");
    assert!(
        lines.contains(&format!("HTTP_CHECK on service {label} failed after 2 retries.").as_str()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!("Removing service {label} from VS [192.0.2.144]:tcp:80").as_str()),
        "{lines:?}"
    );
    // The published table follows.
    assert!(table.borrow().services[0].destinations.is_empty());
    // Repair: back in the table.
    *srv.body.lock().unwrap() = b"ok kp-rs1\n".to_vec();
    assert!(
        wait_for(&mut rx, &mut seen, Duration::from_secs(3), |a| matches!(
            a,
            Action::RealServerUp { .. }
        ))
        .await
    );
    assert_eq!(table.borrow().services[0].destinations.len(), 1);
    handle.shutdown().await;
    assert!(table.borrow().services.is_empty());
}

#[tokio::test]
async fn sorry_server_and_quorum_scripts_with_real_servers() {
    let a = HttpServer::start(200, b"a").await;
    let b = HttpServer::start(200, b"b").await;
    let text = format!(
        r#"
virtual_server 192.0.2.144 80 {{
    lb_algo wlc
    lb_kind NAT
    delay_loop 0.2
    protocol TCP
    quorum 2
    quorum_up "/bin/true up"
    quorum_down "/bin/true down"
    sorry_server 127.0.0.9 80
    real_server 127.0.0.1 {pa} {{ HTTP_GET {{ url {{ path / }} retry 0 warmup 0 connect_timeout 1 }} }}
    real_server 127.0.0.1 {pb} {{ HTTP_GET {{ url {{ path / }} retry 0 warmup 0 connect_timeout 1 }} }}
}}
"#,
        pa = a.addr.port(),
        pb = b.addr.port()
    );
    let (handle, mut rx) = spawn(
        set(&text),
        ProbeContext::default(),
        RunOptions {
            warmup_seed: Some(7),
        },
    );
    let mut seen = Vec::new();
    let table = handle.table();
    assert!(
        wait_for(&mut rx, &mut seen, Duration::from_secs(2), |a| matches!(
            a,
            Action::QuorumUp { .. }
        ))
        .await
    );
    b.set_status(500);
    assert!(
        wait_for(&mut rx, &mut seen, Duration::from_secs(3), |a| matches!(
            a,
            Action::RunScript {
                kind: ScriptKind::QuorumDown,
                ..
            }
        ))
        .await
    );
    assert!(seen.contains(&Action::SorryServerIn { vs: 0 }));
    let t = table.borrow().clone();
    let addrs: Vec<String> = t.services[0]
        .destinations
        .iter()
        .map(|d| format!("{}:{}", d.addr, d.port))
        .collect();
    assert_eq!(addrs, vec!["127.0.0.9:80"]);
    b.set_status(200);
    assert!(
        wait_for(&mut rx, &mut seen, Duration::from_secs(3), |a| matches!(
            a,
            Action::SorryServerOut { .. }
        ))
        .await
    );
    assert_eq!(table.borrow().services[0].destinations.len(), 2);
    handle.shutdown().await;
}

#[tokio::test]
async fn misc_dynamic_weight_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status");
    std::fs::write(&status, "12").unwrap();
    let text = format!(
        r#"
virtual_server 192.0.2.144 80 {{
    lb_algo wlc
    lb_kind NAT
    delay_loop 0.2
    protocol TCP
    real_server 192.0.2.11 80 {{
        weight 1
        MISC_CHECK {{
            misc_path "/bin/sh -c 'exit $(cat {p})'"
            misc_timeout 2
            misc_dynamic
            warmup 0
        }}
    }}
}}
"#,
        p = status.display()
    );
    let (handle, mut rx) = spawn(set(&text), ProbeContext::default(), RunOptions::default());
    let mut seen = Vec::new();
    let table = handle.table();
    // exit 12 => weight 10.
    assert!(
        wait_for(&mut rx, &mut seen, Duration::from_secs(3), |a| matches!(
            a,
            Action::SetWeight { weight: 10, .. }
        ))
        .await,
        "{seen:?}"
    );
    assert_eq!(table.borrow().services[0].destinations[0].weight, 10);
    std::fs::write(&status, "1").unwrap();
    assert!(
        wait_for(&mut rx, &mut seen, Duration::from_secs(3), |a| matches!(
            a,
            Action::RealServerDown { .. }
        ))
        .await
    );
    assert!(table.borrow().services[0].destinations.is_empty());
    handle.shutdown().await;
}

/// A caller with its own loop (the daemon) sees each result, when it came
/// in and the engine's actions for it, and can read the engine between.
#[tokio::test]
async fn runner_yields_each_result_with_its_time_and_actions() {
    let srv = HttpServer::start(200, b"ok\n").await;
    let text = format!(
        r#"
virtual_server 192.0.2.144 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 0.2
    real_server 127.0.0.1 {port} {{
        weight 1
        alpha
        HTTP_GET {{
            url {{
                path /
            }}
            connect_timeout 1
            warmup 0
        }}
    }}
}}
"#,
        port = srv.addr.port()
    );
    let before = std::time::SystemTime::now();
    let (mut runner, start) =
        keel_check::run::Runner::start(set(&text), ProbeContext::default(), RunOptions::default());
    assert!(start.contains(&Action::TableChanged));
    // alpha: down until the first success.
    assert!(
        runner.set().desired_table().services[0]
            .destinations
            .is_empty()
    );
    let first = tokio::time::timeout(Duration::from_secs(3), runner.next())
        .await
        .unwrap();
    assert!(first.result.ok, "{first:?}");
    assert_eq!((first.id.vs, first.id.rs, first.id.checker), (0, 0, 0));
    assert!(first.wall >= before);
    assert!(first.at <= runner.now());
    assert!(
        first
            .actions
            .contains(&Action::RealServerUp { vs: 0, rs: 0 })
    );
    assert_eq!(
        runner.set().desired_table().services[0].destinations.len(),
        1
    );
    let second = tokio::time::timeout(Duration::from_secs(3), runner.next())
        .await
        .unwrap();
    // Rechecked every delay_loop, on the engine's clock.
    assert!(second.at.saturating_sub(first.at) >= Duration::from_millis(150));
    assert_eq!(runner.stats().probes_completed, 2);
    assert!(runner.shutdown().contains(&Action::TableChanged));
}
