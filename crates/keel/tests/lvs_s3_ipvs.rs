//! Seed scenario S3 (LVS direct routing with HTTP checks and a sorry
//! server) end to end on the IPVS data plane: two directors running the
//! `keel` binary with the seed's S3 configuration (`keel_lvs_backend` left
//! at `auto`), two nginx real servers prepared for DR, a local sorry page on
//! each director and a client curling the VIP, all in keel-lab namespaces.
//! What the kernel holds is read with `ipvsadm -ln` in the director's
//! namespace and compared with `keel lvs`.
//!
//! Own harness (`harness = false`): a kernel without IPVS is itself under
//! test (`auto` must fall back to nftables there), then the binary re-runs
//! itself once inside scripts/ipvs-vm.sh's VM, whose Debian kernel has
//! IPVS, and runs the IPVS tests there. Output follows libtest's lines so
//! that suite summaries count these tests.

use keel_lab::{Lab, LabProcess, LabSignal, Node, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.144";
const WEB1: &str = "this is web 1";
const WEB2: &str = "this is web 2";
const SERVICE: &str = "TCP 192.0.2.144:80 rr";
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// `println!` that ignores a failing stdout (the VM's output port), so that
/// a lost line cannot turn into a panic in the harness; the exit status still
/// carries the verdict.
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

fn keel_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keel")
}

/// The seed's S3 configuration with short check timers, so failures are
/// seen within seconds; the data plane is keel's default choice.
fn s3_conf(node: u8, extra: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seed")
        .join(format!("s3-node{node}.conf"));
    let mut text = std::fs::read_to_string(path).unwrap();
    assert!(!text.contains("keel_lvs_backend"), "{text}");
    for (from, to) in [
        ("delay_loop 3", "delay_loop 1"),
        ("connect_timeout 3", "connect_timeout 1"),
        ("nb_get_retry 3", "nb_get_retry 1"),
        ("delay_before_retry 3", "delay_before_retry 1"),
    ]
    .iter()
    .chain(extra)
    {
        assert!(text.contains(from), "{from:?} not in the seed config");
        text = text.replace(from, to);
    }
    text
}

/// nginx serving `page` as index.html on port 80 of `node`, with its pid
/// file, logs and temporary files in the lab directory.
struct Web {
    node: Node,
    conf: PathBuf,
    dir: PathBuf,
    proc: Option<LabProcess>,
}

impl Web {
    fn new(lab: &Lab, node: &Node, name: &str, page: &str) -> Web {
        let dir = lab.dir().join(format!("nginx-{name}"));
        std::fs::create_dir_all(dir.join("html")).unwrap();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::write(dir.join("html/index.html"), format!("{page}\n")).unwrap();
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
        )
        .unwrap();
        let mut w = Web {
            node: node.clone(),
            conf,
            dir,
            proc: None,
        };
        w.start();
        w
    }

    fn start(&mut self) {
        let conf = self.conf.to_string_lossy().into_owned();
        let prefix = self.dir.to_string_lossy().into_owned();
        let err = self.dir.join("error.log").to_string_lossy().into_owned();
        let p = self
            .node
            .spawn(
                "nginx",
                &["-p", &prefix, "-e", &err, "-c", &conf, "-g", "daemon off;"],
            )
            .unwrap();
        let addr = self.node.ipv4().unwrap();
        let url = format!("http://{addr}/");
        let up = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            self.node
                .curl(&url)
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        assert!(
            up,
            "nginx on {} did not start: {}",
            self.node.name(),
            p.stderr().unwrap_or_default()
        );
        self.proc = Some(p);
    }

    fn stop(&mut self) {
        if let Some(p) = self.proc.take() {
            p.stop(Duration::from_secs(5)).unwrap();
        }
    }
}

/// `keel` with keepalived's flags in a director namespace.
struct Director {
    node: Node,
    proc: LabProcess,
    state: PathBuf,
}

impl Director {
    fn start(lab: &Lab, node: &Node, conf_text: &str) -> Director {
        let stem = lab.dir().join(format!("keel-{}", node.name()));
        let conf = stem.with_extension("conf");
        std::fs::write(&conf, conf_text).unwrap();
        let state = stem.with_extension("lvs.json");
        let path = |ext: &str| stem.with_extension(ext).to_string_lossy().into_owned();
        let env = format!("KEEL_LVS_STATE={}", state.display());
        let (conf_s, p1, p2, p3) = (path("conf"), path("pid"), path("vrrp.pid"), path("chk.pid"));
        let proc = node
            .spawn(
                "env",
                &[
                    &env,
                    keel_bin(),
                    "-n",
                    "-l",
                    "-D",
                    "-G",
                    "-f",
                    &conf_s,
                    "-p",
                    &p1,
                    "-r",
                    &p2,
                    "-c",
                    &p3,
                ],
            )
            .unwrap();
        Director {
            node: node.clone(),
            proc,
            state,
        }
    }

    fn log(&self) -> String {
        let mut s = self.proc.stderr().unwrap_or_default();
        s.push_str(&self.proc.stdout().unwrap_or_default());
        s
    }

    fn wait_log(&self, needle: &str, timeout: Duration) {
        let ok = wait_until(timeout, Duration::from_millis(50), || {
            self.log().contains(needle)
        });
        assert!(
            ok,
            "{}: {needle:?} not logged within {timeout:?}; log:\n{}",
            self.node.name(),
            self.log()
        );
    }

    /// `keel lvs` in the director's namespace.
    fn lvs(&self) -> String {
        let env = format!("KEEL_LVS_STATE={}", self.state.display());
        let out = self.node.exec("env", &[&env, keel_bin(), "lvs"]).unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn wait_vip(&self, present: bool, timeout: Duration) {
        let vip = VIP.parse().unwrap();
        let ok = wait_until(timeout, Duration::from_millis(50), || {
            self.node.has_addr(vip).unwrap() == present
        });
        assert!(
            ok,
            "{}: {VIP} {} within {timeout:?}; log:\n{}",
            self.node.name(),
            if present { "not added" } else { "not removed" },
            self.log()
        );
    }

    /// The kernel's IPVS table in the director's namespace, as
    /// [`entries`], after checking that `keel lvs` shows the same.
    fn table(&self) -> Vec<String> {
        let mut last = (String::new(), String::new());
        // Both read the kernel; only a change between the two reads can
        // make them differ, so a second try settles it.
        let agree = wait_until(Duration::from_secs(3), Duration::from_millis(100), || {
            last = (ipvsadm(&self.node), self.lvs());
            entries(&last.0) == entries(&last.1)
        });
        assert!(
            agree,
            "{}: ipvsadm -ln and keel lvs differ:\n{}\n---\n{}",
            self.node.name(),
            last.0,
            last.1
        );
        entries(&last.0)
    }

    /// Waits until the IPVS table is `want` (see [`entries`]).
    fn wait_table(&self, want: &[&str]) -> Vec<String> {
        let mut got = Vec::new();
        let ok = wait_until(CHECK_TIMEOUT, Duration::from_millis(200), || {
            got = self.table();
            got == want
        });
        assert!(
            ok,
            "{}: IPVS table {got:?}, want {want:?}\n{}\nlog:\n{}",
            self.node.name(),
            ipvsadm(&self.node),
            self.log()
        );
        got
    }

    fn stop(&self) {
        self.proc.kill(LabSignal::SIGTERM).unwrap();
        let st = self.proc.wait_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            st.is_some(),
            "{}: keel did not exit on SIGTERM",
            self.node.name()
        );
    }
}

fn ipvsadm(node: &Node) -> String {
    let out = node.exec_checked("ipvsadm", &["-ln"]).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The services and destinations of an `ipvsadm -ln` listing (or of
/// `keel lvs`, which prints the same columns and appends health ones):
/// each service line's words, then its destinations as `-> ADDR FWD
/// WEIGHT` sorted by address. Connection counters are left out, they move
/// with the traffic.
fn entries(listing: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut dests: Vec<String> = Vec::new();
    // The first three lines are the version and the two column headers.
    for line in listing.lines().skip(3) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(&"->") if words.len() >= 4 => dests.push(words[..4].join(" ")),
            Some(&("TCP" | "UDP" | "SCTP" | "FWM")) => {
                dests.sort();
                out.append(&mut dests);
                out.push(words.join(" "));
            }
            // `keel lvs`'s health summary of servers outside the table.
            _ => break,
        }
    }
    dests.sort();
    out.append(&mut dests);
    out
}

fn pages(client: &Node, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let out = client.curl(&format!("http://{VIP}/")).unwrap();
            if out.status.success() {
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            } else {
                format!(
                    "curl failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            }
        })
        .collect()
}

/// Curls until every answer of a batch of six is `page` (the data plane
/// and ARP may need a moment after a change).
fn wait_only(client: &Node, page: &str, timeout: Duration) -> Vec<String> {
    let mut last = Vec::new();
    let ok = wait_until(timeout, Duration::from_millis(200), || {
        last = pages(client, 6);
        last.iter().all(|p| p == page)
    });
    assert!(ok, "expected only {page:?}, got {last:?}");
    last
}

/// Six curls: IPVS's rr scheduler takes the destinations in turn, one new
/// connection each, so the two pages strictly alternate.
fn assert_round_robin(client: &Node) -> Vec<String> {
    let six = pages(client, 6);
    for p in &six {
        assert!(p == WEB1 || p == WEB2, "unexpected answer in {six:?}");
    }
    for w in six.windows(2) {
        assert_ne!(w[0], w[1], "rr should alternate strictly: {six:?}");
    }
    six
}

/// Compact trace of the answers, e.g. `2 1 2 1 2 1`.
fn trace(six: &[String]) -> String {
    six.iter()
        .map(|p| p.rsplit(' ').next().unwrap_or("?"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn both_routed() -> [&'static str; 3] {
    [
        SERVICE,
        "-> 192.0.2.11:80 Route 1",
        "-> 192.0.2.12:80 Route 1",
    ]
}

struct S3 {
    lab: Lab,
    one: Node,
    two: Node,
    client: Node,
    web1: Web,
    web2: Web,
    _sorry: Vec<Web>,
}

/// The S3 lab; with `backup` the second director with its sorry page too.
fn s3_lab(hint: &str, backup: bool) -> S3 {
    let lab = Lab::new(hint).unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let two = lab.add_node("two", &["192.0.2.5/24"]).unwrap();
    let client = lab.add_node("client", &["192.0.2.10/24"]).unwrap();
    let rs1 = lab.add_node("rs1", &["192.0.2.11/24"]).unwrap();
    let rs2 = lab.add_node("rs2", &["192.0.2.12/24"]).unwrap();
    let vip = VIP.parse().unwrap();
    for rs in [&rs1, &rs2] {
        rs.run_in(move || keel_nft::realserver::prepare(vip, "lo"))
            .unwrap()
            .unwrap();
    }
    let web1 = Web::new(&lab, &rs1, "rs1", WEB1);
    let web2 = Web::new(&lab, &rs2, "rs2", WEB2);
    let mut sorry = vec![Web::new(&lab, &one, "one", "sorry from one")];
    if backup {
        sorry.push(Web::new(&lab, &two, "two", "sorry from two"));
    }
    S3 {
        lab,
        one,
        two,
        client,
        web1,
        web2,
        _sorry: sorry,
    }
}

// ---------------------------------------------------------------- tests

fn s3_dr_checks_sorry_server_and_failover_on_ipvs() {
    let mut s = s3_lab("s3ipvs", true);
    let one = Director::start(&s.lab, &s.one, &s3_conf(1, &[]));
    let two = Director::start(&s.lab, &s.two, &s3_conf(2, &[]));
    one.wait_vip(true, Duration::from_secs(10));
    for d in [&one, &two] {
        d.wait_log(
            "Starting the load balancer on the IPVS data plane",
            CHECK_TIMEOUT,
        );
    }

    // 1. Exactly the seed's virtual server, both real servers routed with
    // weight 1, and strict round robin.
    one.wait_table(&both_routed());
    eprintln!(
        "ipvsadm -ln on the master:\n{}keel lvs on the master:\n{}",
        ipvsadm(&s.one),
        one.lvs()
    );
    let six = assert_round_robin(&s.client);
    eprintln!("both up: {}", trace(&six));

    // 2. Web server 2 stops: after its failed check it leaves the table.
    s.web2.stop();
    one.wait_log(
        "HTTP_CHECK on service [192.0.2.12]:tcp:80 failed",
        CHECK_TIMEOUT,
    );
    one.wait_log(
        "Removing service [192.0.2.12]:tcp:80 from VS [192.0.2.144]:tcp:80",
        CHECK_TIMEOUT,
    );
    one.wait_table(&[SERVICE, "-> 192.0.2.11:80 Route 1"]);
    wait_only(&s.client, WEB1, Duration::from_secs(5));
    let listing = one.lvs();
    assert!(
        listing.contains("[192.0.2.12]:tcp:80 of VS [192.0.2.144]:tcp:80: down"),
        "{listing}"
    );

    // 3. Web server 1 stops too: only the sorry server is left, and the
    // client gets the master director's page.
    s.web1.stop();
    one.wait_log(
        "Adding sorry server [127.0.0.1]:tcp:80 to VS [192.0.2.144]:tcp:80",
        CHECK_TIMEOUT,
    );
    // A destination on a local address is delivered locally whatever the
    // forwarding method; ipvsadm shows it as the kernel has it.
    let sorry_only = one.wait_table(&[SERVICE, "-> 127.0.0.1:80 Route 1"]);
    eprintln!("both down: {sorry_only:?}\n{}", ipvsadm(&s.one));
    wait_only(&s.client, "sorry from one", Duration::from_secs(5));

    // 4. keel stops on the master: its IPVS table goes with it, the backup
    // takes the VIP and serves its own sorry page.
    one.stop();
    one.wait_vip(false, Duration::from_secs(1));
    assert_eq!(entries(&ipvsadm(&s.one)), Vec::<String>::new());
    two.wait_vip(true, Duration::from_secs(10));
    two.wait_table(&[SERVICE, "-> 127.0.0.1:80 Route 1"]);
    wait_only(&s.client, "sorry from two", Duration::from_secs(10));

    // 5. Both web servers back: the new master's round robin again.
    s.web1.start();
    s.web2.start();
    for rs in ["192.0.2.11", "192.0.2.12"] {
        two.wait_log(
            &format!("Adding service [{rs}]:tcp:80 to VS [192.0.2.144]:tcp:80"),
            CHECK_TIMEOUT,
        );
    }
    two.wait_table(&both_routed());
    let back = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        pages(&s.client, 1)[0] != "sorry from two"
    });
    assert!(back, "still the sorry page; log:\n{}", two.log());
    let six = assert_round_robin(&s.client);
    eprintln!("back on the backup: {}", trace(&six));
    two.stop();
    assert_eq!(entries(&ipvsadm(&s.two)), Vec::<String>::new());
}

fn s3_inhibit_on_failure_keeps_failed_server_with_weight_zero_on_ipvs() {
    let mut s = s3_lab("s3ipvsinh", false);
    let conf = s3_conf(
        1,
        &[("protocol TCP", "protocol TCP\n    inhibit_on_failure")],
    );
    let one = Director::start(&s.lab, &s.one, &conf);
    one.wait_vip(true, Duration::from_secs(10));
    one.wait_table(&both_routed());
    assert_round_robin(&s.client);

    // Web 2 fails: it stays in the table with weight 0, which rr skips.
    s.web2.stop();
    one.wait_log(
        "Disabling service [192.0.2.12]:tcp:80 of VS [192.0.2.144]:tcp:80",
        CHECK_TIMEOUT,
    );
    let t = one.wait_table(&[
        SERVICE,
        "-> 192.0.2.11:80 Route 1",
        "-> 192.0.2.12:80 Route 0",
    ]);
    eprintln!("inhibited: {t:?}");
    wait_only(&s.client, WEB1, Duration::from_secs(5));
    assert!(!one.log().contains("Removing service [192.0.2.12]"));

    // Back: weight 1 again and both answer in turn.
    s.web2.start();
    one.wait_log(
        "Enabling service [192.0.2.12]:tcp:80 of VS [192.0.2.144]:tcp:80",
        CHECK_TIMEOUT,
    );
    one.wait_table(&both_routed());
    let six = assert_round_robin(&s.client);
    eprintln!("re-enabled: {}", trace(&six));
    one.stop();
    assert_eq!(entries(&ipvsadm(&s.one)), Vec::<String>::new());
}

/// On a kernel without IPVS the seed's configuration (no
/// `keel_lvs_backend`, so `auto`) runs the load balancer on nftables.
fn host_without_ipvs_auto_falls_back_to_nftables() {
    let lab = Lab::new("s3auto").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let d = Director::start(&lab, &one, &s3_conf(1, &[]));
    d.wait_log("IPVS data plane not used", CHECK_TIMEOUT);
    d.wait_log(
        "Starting the load balancer on the nftables data plane",
        CHECK_TIMEOUT,
    );
    let out = one.exec_checked("nft", &["list", "tables"]).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("keel"),
        "{}",
        d.log()
    );
    d.stop();
}

// ---------------------------------------------------------------- harness

type TestFn = fn();

const TESTS: &[(&str, TestFn)] = &[
    (
        "s3_dr_checks_sorry_server_and_failover_on_ipvs",
        s3_dr_checks_sorry_server_and_failover_on_ipvs,
    ),
    (
        "s3_inhibit_on_failure_keeps_failed_server_with_weight_zero_on_ipvs",
        s3_inhibit_on_failure_keeps_failed_server_with_weight_zero_on_ipvs,
    ),
];

/// Runs on the host itself when its kernel has no IPVS, before the VM run.
const HOST_TEST: (&str, TestFn) = (
    "host_without_ipvs_auto_falls_back_to_nftables",
    host_without_ipvs_auto_falls_back_to_nftables,
);

struct Args {
    filters: Vec<String>,
    exact: bool,
    list: bool,
    ignored_only: bool,
    raw: Vec<String>,
}

fn parse_args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut a = Args {
        filters: Vec::new(),
        exact: false,
        list: false,
        ignored_only: false,
        raw: raw.clone(),
    };
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--exact" => a.exact = true,
            "--list" => a.list = true,
            "--ignored" => a.ignored_only = true,
            // libtest options that take a value; the value is not a filter.
            "--test-threads" | "--format" | "--color" | "--skip" | "-Z" | "--logfile" => {
                let _ = it.next();
            }
            s if s.starts_with('-') => {}
            s => a.filters.push(s.to_string()),
        }
    }
    a
}

impl Args {
    fn selected(&self, name: &str) -> bool {
        self.filters.is_empty()
            || self.filters.iter().any(|f| {
                if self.exact {
                    name == f
                } else {
                    name.contains(f.as_str())
                }
            })
    }
}

fn in_vm() -> bool {
    std::env::var_os("KEEL_IPVS_VM").is_some_and(|v| v == "1")
}

fn vm_script() -> PathBuf {
    match std::env::var_os("KEEL_IPVS_VM_SCRIPT") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ipvs-vm.sh"),
    }
}

/// Whether keel's `auto` choice lands on IPVS in this kernel (the same
/// probe the daemon makes at start).
fn kernel_has_ipvs() -> bool {
    let (cfg, _) = keel_config::from_str(&s3_conf(1, &[]), "s3.conf").unwrap();
    let (_, plane) = keel_daemon::lvs::open_backend(&cfg).unwrap();
    plane == keel_daemon::lvs::IPVS
}

fn summary(passed: usize, failed: usize, filtered: usize, started: Instant) -> String {
    format!(
        "test result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; {filtered} filtered out; finished in {:.2}s",
        if failed == 0 { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    )
}

/// Runs `tests` on worker threads (each builds its own lab, so they are
/// independent) and prints libtest's lines; true when all passed.
fn run_tests(tests: &[(&str, TestFn)], filtered: usize) -> bool {
    let started = Instant::now();
    say!(
        "\nrunning {} test{}",
        tests.len(),
        if tests.len() == 1 { "" } else { "s" }
    );
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let workers = std::env::var("RUST_TEST_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2usize)
        .clamp(1, tests.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(&(name, f)) = tests.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let t0 = Instant::now();
                    let r = std::thread::Builder::new()
                        .name(name.to_string())
                        .spawn(f)
                        .expect("spawn test thread")
                        .join();
                    let secs = t0.elapsed().as_secs_f64();
                    if r.is_ok() {
                        say!("test {name} ... ok ({secs:.1}s)");
                    } else {
                        say!("test {name} ... FAILED ({secs:.1}s)");
                        failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(name);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    if !failures.is_empty() {
        say!("\nfailures:");
        for f in &failures {
            say!("    {f}");
        }
    }
    say!();
    say!(
        "{}",
        summary(
            tests.len() - failures.len(),
            failures.len(),
            filtered,
            started
        )
    );
    say!();
    failures.is_empty()
}

fn run_here(args: &Args) -> ExitCode {
    let chosen: Vec<(&str, TestFn)> = TESTS
        .iter()
        .copied()
        .filter(|(n, _)| args.selected(n))
        .collect();
    if run_tests(&chosen, TESTS.len() - chosen.len()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}

fn main() -> ExitCode {
    let args = parse_args();
    if args.list {
        for (name, _) in TESTS.iter().chain([&HOST_TEST]) {
            if args.selected(name) {
                say!("{name}: test");
            }
        }
        return ExitCode::SUCCESS;
    }
    if args.ignored_only {
        // Nothing here is #[ignore]d.
        say!("\nrunning 0 tests\n");
        say!("{}\n", summary(0, 0, TESTS.len() + 1, Instant::now()));
        return ExitCode::SUCCESS;
    }
    if in_vm() || kernel_has_ipvs() {
        return run_here(&args);
    }
    let host_ok = if args.selected(HOST_TEST.0) {
        run_tests(&[HOST_TEST], 0)
    } else {
        true
    };
    if !TESTS.iter().any(|(n, _)| args.selected(n)) {
        return if host_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(101)
        };
    }
    let script = vm_script();
    say!(
        "no IPVS in this kernel: running the IPVS tests in a VM ({})",
        script.display()
    );
    let exe = std::env::current_exe().expect("current_exe");
    let status = Command::new(&script)
        .args(["run", "--timeout", "240", "--"])
        .arg(&exe)
        .args(&args.raw)
        .status();
    let code = match status {
        Ok(s) => s.code().unwrap_or(125),
        Err(e) => {
            eprintln!("cannot run {}: {e}", script.display());
            125
        }
    };
    if code != 0 {
        eprintln!("IPVS tests in the VM failed (status {code})");
        ExitCode::from(u8::try_from(code).unwrap_or(1))
    } else if host_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}
