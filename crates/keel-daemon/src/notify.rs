//! Ordered notify scripts.
//!
//! keepalived forks every notify script and never waits, so a quick
//! MASTER→BACKUP→MASTER flap can run the three scripts at once and finish them
//! in any order (a common complaint). keel keeps one queue per instance or sync
//! group: its jobs run strictly one after another in submission order, while
//! queues of different instances run in parallel, so a slow script only
//! delays later notifies of its own instance.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::script::{RunOptions, Script, ScriptOutcome, ScriptRunner};

/// Timeout for a notify job submitted without one: keepalived has none, but
/// an ordered queue must not be stalled forever by one hung script.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);

/// The state names keepalived passes to notify scripts and writes to FIFOs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyState {
    Master,
    Backup,
    Fault,
    Stop,
    Deleted,
}

impl NotifyState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
            NotifyState::Deleted => "DELETED",
        }
    }
}

impl fmt::Display for NotifyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose notify this is: a VRRP instance or a sync group. Also the queue key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NotifyTarget {
    Instance(String),
    Group(String),
}

impl NotifyTarget {
    /// `INSTANCE` or `GROUP`, the first argument of a generic notify.
    pub fn type_str(&self) -> &'static str {
        match self {
            NotifyTarget::Instance(_) => "INSTANCE",
            NotifyTarget::Group(_) => "GROUP",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            NotifyTarget::Instance(n) | NotifyTarget::Group(n) => n,
        }
    }
}

/// The arguments keepalived appends to a generic `notify` script, each its own
/// argv item: `INSTANCE|GROUP NAME STATE PRIORITY` (the name unquoted; groups
/// always report priority 0).
pub fn generic_notify_args(target: &NotifyTarget, state: NotifyState, priority: u8) -> Vec<String> {
    let prio = match target {
        NotifyTarget::Instance(_) => priority,
        NotifyTarget::Group(_) => 0,
    };
    vec![
        target.type_str().to_string(),
        target.name().to_string(),
        state.as_str().to_string(),
        prio.to_string(),
    ]
}

/// One configured script with its run options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredScript {
    pub script: Script,
    pub options: RunOptions,
}

/// The notify scripts of one instance or sync group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyScripts {
    pub master: Option<ConfiguredScript>,
    pub backup: Option<ConfiguredScript>,
    pub fault: Option<ConfiguredScript>,
    pub stop: Option<ConfiguredScript>,
    /// `notify_deleted` with a script; only instances have it.
    pub deleted: Option<ConfiguredScript>,
    /// `notify_deleted` given: report DELETED instead of FAULT for instances
    /// removed by a reload.
    pub notify_deleted: bool,
    /// Generic `notify`.
    pub generic: Option<ConfiguredScript>,
    /// `notify_master_rx_lower_pri`.
    pub master_rx_lower_pri: Option<ConfiguredScript>,
}

impl NotifyScripts {
    /// The jobs for a state change, in keepalived's order: the state's own
    /// script as written, then the generic script with its four arguments.
    /// An instance removed at reload reports FAULT unless `notify_deleted`.
    pub fn jobs_for(
        &self,
        target: &NotifyTarget,
        state: NotifyState,
        priority: u8,
    ) -> Vec<NotifyJob> {
        let state = if state == NotifyState::Deleted && !self.notify_deleted {
            NotifyState::Fault
        } else {
            state
        };
        let specific = match state {
            NotifyState::Master => self.master.as_ref(),
            NotifyState::Backup => self.backup.as_ref(),
            NotifyState::Fault => self.fault.as_ref(),
            NotifyState::Stop => self.stop.as_ref(),
            NotifyState::Deleted => self.deleted.as_ref(),
        };
        let mut jobs = Vec::with_capacity(2);
        if let Some(s) = specific {
            jobs.push(NotifyJob::new(
                s.script.clone(),
                Vec::new(),
                s.options.clone(),
            ));
        }
        if let Some(g) = &self.generic {
            jobs.push(NotifyJob::new(
                g.script.clone(),
                generic_notify_args(target, state, priority),
                g.options.clone(),
            ));
        }
        jobs
    }

    /// The job for `notify_master_rx_lower_pri`, run as written.
    pub fn master_rx_lower_pri_job(&self) -> Option<NotifyJob> {
        self.master_rx_lower_pri
            .as_ref()
            .map(|s| NotifyJob::new(s.script.clone(), Vec::new(), s.options.clone()))
    }
}

/// One script run waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyJob {
    pub script: Script,
    pub args: Vec<String>,
    pub options: RunOptions,
}

impl NotifyJob {
    pub fn new(script: Script, args: Vec<String>, options: RunOptions) -> NotifyJob {
        NotifyJob {
            script,
            args,
            options,
        }
    }
}

/// The result of a submitted job; dropping it does not cancel the job.
#[derive(Debug)]
pub struct JobHandle {
    rx: oneshot::Receiver<ScriptOutcome>,
}

impl JobHandle {
    /// Waits for the job to finish. `None` if the queue shut down before
    /// running it.
    pub async fn outcome(self) -> Option<ScriptOutcome> {
        self.rx.await.ok()
    }
}

/// Jobs one target may have waiting; a flood of events (a peer sending
/// lower-priority adverts in a loop) cannot grow memory without end.
pub const MAX_QUEUED_PER_TARGET: usize = 64;

struct Queued {
    job: NotifyJob,
    key: String,
    done: oneshot::Sender<ScriptOutcome>,
}

/// Jobs waiting (not yet started) in one target's queue, by job.
type Waiting = Arc<Mutex<HashMap<String, usize>>>;

struct Worker {
    tx: mpsc::UnboundedSender<Queued>,
    task: JoinHandle<()>,
    waiting: Waiting,
}

fn job_key(job: &NotifyJob) -> String {
    let mut k = job.script.line().to_string();
    for a in &job.args {
        k.push('\0');
        k.push_str(a);
    }
    k
}

/// How many jobs like `key`, and how many in all, are waiting.
fn peek_waiting(w: &Waiting, key: &str) -> (usize, usize) {
    let Ok(m) = w.lock() else {
        return (0, 0);
    };
    (m.get(key).copied().unwrap_or(0), m.values().sum())
}

/// Counts a job in (`add`) or out of the waiting set.
fn count_waiting(w: &Waiting, key: &str, add: bool) {
    let Ok(mut m) = w.lock() else {
        return;
    };
    let same = m.get(key).copied().unwrap_or(0);
    if add {
        m.insert(key.to_string(), same + 1);
    } else if same <= 1 {
        m.remove(key);
    } else {
        m.insert(key.to_string(), same - 1);
    }
}

/// Per-target ordered queues over a shared [`ScriptRunner`]. Cheap to clone.
#[derive(Clone)]
pub struct NotifyQueue {
    runner: ScriptRunner,
    default_timeout: Duration,
    workers: Arc<Mutex<HashMap<NotifyTarget, Worker>>>,
}

impl fmt::Debug for NotifyQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyQueue")
            .field("default_timeout", &self.default_timeout)
            .finish_non_exhaustive()
    }
}

impl NotifyQueue {
    pub fn new(runner: ScriptRunner) -> NotifyQueue {
        NotifyQueue {
            runner,
            default_timeout: DEFAULT_NOTIFY_TIMEOUT,
            workers: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Timeout applied to jobs submitted without one.
    pub fn with_default_timeout(mut self, timeout: Duration) -> NotifyQueue {
        self.default_timeout = timeout;
        self
    }

    /// Queues `job` behind earlier jobs of `target`; returns at once. Must be
    /// called inside a tokio runtime (the target's worker task is spawned on
    /// first use).
    pub fn submit(&self, target: &NotifyTarget, job: NotifyJob) -> JobHandle {
        self.enqueue(target, job, false)
    }

    /// Like [`NotifyQueue::submit`], but a job identical to one still
    /// waiting is dropped: ten lower-priority adverts in a row need the
    /// script run once, not ten times.
    pub fn submit_coalesced(&self, target: &NotifyTarget, job: NotifyJob) -> JobHandle {
        self.enqueue(target, job, true)
    }

    fn enqueue(&self, target: &NotifyTarget, mut job: NotifyJob, coalesce: bool) -> JobHandle {
        if job.options.timeout.is_none() {
            job.options.timeout = Some(self.default_timeout);
        }
        let (done, rx) = oneshot::channel();
        let key = job_key(&job);
        let Ok(mut workers) = self.workers.lock() else {
            // A poisoned map means a panic elsewhere; the job is dropped and
            // its handle reports None.
            return JobHandle { rx };
        };
        if let Some(w) = workers.get(target) {
            let (same, total) = peek_waiting(&w.waiting, &key);
            if (coalesce && same > 0) || total >= MAX_QUEUED_PER_TARGET {
                if !coalesce {
                    tracing::warn!(
                        "({}) notify queue full; not running {}",
                        target.name(),
                        job.script.line()
                    );
                }
                return JobHandle { rx };
            }
            count_waiting(&w.waiting, &key, true);
            let item = Queued { job, key, done };
            match w.tx.send(item) {
                Ok(()) => return JobHandle { rx },
                // The worker died (its runtime shut down): start a new one.
                Err(mpsc::error::SendError(back)) => {
                    return self.start_worker(&mut workers, target, back);
                }
            }
        }
        self.start_worker(&mut workers, target, Queued { job, key, done })
    }

    fn start_worker(
        &self,
        workers: &mut HashMap<NotifyTarget, Worker>,
        target: &NotifyTarget,
        item: Queued,
    ) -> JobHandle {
        let (done, rx) = oneshot::channel();
        let item = Queued { done, ..item };
        let waiting: Waiting = Arc::new(Mutex::new(HashMap::new()));
        count_waiting(&waiting, &item.key, true);
        let (tx, jobs) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_worker(
            self.runner.clone(),
            target.clone(),
            jobs,
            Arc::clone(&waiting),
        ));
        if tx.send(item).is_err() {
            tracing::warn!(target = target.name(), "notify worker exited at start");
        }
        workers.insert(target.clone(), Worker { tx, task, waiting });
        JobHandle { rx }
    }

    /// Queues all `jobs` for `target` in order.
    pub fn submit_all(&self, target: &NotifyTarget, jobs: Vec<NotifyJob>) -> Vec<JobHandle> {
        jobs.into_iter().map(|j| self.submit(target, j)).collect()
    }

    /// Queues the notifies for a state change (see [`NotifyScripts::jobs_for`]).
    pub fn state_change(
        &self,
        target: &NotifyTarget,
        scripts: &NotifyScripts,
        state: NotifyState,
        priority: u8,
    ) -> Vec<JobHandle> {
        self.submit_all(target, scripts.jobs_for(target, state, priority))
    }

    /// Stops accepting work and waits up to `grace` for queued jobs to finish
    /// (keepalived waits for STOP notifies at exit); jobs still running then
    /// are killed. Returns whether everything finished in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let workers: Vec<Worker> = match self.workers.lock() {
            Ok(mut w) => w.drain().map(|(_, w)| w).collect(),
            Err(_) => return false,
        };
        let mut tasks = Vec::with_capacity(workers.len());
        for w in workers {
            drop(w.tx);
            tasks.push(w.task);
        }
        let deadline = tokio::time::Instant::now() + grace;
        let mut all_done = true;
        for mut t in tasks {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                // Aborting drops the running script's future, which kills its
                // process group.
                t.abort();
                all_done = false;
            }
        }
        all_done
    }
}

async fn run_worker(
    runner: ScriptRunner,
    target: NotifyTarget,
    mut jobs: mpsc::UnboundedReceiver<Queued>,
    waiting: Waiting,
) {
    while let Some(Queued { job, key, done }) = jobs.recv().await {
        count_waiting(&waiting, &key, false);
        let outcome = runner.run(&job.script, &job.args, &job.options).await;
        if outcome.success() {
            tracing::debug!(
                target_type = target.type_str(),
                name = target.name(),
                script = job.script.line(),
                "notify script finished"
            );
        } else {
            match outcome.stderr() {
                Some(err) => tracing::warn!(
                    name = target.name(),
                    "Notify script {} {}: {}",
                    job.script.line(),
                    outcome,
                    err
                ),
                None => tracing::warn!(
                    name = target.name(),
                    "Notify script {} {}",
                    job.script.line(),
                    outcome
                ),
            }
        }
        // The submitter may not care about the result.
        let _ = done.send(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(line: &str) -> ConfiguredScript {
        ConfiguredScript {
            script: Script::parse(line).unwrap(),
            options: RunOptions::default(),
        }
    }

    #[test]
    fn generic_args_are_type_name_state_priority() {
        let t = NotifyTarget::Instance("VI_1".into());
        assert_eq!(
            generic_notify_args(&t, NotifyState::Master, 100),
            vec!["INSTANCE", "VI_1", "MASTER", "100"]
        );
        let g = NotifyTarget::Group("G1".into());
        assert_eq!(
            generic_notify_args(&g, NotifyState::Backup, 100),
            vec!["GROUP", "G1", "BACKUP", "0"]
        );
    }

    #[test]
    fn jobs_specific_then_generic() {
        let scripts = NotifyScripts {
            master: Some(cs("/etc/keepalived/notify.sh master")),
            backup: Some(cs("/etc/keepalived/notify.sh backup")),
            generic: Some(cs("/etc/keepalived/all.sh")),
            ..Default::default()
        };
        let t = NotifyTarget::Instance("VI_1".into());
        let jobs = scripts.jobs_for(&t, NotifyState::Master, 100);
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].script.line(), "/etc/keepalived/notify.sh master");
        assert!(jobs[0].args.is_empty());
        assert_eq!(jobs[1].script.line(), "/etc/keepalived/all.sh");
        assert_eq!(jobs[1].args, vec!["INSTANCE", "VI_1", "MASTER", "100"]);
        assert_eq!(scripts.jobs_for(&t, NotifyState::Fault, 100).len(), 1);
    }

    #[test]
    fn deleted_reports_fault_unless_notify_deleted() {
        let mut scripts = NotifyScripts {
            fault: Some(cs("/f")),
            deleted: Some(cs("/d")),
            generic: Some(cs("/g")),
            ..Default::default()
        };
        let t = NotifyTarget::Instance("VI_1".into());
        let jobs = scripts.jobs_for(&t, NotifyState::Deleted, 90);
        assert_eq!(jobs[0].script.line(), "/f");
        assert_eq!(jobs[1].args[2], "FAULT");
        scripts.notify_deleted = true;
        let jobs = scripts.jobs_for(&t, NotifyState::Deleted, 90);
        assert_eq!(jobs[0].script.line(), "/d");
        assert_eq!(jobs[1].args[2], "DELETED");
    }
}
