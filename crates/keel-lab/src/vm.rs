//! A test harness (for `harness = false` test binaries) for tests that need
//! a kernel with IPVS. On such a kernel, or inside `scripts/ipvs-vm.sh`'s VM
//! (which sets `KEEL_IPVS_VM=1`), it runs the suite's tests, each on a fresh
//! thread. On a kernel without IPVS it runs the suite's host test (the
//! behaviour there is itself under test), then re-runs its own binary with
//! the same arguments once inside the VM and exits with that run's status:
//! the tests never pass without having run against IPVS.
//!
//! Output follows libtest's lines (`test NAME ... ok`, `test result: ...`)
//! so suite summaries count these tests, and the usual `FILTER`, `--exact`,
//! `--list` and `--ignored` arguments work.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// A test: it passes unless it panics.
pub type TestFn = fn();

/// What a test binary runs.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    /// Tests that need IPVS.
    pub tests: &'static [(&'static str, TestFn)],
    /// Runs on the host when its kernel lacks IPVS, before the VM run.
    pub host_test: (&'static str, TestFn),
    /// Tests run at once (unless `RUST_TEST_THREADS` says otherwise).
    pub workers: usize,
    /// Bound on the whole VM run, in seconds.
    pub vm_timeout_secs: u32,
    /// Runs on each test's own thread before the test (e.g. to enter a
    /// fresh network namespace).
    pub prepare: fn(),
}

/// `println!` that ignores a failing stdout (the VM's output port), so that
/// a lost line cannot turn into a panic in the harness; the exit status still
/// carries the verdict.
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// libtest's command line, as far as this harness honours it.
#[derive(Debug, Clone, Default)]
pub struct Args {
    filters: Vec<String>,
    exact: bool,
    list: bool,
    ignored_only: bool,
    raw: Vec<String>,
}

impl Args {
    /// Parses the process's arguments.
    pub fn from_env() -> Args {
        Args::parse(std::env::args().skip(1).collect())
    }

    pub fn parse(raw: Vec<String>) -> Args {
        let mut a = Args {
            raw: raw.clone(),
            ..Args::default()
        };
        let mut it = raw.into_iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--exact" => a.exact = true,
                "--list" => a.list = true,
                "--ignored" => a.ignored_only = true,
                // libtest options that take a value; the value is not a filter.
                "--test-threads" | "--format" | "--color" | "--skip" | "-Z" | "--logfile" => {
                    let _ = it.next();
                }
                s if s.starts_with('-') => {}
                s => a.filters.push(s.to_string()),
            }
        }
        a
    }

    /// Whether the filters select the test `name`.
    pub fn selected(&self, name: &str) -> bool {
        self.filters.is_empty()
            || self.filters.iter().any(|f| {
                if self.exact {
                    name == f
                } else {
                    name.contains(f.as_str())
                }
            })
    }
}

/// Whether this process runs inside `scripts/ipvs-vm.sh`'s VM.
pub fn in_vm() -> bool {
    std::env::var_os("KEEL_IPVS_VM").is_some_and(|v| v == "1")
}

/// The VM script: `KEEL_IPVS_VM_SCRIPT`, else the workspace's.
pub fn vm_script() -> PathBuf {
    match std::env::var_os("KEEL_IPVS_VM_SCRIPT") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ipvs-vm.sh"),
    }
}

fn summary(passed: usize, failed: usize, filtered: usize, started: Instant) -> String {
    format!(
        "test result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; {filtered} filtered out; finished in {:.2}s",
        if failed == 0 { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    )
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}

/// Runs `tests` on up to `workers` threads at a time, each test on a fresh
/// thread of its own after `prepare`, and prints libtest's lines; true when
/// all passed.
pub fn run_tests(tests: &[(&str, TestFn)], filtered: usize, workers: usize, prepare: fn()) -> bool {
    let started = Instant::now();
    say!(
        "\nrunning {} test{}",
        tests.len(),
        if tests.len() == 1 { "" } else { "s" }
    );
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let workers = std::env::var("RUST_TEST_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(workers)
        .clamp(1, tests.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(&(name, f)) = tests.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let t0 = Instant::now();
                    let passed = std::thread::Builder::new()
                        .name(name.to_string())
                        .spawn(move || {
                            prepare();
                            f()
                        })
                        .is_ok_and(|t| t.join().is_ok());
                    let secs = t0.elapsed().as_secs_f64();
                    if passed {
                        say!("test {name} ... ok ({secs:.1}s)");
                    } else {
                        say!("test {name} ... FAILED ({secs:.1}s)");
                        failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(name);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    if !failures.is_empty() {
        say!("\nfailures:");
        for f in &failures {
            say!("    {f}");
        }
    }
    say!();
    say!(
        "{}",
        summary(
            tests.len() - failures.len(),
            failures.len(),
            filtered,
            started
        )
    );
    say!();
    failures.is_empty()
}

/// Re-runs this binary with `args` inside the VM; the run's exit status.
fn run_in_vm(args: &Args, timeout_secs: u32) -> i32 {
    let script = vm_script();
    say!(
        "no IPVS in this kernel: running the IPVS tests in a VM ({})",
        script.display()
    );
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("cannot find this test binary: {e}");
            return 125;
        }
    };
    let status = Command::new(&script)
        .args(["run", "--timeout", &timeout_secs.to_string(), "--"])
        .arg(&exe)
        .args(&args.raw)
        .status();
    let code = match status {
        Ok(s) => s.code().unwrap_or(125),
        Err(e) => {
            eprintln!("cannot run {}: {e}", script.display());
            125
        }
    };
    if code != 0 {
        eprintln!("IPVS tests in the VM failed (status {code})");
    }
    code
}

/// The whole harness: `main` of a test binary is
/// `keel_lab::vm::main(&SUITE, kernel_has_ipvs)`, where `kernel_has_ipvs`
/// probes this kernel (called only outside the VM).
pub fn main(suite: &Suite, kernel_has_ipvs: impl FnOnce() -> bool) -> ExitCode {
    let args = Args::from_env();
    let all = suite.tests.iter().chain([&suite.host_test]);
    if args.list {
        for (name, _) in all {
            if args.selected(name) {
                say!("{name}: test");
            }
        }
        return ExitCode::SUCCESS;
    }
    if args.ignored_only {
        // No test of these suites is ignored.
        say!("\nrunning 0 tests\n");
        say!("{}\n", summary(0, 0, suite.tests.len() + 1, Instant::now()));
        return ExitCode::SUCCESS;
    }
    if in_vm() || kernel_has_ipvs() {
        let chosen: Vec<(&str, TestFn)> = suite
            .tests
            .iter()
            .copied()
            .filter(|(n, _)| args.selected(n))
            .collect();
        let filtered = suite.tests.len() - chosen.len();
        return exit(run_tests(&chosen, filtered, suite.workers, suite.prepare));
    }
    let host_ok =
        !args.selected(suite.host_test.0) || run_tests(&[suite.host_test], 0, 1, suite.prepare);
    if !suite.tests.iter().any(|(n, _)| args.selected(n)) {
        return exit(host_ok);
    }
    match run_in_vm(&args, suite.vm_timeout_secs) {
        0 => exit(host_ok),
        code => ExitCode::from(u8::try_from(code).unwrap_or(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Args {
        Args::parse(a.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn filters_select_like_libtest() {
        let a = args(&[]);
        assert!(a.selected("anything"));
        let a = args(&["--test-threads", "2", "ipv6"]);
        assert!(a.selected("ipv6_services"));
        assert!(!a.selected("fwmark_services"));
        assert!(!a.selected("2"), "an option's value is not a filter");
        let a = args(&["--exact", "ipv6_services"]);
        assert!(a.selected("ipv6_services"));
        assert!(!a.selected("ipv6_services_more"));
        let a = args(&["--list", "--ignored", "--nocapture"]);
        assert!(a.list && a.ignored_only && a.selected("x"));
    }
}
