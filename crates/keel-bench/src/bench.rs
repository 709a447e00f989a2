//! The measurements. Each one builds its own lab (two directors and a
//! client on one bridge), runs one implementation in it and tears it down.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use keel_lab::{Lab, LabOptions, LabProcess, Node, wait_until};

use crate::conf::{self, Conf, VIP, VRID};
use crate::daemon::{Binaries, Daemon, Impl};
use crate::monitor::{first_addr_event, first_neigh_event};
use crate::procfs::{self, CpuSample};
use crate::stats::{Rng, ms};
use crate::wire;

const LB1: &str = "192.0.2.1";
const POLL: Duration = Duration::from_millis(2);

/// Advert settings of one run.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub label: &'static str,
    pub version: u8,
    /// As written in the config.
    pub advert: &'static str,
    pub adv: Duration,
}

impl Mode {
    /// Skew_Time of the priority-90 backup in ms (RFC 5798 §6.1): how long
    /// after a priority-0 advert it takes over.
    pub fn skew_ms(&self) -> f64 {
        (256.0 - 90.0) * ms(self.adv) / 256.0
    }

    /// Master_Down_Interval of the priority-90 backup in ms (RFC 5798
    /// §6.1); after a crash the takeover is uniform in [MDI - adv, MDI].
    pub fn master_down_ms(&self) -> f64 {
        3.0 * ms(self.adv) + self.skew_ms()
    }

    /// Master_Down_Interval of the priority-90 backup (RFC 5798 §6.1) plus
    /// generous slack for a loaded 2-core machine; bounds every wait.
    fn takeover_bound(&self) -> Duration {
        self.adv * 4 + Duration::from_secs(3)
    }
}

struct Pair {
    lab: Lab,
    lb1: Node,
    lb2: Node,
    client: Node,
}

fn pair(hint: &str) -> Result<Pair> {
    let lab = Lab::with_options(
        hint,
        LabOptions {
            fixed_macs: true,
            ..LabOptions::default()
        },
    )?;
    let lb1 = lab.add_node("lb1", &["192.0.2.1/24"])?;
    let lb2 = lab.add_node("lb2", &["192.0.2.2/24"])?;
    let client = lab.add_node("client", &["192.0.2.100/24"])?;
    Ok(Pair {
        lab,
        lb1,
        lb2,
        client,
    })
}

fn conf(
    router: &str,
    mode: &Mode,
    priority: u8,
    instances: Vec<conf::Instance>,
    scripts: usize,
) -> String {
    Conf {
        router_id: router.to_string(),
        version: mode.version,
        advert: mode.advert.to_string(),
        priority,
        instances,
        scripts,
    }
    .render()
}

fn vip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50))
}

fn epoch_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn read(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// `ip -ts monitor WHAT` in `node`, with UTC timestamps.
fn monitor(node: &Node, what: &str) -> Result<LabProcess> {
    Ok(node.spawn("env", &["TZ=UTC", "ip", "-ts", "monitor", what])?)
}

/// Polls `probe` until it yields a value or `timeout` passes.
fn poll_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until `holder` has the VIP and `other` has not.
fn wait_holder(holder: &Node, other: &Node, timeout: Duration) -> Result<()> {
    let ok = wait_until(timeout, Duration::from_millis(5), || {
        holder.has_addr(vip()).unwrap_or(false) && !other.has_addr(vip()).unwrap_or(true)
    });
    if !ok {
        bail!(
            "{} did not become the only VIP holder within {timeout:?}",
            holder.name()
        );
    }
    Ok(())
}

/// Gives the client a fresh neighbour entry for the VIP pointing at `holder`.
fn prime_client(p: &Pair, holder: &Node) -> Result<()> {
    for _ in 0..5 {
        p.client.ping(vip())?;
        if p.client.neigh(vip())? == Some(holder.mac()) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "client's ARP entry for {VIP} does not point at {}",
        holder.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 3768 §6.1 / RFC 5798 §6.1 timers as keepalived computes them
    // (centisecond formula for both versions), cf. keepalived-probe.md §5.
    #[test]
    fn rfc_timers_for_priority_90() {
        let m = Mode {
            label: "",
            version: 2,
            advert: "1",
            adv: Duration::from_secs(1),
        };
        assert!((m.skew_ms() - 648.4375).abs() < 1e-9);
        assert!((m.master_down_ms() - 3648.4375).abs() < 1e-9);
        let fast = Mode {
            adv: Duration::from_millis(10),
            ..m
        };
        assert!((fast.master_down_ms() - 36.484375).abs() < 1e-9);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Kill,
    Term,
}

#[derive(Debug, Default)]
pub struct FailoverResult {
    /// Signal → VIP added on the backup, ms.
    pub kill_ms: Vec<f64>,
    pub term_ms: Vec<f64>,
    /// VIP added on the backup → client's entry has the backup's MAC, ms.
    pub arp_ms: Vec<f64>,
    pub notes: Vec<String>,
}

pub fn failover(
    bins: &Binaries,
    which: Impl,
    mode: &Mode,
    reps: usize,
    rng: &mut Rng,
) -> Result<FailoverResult> {
    let p = pair(&format!("fo{}", which.name()))?;
    let c1 = conf("lb1", mode, 100, conf::single(), 0);
    let c2 = conf("lb2", mode, 90, conf::single(), 0);
    let addr_mon = monitor(&p.lb2, "address")?;
    let neigh_mon = monitor(&p.client, "neigh")?;
    let backup = Daemon::start(&p.lab, &p.lb2, bins, which, &c2)?;
    backup.wait_ready(Duration::from_secs(5))?;
    let mut master = Daemon::start(&p.lab, &p.lb1, bins, which, &c1)?;
    master.wait_ready(Duration::from_secs(5))?;
    wait_holder(&p.lb1, &p.lb2, mode.takeover_bound() * 2)
        .with_context(|| format!("initial election; lb1 log:\n{}", master.log_tail(1500)))?;
    let lb2_mac = p.lb2.mac().to_string();

    let mut out = FailoverResult::default();
    for rep in 0..reps {
        for failure in [Failure::Kill, Failure::Term] {
            let last = rep + 1 == reps && failure == Failure::Term;
            prime_client(&p, &p.lb1)?;
            // Linux ignores ARP updates for an entry refreshed less than
            // locktime (1 s) ago; wait that out, then add a random share
            // of the advert interval so the failure phase varies.
            let delay = Duration::from_millis(1100) + mode.adv.mul_f64(rng.next_f64());
            std::thread::sleep(delay);
            let t0 = epoch_now();
            match failure {
                Failure::Kill => master.kill_hard()?,
                Failure::Term => master.term()?,
            }
            let added = poll_for(mode.takeover_bound(), || {
                first_addr_event(&read(addr_mon.stdout_path()), VIP, true, t0)
            });
            let Some(added) = added else {
                bail!(
                    "rep {rep} {failure:?}: lb2 never added {VIP}; lb2 log:\n{}",
                    backup.log_tail(1500)
                );
            };
            let took = ms(added.saturating_sub(t0));
            match failure {
                Failure::Kill => out.kill_ms.push(took),
                Failure::Term => out.term_ms.push(took),
            }
            // The second GARP burst comes 5 s after the first; beyond that
            // the client would only learn the MAC by its own ARP probes.
            let changed = poll_for(Duration::from_secs(7), || {
                first_neigh_event(&read(neigh_mon.stdout_path()), VIP, &lb2_mac, t0)
            });
            match changed {
                Some(t) => out.arp_ms.push(ms(t.saturating_sub(added))),
                None => out.notes.push(format!(
                    "rep {rep} {failure:?}: client's ARP entry never changed within 7 s"
                )),
            }
            master.reap(Duration::from_secs(5))?;
            if last {
                break;
            }
            master = Daemon::start(&p.lab, &p.lb1, bins, which, &c1)?;
            master.wait_ready(Duration::from_secs(5))?;
            wait_holder(&p.lb1, &p.lb2, mode.takeover_bound() * 2).with_context(|| {
                format!(
                    "rep {rep}: lb1 did not take the VIP back; log:\n{}",
                    master.log_tail(1500)
                )
            })?;
        }
    }
    for d in [&master, &backup] {
        note_warnings(d, &mut out.notes);
    }
    Ok(out)
}

/// Surfaces what a daemon said about the advert interval (keepalived
/// rounds values it does not accept).
fn note_warnings(d: &Daemon, notes: &mut Vec<String>) {
    for line in d.log().lines() {
        let l = line.to_ascii_lowercase();
        if l.contains("advert")
            && l.contains("interval")
            && !notes.iter().any(|n| n.ends_with(line))
        {
            notes.push(format!("{}: {}", d.which.name(), line.trim()));
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Footprint {
    pub rss_kb: u64,
    pub pss_kb: u64,
    pub processes: usize,
    /// CPU over the window from schedstat (all threads), ms.
    pub cpu_ms: f64,
    /// The same from utime+stime (clock ticks), ms.
    pub cpu_tick_ms: f64,
}

#[derive(Debug, Default)]
pub struct ResourceResult {
    pub master: Footprint,
    pub backup: Footprint,
    pub window: Duration,
    pub notes: Vec<String>,
}

fn footprint(pids: &[u32], before: CpuSample, after: CpuSample) -> Footprint {
    Footprint {
        rss_kb: pids.iter().filter_map(|p| procfs::rss_kb(*p)).sum(),
        pss_kb: pids.iter().filter_map(|p| procfs::pss_kb(*p)).sum(),
        processes: pids.len(),
        cpu_ms: after.sched_ns.saturating_sub(before.sched_ns) as f64 / 1e6,
        cpu_tick_ms: ms(procfs::tick()) * after.ticks.saturating_sub(before.ticks) as f64,
    }
}

fn vip_count(node: &Node) -> usize {
    node.ip_addrs(conf::IFACE)
        .map(|v| v.len().saturating_sub(1))
        .unwrap_or(0)
}

pub fn resources(
    bins: &Binaries,
    which: Impl,
    n: u8,
    window: Duration,
    settle: Duration,
) -> Result<ResourceResult> {
    let mode = Mode {
        label: "v2 1 s",
        version: 2,
        advert: "1",
        adv: Duration::from_secs(1),
    };
    let p = pair(&format!("res{}{n}", which.name()))?;
    let backup = Daemon::start(
        &p.lab,
        &p.lb2,
        bins,
        which,
        &conf("lb2", &mode, 90, conf::many(n), 0),
    )?;
    let master = Daemon::start(
        &p.lab,
        &p.lb1,
        bins,
        which,
        &conf("lb1", &mode, 100, conf::many(n), 0),
    )?;
    backup.wait_ready(Duration::from_secs(5))?;
    master.wait_ready(Duration::from_secs(5))?;
    let want = usize::from(n);
    let elected = wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
        vip_count(&p.lb1) == want && vip_count(&p.lb2) == 0
    });
    if !elected {
        bail!(
            "{n} instances: lb1 holds {} VIPs, lb2 {} after 15 s; lb1 log:\n{}",
            vip_count(&p.lb1),
            vip_count(&p.lb2),
            master.log_tail(1500)
        );
    }
    std::thread::sleep(settle);
    let (mp, bp) = (master.pids(), backup.pids());
    let (m0, b0) = (procfs::cpu_sample(&mp), procfs::cpu_sample(&bp));
    let start = Instant::now();
    std::thread::sleep(window);
    let (m1, b1) = (procfs::cpu_sample(&mp), procfs::cpu_sample(&bp));
    let elapsed = start.elapsed();
    let mut out = ResourceResult {
        master: footprint(&mp, m0, m1),
        backup: footprint(&bp, b0, b1),
        window: elapsed,
        notes: Vec::new(),
    };
    if vip_count(&p.lb1) != want || vip_count(&p.lb2) != 0 {
        out.notes.push(format!(
            "{n} instances: VIP ownership changed during the window"
        ));
    }
    Ok(out)
}

#[derive(Debug, Default)]
pub struct JitterResult {
    pub intervals_ms: Vec<f64>,
    /// The daemon's own CPU (not the scripts') over the window, ms.
    pub cpu_ms: f64,
    pub window: Duration,
    /// Script runs started per second during the window (distinct `sleep`
    /// children seen by sampling every 50 ms; each lives 500 ms).
    pub script_runs_per_s: f64,
}

/// Script processes (`sleep`) whose parent is one of `daemon_pids`, as
/// (pid, start time) so a recycled PID is not mistaken for the same run.
fn script_runs(daemon_pids: &[u32]) -> Vec<(u32, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let st = procfs::stat(pid)?;
            (st.comm == "sleep" && daemon_pids.contains(&st.ppid)).then_some((pid, st.start_ticks))
        })
        .collect()
}

pub fn jitter(
    bins: &Binaries,
    which: Impl,
    mode: &Mode,
    scripts: usize,
    window: Duration,
    settle: Duration,
) -> Result<JitterResult> {
    let p = pair(&format!("jit{}", which.name()))?;
    let master = Daemon::start(
        &p.lab,
        &p.lb1,
        bins,
        which,
        &conf("lb1", mode, 100, conf::single(), scripts),
    )?;
    master.wait_ready(Duration::from_secs(5))?;
    if !wait_until(mode.takeover_bound() * 2, Duration::from_millis(10), || {
        p.lb1.has_addr(vip()).unwrap_or(false)
    }) {
        bail!("lb1 never became master; log:\n{}", master.log_tail(1500));
    }
    // Let the script schedule reach its steady state.
    std::thread::sleep(settle);
    let cap = p
        .lab
        .capture(&p.client, &format!("ip proto 112 and src host {LB1}"))?;
    let pids = master.pids();
    let c0 = procfs::cpu_sample(&pids);
    let start = Instant::now();
    let mut runs = std::collections::HashSet::new();
    while start.elapsed() < window {
        runs.extend(script_runs(&pids));
        std::thread::sleep(Duration::from_millis(50));
    }
    let c1 = procfs::cpu_sample(&pids);
    let elapsed = start.elapsed();
    let packets = cap.stop()?;
    let lb1: Ipv4Addr = LB1.parse().map_err(|e| anyhow!("{e}"))?;
    let times = wire::advert_times(&packets, lb1, VRID);
    Ok(JitterResult {
        intervals_ms: wire::intervals_ms(&times),
        cpu_ms: c1.sched_ns.saturating_sub(c0.sched_ns) as f64 / 1e6,
        window: elapsed,
        script_runs_per_s: runs.len() as f64 / elapsed.as_secs_f64(),
    })
}
