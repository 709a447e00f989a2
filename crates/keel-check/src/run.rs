//! Drives a [`CheckerSet`] with the real probes on tokio.
//!
//! Every due checker runs as its own task, so a slow or dead server only
//! delays itself; every probe is bounded by its own timeouts. The engine's
//! [`Action`]s go out on an unbounded channel (the consumer must drain it),
//! and the desired LVS table is published on a `watch` channel each time it
//! changes.

use crate::core::{Action, CheckerId, CheckerSet, ProbeResult, Timestamp};
use crate::probe::{ProbeContext, run_probe};
use crate::spec::ProbeSpec;
use crate::table::VirtualService;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

/// Runner settings.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Seed for the random warmup offsets; `None` picks one at random.
    pub warmup_seed: Option<u64>,
}

enum Command {
    Report(CheckerId, ProbeResult),
    Shutdown(oneshot::Sender<()>),
}

/// Controls a running checker loop.
#[derive(Debug, Clone)]
pub struct RunnerHandle {
    commands: mpsc::UnboundedSender<Command>,
    table: watch::Receiver<Vec<VirtualService>>,
    stats: Arc<Counters>,
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

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Report(id, r) => write!(f, "Report({id:?}, {r:?})"),
            Command::Shutdown(_) => write!(f, "Shutdown"),
        }
    }
}

impl RunnerHandle {
    /// The desired LVS table, updated whenever it changes.
    pub fn table(&self) -> watch::Receiver<Vec<VirtualService>> {
        self.table.clone()
    }

    pub fn stats(&self) -> RunnerStats {
        RunnerStats {
            probes_started: self.stats.started.load(Ordering::Relaxed),
            probes_completed: self.stats.completed.load(Ordering::Relaxed),
            probes_failed: self.stats.failed.load(Ordering::Relaxed),
        }
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

/// Starts the checker loop on the current tokio runtime. Returns the
/// control handle and the action stream.
pub fn spawn(
    set: CheckerSet,
    ctx: ProbeContext,
    options: RunOptions,
) -> (RunnerHandle, mpsc::UnboundedReceiver<Action>) {
    let (actions_tx, actions_rx) = mpsc::unbounded_channel();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (table_tx, table_rx) = watch::channel(Vec::new());
    let stats = Arc::new(Counters::default());
    tokio::spawn(run_loop(
        set,
        ctx,
        options,
        cmd_rx,
        actions_tx,
        table_tx,
        stats.clone(),
    ));
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
    table: &watch::Sender<Vec<VirtualService>>,
) {
    let changed = actions.contains(&Action::TableChanged);
    if changed {
        // Publish before the action goes out, so a consumer reacting to
        // TableChanged reads the new table.
        table.send_replace(set.desired_table());
    }
    for a in actions {
        let _ = out.send(a);
    }
}

async fn run_loop(
    mut set: CheckerSet,
    ctx: ProbeContext,
    options: RunOptions,
    mut commands: mpsc::UnboundedReceiver<Command>,
    out: mpsc::UnboundedSender<Action>,
    table: watch::Sender<Vec<VirtualService>>,
    stats: Arc<Counters>,
) {
    let epoch = tokio::time::Instant::now();
    let now = || Timestamp(epoch.elapsed());
    let specs: HashMap<CheckerId, Arc<ProbeSpec>> = set
        .checker_ids()
        .into_iter()
        .filter_map(|id| set.probe_spec(id).map(|s| (id, Arc::new(s.clone()))))
        .collect();
    let ctx = Arc::new(ctx);
    let mut rng = Rng::new(options.warmup_seed);
    let start = set.start(now(), |_, warmup| rng.upto(warmup));
    publish(&set, start, &out, &table);

    let mut probes: JoinSet<(CheckerId, ProbeResult)> = JoinSet::new();
    let mut tasks: HashMap<tokio::task::Id, CheckerId> = HashMap::new();
    loop {
        let wake = set.next_due().map(|t| epoch + t.since_epoch());
        tokio::select! {
            _ = sleep_until_opt(wake) => {
                let t = now();
                for id in set.take_due(t) {
                    let Some(spec) = specs.get(&id).cloned() else { continue };
                    if matches!(*spec, ProbeSpec::External { .. }) {
                        continue;
                    }
                    let ctx = ctx.clone();
                    let handle = probes.spawn(async move {
                        let r = run_probe(&spec, &ctx).await;
                        (id, r)
                    });
                    tasks.insert(handle.id(), id);
                    stats.started.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(done) = probes.join_next_with_id(), if !probes.is_empty() => {
                let (id, result) = match done {
                    Ok((task, v)) => {
                        tasks.remove(&task);
                        v
                    }
                    // A panicking probe is a bug; count it as a failure so
                    // the checker is not left in flight forever.
                    Err(e) => {
                        let Some(id) = tasks.remove(&e.id()) else { continue };
                        tracing::error!("probe task failed: {e}");
                        (id, ProbeResult::fail(format!("probe failed: {e}")))
                    }
                };
                stats.completed.fetch_add(1, Ordering::Relaxed);
                if !result.ok {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                }
                let actions = set.on_result(id, &result, now());
                publish(&set, actions, &out, &table);
            }
            cmd = commands.recv() => {
                match cmd {
                    Some(Command::Report(id, result)) => {
                        let actions = set.on_result(id, &result, now());
                        publish(&set, actions, &out, &table);
                    }
                    Some(Command::Shutdown(done)) => {
                        probes.abort_all();
                        let actions = set.shutdown();
                        publish(&set, actions, &out, &table);
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        probes.abort_all();
                        let actions = set.shutdown();
                        publish(&set, actions, &out, &table);
                        return;
                    }
                }
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
