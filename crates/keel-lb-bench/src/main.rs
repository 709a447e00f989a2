//! keel-lb-bench: keel's load balancer on nftables, measured in a
//! throw-away namespace lab (needs root, `nft`, `ip` and nginx).
//!
//! For NAT and DR it prints requests per second through the VIP against
//! straight to one real server (new TCP connection per request, so each
//! one is scheduled), and the time from a real server's failure to the
//! ruleset without it, split into health-check detection and apply.
//!
//! ```text
//! keel-lb-bench [--duration SECS] [--conns N] [--trials N] [--rounds N] [--mode nat|dr|both]
//! ```

mod failover;
mod lab;
mod load;
mod nginx;

use anyhow::{Context, Result, bail};
use keel_lvs::Backend;
use lab::{LbLab, Mode, PORT, rs_ip};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

const MAX_DURATION_S: u64 = 10;
const MAX_CONNS: usize = 256;
const MAX_TRIALS: usize = 20;
const MAX_ROUNDS: usize = 5;

struct Args {
    duration: Duration,
    conns: usize,
    trials: usize,
    rounds: usize,
    modes: Vec<Mode>,
}

const USAGE: &str = "usage: keel-lb-bench [--duration SECS (1..=10, default 5)] [--conns N (1..=256, default 32)] [--trials N (1..=20, default 5)] [--rounds N (1..=5, default 3)] [--mode nat|dr|both]";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        duration: Duration::from_secs(5),
        conns: 32,
        trials: 5,
        rounds: 3,
        modes: vec![Mode::Nat, Mode::Dr],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .with_context(|| format!("{flag} {value}: not a number"))
        };
        match flag.as_str() {
            "--duration" => {
                let s = number()?;
                if !(1..=MAX_DURATION_S).contains(&s) {
                    bail!("--duration must be 1..={MAX_DURATION_S} seconds");
                }
                args.duration = Duration::from_secs(s);
            }
            "--conns" => {
                let n = number()? as usize;
                if !(1..=MAX_CONNS).contains(&n) {
                    bail!("--conns must be 1..={MAX_CONNS}");
                }
                args.conns = n;
            }
            "--trials" => {
                let n = number()? as usize;
                if !(1..=MAX_TRIALS).contains(&n) {
                    bail!("--trials must be 1..={MAX_TRIALS}");
                }
                args.trials = n;
            }
            "--rounds" => {
                let n = number()? as usize;
                if !(1..=MAX_ROUNDS).contains(&n) {
                    bail!("--rounds must be 1..={MAX_ROUNDS}");
                }
                args.rounds = n;
            }
            "--mode" => {
                args.modes = match value.as_str() {
                    "nat" => vec![Mode::Nat],
                    "dr" => vec![Mode::Dr],
                    "both" => vec![Mode::Nat, Mode::Dr],
                    _ => bail!("--mode is nat, dr or both"),
                }
            }
            _ => bail!("unknown argument {flag}\n{USAGE}"),
        }
    }
    Ok(args)
}

struct LoadRow {
    mode: Mode,
    target: String,
    /// One per round.
    results: Vec<load::LoadResult>,
}

struct FailoverRow {
    mode: Mode,
    trials: Vec<failover::Trial>,
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let mut loads = Vec::new();
    let mut failovers = Vec::new();
    for &mode in &args.modes {
        eprintln!("[{}] building the lab", mode.keyword());
        let mut l = LbLab::new(mode)?;
        let mut backend = l.backend();
        backend
            .sync(&l.table())
            .context("install the virtual service")?;
        let direct = SocketAddr::new(rs_ip(0), PORT);
        let (direct_from, vip_from) = l.client_sources();
        let targets = [
            (direct_from, direct, format!("direct {direct}")),
            (vip_from, l.vip(), format!("VIP {}", l.vip())),
        ];
        let mut rows: Vec<LoadRow> = targets
            .iter()
            .map(|(_, _, label)| LoadRow {
                mode,
                target: label.clone(),
                results: Vec::new(),
            })
            .collect();
        // Alternating rounds: on a shared machine the load of other work
        // drifts, and alternation spreads that drift over both targets.
        for round in 1..=args.rounds {
            for ((source, target, label), row) in targets.iter().zip(rows.iter_mut()) {
                eprintln!(
                    "[{}] round {round}/{}: {} connections against {label} for {:?}",
                    mode.keyword(),
                    args.rounds,
                    args.conns,
                    args.duration
                );
                let (source, target) = (*source, *target);
                let (conns, duration) = (args.conns, args.duration);
                let result = l
                    .client
                    .block_on(move || load::run(source, target, conns, duration))?;
                if result.ok == 0 {
                    bail!(
                        "[{}] no request to {label} succeeded ({} errors)",
                        mode.keyword(),
                        result.errors,
                    );
                }
                row.results.push(result);
            }
        }
        loads.extend(rows);
        eprintln!(
            "[{}] {} failures of rs2 under the health checker",
            mode.keyword(),
            args.trials
        );
        let trials = failover::measure(&mut l, args.trials)?;
        failovers.push(FailoverRow { mode, trials });
        // Leave the director as found before the namespaces go.
        backend.clear().context("remove keel's ruleset")?;
        eprintln!("[{}] VIP {} done", mode.keyword(), l.vip_ip());
    }
    print_report(&args, &loads, &failovers);
    Ok(())
}

/// Picks one duration out of a failover trial.
type Step = fn(&failover::Trial) -> Duration;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let median = match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    let min = v.first().copied().unwrap_or(f64::NAN);
    let max = v.last().copied().unwrap_or(f64::NAN);
    (median, min, max)
}

fn print_report(args: &Args, loads: &[LoadRow], failovers: &[FailoverRow]) {
    println!(
        "\nThroughput: {} concurrent clients, one TCP connection per HTTP/1.0 request, {} alternating rounds of {} s per target\n",
        args.conns,
        args.rounds,
        args.duration.as_secs()
    );
    println!(
        "| mode | target | req/s median (min–max) | requests | errors | p50 ms | p99 ms | answered by |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in loads {
        let mut by_server: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &row.results {
            for (name, n) in &r.by_server {
                *by_server.entry(name.as_str()).or_default() += n;
            }
        }
        let by: Vec<String> = by_server
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        let (median, min, max) = stats(row.results.iter().map(load::LoadResult::rps).collect());
        // Latencies of the round whose rate is the median (the upper one
        // for an even count).
        let mut by_rate: Vec<&load::LoadResult> = row.results.iter().collect();
        by_rate.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
        let mid = by_rate.get(by_rate.len() / 2);
        let quantile = |q| mid.and_then(|r| r.latency_ms(q)).unwrap_or(f64::NAN);
        println!(
            "| {} | {} | {median:.0} ({min:.0}–{max:.0}) | {} | {} | {:.2} | {:.2} | {} |",
            row.mode.keyword(),
            row.target,
            row.results.iter().map(|r| r.ok).sum::<u64>(),
            row.results.iter().map(|r| r.errors).sum::<u64>(),
            quantile(0.5),
            quantile(0.99),
            by.join(", ")
        );
    }
    println!(
        "\nFailure to ruleset change: HTTP_GET every 1 s (delay_loop 1, retry 0), nginx on rs2 stopped (SIGTERM) at T0, {} trials\n",
        args.trials
    );
    println!("| mode | step | median ms | min ms | max ms |");
    println!("|---|---|---|---|---|");
    for row in failovers {
        let steps: [(&str, Step); 4] = [
            ("detection: T0 → health DOWN", |t| t.detect),
            ("apply: DOWN → nft ruleset read back without rs2", |t| {
                t.apply
            }),
            ("  of which DOWN → nft sync returned", |t| t.sync),
            ("total", failover::Trial::total),
        ];
        for (name, get) in steps {
            let (median, min, max) = stats(row.trials.iter().map(|t| ms(get(t))).collect());
            println!(
                "| {} | {name} | {median:.1} | {min:.1} | {max:.1} |",
                row.mode.keyword()
            );
        }
    }
    for row in failovers {
        let each: Vec<String> = row
            .trials
            .iter()
            .map(|t| format!("{:.0}+{:.0}", ms(t.detect), ms(t.apply)))
            .collect();
        println!(
            "\n{} trials (detection+apply ms): {}",
            row.mode.keyword(),
            each.join(", ")
        );
    }
}
