//! Load-balancer data-plane interface of keel.
//!
//! Pure code, no I/O: the [`Table`] of virtual services a health checker
//! wants installed, the [`diff`] between two tables, the [`Backend`] trait
//! data planes implement, [`validate`] against a backend's
//! [`Capabilities`], the `ipvsadm -ln`-style listing and the consistent-hash
//! slot tables hashing data planes use.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod table;

pub use table::{
    DestKey, Destination, Family, Method, Persistence, Protocol, Scheduler, ServiceHeader,
    ServiceKey, Table, TunnelCsum, TunnelKind, VirtualService,
};
pub mod backend;
pub mod diff;
pub mod ipvsadm;
pub mod slots;

pub use backend::{
    Backend, BackendError, Capabilities, MemoryBackend, MethodKind, Unsupported, validate,
};
pub use diff::{ApplyError, Change, apply_changes, diff};
pub use ipvsadm::{format_ipvsadm, in_ipvsadm_order, ipvsadm_order};
pub use slots::{DEFAULT_SLOTS, slot_ranges, slot_table};
