//! The running load balancer: one task that feeds health results to the
//! data plane, and tells the rest of the daemon (scripts, FIFOs, mail, the
//! state file) what changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_check::core::{Action, CheckerId, CheckerSet, RsId};
use keel_check::run::{Probed, RunOptions, Runner};
use keel_config::Config;
use keel_config::model as cfg;
use keel_lvs::{Backend, BackendError};
use tokio::sync::oneshot;

use super::LvsContext;
use super::backend::RESYNC_INTERVAL;
use super::state::{
    CheckResult, CheckState, LvsState, RsState, SorryState, VsState, unix_now, unix_time,
    write_state,
};
use crate::fifo::{FifoEvent, NotifyFifo};
use crate::mail::{Alert, checker_body};

/// The data plane, shared with the blocking tasks that program it.
pub(super) type SharedBackend = Arc<Mutex<Box<dyn Backend + Send>>>;

pub(super) struct Worker {
    pub(super) cfg: Arc<Config>,
    pub(super) backend: SharedBackend,
    pub(super) plane: String,
    pub(super) ctx: LvsContext,
    pub(super) lvs_fifo: Option<Arc<NotifyFifo>>,
    pub(super) results: HashMap<CheckerId, CheckResult>,
    pub(super) error: Option<String>,
    /// A check result arrived that the state file does not show yet.
    /// Rewriting the whole file after every check made the daemon's cost
    /// per check grow with the number of real servers; plain results are
    /// written at most once per `STATE_SAVE_INTERVAL`, health changes at once.
    pub(super) dirty: bool,
}

/// How stale the state file's "last check" columns may get.
const STATE_SAVE_INTERVAL: Duration = Duration::from_secs(1);

impl Worker {
    /// Checks, installs and reports until `stop` says so (`true`: remove
    /// the table from the data plane).
    pub(super) async fn run(mut self, set: CheckerSet, mut stop: oneshot::Receiver<bool>) {
        let (mut runner, actions) = Runner::start(
            set,
            crate::creds::probe_context(&self.ctx),
            RunOptions::default(),
        );
        self.handle(runner.set(), actions, None, true).await;
        let start = tokio::time::Instant::now();
        let mut resync = tokio::time::interval_at(start + RESYNC_INTERVAL, RESYNC_INTERVAL);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut save_tick =
            tokio::time::interval_at(start + STATE_SAVE_INTERVAL, STATE_SAVE_INTERVAL);
        save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let release = loop {
            tokio::select! {
                probed = runner.next() => {
                    #[cfg(debug_assertions)]
                    if crate::crash::fault::due(crate::crash::fault::Fault::PanicLvs) {
                        panic!("injected fault: panic-lvs");
                    }
                    let Probed { id, result, wall, actions, .. } = probed;
                    self.results.insert(id, CheckResult {
                        ok: result.ok,
                        detail: result.detail,
                        at: unix_time(wall),
                        elapsed_ms: result.elapsed.as_millis() as u64,
                    });
                    self.handle(runner.set(), actions, Some(id), false).await;
                }
                // A data plane that refused an update, or whose table was
                // changed behind keel's back, is brought back.
                _ = resync.tick() => {
                    let had_error = self.error.is_some();
                    let n = self.apply(runner.set()).await;
                    if n > 0 && !had_error {
                        tracing::warn!(
                            "the {} data plane differed from keel's table; restored it ({n} changes)",
                            self.plane
                        );
                    }
                    self.save(runner.set());
                }
                _ = save_tick.tick(), if self.dirty => self.save(runner.set()),
                r = &mut stop => break r.unwrap_or(true),
            }
        };
        // The table goes away only when released; otherwise the data plane
        // keeps forwarding as it was (-I).
        let actions: Vec<Action> = runner
            .shutdown()
            .into_iter()
            .filter(|a| *a != Action::TableChanged)
            .collect();
        self.handle(runner.set(), actions, None, false).await;
        if release {
            self.release().await;
        }
        if let Err(e) = std::fs::remove_file(&self.ctx.state_file)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("{}: {e}", self.ctx.state_file.display());
        }
    }

    async fn release(&self) {
        let backend = Arc::clone(&self.backend);
        let cleared = tokio::task::spawn_blocking(move || match backend.lock() {
            Ok(mut b) => b.clear(),
            Err(_) => Err(BackendError::State("data plane lock poisoned".to_string())),
        })
        .await;
        match cleared {
            Ok(Ok(())) => tracing::info!("Removed the load-balancer table"),
            Ok(Err(e)) => tracing::error!("cannot remove the load-balancer table: {e}"),
            Err(e) => tracing::error!("cannot remove the load-balancer table: {e}"),
        }
    }

    fn rs_smtp_alert(&self, vs: usize, rs: usize) -> bool {
        let g = &self.cfg.global_defs;
        let Some(v) = self.cfg.virtual_servers.get(vs) else {
            return false;
        };
        v.real_servers
            .get(rs)
            .and_then(|r| r.smtp_alert)
            .or(v.smtp_alert)
            .or(g.smtp_alert_checker)
            .or(g.smtp_alert)
            .unwrap_or(false)
    }

    fn vs_smtp_alert(&self, vs: usize) -> bool {
        let g = &self.cfg.global_defs;
        self.cfg
            .virtual_servers
            .get(vs)
            .and_then(|v| v.smtp_alert)
            .or(g.smtp_alert_checker)
            .or(g.smtp_alert)
            .unwrap_or(false)
    }

    fn fifo(&self, event: &FifoEvent) {
        let line = event.line();
        for f in [&self.ctx.notify_fifo, &self.lvs_fifo]
            .into_iter()
            .flatten()
        {
            if let Err(e) = f.write_line(&line) {
                tracing::info!("notify fifo {} write error: {e}", f.path().display());
            }
        }
    }

    fn mail(&self, alert: Alert) {
        if let Some(m) = &self.ctx.mailer {
            m.send(alert);
        }
    }

    fn run_script(&self, script: &cfg::Script) {
        // Disabled scripts were logged when the configuration was loaded.
        let Some(a) = self.ctx.scripts.allow(script) else {
            return;
        };
        let runner = self.ctx.runner.clone();
        tokio::spawn(async move {
            runner.run(&a.script, &[], &a.options).await;
        });
    }

    /// Carries out the engine's actions; `cause` is the checker whose
    /// result produced them.
    async fn handle(
        &mut self,
        set: &CheckerSet,
        actions: Vec<Action>,
        cause: Option<CheckerId>,
        at_startup: bool,
    ) {
        let changed = !actions.is_empty();
        // The data plane first, then the lines and notifications that
        // report the change: keepalived's IPVS command takes microseconds
        // after its "Adding service" line, an nft transaction can take a
        // few hundred milliseconds under load, and whoever reacts to the
        // line (an operator's curl, a notify script, a FIFO reader) must
        // find the server already in the table.
        if actions.contains(&Action::TableChanged) {
            self.apply(set).await;
        }
        for a in actions {
            match a {
                Action::Log(line) => tracing::info!("{line}"),
                Action::RunScript { script, .. } => self.run_script(&script),
                Action::RealServerUp { vs, rs } | Action::RealServerDown { vs, rs } => {
                    let up = set.rs_alive(RsId { vs, rs }).unwrap_or(false);
                    let rs_name = set.rs_label(RsId { vs, rs }).unwrap_or("").to_string();
                    let vs_name = set.vs_label(vs).unwrap_or("").to_string();
                    self.fifo(&FifoEvent::RealServer {
                        rs: rs_name.clone(),
                        vs: vs_name.clone(),
                        up,
                    });
                    if self.rs_smtp_alert(vs, rs) {
                        let kind = cause
                            .and_then(|id| set.checker_kind(id))
                            .map(|k| k.trim_end_matches("_CHECK"))
                            .unwrap_or("Health");
                        self.mail(Alert::real_server(
                            &self.ctx.router_id,
                            &rs_name,
                            &vs_name,
                            up,
                            &checker_body(kind, up),
                        ));
                    }
                }
                Action::QuorumUp { vs } | Action::QuorumDown { vs } => {
                    let up = set.quorum_up(vs).unwrap_or(false);
                    let vs_name = set.vs_label(vs).unwrap_or("").to_string();
                    self.fifo(&FifoEvent::VirtualServer {
                        vs: vs_name.clone(),
                        up,
                    });
                    if self.vs_smtp_alert(vs)
                        && let Some(v) = self.cfg.virtual_servers.get(vs)
                    {
                        let (q, h) = (v.quorum, v.hysteresis);
                        let threshold = if up {
                            q as i64 + h as i64
                        } else {
                            q as i64 - h as i64
                        };
                        self.mail(Alert::virtual_server_quorum(
                            &self.ctx.router_id,
                            &vs_name,
                            up,
                            at_startup,
                            q,
                            h,
                            threshold,
                            set.live_weight(vs).unwrap_or(0),
                        ));
                    }
                }
                Action::TableChanged
                | Action::SetWeight { .. }
                | Action::SorryServerIn { .. }
                | Action::SorryServerOut { .. } => {}
            }
        }
        if changed {
            self.save(set);
        } else {
            self.dirty = true;
        }
    }

    /// Brings the data plane to the engine's desired table; returns how
    /// many changes that took (0 when it already matched or on error).
    async fn apply(&mut self, set: &CheckerSet) -> usize {
        let desired = set.desired_table();
        let backend = Arc::clone(&self.backend);
        let synced = tokio::task::spawn_blocking(move || match backend.lock() {
            Ok(mut b) => b.sync(&desired),
            Err(_) => Err(BackendError::State("data plane lock poisoned".to_string())),
        })
        .await;
        match synced {
            Ok(Ok(changes)) => {
                for c in &changes {
                    tracing::debug!("{} data plane: {c:?}", self.plane);
                }
                self.error = None;
                changes.len()
            }
            Ok(Err(e)) => {
                tracing::error!("cannot update the {} data plane: {e}", self.plane);
                self.error = Some(e.to_string());
                0
            }
            Err(e) => {
                tracing::error!("cannot update the {} data plane: {e}", self.plane);
                self.error = Some(e.to_string());
                0
            }
        }
    }

    fn snapshot(&self, set: &CheckerSet) -> LvsState {
        let mut vss = Vec::new();
        for (v, vs_cfg) in self.cfg.virtual_servers.iter().enumerate() {
            let vs_port = match &vs_cfg.address {
                cfg::VsAddress::Ip { port, .. } => Some(*port),
                _ => None,
            };
            let mut rss = Vec::new();
            for r in 0..set.real_server_count(v) {
                let id = RsId { vs: v, rs: r };
                let Some(rs_cfg) = vs_cfg.real_servers.get(r) else {
                    continue;
                };
                let checkers = (0..rs_cfg.checkers.len())
                    .map(|c| {
                        let cid = CheckerId {
                            vs: v,
                            rs: r,
                            checker: c,
                        };
                        CheckState {
                            kind: set.checker_kind(cid).unwrap_or("").to_string(),
                            up: set.checker_up(cid).unwrap_or(false),
                            last: self.results.get(&cid).cloned(),
                        }
                    })
                    .collect();
                rss.push(RsState {
                    name: set.rs_label(id).unwrap_or("").to_string(),
                    addr: rs_cfg.address,
                    port: rs_cfg.port.or(vs_port).unwrap_or(0),
                    alive: set.rs_alive(id).unwrap_or(false),
                    weight: set.rs_weight(id).unwrap_or(0),
                    checkers,
                });
            }
            vss.push(VsState {
                name: set.vs_label(v).unwrap_or("").to_string(),
                services: set.service_keys(v).to_vec(),
                quorum_up: set.quorum_up(v).unwrap_or(false),
                live_weight: set.live_weight(v).unwrap_or(0),
                sorry_server: vs_cfg.sorry_server.as_ref().map(|s| SorryState {
                    addr: s.address,
                    port: s.port.or(vs_port).unwrap_or(0),
                    active: set.sorry_server_active(v).unwrap_or(false),
                }),
                real_servers: rss,
            });
        }
        LvsState {
            pid: std::process::id(),
            data_plane: self.plane.clone(),
            nft_table: keel_nft::Options::default().table,
            updated: unix_now(),
            error: self.error.clone(),
            virtual_servers: vss,
        }
    }

    fn save(&mut self, set: &CheckerSet) {
        self.dirty = false;
        if let Err(e) = write_state(&self.ctx.state_file, &self.snapshot(set)) {
            tracing::warn!("{e}");
        }
    }
}
