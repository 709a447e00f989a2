//! Every golden case applied to the real kernel inside a fresh network
//! namespace, read back with `nft -j list` and compared with the desired
//! table. The root namespace's ruleset is never touched.

#[path = "common/cases.rs"]
mod cases;
#[path = "common/netns.rs"]
mod netns;

use cases::*;
use keel_lvs::{Backend, Method, Scheduler, Table};
use keel_nft::{Nft, NftBackend, Options};
use netns::Netns;

/// A namespace with an `eth0` (one end of a veth pair) for DR hooks.
fn lab() -> Netns {
    let ns = Netns::new();
    ns.exec(
        "ip",
        &[
            "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
        ],
    );
    ns.exec("ip", &["link", "set", "eth0", "up"]);
    ns
}

fn backend(ns: &Netns, opts: Options) -> NftBackend {
    NftBackend::new(Nft::in_netns(&ns.name), opts)
}

#[test]
fn every_case_loads_and_reads_back_as_the_desired_table() {
    let ns = lab();
    for (name, table, opts) in cases() {
        let mut b = backend(&ns, opts);
        b.apply(&table, &[])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = b.read().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, table.normalized(), "{name}");
        assert!(b.sync(&table).unwrap().is_empty(), "{name}: second sync");
    }
}

#[test]
fn sync_replaces_the_previous_table_and_clear_removes_everything() {
    let ns = lab();
    let mut b = backend(&ns, dr_opts("eth0"));
    let (_, first, _) = cases()
        .into_iter()
        .find(|c| c.0 == "dr_sh_persistence_and_nat")
        .unwrap();
    b.sync(&first).unwrap();
    let second = table(vec![service(
        tcp("203.0.113.20", 53),
        Scheduler::Wrr,
        vec![dest("192.0.2.13", 53, 2, Method::Nat)],
    )]);
    let changes = b.sync(&second).unwrap();
    assert!(!changes.is_empty());
    assert_eq!(b.read().unwrap(), second.normalized());
    // The DR service went away, and with it the netdev table.
    let listing = ns.exec("nft", &["list", "tables"]);
    assert_eq!(listing.trim(), "table inet keel");
    b.clear().unwrap();
    assert_eq!(b.read().unwrap(), Table::new());
    assert_eq!(ns.exec("nft", &["list", "ruleset"]).trim(), "");
    // Clearing twice is fine (stop after a failed start).
    b.clear().unwrap();
}

#[test]
fn a_failing_script_leaves_the_installed_table_untouched() {
    let ns = lab();
    let mut b = backend(&ns, dr_opts("eth0"));
    let (_, good, _) = cases().into_iter().find(|c| c.0 == "nat_rr").unwrap();
    b.sync(&good).unwrap();
    // The DR hook names a device that does not exist: the kernel refuses
    // the transaction as a whole.
    let mut bad = good.clone();
    bad.services.push(service(
        tcp("203.0.113.30", 80),
        Scheduler::Rr,
        vec![dest("192.0.2.11", 80, 1, Method::Dr)],
    ));
    let mut broken = backend(&ns, dr_opts("nosuchdev0"));
    let err = broken.sync(&bad).unwrap_err();
    assert!(
        matches!(err, keel_lvs::BackendError::Command { .. }),
        "{err}"
    );
    assert_eq!(b.read().unwrap(), good.normalized());
}

#[test]
fn tables_not_written_by_keel_are_reported_not_misread() {
    let ns = lab();
    ns.exec("nft", &["add", "table", "inet", "keel"]);
    ns.exec(
        "nft",
        &[
            "add",
            "map",
            "inet",
            "keel",
            "svc4",
            "{ type ipv4_addr . inet_proto . inet_service : verdict; }",
        ],
    );
    ns.exec("nft", &["add", "chain", "inet", "keel", "elsewhere"]);
    ns.exec(
        "nft",
        &[
            "add",
            "element",
            "inet",
            "keel",
            "svc4",
            "{ 203.0.113.10 . tcp . 80 : goto elsewhere }",
        ],
    );
    let b = backend(&ns, Options::default());
    let err = b.read().unwrap_err();
    assert!(matches!(err, keel_lvs::BackendError::State(_)), "{err}");
}

fn affinity_elements(ns: &Netns) -> String {
    let mut out = String::new();
    for line in ns.exec("nft", &["list", "sets", "inet"]).lines() {
        if line.contains("elements") {
            out.push_str(line.trim());
            out.push('\n');
        }
    }
    out
}

#[test]
fn persistence_entries_survive_updates_that_keep_the_service_settings() {
    let ns = lab();
    let mut b = backend(&ns, Options::default());
    let persistent = |extra_weight: u32| {
        let mut s = service(
            tcp("203.0.113.10", 80),
            Scheduler::Rr,
            vec![
                dest("192.0.2.11", 80, 1, Method::Nat),
                dest("192.0.2.12", 80, extra_weight, Method::Nat),
            ],
        );
        s.persistence = Some(keel_lvs::Persistence {
            timeout: 300,
            netmask: None,
        });
        s
    };
    let other = service(
        tcp("203.0.113.10", 443),
        Scheduler::Rr,
        vec![dest("192.0.2.11", 443, 1, Method::Nat)],
    );
    b.sync(&table(vec![persistent(1)])).unwrap();
    // A client the kernel would have recorded on its first connection.
    ns.exec(
        "nft",
        &[
            "add",
            "element",
            "inet",
            "keel",
            "vs-tcp-203.0.113.10-80/aff-300s-host-192.0.2.11-80",
            "{ 198.51.100.7 }",
        ],
    );
    // Another service appears and the second server quiesces: the client
    // stays bound to 192.0.2.11.
    let next = table(vec![persistent(0), other.clone()]);
    b.sync(&next).unwrap();
    assert_eq!(b.read().unwrap(), next.normalized());
    assert!(
        affinity_elements(&ns).contains("198.51.100.7"),
        "{}",
        ns.exec("nft", &["list", "ruleset"])
    );
    // New persistence settings start from scratch: the old set is gone.
    let mut changed = persistent(0);
    changed.persistence = Some(keel_lvs::Persistence {
        timeout: 600,
        netmask: Some(24),
    });
    let last = table(vec![changed, other]);
    b.sync(&last).unwrap();
    assert_eq!(b.read().unwrap(), last.normalized());
    let sets = ns.exec("nft", &["list", "sets", "inet"]);
    assert!(!sets.contains("aff-300s"), "{sets}");
    assert!(sets.contains("aff-600s-24-192.0.2.11-80"), "{sets}");
    assert!(!affinity_elements(&ns).contains("198.51.100.7"));
}

fn flow_elements(ns: &Netns) -> String {
    let mut out = String::new();
    for line in ns.exec("nft", &["list", "sets", "netdev"]).lines() {
        let line = line.trim();
        if line.starts_with("set ") || line.contains("elements") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn dr_flow_entries_survive_updates_except_those_of_a_removed_server() {
    let ns = lab();
    let mut b = backend(&ns, dr_opts("eth0"));
    let rr = |last: &str| {
        table(vec![service(
            tcp("203.0.113.10", 80),
            Scheduler::Rr,
            vec![
                dest("192.0.2.11", 80, 1, Method::Dr),
                dest(last, 80, 1, Method::Dr),
            ],
        )])
    };
    b.sync(&rr("192.0.2.12")).unwrap();
    // Flows the packet path would have pinned to each server.
    for (server, flow) in [
        ("192.0.2.11", "198.51.100.7 . 40001"),
        ("192.0.2.12", "198.51.100.7 . 40002"),
    ] {
        ns.exec(
            "nft",
            &[
                "add",
                "element",
                "netdev",
                "keel",
                &format!("vs-tcp-203.0.113.10-80/flows-900s-{server}-80"),
                &format!("{{ {flow} }}"),
            ],
        );
    }
    // 192.0.2.12 is replaced by 192.0.2.13: the first server keeps its
    // flow, the removed one's flow is forgotten (and rescheduled).
    let next = rr("192.0.2.13");
    b.sync(&next).unwrap();
    assert_eq!(b.read().unwrap(), next.normalized());
    let sets = flow_elements(&ns);
    assert!(sets.contains("198.51.100.7 . 40001"), "{sets}");
    assert!(!sets.contains("198.51.100.7 . 40002"), "{sets}");
    assert!(sets.contains("flows-900s-192.0.2.13-80"), "{sets}");
    assert!(!sets.contains("flows-900s-192.0.2.12-80"), "{sets}");
    // Reading the table back (at every resync) lists the dispatch maps'
    // elements but not the flows, which may be tens of thousands.
    let terse = b
        .nft
        .list_table_json_terse("netdev", "keel")
        .unwrap()
        .unwrap();
    assert!(terse.contains("flows-900s-192.0.2.11-80"), "{terse}");
    assert!(!terse.contains("40001"), "{terse}");
    assert!(
        b.nft
            .list_table_json_terse("netdev", "other")
            .unwrap()
            .is_none()
    );
    assert!(
        b.nft
            .list_table_json("netdev", "keel")
            .unwrap()
            .unwrap()
            .contains("40001")
    );
}
