//! The daemon as a whole: logging, configuration, pid files, the VRRP thread
//! and the services around it (trackers, notifies, FIFOs, mail, signals).
//!
//! Threads: the VRRP runtime ([`crate::vrrp`]) owns sockets, netlink and the
//! engine on its own thread; this (the calling) thread runs a second
//! current-thread runtime for everything that may be slow — scripts, notify
//! queues, SMTP — so nothing here can delay an advert.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keel_config::{Config, FsSource, PreprocessOptions};
use keel_vrrp::instance::{NotifyEvent, State};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

use crate::creds::ScriptPolicy;
use crate::fifo::{FifoEvent, FifoSet, NotifyFifo};
use crate::logging::{self, LogOptions};
use crate::mail::{Alert, Mailer, SmtpConfig};
use crate::notify::{ConfiguredScript, NotifyQueue, NotifyScripts, NotifyState, NotifyTarget};
use crate::pidfile::{self, PidFile, PidKind};
use crate::script::{DEFAULT_SCRIPT_TIMEOUT, ScriptRunner};
use crate::sdnotify::SdNotify;
use crate::trackers::Trackers;
use crate::vrrp::{self, EngineMsg, ServiceMsg};

/// Where SIGUSR1 writes the state dump (keepalived's path).
pub const DATA_FILE: &str = "/tmp/keepalived.data";
/// Where SIGUSR2 writes the statistics (keepalived's path).
pub const STATS_FILE: &str = "/tmp/keepalived.stats";
/// Where TDATA writes the list of keel's threads.
pub const TDATA_FILE: &str = "/tmp/keepalived.tdata";

/// The signal number keepalived's `--signum=NAME` prints: the same numbers,
/// so `kill -$(keepalived --signum=JSON) PID` works on keel. The real-time
/// ones are relative to the C library's SIGRTMIN/SIGRTMAX, as keepalived's.
pub fn signum(name: &str) -> Option<i32> {
    use nix::libc;
    Some(match name {
        "STOP" => libc::SIGTERM,
        "RELOAD" => libc::SIGHUP,
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "STATS_CLEAR" => libc::SIGRTMAX() - 1,
        "JSON" => libc::SIGRTMIN() + 2,
        "TDATA" => libc::SIGRTMAX(),
        _ => return None,
    })
}

/// Notify and LVS scripts running at once; more wait for a slot.
const NOTIFY_MAX_CONCURRENT: usize = 64;

/// How long a graceful stop waits for STOP notify scripts.
const STOP_NOTIFY_GRACE: Duration = Duration::from_millis(800);

/// What `keel -f FILE -n ...` asks of the daemon (keepalived's flags).
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// `-f`.
    pub config_file: PathBuf,
    /// `-i`: matched by `@ID` lines; default the short host name.
    pub config_id: Option<String>,
    /// `-n`. Without it the daemon detaches as keepalived does: the
    /// calling process exits 0 and a child in a new session runs on.
    pub foreground: bool,
    /// `-l -D -G -g -S`.
    pub log: LogOptions,
    /// Install the global tracing subscriber (off when the caller did).
    pub init_logging: bool,
    /// `-p`; default keepalived's `/run/keepalived.pid`.
    pub pid_file: Option<PathBuf>,
    /// `-r`; default `/run/vrrp.pid`.
    pub vrrp_pid_file: Option<PathBuf>,
    /// `-c`; written only when the checker subsystem runs.
    pub checkers_pid_file: Option<PathBuf>,
    /// `-P`: VRRP only.
    pub vrrp_only: bool,
    /// `-C`: checkers only (no VRRP here).
    pub check_only: bool,
    /// `-X`: release VIPs on a signal-driven transition.
    pub release_vips: bool,
    /// `-V`: leave VIPs and routes in place at stop.
    pub dont_release_vrrp: bool,
    /// `-I`: leave the load-balancer table in place at stop.
    pub dont_release_ipvs: bool,
    /// `-s`: run in this network namespace (overrides `net_namespace`).
    pub namespace: Option<String>,
    /// `-u`: file creation mask (overrides global_defs `umask`).
    pub umask: Option<u32>,
    /// `--ignore-sigint`.
    pub ignore_sigint: bool,
}

impl DaemonOptions {
    /// keepalived's defaults for everything but the configuration file.
    pub fn new(config_file: impl Into<PathBuf>) -> DaemonOptions {
        DaemonOptions {
            config_file: config_file.into(),
            config_id: None,
            foreground: true,
            log: LogOptions::default(),
            init_logging: true,
            pid_file: None,
            vrrp_pid_file: None,
            checkers_pid_file: None,
            vrrp_only: false,
            check_only: false,
            release_vips: false,
            dont_release_vrrp: false,
            dont_release_ipvs: false,
            namespace: None,
            umask: None,
            ignore_sigint: false,
        }
    }
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("logging: {0}")]
    Logging(#[from] logging::LoggingError),
    #[error("{0}")]
    Config(#[from] keel_config::ConfigError),
    #[error("pid file: {0}")]
    PidFile(#[from] pidfile::PidFileError),
    #[error("cannot start a runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("network namespace {name}: {source}")]
    Namespace {
        name: String,
        #[source]
        source: keel_linux::LinuxError,
    },
    #[error("cannot run in the background: {0}")]
    Daemonize(#[source] keel_linux::LinuxError),
}

fn short_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().split('.').next().unwrap_or("").to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Reads and builds the configuration, logging every diagnostic with its
/// file and line. Only an unreadable configuration is fatal: keepalived logs
/// the rest and runs what it could build.
pub fn load(path: &Path, config_id: Option<&str>) -> Result<Config, keel_config::ConfigError> {
    let opts = PreprocessOptions {
        config_id: config_id.map(str::to_string).unwrap_or_else(short_hostname),
        env: std::env::vars().collect(),
        ..PreprocessOptions::default()
    };
    let (cfg, diags) = keel_config::load_config(path, &FsSource, &opts)?;
    for d in &diags.items {
        match d.severity {
            keel_config::diag::Severity::Error => tracing::error!("{d}"),
            keel_config::diag::Severity::Warning => tracing::warn!("{d}"),
            keel_config::diag::Severity::NotImplemented => tracing::warn!("{d}"),
        }
    }
    Ok(cfg)
}

/// The steps that act on the whole process and so must come before any
/// thread starts: the network namespace, the umask and detaching. They read
/// the configuration once, quietly; an unreadable one fails here, in the
/// foreground, where the caller sees it.
fn prepare_process(opts: &DaemonOptions) -> Result<(), DaemonError> {
    let opts_pp = PreprocessOptions {
        config_id: opts.config_id.clone().unwrap_or_else(short_hostname),
        env: std::env::vars().collect(),
        ..PreprocessOptions::default()
    };
    let (cfg, _) = keel_config::load_config(&opts.config_file, &FsSource, &opts_pp)?;
    if let Some(ns) = opts.namespace.as_deref().or(cfg.net_namespace()) {
        keel_linux::enter_netns(ns).map_err(|source| DaemonError::Namespace {
            name: ns.to_string(),
            source,
        })?;
    }
    if let Some(mask) = opts.umask.or(cfg.umask()) {
        keel_linux::set_umask(mask);
    }
    if !opts.foreground {
        keel_linux::daemonize().map_err(DaemonError::Daemonize)?;
    }
    Ok(())
}

/// Runs the daemon until SIGTERM/SIGINT; returns the exit code.
pub fn run(opts: DaemonOptions) -> Result<i32, DaemonError> {
    prepare_process(&opts)?;
    if opts.init_logging {
        logging::init(&opts.log)?;
    }
    tracing::info!("Starting keel {}", env!("CARGO_PKG_VERSION"));
    crate::crash::install_panic_hook();
    #[cfg(debug_assertions)]
    crate::crash::fault::init();
    let cfg = match load(&opts.config_file, opts.config_id.as_deref()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!("{e}");
            return Err(e.into());
        }
    };
    if let Some(ns) = opts.namespace.as_deref().or(cfg.net_namespace()) {
        tracing::info!("Running in network namespace {ns}");
    }
    let pid_dir = cfg.use_pid_dir();
    let pid_instance = cfg.instance_name();
    let main_pid = opts
        .pid_file
        .clone()
        .unwrap_or_else(|| pidfile::default_path(PidKind::Main, pid_dir, pid_instance));
    let _main_pid = PidFile::create(&main_pid)?;
    let run_vrrp = !opts.check_only;
    let _vrrp_pid = if run_vrrp {
        let p = opts
            .vrrp_pid_file
            .clone()
            .unwrap_or_else(|| pidfile::default_path(PidKind::Vrrp, pid_dir, pid_instance));
        Some(PidFile::create(&p)?)
    } else {
        None
    };
    if !run_vrrp {
        tracing::info!("VRRP subsystem disabled (-C)");
    }

    // Every running script holds a stderr pipe and the runtime more
    // descriptors per child; hundreds at once would hit the usual soft limit.
    match keel_linux::raise_nofile_limit() {
        Ok(n) => tracing::debug!("RLIMIT_NOFILE {n}"),
        Err(e) => tracing::warn!("cannot raise the open file limit: {e}"),
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let code = rt.block_on(services(opts, cfg, run_vrrp));
    tracing::info!("Stopped");
    Ok(code)
}

/// Notify and mail settings derived from the configuration.
struct Services {
    cfg: Arc<Config>,
    /// Tracking scripts' budget.
    runner: ScriptRunner,
    /// Notify and LVS scripts' budget.
    notify_runner: ScriptRunner,
    policy: Arc<ScriptPolicy>,
    queue: NotifyQueue,
    scripts: HashMap<String, NotifyScripts>,
    group_scripts: HashMap<String, NotifyScripts>,
    fifos: FifoSet,
    mailer: Option<Mailer>,
    router_id: String,
    trackers: Trackers,
}

fn configured(
    s: &Option<keel_config::model::Script>,
    policy: &ScriptPolicy,
) -> Option<ConfiguredScript> {
    let a = policy.allow(s.as_ref()?)?;
    Some(ConfiguredScript {
        script: a.script,
        options: a.options,
    })
}

fn notify_scripts(n: &keel_config::model::Notify, base: &ScriptPolicy) -> NotifyScripts {
    NotifyScripts {
        master: configured(&n.master, base),
        backup: configured(&n.backup, base),
        fault: configured(&n.fault, base),
        stop: configured(&n.stop, base),
        deleted: configured(&n.deleted, base),
        notify_deleted: n.deleted.is_some(),
        generic: configured(&n.generic, base),
        master_rx_lower_pri: configured(&n.master_rx_lower_pri, base),
    }
}

fn open_fifo(f: &Option<keel_config::model::NotifyFifo>, s: &Services) -> Option<Arc<NotifyFifo>> {
    let f = f.as_ref()?;
    let owner = ScriptPolicy::fifo_owner(f.user.as_deref(), f.group.as_deref());
    let opened = match f.script.as_ref().and_then(|sc| s.policy.allow(sc)) {
        Some(a) => {
            NotifyFifo::open_with_script(&f.path, owner, &a.script, &a.options, s.runner.shell())
        }
        None => NotifyFifo::open(&f.path, owner),
    };
    match opened {
        Ok(fifo) => Some(Arc::new(fifo)),
        Err(e) => {
            tracing::warn!("notify fifo {}: {e}", f.path);
            None
        }
    }
}

impl Services {
    fn new(cfg: Arc<Config>, engine: &mpsc::UnboundedSender<EngineMsg>) -> Services {
        // Separate budgets: notifies and LVS scripts, however many hang,
        // never take a slot a tracking script needs.
        let runner = ScriptRunner::default();
        let notify_runner =
            ScriptRunner::new(NOTIFY_MAX_CONCURRENT).with_default_timeout(DEFAULT_SCRIPT_TIMEOUT);
        let queue = NotifyQueue::new(notify_runner.clone());
        let mut s = Services {
            cfg: Arc::clone(&cfg),
            runner,
            notify_runner,
            policy: Arc::new(ScriptPolicy::empty()),
            queue,
            scripts: HashMap::new(),
            group_scripts: HashMap::new(),
            fifos: FifoSet::default(),
            mailer: None,
            router_id: String::new(),
            trackers: Trackers::default(),
        };
        s.configure(cfg, engine);
        s
    }

    /// (Re)derives everything from `cfg` (start-up and reload).
    fn configure(&mut self, cfg: Arc<Config>, engine: &mpsc::UnboundedSender<EngineMsg>) {
        let g = &cfg.global_defs;
        // Users, groups and script paths are checked again at every load.
        self.policy.reload(&cfg);
        self.scripts = cfg
            .vrrp_instances
            .iter()
            .map(|i| (i.name.clone(), notify_scripts(&i.notify, &self.policy)))
            .collect();
        self.group_scripts = cfg
            .sync_groups
            .iter()
            .map(|sg| (sg.name.clone(), notify_scripts(&sg.notify, &self.policy)))
            .collect();
        self.router_id = g.router_id.clone().unwrap_or_else(short_hostname);
        self.mailer = g.smtp_server.as_ref().map(|srv| {
            let host = short_hostname();
            let mut c = SmtpConfig::new(
                srv.host.clone(),
                g.smtp_helo_name.clone().unwrap_or_else(|| host.clone()),
                g.notification_email_from
                    .clone()
                    .unwrap_or_else(|| format!("keepalived@{host}")),
                g.notification_email.clone(),
            );
            c.port = srv.port;
            c.connect_timeout = g.smtp_connect_timeout;
            Mailer::spawn(c).0
        });
        self.fifos = FifoSet::default();
        let notify = open_fifo(&g.notify_fifo, self);
        let vrrp = open_fifo(&g.vrrp_notify_fifo, self);
        self.fifos.notify = notify;
        self.fifos.vrrp = vrrp;
        self.trackers = Trackers::start(&cfg, &self.runner, &self.policy, engine);
        self.cfg = cfg;
    }

    fn on_message(&mut self, msg: ServiceMsg) {
        match msg {
            ServiceMsg::Started { .. } => {}
            ServiceMsg::Notify {
                instance,
                event,
                priority,
                state,
                smtp_alert,
            } => self.instance_notify(instance, event, priority, state, smtp_alert),
            ServiceMsg::Group { group, state } => {
                let Some(ns) = notify_state(state) else {
                    return;
                };
                let target = NotifyTarget::Group(group.clone());
                if let Some(scripts) = self.group_scripts.get(&group) {
                    self.queue.state_change(&target, scripts, ns, 0);
                }
                self.fifos.send(&FifoEvent::Group {
                    name: group.clone(),
                    state: ns,
                });
                let alert = self
                    .cfg
                    .sync_group(&group)
                    .and_then(|sg| sg.smtp_alert)
                    .unwrap_or(false);
                if alert
                    && let (Some(m), Some(a)) =
                        (&self.mailer, Alert::vrrp_group(&self.router_id, &group, ns))
                {
                    m.send(a);
                }
            }
        }
    }

    fn instance_notify(
        &mut self,
        instance: String,
        event: NotifyEvent,
        priority: u8,
        state: State,
        smtp_alert: bool,
    ) {
        let target = NotifyTarget::Instance(instance.clone());
        let scripts = self.scripts.get(&instance);
        let ns = match event {
            NotifyEvent::Master => NotifyState::Master,
            NotifyEvent::Backup => NotifyState::Backup,
            NotifyEvent::Fault => NotifyState::Fault,
            NotifyEvent::Stop => NotifyState::Stop,
            NotifyEvent::Deleted => NotifyState::Deleted,
            NotifyEvent::MasterRxLowerPri => {
                if let Some(job) = scripts.and_then(NotifyScripts::master_rx_lower_pri_job) {
                    self.queue.submit_coalesced(&target, job);
                }
                self.fifos.send(&FifoEvent::MasterRxLowerPri {
                    name: instance,
                    priority,
                });
                return;
            }
            NotifyEvent::PriorityChanged => {
                let wanted = self
                    .cfg
                    .vrrp_instance(&instance)
                    .and_then(|i| i.notify_priority_changes)
                    .unwrap_or(false);
                if wanted {
                    self.fifos.send(&FifoEvent::PriorityChange {
                        name: instance,
                        is_master: state == State::Master,
                        priority,
                    });
                }
                return;
            }
        };
        if let Some(scripts) = scripts {
            self.queue.state_change(&target, scripts, ns, priority);
        }
        self.fifos.send(&FifoEvent::Instance {
            name: instance.clone(),
            state: ns,
            priority,
        });
        let no_fault_mail = self.cfg.global_defs.no_email_faults && ns == NotifyState::Fault;
        // keepalived mails master, backup and fault transitions.
        let mail_state = matches!(
            ns,
            NotifyState::Master | NotifyState::Backup | NotifyState::Fault
        );
        if smtp_alert
            && mail_state
            && !no_fault_mail
            && let Some(m) = &self.mailer
        {
            m.send(Alert::vrrp_instance(&self.router_id, &instance, ns));
        }
    }
}

fn notify_state(s: State) -> Option<NotifyState> {
    Some(match s {
        State::Master => NotifyState::Master,
        State::Backup => NotifyState::Backup,
        State::Fault => NotifyState::Fault,
        State::Stop => NotifyState::Stop,
        State::Deleted => NotifyState::Deleted,
        State::Init => return None,
    })
}

async fn services(opts: DaemonOptions, cfg: Arc<Config>, run_vrrp: bool) -> i32 {
    let sd = SdNotify::from_env();
    let mut signals = match Signals::new(opts.ignore_sigint) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            return 1;
        }
    };
    crate::creds::run_lifecycle_script(&cfg, "startup_script", &ScriptRunner::default()).await;
    let (svc_tx, mut svc_rx) = mpsc::unbounded_channel();
    // Only the VRRP thread holds the sender, so its death closes the channel
    // and stops the daemon instead of leaving it running without VRRP.
    let mut idle_tx = None;
    let (engine, thread) = if run_vrrp {
        match vrrp::spawn(Arc::clone(&cfg), svc_tx) {
            Ok((tx, t)) => (tx, Some(t)),
            Err(e) => {
                tracing::error!("cannot start the VRRP thread: {e}");
                return 1;
            }
        }
    } else {
        idle_tx = Some(svc_tx);
        (mpsc::unbounded_channel().0, None)
    };
    let mut svc = Services::new(Arc::clone(&cfg), &engine);
    let mut lvs = start_lvs(&opts, &cfg, &svc);
    if !run_vrrp {
        notify_ready(&sd);
    }
    loop {
        tokio::select! {
            msg = svc_rx.recv() => match msg {
                Some(ServiceMsg::Started { instances }) => {
                    tracing::info!("Startup complete ({instances} VRRP instances)");
                    notify_ready(&sd);
                }
                Some(m) => svc.on_message(m),
                None => {
                    tracing::error!("VRRP thread exited");
                    return 1;
                }
            },
            sig = signals.next() => match sig {
                Sig::Stop => break,
                Sig::Ignored => {}
                Sig::Reload => {
                    let _ = sd.reloading();
                    match load(&opts.config_file, opts.config_id.as_deref()) {
                        Ok(new) => {
                            let new = Arc::new(new);
                            let _ = engine.send(EngineMsg::Reload(Arc::clone(&new)));
                            let old_cfg = Arc::clone(&svc.cfg);
                            svc.configure(Arc::clone(&new), &engine);
                            if lvs.is_none() || crate::lvs::needs_restart(&old_cfg, &new) {
                                if let Some(old) = lvs.take() {
                                    old.0.stop(false).await;
                                }
                                lvs = start_lvs(&opts, &new, &svc);
                            }
                        }
                        Err(e) => tracing::error!("reload failed, keeping the running configuration: {e}"),
                    }
                    notify_ready(&sd);
                }
                Sig::Data => {
                    #[cfg(debug_assertions)]
                    crate::crash::fault::on_sigusr1();
                    let _ = engine.send(EngineMsg::DumpData(PathBuf::from(DATA_FILE)));
                }
                Sig::Stats => { let _ = engine.send(EngineMsg::DumpStats(PathBuf::from(STATS_FILE))); }
                Sig::Json => dump_json(&engine, &svc.cfg).await,
                Sig::StatsClear => {
                    tracing::info!("Clearing statistics");
                    let (reply, _) = oneshot::channel();
                    let _ = engine.send(EngineMsg::Snapshot { clear_stats: true, reply });
                }
                Sig::ThreadDump => write_thread_dump(Path::new(TDATA_FILE)),
                Sig::CpuOverrun => vrrp::priority::demote_after_overrun(),
            },
        }
    }

    tracing::info!("Stopping");
    let _ = sd.stopping();
    // No more tracker verdicts: a script result must not start an election now.
    svc.trackers = Trackers::default();
    let (done_tx, done_rx) = oneshot::channel();
    let _ = engine.send(EngineMsg::Shutdown {
        release: !opts.dont_release_vrrp,
        done: done_tx,
    });
    let _ = tokio::time::timeout(Duration::from_secs(2), done_rx).await;
    // The STOP notifies were queued before `done`.
    while let Ok(m) = svc_rx.try_recv() {
        svc.on_message(m);
    }
    // After VRRP: the backup takes the VIPs before this table goes away.
    if let Some((l, _pid)) = lvs.take() {
        l.stop(!opts.dont_release_ipvs).await;
    }
    svc.queue.shutdown(STOP_NOTIFY_GRACE).await;
    drop(idle_tx);
    if let Some(t) = thread {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    crate::creds::run_lifecycle_script(&svc.cfg, "shutdown_script", &svc.runner).await;
    0
}

// --- Load balancer -----------------------------------------------------

/// Starts the load balancer unless `-P` or the configuration has no
/// virtual servers, with the checkers pid file (`-c`) while it runs. A
/// configuration the data plane cannot carry is logged and leaves VRRP
/// running.
fn start_lvs(
    opts: &DaemonOptions,
    cfg: &Arc<Config>,
    svc: &Services,
) -> Option<(crate::lvs::Lvs, Option<PidFile>)> {
    if opts.vrrp_only || cfg.virtual_servers.is_empty() {
        return None;
    }
    let ctx = crate::lvs::LvsContext {
        runner: svc.notify_runner.clone(),
        scripts: Arc::clone(&svc.policy),
        mailer: svc.mailer.clone(),
        router_id: svc.router_id.clone(),
        notify_fifo: svc.fifos.notify.clone(),
        state_file: crate::lvs::state_path(),
    };
    let lvs = crate::lvs::Lvs::start(cfg, ctx).ok().flatten()?;
    let path = opts.checkers_pid_file.clone().unwrap_or_else(|| {
        pidfile::default_path(PidKind::Checkers, cfg.use_pid_dir(), cfg.instance_name())
    });
    let pid = match PidFile::create(&path) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!("checkers pid file: {e}");
            None
        }
    };
    Some((lvs, pid))
}

fn notify_ready(sd: &SdNotify) {
    if let Err(e) = sd.ready() {
        tracing::debug!("sd_notify READY: {e}");
    }
}

enum Sig {
    Stop,
    /// SIGINT with `--ignore-sigint`.
    Ignored,
    Reload,
    Data,
    Stats,
    Json,
    StatsClear,
    ThreadDump,
    /// SIGXCPU: the real-time VRRP thread ran past RLIMIT_RTTIME.
    CpuOverrun,
}

struct Signals {
    ignore_sigint: bool,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
    json: tokio::signal::unix::Signal,
    stats_clear: tokio::signal::unix::Signal,
    tdata: tokio::signal::unix::Signal,
    xcpu: tokio::signal::unix::Signal,
}

impl Signals {
    fn new(ignore_sigint: bool) -> std::io::Result<Signals> {
        Ok(Signals {
            ignore_sigint,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
            // Unhandled, a real-time signal terminates the process: these
            // must be caught before anyone can send them.
            json: signal(SignalKind::from_raw(rt_signum("JSON")))?,
            stats_clear: signal(SignalKind::from_raw(rt_signum("STATS_CLEAR")))?,
            tdata: signal(SignalKind::from_raw(rt_signum("TDATA")))?,
            // Caught, SIGXCPU no longer kills the daemon: the overrunning
            // thread is demoted instead.
            xcpu: signal(SignalKind::from_raw(
                nix::sys::signal::Signal::SIGXCPU as i32,
            ))?,
        })
    }

    async fn next(&mut self) -> Sig {
        tokio::select! {
            _ = self.term.recv() => Sig::Stop,
            _ = self.int.recv() => if self.ignore_sigint { Sig::Ignored } else { Sig::Stop },
            _ = self.hup.recv() => Sig::Reload,
            _ = self.usr1.recv() => Sig::Data,
            _ = self.usr2.recv() => Sig::Stats,
            _ = self.json.recv() => Sig::Json,
            _ = self.stats_clear.recv() => Sig::StatsClear,
            _ = self.tdata.recv() => Sig::ThreadDump,
            _ = self.xcpu.recv() => Sig::CpuOverrun,
        }
    }
}

fn rt_signum(name: &str) -> i32 {
    // The three names are in the table; the fallback is never used.
    signum(name).unwrap_or(nix::libc::SIGRTMAX())
}

/// JSON: a fresh snapshot from the VRRP thread, written here so the file
/// system never delays an advert.
async fn dump_json(engine: &mpsc::UnboundedSender<EngineMsg>, cfg: &Config) {
    let (reply, rx) = oneshot::channel();
    if engine
        .send(EngineMsg::Snapshot {
            clear_stats: false,
            reply,
        })
        .is_err()
    {
        return;
    }
    match tokio::time::timeout(Duration::from_secs(2), rx).await {
        Ok(Ok(snap)) => {
            let path = Path::new(crate::dump_json::JSON_FILE);
            if let Err(e) = crate::dump_json::write(path, &snap, cfg) {
                tracing::warn!("Can't open {} ({e})", path.display());
            }
        }
        _ => tracing::warn!("JSON dump: no answer from the VRRP thread"),
    }
}

/// TDATA: keepalived dumps its event threads; keel lists its OS threads
/// (name and state), which is what one looks at for a stuck daemon.
fn write_thread_dump(path: &Path) {
    let mut out = String::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        let mut tids: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        tids.sort();
        for t in tids {
            let comm = std::fs::read_to_string(t.join("comm")).unwrap_or_default();
            let state = std::fs::read_to_string(t.join("status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("State:"))
                        .map(|l| l.trim_start_matches("State:").trim().to_string())
                })
                .unwrap_or_default();
            let tid = t.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            out.push_str(&format!("{tid} {} {state}\n", comm.trim()));
        }
    }
    if let Err(e) = std::fs::write(path, out) {
        tracing::warn!("cannot write {}: {e}", path.display());
    }
}
