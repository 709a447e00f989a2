//! How often an instance answers what anyone on the LAN can send it.

use super::Instance;
use crate::time::Instant;

impl Instance {
    /// A MASTER answers lower-priority and priority-0 adverts (log line,
    /// notify, advert, GARPs) at most once per advert interval: one per
    /// received advert would let anyone on the LAN multiply our traffic,
    /// our log and our notify scripts by sending a flood of them. The one
    /// answer per interval still settles the election (RFC 9568 §6.4.3).
    pub(super) fn may_reflect(&mut self, now: Instant) -> bool {
        if self
            .last_reflect
            .is_some_and(|t| now < t + self.cfg.advert_interval)
        {
            return false;
        }
        self.last_reflect = Some(now);
        true
    }

    /// A BACKUP logs discarded lower-priority adverts at most once per
    /// advert interval, so a flood of them cannot flood the log.
    pub(super) fn may_log_discard(&mut self, now: Instant) -> bool {
        if self
            .last_discard_log
            .is_some_and(|t| now < t + self.cfg.advert_interval)
        {
            return false;
        }
        self.last_discard_log = Some(now);
        true
    }
}
