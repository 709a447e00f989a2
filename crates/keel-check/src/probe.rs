//! The probes: one async function per checker type, each bounded by its
//! timeouts, each returning a [`ProbeResult`] (never an error: a probe that
//! cannot run has failed).

use crate::core::ProbeResult;
use crate::spec::{HttpSpec, ProbeSpec, Target, UdpSpec, UrlSpec};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use keel_config::model::Script;
use md5::{Digest, Md5};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::timeout;

/// How a MISC_CHECK script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptExit {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    SpawnFailed(String),
}

/// Runs MISC_CHECK scripts. The daemon implements this with its script
/// runner (users, script security, concurrency limits); [`ShellExec`] is a
/// plain implementation.
pub trait ScriptExec: Send + Sync + 'static {
    fn run<'a>(
        &'a self,
        script: &'a Script,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = ScriptExit> + Send + 'a>>;
}

/// Runs a script line with `/bin/sh -c` as the current user, in its own
/// process group, killing the group on timeout.
#[derive(Debug, Clone)]
pub struct ShellExec {
    pub shell: std::path::PathBuf,
}

impl Default for ShellExec {
    fn default() -> Self {
        ShellExec {
            shell: "/bin/sh".into(),
        }
    }
}

impl ScriptExec for ShellExec {
    fn run<'a>(
        &'a self,
        script: &'a Script,
        limit: Duration,
    ) -> Pin<Box<dyn Future<Output = ScriptExit> + Send + 'a>> {
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new(&self.shell);
            // The daemon's environment is not the script's business.
            cmd.arg("-c")
                .arg(&script.command)
                .env_clear()
                .env(
                    "PATH",
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                )
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .process_group(0)
                .kill_on_drop(true);
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => return ScriptExit::SpawnFailed(e.to_string()),
            };
            let pid = child.id();
            match timeout(limit, child.wait()).await {
                Ok(Ok(status)) => {
                    use std::os::unix::process::ExitStatusExt;
                    match (status.code(), status.signal()) {
                        (Some(c), _) => ScriptExit::Exited(c),
                        (None, Some(s)) => ScriptExit::Signaled(s),
                        (None, None) => ScriptExit::SpawnFailed("unknown exit".into()),
                    }
                }
                Ok(Err(e)) => ScriptExit::SpawnFailed(e.to_string()),
                Err(_) => {
                    // The script may have forked; take its whole group down.
                    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                        let _ = nix::sys::signal::killpg(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    let _ = child.wait().await;
                    ScriptExit::TimedOut
                }
            }
        })
    }
}

/// What probes share: the script runner and the TLS client config.
#[derive(Clone)]
pub struct ProbeContext {
    pub scripts: Arc<dyn ScriptExec>,
    pub tls: Arc<rustls::ClientConfig>,
}

impl Default for ProbeContext {
    fn default() -> Self {
        ProbeContext {
            scripts: Arc::new(ShellExec::default()),
            tls: insecure_tls_config(),
        }
    }
}

impl std::fmt::Debug for ProbeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeContext").finish_non_exhaustive()
    }
}

/// Runs the probe a spec describes.
pub async fn run_probe(spec: &ProbeSpec, ctx: &ProbeContext) -> ProbeResult {
    let start = Instant::now();
    let r = match spec {
        ProbeSpec::Http { target, http } => http_probe(target, http, &ctx.tls).await,
        ProbeSpec::Tcp { target } => tcp_probe(target).await,
        ProbeSpec::Smtp { target, helo } => smtp_probe(target, helo).await,
        ProbeSpec::Dns {
            target,
            qtype,
            name,
        } => dns_probe(target, *qtype, name).await,
        ProbeSpec::Udp { target, udp } => udp_probe(target, udp).await,
        ProbeSpec::Ping { target } => ping_probe(target).await,
        ProbeSpec::Misc {
            script,
            timeout,
            dynamic,
        } => misc_probe(ctx.scripts.as_ref(), script, *timeout, *dynamic).await,
        ProbeSpec::File { path } => file_probe(path).await,
        ProbeSpec::External { name } => {
            ProbeResult::fail(format!("{name} is driven from outside, not probed"))
        }
    };
    r.with_elapsed(start.elapsed())
}

fn new_socket(t: &Target, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(t.addr), ty, Some(proto))?;
    sock.set_nonblocking(true)?;
    sock.set_cloexec(true)?;
    if let Some(dev) = &t.bind_if {
        sock.bind_device(Some(dev.as_bytes()))?;
    }
    if let Some(mark) = t.fwmark {
        sock.set_mark(mark)?;
    }
    if let Some(b) = t.bind {
        sock.bind(&SockAddr::from(b))?;
    }
    Ok(sock)
}

/// Connects with `bindto`/`bind_port`/`bind_if`/`fwmark` applied and
/// `connect_timeout` enforced.
pub async fn connect(t: &Target) -> io::Result<TcpStream> {
    let sock = new_socket(t, Type::STREAM, Protocol::TCP)?;
    let std_stream: std::net::TcpStream = sock.into();
    let sock = TcpSocket::from_std_stream(std_stream);
    match timeout(t.connect_timeout, sock.connect(t.addr)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timeout")),
    }
}

async fn tcp_probe(t: &Target) -> ProbeResult {
    match connect(t).await {
        Ok(_) => ProbeResult::ok("connected"),
        Err(e) => ProbeResult::fail(format!("TCP connection to {} failed: {e}", t.addr)),
    }
}

// ---------------------------------------------------------------- HTTP/SSL

/// Certificate checks are off, as in keepalived's SSL_GET: the probe checks
/// the service answers, not who it is. Handshake signatures are still
/// verified so a broken TLS stack is noticed.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls client config (ring provider) that accepts any certificate.
pub fn insecure_tls_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions();
    let config = match builder {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth(),
        // The ring provider supports the default versions; this arm only
        // exists so a provider change cannot panic.
        Err(_) => rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))))
            .with_no_client_auth(),
    };
    Arc::new(config)
}

/// What one GET returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFetch {
    pub status: u16,
    /// Response head as received (status line and headers).
    pub headers: Vec<(String, String)>,
    pub digest: [u8; 16],
    pub body_len: usize,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

async fn open_stream(
    t: &Target,
    tls: Option<&crate::spec::TlsSpec>,
    tls_config: &Arc<rustls::ClientConfig>,
) -> Result<Box<dyn Io>, String> {
    let tcp = connect(t)
        .await
        .map_err(|e| format!("connection to {} failed: {e}", t.addr))?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = match &tls.sni {
        Some(sni) => rustls::pki_types::ServerName::try_from(sni.clone())
            .map_err(|e| format!("invalid SNI name '{sni}': {e}"))?,
        // An IP server name sends no SNI extension.
        None => rustls::pki_types::ServerName::IpAddress(t.addr.ip().into()),
    };
    let connector = tokio_rustls::TlsConnector::from(tls_config.clone());
    match timeout(t.connect_timeout, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(Box::new(s)),
        Ok(Err(e)) => Err(format!("TLS handshake with {} failed: {e}", t.addr)),
        Err(_) => Err(format!("TLS handshake with {} timed out", t.addr)),
    }
}

/// The whole of one GET (connect, TLS, request, every body byte) must end
/// within this many `connect_timeout`s: each step has its own timeout, but
/// a server that trickles a byte at a time would otherwise keep a check
/// (and so the real server's state) frozen for as long as it likes.
pub const HTTP_DEADLINE_TIMEOUTS: u32 = 4;

/// Body bytes hashed at most; a larger page fails the check instead of
/// keeping the probe busy without end.
pub const HTTP_MAX_BODY: usize = 16 << 20;

/// GETs one URL the way keepalived does and hashes the body, within an
/// overall deadline.
pub async fn http_fetch(
    t: &Target,
    http: &HttpSpec,
    url: &UrlSpec,
    tls_config: &Arc<rustls::ClientConfig>,
) -> Result<HttpFetch, String> {
    let deadline = t.connect_timeout.saturating_mul(HTTP_DEADLINE_TIMEOUTS);
    match timeout(deadline, http_fetch_steps(t, http, url, tls_config)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "Read timeout from {}: no complete answer within {deadline:?}",
            t.addr
        )),
    }
}

async fn http_fetch_steps(
    t: &Target,
    http: &HttpSpec,
    url: &UrlSpec,
    tls_config: &Arc<rustls::ClientConfig>,
) -> Result<HttpFetch, String> {
    let io_timeout = t.connect_timeout;
    let stream = open_stream(t, http.tls.as_ref(), tls_config).await?;
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let conn_task = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let mut req = hyper::Request::builder()
        .method(hyper::Method::GET)
        .uri(url.path.as_str())
        .version(if http.minor_version == 1 {
            hyper::Version::HTTP_11
        } else {
            hyper::Version::HTTP_10
        })
        .header("User-Agent", "KeepAliveClient");
    if http.connection_close {
        req = req.header("Connection", "close");
    }
    let req = req
        .header("Host", url.host.as_str())
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("invalid request for '{}': {e}", url.path))?;
    let resp = match timeout(io_timeout, sender.send_request(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(format!("Read, no data received from {}: {e}", t.addr)),
        Err(_) => return Err(format!("Read timeout from {}", t.addr)),
    };
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = resp.into_body();
    let mut md5 = Md5::new();
    let mut len = 0usize;
    loop {
        match timeout(io_timeout, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    md5.update(data);
                    len += data.len();
                    if len > HTTP_MAX_BODY {
                        return Err(format!(
                            "Body from {} larger than {HTTP_MAX_BODY} bytes",
                            t.addr
                        ));
                    }
                }
            }
            Ok(Some(Err(e))) => return Err(format!("Read error from {}: {e}", t.addr)),
            Ok(None) => break,
            Err(_) => return Err(format!("Read timeout from {}", t.addr)),
        }
    }
    drop(conn_task);
    Ok(HttpFetch {
        status,
        headers,
        digest: md5.finalize().into(),
        body_len: len,
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn http_probe(t: &Target, http: &HttpSpec, tls: &Arc<rustls::ClientConfig>) -> ProbeResult {
    if http.urls.is_empty() {
        return ProbeResult::fail("no url configured");
    }
    for url in &http.urls {
        let fetched = match http_fetch(t, http, url, tls).await {
            Ok(f) => f,
            Err(e) => return ProbeResult::fail(e),
        };
        if !url.status_ok(fetched.status) {
            return ProbeResult::fail(format!(
                "HTTP status code error to {} url({}): {}",
                t.addr, url.path, fetched.status
            ));
        }
        if let Some(want) = url.digest
            && want != fetched.digest
        {
            return ProbeResult::fail(format!(
                "MD5 digest error to {} url({}): got {}",
                t.addr,
                url.path,
                hex(&fetched.digest)
            ));
        }
    }
    ProbeResult::ok("all urls passed")
}

// ------------------------------------------------------------------- SMTP

pub async fn read_reply<R: AsyncBufRead + Unpin>(
    r: &mut R,
    limit: Duration,
) -> Result<u16, String> {
    // Multi-line replies (RFC 5321 §4.2.1) continue with "NNN-".
    let mut line = Vec::new();
    for _ in 0..64 {
        line.clear();
        let n = match timeout(limit, (&mut *r).take(4096).read_until(b'\n', &mut line)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(format!("read error: {e}")),
            Err(_) => return Err("read timeout".into()),
        };
        if n == 0 {
            return Err("connection closed".into());
        }
        if line.len() < 3 {
            return Err("short reply".into());
        }
        let code = std::str::from_utf8(&line[..3])
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| "malformed reply".to_string())?;
        if line.get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
    Err("reply too long".into())
}

async fn smtp_probe(t: &Target, helo: &str) -> ProbeResult {
    let stream = match connect(t).await {
        Ok(s) => s,
        Err(e) => return ProbeResult::fail(format!("connection to {} failed: {e}", t.addr)),
    };
    let limit = t.connect_timeout;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let step = async {
        // RFC 5321 §4.3.2: 220 greeting, 250 to HELO.
        match read_reply(&mut rd, limit).await? {
            220 => {}
            c => return Err(format!("bad greeting {c}")),
        }
        write_all(&mut wr, format!("HELO {helo}\r\n").as_bytes(), limit).await?;
        match read_reply(&mut rd, limit).await? {
            250 => {}
            c => return Err(format!("HELO answered {c}")),
        }
        write_all(&mut wr, b"QUIT\r\n", limit).await?;
        Ok(())
    };
    match step.await {
        Ok(()) => ProbeResult::ok("SMTP 220/250"),
        Err(e) => ProbeResult::fail(format!("SMTP_CHECK {}: {e}", t.addr)),
    }
}

async fn write_all<W: AsyncWrite + Unpin>(
    w: &mut W,
    data: &[u8],
    limit: Duration,
) -> Result<(), String> {
    match timeout(limit, w.write_all(data)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write error: {e}")),
        Err(_) => Err("write timeout".into()),
    }
}

// -------------------------------------------------------------------- DNS

pub mod dns;

fn random_u16() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u16
}

async fn udp_socket(t: &Target) -> io::Result<UdpSocket> {
    let sock = new_socket(t, Type::DGRAM, Protocol::UDP)?;
    sock.connect(&SockAddr::from(t.addr))?;
    let std_sock: std::net::UdpSocket = sock.into();
    UdpSocket::from_std(std_sock)
}

async fn dns_probe(t: &Target, qtype: u16, name: &str) -> ProbeResult {
    let id = random_u16();
    let Some(query) = dns::encode_query(id, name, qtype) else {
        return ProbeResult::fail(format!("invalid query name '{name}'"));
    };
    let sock = match udp_socket(t).await {
        Ok(s) => s,
        Err(e) => return ProbeResult::fail(format!("failed to create socket: {e}")),
    };
    if let Err(e) = sock.send(&query).await {
        return ProbeResult::fail(format!("failed to send query: {e}"));
    }
    let deadline = tokio::time::Instant::now() + t.connect_timeout;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return ProbeResult::fail(format!("failed to read socket: {e}")),
            Err(_) => return ProbeResult::fail("timeout"),
        };
        let Some(resp) = dns::decode_response(&buf[..n]) else {
            continue;
        };
        // Stray or spoofed datagrams are skipped, as keepalived does.
        if resp.id != id || !resp.is_response {
            continue;
        }
        if resp.rcode != 0 {
            return ProbeResult::fail(format!("read error occurred. (rcode = {})", resp.rcode));
        }
        if !resp.answer_types.contains(&qtype) {
            return ProbeResult::fail(format!("no answer of type {qtype}"));
        }
        return ProbeResult::ok("answer received");
    }
}

// -------------------------------------------------------------------- UDP

async fn udp_probe(t: &Target, u: &UdpSpec) -> ProbeResult {
    let sock = match udp_socket(t).await {
        Ok(s) => s,
        Err(e) => return ProbeResult::fail(format!("UDP connect fail to create socket: {e}")),
    };
    if let Err(e) = sock.send(&u.payload).await {
        return ProbeResult::fail(format!("UDP send failed: {e}"));
    }
    let mut buf = vec![0u8; u.max_reply_len.max(1) + 1];
    match timeout(t.connect_timeout, sock.recv(&mut buf)).await {
        // ICMP port unreachable surfaces as ECONNREFUSED on a connected socket.
        Ok(Err(e)) => ProbeResult::fail(format!("UDP connection to {} failed: {e}", t.addr)),
        Err(_) if u.require_reply => ProbeResult::fail("no reply"),
        Err(_) => ProbeResult::ok("no ICMP error"),
        Ok(Ok(n)) => match &u.pattern {
            Some(p) => {
                let reply = &buf[..n];
                if n < u.min_reply_len || n > u.max_reply_len || !p.matches(reply) {
                    ProbeResult::fail(format!("UDP check to {} reply data mismatch", t.addr))
                } else {
                    ProbeResult::ok("reply matched")
                }
            }
            None => ProbeResult::ok("reply received"),
        },
    }
}

// ------------------------------------------------------------------- PING

fn checksum(data: &[u8]) -> u16 {
    // RFC 1071 one's complement sum.
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from_be_bytes([chunk[0], 0])
        };
        sum += word as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ping_socket(t: &Target) -> io::Result<(Socket, bool)> {
    let (domain, proto) = match t.addr {
        SocketAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        SocketAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let (sock, raw) = match Socket::new(domain, Type::DGRAM, Some(proto)) {
        Ok(s) => (s, false),
        // Ping sockets can be disabled by net.ipv4.ping_group_range; root
        // can still use a raw socket.
        Err(_) => (Socket::new(domain, Type::RAW, Some(proto))?, true),
    };
    sock.set_nonblocking(true)?;
    sock.set_cloexec(true)?;
    if let Some(dev) = &t.bind_if {
        sock.bind_device(Some(dev.as_bytes()))?;
    }
    if let Some(b) = t.bind {
        sock.bind(&SockAddr::from(SocketAddr::new(b.ip(), 0)))?;
    }
    sock.connect(&SockAddr::from(SocketAddr::new(t.addr.ip(), 0)))?;
    Ok((sock, raw))
}

async fn ping_probe(t: &Target) -> ProbeResult {
    let (sock, raw) = match ping_socket(t) {
        Ok(s) => s,
        Err(e) => return ProbeResult::fail(format!("cannot open ICMP socket: {e}")),
    };
    let std_sock: std::net::UdpSocket = sock.into();
    let sock = match UdpSocket::from_std(std_sock) {
        Ok(s) => s,
        Err(e) => return ProbeResult::fail(format!("cannot register ICMP socket: {e}")),
    };
    let v6 = t.addr.is_ipv6();
    let seq = random_u16();
    let ident = random_u16();
    let (req_type, reply_type) = if v6 { (128u8, 129u8) } else { (8u8, 0u8) };
    let mut pkt = vec![req_type, 0, 0, 0];
    pkt.extend_from_slice(&ident.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(b"keel-check-ping!");
    if !v6 {
        let c = checksum(&pkt);
        pkt[2..4].copy_from_slice(&c.to_be_bytes());
    }
    if let Err(e) = sock.send(&pkt).await {
        return ProbeResult::fail(format!("send ICMP packet fail: {e}"));
    }
    let deadline = tokio::time::Instant::now() + t.connect_timeout;
    let mut buf = [0u8; 1500];
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return ProbeResult::fail(format!("recv ICMP packet error: {e}")),
            Err(_) => {
                return ProbeResult::fail(format!(
                    "ICMP connection to address {} timeout",
                    t.addr.ip()
                ));
            }
        };
        let mut icmp = &buf[..n];
        if raw && !v6 {
            // Raw IPv4 sockets deliver the IP header too.
            let ihl = icmp.first().map_or(0, |b| ((b & 0x0f) as usize) * 4);
            if icmp.len() < ihl {
                continue;
            }
            icmp = &icmp[ihl..];
        }
        if icmp.len() < 8 || icmp[0] != reply_type {
            continue;
        }
        let got_seq = u16::from_be_bytes([icmp[6], icmp[7]]);
        // Datagram ping sockets rewrite the identifier; match on sequence.
        let got_id = u16::from_be_bytes([icmp[4], icmp[5]]);
        if got_seq == seq && (!raw || got_id == ident) {
            return ProbeResult::ok("echo reply");
        }
    }
}

// ------------------------------------------------------------- MISC, FILE

async fn misc_probe(
    exec: &dyn ScriptExec,
    script: &Script,
    limit: Duration,
    dynamic: bool,
) -> ProbeResult {
    match exec.run(script, limit).await {
        ScriptExit::Exited(0) => ProbeResult::ok("exited with status 0"),
        ScriptExit::Exited(n) if dynamic && (2..=255).contains(&n) => {
            ProbeResult::ok(format!("exited with status {n}")).with_weight(n - 2)
        }
        ScriptExit::Exited(n) => ProbeResult::fail(format!("exited with status {n}")),
        ScriptExit::Signaled(s) => ProbeResult::fail(format!("due to signal {s}")),
        ScriptExit::TimedOut => ProbeResult::fail("timed out"),
        ScriptExit::SpawnFailed(e) => ProbeResult::fail(format!("could not be started: {e}")),
    }
}

/// keepalived reads a tracked file as one integer; a missing or
/// unparsable file counts as 0.
async fn file_probe(path: &str) -> ProbeResult {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => {
            let word = text.split_whitespace().next().unwrap_or("0");
            let v = word.parse::<i64>().unwrap_or(0);
            let v = v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
            ProbeResult::ok(format!("{path} holds {v}")).with_weight(v)
        }
        Err(e) => ProbeResult::ok(format!("{path}: {e}; taken as 0")).with_weight(0),
    }
}

/// The address a probe reaches, for messages.
pub fn probe_address(spec: &ProbeSpec) -> Option<IpAddr> {
    spec.target().map(|t| t.addr.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_query_encoding_follows_rfc1035_4_1() {
        let q = dns::encode_query(0x1234, "example.org", 1).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[4..6], &[0, 1]);
        assert_eq!(&q[12..], b"\x07example\x03org\x00\x00\x01\x00\x01");
        let root = dns::encode_query(1, ".", 6).unwrap();
        assert_eq!(&root[12..], b"\x00\x00\x06\x00\x01");
        assert!(dns::encode_query(1, &"a".repeat(64), 1).is_none());
    }

    #[test]
    fn dns_response_decoding_follows_compression_pointers() {
        // RFC 1035 §4.1.4: answer name as a pointer to offset 12.
        let mut m = dns::encode_query(7, "a.b", 1).unwrap();
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = 1;
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        let r = dns::decode_response(&m).unwrap();
        assert_eq!(r.id, 7);
        assert!(r.is_response);
        assert_eq!(r.rcode, 0);
        assert_eq!(r.answer_types, vec![1]);
        // Truncated rdata is rejected.
        assert!(dns::decode_response(&m[..m.len() - 2]).is_none());
    }

    #[test]
    fn icmp_checksum_is_rfc1071() {
        // RFC 1071 §3 example words.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
    }
}
