//! CPU scheduling of keel's own threads and process resource limits.
//!
//! The VRRP thread must send its adverts on time however busy the host is
//! (scripts, checkers, a build): a late advert is a spurious failover. The
//! functions here act on the calling thread only (Linux schedules threads,
//! not processes), so the service threads and every script they fork keep
//! the normal policy.

use std::io;
use std::time::Duration;

use crate::error::{LinuxError, Result};

/// keepalived's default `vrrp_rlimit_rttime`: the CPU time a real-time
/// thread may use without blocking before the kernel sends SIGXCPU.
pub const DEFAULT_RLIMIT_RTTIME: Duration = Duration::from_micros(10_000);

/// A thread's scheduling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedPolicy {
    /// SCHED_OTHER, the normal time-sharing policy.
    Other,
    Fifo,
    RoundRobin,
    Batch,
    Idle,
    /// A policy this crate does not name (e.g. SCHED_DEADLINE).
    Unknown(i32),
}

impl SchedPolicy {
    fn from_raw(p: libc::c_int) -> SchedPolicy {
        match p {
            libc::SCHED_OTHER => SchedPolicy::Other,
            libc::SCHED_FIFO => SchedPolicy::Fifo,
            libc::SCHED_RR => SchedPolicy::RoundRobin,
            libc::SCHED_BATCH => SchedPolicy::Batch,
            libc::SCHED_IDLE => SchedPolicy::Idle,
            other => SchedPolicy::Unknown(other),
        }
    }

    /// True for the real-time policies (FIFO, RR).
    pub fn is_realtime(self) -> bool {
        matches!(self, SchedPolicy::Fifo | SchedPolicy::RoundRobin)
    }
}

/// Policy and static priority of the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadScheduling {
    pub policy: SchedPolicy,
    /// 1..=99 for the real-time policies, 0 otherwise.
    pub priority: i32,
}

fn last_os_error(op: &str) -> LinuxError {
    LinuxError::io(op, io::Error::last_os_error())
}

/// The kernel thread id of the calling thread (what `ps -L` shows).
pub fn current_thread_id() -> libc::pid_t {
    // SAFETY: gettid(2) takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// The valid SCHED_RR priorities on this kernel (1..=99 on Linux).
pub fn realtime_priority_range() -> Result<std::ops::RangeInclusive<i32>> {
    // SAFETY: both calls take a policy constant only; -1 is checked below.
    let (min, max) = unsafe {
        (
            libc::sched_get_priority_min(libc::SCHED_RR),
            libc::sched_get_priority_max(libc::SCHED_RR),
        )
    };
    if min < 0 || max < 0 {
        return Err(last_os_error("sched_get_priority_max(SCHED_RR)"));
    }
    Ok(min..=max)
}

/// Sets RLIMIT_RTTIME's soft limit to `limit`, so that a real-time thread
/// spinning for that long without a blocking system call gets SIGXCPU
/// instead of owning a core. The hard limit is raised to `limit` only when
/// it is lower; a handled SIGXCPU thus never escalates to SIGKILL sooner.
pub fn set_rlimit_rttime(limit: Duration) -> Result<()> {
    let micros = libc::rlim_t::try_from(limit.as_micros())
        .map_err(|_| LinuxError::Invalid(format!("RLIMIT_RTTIME of {limit:?}")))?;
    if micros == 0 {
        return Err(LinuxError::Invalid("RLIMIT_RTTIME of 0".into()));
    }
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `cur` is a valid, writable rlimit the call fills in.
    if unsafe { libc::getrlimit(libc::RLIMIT_RTTIME, &mut cur) } != 0 {
        return Err(last_os_error("getrlimit(RLIMIT_RTTIME)"));
    }
    let new = libc::rlimit {
        rlim_cur: micros,
        rlim_max: if cur.rlim_max == libc::RLIM_INFINITY || cur.rlim_max >= micros {
            cur.rlim_max
        } else {
            micros
        },
    };
    // SAFETY: `new` is a valid rlimit read by the call only.
    if unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &new) } != 0 {
        return Err(last_os_error("setrlimit(RLIMIT_RTTIME)"));
    }
    Ok(())
}

/// Puts the calling thread under SCHED_RR at `priority`, with
/// [`DEFAULT_RLIMIT_RTTIME`] as its budget of CPU time between blocking calls.
pub fn set_current_thread_realtime(priority: i32) -> Result<()> {
    set_current_thread_realtime_with_limit(priority, DEFAULT_RLIMIT_RTTIME)
}

/// [`set_current_thread_realtime`] with an explicit RLIMIT_RTTIME
/// (keepalived's `vrrp_rlimit_rttime`, in microseconds there).
pub fn set_current_thread_realtime_with_limit(priority: i32, rttime: Duration) -> Result<()> {
    let range = realtime_priority_range()?;
    if !range.contains(&priority) {
        return Err(LinuxError::Invalid(format!(
            "real-time priority {priority} outside {}..={}",
            range.start(),
            range.end()
        )));
    }
    // The limit first: the thread is never real-time without it.
    set_rlimit_rttime(rttime)?;
    set_thread_policy(0, libc::SCHED_RR, priority)
}

/// Returns thread `tid` (of this process) to SCHED_OTHER, e.g. after it
/// overran its RLIMIT_RTTIME budget.
pub fn set_thread_normal(tid: libc::pid_t) -> Result<()> {
    set_thread_policy(tid, libc::SCHED_OTHER, 0)
}

fn set_thread_policy(tid: libc::pid_t, policy: libc::c_int, priority: i32) -> Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param that the call only reads; a
    // bad tid or policy is reported through the return value.
    if unsafe { libc::sched_setscheduler(tid, policy, &param) } != 0 {
        return Err(last_os_error("sched_setscheduler"));
    }
    Ok(())
}

/// The calling thread's policy and static priority.
pub fn current_thread_scheduling() -> Result<ThreadScheduling> {
    // SAFETY: pid 0 names the calling thread; no pointers involved.
    let policy = unsafe { libc::sched_getscheduler(0) };
    if policy < 0 {
        return Err(last_os_error("sched_getscheduler"));
    }
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, writable sched_param the call fills in.
    if unsafe { libc::sched_getparam(0, &mut param) } != 0 {
        return Err(last_os_error("sched_getparam"));
    }
    Ok(ThreadScheduling {
        // The flag SCHED_RESET_ON_FORK may be or'ed into the policy.
        policy: SchedPolicy::from_raw(policy & !libc::SCHED_RESET_ON_FORK),
        priority: param.sched_priority,
    })
}

/// Sets the nice value (-20..=19) of the calling thread only: on Linux
/// PRIO_PROCESS with a thread id acts on that one thread.
pub fn set_current_thread_nice(nice: i32) -> Result<()> {
    if !(-20..=19).contains(&nice) {
        return Err(LinuxError::Invalid(format!("nice value {nice}")));
    }
    let tid = id_t_of(current_thread_id())?;
    // SAFETY: setpriority(2) takes plain integers only.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) } != 0 {
        return Err(last_os_error("setpriority"));
    }
    Ok(())
}

/// The nice value of the calling thread.
pub fn current_thread_nice() -> Result<i32> {
    let tid = id_t_of(current_thread_id())?;
    // getpriority(2) may legitimately return -1: errno tells it apart.
    nix::errno::Errno::clear();
    // SAFETY: getpriority(2) takes plain integers only.
    let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
    if n == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error().is_some_and(|c| c != 0) {
            return Err(LinuxError::io("getpriority", e));
        }
    }
    Ok(n)
}

fn id_t_of(tid: libc::pid_t) -> Result<libc::id_t> {
    libc::id_t::try_from(tid).map_err(|_| LinuxError::Invalid(format!("thread id {tid}")))
}

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns the new soft
/// limit. Hundreds of concurrent scripts each hold a stderr pipe (and the
/// runtime a descriptor or two per child); the usual soft limit of 1024
/// would otherwise be the real cap on them.
pub fn raise_nofile_limit() -> Result<libc::rlim_t> {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `cur` is a valid, writable rlimit the call fills in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) } != 0 {
        return Err(last_os_error("getrlimit(RLIMIT_NOFILE)"));
    }
    if cur.rlim_cur >= cur.rlim_max {
        return Ok(cur.rlim_cur);
    }
    let new = libc::rlimit {
        rlim_cur: cur.rlim_max,
        rlim_max: cur.rlim_max,
    };
    // SAFETY: `new` is a valid rlimit read by the call only.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        return Err(last_os_error("setrlimit(RLIMIT_NOFILE)"));
    }
    Ok(new.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rttime() -> libc::rlimit {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `r` is a valid, writable rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_RTTIME, &mut r) }, 0);
        r
    }

    #[test]
    fn realtime_priority_is_read_back_on_the_calling_thread_only() {
        let (inner, cap) = std::thread::spawn(|| {
            set_current_thread_realtime(1).unwrap();
            (current_thread_scheduling().unwrap(), rttime())
        })
        .join()
        .unwrap();
        assert_eq!(inner.policy, SchedPolicy::RoundRobin);
        assert_eq!(inner.priority, 1);
        assert_eq!(cap.rlim_cur, 10_000);
        assert!(cap.rlim_max == libc::RLIM_INFINITY || cap.rlim_max >= 10_000);
        // This thread was not touched.
        let outer = current_thread_scheduling().unwrap();
        assert_eq!(outer.policy, SchedPolicy::Other);
        assert_eq!(outer.priority, 0);
    }

    #[test]
    fn a_realtime_thread_can_be_returned_to_normal_by_another_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            set_current_thread_realtime(2).unwrap();
            tx.send(current_thread_id()).unwrap();
            go_rx.recv().unwrap();
            current_thread_scheduling().unwrap()
        });
        let tid = rx.recv().unwrap();
        set_thread_normal(tid).unwrap();
        go_tx.send(()).unwrap();
        let after = t.join().unwrap();
        assert_eq!(after.policy, SchedPolicy::Other);
        assert!(!after.policy.is_realtime());
    }

    #[test]
    fn out_of_range_realtime_priorities_are_refused() {
        for p in [0, 100, -1] {
            assert!(matches!(
                set_current_thread_realtime(p),
                Err(LinuxError::Invalid(_))
            ));
        }
        assert_eq!(realtime_priority_range().unwrap(), 1..=99);
    }

    #[test]
    fn nice_applies_to_the_calling_thread_only() {
        let before = current_thread_nice().unwrap();
        let inner = std::thread::spawn(|| {
            set_current_thread_nice(-7).unwrap();
            current_thread_nice().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(inner, -7);
        assert_eq!(current_thread_nice().unwrap(), before);
        assert!(matches!(
            set_current_thread_nice(20),
            Err(LinuxError::Invalid(_))
        ));
    }

    #[test]
    fn nofile_soft_limit_reaches_the_hard_limit() {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `r` is a valid, writable rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
        // Start below the hard limit, as on a default host.
        let low = libc::rlimit {
            rlim_cur: r.rlim_max.min(1024) - 1,
            rlim_max: r.rlim_max,
        };
        // SAFETY: `low` is a valid rlimit read by the call only.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
        let n = raise_nofile_limit().unwrap();
        // SAFETY: `r` is a valid, writable rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
        assert_eq!(r.rlim_cur, r.rlim_max);
        assert_eq!(n, r.rlim_cur);
    }
}
