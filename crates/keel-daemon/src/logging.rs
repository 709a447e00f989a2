//! Log output for keepalived's flags: `-l` console, `-D` detail, `-G` no
//! syslog, `-g FILE` log file, `-S facility`.
//!
//! A line is the message in keepalived's wording (users grep for
//! `(VI_1) Entering MASTER STATE`), followed by the event's structured fields
//! as `key=value`. Syslog lines go to `/dev/log` as RFC 3164 datagrams,
//! `<PRI>ident[pid]: message`; the timestamp is left out so that the local
//! syslog daemon stamps the line with its own clock and time zone
//! (RFC 3164 §4.3.2), which journald and rsyslog do anyway for local sockets.

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The syslog socket.
pub const DEV_LOG: &str = "/dev/log";
/// Syslog ident of the VRRP side, as keepalived's child process names itself.
pub const IDENT_VRRP: &str = "Keepalived_vrrp";
/// Syslog ident of the checker side.
pub const IDENT_CHECKERS: &str = "Keepalived_healthcheckers";
/// Syslog ident of the parent process.
pub const IDENT_MAIN: &str = "Keepalived";

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid log facility {0:?} (expected 0-7, local0-7, user or daemon)")]
    BadFacility(String),
    #[error("cannot open log file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Syslog facility (RFC 3164 §4.1.1 codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Facility {
    User,
    #[default]
    Daemon,
    Local(u8),
}

impl Facility {
    pub fn code(self) -> u8 {
        match self {
            Facility::User => 1,
            Facility::Daemon => 3,
            Facility::Local(n) => 16 + n.min(7),
        }
    }
}

impl FromStr for Facility {
    type Err = LoggingError;
    /// keepalived's `-S` values: `0`-`7` (LOG_LOCAL0-7), `local0`-`local7`,
    /// `user`, `daemon`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LoggingError::BadFacility(s.to_string());
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "user" => Ok(Facility::User),
            "daemon" => Ok(Facility::Daemon),
            _ => {
                let n = t.strip_prefix("local").unwrap_or(&t);
                match n.parse::<u8>() {
                    Ok(n @ 0..=7) => Ok(Facility::Local(n)),
                    _ => Err(bad()),
                }
            }
        }
    }
}

/// Syslog severity for a tracing level (RFC 3164 §4.1.1).
pub fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Where logs go and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// `-l`: also print to stderr.
    pub console: bool,
    /// `-D`: detailed (debug) messages too.
    pub detail: bool,
    /// Log to syslog (off with `-G`).
    pub syslog: bool,
    /// `-g FILE`: also append to this file.
    pub file: Option<PathBuf>,
    /// `-S`: syslog facility.
    pub facility: Facility,
    /// Syslog ident (`Keepalived_vrrp`, `keel`, ...).
    pub ident: String,
    /// Syslog socket, normally [`DEV_LOG`].
    pub syslog_socket: PathBuf,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            console: false,
            detail: false,
            syslog: true,
            file: None,
            facility: Facility::Daemon,
            ident: IDENT_VRRP.to_string(),
            syslog_socket: PathBuf::from(DEV_LOG),
        }
    }
}

impl LogOptions {
    /// From keepalived's flags as the command line gives them.
    pub fn from_flags(
        log_console: bool,
        log_detail: bool,
        no_syslog: bool,
        log_file: Option<&Path>,
        facility: Option<&str>,
        ident: &str,
    ) -> Result<LogOptions, LoggingError> {
        Ok(LogOptions {
            console: log_console,
            detail: log_detail,
            syslog: !no_syslog,
            file: log_file.map(Path::to_path_buf),
            facility: facility
                .map(Facility::from_str)
                .transpose()?
                .unwrap_or_default(),
            ident: ident.to_string(),
            syslog_socket: PathBuf::from(DEV_LOG),
        })
    }

    /// The most verbose level written.
    pub fn max_level(&self) -> Level {
        if self.detail {
            Level::DEBUG
        } else {
            Level::INFO
        }
    }
}

/// The tracing layer writing keel's log lines.
#[derive(Debug)]
pub struct KeelLayer {
    max_level: Level,
    console: bool,
    file: Option<Mutex<File>>,
    syslog: Option<SyslogSink>,
}

#[derive(Debug)]
struct SyslogSink {
    sock: UnixDatagram,
    path: PathBuf,
    facility: Facility,
    ident: String,
    pid: u32,
}

impl KeelLayer {
    /// Builds the layer; opens the log file (append) now so a bad path is
    /// reported at startup.
    pub fn new(opts: &LogOptions) -> Result<KeelLayer, LoggingError> {
        let file = match &opts.file {
            // The default -g path is in /tmp: a symlink or FIFO planted
            // there is refused instead of followed or blocked on.
            Some(p) => Some(Mutex::new(
                crate::fsutil::open_append(p, crate::fsutil::LOG_MODE).map_err(|e| {
                    LoggingError::File {
                        path: p.clone(),
                        source: e,
                    }
                })?,
            )),
            None => None,
        };
        // No syslog daemon is not fatal (containers often lack one): lines
        // are dropped until /dev/log appears.
        let syslog = if opts.syslog {
            UnixDatagram::unbound().ok().map(|sock| SyslogSink {
                sock,
                path: opts.syslog_socket.clone(),
                facility: opts.facility,
                ident: opts.ident.clone(),
                pid: std::process::id(),
            })
        } else {
            None
        };
        Ok(KeelLayer {
            max_level: opts.max_level(),
            console: opts.console,
            file,
            syslog,
        })
    }
}

/// Collects `message` and the other fields of an event.
#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl LineVisitor {
    fn push_field(&mut self, name: &str, value: &str) {
        let needs_quotes = value.is_empty() || value.contains([' ', '"', '=']);
        if needs_quotes {
            let _ = write!(self.fields, " {name}={value:?}");
        } else {
            let _ = write!(self.fields, " {name}={value}");
        }
    }
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.push_field(field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.push_field(field.name(), &format!("{value:?}"));
        }
    }
}

/// One log line without prefix: message then ` key=value` fields.
fn render(event: &Event<'_>) -> String {
    let mut v = LineVisitor::default();
    event.record(&mut v);
    v.message.push_str(&v.fields);
    v.message.replace('\n', " ")
}

/// `2026-08-13T12:00:00.123Z`.
pub fn utc_timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = crate::mail::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

impl<S: Subscriber> Layer<S> for KeelLayer {
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        *metadata.level() <= self.max_level
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = event.metadata().level();
        if *level > self.max_level {
            return;
        }
        let line = render(event);
        if self.console || self.file.is_some() {
            let stamped = format!("{} {:<5} {line}\n", utc_timestamp(SystemTime::now()), level);
            if self.console {
                let _ = std::io::stderr().write_all(stamped.as_bytes());
            }
            if let Some(f) = &self.file
                && let Ok(mut f) = f.lock()
            {
                // One write per line: nothing sits in a buffer if we die.
                let _ = f.write_all(stamped.as_bytes());
            }
        }
        if let Some(s) = &self.syslog {
            let pri = u16::from(s.facility.code()) * 8 + u16::from(severity(level));
            let msg = format!("<{pri}>{}[{}]: {line}", s.ident, s.pid);
            let _ = s.sock.send_to(msg.as_bytes(), &s.path);
        }
    }
}

/// Installs keel's logging as the global subscriber.
pub fn init(opts: &LogOptions) -> Result<(), LoggingError> {
    let layer = KeelLayer::new(opts)?;
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::set_global_default(subscriber).map_err(|_| LoggingError::AlreadyInstalled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities() {
        assert_eq!("0".parse::<Facility>().unwrap(), Facility::Local(0));
        assert_eq!("local7".parse::<Facility>().unwrap().code(), 23);
        assert_eq!("daemon".parse::<Facility>().unwrap().code(), 3);
        assert_eq!("user".parse::<Facility>().unwrap().code(), 1);
        assert!("8".parse::<Facility>().is_err());
        assert!("kern".parse::<Facility>().is_err());
        assert_eq!(Facility::default(), Facility::Daemon);
    }

    #[test]
    fn timestamps() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_614_591_848_250);
        assert_eq!(utc_timestamp(t), "2021-03-01T09:44:08.250Z");
    }
}
