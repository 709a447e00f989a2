//! Ordered per-instance notify queues against real scripts.

use std::time::{Duration, Instant};

use keel_daemon::notify::{
    ConfiguredScript, NotifyJob, NotifyQueue, NotifyScripts, NotifyState, NotifyTarget,
};
use keel_daemon::script::{RunOptions, Script, ScriptOutcome, ScriptRunner};

fn vi(name: &str) -> NotifyTarget {
    NotifyTarget::Instance(name.to_string())
}

fn job(line: &str, args: &[&str]) -> NotifyJob {
    NotifyJob::new(
        Script::parse(line).unwrap(),
        args.iter().map(|s| s.to_string()).collect(),
        RunOptions::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_jobs_of_one_instance_run_in_submission_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("order");
    // Earlier jobs sleep longer, so anything running them concurrently would
    // finish them out of order.
    let line = format!(
        "/bin/sh -c 'sleep 0.0$(( (49 - $1) % 4 )); echo $1 >> {}' notify",
        out.display()
    );
    let q = NotifyQueue::new(ScriptRunner::new(32));
    let t = vi("VI_1");
    let handles: Vec<_> = (0..50)
        .map(|i| q.submit(&t, job(&line, &[&i.to_string()])))
        .collect();
    for h in handles {
        assert!(h.outcome().await.unwrap().success());
    }
    let got: Vec<u32> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_instance_does_not_delay_another() {
    let q = NotifyQueue::new(ScriptRunner::new(8));
    let start = Instant::now();
    let slow = q.submit(&vi("VI_SLOW"), job("sleep 1.5", &[]));
    let quick: Vec<_> = (0..3)
        .map(|_| q.submit(&vi("VI_FAST"), job("true", &[])))
        .collect();
    for h in quick {
        assert!(h.outcome().await.unwrap().success());
    }
    assert!(
        start.elapsed() < Duration::from_millis(1200),
        "VI_FAST waited for VI_SLOW: {:?}",
        start.elapsed()
    );
    assert!(slow.outcome().await.unwrap().success());
    assert!(start.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_group_and_instance_of_same_name_are_separate_queues() {
    let q = NotifyQueue::new(ScriptRunner::new(8));
    let start = Instant::now();
    let slow = q.submit(&NotifyTarget::Group("X".into()), job("sleep 1.5", &[]));
    let fast = q.submit(&vi("X"), job("true", &[]));
    assert!(fast.outcome().await.unwrap().success());
    assert!(start.elapsed() < Duration::from_millis(1200));
    assert!(slow.outcome().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_script_is_killed_at_its_timeout_and_the_queue_moves_on() {
    let q = NotifyQueue::new(ScriptRunner::new(8));
    let t = vi("VI_1");
    let start = Instant::now();
    let mut hang = job("sleep 30", &[]);
    hang.options.timeout = Some(Duration::from_millis(300));
    let h1 = q.submit(&t, hang);
    let h2 = q.submit(&t, job("true", &[]));
    assert_eq!(
        h1.outcome().await.unwrap(),
        ScriptOutcome::TimedOut {
            after: Duration::from_millis(300)
        }
    );
    assert!(h2.outcome().await.unwrap().success());
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_without_timeout_get_the_queue_default() {
    let q = NotifyQueue::new(ScriptRunner::new(8)).with_default_timeout(Duration::from_millis(200));
    let h = q.submit(&vi("VI_1"), job("sleep 30", &[]));
    assert!(matches!(
        h.outcome().await.unwrap(),
        ScriptOutcome::TimedOut { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_change_runs_specific_then_generic_with_keepalived_args() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("log");
    let cs = |line: String| ConfiguredScript {
        script: Script::parse(&line).unwrap(),
        options: RunOptions::default(),
    };
    let scripts = NotifyScripts {
        master: Some(cs(format!(
            "/bin/sh -c 'sleep 0.2; echo master-script >> {}'",
            out.display()
        ))),
        generic: Some(cs(format!(
            "/bin/sh -c 'echo \"$*\" >> {}' notify",
            out.display()
        ))),
        ..Default::default()
    };
    let q = NotifyQueue::new(ScriptRunner::new(8));
    let handles = q.state_change(&vi("VI_1"), &scripts, NotifyState::Master, 100);
    assert_eq!(handles.len(), 2);
    for h in handles {
        assert!(h.outcome().await.unwrap().success());
    }
    let group = NotifyTarget::Group("G1".into());
    for h in q.state_change(&group, &scripts, NotifyState::Backup, 100) {
        assert!(h.outcome().await.unwrap().success());
    }
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "master-script\nINSTANCE VI_1 MASTER 100\nGROUP G1 BACKUP 0\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_queued_stop_notifies_then_kills_stragglers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stop");
    let q = NotifyQueue::new(ScriptRunner::new(8));
    let h = q.submit(
        &vi("VI_1"),
        job(
            &format!("/bin/sh -c 'sleep 0.2; echo done > {}'", out.display()),
            &[],
        ),
    );
    assert!(q.shutdown(Duration::from_secs(5)).await);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "done\n");
    assert!(h.outcome().await.unwrap().success());

    let q = NotifyQueue::new(ScriptRunner::new(8));
    let start = Instant::now();
    let h = q.submit(&vi("VI_1"), job("sleep 30", &[]));
    assert!(!q.shutdown(Duration::from_millis(300)).await);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(h.outcome().await, None);
}

// A flood of events cannot grow one instance's queue without end: past
// MAX_QUEUED_PER_TARGET waiting jobs, more are dropped (their handles
// report None).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_queue_is_bounded() {
    use keel_daemon::notify::MAX_QUEUED_PER_TARGET;
    let q = NotifyQueue::new(ScriptRunner::new(8));
    let t = vi("VI_FLOOD");
    let first = q.submit(&t, job("sleep 0.5", &[]));
    let rest: Vec<_> = (0..MAX_QUEUED_PER_TARGET + 36)
        .map(|i| q.submit(&t, job("true", &[&i.to_string()])))
        .collect();
    assert!(first.outcome().await.unwrap().success());
    let mut ran = 0;
    for h in rest {
        if h.outcome().await.is_some() {
            ran += 1;
        }
    }
    assert!(
        (MAX_QUEUED_PER_TARGET - 1..=MAX_QUEUED_PER_TARGET + 1).contains(&ran),
        "{ran} jobs ran"
    );
}

// master_rx_lower_pri style events: the same job submitted again while one
// is still waiting is coalesced into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_waiting_jobs_are_coalesced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let q = NotifyQueue::new(ScriptRunner::new(8));
    let t = vi("VI_RX");
    let busy = q.submit(&t, job("sleep 0.3", &[]));
    let line = format!("/bin/sh -c 'echo run >> {}'", out.display());
    let handles: Vec<_> = (0..20)
        .map(|_| q.submit_coalesced(&t, job(&line, &[])))
        .collect();
    assert!(busy.outcome().await.unwrap().success());
    for h in handles {
        let _ = h.outcome().await;
    }
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1);
}
