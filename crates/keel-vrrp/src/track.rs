//! Priority tracking: `track_script`, `track_interface`, `track_file`,
//! `track_process`, `track_bfd`, and `vrrp_script` rise/fall counting.
//!
//! Arithmetic follows keepalived: a positive weight is added while the tracked
//! object is OK, a negative weight is added while it has failed, `reverse`
//! swaps what counts as OK, weight 0 turns a failure into FAULT, a tracked
//! file contributes `value × weight`, the result is clamped to 1..=254, and an
//! address owner (255) is immune.

use std::fmt;

/// Daemon-chosen identifier of a tracked object within one instance.
pub type TrackId = u32;

/// What kind of object a tracker follows (affects only the arithmetic of files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Script,
    Interface,
    File,
    Process,
    Bfd,
}

/// Observed state of a tracked object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackState {
    /// Script succeeding, interface up, process quorum met, BFD session up.
    Up,
    /// The opposite of `Up`.
    Down,
    /// The number read from a `track_file`.
    Value(i64),
}

/// One tracker of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackConfig {
    pub id: TrackId,
    /// Name for diagnostics (script name, interface name, file path, ...).
    pub name: String,
    pub kind: TrackKind,
    /// −254..=254; 0 means "failure ⇒ FAULT".
    pub weight: i32,
    pub reverse: bool,
    /// State assumed before the first report (`init_fail` scripts start `Down`,
    /// `track_file` starts at its `init_file` value or 0).
    pub initial: TrackState,
}

impl TrackConfig {
    pub fn new(id: TrackId, name: impl Into<String>, kind: TrackKind, weight: i32) -> Self {
        let initial = match kind {
            TrackKind::File => TrackState::Value(0),
            _ => TrackState::Up,
        };
        TrackConfig {
            id,
            name: name.into(),
            kind,
            weight,
            reverse: false,
            initial,
        }
    }

    pub fn reverse(mut self, reverse: bool) -> Self {
        self.reverse = reverse;
        self
    }

    pub fn initial(mut self, state: TrackState) -> Self {
        self.initial = state;
        self
    }
}

/// Contribution of one tracker to the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Weight(i64),
    Fault,
}

/// Below this a `track_file` contribution means FAULT (keepalived: < −253).
const FILE_FAULT_BELOW: i64 = -253;

fn effect(cfg: &TrackConfig, state: TrackState) -> Effect {
    let weight = i64::from(cfg.weight);
    match (cfg.kind, state) {
        (TrackKind::File, TrackState::Value(v)) => {
            let v = if cfg.reverse { v.saturating_neg() } else { v };
            if weight == 0 {
                if v != 0 {
                    Effect::Fault
                } else {
                    Effect::Weight(0)
                }
            } else {
                let c = v.saturating_mul(weight);
                if c < FILE_FAULT_BELOW {
                    Effect::Fault
                } else {
                    Effect::Weight(c)
                }
            }
        }
        (_, state) => {
            let up = match state {
                TrackState::Up => true,
                TrackState::Down => false,
                // A number where a status was expected: non-zero counts as failure,
                // like a script exit code.
                TrackState::Value(v) => v == 0,
            };
            let ok = up != cfg.reverse;
            match weight {
                0 if !ok => Effect::Fault,
                w if w > 0 && ok => Effect::Weight(w),
                w if w < 0 && !ok => Effect::Weight(w),
                _ => Effect::Weight(0),
            }
        }
    }
}

/// The trackers of one instance and their last reported states.
#[derive(Debug, Clone, Default)]
pub struct Tracking {
    entries: Vec<(TrackConfig, TrackState)>,
}

impl Tracking {
    pub fn new(configs: &[TrackConfig]) -> Self {
        Tracking {
            entries: configs.iter().map(|c| (c.clone(), c.initial)).collect(),
        }
    }

    /// Records a new state; returns whether anything changed. Unknown ids are ignored.
    pub fn set(&mut self, id: TrackId, state: TrackState) -> bool {
        match self.entries.iter_mut().find(|(c, _)| c.id == id) {
            Some((_, s)) if *s != state => {
                *s = state;
                true
            }
            _ => false,
        }
    }

    pub fn state(&self, id: TrackId) -> Option<TrackState> {
        self.entries
            .iter()
            .find(|(c, _)| c.id == id)
            .map(|(_, s)| *s)
    }

    /// Whether some weight-0 tracker (or an extreme file value) forces FAULT.
    pub fn faulted(&self) -> bool {
        self.entries
            .iter()
            .any(|(c, s)| effect(c, *s) == Effect::Fault)
    }

    /// Sum of the weights currently applied.
    pub fn total_weight(&self) -> i64 {
        self.entries
            .iter()
            .map(|(c, s)| match effect(c, *s) {
                Effect::Weight(w) => w,
                Effect::Fault => 0,
            })
            .fold(0i64, |a, b| a.saturating_add(b))
    }

    /// Effective priority for a base priority.
    pub fn effective_priority(&self, base: u8) -> u8 {
        effective_priority(base, self.total_weight())
    }
}

/// keepalived's clamp: owner immune, others kept within 1..=254.
pub fn effective_priority(base: u8, total_weight: i64) -> u8 {
    if base == 255 {
        return 255;
    }
    (i64::from(base).saturating_add(total_weight)).clamp(1, 254) as u8
}

/// Current verdict of a `vrrp_script`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptStatus {
    /// No verdict yet; counts as OK (unless `init_fail`, which starts `Failed`).
    Init,
    Ok,
    Failed,
}

/// A `vrrp_script` verdict change, printed the way keepalived logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub script: String,
    pub ok: bool,
}

impl fmt::Display for StatusChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.ok { "succeeded" } else { "failed" };
        write!(f, "VRRP_Script({}) {}", self.script, verdict)
    }
}

/// Rise/fall counting for one `vrrp_script`, independent of how it is run.
#[derive(Debug, Clone)]
pub struct ScriptTracker {
    name: String,
    rise: u32,
    fall: u32,
    status: ScriptStatus,
    ok_run: u32,
    fail_run: u32,
}

impl ScriptTracker {
    /// `rise`/`fall` of 0 are treated as 1 (keepalived's minimum).
    pub fn new(name: impl Into<String>, rise: u32, fall: u32, init_fail: bool) -> Self {
        ScriptTracker {
            name: name.into(),
            rise: rise.max(1),
            fall: fall.max(1),
            status: if init_fail {
                ScriptStatus::Failed
            } else {
                ScriptStatus::Init
            },
            ok_run: 0,
            fail_run: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn status(&self) -> ScriptStatus {
        self.status
    }

    /// The state to report to instances tracking this script.
    pub fn track_state(&self) -> TrackState {
        match self.status {
            ScriptStatus::Failed => TrackState::Down,
            ScriptStatus::Init | ScriptStatus::Ok => TrackState::Up,
        }
    }

    /// Feeds one run's outcome (exit 0 = success); returns a verdict change
    /// after `rise` consecutive successes or `fall` consecutive failures.
    pub fn on_result(&mut self, exit_ok: bool) -> Option<StatusChange> {
        if exit_ok {
            self.fail_run = 0;
            self.ok_run = self.ok_run.saturating_add(1);
            if self.status != ScriptStatus::Ok && self.ok_run >= self.rise {
                self.status = ScriptStatus::Ok;
                return Some(StatusChange {
                    script: self.name.clone(),
                    ok: true,
                });
            }
        } else {
            self.ok_run = 0;
            self.fail_run = self.fail_run.saturating_add(1);
            if self.status != ScriptStatus::Failed && self.fail_run >= self.fall {
                self.status = ScriptStatus::Failed;
                return Some(StatusChange {
                    script: self.name.clone(),
                    ok: false,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(id: TrackId, weight: i32) -> TrackConfig {
        TrackConfig::new(id, format!("chk{id}"), TrackKind::Script, weight)
    }

    #[test]
    fn negative_weight_applies_while_failed() {
        // keepalived S4: priority 100, weight -5, script fails -> 95.
        let mut t = Tracking::new(&[script(1, -5)]);
        assert_eq!(t.effective_priority(100), 100);
        assert!(t.set(1, TrackState::Down));
        assert_eq!(t.effective_priority(100), 95);
        assert!(t.set(1, TrackState::Up));
        assert_eq!(t.effective_priority(100), 100);
    }

    #[test]
    fn positive_weight_applies_while_ok_and_reverse_flips() {
        let mut t = Tracking::new(&[script(1, 10), script(2, 10).reverse(true)]);
        // 1 is up (+10), 2 is up but reversed (not OK, no weight).
        assert_eq!(t.effective_priority(100), 110);
        t.set(2, TrackState::Down);
        assert_eq!(t.effective_priority(100), 120);
        t.set(1, TrackState::Down);
        assert_eq!(t.effective_priority(100), 110);
    }

    #[test]
    fn weight_zero_means_fault() {
        let mut t = Tracking::new(&[TrackConfig::new(1, "eth1", TrackKind::Interface, 0)]);
        assert!(!t.faulted());
        t.set(1, TrackState::Down);
        assert!(t.faulted());
        assert_eq!(t.effective_priority(100), 100);
    }

    #[test]
    fn file_value_times_weight_and_fault_below_minus_253() {
        let mut t = Tracking::new(&[TrackConfig::new(1, "/f", TrackKind::File, -2)]);
        t.set(1, TrackState::Value(10));
        assert_eq!(t.effective_priority(100), 80);
        t.set(1, TrackState::Value(126));
        assert!(!t.faulted());
        t.set(1, TrackState::Value(127));
        // 127 * -2 = -254 < -253 -> FAULT
        assert!(t.faulted());
        let mut z = Tracking::new(&[TrackConfig::new(1, "/f", TrackKind::File, 0)]);
        z.set(1, TrackState::Value(3));
        assert!(z.faulted());
        z.set(1, TrackState::Value(0));
        assert!(!z.faulted());
    }

    #[test]
    fn clamp_and_owner_immunity() {
        let mut t = Tracking::new(&[script(1, -200), script(2, 200)]);
        t.set(1, TrackState::Down);
        t.set(2, TrackState::Down);
        assert_eq!(t.effective_priority(100), 1);
        t.set(1, TrackState::Up);
        t.set(2, TrackState::Up);
        assert_eq!(t.effective_priority(100), 254);
        t.set(1, TrackState::Down);
        t.set(2, TrackState::Down);
        assert_eq!(t.effective_priority(255), 255);
    }

    #[test]
    fn script_rise_fall_counting() {
        let mut s = ScriptTracker::new("chk", 2, 3, false);
        assert_eq!(s.status(), ScriptStatus::Init);
        assert_eq!(s.track_state(), TrackState::Up);
        assert_eq!(s.on_result(false), None);
        assert_eq!(s.on_result(false), None);
        let c = s.on_result(false).unwrap();
        assert_eq!(c.to_string(), "VRRP_Script(chk) failed");
        assert_eq!(s.track_state(), TrackState::Down);
        assert_eq!(s.on_result(true), None);
        assert_eq!(s.on_result(false), None, "a failure resets the rise count");
        assert_eq!(s.on_result(true), None);
        let c = s.on_result(true).unwrap();
        assert_eq!(c.to_string(), "VRRP_Script(chk) succeeded");
        assert_eq!(s.on_result(true), None);
    }

    #[test]
    fn script_init_fail_starts_failed() {
        let mut s = ScriptTracker::new("chk", 1, 1, true);
        assert_eq!(s.track_state(), TrackState::Down);
        assert_eq!(s.on_result(false), None);
        assert!(s.on_result(true).unwrap().ok);
    }
}
