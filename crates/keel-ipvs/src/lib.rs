//! IPVS data plane of keel: the kernel's IP Virtual Server, programmed over
//! generic netlink.
//!
//! * [`IpvsBackend`] implements keel-lvs's [`keel_lvs::Backend`]:
//!   `IpvsBackend::open()` fails with [`IpvsError::NotAvailable`] on a kernel
//!   without IPVS, which is the daemon's cue to use nftables instead.
//! * [`Ipvs`] is the netlink client underneath, with every IPVS command keel
//!   needs (services, destinations, flush, info, zero) on the kernel's own
//!   records ([`Service`], [`Dest`]), counters included.
//!
//! The generic-netlink and IPVS messages are encoded by hand from the
//! kernel's UAPI headers (`linux/netlink.h`, `linux/genetlink.h`,
//! `linux/ip_vs.h`); only the socket comes from `netlink-sys`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod backend;
mod client;
mod error;
pub mod msg;
// Public for the fuzz targets (netlink read-back framing); not an API.
#[doc(hidden)]
pub mod nl;

pub use backend::{
    ApplyFailure, IpvsBackend, available_schedulers, dest_to_kernel, destination_from_kernel,
    header_from_kernel, service_to_kernel,
};
pub use client::Ipvs;
pub use error::{DecodeError, IpvsError};
pub use msg::{Dest, Forward, Info, Service, ServiceFlags, Stats, TunnelType};
