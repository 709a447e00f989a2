//! Log lines worded as keepalived's checkers word them.

use super::CheckerState;
use crate::spec::ProbeSpec;

pub(super) fn success_line(ck: &CheckerState, rs: &str, vs: &str) -> String {
    match ck.kind {
        "HTTP_GET" | "SSL_GET" => format!("Remote Web server {rs} succeed on service."),
        "TCP_CHECK" => format!("TCP connection to {rs} success."),
        "SMTP_CHECK" => format!("Remote SMTP server {rs} succeed on service."),
        "DNS_CHECK" => format!("DNS_CHECK ({rs}) succeed on service."),
        "UDP_CHECK" => format!("UDP connection to {rs} success."),
        "PING_CHECK" => format!("ICMP connection to {rs} success."),
        "MISC_CHECK" => format!(
            "Misc check for [{rs} VS {vs}] by [{}] succeeded.",
            misc_program(&ck.spec)
        ),
        other => format!("{other} on service {rs} succeeded."),
    }
}

pub(super) fn failure_line(
    ck: &CheckerState,
    rs: &str,
    vs: &str,
    after_retries: bool,
    detail: &str,
) -> String {
    let n = ck.retry;
    let retries = if n == 1 { "retry" } else { "retries" };
    match ck.kind {
        "HTTP_GET" | "SSL_GET" | "TCP_CHECK" | "UDP_CHECK" | "SMTP_CHECK" => {
            let name = match ck.kind {
                "HTTP_GET" => "HTTP_CHECK",
                "SSL_GET" => "SSL_CHECK",
                k => k,
            };
            if after_retries {
                format!("{name} on service {rs} failed after {n} retries.")
            } else {
                format!("{name} on service {rs} failed.")
            }
        }
        "DNS_CHECK" => {
            if after_retries {
                format!("DNS_CHECK ({rs}) {detail} after {n} retries")
            } else {
                format!("DNS_CHECK ({rs}) {detail}")
            }
        }
        "PING_CHECK" => {
            if after_retries {
                format!("ICMP CHECK on service {rs} of {vs} failed after {n} retries.")
            } else {
                format!("ICMP CHECK on service {rs} failed.")
            }
        }
        "MISC_CHECK" => {
            let prog = misc_program(&ck.spec);
            let tail = if n == 0 {
                " with retry disabled".to_string()
            } else {
                format!(" after {n} {retries}")
            };
            if detail == "timed out" {
                format!("Misc check for [{rs} VS {vs}] by [{prog}] timed out{tail}.")
            } else if detail.is_empty() {
                format!("Misc check for [{rs} VS {vs}] by [{prog}] failed{tail}.")
            } else {
                format!("Misc check for [{rs} VS {vs}] by [{prog}] failed{tail} ({detail}).")
            }
        }
        other => format!("{other} on service {rs} failed."),
    }
}

fn misc_program(spec: &ProbeSpec) -> String {
    match spec {
        ProbeSpec::Misc { script, .. } => script
            .command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}
