//! `vrrp_sync_group`: instances that change state together.
//!
//! keepalived's rules, applied after every input:
//! - members go MASTER only when every member wants MASTER (its Master_Down
//!   timer expired with no better master heard) or already is MASTER;
//! - a member leaving MASTER for BACKUP because it heard a better router
//!   pulls the other MASTER members to BACKUP;
//! - one member in FAULT (interface down, weight-0 tracker) puts every other
//!   member in FAULT; when no member has a fault of its own any more they all
//!   return to BACKUP.
//!
//! Driven exactly like [`Instance`], except that outputs carry the index of
//! the member they belong to.

use std::collections::VecDeque;

use crate::config::InstanceConfig;
use crate::instance::{Action, Event, Instance, State};
use crate::time::Instant;

/// An output of a sync group, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutput {
    /// An action of member `index` (same meaning as for a lone instance).
    Member { index: usize, action: Action },
    /// The group as a whole changed state (`GROUP` notifications).
    StateChanged { from: State, to: State },
}

#[derive(Debug, Clone)]
pub struct SyncGroup {
    name: String,
    members: Vec<Instance>,
    state: State,
    out: VecDeque<GroupOutput>,
}

impl SyncGroup {
    pub fn new(name: impl Into<String>, configs: Vec<InstanceConfig>, now: Instant) -> Self {
        let members = configs
            .into_iter()
            .map(|c| {
                let mut i = Instance::new(c, now);
                i.set_group_member(true);
                i
            })
            .collect();
        SyncGroup {
            name: name.into(),
            members,
            state: State::Init,
            out: VecDeque::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn members(&self) -> &[Instance] {
        &self.members
    }

    pub fn member(&self, index: usize) -> Option<&Instance> {
        self.members.get(index)
    }

    /// Group state: FAULT if a member is, MASTER if all are, else BACKUP
    /// (INIT before start-up, STOP/DELETED once all members stopped).
    pub fn state(&self) -> State {
        self.state
    }

    /// Feeds an event to one member (out-of-range indexes are ignored).
    pub fn handle(&mut self, now: Instant, index: usize, event: Event) {
        if index >= self.members.len() {
            return;
        }
        self.step(now, |ms| ms[index].handle(now, event));
    }

    /// Feeds the same event to every member (start-up, shutdown, link events).
    pub fn handle_all(&mut self, now: Instant, event: Event) {
        self.step(now, |ms| {
            for m in ms.iter_mut() {
                m.handle(now, event.clone());
            }
        });
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.step(now, |ms| {
            for m in ms.iter_mut() {
                if m.poll_timeout().is_some_and(|t| t <= now) {
                    m.handle_timeout(now);
                }
            }
        });
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.members.iter().filter_map(Instance::poll_timeout).min()
    }

    pub fn poll_output(&mut self) -> Option<GroupOutput> {
        self.out.pop_front()
    }

    fn drain(&mut self) {
        for (index, m) in self.members.iter_mut().enumerate() {
            while let Some(action) = m.poll_action() {
                self.out.push_back(GroupOutput::Member { index, action });
            }
        }
    }

    fn step(&mut self, now: Instant, f: impl FnOnce(&mut [Instance])) {
        let mut before: Vec<State> = self.members.iter().map(Instance::state).collect();
        f(&mut self.members);
        self.drain();
        // Each pass can only move members "down" (fault, backup) or all up at
        // once, so a few passes reach a fixed point.
        for _ in 0..4 {
            let changed = self.reconcile(now, &before);
            self.drain();
            if !changed {
                break;
            }
            before = self.members.iter().map(Instance::state).collect();
        }
        self.update_state();
    }

    fn reconcile(&mut self, now: Instant, before: &[State]) -> bool {
        let states: Vec<State> = self.members.iter().map(Instance::state).collect();
        let mut changed = false;

        let any_own_fault = self.members.iter().any(|m| {
            m.own_fault() && !matches!(m.state(), State::Init | State::Stop | State::Deleted)
        });
        for m in self.members.iter_mut() {
            let s = m.state();
            m.set_group_fault(now, any_own_fault && !m.own_fault());
            changed |= s != m.state();
        }
        if any_own_fault {
            return changed;
        }

        let pulled_down = before
            .iter()
            .zip(states.iter())
            .any(|(b, a)| *b == State::Master && *a == State::Backup);
        if pulled_down {
            for m in self.members.iter_mut() {
                if m.state() == State::Master {
                    m.group_backup(now);
                    changed = true;
                }
            }
            return changed;
        }

        let all_want = self.members.iter().all(|m| {
            m.state() == State::Master || (m.state() == State::Backup && m.wants_master())
        });
        let some_waiting = self.members.iter().any(|m| m.state() == State::Backup);
        if all_want && some_waiting {
            for m in self.members.iter_mut() {
                if m.state() == State::Backup {
                    m.group_become_master(now);
                    changed = true;
                }
            }
        }
        changed
    }

    fn update_state(&mut self) {
        let states: Vec<State> = self.members.iter().map(Instance::state).collect();
        let new = if states.is_empty() {
            self.state
        } else if states.contains(&State::Fault) {
            State::Fault
        } else if states.iter().all(|s| *s == State::Master) {
            State::Master
        } else if states.iter().all(|s| *s == State::Init) {
            State::Init
        } else if states
            .iter()
            .all(|s| matches!(s, State::Stop | State::Deleted))
        {
            states[0]
        } else {
            State::Backup
        };
        if new != self.state {
            let from = self.state;
            self.state = new;
            self.out
                .push_back(GroupOutput::StateChanged { from, to: new });
        }
    }
}
