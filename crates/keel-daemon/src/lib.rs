//! Service modules of the keel daemon: everything around the VRRP engine that
//! talks to the host rather than the network.
//!
//! - [`script`]: run keepalived script lines (exec or shell), with user,
//!   timeout and a concurrency cap.
//! - [`creds`]: who a script runs as and whether it may run
//!   (`script_user`, `enable_script_security`).
//! - [`fsutil`]: files on paths others can reach (no symlink following,
//!   atomic writes, bounded reads, the background dump writer).
//! - [`notify`]: per-instance ordered notify queues and keepalived's notify
//!   arguments.
//! - [`fifo`]: `notify_fifo`/`vrrp_notify_fifo`/`lvs_notify_fifo` writers.
//! - [`mail`]: SMTP alerts in keepalived's wording.
//! - [`pidfile`]: pid files with keepalived's default paths.
//! - [`sdnotify`]: systemd readiness/status notifications.
//! - [`logging`]: tracing setup for keepalived's `-l -D -G -g -S` flags.
//! - [`mapping`]: keepalived.conf model → VRRP engine configurations.
//! - [`vrrp`]: the VRRP runtime (engine, sockets, netlink) on its own thread.
//! - [`trackers`]: `vrrp_script`, `track_file` and `vrrp_track_process` drivers.
//! - [`lvs`]: the load balancer (health checkers driving IPVS or nftables).
//! - [`dump_json`]: keepalived's JSON dump (`--signum=JSON`).
//! - [`daemon`]: the whole daemon; [`run`] is its entry point.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod crash;
pub mod creds;
pub mod daemon;
pub mod dump_json;
pub mod fifo;
pub mod fsutil;
pub mod logging;
pub mod lvs;
pub mod mail;
pub mod mapping;
pub mod notify;
pub mod pidfile;
pub mod script;
pub mod sdnotify;
pub mod trackers;
pub mod vrrp;

pub use daemon::{DaemonError, DaemonOptions, run};
