//! Sans-IO VRRP engine (RFC 3768, RFC 5798, RFC 9568, with keepalived's extensions).
//!
//! Events and the current time go in; actions come out. No sockets, no async
//! runtime, no clock reads: the daemon and the simulator drive the same code.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod garp;
pub mod group;
pub mod instance;
pub mod packet;
pub mod router;
pub mod time;
pub mod track;
