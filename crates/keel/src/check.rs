//! `keel check` / `keel -t`: load a configuration, report every diagnostic,
//! check what this host lacks, and exit with keepalived's `-t` codes.

use keel_config::diag::{Diagnostic, Diagnostics, Severity};
use keel_config::model::Script;
use keel_config::{Config, FsSource, PreprocessOptions};
use std::path::{Path, PathBuf};

/// keepalived's `-t` exit codes (the binary's, not its man page's).
pub mod exit {
    pub const OK: i32 = 0;
    /// Cannot run: file missing or a fatal error.
    pub const CANNOT_RUN: i32 = 4;
    /// Errors, but the daemon would run.
    pub const ERRORS: i32 = 5;
    /// Scripts configured without `enable_script_security` while they run as root.
    pub const SCRIPT_SECURITY: i32 = 6;
}

pub struct CheckOptions<'a> {
    pub file: &'a Path,
    pub strict: bool,
    pub offline: bool,
    pub config_id: Option<String>,
    pub json: bool,
}

/// keepalived's default config id: the short host name.
pub fn default_config_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|h| h.trim().split('.').next().map(str::to_string))
        .unwrap_or_default()
}

pub fn preprocess_options(config_id: Option<String>) -> PreprocessOptions {
    PreprocessOptions {
        config_id: config_id.unwrap_or_else(default_config_id),
        env: std::env::vars().collect(),
        ..PreprocessOptions::default()
    }
}

/// Load a config the way the daemon does; `Err` carries the fatal message.
pub fn load(file: &Path, config_id: Option<String>) -> Result<(Config, Diagnostics), String> {
    load_config(file, config_id).map_err(|e| e.to_string())
}

fn load_config(
    file: &Path,
    config_id: Option<String>,
) -> Result<(Config, Diagnostics), keel_config::ConfigError> {
    keel_config::load_config(file, &FsSource, &preprocess_options(config_id))
}

pub fn run(opts: &CheckOptions<'_>) -> i32 {
    let (config, mut diags) = match load_config(opts.file, opts.config_id.clone()) {
        Ok(v) => v,
        Err(e) => {
            // keepalived's -t reports unbalanced braces as configuration
            // errors (5); only an unreadable file means it cannot run (4).
            let code = match e {
                keel_config::ConfigError::Syntax(_) => exit::ERRORS,
                _ => exit::CANNOT_RUN,
            };
            let msg = e.to_string();
            if opts.json {
                println!("{}", serde_json::json!({ "fatal": msg, "exit": code }));
            } else {
                eprintln!("{msg}");
                eprintln!("keel check: configuration cannot be loaded");
            }
            return code;
        }
    };
    let mut security = None;
    // With net_namespace the daemon runs in another namespace, whose
    // interfaces this host does not show; keepalived's -t checks nothing
    // there either.
    if !opts.offline && config.net_namespace().is_none() {
        host_checks(&config, opts.file, &mut diags);
        security = script_security_violation(&config);
    }
    let errors = diags.errors().count();
    let warnings = diags.warnings().count();
    let not_implemented = diags.not_implemented_items().count();
    // keepalived's -t reports the script-security verdict (6) over config
    // errors (5).
    let code = if security.is_some() {
        exit::SCRIPT_SECURITY
    } else if errors > 0 || (opts.strict && warnings + not_implemented > 0) {
        exit::ERRORS
    } else {
        exit::OK
    };
    if opts.json {
        let out = serde_json::json!({
            "file": opts.file,
            "diagnostics": diags.items,
            "security": security,
            "errors": errors,
            "warnings": warnings,
            "not_implemented": not_implemented,
            "exit": code,
        });
        println!("{out}");
    } else {
        for d in &diags.items {
            eprintln!("{d}");
        }
        if let Some(msg) = &security {
            eprintln!("{}: warning: {msg}", opts.file.display());
        }
        let summary = format!(
            "{}: {} vrrp_instance(s), {} virtual_server(s); {errors} error(s), {warnings} warning(s)",
            opts.file.display(),
            config.vrrp_instances.len(),
            config.virtual_servers.len()
        );
        if code == exit::OK {
            println!("{summary}: configuration OK");
        } else {
            println!("{summary}");
        }
    }
    code
}

fn span_of(file: &Path) -> keel_config::ast::Span {
    keel_config::ast::Span {
        file: std::sync::Arc::new(file.to_path_buf()),
        line: 0,
        col: 0,
    }
}

fn host_error(diags: &mut Diagnostics, file: &Path, keyword: &str, message: String) {
    host_finding(diags, file, keyword, message, Severity::Error)
}

fn host_finding(
    diags: &mut Diagnostics,
    file: &Path,
    keyword: &str,
    message: String,
    severity: Severity,
) {
    diags.push(Diagnostic {
        severity,
        span: span_of(file),
        keyword: keyword.to_string(),
        message,
        suggestion: None,
    });
}

fn interface_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && Path::new("/sys/class/net").join(name).exists()
}

/// Checks against this host, as keepalived's `-t` does: interfaces the config
/// names and scripts that are missing or not executable.
fn host_checks(config: &Config, file: &Path, diags: &mut Diagnostics) {
    let mut interfaces: Vec<(&str, String)> = Vec::new();
    for inst in &config.vrrp_instances {
        if let Some(i) = &inst.interface {
            interfaces.push(("interface", format!("{i}\u{0}{}", inst.name)));
        }
        for t in &inst.track.interfaces {
            interfaces.push(("track_interface", format!("{}\u{0}{}", t.name, inst.name)));
        }
        for vip in inst
            .virtual_ipaddress
            .iter()
            .chain(&inst.virtual_ipaddress_excluded)
        {
            if let Some(dev) = &vip.dev {
                interfaces.push(("virtual_ipaddress", format!("{dev}\u{0}{}", inst.name)));
            }
        }
    }
    for (kw, entry) in interfaces {
        let (ifname, inst) = entry.split_once('\u{0}').unwrap_or((entry.as_str(), ""));
        if !interface_exists(ifname) {
            host_error(
                diags,
                file,
                kw,
                format!("interface {ifname} for vrrp_instance {inst} doesn't exist on this host"),
            );
        }
    }
    // keepalived disables a script it cannot run and carries on: a
    // warning for notify and check scripts, but a vrrp_script it disables
    // goes through its config-error path (when VRRP runs at all).
    let vrrp_runs = !config.vrrp_instances.is_empty();
    for vs in &config.vrrp_scripts {
        if let Some(msg) = script_problem(&vs.script.command) {
            if vrrp_runs {
                host_error(
                    diags,
                    file,
                    "script",
                    format!(
                        "Disabling track script {} since not found/accessible: {msg}",
                        vs.name
                    ),
                );
            } else {
                host_finding(diags, file, "script", msg, Severity::Warning);
            }
        }
    }
    for (kw, script) in scripts(config)
        .into_iter()
        .filter(|(kw, _)| *kw != "script")
    {
        if let Some(msg) = script_problem(&script.command) {
            host_finding(diags, file, kw, msg, Severity::Warning);
        }
    }
    script_user_checks(config, file, diags);
}

/// The users scripts run as must exist: keepalived's config-error path
/// ("Error setting global script uid/gid").
fn script_user_checks(config: &Config, file: &Path, diags: &mut Diagnostics) {
    match &config.global_defs.script_user {
        Some(u) => {
            let group_ok = u.group.as_deref().is_none_or(group_exists);
            if !user_exists(&u.user) || !group_ok {
                host_error(
                    diags,
                    file,
                    "script_user",
                    format!("Error setting global script uid/gid ({})", u.user),
                );
            }
        }
        None if config.global_defs.enable_script_security
            && !scripts(config).is_empty()
            && !user_exists("keepalived_script") =>
        {
            host_error(
                diags,
                file,
                "enable_script_security",
                "Unable to set default user keepalived_script for script (no such user; set script_user)"
                    .to_string(),
            );
        }
        None => {}
    }
}

fn group_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/group")
        .map(|s| s.lines().any(|l| l.split(':').next() == Some(name)))
        .unwrap_or(false)
        || name.parse::<u32>().is_ok()
}

/// Every script the config would run, with the keyword that names it.
fn notify_scripts<'a>(v: &mut Vec<(&'static str, &'a Script)>, n: &'a keel_config::model::Notify) {
    let all = [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify_deleted", &n.deleted),
        ("notify", &n.generic),
        ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
    ];
    for (kw, s) in all {
        if let Some(s) = s {
            v.push((kw, s));
        }
    }
}

pub fn scripts(config: &Config) -> Vec<(&'static str, &Script)> {
    let mut v: Vec<(&'static str, &Script)> = Vec::new();
    for s in &config.vrrp_scripts {
        v.push(("script", &s.script));
    }
    let g = &config.global_defs;
    for (kw, f) in [
        ("notify_fifo_script", &g.notify_fifo),
        ("vrrp_notify_fifo_script", &g.vrrp_notify_fifo),
        ("lvs_notify_fifo_script", &g.lvs_notify_fifo),
    ] {
        if let Some(s) = f.as_ref().and_then(|f| f.script.as_ref()) {
            v.push((kw, s));
        }
    }
    for i in &config.vrrp_instances {
        notify_scripts(&mut v, &i.notify);
    }
    for g in &config.sync_groups {
        notify_scripts(&mut v, &g.notify);
    }
    for vs in &config.virtual_servers {
        for (kw, s) in [
            ("quorum_up", &vs.quorum_up),
            ("quorum_down", &vs.quorum_down),
        ] {
            if let Some(s) = s {
                v.push((kw, s));
            }
        }
        for rs in &vs.real_servers {
            for (kw, s) in [
                ("notify_up", &rs.notify_up),
                ("notify_down", &rs.notify_down),
            ] {
                if let Some(s) = s {
                    v.push((kw, s));
                }
            }
            for c in &rs.checkers {
                if let keel_config::model::Checker::Misc { misc, .. } = c {
                    v.push(("misc_path", &misc.misc_path));
                }
            }
        }
    }
    v
}

/// Shell syntax means the line runs through a shell; only plain command lines
/// name an executable we can check.
fn needs_shell(line: &str) -> bool {
    line.contains("[[")
        || line
            .chars()
            .any(|c| matches!(c, '&' | '|' | ';' | '>' | '<' | '$' | '`' | '(' | '*'))
}

fn script_problem(line: &str) -> Option<String> {
    if needs_shell(line) {
        let shell = ["/bin/bash", "/usr/bin/bash", "/bin/sh"]
            .iter()
            .find(|p| Path::new(p).exists());
        return match shell {
            Some(_) => None,
            None => Some(format!("script '{line}' needs a shell and none was found")),
        };
    }
    let prog = line
        .split_whitespace()
        .next()?
        .trim_matches(|c| c == '"' || c == '\'');
    let path = if prog.contains('/') {
        Some(PathBuf::from(prog))
    } else {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(prog))
                .find(|c| c.is_file())
        })
    };
    match path {
        None => Some(format!("script '{line}': '{prog}' not found in PATH")),
        Some(p) if !p.exists() => Some(format!("script '{line}': {} does not exist", p.display())),
        Some(p) if !is_executable(&p) => Some(format!(
            "script '{line}': {} is not executable",
            p.display()
        )),
        Some(_) => None,
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// keepalived refuses to call this safe: scripts would run as root because
/// `script_user` is unset and the `keepalived_script` user does not exist,
/// and `enable_script_security` is off.
fn script_security_violation(config: &Config) -> Option<String> {
    // Nothing runs without an instance or a virtual server.
    if config.vrrp_instances.is_empty() && config.virtual_servers.is_empty() {
        return None;
    }
    // keepalived disables the scripts it cannot find before it judges.
    let runnable = scripts(config)
        .iter()
        .any(|(_, s)| script_problem(&s.command).is_none());
    if config.global_defs.enable_script_security || !runnable {
        return None;
    }
    let runs_as_root = match &config.global_defs.script_user {
        Some(u) => u.user == "root",
        None => !user_exists("keepalived_script"),
    };
    runs_as_root.then(|| {
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
            .to_string()
    })
}

fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .map(|s| s.lines().any(|l| l.split(':').next() == Some(name)))
        .unwrap_or(false)
        || name.parse::<u32>().is_ok()
}
