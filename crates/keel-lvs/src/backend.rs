//! What a data plane must provide, and the check that a table only asks for
//! what the data plane can do.

use crate::diff::{Change, apply_changes, diff};
use crate::table::{Family, Method, Scheduler, ServiceKey, Table};
use std::fmt;

/// Forwarding method without its tunnel parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MethodKind {
    Nat,
    Dr,
    Tun,
}

impl MethodKind {
    pub fn of(method: Method) -> MethodKind {
        match method {
            Method::Nat => MethodKind::Nat,
            Method::Dr => MethodKind::Dr,
            Method::Tun { .. } => MethodKind::Tun,
        }
    }

    pub fn keyword(self) -> &'static str {
        match self {
            MethodKind::Nat => "NAT",
            MethodKind::Dr => "DR",
            MethodKind::Tun => "TUN",
        }
    }
}

/// What a data plane supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Name used in messages (`nftables`, `IPVS`).
    pub data_plane: String,
    /// Scheduler names ([`Scheduler::name`]) it implements.
    pub schedulers: Vec<&'static str>,
    pub methods: Vec<MethodKind>,
    /// Methods usable with firewall-mark services.
    pub fwmark_methods: Vec<MethodKind>,
    /// Whether one service may mix forwarding methods across destinations.
    pub mixed_methods: bool,
    /// Whether destinations may be of another address family than their
    /// service.
    pub mixed_families: bool,
    /// Whether `uthreshold` / `lthreshold` are enforced.
    pub thresholds: bool,
}

impl Capabilities {
    /// Everything IPVS (the kernel's load balancer) supports.
    pub fn ipvs() -> Capabilities {
        Capabilities {
            data_plane: "IPVS".to_string(),
            schedulers: Scheduler::NAMES.to_vec(),
            methods: vec![MethodKind::Nat, MethodKind::Dr, MethodKind::Tun],
            fwmark_methods: vec![MethodKind::Nat, MethodKind::Dr, MethodKind::Tun],
            mixed_methods: true,
            mixed_families: true,
            thresholds: true,
        }
    }
}

/// Something in a table the data plane cannot do. The message names the
/// alternatives that work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    #[error(
        "virtual server {service}: lvs_sched {scheduler} is not available on the {data_plane} data plane; use {alternatives}"
    )]
    Scheduler {
        service: ServiceKey,
        scheduler: &'static str,
        data_plane: String,
        alternatives: String,
    },
    #[error(
        "virtual server {service}: lvs_method {method} is not available on the {data_plane} data plane{context}; use {alternatives}"
    )]
    Method {
        service: ServiceKey,
        method: &'static str,
        /// Extra qualifier such as " for fwmark services" (may be empty).
        context: String,
        data_plane: String,
        alternatives: String,
    },
    #[error(
        "virtual server {service}: real servers with different lvs_method ({first} and {second}) are not possible on the {data_plane} data plane; give them all the same lvs_method"
    )]
    MixedMethods {
        service: ServiceKey,
        first: &'static str,
        second: &'static str,
        data_plane: String,
    },
    #[error(
        "virtual server {service}: real server {dest} is of another address family than the virtual server, which the {data_plane} data plane cannot forward; use a real server of the same family"
    )]
    MixedFamilies {
        service: ServiceKey,
        dest: std::net::IpAddr,
        data_plane: String,
    },
    #[error(
        "virtual server {service}: real server {dest}: uthreshold/lthreshold are not enforced by the {data_plane} data plane; remove them"
    )]
    Thresholds {
        service: ServiceKey,
        dest: std::net::IpAddr,
        data_plane: String,
    },
}

fn list_or(items: &[&str]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// Checks that every service of `table` only uses what `caps` offers. The
/// first problem is returned, services in table order.
pub fn validate(table: &Table, caps: &Capabilities) -> Result<(), Unsupported> {
    for svc in &table.services {
        let sched = svc.scheduler.name();
        if !caps.schedulers.contains(&sched) {
            return Err(Unsupported::Scheduler {
                service: svc.key,
                scheduler: sched,
                data_plane: caps.data_plane.clone(),
                alternatives: list_or(&caps.schedulers),
            });
        }
        let is_fwmark = matches!(svc.key, ServiceKey::Fwmark { .. });
        let mut first: Option<MethodKind> = None;
        for d in &svc.destinations {
            let kind = MethodKind::of(d.method);
            let (allowed, context) = if is_fwmark {
                (&caps.fwmark_methods, " for fwmark services")
            } else {
                (&caps.methods, "")
            };
            if !allowed.contains(&kind) {
                let alts: Vec<&str> = allowed.iter().map(|m| m.keyword()).collect();
                return Err(Unsupported::Method {
                    service: svc.key,
                    method: kind.keyword(),
                    context: context.to_string(),
                    data_plane: caps.data_plane.clone(),
                    alternatives: list_or(&alts),
                });
            }
            match first {
                Some(f) if f != kind && !caps.mixed_methods => {
                    return Err(Unsupported::MixedMethods {
                        service: svc.key,
                        first: f.keyword(),
                        second: kind.keyword(),
                        data_plane: caps.data_plane.clone(),
                    });
                }
                None => first = Some(kind),
                _ => {}
            }
            let dest_family = if d.addr.is_ipv4() {
                Family::Inet
            } else {
                Family::Inet6
            };
            if !caps.mixed_families && dest_family != svc.key.family() {
                return Err(Unsupported::MixedFamilies {
                    service: svc.key,
                    dest: d.addr,
                    data_plane: caps.data_plane.clone(),
                });
            }
            if !caps.thresholds && (d.upper_threshold != 0 || d.lower_threshold != 0) {
                return Err(Unsupported::Thresholds {
                    service: svc.key,
                    dest: d.addr,
                    data_plane: caps.data_plane.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Failure of a data plane operation.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Unsupported(#[from] Unsupported),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An external command (such as `nft`) reported failure.
    #[error("{command} failed: {message}")]
    Command { command: String, message: String },
    /// The data plane holds state that does not read back as a table.
    #[error("unexpected data plane state: {0}")]
    State(String),
    /// The table cannot be expressed for this data plane with its current
    /// options (for example no interface known for a DR virtual address).
    #[error("{0}")]
    Render(String),
}

/// A load-balancer data plane.
///
/// Backends that rebuild their whole state at once use `desired`; backends
/// that take IPVS-style commands use `changes` (the [`diff`] from what
/// [`Backend::read`] returned to `desired`).
pub trait Backend {
    fn capabilities(&self) -> Capabilities;

    /// Installs `desired`. Implementations validate first and leave the data
    /// plane untouched when that fails.
    fn apply(&mut self, desired: &Table, changes: &[Change]) -> Result<(), BackendError>;

    /// The table currently installed (normalised).
    fn read(&self) -> Result<Table, BackendError>;

    /// Removes everything this backend installed.
    fn clear(&mut self) -> Result<(), BackendError>;

    /// Brings the data plane to `desired` if it differs, returning the
    /// changes made (empty when it already matched).
    fn sync(&mut self, desired: &Table) -> Result<Vec<Change>, BackendError> {
        validate(desired, &self.capabilities())?;
        let current = self.read()?;
        let changes = diff(&current, desired);
        if !changes.is_empty() {
            self.apply(desired, &changes)?;
        }
        Ok(changes)
    }
}

/// A data plane kept in memory, for tests of code that drives a backend.
/// It applies the change list (not `desired`), so it also checks that
/// callers pass consistent changes.
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    pub table: Table,
    pub caps: Capabilities,
    /// Every non-empty change list applied, oldest first.
    pub history: Vec<Vec<Change>>,
}

impl MemoryBackend {
    pub fn new(caps: Capabilities) -> MemoryBackend {
        MemoryBackend {
            table: Table::new(),
            caps,
            history: Vec::new(),
        }
    }
}

impl Backend for MemoryBackend {
    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    fn apply(&mut self, desired: &Table, changes: &[Change]) -> Result<(), BackendError> {
        validate(desired, &self.caps)?;
        let next =
            apply_changes(&self.table, changes).map_err(|e| BackendError::State(e.to_string()))?;
        if next != desired.normalized() {
            return Err(BackendError::State(
                "the changes do not lead to the desired table".to_string(),
            ));
        }
        self.table = next;
        if !changes.is_empty() {
            self.history.push(changes.to_vec());
        }
        Ok(())
    }

    fn read(&self) -> Result<Table, BackendError> {
        Ok(self.table.clone())
    }

    fn clear(&mut self) -> Result<(), BackendError> {
        self.table = Table::new();
        Ok(())
    }
}

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Destination, Protocol, TunnelCsum, TunnelKind, VirtualService};
    use std::net::IpAddr;

    fn nft_like() -> Capabilities {
        Capabilities {
            data_plane: "nftables".to_string(),
            schedulers: vec!["rr", "wrr", "sh", "dh", "mh"],
            methods: vec![MethodKind::Nat, MethodKind::Dr],
            fwmark_methods: vec![MethodKind::Nat],
            mixed_methods: false,
            mixed_families: false,
            thresholds: false,
        }
    }

    fn svc(sched: &str, methods: &[Method]) -> Table {
        let mut s = VirtualService::new(
            ServiceKey::Addr {
                ip: IpAddr::from([192, 0, 2, 144]),
                proto: Protocol::Tcp,
                port: 80,
            },
            Scheduler::from_name(sched).unwrap(),
        );
        for (i, m) in methods.iter().enumerate() {
            s.destinations.push(Destination {
                addr: IpAddr::from([192, 0, 2, 11 + i as u8]),
                port: 80,
                weight: 1,
                method: *m,
                upper_threshold: 0,
                lower_threshold: 0,
            });
        }
        Table { services: vec![s] }
    }

    #[test]
    fn unsupported_scheduler_names_the_working_ones() {
        let err = validate(&svc("lc", &[Method::Nat]), &nft_like()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "virtual server TCP 192.0.2.144:80: lvs_sched lc is not available on the nftables data plane; use rr, wrr, sh, dh or mh"
        );
        assert!(validate(&svc("lc", &[Method::Nat]), &Capabilities::ipvs()).is_ok());
    }

    #[test]
    fn tunnel_and_mixed_methods_are_refused_when_not_supported() {
        let tun = Method::Tun {
            kind: TunnelKind::Ipip,
            csum: TunnelCsum::Nocsum,
        };
        let err = validate(&svc("rr", &[tun]), &nft_like()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "virtual server TCP 192.0.2.144:80: lvs_method TUN is not available on the nftables data plane; use NAT or DR"
        );
        let err = validate(&svc("rr", &[Method::Nat, Method::Dr]), &nft_like()).unwrap_err();
        assert!(matches!(err, Unsupported::MixedMethods { .. }), "{err}");
        assert!(validate(&svc("rr", &[Method::Dr, Method::Dr]), &nft_like()).is_ok());
    }

    #[test]
    fn other_family_destinations_and_thresholds_are_refused_when_not_supported() {
        let mut t = svc("rr", &[Method::Nat]);
        t.services[0].destinations[0].addr = "2001:db8::1".parse().unwrap();
        assert!(matches!(
            validate(&t, &nft_like()),
            Err(Unsupported::MixedFamilies { .. })
        ));
        let mut t = svc("rr", &[Method::Nat]);
        t.services[0].destinations[0].upper_threshold = 5;
        assert!(matches!(
            validate(&t, &nft_like()),
            Err(Unsupported::Thresholds { .. })
        ));
    }

    #[test]
    fn memory_backend_sync_applies_only_differences() {
        let mut b = MemoryBackend::new(nft_like());
        let t = svc("rr", &[Method::Dr, Method::Dr]);
        let changes = b.sync(&t).unwrap();
        assert_eq!(changes.len(), 3);
        assert_eq!(b.read().unwrap(), t.normalized());
        assert!(b.sync(&t).unwrap().is_empty());
        assert_eq!(b.history.len(), 1);
        assert!(b.sync(&svc("wlc", &[Method::Dr])).is_err());
        assert_eq!(b.read().unwrap(), t.normalized());
        b.clear().unwrap();
        assert_eq!(b.read().unwrap(), Table::new());
    }
}
