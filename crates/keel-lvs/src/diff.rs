//! Changes between two tables, in the vocabulary of IPVS's own commands
//! (add/edit/delete service, add/edit/delete destination).

use crate::table::{DestKey, Destination, ServiceHeader, ServiceKey, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One step from the current table towards the desired one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A new service, initially without destinations (the `AddDest`s that
    /// follow fill it).
    AddService(ServiceHeader),
    /// New scheduler or persistence for an existing service.
    EditService(ServiceHeader),
    /// Removes the service with all its destinations.
    DelService(ServiceKey),
    AddDest(ServiceKey, Destination),
    /// New weight, method or thresholds for an existing destination.
    EditDest(ServiceKey, Destination),
    DelDest(ServiceKey, DestKey),
}

/// A change that does not fit the table it is applied to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("virtual service {0} already exists")]
    ServiceExists(ServiceKey),
    #[error("virtual service {0} does not exist")]
    NoService(ServiceKey),
    #[error("destination {dest} of virtual service {service} already exists")]
    DestExists { service: ServiceKey, dest: DestKey },
    #[error("destination {dest} of virtual service {service} does not exist")]
    NoDest { service: ServiceKey, dest: DestKey },
}

/// The changes that turn `current` into `desired`, deterministic: services
/// in key order, each service's header change before its destinations'
/// changes, destinations in key order. Duplicate keys count once (the last
/// one wins, as in [`Table::normalized`]). Empty when the tables describe
/// the same state.
pub fn diff(current: &Table, desired: &Table) -> Vec<Change> {
    let cur = index(current);
    let want = index(desired);
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<ServiceKey> =
        cur.keys().chain(want.keys()).copied().collect();
    for key in keys {
        match (cur.get(&key), want.get(&key)) {
            (Some(_), None) => out.push(Change::DelService(key)),
            (None, Some((header, dests))) => {
                out.push(Change::AddService(*header));
                out.extend(dests.values().map(|d| Change::AddDest(key, d.clone())));
            }
            (Some((cur_header, cur_dests)), Some((header, dests))) => {
                if cur_header != header {
                    out.push(Change::EditService(*header));
                }
                let dkeys: std::collections::BTreeSet<DestKey> =
                    cur_dests.keys().chain(dests.keys()).copied().collect();
                for dk in dkeys {
                    match (cur_dests.get(&dk), dests.get(&dk)) {
                        (Some(_), None) => out.push(Change::DelDest(key, dk)),
                        (None, Some(d)) => out.push(Change::AddDest(key, d.clone())),
                        (Some(c), Some(d)) if c != d => out.push(Change::EditDest(key, d.clone())),
                        _ => {}
                    }
                }
            }
            (None, None) => {}
        }
    }
    out
}

type Indexed = BTreeMap<ServiceKey, (ServiceHeader, BTreeMap<DestKey, Destination>)>;

fn index(t: &Table) -> Indexed {
    let mut m: Indexed = BTreeMap::new();
    for svc in &t.services {
        let dests = svc
            .destinations
            .iter()
            .map(|d| (d.key(), d.clone()))
            .collect();
        m.insert(svc.key, (svc.normalized_header(), dests));
    }
    m
}

/// Applies `changes` to `table`, as a backend that takes IPVS-style commands
/// would. The result is normalised.
pub fn apply_changes(table: &Table, changes: &[Change]) -> Result<Table, ApplyError> {
    let mut m = index(table);
    for change in changes {
        match change {
            Change::AddService(h) => {
                if m.contains_key(&h.key) {
                    return Err(ApplyError::ServiceExists(h.key));
                }
                m.insert(h.key, (h.normalized(), BTreeMap::new()));
            }
            Change::EditService(h) => match m.get_mut(&h.key) {
                Some(entry) => entry.0 = h.normalized(),
                None => return Err(ApplyError::NoService(h.key)),
            },
            Change::DelService(k) => {
                if m.remove(k).is_none() {
                    return Err(ApplyError::NoService(*k));
                }
            }
            Change::AddDest(k, d) => {
                let dests = &mut m.get_mut(k).ok_or(ApplyError::NoService(*k))?.1;
                if dests.contains_key(&d.key()) {
                    return Err(ApplyError::DestExists {
                        service: *k,
                        dest: d.key(),
                    });
                }
                dests.insert(d.key(), d.clone());
            }
            Change::EditDest(k, d) => {
                let dests = &mut m.get_mut(k).ok_or(ApplyError::NoService(*k))?.1;
                match dests.get_mut(&d.key()) {
                    Some(slot) => *slot = d.clone(),
                    None => {
                        return Err(ApplyError::NoDest {
                            service: *k,
                            dest: d.key(),
                        });
                    }
                }
            }
            Change::DelDest(k, dk) => {
                let dests = &mut m.get_mut(k).ok_or(ApplyError::NoService(*k))?.1;
                if dests.remove(dk).is_none() {
                    return Err(ApplyError::NoDest {
                        service: *k,
                        dest: *dk,
                    });
                }
            }
        }
    }
    Ok(Table {
        services: m
            .into_values()
            .map(|(h, dests)| {
                let mut svc = h.into_service();
                svc.destinations = dests.into_values().collect();
                svc
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Method, Persistence, Protocol, Scheduler, VirtualService};
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn key(o: u8) -> ServiceKey {
        ServiceKey::Addr {
            ip: IpAddr::from([192, 0, 2, o]),
            proto: Protocol::Tcp,
            port: 80,
        }
    }

    fn dest(o: u8, weight: u32) -> Destination {
        Destination {
            addr: IpAddr::from([198, 51, 100, o]),
            port: 80,
            weight,
            method: Method::Dr,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    fn table() -> Table {
        let mut a = VirtualService::new(key(144), Scheduler::Rr);
        a.destinations = vec![dest(11, 1), dest(12, 1)];
        Table { services: vec![a] }
    }

    #[test]
    fn identical_tables_need_no_changes() {
        assert!(diff(&table(), &table()).is_empty());
        // Order of services and destinations is not a difference.
        let mut t = table();
        t.services[0].destinations.reverse();
        assert!(diff(&table(), &t).is_empty());
    }

    #[test]
    fn weight_change_is_one_edit_and_removal_one_delete() {
        let mut want = table();
        want.services[0].destinations[0].weight = 0;
        want.services[0].destinations.pop();
        assert_eq!(
            diff(&table(), &want),
            vec![
                Change::EditDest(key(144), dest(11, 0)),
                Change::DelDest(
                    key(144),
                    DestKey {
                        addr: IpAddr::from([198, 51, 100, 12]),
                        port: 80
                    }
                ),
            ]
        );
    }

    #[test]
    fn new_service_comes_with_its_destinations_and_old_one_goes() {
        let mut want = Table::new();
        let mut b = VirtualService::new(key(145), Scheduler::Wrr);
        b.persistence = Some(Persistence {
            timeout: 360,
            netmask: None,
        });
        b.destinations = vec![dest(13, 2)];
        want.services.push(b.clone());
        assert_eq!(
            diff(&table(), &want),
            vec![
                Change::DelService(key(144)),
                Change::AddService(b.header()),
                Change::AddDest(key(145), dest(13, 2)),
            ]
        );
    }

    #[test]
    fn scheduler_change_is_a_service_edit() {
        let mut want = table();
        want.services[0].scheduler = Scheduler::Wrr;
        assert_eq!(
            diff(&table(), &want),
            vec![Change::EditService(want.services[0].header())]
        );
    }

    /// The kernel reports a /32 persistence mask as no mask at all; a
    /// desired table that spells it out must still be in sync.
    #[test]
    fn full_length_persistence_mask_is_no_difference() {
        let mut installed = table();
        installed.services[0].persistence = Some(Persistence {
            timeout: 360,
            netmask: None,
        });
        let mut want = table();
        want.services[0].persistence = Some(Persistence {
            timeout: 360,
            netmask: Some(32),
        });
        assert_eq!(diff(&installed, &want), vec![]);
        // Added as a new service, the header carries the canonical form.
        assert_eq!(
            diff(&Table::new(), &want)[0],
            Change::AddService(installed.services[0].header())
        );
        want.services[0].persistence = Some(Persistence {
            timeout: 360,
            netmask: Some(24),
        });
        assert_eq!(
            diff(&installed, &want),
            vec![Change::EditService(want.services[0].header())]
        );
    }

    #[test]
    fn apply_rejects_changes_that_do_not_fit() {
        assert_eq!(
            apply_changes(&Table::new(), &[Change::DelService(key(1))]),
            Err(ApplyError::NoService(key(1)))
        );
        assert!(matches!(
            apply_changes(&table(), &[Change::AddDest(key(144), dest(11, 3))]),
            Err(ApplyError::DestExists { .. })
        ));
    }

    fn arb_table() -> impl Strategy<Value = Table> {
        let sched = prop::sample::select(vec![
            Scheduler::Rr,
            Scheduler::Wrr,
            Scheduler::Wlc,
            Scheduler::Sh {
                fallback: true,
                port: false,
            },
        ]);
        let dest = (1u8..6, 0u32..4, any::<bool>()).prop_map(|(o, w, dr)| Destination {
            addr: IpAddr::from([198, 51, 100, o]),
            port: 80,
            weight: w,
            method: if dr { Method::Dr } else { Method::Nat },
            upper_threshold: 0,
            lower_threshold: 0,
        });
        let svc = (
            1u8..5,
            sched,
            prop::option::of(300u32..302),
            prop::sample::select(vec![None, Some(24u8), Some(32)]),
            prop::collection::vec(dest, 0..5),
        )
            .prop_map(
                |(o, scheduler, timeout, netmask, destinations)| VirtualService {
                    key: key(o),
                    scheduler,
                    persistence: timeout.map(|timeout| Persistence { timeout, netmask }),
                    destinations,
                },
            );
        prop::collection::vec(svc, 0..5).prop_map(|services| Table { services })
    }

    proptest! {
        #[test]
        fn applying_the_diff_reaches_the_desired_table(a in arb_table(), b in arb_table()) {
            let changes = diff(&a, &b);
            prop_assert_eq!(apply_changes(&a, &changes).unwrap(), b.normalized());
            prop_assert!(diff(&b, &b).is_empty());
            prop_assert_eq!(changes.is_empty(), a.normalized() == b.normalized());
        }
    }
}
