//! Gratuitous ARP / unsolicited NA schedule of a MASTER.
//!
//! keepalived sends `garp_master_repeat` announcements per address at once on
//! becoming MASTER, a second burst `garp_master_delay` later (only if still
//! MASTER), optional refresh bursts every `garp_master_refresh`, and a burst of
//! `garp_lower_prio_repeat` (plus a delayed second one) when a MASTER hears a
//! lower priority.

use crate::config::GarpConfig;
use crate::time::Instant;

/// Why a burst is sent; lets the daemon word its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GarpReason {
    /// First burst on becoming MASTER.
    BecomeMaster,
    /// Second burst, `garp_master_delay` after becoming MASTER.
    MasterDelay,
    /// Periodic `garp_master_refresh` burst.
    Refresh,
    /// A lower-priority advert was heard while MASTER.
    LowerPriority,
    /// Second burst after a lower-priority advert.
    LowerPriorityDelay,
}

/// A burst that is due: `count` announcements per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpBurst {
    pub count: u32,
    pub reason: GarpReason,
}

/// Pending delayed bursts; all cleared when leaving MASTER.
#[derive(Debug, Clone, Default)]
pub(crate) struct GarpSchedule {
    second: Option<Instant>,
    refresh: Option<Instant>,
    lower_second: Option<Instant>,
}

impl GarpSchedule {
    /// Arms the delayed bursts and returns the immediate one, if any.
    pub(crate) fn become_master(&mut self, now: Instant, cfg: &GarpConfig) -> Option<GarpBurst> {
        self.clear();
        if cfg.master_repeat == 0 {
            return None;
        }
        if !cfg.master_delay.is_zero() {
            self.second = Some(now + cfg.master_delay);
        }
        if !cfg.master_refresh.is_zero() && cfg.master_refresh_repeat > 0 {
            self.refresh = Some(now + cfg.master_refresh);
        }
        Some(GarpBurst {
            count: cfg.master_repeat,
            reason: GarpReason::BecomeMaster,
        })
    }

    pub(crate) fn lower_priority(&mut self, now: Instant, cfg: &GarpConfig) -> Option<GarpBurst> {
        if cfg.lower_prio_repeat == 0 {
            return None;
        }
        if !cfg.lower_prio_delay.is_zero() {
            self.lower_second = Some(now + cfg.lower_prio_delay);
        }
        Some(GarpBurst {
            count: cfg.lower_prio_repeat,
            reason: GarpReason::LowerPriority,
        })
    }

    pub(crate) fn clear(&mut self) {
        *self = GarpSchedule::default();
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        [self.second, self.refresh, self.lower_second]
            .into_iter()
            .flatten()
            .min()
    }

    /// Pops every burst due at `now`, re-arming the periodic refresh.
    pub(crate) fn fire(&mut self, now: Instant, cfg: &GarpConfig, out: &mut Vec<GarpBurst>) {
        if self.second.is_some_and(|t| t <= now) {
            self.second = None;
            out.push(GarpBurst {
                count: cfg.master_repeat,
                reason: GarpReason::MasterDelay,
            });
        }
        if self.lower_second.is_some_and(|t| t <= now) {
            self.lower_second = None;
            out.push(GarpBurst {
                count: cfg.lower_prio_repeat,
                reason: GarpReason::LowerPriorityDelay,
            });
        }
        if self.refresh.is_some_and(|t| t <= now) {
            self.refresh = Some(now + cfg.master_refresh);
            out.push(GarpBurst {
                count: cfg.master_refresh_repeat,
                reason: GarpReason::Refresh,
            });
        }
    }
}
