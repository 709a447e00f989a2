//! The load-balancer table the health state asks for, in keel-lvs's terms.

use super::*;
use keel_lvs::{Destination, Table, VirtualService};

impl VsState {
    /// One data-plane service per key (a group expands to several), each
    /// with `dests` sorted by address and port.
    fn services(&self, mut dests: Vec<Destination>, out: &mut Vec<VirtualService>) {
        dests.sort_by_key(|a| (a.addr, a.port));
        for key in &self.keys {
            out.push(VirtualService {
                key: *key,
                scheduler: self.scheduler,
                // One spelling of "the whole address" keeps the table read
                // back from the kernel equal to the one installed.
                persistence: self.persistence.map(|p| p.normalized(key.family())),
                destinations: dests.clone(),
            });
        }
    }
}

fn destination(addr: IpAddr, port: u16, weight: u32, method: Method) -> Destination {
    Destination {
        addr,
        port,
        weight,
        method,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

impl RsState {
    fn destination(&self, weight: u32) -> Destination {
        Destination {
            upper_threshold: self.uthreshold,
            lower_threshold: self.lthreshold,
            ..destination(self.addr, self.port, weight, self.method)
        }
    }
}

impl CheckerSet {
    /// The LVS table the data plane should hold now: one entry per service
    /// key (a virtual_server_group expands to several), destinations sorted.
    pub fn desired_table(&self) -> Table {
        if self.stopped || !self.started {
            return Table::new();
        }
        let mut services = Vec::new();
        for vs in &self.vss {
            let mut dests = Vec::new();
            let sorry_active = vs.sorry_active();
            for rs in &vs.rss {
                let weight = if rs.alive && !sorry_active {
                    Some(real_weight(rs.effective_weight()))
                } else if rs.inhibit {
                    Some(0)
                } else {
                    None
                };
                dests.extend(weight.map(|w| rs.destination(w)));
            }
            if let Some(s) = &vs.sorry {
                let weight = if s.alive {
                    Some(1)
                } else if s.inhibit {
                    Some(0)
                } else {
                    None
                };
                // A sorry server that is also a real server keeps the real
                // server's entry.
                if let Some(weight) = weight
                    && !dests.iter().any(|d| d.addr == s.addr && d.port == s.port)
                {
                    dests.push(destination(s.addr, s.port, weight, s.method));
                }
            }
            vs.services(dests, &mut services);
        }
        Table { services }
    }

    /// Everything the configuration could ever ask the data plane for,
    /// whatever the health: every real server with its configured weight
    /// and the sorry server with weight 0. A data plane that can carry this
    /// table can carry every table [`CheckerSet::desired_table`] gives.
    pub fn full_table(&self) -> Table {
        let mut services = Vec::new();
        for vs in &self.vss {
            let mut dests: Vec<Destination> = vs
                .rss
                .iter()
                .map(|rs| rs.destination(real_weight(rs.iweight)))
                .collect();
            if let Some(s) = &vs.sorry
                && !dests.iter().any(|d| d.addr == s.addr && d.port == s.port)
            {
                dests.push(destination(s.addr, s.port, 0, s.method));
            }
            vs.services(dests, &mut services);
        }
        Table { services }
    }
}

/// Free-function form of [`CheckerSet::desired_table`].
pub fn desired_table(set: &CheckerSet) -> Table {
    set.desired_table()
}
