//! Property: for generated configurations, the canonical printer's text
//! reads back to the same model, and printing is idempotent.

use proptest::prelude::*;

fn instance() -> impl Strategy<Value = String> {
    (
        1u8..=255,
        prop::option::of(1u8..=255),
        prop::option::of(prop_oneof![Just("MASTER"), Just("BACKUP")]),
        prop_oneof![Just("1"), Just("2"), Just("0.5"), Just("1.5"), Just("0.01")],
        any::<bool>(),
        prop::collection::vec((1u8..=254, 8u8..=32), 1..4),
        prop::option::of("[a-z0-9.]{1,10}"),
        0u16..=1000,
    )
        .prop_map(|(vrid, prio, state, adv, nopreempt, vips, pass, delay)| {
            let mut s = format!(
                "vrrp_instance VI_{vrid} {{\n    interface eth0\n    virtual_router_id {vrid}\n"
            );
            if let Some(p) = prio {
                s += &format!("    priority {p}\n");
            }
            if let Some(st) = state {
                s += &format!("    state {st}\n");
            }
            s += &format!("    advert_int {adv}\n");
            if nopreempt {
                s += "    nopreempt\n";
            }
            s += &format!("    preempt_delay {}\n", f64::from(delay) / 10.0);
            if let Some(p) = pass {
                s += &format!(
                    "    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}\n"
                );
            }
            s += "    virtual_ipaddress {\n";
            for (host, len) in vips {
                s += &format!("        192.0.2.{host}/{len} brd +\n");
            }
            s += "    }\n}\n";
            s
        })
}

fn virtual_server() -> impl Strategy<Value = String> {
    (
        1u16..=65535,
        prop_oneof![Just("rr"), Just("wlc"), Just("sh")],
        prop_oneof![Just("NAT"), Just("DR"), Just("TUN")],
        prop::option::of(1u32..=3600),
        prop::collection::vec((1u8..=254, 0u16..=100, 0usize..3), 0..4),
    )
        .prop_map(|(port, sched, method, persist, rss)| {
            let mut s = format!(
                "virtual_server 198.51.100.1 {port} {{\n    protocol TCP\n    lb_algo {sched}\n    lb_kind {method}\n"
            );
            if let Some(p) = persist {
                s += &format!("    persistence_timeout {p}\n");
            }
            for (host, weight, kind) in rss {
                s += &format!("    real_server 203.0.113.{host} {port} {{\n        weight {weight}\n");
                s += match kind {
                    0 => "        TCP_CHECK {\n            connect_timeout 2\n        }\n",
                    1 => "        HTTP_GET {\n            url {\n                path /\n                status_code 200-399\n            }\n            nb_get_retry 2\n        }\n",
                    _ => "        MISC_CHECK {\n            misc_path \"/bin/check x\"\n        }\n",
                };
                s += "    }\n";
            }
            s += "}\n";
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn printed_config_reads_back_identically(
        instances in prop::collection::vec(instance(), 0..3),
        servers in prop::collection::vec(virtual_server(), 0..3),
    ) {
        let text = format!("{}{}", instances.concat(), servers.concat());
        let (cfg, _) = keel_config::from_str(&text, "gen.conf").unwrap();
        let printed = keel_config::to_keepalived_conf(&cfg);
        let (again, diags) = keel_config::from_str(&printed, "printed.conf").unwrap();
        // Errors in the generated input (duplicate VRIDs) may repeat, but the
        // printer must not introduce new kinds of diagnostics.
        prop_assert!(diags.errors().all(|d| d.message.contains("virtual_router_id") || d.message.contains("duplicate")),
            "{:?}\n{}", diags.items, printed);
        prop_assert_eq!(&again, &cfg, "{}", printed);
        prop_assert_eq!(keel_config::to_keepalived_conf(&again), printed);
    }
}
