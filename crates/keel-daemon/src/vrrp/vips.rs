//! What a MASTER installs and announces: addresses, routes and rules over
//! rtnetlink, gratuitous ARPs / unsolicited NAs, and the VMAC interfaces
//! the adverts of `use_vmac` instances go out on.

use std::net::{IpAddr, Ipv6Addr};

use keel_linux::PacketSocket;
use keel_vrrp::config::VipSet;
use keel_vrrp::instance::State;
use keel_vrrp::packet;

use super::Runtime;
use super::netops::NetOp;
use crate::mapping::{self, InstancePlan};

impl Runtime {
    pub(super) async fn create_vmac(&mut self, plan: &InstancePlan) {
        let Some(v) = &plan.vmac else { return };
        // A GARP socket of an earlier interface of that name is stale.
        self.garp_socks.remove(&v.name);
        if let Err(e) = self.vmacs.ensure(&self.nl, plan).await {
            tracing::error!(
                "VRRP_Instance({}) cannot create VMAC interface {}: {e}",
                plan.engine.name,
                v.name
            );
        }
    }

    /// A VMAC of ours was deleted behind our back, or could not be created
    /// while its base interface was missing: create it again, reopen the
    /// advert socket on it and, for a MASTER, put the VIPs back.
    pub(super) async fn restore_vmac(&mut self, name: &str) {
        let users: Vec<(InstancePlan, State)> = self
            .insts
            .values()
            .filter(|ir| ir.plan.vmac.as_ref().is_some_and(|v| v.name == name))
            .map(|ir| (ir.plan.clone(), ir.state))
            .collect();
        for (plan, state) in users {
            tracing::info!(
                "VRRP_Instance({}) VMAC interface {name} is missing - re-creating",
                plan.engine.name
            );
            self.create_vmac(&plan).await;
            self.sockets.close_interface(name);
            self.sync_sockets();
            if state == State::Master {
                let mut addrs = Vec::new();
                for a in plan.addresses.iter().filter(|a| a.dev == name) {
                    self.add_address(a);
                    addrs.push(a.addr);
                }
                let repeat = plan.engine.garp.master_repeat;
                self.send_garps(&plan.engine.name, &addrs, repeat).await;
            }
        }
    }

    /// VMACs on `base` that do not exist (yet), for instances on `base`.
    pub(super) fn missing_vmacs(&self, base: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .insts
            .values()
            .filter(|ir| ir.plan.interface == base)
            .filter_map(|ir| ir.plan.vmac.as_ref())
            .filter(|v| keel_linux::ifindex(&v.name).is_err())
            .map(|v| v.name.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Another agent deleted one of our VIPs while we are MASTER: put it back.
    pub(super) async fn addr_removed(&mut self, ifindex: u32, addr: IpAddr) {
        // The crash hand-over removed it: the process is dying.
        if keel_linux::emergency::fired() {
            return;
        }
        let mut readd = Vec::new();
        for ir in self.insts.values() {
            if ir.state != State::Master {
                continue;
            }
            if let Some(a) = ir.plan.address(addr)
                && keel_linux::ifindex(&a.dev).ok() == Some(ifindex)
            {
                readd.push((ir.plan.engine.name.clone(), a.clone()));
            }
        }
        for (name, a) in readd {
            tracing::info!(
                "VRRP_Instance({name}) VIP {addr} was removed from {} by another agent - re-adding",
                a.dev
            );
            self.add_address(&a);
        }
    }

    /// Queues an instance's VIPs, routes and rules for the netlink
    /// executor: a stuck kernel lock must not stop the adverts.
    pub(super) fn apply_vips(&mut self, name: &str, set: &VipSet, add: bool) {
        let Some(ir) = self.insts.get(name) else {
            return;
        };
        let addrs: Vec<_> = set
            .vips
            .iter()
            .chain(set.evips.iter())
            .filter_map(|a| ir.plan.address(*a).cloned())
            .collect();
        let routes: Vec<_> = set
            .routes
            .iter()
            .filter_map(|id| ir.plan.routes.get(*id as usize).cloned())
            .collect();
        let rules: Vec<_> = set
            .rules
            .iter()
            .filter_map(|id| ir.plan.rules.get(*id as usize).cloned())
            .collect();
        self.netops.submit(NetOp::Apply {
            name: name.to_string(),
            add,
            addrs,
            routes,
            rules,
        });
    }

    pub(super) fn add_address(&self, a: &mapping::AddressPlan) {
        self.netops.submit(NetOp::AddAddress(a.clone()));
    }

    pub(super) async fn send_garps(&mut self, name: &str, addrs: &[IpAddr], count: u32) {
        let Some(ir) = self.insts.get(name) else {
            return;
        };
        let targets: Vec<(String, IpAddr)> = addrs
            .iter()
            .map(|a| {
                let dev = ir
                    .plan
                    .address(*a)
                    .map(|p| p.dev.clone())
                    .unwrap_or_else(|| ir.plan.interface.clone());
                (dev, *a)
            })
            .collect();
        for (dev, addr) in targets {
            if !self.garp_socks.contains_key(&dev) {
                match PacketSocket::open(&dev) {
                    Ok(s) => {
                        self.garp_socks.insert(dev.clone(), s);
                    }
                    Err(e) => {
                        tracing::warn!("cannot send gratuitous ARPs on {dev}: {e}");
                        continue;
                    }
                }
            }
            let frame: Vec<u8> = match addr {
                IpAddr::V4(v4) => {
                    let Some(s) = self.garp_socks.get(&dev) else {
                        continue;
                    };
                    packet::encode_garp(s.mac(), v4).to_vec()
                }
                IpAddr::V6(v6) => {
                    let src = self.link_local(&dev).await.unwrap_or(v6);
                    let Some(s) = self.garp_socks.get(&dev) else {
                        continue;
                    };
                    packet::encode_unsolicited_na_frame(s.mac(), v6, src, true).to_vec()
                }
            };
            let Some(s) = self.garp_socks.get(&dev) else {
                continue;
            };
            for _ in 0..count {
                if let Err(e) = s.send(&frame).await {
                    tracing::warn!("gratuitous ARP for {addr} on {dev}: {e}");
                    // The interface may have been re-created: reopen next time.
                    self.garp_socks.remove(&dev);
                    break;
                }
            }
        }
    }

    pub(super) async fn link_local(&self, dev: &str) -> Option<Ipv6Addr> {
        let idx = keel_linux::ifindex(dev).ok()?;
        let addrs = self.nl.addresses(idx).await.ok()?;
        addrs.iter().find_map(|a| match a.addr {
            IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80 => Some(v),
            _ => None,
        })
    }
}
