//! SMTP alerts (`smtp_alert`, `notification_email`, `smtp_server`, ...).
//!
//! Subjects and bodies keep keepalived's wording, since people filter mail on
//! them (`[router_id] VRRP Instance VI_1 - Entering MASTER state`). Sending is
//! plain SMTP (HELO, MAIL, RCPT per recipient, DATA, QUIT) like keepalived's,
//! done by a background task fed through a bounded queue so that a slow or dead
//! mail server never holds up the caller; failures are logged.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::notify::NotifyState;

/// keepalived's default `smtp_connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default SMTP port when `smtp_server` gives none.
pub const DEFAULT_SMTP_PORT: u16 = 25;
/// Alerts waiting beyond this many are dropped (and logged).
pub const QUEUE_DEPTH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("no recipients (notification_email is empty)")]
    NoRecipients,
    #[error("cannot resolve SMTP server {0}")]
    Resolve(String),
    #[error("timeout connecting SMTP server {0}")]
    ConnectTimeout(String),
    #[error("SMTP connection ERROR to {server}: {source}")]
    Connect {
        server: String,
        source: std::io::Error,
    },
    #[error("SMTP I/O error with {server}: {source}")]
    Io {
        server: String,
        source: std::io::Error,
    },
    #[error("timeout reading from SMTP server {0}")]
    ReadTimeout(String),
    #[error("remote SMTP server {0} has closed the connection")]
    Closed(String),
    #[error("error processing {stage} cmd on SMTP server {server}: {reply}")]
    Rejected {
        server: String,
        stage: &'static str,
        reply: String,
    },
    #[error("bad address {0:?} (contains a line break or angle bracket)")]
    BadAddress(String),
}

/// Mail settings from global_defs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// `smtp_server` host (IP address or name).
    pub server: String,
    /// `smtp_server`'s optional port.
    pub port: u16,
    /// `smtp_helo_name` (keepalived defaults it to the local host name).
    pub helo_name: String,
    /// `smtp_connect_timeout`; also bounds each reply.
    pub connect_timeout: Duration,
    /// `notification_email_from` (keepalived's default: `user@hostname`).
    pub from: String,
    /// `notification_email` entries.
    pub to: Vec<String>,
}

impl SmtpConfig {
    /// A config with keepalived's defaults for port and timeout.
    pub fn new(
        server: impl Into<String>,
        helo_name: impl Into<String>,
        from: impl Into<String>,
        to: Vec<String>,
    ) -> SmtpConfig {
        SmtpConfig {
            server: server.into(),
            port: DEFAULT_SMTP_PORT,
            helo_name: helo_name.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            from: from.into(),
            to,
        }
    }

    fn server_label(&self) -> String {
        if self.server.contains(':') {
            format!("[{}]:{}", self.server, self.port)
        } else {
            format!("{}:{}", self.server, self.port)
        }
    }
}

/// One alert: subject and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub subject: String,
    pub body: String,
}

impl Alert {
    /// A VRRP instance state change.
    pub fn vrrp_instance(router_id: &str, name: &str, state: NotifyState) -> Alert {
        let (what, body) = match state {
            NotifyState::Master => (
                "Entering MASTER state",
                "=> VRRP Instance is now owning VRRP VIPs <=",
            ),
            NotifyState::Backup => (
                "Entering BACKUP state",
                "=> VRRP Instance is no longer owning VRRP VIPs <=",
            ),
            NotifyState::Fault => (
                "Entering FAULT state",
                "=> VRRP Instance is no longer owning VRRP VIPs <=",
            ),
            NotifyState::Stop => ("Stopping", "=> VRRP Instance stopping <="),
            NotifyState::Deleted => ("Deleted", "=> VRRP Deleted at reload <="),
        };
        Alert {
            subject: format!("[{router_id}] VRRP Instance {name} - {what}"),
            body: body.to_string(),
        }
    }

    /// A sync group state change (keepalived sends none for DELETED).
    pub fn vrrp_group(router_id: &str, name: &str, state: NotifyState) -> Option<Alert> {
        let (what, body) = match state {
            NotifyState::Master => (
                "Entering MASTER state",
                "=> All VRRP group instances are now in MASTER state <=",
            ),
            NotifyState::Backup => (
                "Entering BACKUP state",
                "=> All VRRP group instances are now in BACKUP state <=",
            ),
            NotifyState::Fault => (
                "Entering FAULT state",
                "=> All VRRP group instances are now in FAULT state <=",
            ),
            NotifyState::Stop => (
                "Stopping",
                "=> All VRRP group instances are now stopping <=",
            ),
            NotifyState::Deleted => return None,
        };
        Some(Alert {
            subject: format!("[{router_id}] VRRP Group {name} - {what}"),
            body: body.to_string(),
        })
    }

    /// A real server's checker changed state. `rs`/`vs` are formatted with
    /// [`crate::fifo::format_service`]; `body` is the checker's own text, e.g.
    /// [`checker_body`].
    pub fn real_server(router_id: &str, rs: &str, vs: &str, up: bool, body: &str) -> Alert {
        let st = if up { "UP" } else { "DOWN" };
        Alert {
            subject: format!("[{router_id}] Realserver {rs} of virtual server {vs} - {st}"),
            body: body.to_string(),
        }
    }

    /// A real server taken out because of shutdown or reload.
    pub fn real_server_removed(router_id: &str, rs: &str, vs: &str, shutting_down: bool) -> Alert {
        let body = if shutting_down {
            "=> Shutting down <="
        } else {
            "=> Removing <="
        };
        Alert::real_server(router_id, rs, vs, false, body)
    }

    /// A virtual server gained or lost quorum. `threshold` is quorum minus
    /// hysteresis (or plus, when gaining); `weight_sum` the live weight.
    #[allow(clippy::too_many_arguments)]
    pub fn virtual_server_quorum(
        router_id: &str,
        vs: &str,
        up: bool,
        at_startup: bool,
        quorum: u32,
        hysteresis: u32,
        threshold: i64,
        weight_sum: i64,
    ) -> Alert {
        let what = match (up, at_startup) {
            (true, true) => "Starting with quorum up",
            (true, false) => "Gained quorum",
            (false, true) => "Starting with quorum down",
            (false, false) => "Lost quorum",
        };
        Alert {
            subject: format!(
                "[{router_id}] Virtualserver {vs} - {}",
                if up { "UP" } else { "DOWN" }
            ),
            body: format!("=> {what} {quorum}+{hysteresis}={threshold} <= {weight_sum} <="),
        }
    }

    /// A virtual server removed at shutdown.
    pub fn virtual_server_shutdown(router_id: &str, vs: &str) -> Alert {
        Alert {
            subject: format!("[{router_id}] Virtualserver {vs} - DOWN"),
            body: "=> Shutting down <=".to_string(),
        }
    }

    /// Any other alert: `[router_id] subject`.
    pub fn other(router_id: &str, subject: &str, body: &str) -> Alert {
        Alert {
            subject: format!("[{router_id}] {subject}"),
            body: body.to_string(),
        }
    }
}

/// keepalived's body for a checker transition: `=> TCP CHECK succeed on
/// service <=` / `=> HTTP_GET CHECK failed on service <=` style, given the
/// checker's name as keepalived spells it (`TCP`, `HTTP_GET`, `MISC`, ...).
pub fn checker_body(checker: &str, up: bool) -> String {
    if up {
        format!("=> {checker} CHECK succeed on service <=")
    } else {
        format!("=> {checker} CHECK failed on service <=")
    }
}

/// RFC 5322 §3.3 date in UTC (`Mon, 01 Mar 2021 09:44:08 +0000`).
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        WD[(days.rem_euclid(7)) as usize],
        d,
        MON[(m - 1) as usize],
        y,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic
/// Gregorian (Howard Hinnant's civil_from_days algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

static MESSAGE_SEQ: AtomicU64 = AtomicU64::new(0);

/// A unique Message-ID (RFC 5322 §3.6.4) under `domain`.
pub fn message_id(domain: &str, t: SystemTime) -> String {
    let nanos = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seq = MESSAGE_SEQ.fetch_add(1, Ordering::Relaxed);
    let domain = if domain.is_empty() || domain.contains(['<', '>', ' ']) {
        "localhost"
    } else {
        domain
    };
    format!("<{nanos}.{}.{seq}.keel@{domain}>", std::process::id())
}

/// The DATA part of the message: headers, blank line, body, with CRLF line
/// ends and dot-stuffing (RFC 5321 §4.5.2), without the final `.` line.
pub fn render_message(cfg: &SmtpConfig, alert: &Alert, now: SystemTime) -> String {
    let mut m = String::new();
    let one_line = |s: &str| s.replace(['\r', '\n'], " ");
    let _ = write!(m, "Date: {}\r\n", rfc5322_date(now));
    let _ = write!(m, "From: {}\r\n", one_line(&cfg.from));
    let _ = write!(m, "To: {}\r\n", one_line(&cfg.to.join(", ")));
    let _ = write!(m, "Subject: {}\r\n", one_line(&alert.subject));
    let _ = write!(m, "Message-ID: {}\r\n", message_id(&cfg.helo_name, now));
    m.push_str("X-Mailer: Keepalived (keel)\r\n");
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str("Content-Type: text/plain; charset=UTF-8\r\n");
    m.push_str("\r\n");
    for line in alert.body.lines() {
        if line.starts_with('.') {
            m.push('.');
        }
        m.push_str(line);
        m.push_str("\r\n");
    }
    m
}

/// `user@host` or `Name <user@host>` → `<user@host>` for MAIL/RCPT.
fn envelope(addr: &str) -> Result<String, MailError> {
    let a = addr.trim();
    if a.contains(['\r', '\n']) {
        return Err(MailError::BadAddress(addr.to_string()));
    }
    if let (Some(s), Some(e)) = (a.rfind('<'), a.rfind('>'))
        && s < e
    {
        return Ok(a[s..=e].to_string());
    }
    if a.contains(['<', '>']) {
        return Err(MailError::BadAddress(addr.to_string()));
    }
    Ok(format!("<{a}>"))
}

/// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with CRLF.
const MAX_REPLY_LINE: usize = 512;
/// Lines of one multi-line reply (EHLO lists a dozen or so extensions).
const MAX_REPLY_LINES: usize = 64;

async fn read_line_in<R: tokio::io::AsyncBufRead + Unpin>(
    mut r: R,
    line: &mut String,
) -> std::io::Result<usize> {
    r.read_line(line).await
}

struct Session {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    server: String,
    timeout: Duration,
}

impl Session {
    /// Reads one (possibly multi-line) reply; returns code and text.
    ///
    /// Bounded: a line longer than RFC 5321's 512 octets (§4.5.3.1.5) is
    /// cut there, a reply of more than [`MAX_REPLY_LINES`] lines fails, and
    /// the whole reply must arrive within the timeout, so a server that
    /// trickles bytes cannot hold the mailer or grow its memory.
    async fn reply(&mut self) -> Result<(u16, String), MailError> {
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + self.timeout;
        for _ in 0..MAX_REPLY_LINES {
            let mut line = String::new();
            let limited = (&mut self.reader).take(MAX_REPLY_LINE as u64);
            let n = tokio::time::timeout_at(deadline, read_line_in(limited, &mut line))
                .await
                .map_err(|_| MailError::ReadTimeout(self.server.clone()))?
                .map_err(|e| MailError::Io {
                    server: self.server.clone(),
                    source: e,
                })?;
            if n == 0 {
                return Err(MailError::Closed(self.server.clone()));
            }
            let l = line.trim_end();
            text.push_str(l);
            let code = l.get(..3).and_then(|c| c.parse::<u16>().ok());
            // "250-..." continues, "250 ..." or "250" ends (RFC 5321 §4.2.1).
            let last = l.as_bytes().get(3).is_none_or(|&b| b != b'-');
            if last {
                return match code {
                    Some(c) => Ok((c, text)),
                    None => Err(MailError::Rejected {
                        server: self.server.clone(),
                        stage: "reply",
                        reply: text,
                    }),
                };
            }
            text.push(' ');
        }
        Err(MailError::Rejected {
            server: self.server.clone(),
            stage: "reply",
            reply: format!("more than {MAX_REPLY_LINES} lines"),
        })
    }

    async fn send(&mut self, data: &str) -> Result<(), MailError> {
        tokio::time::timeout(self.timeout, self.writer.write_all(data.as_bytes()))
            .await
            .map_err(|_| MailError::ReadTimeout(self.server.clone()))?
            .map_err(|e| MailError::Io {
                server: self.server.clone(),
                source: e,
            })
    }

    async fn expect(&mut self, stage: &'static str, ok: u16) -> Result<(), MailError> {
        let (code, reply) = self.reply().await?;
        if code == ok {
            Ok(())
        } else {
            Err(MailError::Rejected {
                server: self.server.clone(),
                stage,
                reply,
            })
        }
    }

    async fn command(&mut self, cmd: &str, stage: &'static str, ok: u16) -> Result<(), MailError> {
        self.send(cmd).await?;
        self.expect(stage, ok).await
    }
}

/// Sends one alert now, to every recipient.
pub async fn send_alert(cfg: &SmtpConfig, alert: &Alert) -> Result<(), MailError> {
    if cfg.to.is_empty() {
        return Err(MailError::NoRecipients);
    }
    let label = cfg.server_label();
    let from = envelope(&cfg.from)?;
    let rcpts = cfg
        .to
        .iter()
        .map(|t| envelope(t))
        .collect::<Result<Vec<_>, _>>()?;

    let stream = tokio::time::timeout(cfg.connect_timeout, async {
        let addrs = tokio::net::lookup_host((cfg.server.as_str(), cfg.port))
            .await
            .map_err(|_| MailError::Resolve(label.clone()))?;
        let mut last = None;
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => MailError::Connect {
                server: label.clone(),
                source: e,
            },
            None => MailError::Resolve(label.clone()),
        })
    })
    .await
    .map_err(|_| MailError::ConnectTimeout(label.clone()))??;

    let (r, w) = stream.into_split();
    let mut s = Session {
        reader: BufReader::new(r),
        writer: w,
        server: label,
        timeout: cfg.connect_timeout,
    };
    s.expect("connect", 220).await?;
    let helo = cfg.helo_name.replace(['\r', '\n', ' '], "");
    let helo = if helo.is_empty() { "localhost" } else { &helo };
    s.command(&format!("HELO {helo}\r\n"), "HELO", 250).await?;
    s.command(&format!("MAIL FROM:{from}\r\n"), "MAIL", 250)
        .await?;
    let mut accepted = 0;
    for (rcpt, raw) in rcpts.iter().zip(&cfg.to) {
        s.send(&format!("RCPT TO:{rcpt}\r\n")).await?;
        let (code, reply) = s.reply().await?;
        // One bad recipient should not stop the alert reaching the others.
        if code == 250 || code == 251 {
            accepted += 1;
        } else {
            tracing::info!("SMTP server {} refused recipient {raw}: {reply}", s.server);
        }
    }
    if accepted == 0 {
        return Err(MailError::Rejected {
            server: s.server.clone(),
            stage: "RCPT",
            reply: "no recipient accepted".to_string(),
        });
    }
    s.command("DATA\r\n", "DATA", 354).await?;
    let mut data = render_message(cfg, alert, SystemTime::now());
    data.push_str(".\r\n");
    s.send(&data).await?;
    s.expect("BODY", 250).await?;
    // The message is accepted; a failing QUIT changes nothing.
    let _ = s.command("QUIT\r\n", "QUIT", 221).await;
    Ok(())
}

/// Handle to the background mail task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Mailer {
    tx: mpsc::Sender<Alert>,
}

impl Mailer {
    /// Starts the mail task (needs a tokio runtime). Alerts are sent one at a
    /// time in order; the task ends when every `Mailer` is dropped and the
    /// queue is empty.
    pub fn spawn(cfg: SmtpConfig) -> (Mailer, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Alert>(QUEUE_DEPTH);
        let task = tokio::spawn(async move {
            while let Some(alert) = rx.recv().await {
                match send_alert(&cfg, &alert).await {
                    Ok(()) => {
                        tracing::debug!(subject = %alert.subject, "SMTP alert successfully sent.")
                    }
                    Err(e) => tracing::info!(subject = %alert.subject, "SMTP alert failed: {e}"),
                }
            }
        });
        (Mailer { tx }, task)
    }

    /// Queues an alert; never waits. Returns false (and logs) if the queue is
    /// full or the task is gone.
    pub fn send(&self, alert: Alert) -> bool {
        match self.tx.try_send(alert) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(a)) => {
                tracing::info!(subject = %a.subject, "SMTP alert queue full, alert dropped");
                false
            }
            Err(mpsc::error::TrySendError::Closed(a)) => {
                tracing::info!(subject = %a.subject, "SMTP alert task gone, alert dropped");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrrp_subjects_and_bodies() {
        let a = Alert::vrrp_instance("lb1", "VI_1", NotifyState::Master);
        assert_eq!(
            a.subject,
            "[lb1] VRRP Instance VI_1 - Entering MASTER state"
        );
        assert_eq!(a.body, "=> VRRP Instance is now owning VRRP VIPs <=");
        let a = Alert::vrrp_instance("lb1", "VI_1", NotifyState::Backup);
        assert_eq!(
            a.subject,
            "[lb1] VRRP Instance VI_1 - Entering BACKUP state"
        );
        assert_eq!(a.body, "=> VRRP Instance is no longer owning VRRP VIPs <=");
        let a = Alert::vrrp_instance("lb1", "VI_1", NotifyState::Fault);
        assert_eq!(a.subject, "[lb1] VRRP Instance VI_1 - Entering FAULT state");
        let g = Alert::vrrp_group("lb1", "G1", NotifyState::Master).unwrap();
        assert_eq!(g.subject, "[lb1] VRRP Group G1 - Entering MASTER state");
        assert_eq!(
            g.body,
            "=> All VRRP group instances are now in MASTER state <="
        );
        assert!(Alert::vrrp_group("lb1", "G1", NotifyState::Deleted).is_none());
    }

    #[test]
    fn checker_subjects_and_bodies() {
        let a = Alert::real_server(
            "lb1",
            "[192.0.2.11]:tcp:80",
            "[192.0.2.111]:tcp:80",
            false,
            &checker_body("TCP", false),
        );
        assert_eq!(
            a.subject,
            "[lb1] Realserver [192.0.2.11]:tcp:80 of virtual server [192.0.2.111]:tcp:80 - DOWN"
        );
        assert_eq!(a.body, "=> TCP CHECK failed on service <=");
        assert_eq!(
            checker_body("HTTP_GET", true),
            "=> HTTP_GET CHECK succeed on service <="
        );
        let q =
            Alert::virtual_server_quorum("lb1", "[192.0.2.111]:tcp:80", false, false, 2, 1, 1, 0);
        assert_eq!(q.subject, "[lb1] Virtualserver [192.0.2.111]:tcp:80 - DOWN");
        assert_eq!(q.body, "=> Lost quorum 2+1=1 <= 0 <=");
        let r =
            Alert::real_server_removed("lb1", "[192.0.2.11]:tcp:80", "[192.0.2.111]:tcp:80", true);
        assert!(r.subject.ends_with("- DOWN"));
        assert_eq!(r.body, "=> Shutting down <=");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
        // 2021-03-01 09:44:08 UTC, a Monday.
        let t = UNIX_EPOCH + Duration::from_secs(1_614_591_848);
        assert_eq!(rfc5322_date(t), "Mon, 01 Mar 2021 09:44:08 +0000");
        // Leap day.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_164_800);
        assert_eq!(rfc5322_date(t), "Thu, 29 Feb 2024 00:00:00 +0000");
    }

    #[test]
    fn message_rendering() {
        let cfg = SmtpConfig::new(
            "127.0.0.1",
            "lb1.example",
            "keel@lb1.example",
            vec!["ops@example.org".into(), "b@example.org".into()],
        );
        let alert = Alert {
            subject: "S\r\nBcc: evil@example.org".into(),
            body: "line1\n.dot line\n".into(),
        };
        let m = render_message(&cfg, &alert, UNIX_EPOCH);
        assert!(m.contains("To: ops@example.org, b@example.org\r\n"));
        assert!(m.contains("Subject: S  Bcc: evil@example.org\r\n"));
        assert!(!m.contains("\r\nBcc:"));
        assert!(m.contains("\r\n\r\nline1\r\n..dot line\r\n"));
        assert!(m.contains("Message-ID: <"));
        assert!(m.contains("@lb1.example>\r\n"));
        assert_ne!(message_id("a", UNIX_EPOCH), message_id("a", UNIX_EPOCH));
    }

    #[test]
    fn envelopes() {
        assert_eq!(envelope("a@b").unwrap(), "<a@b>");
        assert_eq!(envelope("Ops <a@b>").unwrap(), "<a@b>");
        assert!(envelope("a@b\r\nRCPT TO:<x@y>").is_err());
    }
}
