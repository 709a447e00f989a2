//! Drives a [`CheckerSet`] with the real probes on tokio.
//!
//! [`Runner`] is the loop's body: it launches every due checker as its own
//! task (a slow or dead server only delays itself; every probe is bounded by
//! its own timeouts) and yields each result with the time it came in and the
//! engine's actions for it ([`Probed`]). A caller with its own loop (the
//! daemon, which also resyncs a data plane and writes a state file) awaits
//! [`Runner::next`] beside its other work; [`spawn`] runs the loop as a task
//! of its own, sending the actions on a channel and the desired table on a
//! `watch` channel.

use crate::core::{Action, CheckerId, CheckerSet, ProbeResult, Timestamp};
use crate::probe::{ProbeContext, run_probe};
use crate::spec::ProbeSpec;
use keel_lvs::Table;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinError, JoinSet};

/// Runner settings.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Seed for the random warmup offsets; `None` picks one at random.
    pub warmup_seed: Option<u64>,
}

#[derive(Debug, Default)]
struct Counters {
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
}

/// Probe counters since the runner started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunnerStats {
    pub probes_started: u64,
    pub probes_completed: u64,
    /// Completed probes whose result was a failure.
    pub probes_failed: u64,
}

impl Counters {
    fn read(&self) -> RunnerStats {
        RunnerStats {
            probes_started: self.started.load(Ordering::Relaxed),
            probes_completed: self.completed.load(Ordering::Relaxed),
            probes_failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// One result the engine took in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    pub id: CheckerId,
    pub result: ProbeResult,
    /// When it came in, on the engine's clock.
    pub at: Timestamp,
    /// The same moment on the wall clock, for people reading status.
    pub wall: SystemTime,
    /// What the engine asked for in response, in order.
    pub actions: Vec<Action>,
}

/// A small xorshift generator: warmup offsets need spread, not security.
struct Rng(u64);

impl Rng {
    fn new(seed: Option<u64>) -> Rng {
        let seed = seed.unwrap_or_else(|| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0x6b65656c);
            h.finish()
        });
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn upto(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().min(u64::MAX as u128) as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next() % (nanos + 1))
    }
}

/// The checker engine with its probes in flight.
pub struct Runner {
    set: CheckerSet,
    ctx: Arc<ProbeContext>,
    specs: HashMap<CheckerId, Arc<ProbeSpec>>,
    probes: JoinSet<(CheckerId, ProbeResult)>,
    tasks: HashMap<tokio::task::Id, CheckerId>,
    epoch: tokio::time::Instant,
    stats: Arc<Counters>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("in_flight", &self.probes.len())
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Starts the engine now (first checks spread over their warmup) and
    /// returns the runner with the engine's start actions.
    pub fn start(
        mut set: CheckerSet,
        ctx: ProbeContext,
        options: RunOptions,
    ) -> (Runner, Vec<Action>) {
        let epoch = tokio::time::Instant::now();
        let specs = set
            .checker_ids()
            .into_iter()
            .filter_map(|id| set.probe_spec(id).map(|s| (id, Arc::new(s.clone()))))
            .collect();
        let mut rng = Rng::new(options.warmup_seed);
        let actions = set.start(Timestamp::ZERO, |_, warmup| rng.upto(warmup));
        let runner = Runner {
            set,
            ctx: Arc::new(ctx),
            specs,
            probes: JoinSet::new(),
            tasks: HashMap::new(),
            epoch,
            stats: Arc::new(Counters::default()),
        };
        (runner, actions)
    }

    /// The engine, for its state and [`CheckerSet::desired_table`].
    pub fn set(&self) -> &CheckerSet {
        &self.set
    }

    /// Now on the engine's clock.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.epoch.elapsed())
    }

    pub fn stats(&self) -> RunnerStats {
        self.stats.read()
    }

    /// Waits for the next probe result, launching the checkers that fall
    /// due meanwhile. Cancel-safe: dropping the future loses no result, so
    /// it can sit in a `select!` beside other work.
    pub async fn next(&mut self) -> Probed {
        loop {
            let wake = self.set.next_due().map(|t| self.epoch + t.since_epoch());
            tokio::select! {
                _ = sleep_until_opt(wake) => self.launch_due(),
                Some(done) = self.probes.join_next_with_id(), if !self.probes.is_empty() => {
                    if let Some((id, result)) = self.finished(done) {
                        self.stats.completed.fetch_add(1, Ordering::Relaxed);
                        if !result.ok {
                            self.stats.failed.fetch_add(1, Ordering::Relaxed);
                        }
                        return self.report(id, result);
                    }
                }
            }
        }
    }

    /// Feeds a result the runner did not probe itself (BFD_CHECK), or an
    /// extra one for any checker.
    pub fn report(&mut self, id: CheckerId, result: ProbeResult) -> Probed {
        let at = self.now();
        let actions = self.set.on_result(id, &result, at);
        Probed {
            id,
            result,
            at,
            wall: SystemTime::now(),
            actions,
        }
    }

    /// Stops checking: in-flight probes are cancelled; returns the engine's
    /// shutdown actions (omega scripts, the empty table).
    pub fn shutdown(&mut self) -> Vec<Action> {
        self.probes.abort_all();
        self.tasks.clear();
        self.set.shutdown()
    }

    fn launch_due(&mut self) {
        let now = self.now();
        for id in self.set.take_due(now) {
            let Some(spec) = self.specs.get(&id).cloned() else {
                continue;
            };
            if matches!(*spec, ProbeSpec::External { .. }) {
                continue;
            }
            let ctx = Arc::clone(&self.ctx);
            let handle = self
                .probes
                .spawn(async move { (id, run_probe(&spec, &ctx).await) });
            self.tasks.insert(handle.id(), id);
            self.stats.started.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn finished(
        &mut self,
        done: Result<(tokio::task::Id, (CheckerId, ProbeResult)), JoinError>,
    ) -> Option<(CheckerId, ProbeResult)> {
        match done {
            Ok((task, v)) => {
                self.tasks.remove(&task);
                Some(v)
            }
            // A panicking probe is a bug; count it as a failure so the
            // checker is not left in flight forever.
            Err(e) => {
                let id = self.tasks.remove(&e.id())?;
                tracing::error!("probe task failed: {e}");
                Some((id, ProbeResult::fail(format!("probe failed: {e}"))))
            }
        }
    }
}

enum Command {
    Report(CheckerId, ProbeResult),
    Shutdown(oneshot::Sender<()>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Report(id, r) => write!(f, "Report({id:?}, {r:?})"),
            Command::Shutdown(_) => write!(f, "Shutdown"),
        }
    }
}

/// Controls a checker loop started with [`spawn`].
#[derive(Debug, Clone)]
pub struct RunnerHandle {
    commands: mpsc::UnboundedSender<Command>,
    table: watch::Receiver<Table>,
    stats: Arc<Counters>,
}

impl RunnerHandle {
    /// The desired LVS table, updated whenever it changes.
    pub fn table(&self) -> watch::Receiver<Table> {
        self.table.clone()
    }

    pub fn stats(&self) -> RunnerStats {
        self.stats.read()
    }

    /// Feeds a result for a checker the runner does not probe itself
    /// (BFD_CHECK), or an extra one for any checker.
    pub fn report(&self, id: CheckerId, result: ProbeResult) {
        let _ = self.commands.send(Command::Report(id, result));
    }

    /// Stops checking: the engine's shutdown actions (omega scripts, the
    /// empty table) are sent, in-flight probes are cancelled, and this
    /// returns once the loop has ended.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts the checker loop on the current tokio runtime. Returns the
/// control handle and the action stream (the consumer must drain it).
pub fn spawn(
    set: CheckerSet,
    ctx: ProbeContext,
    options: RunOptions,
) -> (RunnerHandle, mpsc::UnboundedReceiver<Action>) {
    let (actions_tx, actions_rx) = mpsc::unbounded_channel();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (table_tx, table_rx) = watch::channel(Table::new());
    let (runner, start) = Runner::start(set, ctx, options);
    let stats = Arc::clone(&runner.stats);
    publish(runner.set(), start, &actions_tx, &table_tx);
    tokio::spawn(run_loop(runner, cmd_rx, actions_tx, table_tx));
    (
        RunnerHandle {
            commands: cmd_tx,
            table: table_rx,
            stats,
        },
        actions_rx,
    )
}

fn publish(
    set: &CheckerSet,
    actions: Vec<Action>,
    out: &mpsc::UnboundedSender<Action>,
    table: &watch::Sender<Table>,
) {
    if actions.contains(&Action::TableChanged) {
        // Publish before the action goes out, so a consumer reacting to
        // TableChanged reads the new table.
        table.send_replace(set.desired_table());
    }
    for a in actions {
        let _ = out.send(a);
    }
}

async fn run_loop(
    mut runner: Runner,
    mut commands: mpsc::UnboundedReceiver<Command>,
    out: mpsc::UnboundedSender<Action>,
    table: watch::Sender<Table>,
) {
    loop {
        tokio::select! {
            probed = runner.next() => publish(runner.set(), probed.actions, &out, &table),
            cmd = commands.recv() => {
                let done = match cmd {
                    Some(Command::Report(id, result)) => {
                        let probed = runner.report(id, result);
                        publish(runner.set(), probed.actions, &out, &table);
                        continue;
                    }
                    Some(Command::Shutdown(done)) => Some(done),
                    None => None,
                };
                let actions = runner.shutdown();
                publish(runner.set(), actions, &out, &table);
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
