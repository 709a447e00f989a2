//! Traffic through the nftables data plane, in throw-away namespaces on one
//! lab LAN (keel-lab's bridge): a client, a director running keel's
//! ruleset and real servers that answer each connection with their name.

// Only the table builders are used here, not the golden cases.
#[allow(dead_code)]
#[path = "common/cases.rs"]
mod cases;

use cases::*;
use keel_lab::{Lab, Node};
use keel_lvs::{Backend, Destination, Method, Persistence, Scheduler, Table};
use keel_nft::{Masquerade, Nft, NftBackend, Options};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

/// Serves `name\n` on connect, then answers every line with `name\n`, on a
/// listener created inside `node`'s namespace.
fn serve(node: &Node, port: u16, name: &str) {
    let listener = node
        .run_in(move || TcpListener::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap();
    let name = name.to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let name = name.clone();
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                if writeln!(w, "{name}").is_err() {
                    return;
                }
                for line in BufReader::new(conn).lines() {
                    if line.is_err() || writeln!(w, "{name}").is_err() {
                        return;
                    }
                }
            });
        }
    });
}

fn greeting(stream: &TcpStream) -> String {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.trim().to_string()
}

/// Opens `n` connections from `client` to `to`, one after the other, and
/// returns who answered each.
fn names(client: &Node, to: SocketAddr, n: usize) -> Vec<String> {
    client
        .run_in(move || {
            (0..n)
                .map(|_| greeting(&TcpStream::connect_timeout(&to, TIMEOUT).unwrap()))
                .collect()
        })
        .unwrap()
}

fn count(v: &[String], name: &str) -> usize {
    v.iter().filter(|n| *n == name).count()
}

struct NatLab {
    _lab: Lab,
    client: Node,
    director: Node,
    rs: Vec<Node>,
}

const VIP: &str = "203.0.113.10";

/// Client 198.51.100.1 routes the VIP via the director; real servers
/// 192.0.2.11.. route everything back via the director unless
/// `rs_route_back` is false (then they need masquerading).
fn nat_lab(hint: &str, servers: u8, rs_route_back: bool) -> NatLab {
    let lab = Lab::new(hint).unwrap();
    let client = lab.add_node("client", &["198.51.100.1/24"]).unwrap();
    let director = lab
        .add_node("director", &["198.51.100.2/24", "192.0.2.2/24"])
        .unwrap();
    client
        .exec_checked(
            "ip",
            &["route", "add", "203.0.113.0/24", "via", "198.51.100.2"],
        )
        .unwrap();
    director
        .exec_checked("sysctl", &["-qw", "net.ipv4.ip_forward=1"])
        .unwrap();
    director
        .exec_checked("sysctl", &["-qw", "net.ipv4.conf.all.send_redirects=0"])
        .unwrap();
    let mut rs = Vec::new();
    for i in 0..servers {
        let addr = format!("192.0.2.{}/24", 11 + i);
        let node = lab.add_node(&format!("rs{}", i + 1), &[&addr]).unwrap();
        if rs_route_back {
            node.exec_checked("ip", &["route", "add", "default", "via", "192.0.2.2"])
                .unwrap();
        }
        serve(&node, 80, &format!("rs{}", i + 1));
        rs.push(node);
    }
    NatLab {
        _lab: lab,
        client,
        director,
        rs,
    }
}

fn nat_dests(weights: &[u32]) -> Vec<Destination> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| dest(&format!("192.0.2.{}", 11 + i), 80, w, Method::Nat))
        .collect()
}

fn director_backend(director: &Node, opts: Options) -> NftBackend {
    NftBackend::new(Nft::in_netns(director.netns()), opts)
}

fn vip() -> SocketAddr {
    format!("{VIP}:80").parse().unwrap()
}

fn install(b: &mut NftBackend, t: &Table) {
    b.sync(t).unwrap();
    assert_eq!(b.read().unwrap(), t.normalized());
}

#[test]
fn nat_rr_alternates_between_two_servers() {
    let l = nat_lab("nftrr", 2, true);
    let mut b = director_backend(&l.director, Options::default());
    install(
        &mut b,
        &table(vec![service(
            tcp(VIP, 80),
            Scheduler::Rr,
            nat_dests(&[1, 1]),
        )]),
    );
    let got = names(&l.client, vip(), 6);
    assert_eq!(count(&got, "rs1"), 3, "{got:?}");
    assert!(got.windows(2).all(|w| w[0] != w[1]), "{got:?}");
}

#[test]
fn nat_wrr_3_to_1_gives_three_quarters_to_the_heavier() {
    let l = nat_lab("nftwrr", 2, true);
    let mut b = director_backend(&l.director, Options::default());
    install(
        &mut b,
        &table(vec![service(
            tcp(VIP, 80),
            Scheduler::Wrr,
            nat_dests(&[3, 1]),
        )]),
    );
    let got = names(&l.client, vip(), 400);
    let heavy = count(&got, "rs1");
    assert!((280..=320).contains(&heavy), "rs1 got {heavy} of 400");
    assert_eq!(heavy + count(&got, "rs2"), 400);
}

#[test]
fn nat_sh_keeps_a_client_on_one_server() {
    let l = nat_lab("nftsh", 2, true);
    let mut b = director_backend(&l.director, Options::default());
    let sh = Scheduler::Sh {
        fallback: false,
        port: false,
    };
    install(
        &mut b,
        &table(vec![service(tcp(VIP, 80), sh, nat_dests(&[1, 1]))]),
    );
    let got = names(&l.client, vip(), 20);
    assert!(got.iter().all(|n| *n == got[0]), "{got:?}");
}

#[test]
fn nat_persistence_keeps_a_client_on_its_first_server() {
    let l = nat_lab("nftpersist", 2, true);
    let mut b = director_backend(&l.director, Options::default());
    let mut svc = service(tcp(VIP, 80), Scheduler::Rr, nat_dests(&[1, 1]));
    svc.persistence = Some(Persistence {
        timeout: 60,
        netmask: None,
    });
    install(&mut b, &table(vec![svc]));
    let got = names(&l.client, vip(), 6);
    assert!(got.iter().all(|n| *n == got[0]), "{got:?}");
}

#[test]
fn nat_weight_zero_keeps_established_connections_and_takes_no_new_ones() {
    let l = nat_lab("nftquiesce", 2, true);
    let mut b = director_backend(&l.director, Options::default());
    install(
        &mut b,
        &table(vec![service(
            tcp(VIP, 80),
            Scheduler::Rr,
            nat_dests(&[1, 1]),
        )]),
    );
    let to = vip();
    let (conn, first) = l
        .client
        .run_in(move || {
            let c = TcpStream::connect_timeout(&to, TIMEOUT).unwrap();
            let name = greeting(&c);
            (c, name)
        })
        .unwrap();
    let weights = if first == "rs1" { [0, 1] } else { [1, 0] };
    install(
        &mut b,
        &table(vec![service(
            tcp(VIP, 80),
            Scheduler::Rr,
            nat_dests(&weights),
        )]),
    );
    let fresh = names(&l.client, vip(), 4);
    assert!(
        fresh.iter().all(|n| *n != first),
        "{fresh:?} after quiescing {first}"
    );
    // The established connection still reaches its server.
    let mut w = conn.try_clone().unwrap();
    writeln!(w, "still there?").unwrap();
    assert_eq!(greeting(&conn), first);
}

#[test]
fn nat_masquerade_serves_real_servers_without_a_route_back() {
    let l = nat_lab("nftmasq", 2, false);
    let mut b = director_backend(
        &l.director,
        Options {
            masquerade: Masquerade::All,
            ..Options::default()
        },
    );
    install(
        &mut b,
        &table(vec![service(
            tcp(VIP, 80),
            Scheduler::Rr,
            nat_dests(&[1, 1]),
        )]),
    );
    let got = names(&l.client, vip(), 2);
    assert_eq!(count(&got, "rs1"), 1, "{got:?}");
    assert_eq!(count(&got, "rs2"), 1, "{got:?}");
}

#[test]
fn nat_local_sorry_server_answers_when_no_real_server_has_weight() {
    let l = nat_lab("nftsorry", 2, true);
    serve(&l.director, 8080, "sorry");
    let mut b = director_backend(&l.director, Options::default());
    let mut dests = nat_dests(&[0, 0]);
    dests.push(dest("127.0.0.1", 8080, 1, Method::Nat));
    install(
        &mut b,
        &table(vec![service(tcp(VIP, 80), Scheduler::Wrr, dests)]),
    );
    assert_eq!(names(&l.client, vip(), 3), vec!["sorry"; 3]);
    drop(l.rs);
}

struct DrLab {
    _lab: Lab,
    client: Node,
    director: Node,
}

const DR_VIP: &str = "192.0.2.100";

/// Everyone on 192.0.2.0/24; the director holds the VIP on eth0, the real
/// servers on lo after `realserver::prepare`.
fn dr_lab(hint: &str, servers: u8) -> DrLab {
    let lab = Lab::new(hint).unwrap();
    let client = lab.add_node("client", &["192.0.2.1/24"]).unwrap();
    let director = lab
        .add_node("director", &["192.0.2.2/24", "192.0.2.100/32"])
        .unwrap();
    for i in 0..servers {
        let addr = format!("192.0.2.{}/24", 11 + i);
        let node = lab.add_node(&format!("rs{}", i + 1), &[&addr]).unwrap();
        let vip = ip(DR_VIP);
        node.run_in(move || keel_nft::realserver::prepare(vip, "lo"))
            .unwrap()
            .unwrap();
        serve(&node, 80, &format!("rs{}", i + 1));
    }
    DrLab {
        _lab: lab,
        client,
        director,
    }
}

fn dr_dests(n: u8) -> Vec<Destination> {
    (0..n)
        .map(|i| dest(&format!("192.0.2.{}", 11 + i), 80, 1, Method::Dr))
        .collect()
}

fn dr_vip() -> SocketAddr {
    format!("{DR_VIP}:80").parse().unwrap()
}

fn dr_opts_eth0() -> Options {
    Options {
        dr_default_device: Some("eth0".to_string()),
        ..Options::default()
    }
}

#[test]
fn dr_spreads_connections_and_servers_answer_from_the_vip() {
    let l = dr_lab("nftdr", 2);
    let mut b = director_backend(&l.director, dr_opts_eth0());
    install(
        &mut b,
        &table(vec![service(tcp(DR_VIP, 80), Scheduler::Rr, dr_dests(2))]),
    );
    let got = names(&l.client, dr_vip(), 100);
    for rs in ["rs1", "rs2"] {
        let n = count(&got, rs);
        assert!(n >= 25, "{rs} got {n} of 100");
    }
}

#[test]
fn dr_rr_alternates_strictly_between_two_servers() {
    let l = dr_lab("nftdrrr", 2);
    let mut b = director_backend(&l.director, dr_opts_eth0());
    install(
        &mut b,
        &table(vec![service(tcp(DR_VIP, 80), Scheduler::Rr, dr_dests(2))]),
    );
    let got = names(&l.client, dr_vip(), 6);
    assert_eq!(count(&got, "rs1"), 3, "{got:?}");
    assert!(got.windows(2).all(|w| w[0] != w[1]), "{got:?}");
}

#[test]
fn dr_wrr_3_to_1_follows_the_ipvs_order() {
    let l = dr_lab("nftdrwrr", 2);
    let mut b = director_backend(&l.director, dr_opts_eth0());
    let mut dests = dr_dests(2);
    dests[0].weight = 3;
    install(
        &mut b,
        &table(vec![service(tcp(DR_VIP, 80), Scheduler::Wrr, dests)]),
    );
    let got = names(&l.client, dr_vip(), 8);
    assert_eq!(
        got,
        ["rs1", "rs1", "rs1", "rs2", "rs1", "rs1", "rs1", "rs2"],
        "{got:?}"
    );
}

/// Opens `n` connections from `client` and keeps them open, with who
/// answered each.
fn open_conns(client: &Node, to: SocketAddr, n: usize) -> Vec<(TcpStream, String)> {
    client
        .run_in(move || {
            (0..n)
                .map(|_| {
                    let c = TcpStream::connect_timeout(&to, TIMEOUT).unwrap();
                    let name = greeting(&c);
                    (c, name)
                })
                .collect()
        })
        .unwrap()
}

/// Who answers a line sent on an open connection; `None` when the
/// connection broke (reset by a server that does not know it).
fn ask(conn: &TcpStream) -> Option<String> {
    let mut w = conn.try_clone().ok()?;
    writeln!(w, "who?").ok()?;
    conn.set_read_timeout(Some(TIMEOUT)).ok()?;
    let mut line = String::new();
    match BufReader::new(conn).read_line(&mut line) {
        Ok(n) if n > 0 => Some(line.trim().to_string()),
        _ => None,
    }
}

#[test]
fn dr_rr_established_connections_keep_their_server_while_others_open() {
    let l = dr_lab("nftdrkeep", 2);
    let mut b = director_backend(&l.director, dr_opts_eth0());
    install(
        &mut b,
        &table(vec![service(tcp(DR_VIP, 80), Scheduler::Rr, dr_dests(2))]),
    );
    let first = open_conns(&l.client, dr_vip(), 1);
    // Taking turns, the next connections alternate around the open one;
    // every later packet of each still reaches the server of its SYN, not
    // the one the slot table would pick.
    let more = open_conns(&l.client, dr_vip(), 20);
    let names: Vec<&str> = first.iter().chain(&more).map(|(_, n)| n.as_str()).collect();
    assert!(names.windows(2).all(|w| w[0] != w[1]), "{names:?}");
    for (i, (conn, name)) in first.iter().chain(&more).enumerate() {
        for _ in 0..3 {
            assert_eq!(ask(conn).as_deref(), Some(name.as_str()), "connection {i}");
        }
    }
}

#[test]
fn dr_rr_removing_one_of_four_servers_moves_no_connection_of_the_others() {
    let l = dr_lab("nftdrrrmove", 4);
    let mut b = director_backend(&l.director, dr_opts_eth0());
    install(
        &mut b,
        &table(vec![service(tcp(DR_VIP, 80), Scheduler::Rr, dr_dests(4))]),
    );
    let conns = open_conns(&l.client, dr_vip(), 40);
    for rs in ["rs1", "rs2", "rs3", "rs4"] {
        let n = conns.iter().filter(|(_, name)| name == rs).count();
        assert_eq!(n, 10, "{rs}");
    }
    let mut three = dr_dests(4);
    three.remove(2);
    install(
        &mut b,
        &table(vec![service(tcp(DR_VIP, 80), Scheduler::Rr, three)]),
    );
    for (i, (conn, name)) in conns.iter().enumerate() {
        if name != "rs3" {
            assert_eq!(ask(conn).as_deref(), Some(name.as_str()), "connection {i}");
        }
    }
    // New connections take turns among the three left.
    let fresh = names(&l.client, dr_vip(), 6);
    for rs in ["rs1", "rs2", "rs4"] {
        assert_eq!(count(&fresh, rs), 2, "{fresh:?}");
    }
}

/// A TCP connection from the DR client's source port `port` to `to`, closed
/// with RST when dropped. The kernel may still hold the previous connection's
/// 4-tuple for a moment after its RST (connect then fails with
/// EADDRNOTAVAIL): a few short retries wait that out.
fn connect_port(port: u16, to: SocketAddr) -> socket2::Socket {
    let from: SocketAddr = format!("192.0.2.1:{port}").parse().unwrap();
    for attempt in 0.. {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_linger(Some(Duration::ZERO)).unwrap();
        s.bind(&from.into()).unwrap();
        match s.connect_timeout(&to.into(), TIMEOUT) {
            Ok(()) => return s,
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable && attempt < 20 => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("connect from {from} to {to}: {e}"),
        }
    }
    unreachable!()
}

/// A connection from source port `port` of the DR client (closed with RST
/// when dropped), with who answered it.
fn connect_from(client: &Node, port: u16) -> (TcpStream, String) {
    let to = dr_vip();
    client
        .run_in(move || {
            let conn: TcpStream = connect_port(port, to).into();
            let name = greeting(&conn);
            (conn, name)
        })
        .unwrap()
}

#[test]
fn dr_rr_weight_zero_keeps_its_connections_but_takes_no_new_one_on_a_reused_port() {
    let l = dr_lab("nftdrquiesce", 2);
    let mut b = director_backend(&l.director, dr_opts_eth0());
    let with_weights = |w: [u32; 2]| {
        let mut d = dr_dests(2);
        d[0].weight = w[0];
        d[1].weight = w[1];
        table(vec![service(tcp(DR_VIP, 80), Scheduler::Rr, d)])
    };
    install(&mut b, &with_weights([1, 1]));
    let (conn, first) = connect_from(&l.client, 42000);
    let weights = if first == "rs1" { [0, 1] } else { [1, 0] };
    install(&mut b, &with_weights(weights));
    for _ in 0..3 {
        assert_eq!(ask(&conn).as_deref(), Some(first.as_str()));
    }
    let fresh = names(&l.client, dr_vip(), 4);
    assert!(
        fresh.iter().all(|n| *n != first),
        "{fresh:?} after quiescing {first}"
    );
    // The same source port again (the first connection reset): a new
    // connection, so not for the quiescent server.
    drop(conn);
    let (again, name) = connect_from(&l.client, 42000);
    assert_ne!(name, first);
    assert_eq!(ask(&again).as_deref(), Some(name.as_str()));
    // Weight back: the reused port stays with the server that has it now.
    install(&mut b, &with_weights([1, 1]));
    assert_eq!(ask(&again).as_deref(), Some(name.as_str()));
}

/// A client reuses a source port as soon as the previous connection is
/// gone; the new connection takes its turn in the rotation instead of going
/// back to the server the port was pinned to.
#[test]
fn dr_rr_reused_source_port_takes_its_turn() {
    let l = dr_lab("nftdrreuse", 2);
    let mut b = director_backend(&l.director, dr_opts_eth0());
    install(
        &mut b,
        &table(vec![service(tcp(DR_VIP, 80), Scheduler::Rr, dr_dests(2))]),
    );
    let mut got = Vec::new();
    for _ in 0..6 {
        let (conn, name) = connect_from(&l.client, 42100);
        assert_eq!(ask(&conn).as_deref(), Some(name.as_str()));
        drop(conn);
        got.push(name);
    }
    assert!(got.windows(2).all(|w| w[0] != w[1]), "{got:?}");
}

/// Who answers a connection from each source port (closed with RST so the
/// same ports can connect again at once).
fn names_by_port(client: &Node, ports: std::ops::Range<u16>) -> Vec<String> {
    let to = dr_vip();
    client
        .run_in(move || {
            ports
                .map(|port| greeting(&connect_port(port, to).into()))
                .collect()
        })
        .unwrap()
}

#[test]
fn dr_removing_one_of_four_servers_moves_no_flow_of_the_others() {
    let l = dr_lab("nftdrmove", 4);
    let mut b = director_backend(&l.director, dr_opts_eth0());
    install(
        &mut b,
        &table(vec![service(
            tcp(DR_VIP, 80),
            Scheduler::Mh {
                fallback: false,
                port: true,
            },
            dr_dests(4),
        )]),
    );
    let before = names_by_port(&l.client, 40000..41000);
    for rs in ["rs1", "rs2", "rs3", "rs4"] {
        assert!(count(&before, rs) > 150, "{rs}: {}", count(&before, rs));
    }
    let mut three = dr_dests(4);
    three.remove(2);
    install(
        &mut b,
        &table(vec![service(
            tcp(DR_VIP, 80),
            Scheduler::Mh {
                fallback: false,
                port: true,
            },
            three,
        )]),
    );
    let after = names_by_port(&l.client, 40000..41000);
    for (i, (was, now)) in before.iter().zip(&after).enumerate() {
        if was == "rs3" {
            assert_ne!(now, "rs3", "port {}", 40000 + i);
        } else {
            assert_eq!(was, now, "port {} moved", 40000 + i);
        }
    }
}

#[test]
fn dr_local_sorry_server_takes_over_when_no_real_server_is_left() {
    let l = dr_lab("nftdrsorry", 1);
    serve(&l.director, 80, "sorry");
    let mut b = director_backend(&l.director, dr_opts_eth0());
    install(
        &mut b,
        &table(vec![service(tcp(DR_VIP, 80), Scheduler::Rr, dr_dests(1))]),
    );
    assert_eq!(names(&l.client, dr_vip(), 2), vec!["rs1"; 2]);
    let sorry = vec![dest("127.0.0.1", 80, 1, Method::Dr)];
    install(
        &mut b,
        &table(vec![service(tcp(DR_VIP, 80), Scheduler::Rr, sorry)]),
    );
    assert_eq!(names(&l.client, dr_vip(), 2), vec!["sorry"; 2]);
    b.clear().unwrap();
    assert_eq!(b.read().unwrap(), Table::new());
}

#[test]
fn realserver_prepare_and_undo_are_idempotent() {
    let lab = Lab::new("nftrs").unwrap();
    let node = lab.add_node("rs", &["192.0.2.11/24"]).unwrap();
    let vip = ip(DR_VIP);
    let sysctl = |key: &str| {
        let out = node.exec_checked("sysctl", &["-n", key]).unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let first = node
        .run_in(move || keel_nft::realserver::prepare(vip, "lo"))
        .unwrap()
        .unwrap();
    assert_eq!(first.len(), 5, "{first:?}");
    assert_eq!(sysctl("net.ipv4.conf.all.arp_ignore"), "1");
    assert_eq!(sysctl("net.ipv4.conf.lo.arp_announce"), "2");
    assert!(node.ip_addrs("lo").unwrap().contains(&(vip, 32)));
    let again = node
        .run_in(move || keel_nft::realserver::prepare(vip, "lo"))
        .unwrap()
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    let undone = node
        .run_in(move || keel_nft::realserver::undo(vip, "lo"))
        .unwrap()
        .unwrap();
    assert_eq!(undone.len(), 5, "{undone:?}");
    assert!(!node.ip_addrs("lo").unwrap().contains(&(vip, 32)));
    assert_eq!(sysctl("net.ipv4.conf.all.arp_ignore"), "0");
    let again = node
        .run_in(move || keel_nft::realserver::undo(vip, "lo"))
        .unwrap()
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
}
