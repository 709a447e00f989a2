//! `keel lab demo`: the seed tutorial on real interfaces in throw-away
//! network-namespace labs. Part 1 is S1 (two directors running keel's VRRP
//! master/backup pair and a client); part 2 is S3 (the same pair as LVS
//! directors in front of two nginx real servers, with HTTP checks and a sorry
//! page), see [`lb`].

mod lb;

use keel_lab::{Lab, LabOptions, LabProcess, LabSignal, Node, wait_until};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.111";
const NODE1_CONF: &str = include_str!("../../../examples/seed/s1-node1.conf");
const NODE2_CONF: &str = include_str!("../../../examples/seed/s1-node2.conf");

struct Director {
    name: &'static str,
    node: Node,
    conf: PathBuf,
    /// The running keel, or the last one after a signal (its log is still read).
    proc: Option<LabProcess>,
    running: bool,
    /// Bytes of the current process's log already shown or passed over.
    seen: usize,
}

impl Director {
    fn start(&mut self, keel: &Path, dir: &Path) -> anyhow::Result<()> {
        let pid = dir.join(format!("{}.pid", self.name));
        let vpid = dir.join(format!("{}-vrrp.pid", self.name));
        let p = self.node.spawn(
            &keel.display().to_string(),
            &[
                "-n",
                "-l",
                "-D",
                "-G",
                "-f",
                &self.conf.display().to_string(),
                "-p",
                &pid.display().to_string(),
                "-r",
                &vpid.display().to_string(),
            ],
        )?;
        self.proc = Some(p);
        self.running = true;
        self.seen = 0;
        Ok(())
    }
    fn signal(&mut self, sig: LabSignal) -> anyhow::Result<()> {
        if self.running
            && let Some(p) = &self.proc
        {
            p.kill(sig)?;
            let _ = p.wait_timeout(Duration::from_secs(3));
            self.running = false;
        }
        Ok(())
    }
    fn holds(&self, vip: IpAddr) -> bool {
        self.node.has_addr(vip).unwrap_or(false)
    }
    /// The state-change lines this director logged during `step` and not
    /// shown yet; every earlier line is passed over for good.
    fn fresh(&mut self, step: &Step) -> Vec<String> {
        // keel's console log (-l) goes to stderr.
        let log = self
            .proc
            .as_ref()
            .and_then(|p| p.stderr().ok())
            .unwrap_or_default();
        let Some(end) = log.rfind('\n').map(|i| i + 1) else {
            return Vec::new();
        };
        let new = log.get(self.seen..end).unwrap_or_default();
        self.seen = end;
        new.lines()
            .filter(|l| l.contains("VRRP_") || l.contains("Stopp"))
            .filter(|l| step.covers(l))
            .map(str::to_string)
            .collect()
    }
}

/// A numbered step of the demo. Its heading carries the time it began, and
/// only log lines stamped at or after that time are shown under it, so a
/// line always belongs to the step it is printed in.
pub(crate) struct Step {
    began: String,
}

impl Step {
    pub(crate) fn begin(title: &str) -> Step {
        let began = keel_daemon::logging::utc_timestamp(std::time::SystemTime::now());
        println!("\n{title} [{began}]");
        Step { began }
    }

    /// Whether a line of keel's console log (`TIMESTAMP LEVEL message`) was
    /// logged during this step. The stamps are fixed-width UTC, so they
    /// compare as strings.
    pub(crate) fn covers(&self, line: &str) -> bool {
        line.split(' ')
            .next()
            .is_some_and(|ts| ts.len() == self.began.len() && ts >= self.began.as_str())
    }

    /// Prints, under the step, the lines the given directors logged during
    /// it; the other directors' lines of the step are passed over.
    fn show(&self, dirs: &mut [Director], about: &[&str]) {
        for d in dirs.iter_mut() {
            let lines = d.fresh(self);
            if about.contains(&d.name) {
                for line in lines {
                    println!("    [{}] {line}", d.name);
                }
            }
        }
    }
}

fn wait_holder(d: &Director, vip: IpAddr, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    wait_until(limit, Duration::from_millis(2), || d.holds(vip)).then(|| t0.elapsed())
}

fn show(dirs: &[Director], vip: IpAddr) {
    let holders: Vec<&str> = dirs
        .iter()
        .filter(|d| d.holds(vip))
        .map(|d| d.name)
        .collect();
    println!(
        "  VIP {vip} is on: {}",
        if holders.is_empty() {
            "nobody".to_string()
        } else {
            holders.join(", ")
        }
    );
}

/// Which parts of the demo to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    All,
    VrrpOnly,
    LbOnly,
}

pub fn run(part: Part) -> anyhow::Result<i32> {
    let keel = std::env::current_exe()?;
    if part != Part::LbOnly {
        vrrp(&keel)?;
    }
    if part != Part::VrrpOnly {
        if part == Part::All {
            println!();
        }
        lb::run(&keel)?;
    }
    println!("\ndone: every namespace and process of the demo is gone");
    Ok(0)
}

impl Director {
    fn new(name: &'static str, node: Node, conf: PathBuf) -> Director {
        Director {
            name,
            node,
            conf,
            proc: None,
            running: false,
            seen: 0,
        }
    }
}

/// The S1 lab: node1, node2 and a client on one bridge, the tutorial's
/// configs written into the lab's directory.
fn s1_lab() -> anyhow::Result<(Lab, [Director; 2], Node)> {
    let lab = Lab::with_options(
        "demo",
        LabOptions {
            fixed_macs: true,
            ..LabOptions::default()
        },
    )?;
    let n1 = lab.add_node("node1", &["192.0.2.3/24"])?;
    let n2 = lab.add_node("node2", &["192.0.2.5/24"])?;
    let client = lab.add_node("client", &["192.0.2.100/24"])?;
    let dir = lab.dir().to_path_buf();
    let c1 = dir.join("node1.conf");
    let c2 = dir.join("node2.conf");
    std::fs::write(&c1, NODE1_CONF)?;
    std::fs::write(&c2, NODE2_CONF)?;
    println!(
        "keel demo, part 1 (S1): the tutorial's master/backup pair (VRRPv2, VRID 101, advert_int 1, VIP {VIP})"
    );
    println!(
        "  node1 192.0.2.3 priority 100 (MAC {}), node2 192.0.2.5 priority 90 (MAC {}), client 192.0.2.100",
        n1.mac(),
        n2.mac()
    );
    let d = [
        Director::new("node1", n1, c1),
        Director::new("node2", n2, c2),
    ];
    Ok((lab, d, client))
}

/// S1: start order, preemption, kill, restart, graceful stop.
fn vrrp(keel: &Path) -> anyhow::Result<()> {
    let vip: IpAddr = VIP.parse()?;
    let (lab, mut d, client) = s1_lab()?;
    let dir = lab.dir().to_path_buf();

    let step = Step::begin(
        "1. Start node2 alone: no master is heard, it takes the VIP after Master_Down (3 x 1 s + skew)",
    );
    d[1].start(keel, &dir)?;
    match wait_holder(&d[1], vip, Duration::from_secs(8)) {
        Some(t) => println!("  node2 holds the VIP after {:.3} s", t.as_secs_f64()),
        None => anyhow::bail!("node2 never took the VIP"),
    }
    show(&d, vip);
    step.show(&mut d, &["node2"]);

    let step = Step::begin("2. Start node1 (priority 100): it preempts");
    d[0].start(keel, &dir)?;
    let t = wait_holder(&d[0], vip, Duration::from_secs(8))
        .ok_or_else(|| anyhow::anyhow!("node1 never preempted"))?;
    println!(
        "  node1 holds the VIP {:.3} s after its start",
        t.as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(100));
    show(&d, vip);
    let _ = client.exec(
        "arping",
        &["-c", "1", "-w", "1", "-I", client.ifname(), VIP],
    );
    if let Ok(Some(mac)) = client.neigh(vip) {
        println!("  client's ARP entry for the VIP: {mac} (node1)");
    }
    step.show(&mut d, &["node1", "node2"]);

    let step = Step::begin(
        "3. SIGKILL node1's keel: node2 takes over after Master_Down from node1's last advert",
    );
    let t0 = Instant::now();
    d[0].signal(LabSignal::SIGKILL)?;
    wait_holder(&d[1], vip, Duration::from_secs(8))
        .ok_or_else(|| anyhow::anyhow!("node2 never took over"))?;
    println!(
        "  node2 holds the VIP {:.3} s after the kill (Master_Down is 3.648 s after node1's last advert)",
        t0.elapsed().as_secs_f64()
    );
    println!(
        "  node1 still has the VIP configured: {} (a killed process cannot clean up)",
        d[0].holds(vip)
    );
    std::thread::sleep(Duration::from_millis(300));
    if let Ok(Some(mac)) = client.neigh(vip) {
        println!("  client's ARP entry for the VIP now: {mac} (node2's gratuitous ARP)");
    }
    step.show(&mut d, &["node1", "node2"]);

    let step = Step::begin(
        "4. Restart node1: it first removes the VIP a killed run left behind, then preempts again",
    );
    d[0].start(keel, &dir)?;
    std::thread::sleep(Duration::from_millis(200));
    show(&d, vip);
    let t = wait_holder(&d[0], vip, Duration::from_secs(8))
        .ok_or_else(|| anyhow::anyhow!("node1 never preempted"))?;
    println!(
        "  node1 holds the VIP again {:.3} s after its restart",
        t.as_secs_f64() + 0.2
    );
    std::thread::sleep(Duration::from_millis(100));
    show(&d, vip);

    step.show(&mut d, &["node1", "node2"]);

    let step = Step::begin(
        "5. SIGTERM node1: it sends priority 0, node2 takes over after the skew time only",
    );
    let t0 = Instant::now();
    d[0].signal(LabSignal::SIGTERM)?;
    wait_holder(&d[1], vip, Duration::from_secs(5))
        .ok_or_else(|| anyhow::anyhow!("node2 never took over"))?;
    println!(
        "  node2 holds the VIP {:.3} s after the signal (skew for priority 90: 0.648 s)",
        t0.elapsed().as_secs_f64()
    );
    show(&d, vip);
    step.show(&mut d, &["node1", "node2"]);

    let step = Step::begin("6. Stop node2 and tear the lab down");
    d[1].signal(LabSignal::SIGTERM)?;
    step.show(&mut d, &["node2"]);
    drop(lab);
    Ok(())
}
