//! Per-process memory and CPU figures from /proc.

use std::fs;
use std::time::Duration;

use nix::unistd::{SysconfVar, sysconf};

/// Fields of `/proc/PID/stat` this benchmark needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub ppid: u32,
    /// utime + stime of the whole thread group, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, in clock ticks.
    pub start_ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name may contain spaces and
/// parentheses, so the fixed fields are counted from its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); utime/stime are fields 14/15.
    let ppid = rest.get(1)?.parse().ok()?;
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    let start_ticks: u64 = rest.get(19)?.parse().ok()?;
    Some(Stat {
        comm,
        ppid,
        cpu_ticks: utime + stime,
        start_ticks,
    })
}

pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `VmRSS` in kB from `/proc/PID/status`.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kb(&text, "VmRSS:")
}

/// `Pss` in kB from `/proc/PID/smaps_rollup` (shared pages divided among
/// the processes mapping them).
pub fn pss_kb(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    status_kb(&text, "Pss:")
}

fn status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Time on CPU of every thread of `pid` from `/proc/PID/task/*/schedstat`
/// (nanosecond resolution, unlike the tick-based utime/stime).
pub fn schedstat_ns(pid: u32) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for t in tasks.flatten() {
        let text = fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// Direct children of `parent` whose command name is `comm`.
pub fn children_named(parent: u32, comm: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat(*pid).is_some_and(|s| s.ppid == parent && s.comm == comm))
        .collect()
}

pub fn tick() -> Duration {
    let hz = sysconf(SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|v| *v > 0)
        .unwrap_or(100);
    Duration::from_nanos(1_000_000_000 / hz as u64)
}

/// CPU counters of a set of processes at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    pub ticks: u64,
    pub sched_ns: u64,
}

pub fn cpu_sample(pids: &[u32]) -> CpuSample {
    let mut s = CpuSample::default();
    for pid in pids {
        s.ticks += stat(*pid).map(|st| st.cpu_ticks).unwrap_or(0);
        s.sched_ns += schedstat_ns(*pid).unwrap_or(0);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_comm() {
        let text = "4242 (we) ird (x) S 17 4242 4242 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 3 0 12345 1000 200";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.comm, "we) ird (x");
        assert_eq!(s.ppid, 17);
        assert_eq!(s.cpu_ticks, 32);
        assert_eq!(s.start_ticks, 12345);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        assert!(rss_kb(me).is_some_and(|kb| kb > 0));
        let st = stat(me).unwrap();
        assert_eq!(st.comm.len().min(15), st.comm.len());
        assert!(schedstat_ns(me).is_some_and(|ns| ns > 0));
        assert_eq!(
            status_kb("Name:\tx\nVmRSS:\t  1234 kB\n", "VmRSS:"),
            Some(1234)
        );
    }
}
