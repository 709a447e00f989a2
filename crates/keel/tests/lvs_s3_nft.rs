//! Seed scenario S3 (LVS direct routing with HTTP checks and a sorry
//! server) end to end on the nftables data plane: two directors running the
//! `keel` binary with the seed's S3 configuration, two nginx real servers
//! prepared for DR, a local sorry page on each director and a client
//! curling the VIP, all in keel-lab namespaces.
//!
//! Round robin alternates strictly on the DR data plane too (it pins each
//! connection to the server its SYN was given), as on IPVS.

mod s3_common;

use s3_common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The seed's S3 configuration with short check timers, so failures are
/// seen within seconds, on the nftables data plane even where the kernel
/// has IPVS.
fn s3_conf(node: u8, extra: &[(&str, &str)]) -> String {
    seed_conf(node, extra).replace(
        "    vrrp_mcast_group4",
        "    keel_lvs_backend nftables\n    vrrp_mcast_group4",
    )
}

/// Six curls alternate strictly between the two web servers, as the seed
/// tutorial shows for IPVS.
fn assert_both_pages(client: &Node) {
    let six = pages(client, 6);
    for p in &six {
        assert!(p == WEB1 || p == WEB2, "unexpected answer {p:?} in {six:?}");
    }
    for w in six.windows(2) {
        assert_ne!(w[0], w[1], "rr should alternate: {six:?}");
    }
}

fn nft_tables(node: &Node) -> String {
    let out = node.exec_checked("nft", &["list", "tables"]).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn s3_dr_checks_sorry_server_and_failover_on_nftables() {
    let mut s = s3_lab("s3nft", true);
    let one = Director::start(&s.lab, &s.one, &s3_conf(1, &[]));
    let two = Director::start(&s.lab, &s.two, &s3_conf(2, &[]));
    let _logs = LogsOnPanic(&one, &two);
    one.wait_vip(true, Duration::from_secs(10));
    one.wait_log(
        "Starting the load balancer on the nftables data plane",
        CHECK_TIMEOUT,
    );
    two.wait_log(
        "Starting the load balancer on the nftables data plane",
        CHECK_TIMEOUT,
    );

    // 1. Both real servers in the table, Route, weight 1.
    let both_checked = wait_until(CHECK_TIMEOUT, Duration::from_millis(100), || {
        let t = one.lvs(false);
        t.matches("ok: ").count() >= 2
    });
    let listing = one.lvs(false);
    assert!(both_checked, "{listing}\n{}", one.log());
    eprintln!("keel lvs on the master:\n{listing}");
    assert!(listing.contains("TCP  192.0.2.144:80 rr"), "{listing}");
    for rs in ["192.0.2.11:80", "192.0.2.12:80"] {
        let line = listing
            .lines()
            .find(|l| l.contains(&format!("-> {rs}")))
            .unwrap_or_else(|| panic!("{rs} not listed:\n{listing}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cols[2..5], ["Route", "1", "0"], "{line}");
        assert!(line.contains(" up "), "{line}");
    }
    assert!(nft_tables(&s.one).contains("keel"));
    assert_both_pages(&s.client);

    // A table deleted behind keel's back comes back at the next resync.
    s.one
        .exec_checked("nft", &["delete", "table", "netdev", "keel"])
        .unwrap();
    one.wait_log(
        "the nftables data plane differed from keel's table; restored it",
        CHECK_TIMEOUT,
    );
    assert!(nft_tables(&s.one).contains("table netdev keel"));
    assert_both_pages(&s.client);

    // 2. Web server 2 stops: after its failed checks it leaves the table.
    s.web2.stop(WEB_GRACE).unwrap();
    one.wait_log(
        "HTTP_CHECK on service [192.0.2.12]:tcp:80 failed",
        CHECK_TIMEOUT,
    );
    one.wait_log(
        "Removing service [192.0.2.12]:tcp:80 from VS [192.0.2.144]:tcp:80",
        CHECK_TIMEOUT,
    );
    wait_only(&s.client, WEB1, Duration::from_secs(5));
    let listing = one.lvs(false);
    eprintln!("keel lvs with web 2 down:\n{listing}");
    assert!(!listing.contains("-> 192.0.2.12:80"), "{listing}");
    assert!(
        listing.contains("[192.0.2.12]:tcp:80 of VS [192.0.2.144]:tcp:80: down"),
        "{listing}"
    );
    let json: serde_json::Value = serde_json::from_str(&one.lvs(true)).unwrap();
    let rss = &json["state"]["virtual_servers"][0]["real_servers"];
    assert_eq!(rss[0]["alive"], true, "{json}");
    assert_eq!(rss[1]["alive"], false, "{json}");
    assert_eq!(rss[1]["checkers"][0]["last"]["ok"], false, "{json}");
    assert_eq!(
        json["table"]["services"][0]["destinations"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{json}"
    );

    // 3. Web server 1 stops too: the master director's sorry page.
    s.web1.stop(WEB_GRACE).unwrap();
    one.wait_log(
        "Removing service [192.0.2.11]:tcp:80 from VS [192.0.2.144]:tcp:80",
        CHECK_TIMEOUT,
    );
    one.wait_log(
        "Adding sorry server [127.0.0.1]:tcp:80 to VS [192.0.2.144]:tcp:80",
        CHECK_TIMEOUT,
    );
    let listing = one.lvs(false);
    assert!(listing.contains("-> 127.0.0.1:80"), "{listing}");
    wait_only(&s.client, "sorry from one", Duration::from_secs(5));
    let listing = one.lvs(false);
    assert!(listing.contains("-> 127.0.0.1:80"), "{listing}");

    // 4. keel stops on the master: the backup takes the VIP and serves its
    // own sorry page; the master's table is gone.
    one.stop();
    two.wait_vip(true, Duration::from_secs(10));
    wait_only(&s.client, "sorry from two", Duration::from_secs(10));
    assert!(
        !nft_tables(&s.one).contains("keel"),
        "{}",
        nft_tables(&s.one)
    );
    assert!(!one.state.exists(), "state file left behind");

    // 5. Both web servers back: the new master sends clients to both again.
    s.web1.start().unwrap();
    s.web2.start().unwrap();
    for rs in ["192.0.2.11", "192.0.2.12"] {
        two.wait_log(
            &format!("Adding service [{rs}]:tcp:80 to VS [192.0.2.144]:tcp:80"),
            CHECK_TIMEOUT,
        );
        // The line reports a table already in place: a client reacting to
        // it must not meet the table the line announced a change to.
        let listing = two.lvs(false);
        assert!(listing.contains(&format!("-> {rs}:80")), "{listing}");
    }
    let back = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        pages(&s.client, 1)[0] != "sorry from two"
    });
    assert!(back, "still the sorry page; log:\n{}", two.log());
    assert_both_pages(&s.client);
    two.stop();
}

#[test]
fn s3_unsupported_scheduler_stops_only_the_load_balancer() {
    let lab = Lab::new("s3nftlc").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let conf = s3_conf(1, &[("lb_algo rr", "lb_algo lc")]);
    let d = Director::start(&lab, &one, &conf);
    d.wait_log(
        "load balancer not started: virtual server TCP 192.0.2.144:80: lvs_sched lc is not available on the nftables data plane; use rr, wrr, sh, dh or mh",
        CHECK_TIMEOUT,
    );
    // VRRP carries on: the instance still becomes master and holds the VIP.
    d.wait_vip(true, Duration::from_secs(10));
    assert!(d.proc().is_running());
    assert!(!nft_tables(&one).contains("keel"));
    assert!(d.lvs(false).contains("keel lvs:"));
    d.stop();
}

const NAT_VIP: &str = "198.51.100.144";
const NAT_GATEWAY: &str = "192.0.2.254";

/// S3 with `lb_kind NAT`: the client on 198.51.100.0/24 reaches the VIP
/// 198.51.100.144; the real servers route back through a second VIP,
/// 192.0.2.254, the classic LVS-NAT gateway address, so their replies pass
/// the master director and are un-NATed there.
fn s3_nat_conf(node: u8) -> String {
    s3_conf(
        node,
        &[
            ("lb_kind DR", "lb_kind NAT"),
            (
                "192.0.2.144/32 dev eth0 brd",
                "198.51.100.144/32 dev eth0 brd\n        192.0.2.254/24 dev eth0",
            ),
            (
                "virtual_server 192.0.2.144 80",
                "virtual_server 198.51.100.144 80",
            ),
        ],
    )
}

#[test]
fn s3_nat_checks_sorry_server_and_failover_on_nftables() {
    let lab = Lab::new("s3nftnat").unwrap();
    let one = lab
        .add_node("one", &["192.0.2.3/24", "198.51.100.3/24"])
        .unwrap();
    let two = lab
        .add_node("two", &["192.0.2.5/24", "198.51.100.5/24"])
        .unwrap();
    let client = lab.add_node("client", &["198.51.100.10/24"]).unwrap();
    let rs1 = lab.add_node("rs1", &["192.0.2.11/24"]).unwrap();
    let rs2 = lab.add_node("rs2", &["192.0.2.12/24"]).unwrap();
    for d in [&one, &two] {
        d.exec_checked("sysctl", &["-qw", "net.ipv4.ip_forward=1"])
            .unwrap();
        // Replies go back out of the interface they came in on; a redirect
        // would send the real servers around the director.
        d.exec_checked("sysctl", &["-qw", "net.ipv4.conf.all.send_redirects=0"])
            .unwrap();
        d.exec_checked("sysctl", &["-qw", "net.ipv4.conf.eth0.send_redirects=0"])
            .unwrap();
    }
    for rs in [&rs1, &rs2] {
        rs.exec_checked("ip", &["route", "add", "default", "via", NAT_GATEWAY])
            .unwrap();
    }
    let mut web1 = Web::new(&lab, &rs1, "rs1", WEB1).unwrap();
    let mut web2 = Web::new(&lab, &rs2, "rs2", WEB2).unwrap();
    let _sorry = (
        Web::new(&lab, &one, "one", "sorry from one").unwrap(),
        Web::new(&lab, &two, "two", "sorry from two").unwrap(),
    );
    let d1 = Director::start(&lab, &one, &s3_nat_conf(1));
    let d2 = Director::start(&lab, &two, &s3_nat_conf(2));
    d1.wait_addr(NAT_VIP, true, Duration::from_secs(10));
    d1.wait_addr(NAT_GATEWAY, true, Duration::from_secs(10));
    let listed = wait_until(CHECK_TIMEOUT, Duration::from_millis(100), || {
        d1.lvs(false).matches("ok: ").count() >= 2
    });
    let listing = d1.lvs(false);
    assert!(listed, "{listing}\n{}", d1.log());
    assert!(listing.contains("TCP  198.51.100.144:80 rr"), "{listing}");
    for rs in ["192.0.2.11:80", "192.0.2.12:80"] {
        let line = listing
            .lines()
            .find(|l| l.contains(&format!("-> {rs}")))
            .unwrap_or_else(|| panic!("{rs} not listed:\n{listing}"));
        assert_eq!(line.split_whitespace().nth(2), Some("Masq"), "{line}");
    }

    // 1. NAT round robin alternates strictly.
    let six = pages_of(&client, NAT_VIP, 6);
    for p in &six {
        assert!(p == WEB1 || p == WEB2, "{six:?}");
    }
    for w in six.windows(2) {
        assert_ne!(w[0], w[1], "rr should alternate: {six:?}");
    }

    // 2. Web 2 down: only web 1.
    web2.stop(WEB_GRACE).unwrap();
    d1.wait_log(
        "Removing service [192.0.2.12]:tcp:80 from VS [198.51.100.144]:tcp:80",
        CHECK_TIMEOUT,
    );
    wait_only_of(&client, NAT_VIP, WEB1, Duration::from_secs(5));

    // 3. Both down: the master's sorry page.
    web1.stop(WEB_GRACE).unwrap();
    d1.wait_log(
        "Adding sorry server [127.0.0.1]:tcp:80 to VS [198.51.100.144]:tcp:80",
        CHECK_TIMEOUT,
    );
    wait_only_of(&client, NAT_VIP, "sorry from one", Duration::from_secs(5));

    // 4. Master stopped: the backup's sorry page.
    d1.stop();
    d2.wait_addr(NAT_VIP, true, Duration::from_secs(10));
    wait_only_of(&client, NAT_VIP, "sorry from two", Duration::from_secs(10));

    // 5. Web servers back: both pages through the new master.
    web1.start().unwrap();
    web2.start().unwrap();
    for rs in ["192.0.2.11", "192.0.2.12"] {
        d2.wait_log(
            &format!("Adding service [{rs}]:tcp:80 to VS [198.51.100.144]:tcp:80"),
            CHECK_TIMEOUT,
        );
    }
    let mut six = Vec::new();
    let ok = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        six = pages_of(&client, NAT_VIP, 6);
        six.iter().any(|p| p == WEB1) && six.iter().any(|p| p == WEB2)
    });
    assert!(ok, "{six:?}\n{}", d2.log());
    d2.stop();
}

/// A minimal SMTP server on 127.0.0.1:`port` of `node`; every message's
/// text (headers and body) lands in the returned list.
fn smtp_sink(node: &Node, port: u16) -> Arc<Mutex<Vec<String>>> {
    let listener = node
        .run_in(move || TcpListener::bind(("127.0.0.1", port)))
        .unwrap()
        .unwrap();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&mails);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let out = Arc::clone(&out);
            std::thread::spawn(move || smtp_session(conn, &out));
        }
    });
    mails
}

fn smtp_session(conn: TcpStream, out: &Mutex<Vec<String>>) {
    let Ok(mut w) = conn.try_clone() else { return };
    let mut r = BufReader::new(conn);
    let _ = w.write_all(b"220 sink\r\n");
    let mut in_data = false;
    let mut msg = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if in_data {
            if line == ".\r\n" {
                in_data = false;
                out.lock().unwrap().push(std::mem::take(&mut msg));
                let _ = w.write_all(b"250 queued\r\n");
            } else {
                msg.push_str(&line);
            }
            continue;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "DATA" => {
                in_data = true;
                b"354 go on\r\n"
            }
            "QUIT" => {
                let _ = w.write_all(b"221 bye\r\n");
                return;
            }
            _ => b"250 ok\r\n",
        };
        let _ = w.write_all(reply);
    }
}

fn count_lines(path: &Path, line: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == line)
        .count()
}

fn wait_lines(path: &Path, line: &str, n: usize) {
    let ok = wait_until(CHECK_TIMEOUT, Duration::from_millis(50), || {
        count_lines(path, line) >= n
    });
    assert!(
        ok,
        "{line:?} not {n} time(s) in {}:\n{}",
        path.display(),
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

fn wait_mail(mails: &Mutex<Vec<String>>, subject: &str, n: usize) {
    let needle = format!("Subject: {subject}");
    let ok = wait_until(CHECK_TIMEOUT, Duration::from_millis(50), || {
        let m = mails.lock().unwrap();
        m.iter().filter(|t| t.contains(&needle)).count() >= n
    });
    assert!(
        ok,
        "{needle:?} not mailed {n} time(s): {:?}",
        mails.lock().unwrap()
    );
}

/// The checker side of S3's director: notify_up/notify_down and
/// quorum_up/quorum_down scripts, lvs_notify_fifo lines and SMTP alerts
/// on real-server and quorum changes, SIGHUP reload, and `-I` leaving the
/// table installed at stop.
#[test]
fn s3_notify_scripts_fifo_smtp_alerts_reload_and_keep_table() {
    let lab = Lab::new("s3nftnotify").unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let rs1 = lab.add_node("rs1", &["192.0.2.11/24"]).unwrap();
    let mut web1 = Web::new(&lab, &rs1, "rs1", WEB1).unwrap();
    let dir = lab.dir().to_path_buf();
    let notify_log = dir.join("notify.log");
    let script = dir.join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\n", notify_log.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &script,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let fifo = dir.join("lvs.fifo");
    let fifo_log = dir.join("lvs-fifo.log");
    one.exec_checked("mkfifo", &[&fifo.to_string_lossy()])
        .unwrap();
    let _reader = one
        .spawn(
            "sh",
            &[
                "-c",
                &format!("exec cat {} > {}", fifo.display(), fifo_log.display()),
            ],
        )
        .unwrap();
    let mails = smtp_sink(&one, 2525);
    let sh = script.display();
    let conf = s3_conf(
        1,
        &[
            ("smtp_server 127.0.0.1", "smtp_server 127.0.0.1 2525"),
            (
                "router_id one",
                &format!("router_id one\n    lvs_notify_fifo {}", fifo.display()),
            ),
            (
                "protocol TCP",
                &format!(
                    "protocol TCP\n    smtp_alert\n    quorum_up \"{sh} quorum_up\"\n    quorum_down \"{sh} quorum_down\""
                ),
            ),
            (
                "real_server 192.0.2.11 80 {\n        weight 1",
                &format!(
                    "real_server 192.0.2.11 80 {{\n        weight 1\n        notify_up \"{sh} up\"\n        notify_down \"{sh} down\""
                ),
            ),
        ],
    );
    // Only web 1 runs: .12 fails its first check, quorum stays with .11.
    let d = Director::start_with(&lab, &one, &conf, &["-I"]);
    let rs = "[192.0.2.11]:tcp:80";
    let vs = "[192.0.2.144]:tcp:80";
    d.wait_log(
        "Removing service [192.0.2.12]:tcp:80 from VS [192.0.2.144]:tcp:80",
        CHECK_TIMEOUT,
    );
    wait_lines(&notify_log, "quorum_up", 1);
    wait_lines(&fifo_log, &format!("VS {vs} UP"), 1);
    wait_lines(&fifo_log, &format!("RS [192.0.2.12]:tcp:80 {vs} DOWN"), 1);

    web1.stop(WEB_GRACE).unwrap();
    d.wait_log(
        &format!("Removing service {rs} from VS {vs}"),
        CHECK_TIMEOUT,
    );
    wait_lines(&notify_log, "down", 1);
    wait_lines(&notify_log, "quorum_down", 1);
    wait_lines(&fifo_log, &format!("RS {rs} {vs} DOWN"), 1);
    wait_lines(&fifo_log, &format!("VS {vs} DOWN"), 1);
    wait_mail(
        &mails,
        &format!("[one] Realserver {rs} of virtual server {vs} - DOWN"),
        1,
    );
    wait_mail(&mails, &format!("[one] Virtualserver {vs} - DOWN"), 1);
    assert!(
        mails
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("=> HTTP_GET CHECK failed on service <=")),
        "{:?}",
        mails.lock().unwrap()
    );

    web1.start().unwrap();
    d.wait_log(&format!("Adding service {rs} to VS {vs}"), CHECK_TIMEOUT);
    wait_lines(&notify_log, "up", 1);
    wait_lines(&notify_log, "quorum_up", 2);
    wait_lines(&fifo_log, &format!("RS {rs} {vs} UP"), 1);
    wait_mail(
        &mails,
        &format!("[one] Realserver {rs} of virtual server {vs} - UP"),
        1,
    );

    // SIGHUP with the same virtual servers: the checkers keep their state,
    // so the failed .12 is not put back into the table.
    let starts = |d: &Director| {
        d.log()
            .matches("Starting the load balancer on the nftables data plane")
            .count()
    };
    let removals = |d: &Director| {
        d.log()
            .matches("Removing service [192.0.2.12]:tcp:80")
            .count()
    };
    assert_eq!(removals(&d), 1);
    d.proc().kill(LabSignal::SIGHUP).unwrap();
    d.wait_log("Reloading", CHECK_TIMEOUT);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(starts(&d), 1, "{}", d.log());
    assert_eq!(removals(&d), 1, "{}", d.log());
    assert!(!d.lvs(false).contains("-> 192.0.2.12:80"));

    // SIGHUP with a changed virtual server: the load balancer restarts on
    // the new configuration and keeps serving its table.
    let changed = conf.replace("delay_loop 1", "delay_loop 2");
    std::fs::write(d.conf(), changed).unwrap();
    d.proc().kill(LabSignal::SIGHUP).unwrap();
    let restarted = wait_until(CHECK_TIMEOUT, Duration::from_millis(50), || starts(&d) == 2);
    assert!(restarted, "{}", d.log());
    let listed = wait_until(CHECK_TIMEOUT, Duration::from_millis(100), || {
        d.lvs(false).contains("-> 192.0.2.11:80")
    });
    assert!(listed, "{}", d.lvs(false));

    // -I: the table stays when keel stops.
    d.stop();
    assert!(nft_tables(&one).contains("keel"), "{}", d.log());
}

/// Both directors' logs when the test fails: an assertion on the client's
/// pages says what went wrong, the logs say when the table changed.
struct LogsOnPanic<'a>(&'a Director, &'a Director);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "director one:\n{}\ndirector two:\n{}",
                self.0.log(),
                self.1.log()
            );
        }
    }
}
