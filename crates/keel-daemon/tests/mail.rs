//! SMTP alerts delivered to a real SMTP server (Python's aiosmtpd, Debian
//! package python3-aiosmtpd) on a loopback port.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_daemon::mail::{Alert, MailError, Mailer, SmtpConfig, send_alert};
use keel_daemon::notify::NotifyState;

/// An aiosmtpd server writing what it receives to a maildir; killed (by its
/// pid) when dropped.
struct SmtpSink {
    child: Child,
    maildir: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// The tests start Debian's interpreter by path: `python3` on PATH may be
/// another one (pyenv) without the module. scripts/install-deps.sh installs
/// python3-aiosmtpd for it.
fn python_with_aiosmtpd() -> &'static str {
    const PY: &str = "/usr/bin/python3";
    let ok = Command::new(PY)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "these tests need aiosmtpd for {PY}: apt-get install python3-aiosmtpd (scripts/install-deps.sh)"
    );
    PY
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python_with_aiosmtpd())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let sink = SmtpSink {
            child,
            maildir,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    fn config(&self, to: &[&str]) -> SmtpConfig {
        let mut c = SmtpConfig::new(
            "127.0.0.1",
            "lb1.example.org",
            "keel@lb1.example.org",
            to.iter().map(|s| s.to_string()).collect(),
        );
        c.port = self.port;
        c.connect_timeout = Duration::from_secs(5);
        c
    }

    /// Waits for `n` delivered messages and returns them, oldest first.
    async fn messages(&self, n: usize) -> Vec<String> {
        let new = self.maildir.join("new");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&new)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
                        .collect()
                })
                .unwrap_or_default();
            if files.len() >= n {
                files.sort();
                return files
                    .iter()
                    .map(|(_, p)| std::fs::read_to_string(p).unwrap())
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} messages arrived",
                files.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    let head = msg.split("\n\n").next()?;
    head.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(": "))
            .map(str::trim_end)
    })
}

fn body(msg: &str) -> &str {
    msg.split_once("\n\n").map(|(_, b)| b).unwrap_or("")
}

#[tokio::test]
async fn vrrp_alert_arrives_with_keepalived_subject_body_and_headers() {
    let sink = SmtpSink::start();
    let cfg = sink.config(&["ops@example.org", "Oncall <oncall@example.org>"]);
    let alert = Alert::vrrp_instance("lb1", "VI_1", NotifyState::Master);
    send_alert(&cfg, &alert).await.unwrap();

    let msgs = sink.messages(1).await;
    let m = &msgs[0];
    assert_eq!(
        header(m, "Subject"),
        Some("[lb1] VRRP Instance VI_1 - Entering MASTER state")
    );
    assert_eq!(header(m, "From"), Some("keel@lb1.example.org"));
    assert_eq!(
        header(m, "To"),
        Some("ops@example.org, Oncall <oncall@example.org>")
    );
    let date = header(m, "Date").unwrap();
    assert!(date.ends_with("+0000"), "{date}");
    let mid = header(m, "Message-ID").unwrap();
    assert!(
        mid.starts_with('<') && mid.ends_with("@lb1.example.org>"),
        "{mid}"
    );
    // Envelope as the server saw it (aiosmtpd's Message handler adds these).
    assert_eq!(header(m, "X-MailFrom"), Some("keel@lb1.example.org"));
    let rcpt = header(m, "X-RcptTo").unwrap();
    assert!(rcpt.contains("ops@example.org") && rcpt.contains("oncall@example.org"));
    assert_eq!(
        body(m).trim_end(),
        "=> VRRP Instance is now owning VRRP VIPs <="
    );
}

#[tokio::test]
async fn mailer_sends_in_the_background_in_order() {
    let sink = SmtpSink::start();
    let (mailer, task) = Mailer::spawn(sink.config(&["ops@example.org"]));
    assert!(mailer.send(Alert::vrrp_instance("lb1", "VI_1", NotifyState::Backup)));
    assert!(mailer.send(Alert::real_server(
        "lb1",
        "[192.0.2.11]:tcp:80",
        "[192.0.2.111]:tcp:80",
        false,
        &keel_daemon::mail::checker_body("TCP", false),
    )));
    assert!(mailer.send(Alert::virtual_server_quorum(
        "lb1",
        "[192.0.2.111]:tcp:80",
        false,
        false,
        2,
        0,
        2,
        1
    )));
    let msgs = sink.messages(3).await;
    let subjects: Vec<_> = msgs.iter().map(|m| header(m, "Subject").unwrap()).collect();
    assert_eq!(
        subjects,
        vec![
            "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
            "[lb1] Realserver [192.0.2.11]:tcp:80 of virtual server [192.0.2.111]:tcp:80 - DOWN",
            "[lb1] Virtualserver [192.0.2.111]:tcp:80 - DOWN",
        ]
    );
    assert_eq!(
        body(&msgs[1]).trim_end(),
        "=> TCP CHECK failed on service <="
    );
    assert_eq!(body(&msgs[2]).trim_end(), "=> Lost quorum 2+0=2 <= 1 <=");
    drop(mailer);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn dot_lines_in_the_body_survive() {
    let sink = SmtpSink::start();
    let alert = Alert {
        subject: "[lb1] test".into(),
        body: "first\n.\n..two dots".into(),
    };
    send_alert(&sink.config(&["ops@example.org"]), &alert)
        .await
        .unwrap();
    let msgs = sink.messages(1).await;
    assert_eq!(body(&msgs[0]).trim_end(), "first\n.\n..two dots");
}

#[tokio::test]
async fn refused_connection_is_an_error_not_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = SmtpConfig::new("127.0.0.1", "lb1", "keel@lb1", vec!["a@b".into()]);
    cfg.port = port;
    let e = send_alert(&cfg, &Alert::other("lb1", "x", "y"))
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Connect { .. }), "{e}");
}

#[tokio::test]
async fn silent_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(s);
    });
    let mut cfg = SmtpConfig::new("127.0.0.1", "lb1", "keel@lb1", vec!["a@b".into()]);
    cfg.port = port;
    cfg.connect_timeout = Duration::from_millis(300);
    let start = Instant::now();
    let e = send_alert(&cfg, &Alert::other("lb1", "x", "y"))
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::ReadTimeout(_)), "{e}");
    assert!(start.elapsed() < Duration::from_secs(3));
    hold.abort();
}

#[tokio::test]
async fn mailer_never_blocks_the_caller_on_a_dead_server() {
    // A server that accepts and then says nothing: each alert would hang for
    // the whole connect timeout if sent on the caller's path.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut cfg = SmtpConfig::new("127.0.0.1", "lb1", "keel@lb1", vec!["a@b".into()]);
    cfg.port = port;
    cfg.connect_timeout = Duration::from_secs(30);
    let (mailer, task) = Mailer::spawn(cfg);
    let start = Instant::now();
    let mut accepted = 0;
    for i in 0..(keel_daemon::mail::QUEUE_DEPTH + 50) {
        if mailer.send(Alert::other("lb1", &format!("alert {i}"), "body")) {
            accepted += 1;
        }
    }
    assert!(start.elapsed() < Duration::from_secs(2));
    // The queue is bounded: the overflow is dropped, not buffered forever.
    assert!(accepted >= keel_daemon::mail::QUEUE_DEPTH);
    assert!(accepted < keel_daemon::mail::QUEUE_DEPTH + 50);
    task.abort();
    hold.abort();
}

/// A server whose greeting never ends: `220-` continuation lines, one
/// every `every`, forever.
async fn endless_greeting(every: Duration) -> u16 {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let line = format!("220-{}\r\n", "x".repeat(400));
        loop {
            if s.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    port
}

// A reply that never ends is cut at 64 lines (RFC 5321 §4.5.3.1.5 caps a
// line, EHLO needs a dozen): the alert fails instead of reading forever.
#[tokio::test]
async fn endless_reply_is_cut_off() {
    let port = endless_greeting(Duration::ZERO).await;
    let mut cfg = SmtpConfig::new("127.0.0.1", "lb1", "keel@lb1", vec!["a@b".into()]);
    cfg.port = port;
    cfg.connect_timeout = Duration::from_secs(5);
    let start = Instant::now();
    let e = send_alert(&cfg, &Alert::other("lb1", "x", "y"))
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Rejected { .. }), "{e}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

// Lines that each arrive within the timeout do not stretch the reply past
// it: the whole reply has one deadline.
#[tokio::test]
async fn trickled_reply_fails_by_the_timeout() {
    let port = endless_greeting(Duration::from_millis(50)).await;
    let mut cfg = SmtpConfig::new("127.0.0.1", "lb1", "keel@lb1", vec!["a@b".into()]);
    cfg.port = port;
    cfg.connect_timeout = Duration::from_millis(400);
    let start = Instant::now();
    let e = send_alert(&cfg, &Alert::other("lb1", "x", "y"))
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::ReadTimeout(_)), "{e}");
    assert!(start.elapsed() < Duration::from_secs(2));
}
