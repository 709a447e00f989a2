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
//! Unlike keepalived, whose whole daemon stops when IPVS is missing, a
//! table the chosen data plane cannot carry only stops the load balancer:
//! VRRP keeps running.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keel_check::core::{Action, BuildError, CheckerId, CheckerSet, ProbeResult, RsId, Timestamp};
use keel_check::probe::{ProbeContext, run_probe};
use keel_check::spec::ProbeSpec;
use keel_check::table as ck;
use keel_config::Config;
use keel_config::model::{self as cfg, LvsBackendChoice};
use keel_lvs::{Backend, BackendError, Table};
use keel_nft::{Nft, NftBackend};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::fifo::{FifoEvent, NotifyFifo};
use crate::mail::{Alert, Mailer, checker_body};
use crate::script::{Credentials, RunOptions, Script, ScriptRunner};

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
    #[error("virtual server {service}: unknown lvs_sched {name}")]
    Scheduler { service: String, name: String },
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

// ---------------------------------------------------------------------------
// Table conversion: keel-check's desired table to keel-lvs's.

fn convert_key(k: &ck::ServiceKey) -> keel_lvs::ServiceKey {
    match *k {
        ck::ServiceKey::Addr {
            addr,
            port,
            protocol,
        } => keel_lvs::ServiceKey::Addr {
            ip: addr,
            proto: match protocol {
                ck::Protocol::Tcp => keel_lvs::Protocol::Tcp,
                ck::Protocol::Udp => keel_lvs::Protocol::Udp,
                ck::Protocol::Sctp => keel_lvs::Protocol::Sctp,
            },
            port,
        },
        ck::ServiceKey::Fwmark { mark, family } => keel_lvs::ServiceKey::Fwmark {
            mark,
            family: match family {
                ck::Family::Inet => keel_lvs::Family::Inet,
                ck::Family::Inet6 => keel_lvs::Family::Inet6,
            },
        },
    }
}

fn convert_method(m: ck::ForwardMethod) -> keel_lvs::Method {
    match m {
        ck::ForwardMethod::Nat => keel_lvs::Method::Nat,
        ck::ForwardMethod::Dr => keel_lvs::Method::Dr,
        ck::ForwardMethod::Tun { tunnel, checksum } => keel_lvs::Method::Tun {
            kind: match tunnel {
                ck::TunnelType::Ipip => keel_lvs::TunnelKind::Ipip,
                ck::TunnelType::Gue { port } => keel_lvs::TunnelKind::Gue { port },
                ck::TunnelType::Gre => keel_lvs::TunnelKind::Gre,
            },
            csum: match checksum {
                ck::TunnelChecksum::None => keel_lvs::TunnelCsum::Nocsum,
                ck::TunnelChecksum::Csum => keel_lvs::TunnelCsum::Csum,
                ck::TunnelChecksum::RemCsum => keel_lvs::TunnelCsum::Remcsum,
            },
        },
    }
}

fn convert_persistence(key: &ck::ServiceKey, p: &ck::Persistence) -> keel_lvs::Persistence {
    let full = match key {
        ck::ServiceKey::Addr {
            addr: IpAddr::V6(_),
            ..
        }
        | ck::ServiceKey::Fwmark {
            family: ck::Family::Inet6,
            ..
        } => 128,
        _ => 32,
    };
    let prefix = match p.granularity {
        Some(ck::Granularity::V4Mask(mask)) => {
            keel_lvs::Persistence::granularity_prefix(&mask.to_string())
        }
        Some(ck::Granularity::V6Prefix(len)) => Some(len),
        None => None,
    };
    keel_lvs::Persistence {
        timeout: p.timeout,
        // A whole-address mask is what no mask means; one spelling keeps
        // the table read back equal to the one installed.
        netmask: prefix.filter(|l| *l < full),
    }
}

/// keel-check's desired table as the data planes' [`Table`].
pub fn convert_table(desired: &[ck::VirtualService]) -> Result<Table, LvsError> {
    let mut services = Vec::with_capacity(desired.len());
    for vs in desired {
        let scheduler = keel_lvs::Scheduler::from_name(&vs.sched)
            .ok_or_else(|| LvsError::Scheduler {
                service: vs.key.to_string(),
                name: vs.sched.clone(),
            })?
            .with_flags(vs.flags.flag_1, vs.flags.flag_2);
        let mut svc = keel_lvs::VirtualService::new(convert_key(&vs.key), scheduler);
        svc.persistence = vs
            .persistence
            .as_ref()
            .map(|p| convert_persistence(&vs.key, p));
        svc.destinations = vs
            .destinations
            .iter()
            .map(|d| keel_lvs::Destination {
                addr: d.addr,
                port: d.port,
                weight: d.weight,
                method: convert_method(d.method),
                upper_threshold: d.upper_threshold,
                lower_threshold: d.lower_threshold,
            })
            .collect();
        services.push(svc);
    }
    Ok(Table { services })
}

/// Everything the configuration could ever ask the data plane for: every
/// real server and sorry server present (inhibited ones with weight 0).
/// Validated once at start so an impossible configuration is refused at
/// once rather than at the first health change.
pub fn full_table(config: &Config) -> Result<Table, LvsError> {
    let mut all = config.clone();
    for vs in &mut all.virtual_servers {
        vs.alpha = false;
        vs.inhibit_on_failure = true;
        if let Some(s) = vs.sorry_server.as_mut() {
            s.inhibit = true;
        }
        for rs in &mut vs.real_servers {
            rs.alpha = Some(false);
            rs.inhibit_on_failure = Some(true);
        }
    }
    let mut set = CheckerSet::from_config(&all)?;
    set.start(Timestamp::ZERO, |_, _| Duration::ZERO);
    convert_table(&set.desired_table())
}

// ---------------------------------------------------------------------------
// Data plane choice.

/// How often the data plane is compared with the desired table even
/// without a health change.
pub const RESYNC_INTERVAL: Duration = Duration::from_secs(5);

/// Name the state file uses for the nftables data plane.
pub const NFTABLES: &str = "nftables";
/// Name the state file uses for the IPVS data plane.
pub const IPVS: &str = "IPVS";

type SharedBackend = Arc<Mutex<Box<dyn Backend + Send>>>;

/// Opens the data plane `keel_lvs_backend` asks for. `auto` (the default)
/// prefers IPVS when this kernel has it, as keepalived would use it.
pub fn open_backend(config: &Config) -> Result<(Box<dyn Backend + Send>, String), LvsError> {
    let choice = config
        .global_defs
        .keel_lvs_backend
        .unwrap_or(LvsBackendChoice::Auto);
    match choice {
        LvsBackendChoice::Nftables => Ok((Box::new(nft_backend(config)), NFTABLES.to_string())),
        LvsBackendChoice::Ipvs => match keel_ipvs::IpvsBackend::open() {
            Ok(b) => Ok((Box::new(b), IPVS.to_string())),
            Err(e) => Err(LvsError::NoIpvs(e.to_string())),
        },
        LvsBackendChoice::Auto => match keel_ipvs::IpvsBackend::open() {
            Ok(b) => Ok((Box::new(b), IPVS.to_string())),
            Err(e) => {
                tracing::info!("IPVS data plane not used ({e}); using nftables");
                Ok((Box::new(nft_backend(config)), NFTABLES.to_string()))
            }
        },
    }
}

/// nftables options from the configuration: DR traffic for a VIP is taken
/// on the interface VRRP puts that VIP on.
pub fn nft_options(config: &Config) -> keel_nft::Options {
    let mut dr_devices = BTreeMap::new();
    let mut devices = BTreeSet::new();
    for vi in &config.vrrp_instances {
        for vip in vi
            .virtual_ipaddress
            .iter()
            .chain(&vi.virtual_ipaddress_excluded)
        {
            if let Some(dev) = vip.dev.clone().or_else(|| vi.interface.clone()) {
                devices.insert(dev.clone());
                dr_devices.entry(vip.address).or_insert(dev);
            }
        }
    }
    let locals = local_addrs();
    for vs in &config.virtual_servers {
        if let cfg::VsAddress::Ip { address, .. } = vs.address
            && !dr_devices.contains_key(&address)
            && let Some(dev) = interface_for(address, &locals)
        {
            dr_devices.insert(address, dev);
        }
    }
    let dr_default_device = config.global_defs.default_interface.clone().or_else(|| {
        (devices.len() == 1)
            .then(|| devices.into_iter().next())
            .flatten()
    });
    keel_nft::Options {
        dr_devices,
        dr_default_device,
        local_addrs: locals.iter().map(|l| l.addr).collect(),
        ..keel_nft::Options::default()
    }
}

/// One address of this host.
struct LocalAddr {
    ifname: String,
    addr: IpAddr,
    prefix: u32,
}

fn sockaddr_ip(sa: &nix::sys::socket::SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = sa.as_sockaddr_in() {
        Some(IpAddr::V4(v4.ip()))
    } else {
        sa.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
    }
}

/// This host's addresses with their interfaces and prefix lengths.
fn local_addrs() -> Vec<LocalAddr> {
    let mut out = Vec::new();
    match nix::ifaddrs::getifaddrs() {
        Ok(addrs) => {
            for a in addrs {
                let Some(addr) = a.address.as_ref().and_then(sockaddr_ip) else {
                    continue;
                };
                let prefix = match a.netmask.as_ref().and_then(sockaddr_ip) {
                    Some(IpAddr::V4(m)) => u32::from(m).leading_ones(),
                    Some(IpAddr::V6(m)) => u128::from(m).leading_ones(),
                    None => 0,
                };
                out.push(LocalAddr {
                    ifname: a.interface_name,
                    addr,
                    prefix,
                });
            }
        }
        Err(e) => tracing::warn!("cannot list local addresses: {e}"),
    }
    out
}

fn in_subnet(addr: IpAddr, net: IpAddr, prefix: u32) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if prefix > 0 && prefix <= 32 => {
            let mask = u32::MAX << (32 - prefix);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if prefix > 0 && prefix <= 128 => {
            let mask = u128::MAX << (128 - prefix);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The interface a virtual address VRRP does not manage arrives on: the
/// one holding it, else the one whose subnet contains it.
fn interface_for(addr: IpAddr, locals: &[LocalAddr]) -> Option<String> {
    locals
        .iter()
        .find(|l| l.addr == addr)
        .or_else(|| {
            locals
                .iter()
                .find(|l| !l.addr.is_loopback() && in_subnet(addr, l.addr, l.prefix))
        })
        .map(|l| l.ifname.clone())
}

fn nft_backend(config: &Config) -> NftBackend {
    NftBackend::new(Nft::default(), nft_options(config))
}

// ---------------------------------------------------------------------------
// The state file.

/// Unix time in seconds.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What `keel lvs` reads: the load balancer as the daemon sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LvsState {
    pub pid: u32,
    /// `nftables` or `IPVS`.
    pub data_plane: String,
    /// Name of keel's nftables tables (nftables data plane).
    pub nft_table: String,
    /// Unix time of this snapshot.
    pub updated: f64,
    /// The last data-plane error, cleared by the next successful update.
    pub error: Option<String>,
    pub virtual_servers: Vec<VsState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VsState {
    /// keepalived's name, `[192.0.2.144]:tcp:80`.
    pub name: String,
    /// The data-plane services it stands for (a group gives several).
    pub services: Vec<keel_lvs::ServiceKey>,
    pub quorum_up: bool,
    pub live_weight: i64,
    pub sorry_server: Option<SorryState>,
    pub real_servers: Vec<RsState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SorryState {
    pub addr: IpAddr,
    pub port: u16,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RsState {
    pub name: String,
    pub addr: IpAddr,
    pub port: u16,
    /// All its checkers pass.
    pub alive: bool,
    /// Weight when alive.
    pub weight: u32,
    pub checkers: Vec<CheckState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    /// `HTTP_GET`, `TCP_CHECK`, ...
    pub kind: String,
    pub up: bool,
    pub last: Option<CheckResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub ok: bool,
    pub detail: String,
    /// Unix time the result came in.
    pub at: f64,
    pub elapsed_ms: u64,
}

impl RsState {
    /// The most recent result of any of its checkers.
    pub fn last(&self) -> Option<&CheckResult> {
        self.checkers
            .iter()
            .filter_map(|c| c.last.as_ref())
            .max_by(|a, b| a.at.total_cmp(&b.at))
    }
}

fn write_state(path: &Path, state: &LvsState) -> Result<(), LvsError> {
    let io = |source| LvsError::State {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_string_pretty(state).map_err(|source| LvsError::StateFormat {
        path: path.to_path_buf(),
        source,
    })?;
    // Readers never see a half-written file.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads the state file the daemon writes.
pub fn read_state(path: &Path) -> Result<LvsState, LvsError> {
    let text = std::fs::read_to_string(path).map_err(|source| LvsError::State {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| LvsError::StateFormat {
        path: path.to_path_buf(),
        source,
    })
}

// ---------------------------------------------------------------------------
// `keel lvs`.

fn ago(now: f64, at: f64) -> String {
    let s = (now - at).max(0.0);
    if s < 60.0 {
        format!("{s:.1}s ago")
    } else if s < 3600.0 {
        format!("{}m{}s ago", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h{}m ago",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

/// The health columns of one destination line.
fn health_text(
    state: &LvsState,
    svc: &keel_lvs::ServiceKey,
    d: &keel_lvs::Destination,
    now: f64,
) -> String {
    for vs in state
        .virtual_servers
        .iter()
        .filter(|v| v.services.contains(svc))
    {
        if let Some(rs) = vs
            .real_servers
            .iter()
            .find(|r| r.addr == d.addr && r.port == d.port)
        {
            let health = if rs.alive { "up" } else { "down" };
            return match rs.last() {
                Some(last) => format!(
                    "{health:<6} {:<12} {}",
                    ago(now, last.at),
                    if last.ok {
                        format!("ok: {}", last.detail)
                    } else {
                        format!("failed: {}", last.detail)
                    }
                ),
                None => format!("{health:<6} {:<12} not checked yet", "-"),
            };
        }
        if let Some(s) = &vs.sorry_server
            && s.addr == d.addr
            && s.port == d.port
        {
            return format!(
                "{:<6} {:<12} sorry server",
                if s.active { "sorry" } else { "-" },
                "-"
            );
        }
    }
    "-".to_string()
}

/// Width of ipvsadm's destination columns, after which `keel lvs` adds
/// its own (a full-width IPv6 destination line fits).
const DEST_WIDTH: usize = 75;

/// `ipvsadm -ln`'s listing of `table` with each destination's health,
/// time since its last check and that check's result appended.
pub fn format_status(table: &Table, state: &LvsState, now: f64) -> String {
    let table = keel_lvs::in_ipvsadm_order(table);
    let listing = keel_lvs::format_ipvsadm(&table);
    let mut lines = listing.lines();
    let mut out = String::new();
    for _ in 0..2 {
        if let Some(l) = lines.next() {
            out.push_str(l);
            out.push('\n');
        }
    }
    if let Some(l) = lines.next() {
        out.push_str(&format!("{l:<DEST_WIDTH$} Health LastCheck    Result\n"));
    }
    for svc in &table.services {
        if let Some(l) = lines.next() {
            out.push_str(l);
            out.push('\n');
        }
        for d in &svc.destinations {
            if let Some(l) = lines.next() {
                out.push_str(&format!(
                    "{l:<DEST_WIDTH$} {}\n",
                    health_text(state, &svc.key, d, now)
                ));
            }
        }
    }
    // Real servers out of the table (failed without inhibit_on_failure) are
    // not in the listing; they are the ones users look for.
    let mut missing = Vec::new();
    for vs in &state.virtual_servers {
        for rs in &vs.real_servers {
            let listed = vs.services.iter().any(|k| {
                table.service(k).is_some_and(|s| {
                    s.destinations
                        .iter()
                        .any(|d| d.addr == rs.addr && d.port == rs.port)
                })
            });
            if !listed {
                let last = match rs.last() {
                    Some(l) => format!(
                        "{} {}: {}",
                        ago(now, l.at),
                        if l.ok { "ok" } else { "failed" },
                        l.detail
                    ),
                    None => "not checked yet".to_string(),
                };
                missing.push(format!(
                    "  {} of VS {}: {} (not in the table), last check {last}\n",
                    rs.name,
                    vs.name,
                    if rs.alive { "up" } else { "down" }
                ));
            }
        }
    }
    if !missing.is_empty() {
        out.push_str("Real servers not in the table:\n");
        for m in missing {
            out.push_str(&m);
        }
    }
    if let Some(e) = &state.error {
        out.push_str(&format!("Last data plane error: {e}\n"));
    }
    out
}

/// What `keel lvs` prints: the installed table read back from the data
/// plane the daemon uses, with the health from the state file.
pub fn status(state_file: &Path, json: bool) -> Result<String, LvsError> {
    let state = read_state(state_file)?;
    let table = if state.data_plane == NFTABLES {
        let opts = keel_nft::Options {
            table: state.nft_table.clone(),
            ..keel_nft::Options::default()
        };
        NftBackend::new(Nft::default(), opts).read()?
    } else {
        keel_ipvs::IpvsBackend::open()
            .map_err(|e| LvsError::NoIpvs(e.to_string()))?
            .read()?
    };
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            table: &'a Table,
            state: &'a LvsState,
        }
        return serde_json::to_string_pretty(&Out {
            table: &table,
            state: &state,
        })
        .map(|s| s + "\n")
        .map_err(|source| LvsError::StateFormat {
            path: state_file.to_path_buf(),
            source,
        });
    }
    Ok(format_status(&table, &state, unix_now()))
}

// ---------------------------------------------------------------------------
// The running load balancer.

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
    pub runner: ScriptRunner,
    pub script_opts: RunOptions,
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
            vs_keys: service_keys(config),
            dirty: false,
        };
        let task = tokio::spawn(worker.run(set, stop_rx));
        Ok(Some(Lvs { stop, task }))
    }

    fn prepare(config: &Config) -> Result<(CheckerSet, Box<dyn Backend + Send>, String), LvsError> {
        let set = CheckerSet::from_config(config)?;
        let full = full_table(config)?;
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
    let owner = f
        .user
        .as_deref()
        .and_then(|u| Credentials::lookup(u, f.group.as_deref()).ok());
    let opened = match f
        .script
        .as_ref()
        .and_then(|sc| Script::parse(&sc.command).ok())
    {
        Some(script) => NotifyFifo::open_with_script(
            &f.path,
            owner,
            &script,
            &ctx.script_opts,
            ctx.runner.shell(),
        ),
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

/// Spread of the first checks; warmup offsets need spread, not security.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        Rng(h.finish() | 1)
    }

    fn upto(&mut self, max: Duration) -> Duration {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        let nanos = max.as_nanos().min(u64::MAX as u128) as u64;
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(x % (nanos + 1))
        }
    }
}

struct Worker {
    cfg: Arc<Config>,
    backend: SharedBackend,
    plane: String,
    ctx: LvsContext,
    lvs_fifo: Option<Arc<NotifyFifo>>,
    results: HashMap<CheckerId, CheckResult>,
    error: Option<String>,
    /// The data-plane services of each virtual server, in config order.
    vs_keys: Vec<Vec<keel_lvs::ServiceKey>>,
    /// A check result arrived that the state file does not show yet.
    /// Rewriting the whole file after every check made the daemon's cost
    /// per check grow with the number of real servers; plain results are
    /// written at most once per `STATE_SAVE_INTERVAL`, health changes at once.
    dirty: bool,
}

/// How stale the state file's "last check" columns may get.
const STATE_SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// The data-plane services each virtual server stands for (a
/// `virtual_server_group` expands to several).
fn service_keys(config: &Config) -> Vec<Vec<keel_lvs::ServiceKey>> {
    (0..config.virtual_servers.len())
        .map(|i| {
            let mut one = config.clone();
            one.virtual_servers = config.virtual_servers[i..=i].to_vec();
            match CheckerSet::from_config(&one) {
                Ok(mut set) => {
                    set.start(Timestamp::ZERO, |_, _| Duration::ZERO);
                    set.desired_table()
                        .iter()
                        .map(|s| convert_key(&s.key))
                        .collect()
                }
                Err(_) => Vec::new(),
            }
        })
        .collect()
}

impl Worker {
    async fn run(mut self, mut set: CheckerSet, mut stop: oneshot::Receiver<bool>) {
        let epoch = tokio::time::Instant::now();
        let now = || Timestamp(epoch.elapsed());
        let specs: HashMap<CheckerId, Arc<ProbeSpec>> = set
            .checker_ids()
            .into_iter()
            .filter_map(|id| set.probe_spec(id).map(|s| (id, Arc::new(s.clone()))))
            .collect();
        let probe_ctx = Arc::new(ProbeContext::default());
        let mut rng = Rng::new();
        let actions = set.start(now(), |_, warmup| rng.upto(warmup));
        self.handle(&set, actions, None, true).await;

        let mut probes: JoinSet<(CheckerId, ProbeResult)> = JoinSet::new();
        let mut tasks: HashMap<tokio::task::Id, CheckerId> = HashMap::new();
        let mut resync = tokio::time::interval_at(epoch + RESYNC_INTERVAL, RESYNC_INTERVAL);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut save_tick =
            tokio::time::interval_at(epoch + STATE_SAVE_INTERVAL, STATE_SAVE_INTERVAL);
        save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let release = loop {
            let wake = set.next_due().map(|t| epoch + t.since_epoch());
            tokio::select! {
                _ = sleep_until_opt(wake) => {
                    for id in set.take_due(now()) {
                        let Some(spec) = specs.get(&id).cloned() else { continue };
                        if matches!(*spec, ProbeSpec::External { .. }) {
                            continue;
                        }
                        let ctx = Arc::clone(&probe_ctx);
                        let h = probes.spawn(async move { (id, run_probe(&spec, &ctx).await) });
                        tasks.insert(h.id(), id);
                    }
                }
                Some(done) = probes.join_next_with_id(), if !probes.is_empty() => {
                    let (id, result) = match done {
                        Ok((task, v)) => {
                            tasks.remove(&task);
                            v
                        }
                        // A panicking probe counts as a failure so that its
                        // checker is rescheduled.
                        Err(e) => {
                            let Some(id) = tasks.remove(&e.id()) else { continue };
                            tracing::error!("probe task failed: {e}");
                            (id, ProbeResult::fail(format!("probe failed: {e}")))
                        }
                    };
                    self.results.insert(id, CheckResult {
                        ok: result.ok,
                        detail: result.detail.clone(),
                        at: unix_now(),
                        elapsed_ms: result.elapsed.as_millis() as u64,
                    });
                    let actions = set.on_result(id, &result, now());
                    self.handle(&set, actions, Some(id), false).await;
                }
                // A data plane that refused an update, or whose table was
                // changed behind keel's back, is brought back.
                _ = resync.tick() => {
                    let had_error = self.error.is_some();
                    let n = self.apply(&set).await;
                    if n > 0 && !had_error {
                        tracing::warn!(
                            "the {} data plane differed from keel's table; restored it ({n} changes)",
                            self.plane
                        );
                    }
                    self.save(&set);
                }
                _ = save_tick.tick(), if self.dirty => self.save(&set),
                r = &mut stop => break r.unwrap_or(true),
            }
        };
        probes.abort_all();
        let actions = set.shutdown();
        // The table goes away only when released; otherwise the data plane
        // keeps forwarding as it was (-I).
        let actions: Vec<Action> = actions
            .into_iter()
            .filter(|a| *a != Action::TableChanged)
            .collect();
        self.handle(&set, actions, None, false).await;
        if release {
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
        if let Err(e) = std::fs::remove_file(&self.ctx.state_file)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("{}: {e}", self.ctx.state_file.display());
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
        let parsed = match Script::parse(&script.command) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("notify script {:?}: {e}", script.command);
                return;
            }
        };
        let mut options = self.ctx.script_opts.clone();
        if let Some(u) = &script.user {
            match Credentials::lookup(u, script.group.as_deref()) {
                Ok(c) => options.credentials = Some(c),
                Err(e) => tracing::warn!("script {}: {e}", script.command),
            }
        }
        let runner = self.ctx.runner.clone();
        tokio::spawn(async move {
            runner.run(&parsed, &[], &options).await;
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
        let mut table_changed = false;
        let changed = !actions.is_empty();
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
                Action::TableChanged => table_changed = true,
                Action::SetWeight { .. }
                | Action::SorryServerIn { .. }
                | Action::SorryServerOut { .. } => {}
            }
        }
        if table_changed {
            self.apply(set).await;
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
        let desired = match convert_table(&set.desired_table()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("cannot build the load-balancer table: {e}");
                self.error = Some(e.to_string());
                return 0;
            }
        };
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
                services: self.vs_keys.get(v).cloned().unwrap_or_default(),
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

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
