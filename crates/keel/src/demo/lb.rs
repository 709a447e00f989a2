//! Part 2 of `keel lab demo`: the seed tutorial's S3 on this machine's
//! kernel. Two directors run keel with the tutorial's S3 configuration (VIP
//! 192.0.2.144, LVS direct routing, HTTP checks, a local sorry server) in
//! front of two nginx real servers, and a client curls the VIP while web
//! servers and a director go away and come back.
//!
//! The lab is `keel_lab::s3`'s, shared with the `lvs_s3_*` end-to-end tests; here every
//! wait is bounded and failures become errors instead of assertions, so the
//! lab is always torn down.

use anyhow::bail;
use keel_lab::s3::{self, S3Lab, SHORTENED, VIP, WEB1, WEB2};
use keel_lab::{Lab, Node, wait_until};
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::Step;

/// Bound on every wait for a check result, a log line or a VIP move.
const WAIT: Duration = Duration::from_secs(10);
/// Bound on waits for the client's answers to settle after a change.
const SETTLE: Duration = Duration::from_secs(6);
/// How long a stopped web server gets before SIGKILL.
const WEB_GRACE: Duration = Duration::from_secs(3);

fn sorry_page(director: &str) -> String {
    format!("sorry page of director {director}")
}

/// keel on a director; its log is read back for the lines worth showing.
struct Director {
    name: &'static str,
    keel: s3::Director,
    /// Bytes of the log already looked at by [`Director::events`].
    seen: usize,
}

impl Director {
    fn new(lab: &Lab, name: &'static str, node: &Node, keel: &Path) -> anyhow::Result<Director> {
        let n = if name == "one" { 1 } else { 2 };
        Ok(Director {
            name,
            keel: s3::Director::new(lab, node, keel, &s3::conf(n, &[])?)?,
            seen: 0,
        })
    }

    fn start(&mut self) -> anyhow::Result<()> {
        self.keel.start(&[])?;
        self.seen = 0;
        Ok(())
    }

    fn log(&self) -> String {
        self.keel.log()
    }

    fn wait_log(&self, needle: &str) -> anyhow::Result<()> {
        if !self.keel.wait_log(needle, WAIT) {
            bail!(
                "director {}: {needle:?} not logged within {WAIT:?}; log:\n{}",
                self.name,
                self.log()
            );
        }
        Ok(())
    }

    fn holds_vip(&self) -> bool {
        VIP.parse::<IpAddr>()
            .is_ok_and(|vip| self.keel.has_addr(vip).unwrap_or(false))
    }

    /// Prints the log lines since the last call that tell the story: state
    /// changes, data plane, check failures and table changes.
    fn events(&mut self, step: &Step) {
        for line in self.fresh_lines(step) {
            println!("    [{}] {line}", self.name);
        }
    }

    /// Complete log lines worth showing that were not looked at yet and
    /// were logged during `step`.
    fn fresh_lines(&mut self, step: &Step) -> Vec<String> {
        let log = self.log();
        let Some(end) = log.rfind('\n').map(|i| i + 1) else {
            return Vec::new();
        };
        let fresh = log.get(self.seen..end).unwrap_or_default();
        self.seen = end;
        // DEBUG lines (-D) repeat every table change in Rust debug form.
        fresh
            .lines()
            .filter(|l| !l.contains(" DEBUG ") && step.covers(l))
            .filter(|l| {
                [
                    "Entering MASTER STATE",
                    "data plane",
                    "load balancer not started",
                    "failed.",
                    "failed after",
                    "Removing service",
                    "Adding service",
                    "sorry server",
                    "load-balancer table",
                ]
                .iter()
                .any(|k| l.contains(k))
            })
            .map(str::to_string)
            .collect()
    }

    /// `keel lvs` in the director's namespace, indented.
    fn lvs(&self) -> anyhow::Result<String> {
        let text = self.keel.lvs(false)?;
        Ok(text.lines().map(|l| format!("    {l}\n")).collect())
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        if !self.keel.stop(Duration::from_secs(5))? {
            bail!("director {}: keel did not exit on SIGTERM", self.name);
        }
        Ok(())
    }
}

/// The backup checks the real servers too and changes its own table the
/// same way; saying so once per step keeps the output to the master's story.
fn backup_note(backup: &mut Director, step: &Step) {
    let n = backup.fresh_lines(step).len();
    if n > 0 {
        println!(
            "    [{}] ({n} similar lines: the backup runs the same checks, so its table is ready for a takeover)",
            backup.name
        );
    }
}

/// One curl of the VIP from the client: the page, or curl's error.
fn curl(client: &Node) -> String {
    s3::curl_vip(client, VIP, 2)
}

fn print_curls(pages: &[String]) {
    for p in pages {
        println!("    curl http://{VIP}/ -> {p}");
    }
}

/// Curls until six answers in a row are `page` (the table and the client's
/// ARP entry may need a moment after a change), then prints those six.
fn six_of(client: &Node, page: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + SETTLE;
    let mut run = Vec::new();
    let mut last = String::new();
    while run.len() < 6 {
        if Instant::now() >= deadline {
            bail!("expected only {page:?} within {SETTLE:?}; last answer: {last:?}");
        }
        last = curl(client);
        if last == page {
            run.push(last.clone());
        } else {
            run.clear();
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    print_curls(&run);
    Ok(())
}

/// Batches of six curls until both web pages have answered, each batch
/// printed: flows are spread by hash on nftables, so one batch may land on
/// a single server.
fn six_of_both(client: &Node) -> anyhow::Result<()> {
    let deadline = Instant::now() + SETTLE;
    let (mut one, mut two) = (false, false);
    for batch in 0.. {
        let pages: Vec<String> = (0..6).map(|_| curl(client)).collect();
        if batch > 0 {
            println!("    (all six went to one server; six more)");
        }
        print_curls(&pages);
        if let Some(p) = pages.iter().find(|p| *p != WEB1 && *p != WEB2) {
            bail!("unexpected answer {p:?}");
        }
        one |= pages.iter().any(|p| p == WEB1);
        two |= pages.iter().any(|p| p == WEB2);
        if one && two {
            break;
        }
        if Instant::now() >= deadline {
            bail!("only one web server answered within {SETTLE:?}");
        }
    }
    Ok(())
}

/// Step 1: the S3 lab with its real servers prepared for direct routing,
/// the web servers and sorry servers running, and keel set up (not started)
/// on both directors.
fn prepare(keel: &Path) -> anyhow::Result<(S3Lab, Director, Director)> {
    println!(
        "keel demo, part 2 (S3): the tutorial's load balancer, LVS direct routing with HTTP checks and a sorry server"
    );
    println!(
        "  directors one 192.0.2.3 (MASTER, priority 100) and two 192.0.2.5 (BACKUP, priority 90), VIP {VIP} (VRID 22)"
    );
    println!(
        "  real servers rs1 192.0.2.11 ({WEB1:?}) and rs2 192.0.2.12 ({WEB2:?}) run nginx; client 192.0.2.10"
    );

    Step::begin(&format!(
        "1. Prepare the real servers for direct routing (as `keel realserver --vip {VIP}` does) and start the web servers"
    ));
    let (mut s, prepared) = S3Lab::new("demolb", |vip| keel_nft::realserver::prepare(vip, "lo"))?;
    for (rs, actions) in [&s.rs1, &s.rs2].into_iter().zip(prepared) {
        for act in actions {
            println!("  {}: {act}", rs.name());
        }
    }
    s.add_sorry(1, &sorry_page("one"))?;
    s.add_sorry(2, &sorry_page("two"))?;
    println!(
        "  nginx on rs1 and rs2 serve their page; on each director nginx serves {:?} / {:?}, the sorry_server 127.0.0.1:80",
        sorry_page("one"),
        sorry_page("two")
    );

    let d1 = Director::new(&s.lab, "one", &s.one, keel)?;
    let d2 = Director::new(&s.lab, "two", &s.two, keel)?;
    let shortened: Vec<String> = SHORTENED
        .iter()
        .map(|(from, to)| format!("{from} -> {}", to.rsplit(' ').next().unwrap_or(to)))
        .collect();
    println!(
        "  configs: examples/seed/s3-node1.conf and s3-node2.conf with the check timers shortened so failures show within seconds:"
    );
    println!("    {}", shortened.join(", "));
    println!(
        "    (written to keel-one.conf and keel-two.conf in {})",
        s.lab.dir().display()
    );
    Ok((s, d1, d2))
}

pub fn run(keel: &Path) -> anyhow::Result<()> {
    let (mut s, mut d1, mut d2) = prepare(keel)?;

    let step = Step::begin(
        "2. Start keel on both directors: one takes the VIP, both run the load balancer",
    );
    d1.start()?;
    d2.start()?;
    if !wait_until(WAIT, Duration::from_millis(20), || d1.holds_vip()) {
        bail!("director one never took the VIP; log:\n{}", d1.log());
    }
    d1.wait_log("Starting the load balancer")?;
    d2.wait_log("Starting the load balancer")?;
    let checked = wait_until(WAIT, Duration::from_millis(100), || {
        d1.lvs().is_ok_and(|t| t.matches("ok: ").count() >= 2)
    });
    if !checked {
        bail!(
            "the real servers were not checked within {WAIT:?}; log:\n{}",
            d1.log()
        );
    }
    d1.events(&step);
    d2.events(&step);
    println!("  `keel lvs` on one (the master):");
    print!("{}", d1.lvs()?);
    let nft = d1.log().contains("on the nftables data plane");
    if nft {
        println!(
            "  (this kernel has no IPVS, so keel runs its nftables data plane: DR picks the real server by a hash of the flow, so answers do not strictly alternate)"
        );
    } else {
        println!(
            "  (this kernel has IPVS: keel programs it, `ipvsadm -ln` in the namespace shows the same table)"
        );
    }

    Step::begin("3. Six curls from the client through the VIP");
    six_of_both(&s.client)?;

    let step = Step::begin(
        "4. Stop web 2 (nginx on rs2): its HTTP check fails and keel takes it out of the table",
    );
    s.web2.stop(WEB_GRACE)?;
    d1.wait_log("Removing service [192.0.2.12]:tcp:80")?;
    d1.events(&step);
    backup_note(&mut d2, &step);
    six_of(&s.client, WEB1)?;
    println!("  `keel lvs` on one:");
    print!("{}", d1.lvs()?);

    let step = Step::begin(
        "5. Stop web 1 too: no real server is left, the master's sorry server takes over",
    );
    s.web1.stop(WEB_GRACE)?;
    d1.wait_log("Adding sorry server")?;
    d1.events(&step);
    backup_note(&mut d2, &step);
    six_of(&s.client, &sorry_page("one"))?;

    let step = Step::begin(
        "6. Stop keel on director one (SIGTERM): two takes the VIP and answers with its own sorry page",
    );
    let t0 = Instant::now();
    d1.stop()?;
    if !wait_until(WAIT, Duration::from_millis(20), || d2.holds_vip()) {
        bail!("director two never took the VIP; log:\n{}", d2.log());
    }
    let took = t0.elapsed();
    d1.events(&step);
    d2.events(&step);
    println!(
        "  two holds the VIP {:.3} s after the signal",
        took.as_secs_f64()
    );
    six_of(&s.client, &sorry_page("two"))?;

    let step =
        Step::begin("7. Start both web servers again: two's checks see them and put them back");
    s.web1.start()?;
    s.web2.start()?;
    d2.wait_log("Adding service [192.0.2.11]:tcp:80")?;
    d2.wait_log("Adding service [192.0.2.12]:tcp:80")?;
    d2.events(&step);
    let back = wait_until(SETTLE, Duration::from_millis(100), || {
        let p = curl(&s.client);
        p == WEB1 || p == WEB2
    });
    if !back {
        bail!("no web page through the VIP after the web servers came back");
    }
    six_of_both(&s.client)?;
    println!("  `keel lvs` on two (the master now):");
    print!("{}", d2.lvs()?);

    let step = Step::begin("8. Stop keel on two and the web servers, tear the lab down");
    d2.stop()?;
    d2.events(&step);
    for w in [&mut s.web1, &mut s.web2]
        .into_iter()
        .chain(s.sorry.iter_mut())
    {
        w.stop(WEB_GRACE)?;
    }
    drop(s);
    Ok(())
}
