//! Preprocessing throughput on a generated configuration: one multi-line
//! macro expanded by `~SEQ` into N `vrrp_instance` blocks (default 10,000), the
//! way large keepalived deployments are written.
//!
//! `cargo run --release -p keel-config --example gen_bench [-- N]`

use keel_config::{MemSource, PreprocessOptions, load_str};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

const TEMPLATE: &str = r#"global_defs {
    router_id bench
    vrrp_garp_master_delay 1 # fast failover
}
$VI= \
vrrp_instance VI_${N} { \
    state BACKUP \
    interface vlan${N} \
    virtual_router_id 51 \
    priority 100 \
    advert_int 1 \
    authentication { \
        auth_type PASS \
        auth_pass "s3cr${_HASH}t" \
    } \
    virtual_ipaddress { \
        10.${N}.0.1/16 dev vlan${N} \
    } \
    notify_master "/etc/keepalived/notify.sh VI_${N} master" \
}
"#;

fn main() -> ExitCode {
    let n: u64 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 10_000,
        Some(Ok(n)) if n > 0 => n,
        _ => {
            eprintln!("usage: gen_bench [N>0]");
            return ExitCode::from(2);
        }
    };
    let text = format!("{TEMPLATE}~SEQ(N, 1, 1, {n}) $VI\n");
    let opts = PreprocessOptions {
        config_id: "bench".into(),
        ..Default::default()
    };
    let src = MemSource::new();
    let mut best = f64::MAX;
    let mut instances = 0;
    let mut words = 0usize;
    for _ in 0..5 {
        let t = Instant::now();
        let parsed = match load_str(
            &text,
            Path::new("/etc/keepalived/keepalived.conf"),
            &src,
            &opts,
        ) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        best = best.min(t.elapsed().as_secs_f64());
        instances = parsed
            .nodes
            .iter()
            .filter(|n| n.name() == "vrrp_instance")
            .count();
        words = count_words(&parsed.nodes);
    }
    println!(
        "{instances} vrrp_instance blocks, {words} words: preprocess+parse {:.1} ms (best of 5)",
        best * 1e3
    );
    ExitCode::SUCCESS
}

fn count_words(nodes: &[keel_config::ast::Node]) -> usize {
    nodes
        .iter()
        .map(|n| 1 + n.args.len() + count_words(n.children()))
        .sum()
}
