//! A sub-millisecond async timer on a timerfd.
//!
//! tokio's timer wheel has millisecond ticks and rounds every deadline up to
//! the next tick, so a task woken by `tokio::time::sleep_until` is typically
//! 1-2 ms late. A VRRP MASTER re-arms its Adver_Timer from the moment it
//! sends, so that lateness accumulates into every advert interval. A timerfd
//! is an hrtimer behind a file descriptor: the reactor's epoll wakes when it
//! expires, to within the kernel's timer resolution (microseconds).

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::error::{LinuxError, Result};

/// `AsyncFd` wants `AsRawFd`; nix's `TimerFd` offers `AsFd` only.
#[derive(Debug)]
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot CLOCK_MONOTONIC timer for one task at a time. `std::time::Instant`
/// is CLOCK_MONOTONIC on Linux, so deadlines are plain `Instant`s.
#[derive(Debug)]
pub struct PreciseTimer {
    fd: AsyncFd<Fd>,
}

impl PreciseTimer {
    /// Creates the timer; requires a tokio runtime with IO enabled.
    pub fn new() -> Result<PreciseTimer> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(LinuxError::NoRuntime);
        }
        let tfd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(|e| LinuxError::io("timerfd_create", e.into()))?;
        // SAFETY: the TimerFd is moved into the AsyncFd, which owns it until
        // dropped and never closes or replaces its descriptor, so the raw fd
        // stays open and the same for the AsyncFd's whole lifetime.
        let fd = unsafe { AsyncFd::register_with_interest(Fd(tfd), Interest::READABLE) }
            .map_err(|e| LinuxError::io("register timerfd with tokio", e.into()))?;
        Ok(PreciseTimer { fd })
    }

    /// Waits until `deadline` (returns at once if it has passed). Dropping
    /// the future early is fine: the next call re-arms the timer.
    pub async fn sleep_until(&mut self, deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        self.arm(left)?;
        loop {
            let mut guard = self
                .fd
                .readable()
                .await
                .map_err(|e| LinuxError::io("timerfd poll", e))?;
            match guard.try_io(|fd| match fd.get_ref().0.wait() {
                Ok(()) => Ok(()),
                Err(Errno::EAGAIN) => Err(io::ErrorKind::WouldBlock.into()),
                Err(e) => Err(e.into()),
            }) {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => return Err(LinuxError::io("timerfd read", e)),
                // Readiness left over from an expiry nobody read (the
                // previous future was dropped); re-arming reset the count.
                Err(_would_block) => continue,
            }
        }
    }

    fn arm(&self, after: Duration) -> Result<()> {
        // A zero one-shot value would disarm the timer instead.
        let after = after.max(Duration::from_nanos(1));
        self.fd
            .get_ref()
            .0
            .set(
                Expiration::OneShot(TimeSpec::from_duration(after)),
                TimerSetTimeFlags::empty(),
            )
            .map_err(|e| LinuxError::io("timerfd_settime", e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The point of the timer: tokio's own sleep wakes on the next whole
    /// millisecond tick or later, this one within a fraction of one.
    #[test]
    fn wakes_well_under_a_millisecond_after_the_deadline() {
        // As the VRRP thread runs, where permitted: a loaded machine then
        // cannot delay the wake-up itself, only the timer can be late.
        let _ = crate::sched::set_current_thread_realtime(1);
        rt().block_on(async {
            let mut t = PreciseTimer::new().unwrap();
            let mut late = Vec::new();
            for _ in 0..30 {
                let deadline = Instant::now() + Duration::from_micros(2_300);
                t.sleep_until(deadline).await.unwrap();
                let now = Instant::now();
                assert!(now >= deadline, "woke before the deadline");
                late.push(now - deadline);
            }
            late.sort();
            let median = late[late.len() / 2];
            assert!(
                median < Duration::from_micros(400),
                "median lateness {median:?}"
            );
        });
    }

    #[test]
    fn a_dropped_wait_does_not_wake_the_next_one_early() {
        rt().block_on(async {
            let mut t = PreciseTimer::new().unwrap();
            // Armed, then abandoned; it expires while nobody waits on it.
            let mut first = Box::pin(t.sleep_until(Instant::now() + Duration::from_micros(200)));
            assert!(futures_util::poll!(first.as_mut()).is_pending());
            drop(first);
            std::thread::sleep(Duration::from_millis(2));
            let deadline = Instant::now() + Duration::from_millis(20);
            t.sleep_until(deadline).await.unwrap();
            assert!(Instant::now() >= deadline);
        });
    }

    #[test]
    fn a_past_deadline_returns_at_once() {
        rt().block_on(async {
            let mut t = PreciseTimer::new().unwrap();
            let past = Instant::now() - Duration::from_millis(5);
            let before = Instant::now();
            t.sleep_until(past).await.unwrap();
            assert!(before.elapsed() < Duration::from_millis(5));
        });
    }

    #[test]
    fn needs_a_runtime() {
        assert!(matches!(PreciseTimer::new(), Err(LinuxError::NoRuntime)));
    }
}
