//! systemd service notifications (`Type=notify`): `READY=1`, `STOPPING=1`,
//! `RELOADING=1`, `STATUS=...`, `WATCHDOG=1`, sent as datagrams to
//! `$NOTIFY_SOCKET` (a path, or an abstract name written `@name`). Without
//! `$NOTIFY_SOCKET` every call is a no-op, so the daemon calls these
//! unconditionally.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SdNotifyError {
    #[error("invalid NOTIFY_SOCKET {0:?}")]
    BadAddress(String),
    #[error("sending to NOTIFY_SOCKET {addr}: {source}")]
    Send { addr: String, source: io::Error },
    #[error("notification contains a newline in a field value: {0:?}")]
    BadMessage(String),
}

/// Connection to the service manager, or nothing.
#[derive(Debug)]
pub struct SdNotify {
    target: Option<(UnixDatagram, SocketAddr, String)>,
}

impl SdNotify {
    /// Uses `$NOTIFY_SOCKET`; disabled if unset or empty. An unusable value
    /// is logged and disables notifications: the daemon still runs.
    pub fn from_env() -> SdNotify {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(v) if !v.is_empty() => match SdNotify::with_socket(&v) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("systemd notify disabled: {e}");
                    SdNotify::disabled()
                }
            },
            _ => SdNotify::disabled(),
        }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> SdNotify {
        SdNotify { target: None }
    }

    /// Notifies the socket `addr` (`/path` or `@abstract`).
    pub fn with_socket(addr: &str) -> Result<SdNotify, SdNotifyError> {
        let sa = if let Some(name) = addr.strip_prefix('@') {
            SocketAddr::from_abstract_name(name.as_bytes())
        } else if addr.starts_with('/') {
            SocketAddr::from_pathname(addr)
        } else {
            return Err(SdNotifyError::BadAddress(addr.to_string()));
        }
        .map_err(|_| SdNotifyError::BadAddress(addr.to_string()))?;
        let sock = UnixDatagram::unbound().map_err(|e| SdNotifyError::Send {
            addr: addr.to_string(),
            source: e,
        })?;
        Ok(SdNotify {
            target: Some((sock, sa, addr.to_string())),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends raw `KEY=VALUE` lines (newline separated).
    pub fn notify(&self, message: &str) -> Result<(), SdNotifyError> {
        let Some((sock, sa, label)) = &self.target else {
            return Ok(());
        };
        sock.send_to_addr(message.as_bytes(), sa)
            .map(|_| ())
            .map_err(|e| SdNotifyError::Send {
                addr: label.clone(),
                source: e,
            })
    }

    /// `READY=1`: startup finished (config loaded, sockets open).
    pub fn ready(&self) -> Result<(), SdNotifyError> {
        self.notify("READY=1")
    }

    /// `READY=1` with a status line.
    pub fn ready_with_status(&self, status: &str) -> Result<(), SdNotifyError> {
        check_value(status)?;
        self.notify(&format!("READY=1\nSTATUS={status}"))
    }

    /// `STOPPING=1`: shutdown started.
    pub fn stopping(&self) -> Result<(), SdNotifyError> {
        self.notify("STOPPING=1")
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` systemd needs for
    /// `Type=notify-reload`; send [`SdNotify::ready`] when the reload is done.
    pub fn reloading(&self) -> Result<(), SdNotifyError> {
        let usec = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| {
                (t.tv_sec() as u64)
                    .saturating_mul(1_000_000)
                    .saturating_add(t.tv_nsec() as u64 / 1000)
            })
            .unwrap_or(0);
        self.notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"))
    }

    /// `STATUS=...`: one line shown by `systemctl status`.
    pub fn status(&self, status: &str) -> Result<(), SdNotifyError> {
        check_value(status)?;
        self.notify(&format!("STATUS={status}"))
    }

    /// `WATCHDOG=1`: keep-alive for `WatchdogSec=`.
    pub fn watchdog(&self) -> Result<(), SdNotifyError> {
        self.notify("WATCHDOG=1")
    }

    /// `MAINPID=pid`, when the main process is not the one notifying.
    pub fn main_pid(&self, pid: u32) -> Result<(), SdNotifyError> {
        self.notify(&format!("MAINPID={pid}"))
    }
}

fn check_value(v: &str) -> Result<(), SdNotifyError> {
    if v.contains('\n') {
        Err(SdNotifyError::BadMessage(v.to_string()))
    } else {
        Ok(())
    }
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC` (systemd's
/// advice), if set and meant for this process (`$WATCHDOG_PID`).
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// [`watchdog_interval`] from explicit values.
pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    own_pid: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(p) = pid
        && p.trim().parse::<u32>().ok()? != own_pid
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_interval_parsing() {
        assert_eq!(
            watchdog_interval_from(Some("10000000"), None, 1),
            Some(Duration::from_secs(5))
        );
        assert_eq!(watchdog_interval_from(Some("10000000"), Some("2"), 1), None);
        assert_eq!(
            watchdog_interval_from(Some("2000000"), Some("7"), 7),
            Some(Duration::from_secs(1))
        );
        assert_eq!(watchdog_interval_from(Some("0"), None, 1), None);
        assert_eq!(watchdog_interval_from(None, None, 1), None);
    }

    #[test]
    fn addresses() {
        assert!(SdNotify::with_socket("relative/path").is_err());
        assert!(SdNotify::with_socket("@abstract-name").is_ok());
        assert!(!SdNotify::disabled().is_enabled());
        assert!(SdNotify::disabled().ready().is_ok());
    }
}
