//! Who a script runs as, and whether it may run at all.
//!
//! keepalived's rules, which every script kind goes through here
//! (`vrrp_script`, `notify*`, `MISC_CHECK`, quorum and real-server notifies,
//! the FIFO scripts):
//!
//! - the script's own `user [group]`, else global `script_user`, else the
//!   `keepalived_script` user when it exists, else root with keepalived's
//!   warning;
//! - a user or group that cannot be resolved disables the script: it is
//!   never run as root instead;
//! - a script that runs with root's uid or gid (or is set-uid/gid root) has
//!   every component of its path checked: a component not owned by root, or
//!   writable by a non-root group or by others (directories with the sticky
//!   bit excepted), makes the script unsafe (CVE-2018-19044's class). With
//!   `enable_script_security` an unsafe script is disabled; without it the
//!   daemon warns, as keepalived does.
//!
//! Verdicts are made when a configuration is loaded (and again on reload)
//! and cached, so a script run later never logs them twice.

use std::collections::HashMap;
use std::future::Future;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_check::probe::{ProbeContext, ScriptExec, ScriptExit};
use keel_config::Config;
use keel_config::model::Script as ScriptCfg;

use crate::script::{
    Credentials, DEFAULT_SCRIPT_USER, RunOptions, SCRIPT_PATH, Script, ScriptKind, ScriptOutcome,
    ScriptRunner, default_shell,
};

/// What the global defaults resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DefaultUser {
    /// `script_user` or `keepalived_script`.
    User(Credentials),
    /// Neither configured nor present: root, with keepalived's warning.
    Root,
    /// `script_user` names a user or group that does not exist: scripts
    /// without their own user are disabled.
    Unresolved(String),
}

/// A script that may run, with what it runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub script: Script,
    pub options: RunOptions,
}

type Key = (String, Option<String>, Option<String>);

/// The script rules of the running configuration, replaced at reload;
/// shared by everything that runs scripts, so a reload that leaves the load
/// balancer running still applies new verdicts to its scripts.
#[derive(Debug)]
pub struct ScriptPolicy {
    rules: Mutex<Arc<Rules>>,
}

impl ScriptPolicy {
    /// The rules `cfg` asks for (scripts are checked, and verdicts logged,
    /// by [`ScriptPolicy::check_all`] or on first use).
    pub fn from_config(cfg: &Config) -> ScriptPolicy {
        ScriptPolicy {
            rules: Mutex::new(Arc::new(Rules::from_config(cfg))),
        }
    }

    /// Rules that allow nothing yet (before a configuration is loaded).
    pub fn empty() -> ScriptPolicy {
        ScriptPolicy {
            rules: Mutex::new(Arc::new(Rules::empty())),
        }
    }

    /// Takes the rules of a newly loaded configuration and checks its
    /// scripts again (users, groups, path permissions).
    pub fn reload(&self, cfg: &Config) {
        let rules = Arc::new(Rules::from_config(cfg));
        rules.check_all(cfg);
        if let Ok(mut r) = self.rules.lock() {
            *r = rules;
        }
    }

    fn current(&self) -> Arc<Rules> {
        match self.rules.lock() {
            Ok(r) => Arc::clone(&r),
            Err(_) => Arc::new(Rules::empty()),
        }
    }

    /// The script and how to run it, or `None` when it must not run (bad
    /// line, unknown user, unsafe path under `enable_script_security`).
    pub fn allow(&self, s: &ScriptCfg) -> Option<Allowed> {
        self.current().allow(s)
    }

    /// Resolves every script of `cfg` now, so verdicts are logged at load
    /// time, then logs keepalived's summary.
    pub fn check_all(&self, cfg: &Config) {
        self.current().check_all(cfg)
    }

    /// The owner a notify FIFO is created for: `None` when the user cannot
    /// be resolved (the FIFO then stays root's).
    pub fn fifo_owner(user: Option<&str>, group: Option<&str>) -> Option<Credentials> {
        let u = user?;
        match Credentials::lookup(u, group) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("notify fifo owner {u}: {e}; the FIFO stays root's");
                None
            }
        }
    }
}

/// The rules of one loaded configuration and their cached verdicts.
#[derive(Debug)]
struct Rules {
    security: bool,
    default: DefaultUser,
    shell: PathBuf,
    verdicts: Mutex<HashMap<Key, Option<Allowed>>>,
    any_script: AtomicBool,
    any_insecure: AtomicBool,
    /// The default user is `keepalived_script` (not `script_user`).
    keepalived_script: bool,
    /// `set_supplementary_groups`: scripts keep their user's groups.
    supplementary_groups: bool,
    /// Name of the default user, for its group list.
    default_name: Option<String>,
}

/// Why a path is unsafe for a root script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsafe {
    /// The component that failed.
    pub component: PathBuf,
}

impl Rules {
    fn from_config(cfg: &Config) -> Rules {
        let g = &cfg.global_defs;
        let default = match &g.script_user {
            Some(u) => match Credentials::lookup(&u.user, u.group.as_deref()) {
                Ok(c) => DefaultUser::User(c),
                Err(e) => {
                    tracing::error!(
                        "script_user {}: {e} - scripts without their own user are disabled",
                        u.user
                    );
                    DefaultUser::Unresolved(u.user.clone())
                }
            },
            None => match Credentials::default_script_user() {
                Some(c) => DefaultUser::User(c),
                None => DefaultUser::Root,
            },
        };
        Rules {
            supplementary_groups: g
                .other
                .iter()
                .any(|r| r.keyword == "set_supplementary_groups"),
            default_name: match &g.script_user {
                Some(u) => Some(u.user.clone()),
                None => Some(DEFAULT_SCRIPT_USER.to_string()),
            },
            security: g.enable_script_security,
            keepalived_script: g.script_user.is_none() && matches!(default, DefaultUser::User(_)),
            default,
            shell: default_shell(),
            verdicts: Mutex::new(HashMap::new()),
            any_script: AtomicBool::new(false),
            any_insecure: AtomicBool::new(false),
        }
    }

    fn empty() -> Rules {
        Rules {
            supplementary_groups: false,
            default_name: None,
            keepalived_script: false,
            security: true,
            default: DefaultUser::Unresolved(String::new()),
            shell: default_shell(),
            verdicts: Mutex::new(HashMap::new()),
            any_script: AtomicBool::new(false),
            any_insecure: AtomicBool::new(false),
        }
    }

    fn check_all(&self, cfg: &Config) {
        for s in all_scripts(cfg) {
            let _ = self.allow(s);
        }
        self.log_summary();
    }

    /// keepalived's start-up summary when scripts run without
    /// `enable_script_security`.
    fn log_summary(&self) {
        if let (DefaultUser::User(c), true) = (&self.default, self.keepalived_script) {
            tracing::info!(
                "Setting default script user to '{DEFAULT_SCRIPT_USER}', uid:gid {}:{}",
                c.uid,
                c.gid
            );
        }
        if self.default == DefaultUser::Root && self.any_script.load(Ordering::Relaxed) {
            tracing::warn!(
                "WARNING - default user '{DEFAULT_SCRIPT_USER}' for script execution does not exist - please create."
            );
        }
        if !self.security && self.any_script.load(Ordering::Relaxed) {
            let insecure = if self.any_insecure.load(Ordering::Relaxed) {
                " There are insecure scripts."
            } else {
                ""
            };
            tracing::warn!(
                "SECURITY VIOLATION - scripts are being executed but script_security not enabled.{insecure}"
            );
        }
    }

    fn allow(&self, s: &ScriptCfg) -> Option<Allowed> {
        let key = (s.command.clone(), s.user.clone(), s.group.clone());
        if let Ok(v) = self.verdicts.lock()
            && let Some(found) = v.get(&key)
        {
            return found.clone();
        }
        let verdict = self.decide(s);
        if let Ok(mut v) = self.verdicts.lock() {
            v.insert(key, verdict.clone());
        }
        verdict
    }

    fn decide(&self, s: &ScriptCfg) -> Option<Allowed> {
        let script = match Script::parse(&s.command) {
            Ok(script) => script,
            Err(e) => {
                tracing::error!("script {:?}: {e} - disabling", s.command);
                return None;
            }
        };
        self.any_script.store(true, Ordering::Relaxed);
        let creds = match &s.user {
            Some(u) => match Credentials::lookup(u, s.group.as_deref()) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(
                        "Unable to resolve user for script '{}': {e} - disabling",
                        script.line()
                    );
                    return None;
                }
            },
            None => match &self.default {
                DefaultUser::User(c) => Some(*c),
                DefaultUser::Root => None,
                DefaultUser::Unresolved(u) => {
                    tracing::error!(
                        "script_user '{u}' cannot be resolved; script '{}' disabled",
                        script.line()
                    );
                    return None;
                }
            },
        };
        let run_as = creds.unwrap_or(Credentials { uid: 0, gid: 0 });
        for program in programs(&script, &self.shell) {
            if !needs_protection(&program, run_as) {
                continue;
            }
            if let Err(u) = check_path(&program) {
                self.any_insecure.store(true, Ordering::Relaxed);
                if self.security {
                    tracing::error!(
                        "Unsafe permissions found for script '{}' - disabling.",
                        program.display()
                    );
                    tracing::error!(
                        "SECURITY VIOLATION - script '{}' disabled: {} is not owned by root or is writable by others",
                        script.line(),
                        u.component.display()
                    );
                    return None;
                }
                tracing::warn!(
                    "Unsafe permissions found for script '{}'.",
                    program.display()
                );
            }
        }
        Some(Allowed {
            script,
            options: RunOptions {
                credentials: creds,
                timeout: None,
                groups: if self.supplementary_groups {
                    creds.and_then(|c| user_groups(s.user.as_deref(), &self.default_name, c))
                } else {
                    None
                },
            },
        })
    }
}

/// MISC_CHECK scripts run through the daemon's rules, on their own budget
/// so that checks never wait behind notifies (or the reverse).
pub struct MiscExec {
    policy: Arc<ScriptPolicy>,
    runner: ScriptRunner,
}

/// MISC_CHECK scripts running at once; more wait for a slot.
pub const MISC_MAX_CONCURRENT: usize = 256;

impl MiscExec {
    pub fn new(policy: Arc<ScriptPolicy>, runner: ScriptRunner) -> MiscExec {
        MiscExec { policy, runner }
    }
}

impl ScriptExec for MiscExec {
    fn run<'a>(
        &'a self,
        script: &'a ScriptCfg,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = ScriptExit> + Send + 'a>> {
        Box::pin(async move {
            let Some(mut a) = self.policy.allow(script) else {
                return ScriptExit::SpawnFailed("script disabled".to_string());
            };
            a.options.timeout = Some(timeout);
            match self.runner.run(&a.script, &[], &a.options).await {
                ScriptOutcome::Exited { code, .. } => ScriptExit::Exited(code),
                ScriptOutcome::Signaled { signal, .. } => ScriptExit::Signaled(signal),
                ScriptOutcome::TimedOut { .. } => ScriptExit::TimedOut,
                ScriptOutcome::SpawnFailed { error } => ScriptExit::SpawnFailed(error),
            }
        })
    }
}

/// The probe context of the load balancer: MISC_CHECK through [`MiscExec`].
pub fn probe_context(ctx: &crate::lvs::LvsContext) -> ProbeContext {
    let runner = ScriptRunner::new(MISC_MAX_CONCURRENT).with_shell(ctx.runner.shell());
    ProbeContext {
        scripts: Arc::new(MiscExec::new(Arc::clone(&ctx.scripts), runner)),
        ..ProbeContext::default()
    }
}

/// keepalived's `startup_script` / `shutdown_script SCRIPT [user [group]]`
/// (kept verbatim by the config model) and its `*_timeout` (default 10 s).
pub fn lifecycle_script(cfg: &Config, keyword: &str) -> Option<(ScriptCfg, Duration)> {
    let other = &cfg.global_defs.other;
    let st = other.iter().find(|r| r.keyword == keyword)?;
    let command = st.args.first()?.clone();
    let timeout = other
        .iter()
        .find(|r| r.keyword == format!("{keyword}_timeout"))
        .and_then(|r| r.args.first())
        .and_then(|a| a.parse::<u64>().ok())
        .map_or(LIFECYCLE_TIMEOUT, Duration::from_secs);
    let script = ScriptCfg {
        command,
        user: st.args.get(1).cloned(),
        group: st.args.get(2).cloned(),
    };
    Some((script, timeout))
}

/// keepalived's default `startup_script_timeout`/`shutdown_script_timeout`.
pub const LIFECYCLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `startup_script` or `shutdown_script` if configured, through the
/// same rules as every other script, and waits for it (keepalived does).
pub async fn run_lifecycle_script(cfg: &Config, keyword: &str, runner: &ScriptRunner) {
    let Some((script, timeout)) = lifecycle_script(cfg, keyword) else {
        return;
    };
    let rules = Rules::from_config(cfg);
    let Some(mut a) = rules.allow(&script) else {
        return;
    };
    a.options.timeout = Some(timeout);
    let outcome = runner.run(&a.script, &[], &a.options).await;
    if !outcome.success() {
        tracing::warn!("{keyword} {} {outcome}", a.script.line());
    }
}

/// The groups `user` (the script's own, else the default user) belongs
/// to, as initgroups(3) would set them; `None` when they cannot be listed
/// (the script then runs with none).
fn user_groups(user: Option<&str>, default: &Option<String>, c: Credentials) -> Option<Arc<[u32]>> {
    let name = user.map(str::to_string).or_else(|| default.clone())?;
    // A numeric user has its name in the password database, if anywhere.
    let name = match name.parse::<u32>() {
        Ok(uid) => {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()?
                .name
        }
        Err(_) => name,
    };
    let cname = std::ffi::CString::new(name).ok()?;
    let groups = nix::unistd::getgrouplist(&cname, nix::unistd::Gid::from_raw(c.gid)).ok()?;
    Some(groups.into_iter().map(|g| g.as_raw()).collect())
}

/// Every script a configuration names.
fn all_scripts(cfg: &Config) -> Vec<&ScriptCfg> {
    let mut out: Vec<&ScriptCfg> = Vec::new();
    let g = &cfg.global_defs;
    for f in [&g.notify_fifo, &g.vrrp_notify_fifo, &g.lvs_notify_fifo]
        .into_iter()
        .flatten()
    {
        out.extend(f.script.as_ref());
    }
    let notifies = cfg
        .vrrp_instances
        .iter()
        .map(|i| &i.notify)
        .chain(cfg.sync_groups.iter().map(|s| &s.notify));
    for n in notifies {
        for s in [
            &n.master,
            &n.backup,
            &n.fault,
            &n.stop,
            &n.deleted,
            &n.generic,
            &n.master_rx_lower_pri,
        ]
        .into_iter()
        .flatten()
        {
            out.push(s);
        }
    }
    out.extend(cfg.vrrp_scripts.iter().map(|s| &s.script));
    for vs in &cfg.virtual_servers {
        out.extend(vs.quorum_up.iter().chain(vs.quorum_down.iter()));
        for rs in &vs.real_servers {
            out.extend(rs.notify_up.iter().chain(rs.notify_down.iter()));
            for c in &rs.checkers {
                if let Some(m) = misc_script(c) {
                    out.push(m);
                }
            }
        }
    }
    out
}

fn misc_script(c: &keel_config::model::Checker) -> Option<&ScriptCfg> {
    match c {
        keel_config::model::Checker::Misc { misc, .. } => Some(&misc.misc_path),
        _ => None,
    }
}

/// The files a line executes: the program of a plain line (found through
/// the scripts' PATH when bare), or the shell and, when the line starts
/// with an absolute path, that file too.
fn programs(script: &Script, shell: &Path) -> Vec<PathBuf> {
    match script.kind() {
        ScriptKind::Exec { argv } => {
            let Some(first) = argv.first() else {
                return Vec::new();
            };
            if first.contains('/') {
                return vec![PathBuf::from(first)];
            }
            match search_path(first) {
                Some(found) => {
                    tracing::info!(
                        "WARNING - script `{first}` resolved by path search to `{}`. Please specify full path.",
                        found.display()
                    );
                    vec![found]
                }
                None => Vec::new(),
            }
        }
        ScriptKind::Shell { command } => {
            let mut v = vec![shell.to_path_buf()];
            if let Some(first) = command.split_whitespace().next()
                && first.starts_with('/')
            {
                v.push(PathBuf::from(first));
            }
            v
        }
    }
}

fn search_path(name: &str) -> Option<PathBuf> {
    SCRIPT_PATH
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Whether running `program` as `run_as` gives it root's powers.
fn needs_protection(program: &Path, run_as: Credentials) -> bool {
    if run_as.uid == 0 || run_as.gid == 0 {
        return true;
    }
    std::fs::metadata(program).is_ok_and(|m| {
        let mode = m.mode();
        (m.uid() == 0 && mode & 0o4100 == 0o4100) || (m.gid() == 0 && mode & 0o2010 == 0o2010)
    })
}

/// keepalived's test, on every component of the resolved path from `/`
/// down: owned by root, and not writable by a non-root group or by others
/// (a sticky directory such as /tmp is fine). A missing file is not unsafe
/// here: running it fails, which callers already report.
pub fn check_path(program: &Path) -> Result<(), Unsafe> {
    let Ok(real) = std::fs::canonicalize(program) else {
        return Ok(());
    };
    let mut cur = PathBuf::new();
    for comp in real.components() {
        cur.push(comp);
        let Ok(m) = std::fs::metadata(&cur) else {
            return Ok(());
        };
        let mode = m.mode();
        let sticky_dir = m.is_dir() && mode & 0o1000 != 0;
        let writable = (m.gid() != 0 && mode & 0o020 != 0) || mode & 0o002 != 0;
        if m.uid() != 0 || (!sticky_dir && writable) {
            return Err(Unsafe { component: cur });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_check_follows_keepalived_rules() {
        if Credentials::current().uid != 0 {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.sh");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        let set = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        set(dir.path(), 0o755);
        set(&f, 0o755);
        assert_eq!(check_path(&f), Ok(()));
        set(&f, 0o775);
        // Group write by root's group is allowed, by another group not.
        assert_eq!(check_path(&f), Ok(()));
        std::os::unix::fs::chown(&f, None, Some(65534)).unwrap();
        assert!(check_path(&f).is_err());
        set(&f, 0o755);
        assert_eq!(check_path(&f), Ok(()));
        set(dir.path(), 0o777);
        assert_eq!(
            check_path(&f).unwrap_err().component,
            std::fs::canonicalize(dir.path()).unwrap()
        );
        set(dir.path(), 0o1777);
        assert_eq!(check_path(&f), Ok(()));
    }
}
