//! Link and address events from the netlink monitor.

use keel_linux::NetEvent;
use keel_vrrp::instance::Event;
use keel_vrrp::track::TrackState;

use super::Runtime;
use crate::mapping::{InstancePlan, TrackSource};

impl Runtime {
    pub(super) async fn on_net_event(&mut self, ev: NetEvent) {
        self.status.touch();
        match ev {
            NetEvent::LinkUp { name, .. } => {
                tracing::info!("Netlink reports {name} up");
                self.link_changed(&name, true).await;
            }
            NetEvent::LinkRemoved { name, .. } if self.vmacs.owns(&name) => {
                self.restore_vmac(&name).await;
            }
            NetEvent::LinkDown { name, .. } | NetEvent::LinkRemoved { name, .. } => {
                tracing::info!("Netlink reports {name} down");
                self.link_changed(&name, false).await;
            }
            NetEvent::AddrRemoved { ifindex, addr, .. } => {
                self.addr_removed(ifindex, addr).await;
            }
            NetEvent::AddrAdded { .. } => {}
        }
    }

    async fn link_changed(&mut self, ifname: &str, up: bool) {
        let now = self.now();
        let mut hits = Vec::new();
        for ir in self.insts.values() {
            if ir.plan.interface == ifname {
                let ev = if up {
                    Event::InterfaceUp
                } else {
                    Event::InterfaceDown
                };
                hits.push((ir.id, ev));
            }
            for (id, src) in &ir.plan.tracks {
                if matches!(src, TrackSource::Interface(n) if n == ifname) {
                    let state = if up { TrackState::Up } else { TrackState::Down };
                    hits.push((ir.id, Event::Track { id: *id, state }));
                }
            }
        }
        if up {
            for name in self.missing_vmacs(ifname) {
                self.restore_vmac(&name).await;
            }
            let flapped: Vec<InstancePlan> = self
                .insts
                .values()
                .filter(|ir| {
                    ir.plan
                        .vmac
                        .as_ref()
                        .is_some_and(|v| ir.plan.interface == ifname || v.name == ifname)
                })
                .map(|ir| ir.plan.clone())
                .collect();
            for plan in &flapped {
                self.vmacs.relink(&self.nl, plan).await;
            }
            // A socket that failed to open (interface missing at start) gets
            // another chance.
            self.sync_sockets();
        }
        for (id, ev) in hits {
            self.router.handle(now, id, ev);
        }
        self.flush().await;
    }
}
