//! A bounded HTTP load generator: a fixed number of concurrent workers,
//! each opening a new TCP connection per request (so every request passes
//! the load balancer's scheduler) until a deadline.

use socket2::SockRef;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Longest a single request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest response read; nginx's answer here is a few hundred bytes.
const MAX_RESPONSE: u64 = 4096;
/// Latency samples kept per worker; beyond that only counts go on.
const MAX_SAMPLES: usize = 200_000;

const REQUEST: &[u8] =
    b"GET / HTTP/1.0\r\nHost: keel-lb-bench\r\nUser-Agent: keel-lb-bench\r\n\r\n";

/// Outcome of one load run.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub elapsed: Duration,
    pub ok: u64,
    pub errors: u64,
    /// Successful requests per answering server (the body's first line).
    pub by_server: BTreeMap<String, u64>,
    /// Latencies of successful requests, in microseconds, sorted.
    latencies_us: Vec<u32>,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency quantile `q` (0..=1) in milliseconds, `None` without samples.
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        if self.latencies_us.is_empty() {
            return None;
        }
        let last = self.latencies_us.len() - 1;
        let i = ((last as f64) * q.clamp(0.0, 1.0)).round() as usize;
        self.latencies_us
            .get(i.min(last))
            .map(|&us| f64::from(us) / 1000.0)
    }
}

#[derive(Default)]
struct WorkerResult {
    ok: u64,
    errors: u64,
    by_server: BTreeMap<String, u64>,
    latencies_us: Vec<u32>,
}

/// Runs `conns` workers against `target` from `source` for `duration`.
/// Must run on a tokio runtime inside the client's network namespace.
pub async fn run(
    source: IpAddr,
    target: SocketAddr,
    conns: usize,
    duration: Duration,
) -> LoadResult {
    let start = Instant::now();
    let deadline = start + duration;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..conns {
        set.spawn(worker(source, target, deadline));
    }
    let mut out = LoadResult::default();
    while let Some(joined) = set.join_next().await {
        // A worker cannot panic short of a bug; count it as lost work.
        let Ok(w) = joined else {
            out.errors += 1;
            continue;
        };
        out.ok += w.ok;
        out.errors += w.errors;
        for (name, n) in w.by_server {
            *out.by_server.entry(name).or_default() += n;
        }
        out.latencies_us.extend(w.latencies_us);
    }
    out.elapsed = start.elapsed();
    out.latencies_us.sort_unstable();
    out
}

async fn worker(source: IpAddr, target: SocketAddr, deadline: Instant) -> WorkerResult {
    let mut r = WorkerResult::default();
    let mut buf = Vec::with_capacity(MAX_RESPONSE as usize);
    while Instant::now() < deadline {
        let t = Instant::now();
        buf.clear();
        match tokio::time::timeout(REQUEST_TIMEOUT, request(source, target, &mut buf)).await {
            Ok(Some(name)) => {
                r.ok += 1;
                *r.by_server.entry(name).or_default() += 1;
                if r.latencies_us.len() < MAX_SAMPLES {
                    let us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                    r.latencies_us.push(us);
                }
            }
            _ => {
                r.errors += 1;
                // A refused or lost connection fails fast; do not spin on it.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    r
}

/// One HTTP/1.0 request on a fresh connection; the answering server's name
/// on a 200 reply.
async fn request(source: IpAddr, target: SocketAddr, buf: &mut Vec<u8>) -> Option<String> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .ok()?;
    socket.bind(SocketAddr::new(source, 0)).ok()?;
    let mut stream: TcpStream = socket.connect(target).await.ok()?;
    let _ = stream.set_nodelay(true);
    stream.write_all(REQUEST).await.ok()?;
    (&mut stream)
        .take(MAX_RESPONSE)
        .read_to_end(buf)
        .await
        .ok()?;
    // Reset rather than close: no TIME_WAIT on either side per request.
    let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
    answered_by(buf)
}

/// The first body line of a complete `200` response: the name of the
/// server that answered. `None` for any other status or a cut-off head.
fn answered_by(response: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(response).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?;
    if !status.starts_with("HTTP/1.") || status.split(' ').nth(1) != Some("200") {
        return None;
    }
    Some(body.lines().next().unwrap_or("").trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_200_responses_name_a_server() {
        let ok = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 4\r\n\r\nrs2\n";
        assert_eq!(answered_by(ok).as_deref(), Some("rs2"));
        assert_eq!(
            answered_by(b"HTTP/1.1 503 Service Unavailable\r\n\r\nrs2\n"),
            None
        );
        assert_eq!(answered_by(b"HTTP/1.1 200 OK\r\nServer: ng"), None);
        assert_eq!(answered_by(b""), None);
    }

    #[test]
    fn latency_quantiles_come_from_sorted_samples() {
        let r = LoadResult {
            elapsed: Duration::from_secs(2),
            ok: 4,
            latencies_us: vec![1000, 2000, 3000, 40_000],
            ..LoadResult::default()
        };
        assert_eq!(r.rps(), 2.0);
        assert_eq!(r.latency_ms(0.0), Some(1.0));
        assert_eq!(r.latency_ms(0.5), Some(3.0));
        assert_eq!(r.latency_ms(1.0), Some(40.0));
        assert_eq!(LoadResult::default().latency_ms(0.5), None);
    }
}
