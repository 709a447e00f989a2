//! Health-check load: the whole daemon with one VRRP instance (v3, advert
//! 0.1 s) and one virtual_server of many HTTP_GET real servers with
//! `delay_loop 1`, answered by a local responder. Measured: checks per
//! second at the responder, the daemon's CPU per 1,000 checks, its RSS, and
//! the advert intervals a client sees while the checks run (and with the
//! checkers off, as the baseline).
//!
//! Lab: director lb1 192.0.2.1, client 192.0.2.100, responder rs
//! 192.0.2.10 carrying the real servers' addresses (/32s from
//! 203.0.113.0/24) and listening on a few ports; lb1 routes
//! 203.0.113.0/24 to it.

use std::io::{BufWriter, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use keel_lab::{Lab, LabOptions, LabProcess, Node, wait_until};

use crate::conf::{self, Conf, VRID};
use crate::daemon::{Binaries, Daemon, Impl};
use crate::procfs;
use crate::stats::ms;
use crate::wire;

const LB1: &str = "192.0.2.1";
const RS: &str = "192.0.2.10";
/// First port of the responder; the real servers use `PORTS` consecutive ones.
const BASE_PORT: u16 = 8001;
pub const PORTS: u16 = 8;
/// Real servers per address at most `PORTS`, so at most 253 addresses
/// (203.0.113.1..=253) give at most this many real servers.
pub const MAX_SERVERS: usize = 253 * PORTS as usize;
/// How often the responder prints its request count.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Argument that turns `keel-bench` into the HTTP responder.
pub const RESPOND_ARG: &str = "__respond";

/// What one run measures.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub servers: usize,
    pub window: Duration,
    /// Wait after the first full round of checks (or after the election
    /// with the checkers off) before the window starts.
    pub settle: Duration,
    /// Bound of every wait for the daemon (election, first round).
    pub patience: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct RunResult {
    /// Requests answered by the responder over the window.
    pub requests: u64,
    /// The responder's own measure of the window (its count timestamps).
    pub counted_over: Duration,
    pub window: Duration,
    /// CPU of the daemon's processes over the window: schedstat (ns
    /// resolution) and utime+stime (clock ticks), ms.
    pub cpu_ms: f64,
    pub cpu_tick_ms: f64,
    pub rss_kb: u64,
    pub processes: usize,
    pub intervals_ms: Vec<f64>,
    /// Data plane the daemon reported choosing, when it said.
    pub data_plane: Option<String>,
    /// Destinations in the data plane at the end of the window (`keel lvs`
    /// for keel, `ipvsadm -ln` for keepalived), when it could be read.
    pub in_table: Option<usize>,
}

impl RunResult {
    pub fn checks_per_s(&self) -> f64 {
        let secs = self.counted_over.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }

    /// CPU ms per 1,000 checks from utime+stime, and from schedstat.
    pub fn cpu_per_1000(&self) -> Option<(f64, f64)> {
        (self.requests > 0).then(|| {
            let k = self.requests as f64 / 1000.0;
            (self.cpu_tick_ms / k, self.cpu_ms / k)
        })
    }
}

/// Address and port of real server `i` (0-based): the port cycles fastest,
/// so `n` servers use ceil(n / PORTS) addresses.
pub fn real_server(i: usize) -> (Ipv4Addr, u16) {
    let host = 1 + i / usize::from(PORTS);
    let port = BASE_PORT + (i % usize::from(PORTS)) as u16;
    (Ipv4Addr::new(203, 0, 113, host as u8), port)
}

fn addresses(servers: usize) -> usize {
    servers.div_ceil(usize::from(PORTS))
}

/// The configuration both daemons get: the jitter bench's single VRRP
/// instance (v3, advert 0.1 s, lb1 alone so it becomes master) and one
/// NAT/rr virtual_server on its VIP. With `checks` each real server has an
/// HTTP_GET checker; without, the same real servers carry none.
pub fn render(servers: usize, checks: bool) -> String {
    let mut s = Conf {
        router_id: "lb1".into(),
        version: 3,
        advert: "0.1".into(),
        priority: 100,
        instances: conf::single(),
        scripts: 0,
    }
    .render();
    s.push_str(&format!(
        "virtual_server {} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n",
        conf::VIP
    ));
    for i in 0..servers {
        let (ip, port) = real_server(i);
        s.push_str(&format!(
            "    real_server {ip} {port} {{\n        weight 1\n"
        ));
        if checks {
            s.push_str(
                "        HTTP_GET {\n            url {\n                path /health\n                status_code 200\n            }\n            connect_timeout 3\n            retry 1\n            delay_before_retry 1\n        }\n",
            );
        }
        s.push_str("    }\n");
    }
    s.push_str("}\n");
    s
}

struct CheckLab {
    lab: Lab,
    lb1: Node,
    client: Node,
    rs: Node,
}

fn check_lab(hint: &str, servers: usize) -> Result<CheckLab> {
    let lab = Lab::with_options(
        hint,
        LabOptions {
            fixed_macs: true,
            ..LabOptions::default()
        },
    )?;
    let lb1 = lab.add_node("lb1", &["192.0.2.1/24"])?;
    let client = lab.add_node("client", &["192.0.2.100/24"])?;
    let rs = lab.add_node("rs", &["192.0.2.10/24"])?;
    // One `ip -batch` instead of hundreds of `ip` runs: that matters under
    // the VM's emulated CPU.
    let batch = lab.dir().join("rs-addrs.batch");
    let mut text = String::new();
    for a in 0..addresses(servers) {
        let (ip, _) = real_server(a * usize::from(PORTS));
        text.push_str(&format!("addr add {ip}/32 dev {}\n", conf::IFACE));
    }
    std::fs::write(&batch, text).with_context(|| format!("write {batch:?}"))?;
    rs.exec_checked("ip", &["-batch", &batch.to_string_lossy()])?;
    lb1.exec_checked("ip", &["route", "add", "203.0.113.0/24", "via", RS])?;
    Ok(CheckLab {
        lab,
        lb1,
        client,
        rs,
    })
}

/// The responder's last `ELAPSED_MS COUNT` line.
fn responder_count(p: &LabProcess) -> Option<(Duration, u64)> {
    let text = std::fs::read_to_string(p.stdout_path()).ok()?;
    text.lines().rev().find_map(|l| {
        let (t, c) = l.split_once(' ')?;
        Some((Duration::from_millis(t.parse().ok()?), c.parse().ok()?))
    })
}

fn start_responder(lab: &CheckLab, life: Duration) -> Result<LabProcess> {
    let exe = std::env::current_exe().context("locate keel-bench")?;
    let exe = exe.to_string_lossy().into_owned();
    let life = life.as_secs().to_string();
    let p = lab.rs.spawn(
        &exe,
        &[
            RESPOND_ARG,
            &BASE_PORT.to_string(),
            &PORTS.to_string(),
            &life,
        ],
    )?;
    if !wait_until(Duration::from_secs(20), Duration::from_millis(20), || {
        responder_count(&p).is_some() || !p.is_running()
    }) || !p.is_running()
    {
        bail!(
            "responder did not start: {}",
            p.stderr().unwrap_or_default()
        );
    }
    Ok(p)
}

/// The line of keel's log saying which data plane the load balancer
/// started on (keepalived has only IPVS and says nothing of the kind).
fn data_plane(log: &str) -> Option<String> {
    log.lines()
        .find_map(|l| l.find("Starting the load balancer on the").map(|i| &l[i..]))
        .map(|l| l.trim().chars().take(200).collect())
}

/// One daemon, checkers on or off, in a fresh lab.
pub fn run(bins: &Binaries, which: Impl, setup: &Setup, checks: bool) -> Result<RunResult> {
    let tag = if checks { "on" } else { "off" };
    let l = check_lab(&format!("chk{}{tag}", which.name()), setup.servers)?;
    let life = setup.patience * 3 + setup.settle + setup.window + Duration::from_secs(60);
    let responder = start_responder(&l, life)?;
    let state = l.lab.dir().join("keel-lvs.json");
    let env = vec![format!("KEEL_LVS_STATE={}", state.display())];
    let d = Daemon::start_full(
        &l.lab,
        &l.lb1,
        bins,
        which,
        &render(setup.servers, checks),
        &env,
    )?;
    // keepalived: parent, VRRP child and checker child.
    let want = match which {
        Impl::Keel => 1,
        Impl::Keepalived => 3,
    };
    let vip = conf::VIP.parse().map_err(|e| anyhow!("{e}"))?;
    let up = wait_until(setup.patience, Duration::from_millis(20), || {
        !d.proc.is_running() || (d.pids().len() >= want && l.lb1.has_addr(vip).unwrap_or(false))
    });
    if !up || !d.proc.is_running() {
        bail!(
            "{} did not become master with all its processes within {:?}; log:\n{}",
            which.name(),
            setup.patience,
            d.log_tail(3000)
        );
    }
    if checks {
        let first = responder_count(&responder).map_or(0, |(_, c)| c);
        let target = first + setup.servers as u64;
        if !wait_until(setup.patience, Duration::from_millis(50), || {
            responder_count(&responder).is_some_and(|(_, c)| c >= target)
        }) {
            bail!(
                "{}: fewer than {} checks reached the responder within {:?}; log:\n{}",
                which.name(),
                setup.servers,
                setup.patience,
                d.log_tail(3000)
            );
        }
    }
    std::thread::sleep(setup.settle);
    let cap = l
        .lab
        .capture(&l.client, &format!("ip proto 112 and src host {LB1}"))?;
    let pids = d.pids();
    let r0 = responder_count(&responder).unwrap_or_default();
    let c0 = procfs::cpu_sample(&pids);
    let start = Instant::now();
    std::thread::sleep(setup.window);
    let c1 = procfs::cpu_sample(&pids);
    let elapsed = start.elapsed();
    // The responder reports every 100 ms; its next line closes the window.
    let r1_floor = r0.0 + elapsed;
    let mut r1 = responder_count(&responder).unwrap_or_default();
    let _ = wait_until(REPORT_EVERY * 3, Duration::from_millis(10), || {
        r1 = responder_count(&responder).unwrap_or_default();
        r1.0 + REPORT_EVERY / 2 >= r1_floor
    });
    let rss_kb = pids.iter().filter_map(|p| procfs::rss_kb(*p)).sum();
    let in_table = table_destinations(&l.lb1, bins, which, &env);
    let packets = cap.stop()?;
    if !d.proc.is_running() {
        bail!(
            "{} exited during the window; log:\n{}",
            which.name(),
            d.log_tail(3000)
        );
    }
    let lb1: Ipv4Addr = LB1.parse().map_err(|e| anyhow!("{e}"))?;
    let times = wire::advert_times(&packets, lb1, VRID);
    let out = RunResult {
        requests: r1.1.saturating_sub(r0.1),
        counted_over: r1.0.saturating_sub(r0.0),
        window: elapsed,
        cpu_ms: c1.sched_ns.saturating_sub(c0.sched_ns) as f64 / 1e6,
        cpu_tick_ms: ms(procfs::tick()) * c1.ticks.saturating_sub(c0.ticks) as f64,
        rss_kb,
        processes: pids.len(),
        intervals_ms: wire::intervals_ms(&times),
        data_plane: data_plane(&d.log()),
        in_table,
    };
    d.term()?;
    d.reap(Duration::from_secs(10))?;
    Ok(out)
}

/// Destination lines (`  -> ADDR:PORT ...`) of an ipvsadm-style listing.
fn count_destinations(listing: &str) -> usize {
    listing
        .lines()
        .filter(|l| l.trim_start().starts_with("-> ") && !l.contains("RemoteAddress"))
        .count()
}

/// How many real servers the daemon's data plane holds: `keel lvs` reads
/// back whichever plane keel uses; keepalived's is IPVS.
fn table_destinations(node: &Node, bins: &Binaries, which: Impl, env: &[String]) -> Option<usize> {
    let keel = bins.keel.to_string_lossy().into_owned();
    let out = match which {
        Impl::Keel => {
            let mut args: Vec<&str> = env.iter().map(String::as_str).collect();
            args.extend([keel.as_str(), "lvs"]);
            node.exec("env", &args).ok()?
        }
        Impl::Keepalived => node.exec("ipvsadm", &["-ln"]).ok()?,
    };
    out.status
        .success()
        .then(|| count_destinations(&String::from_utf8_lossy(&out.stdout)))
}

/// keepalived's full daemon on this host, to record whether its checker
/// child survives start-up (it cannot without IPVS). Returns the log lines
/// that say why it stopped, or `None` if it was still running after
/// `wait`.
pub fn keepalived_exit_probe(bins: &Binaries, wait: Duration) -> Result<Option<String>> {
    let l = check_lab("chkkaprobe", 8)?;
    let d = Daemon::start_full(
        &l.lab,
        &l.lb1,
        bins,
        Impl::Keepalived,
        &render(8, true),
        &[],
    )?;
    let exited = d.proc.wait_timeout(wait)?.is_some();
    let log = d.log();
    d.reap(Duration::from_secs(5))?;
    if !exited {
        return Ok(None);
    }
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("ipvs") || l.contains("fatal") || l.contains("terminating")
        })
        .collect();
    Ok(Some(lines.join(" / ")))
}

/// The responder (`keel-bench __respond BASE_PORT PORTS LIFE_S`): HTTP/1.0
/// `200 ok` on every address of the namespace on ports
/// BASE_PORT..BASE_PORT+PORTS, printing `ELAPSED_MS COUNT` (requests
/// answered so far) every 100 ms, exiting after LIFE_S seconds.
pub fn respond(args: &[String]) -> Result<()> {
    let num = |i: usize, what: &str| -> Result<u64> {
        args.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("{RESPOND_ARG}: missing or bad {what}"))
    };
    let base = u16::try_from(num(0, "base port")?)?;
    let ports = u16::try_from(num(1, "port count")?)?;
    let life = Duration::from_secs(num(2, "lifetime")?.min(3600));
    let count = Arc::new(AtomicU64::new(0));
    for p in 0..ports {
        let port = base.checked_add(p).context("port out of range")?;
        let l = TcpListener::bind(("0.0.0.0", port)).with_context(|| format!("bind {port}"))?;
        // Two acceptors per port so one slow client never stalls a port.
        for _ in 0..2 {
            let l = l.try_clone()?;
            let count = Arc::clone(&count);
            std::thread::spawn(move || serve(&l, &count));
        }
    }
    let start = Instant::now();
    let mut out = BufWriter::new(std::io::stdout().lock());
    while start.elapsed() < life {
        writeln!(
            out,
            "{} {}",
            start.elapsed().as_millis(),
            count.load(Ordering::Relaxed)
        )?;
        out.flush()?;
        std::thread::sleep(REPORT_EVERY);
    }
    Ok(())
}

/// Accepts until the process exits (the lifetime loop in [`respond`]
/// bounds it).
fn serve(l: &TcpListener, count: &AtomicU64) {
    for conn in l.incoming() {
        if let Ok(s) = conn
            && answer(s)
        {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Reads one request head (bounded in size and time) and answers it; true
/// when a whole request was answered.
fn answer(mut s: TcpStream) -> bool {
    let limit = Some(Duration::from_secs(1));
    if s.set_read_timeout(limit).is_err() || s.set_write_timeout(limit).is_err() {
        return false;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < 8192 && !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let ok = s
        .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        .is_ok();
    let _ = s.shutdown(std::net::Shutdown::Both);
    ok
}

/// scripts/ipvs-vm.sh of this source tree.
pub fn vm_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ipvs-vm.sh")
}

pub fn in_vm() -> bool {
    std::env::var_os("KEEL_IPVS_VM").is_some_and(|v| v == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_servers_are_distinct_and_in_range() {
        let all: Vec<(Ipv4Addr, u16)> = (0..MAX_SERVERS).map(real_server).collect();
        let mut d = all.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), MAX_SERVERS);
        assert_eq!(all[0], (Ipv4Addr::new(203, 0, 113, 1), 8001));
        assert_eq!(all[7], (Ipv4Addr::new(203, 0, 113, 1), 8008));
        assert_eq!(all[8], (Ipv4Addr::new(203, 0, 113, 2), 8001));
        assert_eq!(all[1999], (Ipv4Addr::new(203, 0, 113, 250), 8008));
        assert_eq!(addresses(2000), 250);
        assert_eq!(addresses(500), 63);
        assert_eq!(all[MAX_SERVERS - 1].0, Ipv4Addr::new(203, 0, 113, 253));
    }

    #[test]
    fn config_with_and_without_checkers() {
        let on = render(16, true);
        assert_eq!(on.matches("real_server ").count(), 16);
        assert_eq!(on.matches("HTTP_GET").count(), 16);
        assert!(on.contains("real_server 203.0.113.2 8008 {"));
        assert!(on.contains("delay_loop 1\n"));
        assert!(on.contains("lb_kind NAT\n"));
        assert!(on.contains("advert_int 0.1\n"));
        assert!(on.contains("version 3\n"));
        let off = render(16, false);
        assert_eq!(off.matches("real_server ").count(), 16);
        assert!(!off.contains("HTTP_GET"));
    }

    #[test]
    fn responder_answers_and_counts() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let c2 = Arc::clone(&count);
        std::thread::spawn(move || serve(&l, &c2));
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.0 200 OK\r\n"), "{reply}");
        assert!(reply.ends_with("\r\n\r\nok\n"), "{reply}");
        // A connection closed before a whole request is not a check.
        drop(TcpStream::connect(addr).unwrap());
        assert!(wait_until(
            Duration::from_secs(5),
            Duration::from_millis(10),
            || count.load(Ordering::Relaxed) == 1
        ));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(count.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn destinations_of_a_listing() {
        let listing = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\nTCP  192.0.2.50:80 rr\n  -> 203.0.113.1:8001             Masq    1      0          0\n  -> 203.0.113.1:8002             Masq    1      0          0\nReal servers not in the table:\n  203.0.113.2:8001 of VS 192.0.2.50:80: down (not in the table)\n";
        assert_eq!(count_destinations(listing), 2);
    }

    #[test]
    fn data_plane_line() {
        let log = "IPVS data plane not used (no IPVS); using nftables\n2026-11-25T15:35:03.009Z INFO  Starting the load balancer on the nftables data plane (1 virtual server)\n";
        assert_eq!(
            data_plane(log).as_deref(),
            Some("Starting the load balancer on the nftables data plane (1 virtual server)")
        );
        assert_eq!(data_plane("nothing here\n"), None);
    }
}
