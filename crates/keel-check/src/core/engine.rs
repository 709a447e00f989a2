//! keepalived's checker state machine: scheduling, results, real server
//! and quorum state, shutdown.

use super::lines::{failure_line, success_line};
use super::*;

impl CheckerSet {
    /// Puts the initial pool in place and schedules every checker's first
    /// run at `now + offset`, where `offset(id, warmup)` returns a delay in
    /// `0..=warmup` (random in production, fixed in tests).
    ///
    /// Real servers without alpha checkers start alive; quorum is then
    /// evaluated once (this is where a sorry server goes in at start).
    pub fn start(
        &mut self,
        now: Timestamp,
        mut offset: impl FnMut(CheckerId, Duration) -> Duration,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if self.started {
            return out;
        }
        self.started = true;
        for (v, vs) in self.vss.iter_mut().enumerate() {
            for (r, rs) in vs.rss.iter_mut().enumerate() {
                for (c, ck) in rs.checkers.iter_mut().enumerate() {
                    if ck.role == Role::External {
                        continue;
                    }
                    out.push(Action::Log(format!(
                        "Activating healthchecker for service {} for VS {}",
                        rs.label, vs.label
                    )));
                    let id = CheckerId {
                        vs: v,
                        rs: r,
                        checker: c,
                    };
                    let off = offset(id, ck.warmup).min(ck.warmup);
                    let at = now + off;
                    ck.next = Some(at);
                    self.queue.insert((at, id));
                }
                rs.alive = rs.num_failed() == 0;
            }
        }
        for v in 0..self.vss.len() {
            self.update_quorum_state(v, true, &mut out);
        }
        out.push(Action::TableChanged);
        out
    }

    /// When the next checker is due, if any.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// Takes every checker due at `now` off the schedule (it is now "in
    /// flight" until its [`CheckerSet::on_result`]).
    pub fn take_due(&mut self, now: Timestamp) -> Vec<CheckerId> {
        let mut due = Vec::new();
        while let Some(&(t, id)) = self.queue.first() {
            if t > now {
                break;
            }
            self.queue.pop_first();
            if let Some(ck) = self.checker_mut(id) {
                ck.next = None;
                ck.in_flight = true;
                due.push(id);
            }
        }
        due
    }

    /// Feeds one probe outcome in and reschedules the checker. Results for
    /// unknown ids, or after [`CheckerSet::shutdown`], are ignored.
    pub fn on_result(
        &mut self,
        id: CheckerId,
        result: &ProbeResult,
        now: Timestamp,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        let Some(ck) = self.checker_mut(id) else {
            return out;
        };
        ck.in_flight = false;
        let role = ck.role;
        let next_delay = match role {
            Role::File { weight, reverse } => {
                self.file_result(id, result, weight, reverse, &mut out)
            }
            Role::External => {
                self.set_checker_outcome(id, result.ok, &mut out);
                None
            }
            Role::Plain | Role::Misc { .. } => Some(self.plain_result(id, result, role, &mut out)),
        };
        if let Some(delay) = next_delay
            && let Some(ck) = self.checker_mut(id)
        {
            let at = now + delay;
            ck.next = Some(at);
            self.queue.insert((at, id));
        }
        if out
            .iter()
            .any(|a| !matches!(a, Action::Log(_) | Action::RunScript { .. }))
        {
            out.push(Action::TableChanged);
        }
        out
    }

    /// External (BFD) checkers: the state is simply what we are told.
    fn set_checker_outcome(&mut self, id: CheckerId, up: bool, out: &mut Vec<Action>) {
        self.update_svr_checker_state(id, up, out);
    }

    fn plain_result(
        &mut self,
        id: CheckerId,
        result: &ProbeResult,
        role: Role,
        out: &mut Vec<Action>,
    ) -> Duration {
        let log_all = self.log_all_failures;
        let vs_label = self.vss[id.vs].label.clone();
        let rs_label = self.vss[id.vs].rss[id.rs].label.clone();
        let iweight = self.vss[id.vs].rss[id.rs].iweight;
        let ck = &mut self.vss[id.vs].rss[id.rs].checkers[id.checker];
        let success = result.ok;

        // misc_dynamic: a successful exit sets the weight (exit 0 restores
        // the configured one).
        let mut new_cur_weight = None;
        if let Role::Misc { dynamic } = role
            && success
        {
            let cur = match (dynamic, result.weight) {
                (true, Some(w)) => w as i64 - iweight,
                _ => 0,
            };
            if cur != ck.cur_weight {
                new_cur_weight = Some(cur);
            }
        }

        let mut delay = ck.delay_loop;
        let mut transition = None;
        if success || ((ck.is_up || !ck.has_run) && ck.retry_it >= ck.retry) {
            let after_retries = ck.has_run && ck.retry > 0;
            ck.retry_it = 0;
            if success && (!ck.is_up || !ck.has_run) {
                out.push(Action::Log(success_line(ck, &rs_label, &vs_label)));
                transition = Some(true);
            } else if !success && (ck.is_up || !ck.has_run) {
                out.push(Action::Log(failure_line(
                    ck,
                    &rs_label,
                    &vs_label,
                    after_retries,
                    &result.detail,
                )));
                transition = Some(false);
            }
        } else if ck.is_up {
            delay = ck.delay_before_retry;
            ck.retry_it += 1;
            if log_all {
                out.push(Action::Log(format!(
                    "{} on service {} failed ({}), retry {}/{}.",
                    ck.kind, rs_label, result.detail, ck.retry_it, ck.retry
                )));
            }
        }

        if let Some(cur) = new_cur_weight {
            self.set_cur_weight(id, cur, out);
        }
        if let Some(up) = transition {
            if !up {
                // A failed misc checker gives its dynamic weight back.
                self.vss[id.vs].rss[id.rs].checkers[id.checker].cur_weight = 0;
            }
            self.update_svr_checker_state(id, up, out);
        }
        let ck = &mut self.vss[id.vs].rss[id.rs].checkers[id.checker];
        ck.has_run = true;
        delay
    }

    fn file_result(
        &mut self,
        id: CheckerId,
        result: &ProbeResult,
        weight: i64,
        reverse: bool,
        out: &mut Vec<Action>,
    ) -> Option<Duration> {
        let value = result.weight.unwrap_or(0) as i64;
        let mult = if reverse { -1 } else { 1 };
        let (up, cur) = if weight == 0 {
            (value == 0, 0)
        } else {
            let prod = value.saturating_mul(weight).saturating_mul(mult);
            // keepalived's IPVS_WEIGHT_FAULT: this low means "failed".
            if prod <= i32::MIN as i64 {
                (false, 0)
            } else {
                (true, prod)
            }
        };
        let rs_label = self.vss[id.vs].rss[id.rs].label.clone();
        let vs_label = self.vss[id.vs].label.clone();
        let ck = &self.vss[id.vs].rss[id.rs].checkers[id.checker];
        let delay = ck.delay_loop;
        if up != ck.is_up || (!ck.has_run && !up) {
            out.push(Action::Log(format!(
                "FILE_CHECK for service {rs_label} of VS {vs_label} {} (value {value}).",
                if up { "succeeded" } else { "failed" }
            )));
        }
        if cur != ck.cur_weight {
            self.set_cur_weight(id, cur, out);
        }
        self.update_svr_checker_state(id, up, out);
        Some(delay)
    }

    /// keepalived's update_svr_checker_state: the real server changes only
    /// when its first checker fails or its last failed checker recovers.
    fn update_svr_checker_state(&mut self, id: CheckerId, alive: bool, out: &mut Vec<Action>) {
        let rs = &mut self.vss[id.vs].rss[id.rs];
        let ck = &mut rs.checkers[id.checker];
        if ck.is_up == alive {
            if !ck.has_run {
                ck.has_run = true;
                if ck.alpha || !alive {
                    let alive_now = rs.alive;
                    self.rs_notify(id.rs_id(), alive_now, out);
                }
            }
            return;
        }
        ck.has_run = true;
        let failed = rs.num_failed();
        if alive {
            if failed <= 1 {
                self.perform_svr_state(id.rs_id(), true, out);
            }
        } else if failed == 0 {
            self.perform_svr_state(id.rs_id(), false, out);
        }
        self.vss[id.vs].rss[id.rs].checkers[id.checker].is_up = alive;
    }

    fn rs_notify(&self, id: RsId, alive: bool, out: &mut Vec<Action>) {
        let rs = &self.vss[id.vs].rss[id.rs];
        let (kind, script) = if alive {
            (ScriptKind::NotifyUp, &rs.notify_up)
        } else {
            (ScriptKind::NotifyDown, &rs.notify_down)
        };
        if let Some(script) = script {
            out.push(Action::RunScript {
                kind,
                vs: id.vs,
                rs: Some(id.rs),
                script: script.clone(),
            });
        }
    }

    fn perform_svr_state(&mut self, id: RsId, alive: bool, out: &mut Vec<Action>) {
        let vs = &mut self.vss[id.vs];
        let rs = &mut vs.rss[id.rs];
        if rs.alive == alive {
            return;
        }
        let (verb, prep) = match (alive, rs.inhibit) {
            (true, true) => ("Enabling", "of"),
            (true, false) => ("Adding", "to"),
            (false, true) => ("Disabling", "of"),
            (false, false) => ("Removing", "from"),
        };
        out.push(Action::Log(format!(
            "{verb} service {} {prep} VS {}",
            rs.label, vs.label
        )));
        rs.alive = alive;
        out.push(if alive {
            Action::RealServerUp {
                vs: id.vs,
                rs: id.rs,
            }
        } else {
            Action::RealServerDown {
                vs: id.vs,
                rs: id.rs,
            }
        });
        self.rs_notify(id, alive, out);
        self.update_quorum_state(id.vs, false, out);
    }

    fn set_cur_weight(&mut self, id: CheckerId, cur: i64, out: &mut Vec<Action>) {
        let vs = &mut self.vss[id.vs];
        let pool_in_use = vs.pool_in_use();
        let rs = &mut vs.rss[id.rs];
        let old = real_weight(rs.effective_weight());
        rs.checkers[id.checker].cur_weight = cur;
        let new = real_weight(rs.effective_weight());
        if old == new {
            return;
        }
        out.push(Action::Log(format!(
            "Changing weight from {old} to {new} for {}active service {} of VS {}",
            if rs.alive { "" } else { "in" },
            rs.label,
            vs.label
        )));
        if rs.alive && pool_in_use {
            out.push(Action::SetWeight {
                vs: id.vs,
                rs: id.rs,
                weight: new,
            });
        }
        self.update_quorum_state(id.vs, false, out);
    }

    fn update_quorum_state(&mut self, v: usize, init: bool, out: &mut Vec<Action>) {
        let vs = &mut self.vss[v];
        let sum = vs.live_weight();
        let threshold = if vs.quorum_state_up {
            vs.quorum - vs.hysteresis
        } else {
            vs.quorum + vs.hysteresis
        };
        if !vs.quorum_state_up && sum >= threshold {
            vs.quorum_state_up = true;
            out.push(Action::Log(format!(
                "Gained quorum {}+{}={threshold} <= {sum} for VS {}",
                vs.quorum, vs.hysteresis, vs.label
            )));
            if let Some(s) = vs.sorry.as_mut()
                && s.alive
            {
                out.push(Action::Log(format!(
                    "{} sorry server {} from VS {}",
                    if s.inhibit { "Disabling" } else { "Removing" },
                    s.label,
                    vs.label
                )));
                s.alive = false;
                out.push(Action::Log(format!(
                    "Adding alive servers to the pool for VS {}",
                    vs.label
                )));
                out.push(Action::SorryServerOut { vs: v });
            }
            out.push(Action::QuorumUp { vs: v });
            if let Some(script) = &vs.quorum_up_script {
                out.push(Action::RunScript {
                    kind: ScriptKind::QuorumUp,
                    vs: v,
                    rs: None,
                    script: script.clone(),
                });
            }
        } else if (vs.quorum_state_up && (sum == 0 || sum < threshold))
            || (init && !vs.quorum_state_up && vs.sorry.as_ref().is_some_and(|s| !s.alive))
        {
            vs.quorum_state_up = false;
            out.push(Action::Log(format!(
                "{} {}-{}={threshold} > {sum} for VS {}",
                if init {
                    "Starting with quorum down"
                } else {
                    "Lost quorum"
                },
                vs.quorum,
                vs.hysteresis,
                vs.label
            )));
            if let Some(s) = vs.sorry.as_mut()
                && !s.alive
            {
                out.push(Action::Log(format!(
                    "{} sorry server {} to VS {}",
                    if s.inhibit { "Enabling" } else { "Adding" },
                    s.label,
                    vs.label
                )));
                out.push(Action::Log(format!(
                    "Removing alive servers from the pool for VS {}",
                    vs.label
                )));
                s.alive = true;
                out.push(Action::SorryServerIn { vs: v });
            }
            out.push(Action::QuorumDown { vs: v });
            if let Some(script) = &vs.quorum_down_script {
                out.push(Action::RunScript {
                    kind: ScriptKind::QuorumDown,
                    vs: v,
                    rs: None,
                    script: script.clone(),
                });
            }
        }
    }

    /// Stops everything: the table becomes empty, checkers are no longer
    /// scheduled. With `omega`, the real servers' `notify_down` and the
    /// virtual server's `quorum_down` scripts run, as keepalived does.
    pub fn shutdown(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        self.stopped = true;
        self.queue.clear();
        for (v, vs) in self.vss.iter_mut().enumerate() {
            for (r, rs) in vs.rss.iter_mut().enumerate() {
                if rs.alive || rs.inhibit {
                    out.push(Action::Log(format!(
                        "Shutting down service {} from VS {}",
                        rs.label, vs.label
                    )));
                }
                if rs.alive {
                    rs.alive = false;
                    if vs.omega {
                        out.push(Action::RealServerDown { vs: v, rs: r });
                        if let Some(script) = &rs.notify_down {
                            out.push(Action::RunScript {
                                kind: ScriptKind::NotifyDown,
                                vs: v,
                                rs: Some(r),
                                script: script.clone(),
                            });
                        }
                    }
                }
                for ck in &mut rs.checkers {
                    ck.next = None;
                }
            }
            if let Some(s) = vs.sorry.as_mut() {
                s.alive = false;
            }
            vs.quorum_state_up = false;
            if vs.omega {
                out.push(Action::QuorumDown { vs: v });
                if let Some(script) = &vs.quorum_down_script {
                    out.push(Action::RunScript {
                        kind: ScriptKind::QuorumDown,
                        vs: v,
                        rs: None,
                        script: script.clone(),
                    });
                }
            }
        }
        out.push(Action::TableChanged);
        out
    }
}
