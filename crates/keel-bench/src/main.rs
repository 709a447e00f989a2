//! `keel-bench`: VRRP failover, ARP convergence, footprint and advert
//! jitter of keel and keepalived, measured in the same namespace lab with
//! the same configuration, printed as one table.
//!
//! Needs root, iproute2, tcpdump and keepalived. Run with
//! `cargo run --release -p keel-bench -- [--reps N] [--quick]`.
//!
//! `--only checkers` measures the whole keel daemon under health-check load
//! on this host; `--only checkers-vm` measures keel and keepalived side by
//! side inside scripts/ipvs-vm.sh's VM (keepalived's checker needs IPVS).

mod bench;
mod checkers;
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
    /// Measurements to run (default: failover, footprint, jitter).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// Real servers of the checker runs (default 2000 on the host, 500 in
    /// the VM, whose CPU is emulated).
    #[arg(long)]
    check_servers: Option<usize>,
    /// Measuring window of the checker runs, seconds.
    #[arg(long, default_value_t = 10)]
    check_window: u64,
    /// Wall-clock limit of the VM for `checkers-vm`, seconds.
    #[arg(long, default_value_t = 1800)]
    vm_timeout: u64,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Failover after SIGKILL/SIGTERM and the client's ARP entry.
    Failover,
    /// RSS and idle CPU with 1 and 255 instances.
    Footprint,
    /// Advert intervals while scripts run.
    Jitter,
    /// The whole keel daemon checking many real servers (HTTP_GET,
    /// delay_loop 1) on this host: checks/s, CPU per 1,000 checks, RSS,
    /// advert jitter with the checkers on and off.
    Checkers,
    /// The same for keel and keepalived side by side inside the IPVS VM
    /// (scripts/ipvs-vm.sh).
    CheckersVm,
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
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(checkers::RESPOND_ARG) {
        return checkers::respond(&argv[2..]);
    }
    let args = Args::parse();
    if !nix::unistd::geteuid().is_root() {
        bail!("keel-bench builds network namespaces and must run as root");
    }
    if args.only.contains(&Part::CheckersVm) && !checkers::in_vm() {
        return checkers_in_vm(&args);
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
        failover_part(&set, &bins, start, &mut rng, &mut report);
    }

    if set.parts.contains(&Part::Footprint) {
        footprint_part(&set, &bins, start, &mut report);
    }

    if set.parts.contains(&Part::Jitter) {
        jitter_part(&set, &bins, start, &mut report);
    }

    let mut extra = String::new();
    if set.parts.contains(&Part::Checkers) {
        extra.push_str(&checkers_host(&args, &bins, start)?);
    }
    if set.parts.contains(&Part::CheckersVm) {
        extra.push_str(&checkers_vm(&args, &bins, start)?);
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
    if !report.sections.is_empty() || !report.notes.is_empty() {
        print!("{}", report.markdown());
    }
    print!("{extra}");
    Ok(())
}

/// Failover and the client's ARP entry (rows 1 and 2).
fn failover_part(
    set: &Settings,
    bins: &Binaries,
    start: Instant,
    rng: &mut Rng,
    report: &mut Report,
) {
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
            let r = bench::failover(bins, which, &mode, set.reps, rng);
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
        note_errors(report, &format!("failover {}", mode.label), &results);
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

/// RSS, PSS and CPU of an idle master and backup (row 3).
fn footprint_part(set: &Settings, bins: &Binaries, start: Instant, report: &mut Report) {
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
            let r = bench::resources(bins, which, n, set.idle, set.settle);
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
        note_errors(report, &format!("footprint {n}"), &results);
        for (_, r) in &results {
            if let Ok(r) = r {
                report.notes.extend(r.notes.iter().cloned());
            }
        }
    }
}

/// Advert intervals on the wire under script load (row 4).
fn jitter_part(set: &Settings, bins: &Binaries, start: Instant, report: &mut Report) {
    // 4: advert jitter under script load.
    report.section(&format!(
        "Advert intervals on the wire (client capture, one VRID) while {} vrrp_scripts (`/bin/sleep 0.5`, interval 1) run: p50 / p99 / max, ms",
        set.scripts
    ));
    for (mode, window) in [(V2_1S, set.jitter_slow), (V3_100MS, set.jitter_fast)] {
        let mut results: Vec<(Impl, Result<JitterResult>)> = Vec::new();
        for which in IMPLS {
            log(start, &format!("jitter {} {}", which.name(), mode.label));
            let r = bench::jitter(bins, which, &mode, set.scripts, window, set.jitter_settle);
            if let Err(e) = &r {
                log(start, &format!("  failed: {e:#}"));
            }
            results.push((which, r));
        }
        report.row(
            format!("{} ({} s capture)", mode.label, window.as_secs()),
            per_impl(&results, |r| {
                let p =
                    |q| percentile(&r.intervals_ms, q).map_or("n/a".into(), |v| format!("{v:.1}"));
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
        note_errors(report, &format!("jitter {}", mode.label), &results);
    }
}

fn check_setup(args: &Args, default_servers: usize, patience: Duration) -> Result<checkers::Setup> {
    let servers = args.check_servers.unwrap_or(default_servers);
    if servers == 0 || servers > checkers::MAX_SERVERS {
        bail!("--check-servers must be 1..={}", checkers::MAX_SERVERS);
    }
    Ok(checkers::Setup {
        servers,
        window: Duration::from_secs(args.check_window.clamp(1, 120)),
        settle: Duration::from_secs(3),
        patience,
    })
}

fn fmt_intervals(v: &[f64]) -> String {
    let p = |q| percentile(v, q).map_or("n/a".into(), |x| format!("{x:.1}"));
    format!("{} / {} / {} (n={})", p(50.0), p(99.0), p(100.0), v.len())
}

fn fmt_cpu_per_1000(r: &checkers::RunResult) -> String {
    match r.cpu_per_1000() {
        Some((ticks, sched)) => format!("{ticks:.1} ms [schedstat {sched:.1} ms]"),
        None => "n/a (no checks)".into(),
    }
}

fn fmt_cpu_share(r: &checkers::RunResult) -> String {
    format!(
        "{:.0} ms = {:.1} % of one core",
        r.cpu_tick_ms,
        r.cpu_tick_ms / (r.window.as_secs_f64() * 10.0)
    )
}

/// Markdown cell of a failed run: its first error line.
fn failed_cell(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    format!(
        "failed: {}",
        text.lines().next().unwrap_or("").replace('|', "/")
    )
}

fn checkers_table(
    title: &str,
    heads: [&str; 2],
    cols: [&Result<checkers::RunResult>; 2],
    rows: &[CheckRow],
) -> String {
    let mut s = format!(
        "\n**{title}**\n\n| figure | {} | {} |\n|---|---|---|\n",
        heads[0], heads[1]
    );
    for (what, f) in rows {
        let cell = |r: &Result<checkers::RunResult>| match r {
            Ok(v) => f(v),
            Err(e) => failed_cell(e),
        };
        s.push_str(&format!(
            "| {what} | {} | {} |\n",
            cell(cols[0]),
            cell(cols[1])
        ));
    }
    s
}

/// A table row: what it shows and how to print it from one run.
type CheckRow = (&'static str, fn(&checkers::RunResult) -> String);

const CHECK_ROWS: [CheckRow; 7] = [
    ("checks/s (requests at the responder)", |r| {
        format!(
            "{:.0} ({} in {:.1} s)",
            r.checks_per_s(),
            r.requests,
            r.counted_over.as_secs_f64()
        )
    }),
    (
        "daemon CPU per 1,000 checks (utime+stime)",
        fmt_cpu_per_1000,
    ),
    ("daemon CPU over the window", fmt_cpu_share),
    ("RSS kB (processes)", |r| {
        format!("{} ({})", r.rss_kb, r.processes)
    }),
    ("advert intervals ms, p50 / p99 / max", |r| {
        fmt_intervals(&r.intervals_ms)
    }),
    ("real servers in the data plane at the end", |r| {
        r.in_table.map_or("n/a".into(), |n| n.to_string())
    }),
    ("data plane", |r| {
        r.data_plane
            .clone()
            .unwrap_or_else(|| "IPVS (keepalived has no other)".into())
    }),
];

/// Part 1: the whole keel daemon on this host, checkers on and off, plus a
/// note of what keepalived's full daemon does here.
fn checkers_host(args: &Args, bins: &Binaries, start: Instant) -> Result<String> {
    let setup = check_setup(args, 2000, Duration::from_secs(60))?;
    let mut runs = Vec::new();
    for checks in [true, false] {
        log(
            start,
            &format!(
                "checkers keel, {} real servers, checkers {}",
                setup.servers,
                if checks { "on" } else { "off" }
            ),
        );
        let r = checkers::run(bins, Impl::Keel, &setup, checks);
        if let Err(e) = &r {
            log(start, &format!("  failed: {e:#}"));
        }
        runs.push(r);
    }
    let mut s = checkers_table(
        &format!(
            "keel, whole daemon, {} HTTP_GET real servers (delay_loop 1) + VRRP v3 advert 0.1 s, {} s window",
            setup.servers,
            setup.window.as_secs()
        ),
        [
            "checkers on",
            "checkers off (same real servers, no checker)",
        ],
        [&runs[0], &runs[1]],
        &CHECK_ROWS,
    );
    log(start, "checkers: keepalived's full daemon on this kernel");
    let note = match checkers::keepalived_exit_probe(bins, Duration::from_secs(10)) {
        Ok(Some(why)) => format!("keepalived's full daemon exited at start on this host: {why}"),
        Ok(None) => {
            "keepalived's full daemon was still running 10 s after start on this host".into()
        }
        Err(e) => format!("keepalived probe failed: {}", failed_cell(&e)),
    };
    s.push_str(&format!("\nNote: {note}\n"));
    Ok(s)
}

/// Part 2, inside the VM: keel and keepalived with the same configuration.
fn checkers_vm(args: &Args, bins: &Binaries, start: Instant) -> Result<String> {
    let setup = check_setup(args, 500, Duration::from_secs(180))?;
    let mut on = Vec::new();
    let mut off = Vec::new();
    for which in IMPLS {
        for checks in [true, false] {
            log(
                start,
                &format!(
                    "checkers-vm {}, {} real servers, checkers {}",
                    which.name(),
                    setup.servers,
                    if checks { "on" } else { "off" }
                ),
            );
            let r = checkers::run(bins, which, &setup, checks);
            if let Err(e) = &r {
                log(start, &format!("  failed: {e:#}"));
            }
            if checks { on.push(r) } else { off.push(r) }
        }
    }
    let mut s = checkers_table(
        &format!(
            "In the IPVS VM (TCG): {} HTTP_GET real servers (delay_loop 1) + VRRP v3 advert 0.1 s, {} s window, checkers on",
            setup.servers,
            setup.window.as_secs()
        ),
        ["keel", "keepalived"],
        [&on[0], &on[1]],
        &CHECK_ROWS,
    );
    s.push_str(&checkers_table(
        "In the IPVS VM: checkers off (same real servers, no checker), baseline",
        ["keel", "keepalived"],
        [&off[0], &off[1]],
        &CHECK_ROWS[2..6],
    ));
    Ok(s)
}

/// Re-runs this program with the same arguments inside the IPVS VM.
fn checkers_in_vm(args: &Args) -> Result<()> {
    let script = checkers::vm_script();
    let exe = std::env::current_exe().context("locate keel-bench")?;
    // Built here, outside the VM, where cargo works.
    find_keel(args.keel.as_deref())?;
    let rest: Vec<String> = std::env::args().skip(1).collect();
    let timeout = args.vm_timeout.clamp(60, 7200).to_string();
    eprintln!(
        "keel-bench: {} run --timeout {timeout} -- {} {}",
        script.display(),
        exe.display(),
        rest.join(" ")
    );
    let status = Command::new(&script)
        .args(["run", "--timeout", &timeout, "--"])
        .arg(&exe)
        .args(&rest)
        .status()
        .with_context(|| format!("run {}", script.display()))?;
    if !status.success() {
        bail!("{} exited with {status}", script.display());
    }
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
