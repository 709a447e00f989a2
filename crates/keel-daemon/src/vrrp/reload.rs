//! Building the router from the configuration, and rebuilding it on
//! SIGHUP: units whose instances only changed priority survive, the others
//! are deleted and started afresh.

use std::collections::HashMap;
use std::net::IpAddr;

use keel_config::Config;
use keel_vrrp::instance::{Event, State};
use keel_vrrp::router::{InstanceId, Unit, UnitId, WireConfig};
use keel_vrrp::track::TrackState;

use super::sockets::SocketKey;
use super::{InstRt, Runtime};
use crate::mapping::{self, HostInfo, InstancePlan, TrackSource};

impl Runtime {
    pub(super) async fn host_info(&self) -> HostInfo {
        let mut h = HostInfo::default();
        let links = match self.nl.links().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("cannot list interfaces: {e}");
                return h;
            }
        };
        for l in links {
            match self.nl.addresses(l.ifindex).await {
                Ok(addrs) => {
                    // Primary (non-secondary) addresses first, as keepalived picks them.
                    let mut v: Vec<_> = addrs.iter().filter(|a| !a.is_secondary()).collect();
                    v.extend(addrs.iter().filter(|a| a.is_secondary()));
                    h.addresses
                        .insert(l.name.clone(), v.into_iter().map(|a| a.addr).collect());
                }
                Err(e) => tracing::warn!("cannot list addresses of {}: {e}", l.name),
            }
        }
        h
    }

    pub(super) async fn plan(&self, cfg: &Config) -> Vec<InstancePlan> {
        let host = self.host_info().await;
        let (mut plans, errors) = mapping::plan_instances(cfg, &host);
        for e in errors {
            tracing::error!("{e}; instance disabled");
        }
        // Our own VIPs must not be taken for the advert source after a crash
        // left them on the interface.
        for p in plans.iter_mut() {
            let ours: Vec<IpAddr> = p.engine.vips.announced();
            if ours.contains(&p.engine.primary_ip) && p.unicast_src.is_none() {
                let alt = host.addresses.get(&p.interface).and_then(|a| {
                    a.iter()
                        .find(|a| a.is_ipv6() == p.v6 && !ours.contains(a))
                        .copied()
                });
                if let Some(alt) = alt {
                    p.engine.primary_ip = alt;
                }
            }
        }
        plans
    }

    pub(super) fn link_up(&self, ifname: &str) -> bool {
        let Ok(idx) = keel_linux::ifindex(ifname) else {
            return false;
        };
        self.monitor
            .as_ref()
            .and_then(|m| m.link_is_up(idx))
            .unwrap_or(true)
    }

    /// Opens the sockets instances need and closes the others.
    pub(super) fn sync_sockets(&mut self) {
        let mut needed: Vec<(SocketKey, bool)> = Vec::new();
        for ir in self.insts.values() {
            let ah = matches!(ir.plan.auth, keel_vrrp::packet::AuthConfig::Ah(_));
            match needed.iter_mut().find(|(k, _)| *k == ir.key) {
                Some((_, a)) => *a |= ah,
                None => needed.push((ir.key.clone(), ah)),
            }
        }
        needed.sort();
        self.sockets.sync(&needed);
        let names = &self.names;
        self.last_tx.retain(|(id, _), _| names.contains_key(id));
        self.handover_dirty = true;
    }

    /// Groups `plans` into units: sync groups first, then lone instances
    /// in file order.
    fn group_plans(
        cfg: &Config,
        plans: Vec<InstancePlan>,
    ) -> Vec<(Option<String>, Vec<InstancePlan>)> {
        let mut by_name: HashMap<String, InstancePlan> = plans
            .into_iter()
            .map(|p| (p.engine.name.clone(), p))
            .collect();
        let mut units = Vec::new();
        for sg in &cfg.sync_groups {
            let members: Vec<InstancePlan> =
                sg.group.iter().filter_map(|n| by_name.remove(n)).collect();
            if !members.is_empty() {
                units.push((Some(sg.name.clone()), members));
            }
        }
        let mut rest: Vec<InstancePlan> = by_name.into_values().collect();
        let order: HashMap<&str, usize> = cfg
            .vrrp_instances
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.as_str(), i))
            .collect();
        rest.sort_by_key(|p| order.get(p.engine.name.as_str()).copied().unwrap_or(0));
        units.extend(rest.into_iter().map(|p| (None, vec![p])));
        units
    }

    /// Adds units for `plans` to the router, opens their sockets and
    /// starts them.
    pub(super) async fn add_units(&mut self, cfg: &Config, plans: Vec<InstancePlan>) {
        let now = self.now();
        let mut started = Vec::new();
        for (group, members) in Self::group_plans(cfg, plans) {
            let engines = members.iter().map(|p| p.engine.clone()).collect();
            let unit = match &group {
                Some(name) => Unit::group(name.clone(), engines, now),
                None => match members.first() {
                    Some(p) => Unit::single(p.engine.clone(), now),
                    None => continue,
                },
            };
            let wires: Vec<WireConfig> = members
                .iter()
                .map(|p| {
                    let ingress = self.sockets.ingress(&SocketKey::of(p));
                    p.wire(ingress)
                })
                .collect();
            let (u, clashes) = self.router.add_unit(unit, wires);
            for c in clashes {
                tracing::error!(
                    "VRRP_Instance({}) shares its VRID, family and socket with another instance; only that one receives adverts",
                    self.names.get(&c).cloned().unwrap_or_default()
                );
            }
            let names: Vec<String> = members.iter().map(|p| p.engine.name.clone()).collect();
            for (member, plan) in members.into_iter().enumerate() {
                let id = InstanceId { unit: u, member };
                let key = SocketKey::of(&plan);
                self.names.insert(id, plan.engine.name.clone());
                self.insts.insert(
                    plan.engine.name.clone(),
                    InstRt {
                        plan,
                        id,
                        key,
                        state: State::Init,
                    },
                );
            }
            self.units.insert(u, names);
            started.push(u);
        }
        // The VMACs first: the adverts' sockets are bound to them.
        let vmac_plans: Vec<InstancePlan> = started
            .iter()
            .filter_map(|u| self.units.get(u))
            .flatten()
            .filter_map(|n| self.insts.get(n))
            .filter(|ir| ir.plan.vmac.is_some())
            .map(|ir| ir.plan.clone())
            .collect();
        for plan in &vmac_plans {
            self.create_vmac(plan).await;
        }
        self.sync_sockets();
        for u in started {
            self.start_unit(u).await;
        }
    }

    /// Initial link and tracked-interface states, then start-up.
    async fn start_unit(&mut self, u: UnitId) {
        let mut events = Vec::new();
        for name in self.units.get(&u).into_iter().flatten() {
            let Some(ir) = self.insts.get(name) else {
                continue;
            };
            if !self.link_up(&ir.plan.interface) || !self.sockets.contains(&ir.key) {
                events.push((ir.id, Event::InterfaceDown));
            }
            for (id, src) in &ir.plan.tracks {
                if let TrackSource::Interface(ifname) = src {
                    let st = if self.link_up(ifname) {
                        TrackState::Up
                    } else {
                        TrackState::Down
                    };
                    events.push((ir.id, Event::Track { id: *id, state: st }));
                }
            }
        }
        let now = self.now();
        for (id, ev) in events {
            self.router.handle(now, id, ev);
        }
        self.router.handle_unit(now, u, Event::Startup);
        self.flush().await;
    }

    /// Whether unit `u` survives a reload to `new`: all its members survive
    /// with only a new priority, and its sync-group membership is unchanged.
    fn survives(&self, cfg: &Config, u: UnitId, new: &HashMap<String, InstancePlan>) -> bool {
        let Some(members) = self.units.get(&u) else {
            return false;
        };
        let group_of = |name: &str| {
            cfg.sync_groups
                .iter()
                .find(|g| g.group.iter().any(|m| m == name))
                .map(|g| (g.name.clone(), g.group.clone()))
        };
        let same = members.iter().all(|n| {
            let (Some(old), Some(p)) = (self.insts.get(n), new.get(n)) else {
                return false;
            };
            let mut a = old.plan.clone();
            a.engine.priority = p.engine.priority;
            a == *p
        });
        let group = self.router.unit(u).and_then(Unit::group_ref);
        same && match group {
            None => members.first().is_some_and(|n| group_of(n).is_none()),
            Some(g) => members
                .first()
                .and_then(|n| group_of(n))
                .is_some_and(|(gname, gm)| {
                    gname == g.name()
                        && gm
                            .iter()
                            .filter(|m| new.contains_key(*m))
                            .eq(members.iter())
                }),
        }
    }

    pub(super) async fn reload(&mut self, cfg: &Config) {
        tracing::info!("Reloading");
        let plans = self.plan(cfg).await;
        let new: HashMap<String, InstancePlan> = plans
            .iter()
            .map(|p| (p.engine.name.clone(), p.clone()))
            .collect();
        let all: Vec<UnitId> = self.units.keys().copied().collect();
        let keep: Vec<UnitId> = all
            .iter()
            .copied()
            .filter(|u| self.survives(cfg, *u, &new))
            .collect();
        let now = self.now();
        // Delete what does not survive.
        for u in all.into_iter().filter(|u| !keep.contains(u)) {
            self.router.handle_unit(now, u, Event::Delete);
            self.flush().await;
            self.router.remove_unit(u);
            for n in self.units.remove(&u).unwrap_or_default() {
                if let Some(ir) = self.insts.remove(&n) {
                    self.names.remove(&ir.id);
                    if new.contains_key(&n) {
                        tracing::info!(
                            "VRRP_Instance({n}) configuration changed; restarting the instance"
                        );
                    }
                }
            }
        }
        // VMACs no instance of the new configuration uses go; the others
        // stay (a restarted instance re-adopts its own).
        for name in self.vmacs.names() {
            let wanted = new
                .values()
                .any(|p| p.vmac.as_ref().is_some_and(|v| v.name == name));
            if !wanted {
                // Removed instances' VIPs on it go first.
                self.netops.drain().await;
                self.vmacs.remove(&self.nl, &name).await;
                self.garp_socks.remove(&name);
            }
        }
        // Update survivors (new priority takes effect at once).
        for u in &keep {
            for n in self.units.get(u).cloned().unwrap_or_default() {
                let Some(p) = new.get(&n) else { continue };
                if let Some(ir) = self.insts.get_mut(&n) {
                    ir.plan = p.clone();
                    let id = ir.id;
                    self.router
                        .handle(now, id, Event::SetBasePriority(p.engine.priority));
                }
            }
            self.flush().await;
        }
        let fresh: Vec<InstancePlan> = plans
            .into_iter()
            .filter(|p| !self.insts.contains_key(&p.engine.name))
            .collect();
        self.sync_sockets();
        self.add_units(cfg, fresh).await;
        self.sync_sockets();
    }
}
