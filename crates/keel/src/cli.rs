//! Command line: keel's own subcommands plus keepalived's flags, so existing
//! unit files and scripts that call `keepalived -f FILE -n -l -D` work unchanged.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

#[derive(Debug, Parser)]
#[command(
    name = "keel",
    version,
    about = "keepalived-compatible VRRP and load-balancer daemon",
    args_conflicts_with_subcommands = true,
    disable_version_flag = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub keepalived: KeepalivedFlags,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a configuration: syntax, values, references, and what this host lacks.
    Check(CheckArgs),
    /// Print the parsed configuration model with every default applied.
    Config(ConfigArgs),
    /// Prepare this host as a direct-routing real server: arp_ignore=1,
    /// arp_announce=2 on `all` and DEV, and the VIP as a host address on DEV.
    Realserver(RealserverArgs),
    /// Show the load-balancer table like `ipvsadm -ln`, with each real
    /// server's health, last check and its result.
    Lvs(LvsArgs),
    /// Show the running daemon's VRRP instances (state, priorities, master,
    /// VIPs, trackers, drops) and a load-balancer summary; exit 3 when keel
    /// is not running.
    Status(StatusArgs),
    /// Print the MD5 digest of a page, as keepalived's genhash does (for HTTP_GET/SSL_GET `digest`).
    Genhash(GenhashArgs),
    /// Network-namespace labs for trying keel out (built with the `lab`
    /// feature only: the shipped binary does not carry the test lab).
    #[cfg(feature = "lab")]
    #[command(subcommand)]
    Lab(LabCommand),
}

#[derive(Debug, Args)]
pub struct RealserverArgs {
    /// The virtual IP the directors forward to this server (repeatable).
    #[arg(long, required = true)]
    pub vip: Vec<std::net::IpAddr>,
    /// Interface that carries the VIP.
    #[arg(long, default_value = "lo")]
    pub dev: String,
    /// Remove the VIP and set the ARP sysctls back to 0.
    #[arg(long)]
    pub undo: bool,
}

#[derive(Debug, Args)]
pub struct LvsArgs {
    /// Print the table and the health state as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the VRRP and load-balancer state files merged as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GenhashArgs {
    /// Use SSL.
    #[arg(short = 'S', long = "use-ssl")]
    pub ssl: bool,
    /// Server IP address.
    #[arg(short = 's', long = "server")]
    pub server: std::net::IpAddr,
    /// Server port (default 80, or 443 with -S).
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// URL path to fetch.
    #[arg(short = 'u', long = "url", default_value = "/")]
    pub url: String,
    /// Host header (virtual host).
    #[arg(short = 'V', long = "use-virtualhost")]
    pub virtualhost: Option<String>,
    /// Print the request, headers and timing.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

#[cfg(feature = "lab")]
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// The tutorial in throw-away namespaces: two directors running its
    /// master/backup config and a client (start order, preemption, kill,
    /// restart, stop), then its load balancer: the directors in front of two
    /// nginx real servers (health checks, server loss, sorry page, director
    /// failover, recovery).
    Demo(DemoArgs),
}

#[cfg(feature = "lab")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Only the VRRP master/backup part (S1).
    #[arg(long, conflicts_with = "lb_only")]
    pub vrrp_only: bool,
    /// Only the load-balancer part (S3).
    #[arg(long)]
    pub lb_only: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration file.
    #[arg(short = 'f', long = "use-file", default_value = DEFAULT_CONFIG)]
    pub file: PathBuf,
    /// Treat warnings (unknown keywords, obsolete options) as errors.
    #[arg(long)]
    pub strict: bool,
    /// Skip the checks against this host (interfaces, scripts): for validating
    /// configs meant for other machines.
    #[arg(long)]
    pub offline: bool,
    /// Config id for `@id` conditional lines (default: the short host name).
    #[arg(short = 'i', long = "config-id")]
    pub config_id: Option<String>,
    /// Print diagnostics as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Configuration file.
    #[arg(short = 'f', long = "use-file", default_value = DEFAULT_CONFIG)]
    pub file: PathBuf,
    /// Print the model as JSON (the default).
    #[arg(long, default_value_t = true)]
    pub json: bool,
    /// Print canonical keepalived.conf text instead of JSON.
    #[arg(long, conflicts_with = "json")]
    pub canonical: bool,
    /// Config id for `@id` conditional lines (default: the short host name).
    #[arg(short = 'i', long = "config-id")]
    pub config_id: Option<String>,
}

/// keepalived's command line, accepted with its meanings.
#[derive(Debug, Args, Default)]
pub struct KeepalivedFlags {
    /// Use the specified configuration file.
    #[arg(short = 'f', long = "use-file")]
    pub use_file: Option<PathBuf>,
    /// Only run with VRRP subsystem.
    #[arg(short = 'P', long = "vrrp")]
    pub vrrp_only: bool,
    /// Only run with Health-checker subsystem.
    #[arg(short = 'C', long = "check")]
    pub check_only: bool,
    /// Don't run BFD subsystem.
    #[arg(short = 'B', long = "no_bfd")]
    pub no_bfd: bool,
    /// Force all child processes to run, even if have no configuration.
    #[arg(long = "all")]
    pub all: bool,
    /// Log messages to local console.
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,
    /// Detailed log messages.
    #[arg(short = 'D', long = "log-detail")]
    pub log_detail: bool,
    /// Set syslog facility to LOG_LOCAL[0-7] or user/daemon.
    #[arg(short = 'S', long = "log-facility")]
    pub log_facility: Option<String>,
    /// Also log to FILE.
    #[arg(short = 'g', long = "log-file", num_args = 0..=1, require_equals = true, default_missing_value = "/tmp/keepalived.log")]
    pub log_file: Option<PathBuf>,
    /// Flush log file on write.
    #[arg(long = "flush-log-file")]
    pub flush_log_file: bool,
    /// Don't log via syslog.
    #[arg(short = 'G', long = "no-syslog")]
    pub no_syslog: bool,
    /// Drop VIPs on transition from signal.
    #[arg(short = 'X', long = "release-vips")]
    pub release_vips: bool,
    /// Don't remove VRRP VIPs and VROUTEs on daemon stop.
    #[arg(short = 'V', long = "dont-release-vrrp")]
    pub dont_release_vrrp: bool,
    /// Don't remove IPVS topology on daemon stop.
    #[arg(short = 'I', long = "dont-release-ipvs")]
    pub dont_release_ipvs: bool,
    /// Don't respawn child processes.
    #[arg(short = 'R', long = "dont-respawn")]
    pub dont_respawn: bool,
    /// Don't fork the daemon process.
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,
    /// Dump the configuration data.
    #[arg(short = 'd', long = "dump-conf")]
    pub dump_conf: bool,
    /// Use specified pidfile for parent process.
    #[arg(short = 'p', long = "pid")]
    pub pid: Option<PathBuf>,
    /// Use specified pidfile for VRRP child process.
    #[arg(short = 'r', long = "vrrp_pid")]
    pub vrrp_pid: Option<PathBuf>,
    /// Use specified pidfile for checkers child process.
    #[arg(short = 'c', long = "checkers_pid")]
    pub checkers_pid: Option<PathBuf>,
    /// Use specified pidfile for BFD child process.
    #[arg(short = 'b', long = "bfd_pid")]
    pub bfd_pid: Option<PathBuf>,
    /// Check the configuration for obvious errors (optionally of FILE) and exit.
    #[arg(short = 't', long = "config-test", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub config_test: Option<String>,
    /// Run keepalived's genhash (`keel genhash` takes the same options).
    #[arg(short = 'T', long = "genhash")]
    pub genhash: bool,
    /// Run in network namespace NAME (overrides config).
    #[arg(short = 's', long = "namespace")]
    pub namespace: Option<String>,
    /// Set config id for `@id` conditional lines.
    #[arg(short = 'i', long = "config-id")]
    pub config_id: Option<String>,
    /// Strict include: fail if an include pattern matches nothing.
    #[arg(short = 'e', long = "errors")]
    pub errors: bool,
    /// Enable SNMP subsystem.
    #[arg(short = 'x', long = "snmp")]
    pub snmp: bool,
    /// Use the specified socket for master agent.
    #[arg(short = 'A', long = "snmp-agent-socket")]
    pub snmp_agent_socket: Option<String>,
    /// Report all address additions/deletions notified by netlink.
    #[arg(short = 'a', long = "address-monitoring")]
    pub address_monitoring: bool,
    /// Set umask for file creation.
    #[arg(short = 'u', long = "umask")]
    pub umask: Option<String>,
    /// Produce core dump if terminate abnormally.
    #[arg(short = 'm', long = "core-dump")]
    pub core_dump: bool,
    /// Set /proc/sys/kernel/core_pattern.
    #[arg(short = 'M', long = "core-dump-pattern", num_args = 0..=1, require_equals = true, default_missing_value = "core")]
    pub core_dump_pattern: Option<String>,
    /// Return signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON, TDATA.
    #[arg(long = "signum")]
    pub signum: Option<String>,
    /// Collect perf data.
    #[arg(long = "perf", num_args = 0..=1, require_equals = true, default_missing_value = "run")]
    pub perf: Option<String>,
    /// Debug options.
    #[arg(long = "debug", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub debug: Option<String>,
    /// Don't check for memory leaks.
    #[arg(long = "no-mem-check")]
    pub no_mem_check: bool,
    /// Ignore SIGINT (default: SIGINT stops the daemon).
    #[arg(long = "ignore-sigint")]
    pub ignore_sigint: bool,
    /// Display the version number.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

impl KeepalivedFlags {
    /// Flags keel accepts for compatibility but whose subsystem it lacks, so
    /// users learn it from one line instead of a silent no-op.
    pub fn unsupported(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.snmp || self.snmp_agent_socket.is_some() {
            v.push("-x/-A (SNMP)");
        }
        if self.perf.is_some() {
            v.push("--perf");
        }
        if self.core_dump || self.core_dump_pattern.is_some() {
            v.push("-m/-M (core dumps)");
        }
        if self.no_mem_check {
            v.push("--no-mem-check");
        }
        if self.debug.is_some() {
            v.push("--debug");
        }
        if self.dump_conf {
            v.push("-d (use `keel config --json`)");
        }
        if self.genhash {
            v.push("-T (use `keel genhash`)");
        }
        if self.address_monitoring {
            v.push("-a (address monitoring)");
        }
        if self.errors {
            v.push("-e (strict include)");
        }
        v
    }
}

/// keepalived's signal numbers for `--signum`.
pub fn signum(name: &str) -> Option<i32> {
    keel_daemon::daemon::signum(name)
}
