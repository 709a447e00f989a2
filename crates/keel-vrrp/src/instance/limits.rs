//! How often an instance answers what anyone on the LAN can send it.

use std::time::Duration;

use super::Instance;
use crate::time::Instant;

/// Whether something last done at `*last` may be done again at `now`, at
/// most once per `every`; records `now` when it may.
fn once_per(last: &mut Option<Instant>, now: Instant, every: Duration) -> bool {
    if last.is_some_and(|t| now < t + every) {
        return false;
    }
    *last = Some(now);
    true
}

impl Instance {
    /// A MASTER answers lower-priority and priority-0 adverts (log line,
    /// notify, advert, GARPs) at most once per advert interval: one per
    /// received advert would let anyone on the LAN multiply our traffic,
    /// our log and our notify scripts by sending a flood of them. The one
    /// answer per interval still settles the election (RFC 9568 §6.4.3).
    pub(super) fn may_reflect(&mut self, now: Instant) -> bool {
        once_per(&mut self.last_reflect, now, self.cfg.advert_interval)
    }

    /// A BACKUP logs discarded lower-priority adverts at most once per
    /// advert interval, so a flood of them cannot flood the log.
    pub(super) fn may_log_discard(&mut self, now: Instant) -> bool {
        once_per(&mut self.last_discard_log, now, self.cfg.advert_interval)
    }
}
