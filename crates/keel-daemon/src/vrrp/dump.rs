//! The SIGUSR1 (data) and SIGUSR2 (statistics) dumps.

use std::fmt::Write as _;

use keel_vrrp::packet::DropReason;

use super::Runtime;
use crate::mapping;

impl Runtime {
    pub(super) fn dump_data(&self) -> String {
        let mut out = String::from("------< VRRP Topology >------\n");
        let mut names: Vec<&String> = self.insts.keys().collect();
        names.sort();
        for n in names {
            let Some(ir) = self.insts.get(n) else {
                continue;
            };
            let inst = self.router.instance(ir.id);
            let _ = writeln!(out, " VRRP Instance = {n}");
            let _ = writeln!(out, "   State = {}", ir.state);
            if let Some(i) = inst {
                if let Some(m) = i.master_ip() {
                    let _ = writeln!(out, "   Last master = {m}");
                }
                let _ = writeln!(out, "   Effective priority = {}", i.effective_priority());
                let _ = writeln!(out, "   Base priority = {}", i.base_priority());
            }
            let _ = writeln!(out, "   Interface = {}", ir.plan.interface);
            if let Some(v) = &ir.plan.vmac {
                let _ = writeln!(
                    out,
                    "   Use VMAC = {}{}",
                    v.name,
                    if v.xmit_base { ", xmit base" } else { "" }
                );
            }
            let _ = writeln!(out, "   Virtual Router ID = {}", ir.plan.engine.vrid);
            let _ = writeln!(
                out,
                "   Version = {}",
                match ir.plan.engine.version {
                    keel_vrrp::config::Version::V2 => 2,
                    keel_vrrp::config::Version::V3 => 3,
                }
            );
            let _ = writeln!(out, "   Using src_ip = {}", ir.plan.engine.primary_ip);
            let _ = writeln!(
                out,
                "   Advert interval = {}ms",
                ir.plan.engine.advert_interval.as_millis()
            );
            if let Some(g) = &ir.plan.sync_group {
                let _ = writeln!(out, "   Sync group = {g}");
            }
            let _ = writeln!(out, "   Virtual IP = {}", ir.plan.addresses.len());
            for a in &ir.plan.addresses {
                let _ = writeln!(out, "     {}/{} dev {}", a.addr, a.prefix_len, a.dev);
            }
        }
        out
    }

    pub(super) fn dump_stats(&self) -> String {
        let mut out = String::new();
        let mut names: Vec<&String> = self.insts.keys().collect();
        names.sort();
        for n in names {
            let Some(ir) = self.insts.get(n) else {
                continue;
            };
            let Some(s) = self.router.stats(ir.id) else {
                continue;
            };
            let _ = writeln!(out, "VRRP Instance: {n}");
            let _ = writeln!(out, "  Advertisements:");
            let _ = writeln!(out, "    Received: {}", s.adverts_received);
            let _ = writeln!(out, "    Sent: {}", s.adverts_sent);
            let _ = writeln!(out, "  Became master: {}", s.became_master);
            let _ = writeln!(out, "  Released master: {}", s.released_master);
            let _ = writeln!(out, "  Priority Zero:");
            let _ = writeln!(out, "    Received: {}", s.priority_zero_received);
            let _ = writeln!(out, "    Sent: {}", s.priority_zero_sent);
            let _ = writeln!(out, "  Send errors: {}", s.send_errors);
            let _ = writeln!(out, "  Packet drops:");
            for r in DropReason::ALL {
                let _ = writeln!(
                    out,
                    "    {}: {}",
                    r.counter_name(),
                    s.drops.get(r.counter_name()).copied().unwrap_or(0)
                );
            }
            for c in mapping::UnicastSrcDrop::COUNTERS {
                let _ = writeln!(out, "    {c}: {}", s.drops.get(c).copied().unwrap_or(0));
            }
        }
        let orphans = self.router.orphan_drops();
        if !orphans.is_empty() {
            let _ = writeln!(out, "Unclaimed packets:");
            for (k, n) in orphans {
                let _ = writeln!(out, "  {k}: {n}");
            }
        }
        out
    }
}
