//! Golden files of the rendered ruleset, one per scheduler / method case.
//! Set KEEL_UPDATE_GOLDEN=1 to rewrite them after an intended change.

#[path = "common/cases.rs"]
mod cases;

use cases::*;
use keel_lvs::{Method, Scheduler, TunnelCsum, TunnelKind};
use keel_nft::{RenderError, render};
use std::path::PathBuf;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.nft"))
}

#[test]
fn rendered_rulesets_match_golden_files() {
    let update = std::env::var_os("KEEL_UPDATE_GOLDEN").is_some();
    let mut mismatched = Vec::new();
    for (name, table, opts) in cases() {
        let text = render(&table, &opts).unwrap();
        let path = golden_path(name);
        if update {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let want =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if want != text {
            eprintln!("--- {name}: rendered ---\n{text}");
            mismatched.push(name);
        }
    }
    assert!(
        mismatched.is_empty(),
        "differ from golden files: {mismatched:?}"
    );
}

#[test]
fn render_is_deterministic_and_order_independent() {
    for (_, table, opts) in cases() {
        let mut shuffled = table.clone();
        shuffled.services.reverse();
        for s in &mut shuffled.services {
            s.destinations.reverse();
        }
        assert_eq!(
            render(&table, &opts).unwrap(),
            render(&shuffled, &opts).unwrap()
        );
    }
}

#[test]
fn schedulers_without_nftables_equivalent_are_refused_with_alternatives() {
    for name in [
        "lc", "wlc", "lblc", "lblcr", "sed", "nq", "fo", "ovf", "twos",
    ] {
        let t = table(vec![service(
            tcp("203.0.113.10", 80),
            Scheduler::from_name(name).unwrap(),
            vec![dest("192.0.2.11", 80, 1, Method::Nat)],
        )]);
        let err = render(&t, &small_opts()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "virtual server TCP 203.0.113.10:80: lvs_sched {name} is not available on the nftables data plane; use rr, wrr, sh, dh or mh"
            )
        );
    }
}

#[test]
fn tunnel_method_and_dr_fwmark_are_refused() {
    let tun = Method::Tun {
        kind: TunnelKind::Ipip,
        csum: TunnelCsum::Nocsum,
    };
    let t = table(vec![service(
        tcp("203.0.113.10", 80),
        Scheduler::Rr,
        vec![dest("192.0.2.11", 80, 1, tun)],
    )]);
    let err = render(&t, &small_opts()).unwrap_err().to_string();
    assert!(
        err.contains("lvs_method TUN is not available on the nftables data plane; use NAT or DR"),
        "{err}"
    );
    let t = table(vec![service(
        keel_lvs::ServiceKey::Fwmark {
            mark: 1,
            family: keel_lvs::Family::Inet,
        },
        Scheduler::Rr,
        vec![dest("192.0.2.11", 80, 1, Method::Dr)],
    )]);
    let err = render(&t, &dr_opts("eth0")).unwrap_err().to_string();
    assert!(
        err.contains(
            "lvs_method DR is not available on the nftables data plane for fwmark services; use NAT"
        ),
        "{err}"
    );
}

#[test]
fn dr_without_a_known_interface_is_an_error() {
    let t = table(vec![service(
        tcp("203.0.113.10", 80),
        Scheduler::Rr,
        vec![dest("192.0.2.11", 80, 1, Method::Dr)],
    )]);
    assert!(matches!(
        render(&t, &small_opts()),
        Err(RenderError::NoDrDevice(_, _))
    ));
    let mut opts = small_opts();
    opts.dr_devices.insert(ip("203.0.113.10"), "eth1".into());
    assert!(render(&t, &opts).unwrap().contains("device \"eth1\""));
    opts.dr_devices
        .insert(ip("203.0.113.10"), "bad\"name".into());
    assert!(matches!(
        render(&t, &opts),
        Err(RenderError::BadName { .. })
    ));
}

#[test]
fn update_script_keeps_wanted_affinity_sets_and_drops_the_rest() {
    let (_, t, opts) = cases()
        .into_iter()
        .find(|c| c.0 == "nat_persistence_masquerade")
        .unwrap();
    let existing = keel_nft::Existing {
        chains: ["prerouting", "output", "vs-tcp-203.0.113.10-80"]
            .map(String::from)
            .into(),
        sets: [
            "masq4",
            "vs-tcp-203.0.113.10-80/aff-360s-24-192.0.2.11-80",
            "vs-tcp-203.0.113.10-80/aff-60s-host-192.0.2.11-80",
        ]
        .map(String::from)
        .into(),
        maps: ["svc4"].map(String::from).into(),
    };
    let text = keel_nft::render_update(&t, &opts, Some(&existing), None).unwrap();
    let path = golden_path("update_keeps_affinity");
    if std::env::var_os("KEEL_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(text, std::fs::read_to_string(&path).unwrap());
    // Without an existing table the same content comes after a plain
    // delete.
    assert!(
        render(&t, &opts)
            .unwrap()
            .contains("delete table inet keel")
    );
}

/// Updating a DR rr service keeps the flow sets of the servers that stay
/// (their connections keep their server) and drops the removed server's.
#[test]
fn update_script_keeps_flow_sets_of_remaining_dr_servers() {
    let svc = "vs-tcp-203.0.113.10-80";
    let existing = keel_nft::Existing {
        chains: [
            "ingress-eth0".to_string(),
            svc.to_string(),
            format!("{svc}/rs-192.0.2.11-80"),
            format!("{svc}/rs-192.0.2.12-80"),
        ]
        .into(),
        sets: [
            format!("{svc}/flows-900s-192.0.2.11-80"),
            format!("{svc}/flows-900s-192.0.2.12-80"),
        ]
        .into(),
        maps: ["dr4".to_string()].into(),
    };
    let t = table(vec![service(
        tcp("203.0.113.10", 80),
        Scheduler::Rr,
        vec![
            dest("192.0.2.11", 80, 1, Method::Dr),
            dest("192.0.2.13", 80, 1, Method::Dr),
        ],
    )]);
    let opts = dr_opts("eth0");
    let text = keel_nft::render_update(&t, &opts, None, Some(&existing)).unwrap();
    let path = golden_path("update_keeps_flows");
    if std::env::var_os("KEEL_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(text, std::fs::read_to_string(&path).unwrap());
    assert!(text.contains(&format!(
        "delete set netdev keel {svc}/flows-900s-192.0.2.12-80"
    )));
    assert!(!text.contains(&format!(
        "delete set netdev keel {svc}/flows-900s-192.0.2.11-80"
    )));
    assert!(!text.contains("delete table netdev keel"));
}
