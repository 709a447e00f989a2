//! keepalived's `genhash`: fetch a URL the way HTTP_GET/SSL_GET do and
//! print the MD5 of its body, to paste into a `digest` line.
//!
//! Output: the digest as 32 lowercase hex digits on one line (keepalived 2.x);
//! verbose mode adds the request, the response headers, `MD5SUM = ...` and
//! `Global response time for [PATH] = N usecs`.

use crate::probe::{hex, http_fetch, insecure_tls_config};
use crate::spec::{HttpSpec, Target, TlsSpec, UrlSpec, host_header};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum GenhashError {
    #[error("{0}")]
    Fetch(String),
    #[error("no data received from remote webserver")]
    NoData,
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// Everything genhash can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenhashOptions {
    pub url: String,
    pub server: IpAddr,
    pub port: u16,
    pub ssl: bool,
    /// `Host:` header value (and SNI name with `sni`).
    pub virtualhost: Option<String>,
    pub sni: bool,
    /// `1.0` (default), `1.0C` or `1.1`.
    pub http_protocol: String,
    pub timeout: Duration,
    pub bind: Option<IpAddr>,
    pub fwmark: Option<u32>,
    pub verbose: bool,
}

impl GenhashOptions {
    pub fn new(url: &str, server: IpAddr, port: u16) -> GenhashOptions {
        GenhashOptions {
            url: url.to_string(),
            server,
            port,
            ssl: false,
            virtualhost: None,
            sni: false,
            http_protocol: "1.0".to_string(),
            timeout: Duration::from_secs(5),
            bind: None,
            fwmark: None,
            verbose: false,
        }
    }
}

/// Fetches and prints to stdout; returns the digest in hex.
pub async fn run(
    url: &str,
    server: IpAddr,
    port: u16,
    ssl: bool,
    virtualhost: Option<&str>,
    verbose: bool,
) -> Result<String, GenhashError> {
    let mut opts = GenhashOptions::new(url, server, port);
    opts.ssl = ssl;
    opts.virtualhost = virtualhost.map(str::to_string);
    opts.verbose = verbose;
    let mut out = std::io::stdout().lock();
    run_with(&opts, &mut out).await
}

/// Fetches and prints to `out`; returns the digest in hex.
pub async fn run_with(opts: &GenhashOptions, out: &mut dyn Write) -> Result<String, GenhashError> {
    let addr = SocketAddr::new(opts.server, opts.port);
    let target = Target {
        addr,
        bind: opts.bind.map(|ip| SocketAddr::new(ip, 0)),
        bind_if: None,
        fwmark: opts.fwmark,
        connect_timeout: opts.timeout,
    };
    let proto = opts.http_protocol.as_str();
    let http = HttpSpec {
        minor_version: if proto == "1.1" { 1 } else { 0 },
        connection_close: proto == "1.1" || proto.eq_ignore_ascii_case("1.0C"),
        urls: Vec::new(),
        tls: opts.ssl.then(|| TlsSpec {
            sni: if opts.sni {
                opts.virtualhost.clone()
            } else {
                None
            },
        }),
    };
    let url = UrlSpec {
        path: opts.url.clone(),
        digest: None,
        status: Vec::new(),
        host: host_header(opts.virtualhost.as_deref(), addr),
    };
    let started = Instant::now();
    if opts.verbose {
        writeln!(
            out,
            "GET {} HTTP/1.{}\r\nUser-Agent: KeepAliveClient\r\n{}Host: {}\r\n",
            url.path,
            http.minor_version,
            if http.connection_close {
                "Connection: close\r\n"
            } else {
                ""
            },
            url.host
        )?;
    }
    let fetched = http_fetch(&target, &http, &url, &insecure_tls_config())
        .await
        .map_err(GenhashError::Fetch)?;
    if fetched.body_len == 0 {
        return Err(GenhashError::NoData);
    }
    let digest = hex(&fetched.digest);
    if opts.verbose {
        writeln!(out, "HTTP status code: {}", fetched.status)?;
        for (k, v) in &fetched.headers {
            writeln!(out, "{k}: {v}")?;
        }
        writeln!(out, "Body length: {} bytes", fetched.body_len)?;
        writeln!(out, "MD5SUM = {digest}")?;
        writeln!(
            out,
            "\nGlobal response time for [{}] = {} usecs",
            url.path,
            started.elapsed().as_micros()
        )?;
    } else {
        writeln!(out, "{digest}")?;
    }
    Ok(digest)
}
