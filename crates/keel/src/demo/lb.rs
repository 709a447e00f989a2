//! Part 2 of `keel lab demo`: the seed tutorial's S3 on this machine's
//! kernel. Two directors run keel with the tutorial's S3 configuration (VIP
//! 192.0.2.144, LVS direct routing, HTTP checks, a local sorry server) in
//! front of two nginx real servers, and a client curls the VIP while web
//! servers and a director go away and come back.
//!
//! The approach is the one of the `lvs_s3_nft` end-to-end test; here every
//! wait is bounded and failures become errors instead of assertions, so the
//! lab is always torn down.

use anyhow::{Context, bail};
use keel_lab::{Lab, LabProcess, LabSignal, Node, wait_until};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.144";
const WEB1: &str = "this is web 1";
const WEB2: &str = "this is web 2";
const NODE1_CONF: &str = include_str!("../../../../examples/seed/s3-node1.conf");
const NODE2_CONF: &str = include_str!("../../../../examples/seed/s3-node2.conf");

/// The seed's check timers and the demo's: with the seed's, a stopped web
/// server leaves the table only after about ten seconds of retries.
const SHORTENED: [(&str, &str); 4] = [
    ("delay_loop 3", "delay_loop 1"),
    ("connect_timeout 3", "connect_timeout 1"),
    ("nb_get_retry 3", "nb_get_retry 1"),
    ("delay_before_retry 3", "delay_before_retry 1"),
];

/// Bound on every wait for a check result, a log line or a VIP move.
const WAIT: Duration = Duration::from_secs(10);
/// Bound on waits for the client's answers to settle after a change.
const SETTLE: Duration = Duration::from_secs(6);

/// The seed's S3 configuration with the demo's short check timers.
fn demo_conf(seed: &str) -> anyhow::Result<String> {
    let mut text = seed.to_string();
    for (from, to) in SHORTENED {
        if !text.contains(from) {
            bail!("{from:?} is not in the seed's S3 configuration");
        }
        text = text.replace(from, to);
    }
    Ok(text)
}

fn sorry_page(director: &str) -> String {
    format!("sorry page of director {director}")
}

/// nginx serving one page on port 80 of a node, with its pid file, logs and
/// temporary files in the lab directory.
struct Web {
    node: Node,
    conf: PathBuf,
    dir: PathBuf,
    proc: Option<LabProcess>,
}

impl Web {
    fn new(lab: &Lab, node: &Node, page: &str) -> anyhow::Result<Web> {
        let dir = lab.dir().join(format!("nginx-{}", node.name()));
        std::fs::create_dir_all(dir.join("html"))?;
        std::fs::create_dir_all(dir.join("tmp"))?;
        std::fs::write(dir.join("html/index.html"), format!("{page}\n"))?;
        let d = dir.display();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "user root;\nworker_processes 1;\nmaster_process off;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n\
                 proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n\
                 uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
                 server {{ listen 80; root {d}/html; }}\n}}\n"
            ),
        )?;
        let mut web = Web {
            node: node.clone(),
            conf,
            dir,
            proc: None,
        };
        web.start()?;
        Ok(web)
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let conf = self.conf.to_string_lossy().into_owned();
        let prefix = self.dir.to_string_lossy().into_owned();
        let err = self.dir.join("error.log").to_string_lossy().into_owned();
        let p = self.node.spawn(
            "nginx",
            &["-p", &prefix, "-e", &err, "-c", &conf, "-g", "daemon off;"],
        )?;
        let addr = self
            .node
            .ipv4()
            .context("lab node without an IPv4 address")?;
        let url = format!("http://{addr}/");
        let up = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            self.node
                .curl(&url)
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        let stderr = p.stderr().unwrap_or_default();
        self.proc = Some(p);
        if !up {
            bail!(
                "nginx on {} did not answer within 5 s: {stderr}{}",
                self.node.name(),
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        Ok(())
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(p) = self.proc.take() {
            p.stop(Duration::from_secs(3))?;
        }
        Ok(())
    }
}

/// keel with keepalived's flags on a director; its log is read back for
/// the lines worth showing.
struct Director {
    name: &'static str,
    node: Node,
    stem: PathBuf,
    proc: Option<LabProcess>,
    /// Bytes of the log already looked at by [`Director::events`].
    seen: usize,
}

impl Director {
    fn new(lab: &Lab, name: &'static str, node: Node, conf: &str) -> anyhow::Result<Director> {
        let stem = lab.dir().join(format!("keel-{name}"));
        std::fs::write(stem.with_extension("conf"), conf)?;
        Ok(Director {
            name,
            node,
            stem,
            proc: None,
            seen: 0,
        })
    }

    fn path(&self, ext: &str) -> String {
        self.stem.with_extension(ext).to_string_lossy().into_owned()
    }

    /// keel and `keel lvs` find the state file through the environment, so
    /// the two directors sharing this file system keep theirs apart.
    fn state_env(&self) -> String {
        format!(
            "{}={}",
            keel_daemon::lvs::STATE_FILE_ENV,
            self.path("lvs.json")
        )
    }

    fn start(&mut self, keel: &Path) -> anyhow::Result<()> {
        let keel = keel.to_string_lossy();
        let args = [
            self.state_env(),
            keel.into_owned(),
            "-n".into(),
            "-l".into(),
            "-D".into(),
            "-G".into(),
            "-f".into(),
            self.path("conf"),
            "-p".into(),
            self.path("pid"),
            "-r".into(),
            self.path("vrrp.pid"),
            "-c".into(),
            self.path("chk.pid"),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.proc = Some(self.node.spawn("env", &args)?);
        self.seen = 0;
        Ok(())
    }

    /// keel logs to stderr with `-l`.
    fn log(&self) -> String {
        self.proc
            .as_ref()
            .and_then(|p| p.stderr().ok())
            .unwrap_or_default()
    }

    fn wait_log(&self, needle: &str) -> anyhow::Result<()> {
        if !wait_until(WAIT, Duration::from_millis(50), || {
            self.log().contains(needle)
        }) {
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
            .is_ok_and(|vip| self.node.has_addr(vip).unwrap_or(false))
    }

    /// Prints the log lines since the last call that tell the story: state
    /// changes, data plane, check failures and table changes.
    fn events(&mut self) {
        for line in self.fresh_lines() {
            println!("    [{}] {line}", self.name);
        }
    }

    /// Complete log lines worth showing that were not looked at yet.
    fn fresh_lines(&mut self) -> Vec<String> {
        let log = self.log();
        let Some(end) = log.rfind('\n').map(|i| i + 1) else {
            return Vec::new();
        };
        let fresh = log.get(self.seen..end).unwrap_or_default();
        self.seen = end;
        // DEBUG lines (-D) repeat every table change in Rust debug form.
        fresh
            .lines()
            .filter(|l| !l.contains(" DEBUG "))
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
    fn lvs(&self, keel: &Path) -> anyhow::Result<String> {
        let env = self.state_env();
        let keel = keel.to_string_lossy();
        let out = self.node.exec("env", &[&env, &keel, "lvs"])?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(text.lines().map(|l| format!("    {l}\n")).collect())
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(p) = &self.proc {
            p.kill(LabSignal::SIGTERM)?;
            if p.wait_timeout(Duration::from_secs(5))?.is_none() {
                bail!("director {}: keel did not exit on SIGTERM", self.name);
            }
        }
        Ok(())
    }
}

/// The backup checks the real servers too and changes its own table the
/// same way; saying so once per step keeps the output to the master's story.
fn backup_note(backup: &mut Director) {
    let n = backup.fresh_lines().len();
    if n > 0 {
        println!(
            "    [{}] ({n} similar lines: the backup runs the same checks, so its table is ready for a takeover)",
            backup.name
        );
    }
}

/// One curl of the VIP from the client: the page, or curl's error.
fn curl(client: &Node) -> String {
    let url = format!("http://{VIP}/");
    match client.exec("curl", &["-sS", "-m", "2", &url]) {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => format!(
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("curl failed: {e}"),
    }
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

pub fn run(keel: &Path) -> anyhow::Result<()> {
    let vip: IpAddr = VIP.parse()?;
    let lab = Lab::new("demolb")?;
    let one = lab.add_node("one", &["192.0.2.3/24"])?;
    let two = lab.add_node("two", &["192.0.2.5/24"])?;
    let client = lab.add_node("client", &["192.0.2.10/24"])?;
    let rs1 = lab.add_node("rs1", &["192.0.2.11/24"])?;
    let rs2 = lab.add_node("rs2", &["192.0.2.12/24"])?;
    let mut d1 = Director::new(&lab, "one", one.clone(), &demo_conf(NODE1_CONF)?)?;
    let mut d2 = Director::new(&lab, "two", two.clone(), &demo_conf(NODE2_CONF)?)?;

    println!(
        "keel demo, part 2 (S3): the tutorial's load balancer, LVS direct routing with HTTP checks and a sorry server"
    );
    println!(
        "  directors one 192.0.2.3 (MASTER, priority 100) and two 192.0.2.5 (BACKUP, priority 90), VIP {VIP} (VRID 22)"
    );
    println!(
        "  real servers rs1 192.0.2.11 ({WEB1:?}) and rs2 192.0.2.12 ({WEB2:?}) run nginx; client 192.0.2.10"
    );
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
        lab.dir().display()
    );

    println!(
        "\n1. Prepare the real servers for direct routing (as `keel realserver --vip {VIP}` does) and start the web servers"
    );
    for rs in [&rs1, &rs2] {
        let actions = rs
            .run_in(move || keel_nft::realserver::prepare(vip, "lo"))?
            .with_context(|| format!("preparing {} for direct routing", rs.name()))?;
        for act in actions {
            println!("  {}: {act}", rs.name());
        }
    }
    let mut web1 = Web::new(&lab, &rs1, WEB1)?;
    let mut web2 = Web::new(&lab, &rs2, WEB2)?;
    let mut sorry = [
        Web::new(&lab, &one, &sorry_page("one"))?,
        Web::new(&lab, &two, &sorry_page("two"))?,
    ];
    println!(
        "  nginx on rs1 and rs2 serve their page; on each director nginx serves {:?} / {:?}, the sorry_server 127.0.0.1:80",
        sorry_page("one"),
        sorry_page("two")
    );

    println!("\n2. Start keel on both directors: one takes the VIP, both run the load balancer");
    d1.start(keel)?;
    d2.start(keel)?;
    if !wait_until(WAIT, Duration::from_millis(20), || d1.holds_vip()) {
        bail!("director one never took the VIP; log:\n{}", d1.log());
    }
    d1.wait_log("Starting the load balancer")?;
    d2.wait_log("Starting the load balancer")?;
    let checked = wait_until(WAIT, Duration::from_millis(100), || {
        d1.lvs(keel).is_ok_and(|t| t.matches("ok: ").count() >= 2)
    });
    if !checked {
        bail!(
            "the real servers were not checked within {WAIT:?}; log:\n{}",
            d1.log()
        );
    }
    d1.events();
    d2.events();
    println!("  `keel lvs` on one (the master):");
    print!("{}", d1.lvs(keel)?);
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

    println!("\n3. Six curls from the client through the VIP");
    six_of_both(&client)?;

    println!(
        "\n4. Stop web 2 (nginx on rs2): its HTTP check fails and keel takes it out of the table"
    );
    web2.stop()?;
    d1.wait_log("Removing service [192.0.2.12]:tcp:80")?;
    d1.events();
    backup_note(&mut d2);
    six_of(&client, WEB1)?;
    println!("  `keel lvs` on one:");
    print!("{}", d1.lvs(keel)?);

    println!("\n5. Stop web 1 too: no real server is left, the master's sorry server takes over");
    web1.stop()?;
    d1.wait_log("Adding sorry server")?;
    d1.events();
    backup_note(&mut d2);
    six_of(&client, &sorry_page("one"))?;

    println!(
        "\n6. Stop keel on director one (SIGTERM): two takes the VIP and answers with its own sorry page"
    );
    let t0 = Instant::now();
    d1.stop()?;
    if !wait_until(WAIT, Duration::from_millis(20), || d2.holds_vip()) {
        bail!("director two never took the VIP; log:\n{}", d2.log());
    }
    let took = t0.elapsed();
    d1.events();
    d2.events();
    println!(
        "  two holds the VIP {:.3} s after the signal",
        took.as_secs_f64()
    );
    six_of(&client, &sorry_page("two"))?;

    println!("\n7. Start both web servers again: two's checks see them and put them back");
    web1.start()?;
    web2.start()?;
    d2.wait_log("Adding service [192.0.2.11]:tcp:80")?;
    d2.wait_log("Adding service [192.0.2.12]:tcp:80")?;
    d2.events();
    let back = wait_until(SETTLE, Duration::from_millis(100), || {
        let p = curl(&client);
        p == WEB1 || p == WEB2
    });
    if !back {
        bail!("no web page through the VIP after the web servers came back");
    }
    six_of_both(&client)?;
    println!("  `keel lvs` on two (the master now):");
    print!("{}", d2.lvs(keel)?);

    println!("\n8. Stop keel on two and the web servers, tear the lab down");
    d2.stop()?;
    d2.events();
    for w in [&mut web1, &mut web2].into_iter().chain(sorry.iter_mut()) {
        w.stop()?;
    }
    drop(lab);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_configs_shorten_every_check_timer_of_the_seed() {
        for seed in [NODE1_CONF, NODE2_CONF] {
            let text = demo_conf(seed).unwrap();
            for (from, to) in SHORTENED {
                assert!(!text.contains(from), "{from} left in:\n{text}");
                assert!(text.contains(to), "{to} missing in:\n{text}");
            }
            let mut back = text.clone();
            for (from, to) in SHORTENED {
                back = back.replace(to, from);
            }
            assert_eq!(back, seed, "only the check timers change");
        }
    }
}
