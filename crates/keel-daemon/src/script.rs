//! Running keepalived script lines (`vrrp_script`, `notify_*`, `MISC_CHECK`,
//! `notify_fifo_script`, ...).
//!
//! A line is parsed once into a [`Script`]. Lines that use shell syntax run
//! through `bash -c` when bash is installed, because users write bash (`[[ ]]`)
//! and Debian's `/bin/sh` is dash; everything else is split into words the way
//! keepalived's parser does (whitespace, quotes, backslash escapes) and exec'd
//! directly, with any extra arguments (the generic `notify` ones) appended.
//!
//! Every child runs in its own process group so that a timeout kills the whole
//! tree a script started, not just its first process. stdout and stderr are not
//! kept (as in keepalived), except for the first line of stderr, which callers
//! log when a script fails.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Group, Pid, Uid, User};
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::Semaphore;

/// The user keepalived runs scripts as by default when it exists.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// The `PATH` scripts get (the system's standard one, as glibc's
/// `_CS_PATH` plus the sbin directories a root-started service expects):
/// never the daemon's own, which an administrator's shell may have filled
/// with writable directories.
pub const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables of the daemon's environment a script still sees: locale and
/// time zone only change how output is written.
const PASSED_ENV: &[&str] = &["LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ"];

/// Default timeout of a runner's scripts that have none of their own, so a
/// hung notify or LVS script cannot hold a slot forever.
pub const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Default cap on scripts running at the same time in one [`ScriptRunner`].
///
/// keepalived has no cap at all; a configuration with 200 one-second
/// `vrrp_script`s that each run for a second needs 200 at once, and 32 made
/// keel run fewer checks than asked. The cap only guards against a fork
/// storm; the daemon raises RLIMIT_NOFILE to its hard limit for the pipes.
pub const DEFAULT_MAX_CONCURRENT: usize = 1024;

/// Bytes of stderr kept to find its first line; the rest is read and dropped
/// so that a chatty script never blocks on a full pipe.
const STDERR_KEEP: usize = 1024;

/// How long to wait for a script's stderr to reach EOF after the script
/// exited: a background child that inherited stderr may keep it open.
const STDERR_LINGER: Duration = Duration::from_millis(100);

/// Errors from parsing a script line or resolving its user.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScriptError {
    #[error("empty script line")]
    Empty,
    #[error("script line {line:?}: missing terminating {quote}")]
    UnmatchedQuote { line: String, quote: char },
    #[error("script line {line:?}: missing escaped character at end")]
    TrailingBackslash { line: String },
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    #[error("looking up user/group {name:?}: {reason}")]
    Lookup { name: String, reason: String },
}

/// How a script line is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptKind {
    /// Plain command: program and arguments, exec'd without a shell.
    Exec { argv: Vec<String> },
    /// Line with shell syntax, run as `SHELL -c LINE`.
    Shell { command: String },
}

/// A parsed script line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    line: String,
    kind: ScriptKind,
}

impl Script {
    /// Parses a script line as written in keepalived.conf. One pair of quotes
    /// around the whole line (`"killall -0 nginx"`) is removed first, since the
    /// config lexer may hand the token over with its quotes.
    pub fn parse(line: &str) -> Result<Script, ScriptError> {
        let line = strip_outer_quotes(line.trim());
        if line.is_empty() {
            return Err(ScriptError::Empty);
        }
        let kind = if needs_shell(line) {
            ScriptKind::Shell {
                command: line.to_string(),
            }
        } else {
            let argv = split_words(line)?;
            if argv.is_empty() {
                return Err(ScriptError::Empty);
            }
            ScriptKind::Exec { argv }
        };
        Ok(Script {
            line: line.to_string(),
            kind,
        })
    }

    /// The line as configured (outer quotes removed), for log messages.
    pub fn line(&self) -> &str {
        &self.line
    }

    pub fn kind(&self) -> &ScriptKind {
        &self.kind
    }

    /// The program a plain line runs (`None` for shell lines); `keel check`
    /// uses it to look for missing or insecure scripts.
    pub fn program(&self) -> Option<&str> {
        match &self.kind {
            ScriptKind::Exec { argv } => argv.first().map(String::as_str),
            ScriptKind::Shell { .. } => None,
        }
    }
}

impl std::fmt::Display for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line)
    }
}

impl std::str::FromStr for Script {
    type Err = ScriptError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Script::parse(s)
    }
}

fn strip_outer_quotes(line: &str) -> &str {
    for q in ['"', '\''] {
        if line.len() >= 2 && line.starts_with(q) && line.ends_with(q) {
            let inner = &line[1..line.len() - 1];
            // `"a" "b"` is two quoted words, not one quoted line.
            if !inner.contains(q) {
                return inner;
            }
        }
    }
    line
}

/// Whether a line needs a shell to mean what the user wrote: operators,
/// redirections, expansions, globs, grouping, or a shell keyword/builtin as
/// the command.
pub fn needs_shell(line: &str) -> bool {
    const META: &[char] = &[
        ';', '&', '|', '<', '>', '$', '`', '*', '?', '(', ')', '{', '}', '~', '\n', '!',
    ];
    // Characters inside single quotes are literal, so `grep 'a|b' f` is still
    // a plain command; anything else counts.
    let mut in_single = false;
    let mut in_double = false;
    let mut escaped = false;
    for c in line.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if !in_single => escaped = true,
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            '$' | '`' if in_double => return true,
            _ if in_single || in_double => {}
            _ if META.contains(&c) => return true,
            _ => {}
        }
    }
    let first = line.split_whitespace().next().unwrap_or("");
    const SHELL_WORDS: &[&str] = &[
        "[[", "[", "test", "if", "for", "while", "until", "case", "exit", "export", "source", ".",
        "cd", "eval", "exec", "set", "unset",
    ];
    SHELL_WORDS.contains(&first) || first.contains('=')
}

/// Splits a plain line into words: whitespace separates, single and double
/// quotes group, backslash escapes (C-style, as keepalived's parser does).
pub fn split_words(line: &str) -> Result<Vec<String>, ScriptError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                let Some(e) = chars.next() else {
                    return Err(ScriptError::TrailingBackslash {
                        line: line.to_string(),
                    });
                };
                in_word = true;
                match e {
                    'n' => cur.push('\n'),
                    't' => cur.push('\t'),
                    'r' => cur.push('\r'),
                    'a' => cur.push('\x07'),
                    'b' => cur.push('\x08'),
                    'f' => cur.push('\x0c'),
                    'v' => cur.push('\x0b'),
                    'E' => cur.push('\x1b'),
                    'x' if chars.peek().is_some_and(|h| h.is_ascii_hexdigit()) => {
                        let mut v = 0u32;
                        for _ in 0..2 {
                            match chars.peek().and_then(|h| h.to_digit(16)) {
                                Some(d) => {
                                    v = v * 16 + d;
                                    chars.next();
                                }
                                None => break,
                            }
                        }
                        cur.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            match chars.peek().and_then(|h| h.to_digit(8)) {
                                Some(d) => {
                                    v = v * 8 + d;
                                    chars.next();
                                }
                                None => break,
                            }
                        }
                        cur.push(char::from_u32(v & 0xff).unwrap_or('\u{fffd}'));
                    }
                    other => cur.push(other),
                }
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(ScriptError::UnmatchedQuote {
            line: line.to_string(),
            quote: q,
        });
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Quotes one argument for a shell command line: `'...'` with embedded single
/// quotes written as `'\''`.
pub fn shell_quote(arg: &str) -> String {
    let mut s = String::with_capacity(arg.len() + 2);
    s.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            s.push_str("'\\''");
        } else {
            s.push(c);
        }
    }
    s.push('\'');
    s
}

/// The user and group a script runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
}

impl Credentials {
    /// Resolves keepalived's `user [group]` (names or numeric ids). Without a
    /// group, the user's primary group is used.
    pub fn lookup(user: &str, group: Option<&str>) -> Result<Credentials, ScriptError> {
        let (uid, primary_gid) = match User::from_name(user) {
            Ok(Some(u)) => (u.uid.as_raw(), u.gid.as_raw()),
            Ok(None) => match user.parse::<u32>() {
                Ok(uid) => match User::from_uid(Uid::from_raw(uid)) {
                    Ok(Some(u)) => (uid, u.gid.as_raw()),
                    _ => (uid, uid),
                },
                Err(_) => return Err(ScriptError::UnknownUser(user.to_string())),
            },
            Err(e) => {
                return Err(ScriptError::Lookup {
                    name: user.to_string(),
                    reason: e.to_string(),
                });
            }
        };
        let gid = match group {
            None => primary_gid,
            Some(g) => match Group::from_name(g) {
                Ok(Some(gr)) => gr.gid.as_raw(),
                Ok(None) => g
                    .parse::<u32>()
                    .map_err(|_| ScriptError::UnknownGroup(g.to_string()))?,
                Err(e) => {
                    return Err(ScriptError::Lookup {
                        name: g.to_string(),
                        reason: e.to_string(),
                    });
                }
            },
        };
        Ok(Credentials { uid, gid })
    }

    /// keepalived's default script user `keepalived_script`, if it exists on
    /// this host (otherwise keepalived runs scripts as root with a warning).
    pub fn default_script_user() -> Option<Credentials> {
        Credentials::lookup(DEFAULT_SCRIPT_USER, None).ok()
    }

    /// The credentials of this process; no switch is needed for them.
    pub fn current() -> Credentials {
        Credentials {
            uid: Uid::effective().as_raw(),
            gid: Gid::effective().as_raw(),
        }
    }
}

/// Per-run options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Run as this user/group (needs root); `None` keeps ours.
    pub credentials: Option<Credentials>,
    /// Kill the script's process group after this long; `None` waits forever.
    pub timeout: Option<Duration>,
    /// The supplementary groups to run with (keepalived's
    /// `set_supplementary_groups`); `None` drops them all.
    pub groups: Option<Arc<[u32]>>,
}

impl RunOptions {
    pub fn with_timeout(timeout: Duration) -> RunOptions {
        RunOptions {
            credentials: None,
            timeout: Some(timeout),
            groups: None,
        }
    }
}

/// What became of one script run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptOutcome {
    /// Exited on its own; `code` 0 is success.
    Exited { code: i32, stderr: Option<String> },
    /// Terminated by a signal (not one of our timeout kills).
    Signaled { signal: i32, stderr: Option<String> },
    /// Ran past its timeout; its process group was killed.
    TimedOut { after: Duration },
    /// Could not be started (missing program, permission, bad user...). A
    /// failure, never a success (keepalived once counted it as success, #2126).
    SpawnFailed { error: String },
}

impl ScriptOutcome {
    pub fn success(&self) -> bool {
        matches!(self, ScriptOutcome::Exited { code: 0, .. })
    }

    /// Exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            ScriptOutcome::Exited { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// First line of the script's stderr, if it wrote any.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            ScriptOutcome::Exited { stderr, .. } | ScriptOutcome::Signaled { stderr, .. } => {
                stderr.as_deref()
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for ScriptOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScriptOutcome::Exited { code, .. } => write!(f, "exited with status {code}"),
            ScriptOutcome::Signaled { signal, .. } => {
                let name = Signal::try_from(*signal)
                    .map(|s| s.as_str())
                    .unwrap_or("unknown signal");
                write!(f, "killed by signal {signal} ({name})")
            }
            ScriptOutcome::TimedOut { after } => write!(f, "timed out after {after:?}"),
            ScriptOutcome::SpawnFailed { error } => write!(f, "could not be started: {error}"),
        }
    }
}

/// Finds the shell for lines with shell syntax: bash if installed, else
/// `/bin/sh`.
pub fn default_shell() -> PathBuf {
    for p in ["/bin/bash", "/usr/bin/bash"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("/bin/sh")
}

/// Runs scripts without blocking the caller, at most N at a time.
#[derive(Debug, Clone)]
pub struct ScriptRunner {
    limit: Arc<Semaphore>,
    shell: Arc<PathBuf>,
    default_timeout: Option<Duration>,
}

impl Default for ScriptRunner {
    fn default() -> Self {
        ScriptRunner::new(DEFAULT_MAX_CONCURRENT)
    }
}

impl ScriptRunner {
    /// A runner allowing `max_concurrent` scripts at once (at least 1).
    pub fn new(max_concurrent: usize) -> ScriptRunner {
        ScriptRunner {
            limit: Arc::new(Semaphore::new(max_concurrent.max(1))),
            shell: Arc::new(default_shell()),
            default_timeout: None,
        }
    }

    /// Applies `timeout` to scripts run without one.
    pub fn with_default_timeout(mut self, timeout: Duration) -> ScriptRunner {
        self.default_timeout = Some(timeout);
        self
    }

    /// Uses `shell` for lines with shell syntax instead of the default.
    pub fn with_shell(mut self, shell: impl Into<PathBuf>) -> ScriptRunner {
        self.shell = Arc::new(shell.into());
        self
    }

    pub fn shell(&self) -> &Path {
        &self.shell
    }

    /// Runs `script` with `extra_args` appended, waiting for a free slot
    /// first; the timeout starts when the script starts. Dropping the future
    /// kills the script's process group.
    pub async fn run(
        &self,
        script: &Script,
        extra_args: &[String],
        options: &RunOptions,
    ) -> ScriptOutcome {
        let _permit = match self.limit.acquire().await {
            Ok(p) => p,
            Err(_) => {
                return ScriptOutcome::SpawnFailed {
                    error: "script runner closed".to_string(),
                };
            }
        };
        let outcome = if options.timeout.is_none() && self.default_timeout.is_some() {
            let mut o = options.clone();
            o.timeout = self.default_timeout;
            run_script(&self.shell, script, extra_args, &o).await
        } else {
            run_script(&self.shell, script, extra_args, options).await
        };
        // Callers log failures at the level their feature needs (a tracked
        // script failing every second must not flood the log); the detail
        // is always available with -D.
        if !outcome.success() {
            match outcome.stderr() {
                Some(err) => tracing::debug!("Script {} {}: {}", script.line(), outcome, err),
                None => tracing::debug!("Script {} {}", script.line(), outcome),
            }
        }
        outcome
    }
}

/// Kills a process group unless disarmed: the script's tree dies with the
/// future that awaited it.
struct GroupKiller {
    pgid: Option<Pid>,
}

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH: the group is already gone, which is what we want.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

fn build_command(
    shell: &Path,
    script: &Script,
    extra_args: &[String],
) -> Result<Command, ScriptOutcome> {
    let cmd = match &script.kind {
        ScriptKind::Exec { argv } => {
            let Some((prog, args)) = argv.split_first() else {
                return Err(ScriptOutcome::SpawnFailed {
                    error: "empty command".to_string(),
                });
            };
            let mut c = Command::new(prog);
            c.args(args).args(extra_args);
            c
        }
        ScriptKind::Shell { command } => {
            // keepalived appends notify arguments to the command line it
            // hands to the shell; quoting keeps them single words.
            let mut line = OsString::from(command);
            for a in extra_args {
                line.push(" ");
                line.push(shell_quote(a));
            }
            let mut c = Command::new(shell);
            c.arg("-c").arg(line);
            c
        }
    };
    Ok(cmd)
}

/// Runs one script now, without the concurrency limit (for long-lived children
/// such as `notify_fifo_script`). Dropping the future kills its process group.
pub async fn run_script(
    shell: &Path,
    script: &Script,
    extra_args: &[String],
    options: &RunOptions,
) -> ScriptOutcome {
    let mut cmd = match build_command(shell, script, extra_args) {
        Ok(c) => c,
        Err(o) => return o,
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        // A script gets a clean environment: whatever the daemon was started
        // with (a loader override, IFS, a PATH with writable directories, an
        // operator's secrets) is none of its business.
        .env_clear()
        .envs(script_env(options.credentials))
        .kill_on_drop(true);
    if let Some(c) = options.credentials
        && c != Credentials::current()
    {
        match &options.groups {
            Some(groups) => {
                keel_linux::creds::switch_user_on_exec(cmd.as_std_mut(), c.uid, c.gid, groups)
            }
            // std drops the supplementary groups (setgroups(0)), then sets
            // the gid, then the uid, in the child before exec.
            None => {
                cmd.uid(c.uid).gid(c.gid);
            }
        }
    }

    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return ScriptOutcome::SpawnFailed {
                error: spawn_error_text(script, &e),
            };
        }
    };
    let mut killer = GroupKiller {
        pgid: child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw),
    };

    let captured = Arc::new(Mutex::new(Vec::<u8>::new()));
    let reader = child.stderr.take().map(|mut err| {
        let captured = Arc::clone(&captured);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                match err.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut kept) = captured.lock() {
                            let room = STDERR_KEEP.saturating_sub(kept.len());
                            kept.extend_from_slice(&buf[..n.min(room)]);
                        }
                    }
                }
            }
        })
    });

    let status: io::Result<ExitStatus> = match options.timeout {
        Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
            Ok(r) => r,
            Err(_) => {
                // The child is not reaped yet, so its pid still names its
                // process group: killing it cannot hit an unrelated process.
                killer.kill();
                let _ = child.wait().await;
                if let Some(r) = reader {
                    r.abort();
                }
                return ScriptOutcome::TimedOut { after: limit };
            }
        },
        None => child.wait().await,
    };
    // The script itself is done; children it left in the background are its
    // business, as in keepalived, so the group is not killed.
    killer.pgid = None;

    if let Some(mut r) = reader
        && tokio::time::timeout(STDERR_LINGER, &mut r).await.is_err()
    {
        r.abort();
    }
    let stderr = captured.lock().ok().and_then(|b| first_line(&b));

    match status {
        Ok(st) => match (st.code(), st.signal()) {
            (Some(code), _) => ScriptOutcome::Exited { code, stderr },
            (None, Some(signal)) => ScriptOutcome::Signaled { signal, stderr },
            (None, None) => ScriptOutcome::SpawnFailed {
                error: format!("unknown wait status {st:?}"),
            },
        },
        Err(e) => ScriptOutcome::SpawnFailed {
            error: format!("waiting for {}: {e}", script.line),
        },
    }
}

/// Name and home directory of a uid, looked up once per uid: a lookup may
/// go to NSS (LDAP...), which must not happen on every run of a script.
fn identity(uid: u32) -> (String, String) {
    static CACHE: Mutex<Option<HashMap<u32, (String, String)>>> = Mutex::new(None);
    if let Ok(c) = CACHE.lock()
        && let Some(found) = c.as_ref().and_then(|m| m.get(&uid))
    {
        return found.clone();
    }
    let found = match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => (u.name, u.dir.to_string_lossy().into_owned()),
        _ => (uid.to_string(), "/".to_string()),
    };
    if let Ok(mut c) = CACHE.lock() {
        c.get_or_insert_with(HashMap::new)
            .insert(uid, found.clone());
    }
    found
}

/// The environment a script runs with: `PATH`, `HOME`, `USER`, `LOGNAME`,
/// `SHELL` of the user it runs as, and the locale/time zone variables.
pub fn script_env(credentials: Option<Credentials>) -> Vec<(String, String)> {
    let uid = credentials.map_or_else(|| Uid::effective().as_raw(), |c| c.uid);
    let (name, home) = identity(uid);
    let mut env = vec![
        ("PATH".to_string(), SCRIPT_PATH.to_string()),
        ("HOME".to_string(), home),
        ("USER".to_string(), name.clone()),
        ("LOGNAME".to_string(), name),
        ("SHELL".to_string(), "/bin/sh".to_string()),
    ];
    for k in PASSED_ENV {
        if let Ok(v) = std::env::var(k) {
            env.push((k.to_string(), v));
        }
    }
    env
}

fn spawn_error_text(script: &Script, e: &io::Error) -> String {
    let what = match &script.kind {
        ScriptKind::Exec { argv } => argv.first().cloned().unwrap_or_default(),
        ScriptKind::Shell { .. } => script.line.clone(),
    };
    format!("{what}: {e}")
}

fn first_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_detection() {
        assert!(needs_shell(
            "[[ -f /etc/keepalived/down ]] && exit 1 || exit 0"
        ));
        assert!(needs_shell("pidof nginx > /dev/null"));
        assert!(needs_shell("echo $HOME"));
        assert!(needs_shell("ls /tmp/*.conf"));
        assert!(needs_shell("a; b"));
        assert!(needs_shell("test -f /x"));
        assert!(needs_shell("FOO=1 cmd"));
        assert!(needs_shell("echo \"$HOME\""));
        assert!(!needs_shell("killall -0 nginx"));
        assert!(!needs_shell("/etc/keepalived/notify.sh master"));
        assert!(!needs_shell("grep 'a|b' /etc/hosts"));
        assert!(!needs_shell("/usr/bin/curl -s http://192.0.2.1/health"));
    }

    #[test]
    fn parse_strips_outer_quotes() {
        let s = Script::parse("\"killall -0 nginx\"").unwrap();
        assert_eq!(
            s.kind(),
            &ScriptKind::Exec {
                argv: vec!["killall".into(), "-0".into(), "nginx".into()]
            }
        );
        assert_eq!(s.line(), "killall -0 nginx");
        let s = Script::parse("\"[[ -f /x ]] && exit 1 || exit 0\"").unwrap();
        assert_eq!(
            s.kind(),
            &ScriptKind::Shell {
                command: "[[ -f /x ]] && exit 1 || exit 0".into()
            }
        );
        assert_eq!(Script::parse("  "), Err(ScriptError::Empty));
        assert_eq!(Script::parse("\"\""), Err(ScriptError::Empty));
    }

    #[test]
    fn split_honours_quotes_and_escapes() {
        assert_eq!(
            split_words(r#"/x/notify.sh "two words" 'single "q"' a\ b \x41\101\t"#).unwrap(),
            vec!["/x/notify.sh", "two words", "single \"q\"", "a b", "AA\t"]
        );
        assert_eq!(split_words("  a   b  ").unwrap(), vec!["a", "b"]);
        assert_eq!(split_words("a \"\" b").unwrap(), vec!["a", "", "b"]);
        assert!(matches!(
            split_words("a \"b"),
            Err(ScriptError::UnmatchedQuote { quote: '"', .. })
        ));
        assert!(matches!(
            split_words("a\\"),
            Err(ScriptError::TrailingBackslash { .. })
        ));
    }

    #[test]
    fn quoting_round_trips_through_a_shell() {
        let tricky = "it's \"x\" $HOME `id` ;";
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote(tricky)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), tricky);
    }

    #[test]
    fn outcome_success_only_on_exit_zero() {
        assert!(
            ScriptOutcome::Exited {
                code: 0,
                stderr: None
            }
            .success()
        );
        assert!(
            !ScriptOutcome::Exited {
                code: 1,
                stderr: None
            }
            .success()
        );
        assert!(!ScriptOutcome::SpawnFailed { error: "x".into() }.success());
        assert!(
            !ScriptOutcome::TimedOut {
                after: Duration::from_secs(1)
            }
            .success()
        );
    }

    #[test]
    fn root_user_lookup() {
        assert_eq!(
            Credentials::lookup("root", None).unwrap(),
            Credentials { uid: 0, gid: 0 }
        );
        assert_eq!(
            Credentials::lookup("0", Some("0")).unwrap(),
            Credentials { uid: 0, gid: 0 }
        );
        assert!(matches!(
            Credentials::lookup("no-such-user-keel", None),
            Err(ScriptError::UnknownUser(_))
        ));
        assert!(matches!(
            Credentials::lookup("root", Some("no-such-group-keel")),
            Err(ScriptError::UnknownGroup(_))
        ));
    }
}
