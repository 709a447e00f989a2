//! keel-lvs's [`Backend`] for IPVS, and the mapping between keel's
//! [`Table`] and the kernel's records.

use crate::client::Ipvs;
use crate::error::IpvsError;
use crate::msg::{
    Dest, Forward, Info, Service, ServiceFlags, TUN_FLAG_CSUM, TUN_FLAG_REMCSUM, TunnelType,
    full_netmask, netmask_from_prefix,
};
use keel_lvs::{
    Backend, BackendError, Capabilities, Change, DestKey, Destination, Method, MethodKind,
    Persistence, Scheduler, ServiceHeader, ServiceKey, Table, TunnelCsum, TunnelKind, Unsupported,
    validate,
};
use std::io;

const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EEXIST: i32 = 17;

/// The IPVS data plane.
///
/// keel owns the whole IPVS table of the network namespace it runs in:
/// [`Backend::read`] returns every service the kernel has, so a sync removes
/// services keel did not install, and [`Backend::clear`] flushes the table.
#[derive(Debug)]
pub struct IpvsBackend {
    ipvs: Ipvs,
    schedulers: Vec<&'static str>,
}

impl IpvsBackend {
    /// Connects to the kernel's IPVS. [`IpvsError::NotAvailable`] when the
    /// kernel has none; the daemon then uses the nftables data plane.
    pub fn open() -> Result<IpvsBackend, IpvsError> {
        let ipvs = Ipvs::open()?;
        Ok(IpvsBackend {
            ipvs,
            schedulers: available_schedulers(),
        })
    }

    /// The underlying netlink client, for what the table model leaves out
    /// (connection counters, statistics, persistence engines).
    pub fn client(&self) -> &Ipvs {
        &self.ipvs
    }

    /// IPVS version and connection-table size.
    pub fn info(&self) -> Result<Info, IpvsError> {
        self.ipvs.info()
    }

    /// The kernel's table in keel's model, normalised.
    pub fn read_table(&self) -> Result<Table, IpvsError> {
        let mut table = Table::new();
        let mut seen = std::collections::HashSet::new();
        for svc in self.ipvs.services()? {
            // The kernel's dump walks a table shared by all namespaces by
            // position; changes elsewhere during the dump can repeat a
            // service. Keep the first copy.
            if !seen.insert(svc.key) {
                continue;
            }
            let header = header_from_kernel(&svc)?;
            let mut vs = header.into_service();
            for d in self.ipvs.dests(&svc.key)? {
                vs.destinations.push(destination_from_kernel(&svc.key, &d)?);
            }
            table.services.push(vs);
        }
        Ok(table.normalized())
    }

    /// Sends `changes` to the kernel in order. Every change is translated
    /// before the first is sent, so a change IPVS cannot express leaves the
    /// kernel untouched. Changes that find the kernel already in the wanted
    /// state (an add of something present, a delete of something absent,
    /// an edit of something absent) are carried out as the matching
    /// add/edit or skipped, so a table altered behind keel's back still
    /// converges.
    pub fn apply_changes(&self, changes: &[Change]) -> Result<(), ApplyFailure> {
        let mut ops = Vec::with_capacity(changes.len());
        for c in changes {
            ops.push(Op::from_change(c).map_err(|error| ApplyFailure {
                change: c.clone(),
                error,
            })?);
        }
        for (op, change) in ops.iter().zip(changes) {
            self.run(op).map_err(|error| ApplyFailure {
                change: change.clone(),
                error,
            })?;
        }
        Ok(())
    }

    fn run(&self, op: &Op) -> Result<(), IpvsError> {
        let ipvs = &self.ipvs;
        match op {
            Op::AddService(s) => match ipvs.add_service(s) {
                Err(e) if e.errno() == Some(EEXIST) => ipvs.edit_service(s),
                r => r,
            },
            Op::EditService(s) => match ipvs.edit_service(s) {
                Err(e) if e.errno() == Some(ESRCH) => ipvs.add_service(s),
                r => r,
            },
            Op::DelService(k) => match ipvs.del_service(k) {
                Err(e) if e.errno() == Some(ESRCH) => Ok(()),
                r => r,
            },
            Op::AddDest(k, d) => match ipvs.add_dest(k, d) {
                Err(e) if e.errno() == Some(EEXIST) => ipvs.edit_dest(k, d),
                r => r,
            },
            Op::EditDest(k, d) => match ipvs.edit_dest(k, d) {
                Err(e) if e.errno() == Some(ENOENT) => ipvs.add_dest(k, d),
                r => r,
            },
            Op::DelDest(k, dk) => match ipvs.del_dest(k, dk.addr, dk.port) {
                Err(e) if e.errno() == Some(ENOENT) => Ok(()),
                r => r,
            },
        }
    }

    /// What IPVS refuses beyond [`validate`]: a destination of another
    /// address family than its service works only through a tunnel.
    fn check(&self, desired: &Table) -> Result<(), Unsupported> {
        validate(desired, &self.capabilities())?;
        for svc in &desired.services {
            for d in &svc.destinations {
                let same = d.addr.is_ipv4() == (svc.key.family() == keel_lvs::Family::Inet);
                if !same && MethodKind::of(d.method) != MethodKind::Tun {
                    return Err(Unsupported::MixedFamilies {
                        service: svc.key,
                        dest: d.addr,
                        data_plane: "IPVS (except with lvs_method TUN)".to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A change that failed, and why.
#[derive(Debug, thiserror::Error)]
#[error("IPVS: {}: {error}", describe(change))]
pub struct ApplyFailure {
    pub change: Change,
    #[source]
    pub error: IpvsError,
}

fn describe(c: &Change) -> String {
    match c {
        Change::AddService(h) => format!("add virtual server {}", h.key),
        Change::EditService(h) => format!("edit virtual server {}", h.key),
        Change::DelService(k) => format!("delete virtual server {k}"),
        Change::AddDest(k, d) => format!("add real server {} to {k}", d.key()),
        Change::EditDest(k, d) => format!("edit real server {} of {k}", d.key()),
        Change::DelDest(k, dk) => format!("delete real server {dk} from {k}"),
    }
}

impl Backend for IpvsBackend {
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::ipvs();
        caps.schedulers = self.schedulers.clone();
        caps
    }

    fn apply(&mut self, desired: &Table, changes: &[Change]) -> Result<(), BackendError> {
        self.check(desired)?;
        self.apply_changes(changes)
            .map_err(|f| backend_error(&f, &self.schedulers))
    }

    fn read(&self) -> Result<Table, BackendError> {
        self.read_table()
            .map_err(|e| plain_backend_error("read the IPVS table", e))
    }

    fn clear(&mut self) -> Result<(), BackendError> {
        self.ipvs
            .flush()
            .map_err(|e| plain_backend_error("flush the IPVS table", e))
    }
}

fn backend_error(f: &ApplyFailure, schedulers: &[&'static str]) -> BackendError {
    if let (IpvsError::SchedulerUnavailable(name), Change::AddService(h) | Change::EditService(h)) =
        (&f.error, &f.change)
    {
        let scheduler = Scheduler::NAMES
            .iter()
            .find(|n| *n == name)
            .copied()
            .unwrap_or("?");
        let others: Vec<&str> = schedulers.iter().copied().filter(|s| s != name).collect();
        return BackendError::Unsupported(Unsupported::Scheduler {
            service: h.key,
            scheduler,
            data_plane: "IPVS".to_string(),
            alternatives: others.join(", "),
        });
    }
    let context = format!("IPVS: {}", describe(&f.change));
    match &f.error {
        IpvsError::Kernel { errno, message, .. } => BackendError::Io {
            context: match message {
                Some(m) => format!("{context} ({m})"),
                None => context,
            },
            source: io::Error::from_raw_os_error(*errno),
        },
        other => plain_backend_error_ref(&context, other),
    }
}

fn plain_backend_error(context: &str, e: IpvsError) -> BackendError {
    match e {
        IpvsError::Socket(source) => BackendError::Io {
            context: context.to_string(),
            source,
        },
        other => plain_backend_error_ref(context, &other),
    }
}

fn plain_backend_error_ref(context: &str, e: &IpvsError) -> BackendError {
    match e {
        IpvsError::Kernel { errno, .. } => BackendError::Io {
            context: format!("{context}: {e}"),
            source: io::Error::from_raw_os_error(*errno),
        },
        IpvsError::Socket(s) => BackendError::Io {
            context: context.to_string(),
            source: io::Error::new(s.kind(), s.to_string()),
        },
        IpvsError::NotAvailable => BackendError::Io {
            context: context.to_string(),
            source: io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        },
        IpvsError::Invalid { .. } => BackendError::Render(format!("{context}: {e}")),
        IpvsError::SchedulerUnavailable(_)
        | IpvsError::Decode { .. }
        | IpvsError::Unrepresentable { .. } => BackendError::State(format!("{context}: {e}")),
    }
}

/// One kernel operation, translated ahead of sending.
enum Op {
    AddService(Service),
    EditService(Service),
    DelService(ServiceKey),
    AddDest(ServiceKey, Dest),
    EditDest(ServiceKey, Dest),
    DelDest(ServiceKey, DestKey),
}

impl Op {
    fn from_change(c: &Change) -> Result<Op, IpvsError> {
        Ok(match c {
            Change::AddService(h) => Op::AddService(service_to_kernel(h)?),
            Change::EditService(h) => Op::EditService(service_to_kernel(h)?),
            Change::DelService(k) => Op::DelService(*k),
            Change::AddDest(k, d) => Op::AddDest(*k, dest_to_kernel(d)?),
            Change::EditDest(k, d) => Op::EditDest(*k, dest_to_kernel(d)?),
            Change::DelDest(k, dk) => Op::DelDest(*k, *dk),
        })
    }
}

/// A service header as the kernel's record.
pub fn service_to_kernel(h: &ServiceHeader) -> Result<Service, IpvsError> {
    let family = h.key.family();
    let mut svc = Service::new(h.key, h.scheduler.name());
    let (fallback, port) = match h.scheduler {
        Scheduler::Sh { fallback, port } | Scheduler::Mh { fallback, port } => (fallback, port),
        _ => (false, false),
    };
    svc.flags.set(ServiceFlags::SCHED1, fallback);
    svc.flags.set(ServiceFlags::SCHED2, port);
    if let Some(p) = h.persistence {
        svc.flags.set(ServiceFlags::PERSISTENT, true);
        svc.timeout = p.timeout;
        svc.netmask = match p.netmask {
            Some(len) => netmask_from_prefix(family, len)?,
            None => full_netmask(family),
        };
    }
    Ok(svc)
}

/// A kernel service record as keel's service header. Only what keel's
/// model holds is read: the one-packet flag and a persistence engine are
/// left out.
pub fn header_from_kernel(svc: &Service) -> Result<ServiceHeader, IpvsError> {
    let unrepresentable = |why: String| IpvsError::Unrepresentable {
        entry: format!("virtual server {}", svc.key),
        why,
    };
    let scheduler = Scheduler::from_name(&svc.sched_name)
        .ok_or_else(|| unrepresentable(format!("unknown scheduler {:?}", svc.sched_name)))?
        .with_flags(
            svc.flags.contains(ServiceFlags::SCHED1),
            svc.flags.contains(ServiceFlags::SCHED2),
        );
    let persistence = if svc.flags.contains(ServiceFlags::PERSISTENT) {
        let prefix = svc
            .netmask_prefix()
            .ok_or_else(|| unrepresentable(format!("persistence netmask {:#x}", svc.netmask)))?;
        let full = match svc.key.family() {
            keel_lvs::Family::Inet => 32,
            keel_lvs::Family::Inet6 => 128,
        };
        Some(Persistence {
            timeout: svc.timeout,
            netmask: (prefix != full).then_some(prefix),
        })
    } else {
        None
    };
    Ok(ServiceHeader {
        key: svc.key,
        scheduler,
        persistence,
    })
}

/// A keel destination as the kernel's record.
pub fn dest_to_kernel(d: &Destination) -> Result<Dest, IpvsError> {
    if i32::try_from(d.weight).is_err() {
        return Err(IpvsError::Invalid {
            what: format!("weight of real server {}", d.key()),
            why: format!("{} exceeds IPVS's limit {}", d.weight, i32::MAX),
        });
    }
    let mut k = Dest::new(d.addr, d.port);
    k.weight = d.weight;
    k.u_threshold = d.upper_threshold;
    k.l_threshold = d.lower_threshold;
    match d.method {
        Method::Nat => k.fwd = Forward::Masq,
        Method::Dr => k.fwd = Forward::Route,
        Method::Tun { kind, csum } => {
            k.fwd = Forward::Tunnel;
            (k.tun_type, k.tun_port) = match kind {
                TunnelKind::Ipip => (TunnelType::Ipip, 0),
                TunnelKind::Gue { port } => (TunnelType::Gue, port),
                TunnelKind::Gre => (TunnelType::Gre, 0),
            };
            k.tun_flags = match csum {
                TunnelCsum::Nocsum => 0,
                TunnelCsum::Csum => TUN_FLAG_CSUM,
                TunnelCsum::Remcsum => TUN_FLAG_REMCSUM,
            };
        }
    }
    Ok(k)
}

/// A kernel destination record as keel's destination.
pub fn destination_from_kernel(svc: &ServiceKey, d: &Dest) -> Result<Destination, IpvsError> {
    let unrepresentable = |why: String| IpvsError::Unrepresentable {
        entry: format!(
            "real server {} of {svc}",
            DestKey {
                addr: d.addr,
                port: d.port
            }
        ),
        why,
    };
    let method = match d.fwd {
        Forward::Masq => Method::Nat,
        Forward::Route => Method::Dr,
        Forward::Tunnel => {
            let kind = match d.tun_type {
                TunnelType::Ipip => TunnelKind::Ipip,
                TunnelType::Gue => TunnelKind::Gue { port: d.tun_port },
                TunnelType::Gre => TunnelKind::Gre,
            };
            let csum = match d.tun_flags {
                0 => TunnelCsum::Nocsum,
                TUN_FLAG_CSUM => TunnelCsum::Csum,
                TUN_FLAG_REMCSUM => TunnelCsum::Remcsum,
                other => return Err(unrepresentable(format!("tunnel flags {other:#x}"))),
            };
            Method::Tun { kind, csum }
        }
        other => return Err(unrepresentable(format!("forwarding method {other:?}"))),
    };
    Ok(Destination {
        addr: d.addr,
        port: d.port,
        weight: d.weight,
        method,
        upper_threshold: d.u_threshold,
        lower_threshold: d.l_threshold,
    })
}

/// Scheduler names whose `ip_vs_<name>` module the running kernel has,
/// built in or loadable, judged from `/lib/modules/<release>/modules.dep`,
/// `modules.builtin` and `/proc/modules`. When none of those can be read
/// (a container without the module tree), every name keel knows is
/// assumed; the kernel then has the last word when the service is added.
pub fn available_schedulers() -> Vec<&'static str> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = format!("/lib/modules/{}", release.trim());
    let mut text = String::new();
    let mut any = false;
    for f in ["modules.dep", "modules.builtin"] {
        if let Ok(t) = std::fs::read_to_string(format!("{dir}/{f}")) {
            text.push_str(&t);
            any = true;
        }
    }
    let loaded = std::fs::read_to_string("/proc/modules").unwrap_or_default();
    if !any || release.trim().is_empty() {
        return Scheduler::NAMES.to_vec();
    }
    Scheduler::NAMES
        .iter()
        .copied()
        .filter(|name| {
            let file = format!("/ip_vs_{name}.ko");
            let module = format!("ip_vs_{name} ");
            text.contains(&file) || loaded.lines().any(|l| l.starts_with(&module))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_lvs::{Family, Protocol};
    use std::net::IpAddr;

    fn key4() -> ServiceKey {
        ServiceKey::Addr {
            ip: IpAddr::from([192, 0, 2, 1]),
            proto: Protocol::Tcp,
            port: 80,
        }
    }

    /// The daemon moves its backend into async tasks and shares it.
    #[test]
    fn backend_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<IpvsBackend>();
        assert_send_sync::<Ipvs>();
        assert_send_sync::<IpvsError>();
    }

    #[test]
    fn every_scheduler_round_trips_with_its_flags() {
        for name in Scheduler::NAMES {
            for (f1, f2) in [(false, false), (true, false), (false, true), (true, true)] {
                let sched = Scheduler::from_name(name).unwrap().with_flags(f1, f2);
                let h = ServiceHeader {
                    key: key4(),
                    scheduler: sched,
                    persistence: None,
                };
                let k = service_to_kernel(&h).unwrap();
                assert_eq!(k.sched_name, name);
                let hashing = matches!(sched, Scheduler::Sh { .. } | Scheduler::Mh { .. });
                assert_eq!(k.flags.contains(ServiceFlags::SCHED1), f1 && hashing);
                assert_eq!(k.flags.contains(ServiceFlags::SCHED2), f2 && hashing);
                assert_eq!(header_from_kernel(&k).unwrap(), h);
            }
        }
    }

    #[test]
    fn persistence_netmask_maps_to_kernel_terms_and_back() {
        let mut h = ServiceHeader {
            key: key4(),
            scheduler: Scheduler::Wlc,
            persistence: Some(Persistence {
                timeout: 360,
                netmask: Some(24),
            }),
        };
        let k = service_to_kernel(&h).unwrap();
        assert!(k.flags.contains(ServiceFlags::PERSISTENT));
        assert_eq!((k.timeout, k.netmask), (360, 0xffff_ff00));
        assert_eq!(header_from_kernel(&k).unwrap(), h);

        h.key = ServiceKey::Fwmark {
            mark: 3,
            family: Family::Inet6,
        };
        h.persistence = Some(Persistence {
            timeout: 50,
            netmask: Some(64),
        });
        let k = service_to_kernel(&h).unwrap();
        assert_eq!(k.netmask, 64);
        assert_eq!(header_from_kernel(&k).unwrap(), h);

        // No granularity: the whole address, which reads back as None.
        h.persistence = Some(Persistence {
            timeout: 50,
            netmask: None,
        });
        let k = service_to_kernel(&h).unwrap();
        assert_eq!(k.netmask, 128);
        assert_eq!(header_from_kernel(&k).unwrap(), h);

        // Not persistent: no flag, full mask (the kernel wants 1..=128 for v6).
        h.persistence = None;
        let k = service_to_kernel(&h).unwrap();
        assert!(!k.flags.contains(ServiceFlags::PERSISTENT));
        assert_eq!((k.timeout, k.netmask), (0, 128));

        // A v6 /0 or a v4 /33 has no kernel encoding.
        h.persistence = Some(Persistence {
            timeout: 1,
            netmask: Some(0),
        });
        assert!(matches!(
            service_to_kernel(&h),
            Err(IpvsError::Invalid { .. })
        ));
    }

    #[test]
    fn non_contiguous_kernel_mask_is_reported_not_guessed() {
        let mut k = Service::new(key4(), "rr");
        k.flags.set(ServiceFlags::PERSISTENT, true);
        k.timeout = 300;
        k.netmask = 0xff00_ff00;
        assert!(matches!(
            header_from_kernel(&k),
            Err(IpvsError::Unrepresentable { .. })
        ));
        k.sched_name = "random".into();
        k.netmask = u32::MAX;
        assert!(matches!(
            header_from_kernel(&k),
            Err(IpvsError::Unrepresentable { .. })
        ));
    }

    #[test]
    fn methods_and_tunnels_map_both_ways() {
        let methods = [
            (Method::Nat, Forward::Masq, TunnelType::Ipip, 0, 0),
            (Method::Dr, Forward::Route, TunnelType::Ipip, 0, 0),
            (
                Method::Tun {
                    kind: TunnelKind::Ipip,
                    csum: TunnelCsum::Nocsum,
                },
                Forward::Tunnel,
                TunnelType::Ipip,
                0,
                0,
            ),
            (
                Method::Tun {
                    kind: TunnelKind::Gue { port: 6080 },
                    csum: TunnelCsum::Remcsum,
                },
                Forward::Tunnel,
                TunnelType::Gue,
                6080,
                TUN_FLAG_REMCSUM,
            ),
            (
                Method::Tun {
                    kind: TunnelKind::Gre,
                    csum: TunnelCsum::Csum,
                },
                Forward::Tunnel,
                TunnelType::Gre,
                0,
                TUN_FLAG_CSUM,
            ),
        ];
        for (method, fwd, tt, tp, tf) in methods {
            let d = Destination {
                addr: IpAddr::from([198, 51, 100, 7]),
                port: 8080,
                weight: 5,
                method,
                upper_threshold: 100,
                lower_threshold: 10,
            };
            let k = dest_to_kernel(&d).unwrap();
            assert_eq!(
                (k.fwd, k.tun_type, k.tun_port, k.tun_flags),
                (fwd, tt, tp, tf)
            );
            assert_eq!((k.weight, k.u_threshold, k.l_threshold), (5, 100, 10));
            assert_eq!(destination_from_kernel(&key4(), &k).unwrap(), d);
        }
    }

    #[test]
    fn local_and_bypass_destinations_are_unrepresentable() {
        for fwd in [Forward::Local, Forward::Bypass] {
            let mut k = Dest::new(IpAddr::from([198, 51, 100, 7]), 80);
            k.fwd = fwd;
            assert!(matches!(
                destination_from_kernel(&key4(), &k),
                Err(IpvsError::Unrepresentable { .. })
            ));
        }
    }

    #[test]
    fn weight_above_kernel_int_is_refused_before_sending() {
        let d = Destination {
            addr: IpAddr::from([198, 51, 100, 7]),
            port: 80,
            weight: u32::MAX,
            method: Method::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        };
        assert!(matches!(dest_to_kernel(&d), Err(IpvsError::Invalid { .. })));
        assert!(Op::from_change(&Change::AddDest(key4(), d)).is_err());
    }
}
