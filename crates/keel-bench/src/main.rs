//! `keel-bench`: VRRP failover, ARP convergence, footprint and advert
//! jitter of keel and keepalived, measured in the same namespace lab with
//! the same configuration, printed as one table.
//!
//! Needs root, iproute2, tcpdump and keepalived. Run with
//! `cargo run --release -p keel-bench -- [--reps N] [--quick]`.

mod bench;
mod conf;
mod daemon;
mod monitor;
mod procfs;
mod stats;
mod wire;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::bench::{FailoverResult, JitterResult, Mode, ResourceResult};
use crate::daemon::{Binaries, Impl};
use crate::stats::{Rng, Summary, percentile, summarize};

#[derive(Parser, Debug)]
#[command(about = "VRRP benchmark: keel side by side with keepalived in a namespace lab")]
struct Args {
    /// Repetitions of every failover measurement.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// 1 repetition, 50 scripts, 5 s windows (about two minutes).
    #[arg(long)]
    quick: bool,
    /// The keel binary (default: `keel` next to this program, built with
    /// cargo if missing).
    #[arg(long)]
    keel: Option<PathBuf>,
    #[arg(long, default_value = "/usr/sbin/keepalived")]
    keepalived: PathBuf,
    /// Number of vrrp_scripts in the jitter runs (default 200, quick 50).
    #[arg(long)]
    scripts: Option<usize>,
    /// Measurements to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Failover after SIGKILL/SIGTERM and the client's ARP entry.
    Failover,
    /// RSS and idle CPU with 1 and 255 instances.
    Footprint,
    /// Advert intervals while scripts run.
    Jitter,
}

struct Settings {
    parts: Vec<Part>,
    reps: usize,
    scripts: usize,
    /// Idle window of the footprint runs.
    idle: Duration,
    /// Wait after the election before the idle window (past the second
    /// GARP burst, which comes 5 s after becoming master).
    settle: Duration,
    /// Capture windows of the jitter runs at 1 s and at 0.1 s.
    jitter_slow: Duration,
    jitter_fast: Duration,
    /// Wait after the election before a jitter capture, for the script
    /// schedule to reach its steady state.
    jitter_settle: Duration,
}

impl Settings {
    fn from(args: &Args) -> Settings {
        let parts = if args.only.is_empty() {
            vec![Part::Failover, Part::Footprint, Part::Jitter]
        } else {
            args.only.clone()
        };
        if args.quick {
            Settings {
                parts,
                reps: 1,
                scripts: args.scripts.unwrap_or(50),
                idle: Duration::from_secs(5),
                settle: Duration::from_secs(1),
                jitter_slow: Duration::from_secs(5),
                jitter_fast: Duration::from_secs(5),
                jitter_settle: Duration::from_secs(1),
            }
        } else {
            Settings {
                parts,
                reps: args.reps.max(1),
                scripts: args.scripts.unwrap_or(200),
                idle: Duration::from_secs(10),
                settle: Duration::from_secs(6),
                jitter_slow: Duration::from_secs(20),
                jitter_fast: Duration::from_secs(10),
                jitter_settle: Duration::from_secs(2),
            }
        }
    }
}

const V2_1S: Mode = Mode {
    label: "v2, advert 1 s",
    version: 2,
    advert: "1",
    adv: Duration::from_secs(1),
};
const V3_10MS: Mode = Mode {
    label: "v3, advert 10 ms",
    version: 3,
    advert: "0.01",
    adv: Duration::from_millis(10),
};
const V3_100MS: Mode = Mode {
    label: "v3, advert 100 ms",
    version: 3,
    advert: "0.1",
    adv: Duration::from_millis(100),
};

const IMPLS: [Impl; 2] = [Impl::Keel, Impl::Keepalived];

/// One table row: a figure and its value per implementation.
struct Row {
    what: String,
    values: [String; 2],
}

struct Report {
    sections: Vec<(String, Vec<Row>)>,
    notes: Vec<String>,
}

impl Report {
    fn section(&mut self, title: &str) {
        self.sections.push((title.to_string(), Vec::new()));
    }

    fn row(&mut self, what: impl Into<String>, values: [String; 2]) {
        if let Some((_, rows)) = self.sections.last_mut() {
            rows.push(Row {
                what: what.into(),
                values,
            });
        }
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        for (title, rows) in &self.sections {
            s.push_str(&format!(
                "\n**{title}**\n\n| figure | keel | keepalived |\n|---|---|---|\n"
            ));
            for r in rows {
                s.push_str(&format!(
                    "| {} | {} | {} |\n",
                    r.what, r.values[0], r.values[1]
                ));
            }
        }
        if !self.notes.is_empty() {
            s.push_str("\nNotes:\n");
            for n in &self.notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
        s
    }
}

fn fmt_summary(s: Option<Summary>, decimals: usize) -> String {
    match s {
        Some(s) => format!(
            "{:.d$} ({:.d$}–{:.d$}, n={})",
            s.median,
            s.min,
            s.max,
            s.n,
            d = decimals
        ),
        None => "n/a".to_string(),
    }
}

fn per_impl<T>(results: &[(Impl, Result<T>)], f: impl Fn(&T) -> String) -> [String; 2] {
    IMPLS.map(|which| {
        results
            .iter()
            .find(|(w, _)| *w == which)
            .map(|(_, r)| match r {
                Ok(v) => f(v),
                Err(_) => "failed".to_string(),
            })
            .unwrap_or_else(|| "n/a".to_string())
    })
}

fn log(start: Instant, msg: &str) {
    eprintln!("[{:7.1} s] {msg}", start.elapsed().as_secs_f64());
}

fn note_errors<T>(report: &mut Report, what: &str, results: &[(Impl, Result<T>)]) {
    for (which, r) in results {
        if let Err(e) = r {
            let first = format!("{e:#}");
            let first = first.lines().next().unwrap_or("").to_string();
            report
                .notes
                .push(format!("{what}, {}: {first}", which.name()));
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !nix::unistd::geteuid().is_root() {
        bail!("keel-bench builds network namespaces and must run as root");
    }
    let set = Settings::from(&args);
    let bins = Binaries {
        keel: find_keel(args.keel.as_deref())?,
        keepalived: args.keepalived.clone(),
    };
    if !bins.keepalived.is_file() {
        bail!("{} not found (--keepalived)", bins.keepalived.display());
    }
    let start = Instant::now();
    let mut rng = Rng::from_clock();
    let mut report = Report {
        sections: Vec::new(),
        notes: Vec::new(),
    };

    if set.parts.contains(&Part::Failover) {
        // 1 + 2: failover and the client's ARP entry.
        report.section(&format!(
            "Failover: signal to the master → VIP added on the backup (ms, median (min–max), {} rep(s) per signal)",
            set.reps
        ));
        let mut arp_rows = Vec::new();
        for mode in [V2_1S, V3_10MS] {
            let mut results: Vec<(Impl, Result<FailoverResult>)> = Vec::new();
            for which in IMPLS {
                log(start, &format!("failover {} {}", which.name(), mode.label));
                let r = bench::failover(&bins, which, &mode, set.reps, &mut rng);
                if let Err(e) = &r {
                    log(start, &format!("  failed: {e:#}"));
                }
                results.push((which, r));
            }
            let dec = if mode.adv < Duration::from_secs(1) {
                1
            } else {
                0
            };
            report.row(
                format!(
                    "{}: SIGKILL (RFC: uniform in [{:.1}, {:.1}])",
                    mode.label,
                    mode.master_down_ms() - stats::ms(mode.adv),
                    mode.master_down_ms()
                ),
                per_impl(&results, |r| fmt_summary(summarize(&r.kill_ms), dec)),
            );
            report.row(
                format!("{}: SIGTERM (RFC: skew {:.1})", mode.label, mode.skew_ms()),
                per_impl(&results, |r| fmt_summary(summarize(&r.term_ms), dec)),
            );
            arp_rows.push(Row {
                what: format!("{} (both signals)", mode.label),
                values: per_impl(&results, |r| fmt_summary(summarize(&r.arp_ms), 1)),
            });
            note_errors(&mut report, &format!("failover {}", mode.label), &results);
            for (_, r) in &results {
                if let Ok(r) = r {
                    report.notes.extend(r.notes.iter().cloned());
                }
            }
        }
        report.section("Client ARP: VIP added on the backup → client's entry for the VIP has the backup's MAC (ms, `ip -ts monitor`)");
        for r in arp_rows {
            report.row(r.what, r.values);
        }
    }

    if set.parts.contains(&Part::Footprint) {
        // 3: footprint.
        report.section(&format!(
            "Footprint, v2 1 s, idle {} s window after the GARP bursts (RSS = VmRSS sum of the daemon's processes; CPU from schedstat, utime+stime in brackets)",
            set.idle.as_secs()
        ));
        for n in [1u8, 255] {
            let mut results: Vec<(Impl, Result<ResourceResult>)> = Vec::new();
            for which in IMPLS {
                log(
                    start,
                    &format!("footprint {} {n} instance(s)", which.name()),
                );
                let r = bench::resources(&bins, which, n, set.idle, set.settle);
                if let Err(e) = &r {
                    log(start, &format!("  failed: {e:#}"));
                }
                results.push((which, r));
            }
            for (role, pick) in [("master", true), ("backup", false)] {
                let fp = |r: &ResourceResult| if pick { r.master } else { r.backup };
                report.row(
                    format!("RSS kB, {n} inst, {role} (processes)"),
                    per_impl(&results, |r| {
                        format!("{} ({})", fp(r).rss_kb, fp(r).processes)
                    }),
                );
                report.row(
                    format!("PSS kB, {n} inst, {role}"),
                    per_impl(&results, |r| fp(r).pss_kb.to_string()),
                );
                report.row(
                    format!("CPU ms / {} s, {n} inst, {role}", set.idle.as_secs()),
                    per_impl(&results, |r| {
                        let secs = r.window.as_secs_f64();
                        format!(
                            "{:.1} [{:.0}] = {:.3} %",
                            fp(r).cpu_ms,
                            fp(r).cpu_tick_ms,
                            fp(r).cpu_ms / (secs * 10.0)
                        )
                    }),
                );
            }
            note_errors(&mut report, &format!("footprint {n}"), &results);
            for (_, r) in &results {
                if let Ok(r) = r {
                    report.notes.extend(r.notes.iter().cloned());
                }
            }
        }
    }

    if set.parts.contains(&Part::Jitter) {
        // 4: advert jitter under script load.
        report.section(&format!(
            "Advert intervals on the wire (client capture, one VRID) while {} vrrp_scripts (`/bin/sleep 0.5`, interval 1) run: p50 / p99 / max, ms",
            set.scripts
        ));
        for (mode, window) in [(V2_1S, set.jitter_slow), (V3_100MS, set.jitter_fast)] {
            let mut results: Vec<(Impl, Result<JitterResult>)> = Vec::new();
            for which in IMPLS {
                log(start, &format!("jitter {} {}", which.name(), mode.label));
                let r = bench::jitter(&bins, which, &mode, set.scripts, window, set.jitter_settle);
                if let Err(e) = &r {
                    log(start, &format!("  failed: {e:#}"));
                }
                results.push((which, r));
            }
            report.row(
                format!("{} ({} s capture)", mode.label, window.as_secs()),
                per_impl(&results, |r| {
                    let p = |q| {
                        percentile(&r.intervals_ms, q).map_or("n/a".into(), |v| format!("{v:.1}"))
                    };
                    format!(
                        "{} / {} / {} (n={})",
                        p(50.0),
                        p(99.0),
                        p(100.0),
                        r.intervals_ms.len()
                    )
                }),
            );
            report.row(
                format!(
                    "{}: daemon CPU during the capture (script runs/s)",
                    mode.label
                ),
                per_impl(&results, |r| {
                    format!(
                        "{:.0} ms = {:.1} % ({:.0})",
                        r.cpu_ms,
                        r.cpu_ms / (r.window.as_secs_f64() * 10.0),
                        r.script_runs_per_s
                    )
                }),
            );
            note_errors(&mut report, &format!("jitter {}", mode.label), &results);
        }
    }

    log(start, "done");
    let cmd: Vec<String> = std::env::args().collect();
    println!("command: {}", cmd.join(" "));
    println!(
        "keel: {}; keepalived: {}",
        bins.keel.display(),
        bins.keepalived.display()
    );
    println!("wall time: {:.0} s", start.elapsed().as_secs_f64());
    print!("{}", report.markdown());
    Ok(())
}

/// `--keel`, or `keel` next to this executable; when missing it is built
/// with the same profile and target directory.
fn find_keel(arg: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = arg {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        bail!("{} not found (--keel)", p.display());
    }
    let exe = std::env::current_exe().context("locate keel-bench")?;
    let dir = exe.parent().context("keel-bench has no directory")?;
    let keel = dir.join("keel");
    if keel.is_file() {
        return Ok(keel);
    }
    let target = dir.parent().context("no target directory")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "keel", "--bin", "keel", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target);
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    eprintln!("keel-bench: building keel ({cmd:?})");
    let status = cmd.status().context("run cargo to build keel")?;
    if !status.success() || !keel.is_file() {
        bail!("could not build {}; pass --keel PATH", keel.display());
    }
    Ok(keel)
}
