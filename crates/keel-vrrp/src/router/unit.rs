//! One schedulable unit of the router: a lone instance or a sync group.

use crate::config::InstanceConfig;
use crate::group::{GroupOutput, SyncGroup};
use crate::instance::{Action, Event, Instance, State};
use crate::time::Instant;

/// A lone instance or a sync group, driven the same way.
#[derive(Debug, Clone)]
pub enum Unit {
    Single(Box<Instance>),
    Group(Box<SyncGroup>),
}

/// One output of a unit, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UnitOutput {
    Member(usize, Action),
    Group { from: State, to: State },
}

impl Unit {
    pub fn single(cfg: InstanceConfig, now: Instant) -> Unit {
        Unit::Single(Box::new(Instance::new(cfg, now)))
    }

    pub fn group(name: impl Into<String>, members: Vec<InstanceConfig>, now: Instant) -> Unit {
        Unit::Group(Box::new(SyncGroup::new(name, members, now)))
    }

    /// Feeds an event to one member; a lone instance is member 0 and other
    /// indexes are ignored.
    pub fn handle(&mut self, now: Instant, member: usize, event: Event) {
        match self {
            Unit::Single(i) => {
                if member == 0 {
                    i.handle(now, event)
                }
            }
            Unit::Group(g) => g.handle(now, member, event),
        }
    }

    pub fn handle_all(&mut self, now: Instant, event: Event) {
        match self {
            Unit::Single(i) => i.handle(now, event),
            Unit::Group(g) => g.handle_all(now, event),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match self {
            Unit::Single(i) => i.handle_timeout(now),
            Unit::Group(g) => g.handle_timeout(now),
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Unit::Single(i) => i.poll_timeout(),
            Unit::Group(g) => g.poll_timeout(),
        }
    }

    pub fn member(&self, member: usize) -> Option<&Instance> {
        match self {
            Unit::Single(i) => (member == 0).then_some(&**i),
            Unit::Group(g) => g.member(member),
        }
    }

    pub fn member_count(&self) -> usize {
        match self {
            Unit::Single(_) => 1,
            Unit::Group(g) => g.members().len(),
        }
    }

    /// The sync group, if this unit is one.
    pub fn group_ref(&self) -> Option<&SyncGroup> {
        match self {
            Unit::Group(g) => Some(g),
            Unit::Single(_) => None,
        }
    }

    pub(crate) fn poll(&mut self) -> Option<UnitOutput> {
        match self {
            Unit::Single(i) => i.poll_action().map(|a| UnitOutput::Member(0, a)),
            Unit::Group(g) => g.poll_output().map(|o| match o {
                GroupOutput::Member { index, action } => UnitOutput::Member(index, action),
                GroupOutput::StateChanged { from, to } => UnitOutput::Group { from, to },
            }),
        }
    }
}
