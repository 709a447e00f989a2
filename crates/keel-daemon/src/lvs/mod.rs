//! The load balancer: keel-check's health checkers drive a data plane
//! (IPVS when the kernel has it, nftables otherwise) through keel-lvs's
//! [`Backend`] trait.
//!
//! It runs as one task on the services runtime, never on the VRRP thread:
//! a slow probe or a slow `nft` run cannot delay an advert. Each health
//! change recomputes the desired table and applies it with one
//! [`Backend::sync`] (one atomic nft transaction). Notify scripts, the
//! `lvs_notify_fifo` lines and SMTP alerts follow keepalived's checker.
//! The current state goes to a JSON file ([`state_path`]) that
//! `keel lvs` reads.
//!
//! Laid out by job: `backend` picks the data plane and what nftables
//! needs from this host, `worker` is the running task (health results in,
//! data plane, scripts, FIFOs, mail and state file out), `state` the
//! state file, `status` the `keel lvs` listing.
//!
//! Unlike keepalived, whose whole daemon stops when IPVS is missing, a
//! table the chosen data plane cannot carry only stops the load balancer:
//! VRRP keeps running.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use keel_check::core::{BuildError, CheckerSet, Host};
use keel_config::Config;
use keel_lvs::{Backend, BackendError, Table};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::fifo::NotifyFifo;
use crate::mail::Mailer;
use crate::script::ScriptRunner;

mod backend;
mod state;
mod status;
mod worker;

pub use backend::{IPVS, NFTABLES, RESYNC_INTERVAL, nft_options, open_backend};
pub use state::{CheckResult, CheckState, LvsState, RsState, SorryState, VsState, read_state};
pub use status::{format_status, status};
use worker::Worker;

/// Where the daemon writes the load balancer's state by default.
pub const STATE_FILE: &str = "/run/keel/lvs.json";
/// Environment variable overriding [`STATE_FILE`] (daemon and `keel lvs`).
pub const STATE_FILE_ENV: &str = "KEEL_LVS_STATE";

/// The state file path: `$KEEL_LVS_STATE`, else [`STATE_FILE`].
pub fn state_path() -> PathBuf {
    std::env::var_os(STATE_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(STATE_FILE))
}

/// Why the load balancer did not start, or `keel lvs` cannot report.
#[derive(Debug, thiserror::Error)]
pub enum LvsError {
    #[error("health checkers: {0}")]
    Build(#[from] BuildError),
    #[error("{0}")]
    Backend(#[from] BackendError),
    #[error("the IPVS data plane is not available: {0}")]
    NoIpvs(String),
    #[error("state file {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path}: {source}")]
    StateFormat {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Everything the configuration could ever ask the data plane for: every
/// real server and sorry server present (inhibited ones with weight 0).
/// Validated once at start so an impossible configuration is refused at
/// once rather than at the first health change.
pub fn full_table(config: &Config) -> Result<Table, LvsError> {
    Ok(CheckerSet::from_config(config, &host())?.full_table())
}

/// What the checkers need from this host: its name (SMTP_CHECK's default
/// `HELO`, as keepalived uses).
pub fn host() -> Host {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty());
    match hostname {
        Some(hostname) => Host { hostname },
        None => Host::default(),
    }
}

/// Whether a reload from `old` to `new` changes anything the load balancer
/// uses. When not, the running checkers keep their state: restarting them
/// would put failed servers back until their first check fails again.
pub fn needs_restart(old: &Config, new: &Config) -> bool {
    old.virtual_servers != new.virtual_servers
        || old.virtual_server_groups != new.virtual_server_groups
        || old.track_files != new.track_files
        || old.ssl != new.ssl
        || old.global_defs != new.global_defs
        || nft_options(old).dr_devices != nft_options(new).dr_devices
}

/// What the load balancer shares with the rest of the daemon.
#[derive(Debug, Clone)]
pub struct LvsContext {
    /// The notify/LVS scripts' budget.
    pub runner: ScriptRunner,
    /// Who scripts run as and whether they may run.
    pub scripts: Arc<crate::creds::ScriptPolicy>,
    pub mailer: Option<Mailer>,
    pub router_id: String,
    /// The global `notify_fifo` (LVS lines go there too).
    pub notify_fifo: Option<Arc<NotifyFifo>>,
    pub state_file: PathBuf,
}

/// The running load balancer; [`Lvs::stop`] ends it.
#[derive(Debug)]
pub struct Lvs {
    stop: oneshot::Sender<bool>,
    task: JoinHandle<()>,
}

impl Lvs {
    /// Starts checking and installing, on the current tokio runtime. `None`
    /// when the configuration has no virtual servers. An error means the
    /// load balancer cannot run with this configuration; it was logged.
    pub fn start(config: &Arc<Config>, ctx: LvsContext) -> Result<Option<Lvs>, LvsError> {
        if config.virtual_servers.is_empty() {
            return Ok(None);
        }
        let result = Self::prepare(config);
        let (set, backend, plane) = match result {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("load balancer not started: {e}");
                return Err(e);
            }
        };
        let n = config.virtual_servers.len();
        tracing::info!(
            "Starting the load balancer on the {plane} data plane ({n} virtual server{})",
            if n == 1 { "" } else { "s" }
        );
        let lvs_fifo = open_lvs_fifo(config, &ctx);
        let (stop, stop_rx) = oneshot::channel();
        let worker = Worker {
            cfg: Arc::clone(config),
            backend: Arc::new(Mutex::new(backend)),
            plane,
            ctx,
            lvs_fifo,
            results: HashMap::new(),
            error: None,
            dirty: false,
        };
        let task = tokio::spawn(worker.run(set, stop_rx));
        Ok(Some(Lvs { stop, task }))
    }

    fn prepare(config: &Config) -> Result<(CheckerSet, Box<dyn Backend + Send>, String), LvsError> {
        let set = CheckerSet::from_config(config, &host())?;
        let full = set.full_table();
        let (backend, plane) = open_backend(config)?;
        keel_lvs::validate(&full, &backend.capabilities())
            .map_err(|e| LvsError::Backend(BackendError::Unsupported(e)))?;
        if plane == NFTABLES {
            // A DR service without a known interface fails at render time;
            // find out now.
            keel_nft::render(&full, &nft_options(config)).map_err(|e| {
                LvsError::Backend(BackendError::Render(format!(
                    "{e} (keel takes it from the vrrp_instance holding the address, \
                     the interface with that address or subnet, or global_defs default_interface)"
                )))
            })?;
        }
        Ok((set, backend, plane))
    }

    /// Stops the checkers; with `release`, removes the table from the data
    /// plane (keepalived's behaviour unless `-I`).
    pub async fn stop(self, release: bool) {
        let _ = self.stop.send(release);
        let _ = self.task.await;
    }
}

fn open_lvs_fifo(config: &Config, ctx: &LvsContext) -> Option<Arc<NotifyFifo>> {
    let f = config.global_defs.lvs_notify_fifo.as_ref()?;
    let owner = crate::creds::ScriptPolicy::fifo_owner(f.user.as_deref(), f.group.as_deref());
    let opened = match f.script.as_ref().and_then(|sc| ctx.scripts.allow(sc)) {
        Some(a) => {
            NotifyFifo::open_with_script(&f.path, owner, &a.script, &a.options, ctx.runner.shell())
        }
        None => NotifyFifo::open(&f.path, owner),
    };
    match opened {
        Ok(fifo) => Some(Arc::new(fifo)),
        Err(e) => {
            tracing::warn!("lvs_notify_fifo {}: {e}", f.path);
            None
        }
    }
}
