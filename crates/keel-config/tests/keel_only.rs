//! keel-only keywords: accepted in their context, printed back, and
//! invalid values reported.

use keel_config::diag::Severity;
use keel_config::model::LvsBackendChoice;

fn load(text: &str) -> (keel_config::Config, Vec<keel_config::diag::Diagnostic>) {
    let (cfg, d) = keel_config::from_str(text, "/etc/keepalived/test.conf").unwrap();
    (cfg, d.items)
}

#[test]
fn keel_lvs_backend_selects_the_data_plane_and_prints_back() {
    for (word, want) in [
        ("ipvs", LvsBackendChoice::Ipvs),
        ("nftables", LvsBackendChoice::Nftables),
        ("auto", LvsBackendChoice::Auto),
    ] {
        let (cfg, d) = load(&format!(
            "global_defs {{\n    keel_lvs_backend {word}\n}}\n"
        ));
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(cfg.global_defs.keel_lvs_backend, Some(want));
        let text = keel_config::to_keepalived_conf(&cfg);
        // `nftables` is also a global_defs keyword, so the printer quotes it.
        assert!(
            text.contains(&format!("keel_lvs_backend {word}"))
                || text.contains(&format!("keel_lvs_backend \"{word}\"")),
            "{text}"
        );
        let (again, _) = load(&text);
        assert_eq!(again.global_defs.keel_lvs_backend, Some(want));
    }
    let (cfg, _) = load("global_defs {\n    router_id a\n}\n");
    assert_eq!(cfg.global_defs.keel_lvs_backend, None);
}

#[test]
fn keel_lvs_backend_with_an_unknown_value_is_an_error() {
    let (cfg, d) = load("global_defs {\n    keel_lvs_backend ebpf\n}\n");
    let errors: Vec<_> = d.iter().filter(|x| x.severity == Severity::Error).collect();
    assert_eq!(errors.len(), 1, "{d:?}");
    assert_eq!(errors[0].keyword, "keel_lvs_backend");
    assert_eq!(cfg.global_defs.keel_lvs_backend, None);
}
