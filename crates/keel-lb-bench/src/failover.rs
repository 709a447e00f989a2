//! Time from a real server's failure to the ruleset without it: keel's
//! health-check runner (keel-check) probes both servers from the director,
//! one nginx is stopped at T0, and each `TableChanged` is applied to the
//! nftables backend the way the daemon does (keel-check's desired
//! `keel_lvs::Table`, then `Backend::sync`), then read back.

use anyhow::{Context, Result, anyhow, bail, ensure};
use keel_check::core::{Action, CheckerSet};
use keel_check::probe::ProbeContext;
use keel_check::run::{self, RunOptions};
use keel_lvs::{Backend, Table};
use keel_nft::NftBackend;
use nix::sys::signal::Signal;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;

use crate::lab::{LbLab, PORT, rs_ip};

/// The server stopped in every trial (0-based): rs2.
const VICTIM: u8 = 1;
/// Longest wait for any one step (a check every second, retry 0: the
/// failure must show within about two seconds).
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// One failure, measured.
#[derive(Debug, Clone, Copy)]
pub struct Trial {
    /// T0 (SIGTERM to nginx) → the runner's `RealServerDown`.
    pub detect: Duration,
    /// `RealServerDown` → `sync` of the new table returned (one `nft -f`
    /// transaction, after reading the current ruleset to diff against).
    pub sync: Duration,
    /// `RealServerDown` → the ruleset read back without the server.
    pub apply: Duration,
}

impl Trial {
    pub fn total(&self) -> Duration {
        self.detect + self.apply
    }
}

/// Runs `trials` failures of rs2 (restarting it between them) and returns
/// their timings.
pub fn measure(l: &mut LbLab, trials: usize) -> Result<Vec<Trial>> {
    let (cfg, diags) = keel_config::from_str(&l.keepalived_conf(), "keel-lb-bench.conf")
        .map_err(|e| anyhow!("benchmark configuration: {e:?}"))?;
    if diags.has_errors() {
        let errors: Vec<String> = diags.errors().map(|d| d.to_string()).collect();
        bail!("benchmark configuration: {}", errors.join("; "));
    }
    let set =
        CheckerSet::from_config(&cfg, &keel_check::Host::default()).context("health checkers")?;
    let mut backend = l.backend();
    let director = &l.director;
    let rs = &l.rs[usize::from(VICTIM)];
    let server = &l.nginx[usize::from(VICTIM)];
    let slot = &mut l.procs[usize::from(VICTIM)];
    // The runner and its probes live on the director (sockets are created
    // in the namespace of the thread that runs them).
    director.block_on(move || async move {
        let (handle, mut actions) = run::spawn(
            set,
            ProbeContext::default(),
            RunOptions {
                warmup_seed: Some(1),
            },
        );
        let table = handle.table();
        let result = async {
            // The runner publishes its first table at start.
            wait_for(&mut actions, |a| *a == Action::TableChanged).await?;
            apply(&mut backend, &table)?;
            let mut out = Vec::with_capacity(trials);
            for trial in 0..trials {
                // Spread T0 over the check period: detection depends on
                // where in the 1 s delay_loop the failure falls.
                let phase = 1000 * trial as u64 / trials.max(1) as u64;
                tokio::time::sleep(Duration::from_millis(1500 + phase)).await;
                let proc = slot
                    .take()
                    .ok_or_else(|| anyhow!("rs{} is not running", VICTIM + 1))?;
                let t0 = Instant::now();
                proc.kill(Signal::SIGTERM).context("stop nginx")?;
                wait_for(&mut actions, |a| {
                    matches!(a, Action::RealServerDown { vs: 0, rs } if *rs == usize::from(VICTIM))
                })
                .await?;
                let down = Instant::now();
                // The table is published before the actions of the same
                // step go out, so TableChanged follows at once.
                wait_for(&mut actions, |a| *a == Action::TableChanged).await?;
                let desired = table.borrow().clone();
                backend.sync(&desired).context("nft sync")?;
                let synced = Instant::now();
                let installed = backend.read().context("nft read back")?;
                ensure!(
                    !serving(&installed, rs_ip(VICTIM)),
                    "rs{} still in the ruleset after its failure",
                    VICTIM + 1
                );
                let applied = Instant::now();
                out.push(Trial {
                    detect: down - t0,
                    sync: synced - down,
                    apply: applied - down,
                });
                // Bring it back for the next trial.
                if proc.wait_timeout(Duration::from_secs(5))?.is_none() {
                    bail!("nginx on rs{} did not stop", VICTIM + 1);
                }
                *slot = Some(server.start(rs, SocketAddr::new(rs_ip(VICTIM), PORT))?);
                wait_for(&mut actions, |a| {
                    matches!(a, Action::RealServerUp { vs: 0, rs } if *rs == usize::from(VICTIM))
                })
                .await?;
                wait_for(&mut actions, |a| *a == Action::TableChanged).await?;
                let installed = apply(&mut backend, &table)?;
                ensure!(
                    serving(&installed, rs_ip(VICTIM)),
                    "rs{} not back in the ruleset",
                    VICTIM + 1
                );
            }
            Ok(out)
        }
        .await;
        handle.shutdown().await;
        result
    })?
}

/// Drains actions until one matches `pred`, for at most [`STEP_TIMEOUT`].
async fn wait_for(
    rx: &mut UnboundedReceiver<Action>,
    pred: impl Fn(&Action) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(a)) if pred(&a) => return Ok(()),
            Ok(Some(_)) => {}
            Ok(None) => bail!("the health-check runner stopped"),
            Err(_) => bail!("no matching health-check action within {STEP_TIMEOUT:?}"),
        }
    }
}

/// Installs the runner's current desired table and returns what the
/// backend reads back.
fn apply(backend: &mut NftBackend, table: &watch::Receiver<Table>) -> Result<Table> {
    let desired = table.borrow().clone();
    backend.sync(&desired).context("nft sync")?;
    let installed = backend.read().context("nft read back")?;
    ensure!(
        installed == desired.normalized(),
        "ruleset read back differs from the table installed"
    );
    Ok(installed)
}

/// Whether `addr` takes new connections in `table`.
fn serving(table: &Table, addr: IpAddr) -> bool {
    table
        .services
        .iter()
        .flat_map(|s| &s.destinations)
        .any(|d| d.addr == addr && d.weight > 0)
}
