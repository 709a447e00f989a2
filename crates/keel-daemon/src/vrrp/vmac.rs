//! VMAC interfaces for `use_vmac`: one macvlan per instance on top of the
//! instance's interface, carrying the virtual router MAC of RFC 5798 §7.3
//! (`00:00:5e:00:01:VRID`, IPv6 `00:00:5e:00:02:VRID`).
//!
//! The kernel has to be told which interface answers ARP for what: the
//! macvlan and its base see the same broadcast ARP requests, and by default
//! both would answer for the VIP, the base with its own MAC, which is exactly
//! the ARP-cache change a VMAC exists to avoid. So, as keepalived does:
//! - base: `arp_ignore=1` (answer only for addresses configured on the base),
//!   `arp_filter=1`, and `arp_announce=2`: replies from a VIP are routed out
//!   of the base, and an ARP request the base sends for the client would
//!   otherwise carry the VIP as sender with the base's MAC, which every
//!   receiver copies into its cache. keepalived leaves that to the admin; keel
//!   sets it. The values found are put back when keel removes the last VMAC
//!   on that base;
//! - VMAC: `arp_ignore=1`, `arp_filter=0`, `accept_local=1` (adverts carry
//!   the base's address as source), `rp_filter=0` (replies to clients leave
//!   through the base's route, not the VMAC). The kernel applies the larger
//!   of `all.rp_filter` and the interface's, so when `all` is set (RHEL sets
//!   it to 1) its value is moved onto every other interface and `all` is
//!   cleared, while keel has VMACs.
//!
//! Both nodes' VMACs carry the same MAC, so an IPv6 link-local address
//! generated from it would fail DAD on one of them: an IPv4 VMAC gets no
//! link-local at all; an IPv6 VMAC gets a copy of the base's, which is also
//! the advert source (RFC 5798 §5.1.2.1: the interface's link-local address).

use std::collections::HashMap;
use std::net::IpAddr;

use keel_linux::{
    AddressSpec, ConfFamily, IpFamily, LinuxError, MacvlanMode, Netlink, Scope, VmacSpec,
};

use crate::mapping::InstancePlan;

/// ARP settings of a base interface while it carries a VMAC.
const BASE_CONF: [(&str, &str); 3] = [
    ("arp_ignore", "1"),
    ("arp_filter", "1"),
    ("arp_announce", "2"),
];
/// IPv4 settings of every VMAC interface.
const VMAC_CONF: [(&str, &str); 4] = [
    ("arp_ignore", "1"),
    ("arp_filter", "0"),
    ("accept_local", "1"),
    ("rp_filter", "0"),
];
/// `net.ipv6.conf.IF.addr_gen_mode` value for "no automatic addresses".
const ADDR_GEN_NONE: &str = "1";

#[derive(Debug, Clone)]
struct Owned {
    base: String,
    family: IpFamily,
    /// Instance it belongs to, for the log lines.
    inst: String,
}

/// The VMAC interfaces this daemon created (or adopted after a crash).
#[derive(Debug, Default)]
pub(super) struct Vmacs {
    owned: HashMap<String, Owned>,
    /// Base interface → its sysctls as found before the first VMAC on it.
    saved: HashMap<String, Vec<(&'static str, String)>>,
    /// `all.rp_filter` as found, and the interfaces it was copied onto with
    /// their own former values; `None` while `all.rp_filter` is untouched.
    rp_filter: Option<(String, Vec<(String, String)>)>,
}

impl Vmacs {
    pub(super) fn owns(&self, name: &str) -> bool {
        self.owned.contains_key(name)
    }

    /// Creates (or adopts) the VMAC of `plan`, sets it up and configures the
    /// sysctls. Nothing to do for an instance without `use_vmac`.
    pub(super) async fn ensure(
        &mut self,
        nl: &Netlink,
        plan: &InstancePlan,
    ) -> Result<(), LinuxError> {
        let Some(v) = &plan.vmac else {
            return Ok(());
        };
        let family = if plan.v6 { IpFamily::V6 } else { IpFamily::V4 };
        let parent = keel_linux::ifindex(&plan.interface)?;
        let ifindex = nl
            .create_vmac(&VmacSpec {
                name: v.name.clone(),
                parent_ifindex: parent,
                vrid: plan.engine.vrid,
                family,
                mode: MacvlanMode::Private,
            })
            .await?;
        let inst = &plan.engine.name;
        if self.owned.is_empty() && self.rp_filter.is_none() {
            self.clear_all_rp_filter(nl, inst, &v.name).await;
        }
        self.owned.insert(
            v.name.clone(),
            Owned {
                base: plan.interface.clone(),
                family,
                inst: inst.clone(),
            },
        );
        if family == IpFamily::V4 && !self.saved.contains_key(&plan.interface) {
            let mut old = Vec::new();
            for (key, _) in BASE_CONF {
                match keel_linux::read_conf(ConfFamily::Ipv4, &plan.interface, key) {
                    Ok(val) => old.push((key, val)),
                    Err(e) => tracing::warn!("VRRP_Instance({inst}) {e}"),
                }
            }
            self.saved.insert(plan.interface.clone(), old);
            for (key, val) in BASE_CONF {
                set_conf(inst, ConfFamily::Ipv4, &plan.interface, key, val);
            }
        }
        for (key, val) in VMAC_CONF {
            set_conf(inst, ConfFamily::Ipv4, &v.name, key, val);
        }
        self.fix_link_local(nl, plan, ifindex).await;
        tracing::info!(
            "VRRP_Instance({inst}) Success creating VMAC interface {}",
            v.name
        );
        Ok(())
    }

    /// After a link flap: the kernel drops IPv6 addresses on link down, so an
    /// IPv6 VMAC needs its link-local address (its advert source) back.
    pub(super) async fn relink(&self, nl: &Netlink, plan: &InstancePlan) {
        let Some(v) = &plan.vmac else { return };
        if !plan.v6 || !self.owns(&v.name) {
            return;
        }
        if let Ok(idx) = keel_linux::ifindex(&v.name) {
            self.fix_link_local(nl, plan, idx).await;
        }
    }

    /// Stops automatic IPv6 addresses on the VMAC, removes the one the kernel
    /// made when the link came up, and for an IPv6 instance mirrors the
    /// base's link-local addresses.
    async fn fix_link_local(&self, nl: &Netlink, plan: &InstancePlan, ifindex: u32) {
        let Some(v) = &plan.vmac else { return };
        let inst = &plan.engine.name;
        // An IPv6-disabled host has no net.ipv6.conf.IF: nothing to fix.
        let Ok(mode) = keel_linux::read_conf(ConfFamily::Ipv6, &v.name, "addr_gen_mode") else {
            return;
        };
        if mode != ADDR_GEN_NONE {
            // Down at once: a backup's VMAC that sends anything (DAD, MLD)
            // teaches the switches that the virtual MAC lives on the backup's
            // port. Down also drops the address generated at link up.
            if let Err(e) = nl.set_link_up(ifindex, false).await {
                tracing::warn!("VRRP_Instance({inst}) {}: {e}", v.name);
            }
            set_conf(
                inst,
                ConfFamily::Ipv6,
                &v.name,
                "addr_gen_mode",
                ADDR_GEN_NONE,
            );
            if let Err(e) = nl.set_link_up(ifindex, true).await {
                tracing::warn!("VRRP_Instance({inst}) {}: {e}", v.name);
            }
        }
        let wanted: Vec<IpAddr> = if plan.v6 {
            match keel_linux::ifindex(&plan.interface) {
                Ok(base) => nl
                    .addresses(base)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| is_link_local(&a.addr))
                    .map(|a| a.addr)
                    .collect(),
                Err(_) => Vec::new(),
            }
        } else {
            Vec::new()
        };
        let present = nl.addresses(ifindex).await.unwrap_or_default();
        for a in present.iter().filter(|a| is_link_local(&a.addr)) {
            if wanted.contains(&a.addr) {
                continue;
            }
            let spec = AddressSpec::new(ifindex, a.addr, a.prefix_len);
            if let Err(e) = nl.del_address(&spec).await {
                tracing::warn!("VRRP_Instance({inst}) {}: {e}", v.name);
            }
        }
        for addr in wanted {
            let spec = AddressSpec::new(ifindex, addr, 64)
                .scope(Scope::Link)
                .nodad();
            if let Err(e) = nl.add_address(&spec).await {
                tracing::warn!("VRRP_Instance({inst}) {}: {e}", v.name);
            }
        }
    }

    /// Deletes the VMAC `name` (its addresses go with it) and, once no VMAC
    /// is left on its base, puts the base's sysctls back.
    pub(super) async fn remove(&mut self, nl: &Netlink, name: &str) {
        let Some(owned) = self.owned.remove(name) else {
            return;
        };
        let inst = owned.inst.as_str();
        match keel_linux::ifindex(name) {
            Ok(idx) => match nl.delete_link(idx).await {
                Ok(()) => {
                    tracing::info!("VRRP_Instance({inst}) Success removing VMAC interface {name}")
                }
                Err(e) => tracing::warn!("VRRP_Instance({inst}) cannot remove {name}: {e}"),
            },
            Err(_) => tracing::debug!("VMAC {name} already gone"),
        }
        let base_in_use = self
            .owned
            .values()
            .any(|o| o.base == owned.base && o.family == IpFamily::V4);
        if owned.family == IpFamily::V4
            && !base_in_use
            && let Some(old) = self.saved.remove(&owned.base)
        {
            for (key, val) in old {
                set_conf(inst, ConfFamily::Ipv4, &owned.base, key, &val);
            }
        }
        if self.owned.is_empty()
            && let Some((all, changed)) = self.rp_filter.take()
        {
            set_conf(inst, ConfFamily::Ipv4, "all", "rp_filter", &all);
            for (ifname, old) in changed {
                // Gone with the interface, or the admin's own value since.
                let now = keel_linux::read_conf(ConfFamily::Ipv4, &ifname, "rp_filter");
                if now.is_ok_and(|v| v == all) {
                    set_conf(inst, ConfFamily::Ipv4, &ifname, "rp_filter", &old);
                }
            }
        }
    }

    /// Moves a non-zero `all.rp_filter` onto every interface but `vmac`
    /// (the new VMAC), so that the VMACs' own 0 takes effect.
    async fn clear_all_rp_filter(&mut self, nl: &Netlink, inst: &str, vmac: &str) {
        let all = match keel_linux::read_conf(ConfFamily::Ipv4, "all", "rp_filter") {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("VRRP_Instance({inst}) {e}");
                return;
            }
        };
        let all_n: u8 = all.parse().unwrap_or(0);
        if all_n == 0 {
            return;
        }
        let links = match nl.links().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("VRRP_Instance({inst}) net.ipv4.conf.all.rp_filter is {all}: {e}");
                return;
            }
        };
        let mut changed = Vec::new();
        for l in links.iter().filter(|l| l.name != vmac) {
            let Ok(old) = keel_linux::read_conf(ConfFamily::Ipv4, &l.name, "rp_filter") else {
                continue;
            };
            if old.parse::<u8>().unwrap_or(0) < all_n {
                set_conf(inst, ConfFamily::Ipv4, &l.name, "rp_filter", &all);
                changed.push((l.name.clone(), old));
            }
        }
        set_conf(inst, ConfFamily::Ipv4, "all", "rp_filter", "0");
        tracing::info!(
            "VRRP_Instance({inst}) net.ipv4.conf.all.rp_filter was {all}: set on each interface instead, so that VMACs can turn it off"
        );
        self.rp_filter = Some((all, changed));
    }

    /// Names of the VMACs this daemon owns.
    pub(super) fn names(&self) -> Vec<String> {
        self.owned.keys().cloned().collect()
    }
}

fn is_link_local(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80)
}

fn set_conf(inst: &str, fam: ConfFamily, ifname: &str, key: &str, val: &str) {
    if let Err(e) = keel_linux::write_conf(fam, ifname, key, val) {
        tracing::warn!("VRRP_Instance({inst}) {e}");
    }
}
