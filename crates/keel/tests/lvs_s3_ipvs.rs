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

mod s3_common;

use s3_common::*;
use std::process::ExitCode;
use std::time::Duration;

const SERVICE: &str = "TCP 192.0.2.144:80 rr";

/// The seed's S3 configuration with short check timers, so failures are
/// seen within seconds; the data plane is keel's default choice.
fn s3_conf(node: u8, extra: &[(&str, &str)]) -> String {
    let text = seed_conf(node, extra);
    assert!(!text.contains("keel_lvs_backend"), "{text}");
    text
}

/// The kernel's IPVS table of a director.
trait IpvsTable {
    fn table(&self) -> Vec<String>;
    fn wait_table(&self, want: &[&str]) -> Vec<String>;
}

impl IpvsTable for Director {
    /// The kernel's IPVS table in the director's namespace, as
    /// [`entries`], after checking that `keel lvs` shows the same.
    fn table(&self) -> Vec<String> {
        let mut last = (String::new(), String::new());
        // Both read the kernel; only a change between the two reads can
        // make them differ, so a second try settles it.
        let agree = wait_until(Duration::from_secs(3), Duration::from_millis(100), || {
            last = (ipvsadm(&self.node), self.lvs(false));
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
        one.lvs(false)
    );
    let six = assert_round_robin(&s.client);
    eprintln!("both up: {}", trace(&six));

    // 2. Web server 2 stops: after its failed check it leaves the table.
    s.web2.stop(WEB_GRACE).unwrap();
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
    let listing = one.lvs(false);
    assert!(
        listing.contains("[192.0.2.12]:tcp:80 of VS [192.0.2.144]:tcp:80: down"),
        "{listing}"
    );

    // 3. Web server 1 stops too: only the sorry server is left, and the
    // client gets the master director's page.
    s.web1.stop(WEB_GRACE).unwrap();
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
    s.web1.start().unwrap();
    s.web2.start().unwrap();
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
    s.web2.stop(WEB_GRACE).unwrap();
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
    s.web2.start().unwrap();
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
    // The table is installed by the load balancer's task just after that
    // line; a loaded host may take a moment.
    let installed = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        let out = one.exec_checked("nft", &["list", "tables"]).unwrap();
        String::from_utf8_lossy(&out.stdout).contains("keel")
    });
    assert!(installed, "{}", d.log());
    d.stop();
}

// ---------------------------------------------------------------- harness

const SUITE: keel_lab::vm::Suite = keel_lab::vm::Suite {
    tests: &[
        (
            "s3_dr_checks_sorry_server_and_failover_on_ipvs",
            s3_dr_checks_sorry_server_and_failover_on_ipvs,
        ),
        (
            "s3_inhibit_on_failure_keeps_failed_server_with_weight_zero_on_ipvs",
            s3_inhibit_on_failure_keeps_failed_server_with_weight_zero_on_ipvs,
        ),
    ],
    host_test: (
        "host_without_ipvs_auto_falls_back_to_nftables",
        host_without_ipvs_auto_falls_back_to_nftables,
    ),
    // One at a time: IPVS dumps walk a table shared by every namespace, so
    // one lab's changes during another lab's `ipvsadm -ln` can repeat a
    // service in that listing.
    workers: 1,
    vm_timeout_secs: 240,
    // Each test builds its own lab.
    prepare: || {},
};

/// Whether keel's `auto` choice lands on IPVS in this kernel (the same
/// probe the daemon makes at start).
fn kernel_has_ipvs() -> bool {
    let (cfg, _) = keel_config::from_str(&s3_conf(1, &[]), "s3.conf").unwrap();
    let (_, plane) = keel_daemon::lvs::open_backend(&cfg).unwrap();
    plane == keel_daemon::lvs::IPVS
}

fn main() -> ExitCode {
    keel_lab::vm::main(&SUITE, kernel_has_ipvs)
}
