//! CPU priority of the VRRP thread.
//!
//! keel promises adverts on time whatever else the host runs: a MASTER whose
//! adverts slip by more than Skew_Time is taken over by its backup. So unlike
//! keepalived, whose VRRP process stays SCHED_OTHER unless `vrrp_rt_priority`
//! is set, keel puts the VRRP thread under SCHED_RR by default, at the lowest
//! real-time priority (1: above every normal task, below every kernel or
//! user real-time task that chose a priority), with keepalived's default
//! RLIMIT_RTTIME of 10 ms so that a looping thread gets SIGXCPU (which the
//! daemon answers by demoting it) instead of owning a core. Where real-time
//! scheduling is not permitted (no CAP_SYS_NICE, a cgroup without a real-time
//! budget) the thread falls back to nice -10. Only this thread is affected:
//! scripts are forked from the service threads and keep the normal policy.
//!
//! Keywords (global_defs): `vrrp_rt_priority N` (1..=99; keel also takes 0
//! for "no real-time scheduling"), `vrrp_rlimit_rttime µs` (alias
//! `vrrp_rlimit_rtime`), `vrrp_priority NICE` (-20..=19).

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use keel_config::model::{GlobalDefs, RawStatement};

/// Real-time priority used when the configuration names none.
pub const DEFAULT_RT_PRIORITY: i32 = 1;

/// Nice value when real-time scheduling is refused and `vrrp_priority` is
/// not set: ahead of ordinary tasks and the scripts we start, without the
/// extreme -20 some hosts reserve for their own daemons.
pub const FALLBACK_NICE: i32 = -10;

/// Kernel thread id of the running VRRP thread (0: none), so that the
/// service thread can demote it on SIGXCPU.
static VRRP_TID: AtomicI32 = AtomicI32::new(0);

/// How the VRRP thread should be scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadPriority {
    /// SCHED_RR priority; `None` keeps SCHED_OTHER.
    pub realtime: Option<i32>,
    pub rlimit_rttime: Duration,
    /// Nice value set in any case (`vrrp_priority`).
    pub nice: Option<i32>,
}

/// What [`ThreadPriority::apply`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Realtime { priority: i32, nice: Option<i32> },
    Nice(i32),
    Unchanged,
}

fn raw_arg<'a>(other: &'a [RawStatement], names: &[&str]) -> Option<&'a str> {
    other
        .iter()
        .rev()
        .find(|r| names.contains(&r.keyword.as_str()))
        .and_then(|r| r.args.first())
        .map(String::as_str)
}

impl ThreadPriority {
    pub fn from_config(g: &GlobalDefs) -> ThreadPriority {
        let realtime = match raw_arg(&g.other, &["vrrp_rt_priority"]) {
            None => Some(DEFAULT_RT_PRIORITY),
            Some(v) => match v.parse::<i32>() {
                Ok(0) => None,
                Ok(p) if (1..=99).contains(&p) => Some(p),
                _ => {
                    tracing::warn!(
                        "vrrp_rt_priority {v:?} is not 1..99; using {DEFAULT_RT_PRIORITY}"
                    );
                    Some(DEFAULT_RT_PRIORITY)
                }
            },
        };
        let rlimit_rttime = match raw_arg(&g.other, &["vrrp_rlimit_rttime", "vrrp_rlimit_rtime"]) {
            None => keel_linux::DEFAULT_RLIMIT_RTTIME,
            Some(v) => match v.parse::<u64>() {
                Ok(us) if us > 0 => Duration::from_micros(us),
                _ => {
                    tracing::warn!(
                        "vrrp_rlimit_rttime {v:?} is not a positive number of microseconds"
                    );
                    keel_linux::DEFAULT_RLIMIT_RTTIME
                }
            },
        };
        ThreadPriority {
            realtime,
            rlimit_rttime,
            nice: g.vrrp_priority,
        }
    }

    /// Applies this to the calling thread and records it as the VRRP thread.
    /// Failures are logged, never fatal: adverts on a normal thread beat no
    /// adverts at all.
    pub fn apply(&self) -> Applied {
        VRRP_TID.store(keel_linux::current_thread_id(), Ordering::Relaxed);
        let nice_ok = |n: i32| match keel_linux::set_current_thread_nice(n) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("VRRP thread: cannot set nice {n}: {e}");
                false
            }
        };
        if let Some(p) = self.realtime {
            match keel_linux::set_current_thread_realtime_with_limit(p, self.rlimit_rttime) {
                Ok(()) => {
                    let nice = self.nice.filter(|n| nice_ok(*n));
                    return Applied::Realtime { priority: p, nice };
                }
                Err(e) => tracing::warn!(
                    "VRRP thread: real-time priority {p} not permitted ({e}); \
                     adverts may be late under load"
                ),
            }
        }
        let n = self.nice.unwrap_or(FALLBACK_NICE);
        if nice_ok(n) {
            Applied::Nice(n)
        } else {
            Applied::Unchanged
        }
    }
}

/// Returns the calling thread to SCHED_OTHER for work that may legitimately
/// run longer than RLIMIT_RTTIME without blocking (start-up, reload).
pub fn relax_current_thread() {
    if keel_linux::current_thread_scheduling().is_ok_and(|s| s.policy.is_realtime())
        && let Err(e) = keel_linux::set_thread_normal(0)
    {
        tracing::warn!("VRRP thread: cannot leave real-time scheduling: {e}");
    }
}

/// SIGXCPU: the VRRP thread used its whole RLIMIT_RTTIME without blocking.
/// It is demoted to SCHED_OTHER (until the next reload) rather than killed,
/// so the host gets its core back and VRRP keeps running.
pub fn demote_after_overrun() {
    let tid = VRRP_TID.load(Ordering::Relaxed);
    if tid == 0 {
        return;
    }
    match keel_linux::set_thread_normal(tid) {
        Ok(()) => tracing::error!(
            "VRRP thread exceeded its real-time CPU budget (vrrp_rlimit_rttime); \
             now running with normal priority until the next reload"
        ),
        Err(e) => tracing::error!("VRRP thread exceeded its real-time CPU budget: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(extra: &str) -> GlobalDefs {
        let text = format!("global_defs {{\n{extra}\n}}\n");
        let (cfg, d) = keel_config::from_str(&text, "test.conf").unwrap();
        assert!(!d.has_errors(), "{:?}", d.items);
        cfg.global_defs
    }

    #[test]
    fn defaults_to_round_robin_priority_one_with_a_ten_ms_budget() {
        let p = ThreadPriority::from_config(&global(""));
        assert_eq!(p.realtime, Some(1));
        assert_eq!(p.rlimit_rttime, Duration::from_millis(10));
        assert_eq!(p.nice, None);
    }

    #[test]
    fn keepalived_keywords_set_priority_budget_and_nice() {
        let p = ThreadPriority::from_config(&global(
            "vrrp_rt_priority 40\nvrrp_rlimit_rttime 25000\nvrrp_priority -5",
        ));
        assert_eq!(p.realtime, Some(40));
        assert_eq!(p.rlimit_rttime, Duration::from_micros(25_000));
        assert_eq!(p.nice, Some(-5));
        let off = ThreadPriority::from_config(&global("vrrp_rt_priority 0"));
        assert_eq!(off.realtime, None);
    }

    #[test]
    fn applied_on_the_calling_thread_with_fallback_to_nice() {
        let (applied, sched, nice) = std::thread::spawn(|| {
            let p = ThreadPriority {
                realtime: Some(3),
                rlimit_rttime: Duration::from_millis(10),
                nice: None,
            };
            let a = p.apply();
            let s = keel_linux::current_thread_scheduling().unwrap();
            // Not real-time any more after relaxing; the nice fallback
            // applies when real-time is not wanted.
            relax_current_thread();
            let after = keel_linux::current_thread_scheduling().unwrap();
            assert!(!after.policy.is_realtime());
            let p = ThreadPriority {
                realtime: None,
                ..p
            };
            assert_eq!(p.apply(), Applied::Nice(FALLBACK_NICE));
            (a, s, keel_linux::current_thread_nice().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(
            applied,
            Applied::Realtime {
                priority: 3,
                nice: None
            }
        );
        assert_eq!(sched.policy, keel_linux::SchedPolicy::RoundRobin);
        assert_eq!(sched.priority, 3);
        assert_eq!(nice, FALLBACK_NICE);
    }
}
