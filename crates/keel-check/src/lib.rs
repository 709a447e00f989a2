//! keel's health checkers (keepalived's checker side).
//!
//! * [`core`]: the pure engine (no I/O, no clock): retries, schedules,
//!   alpha, real server and quorum state, sorry server, inhibit, dynamic
//!   weights; emits [`core::Action`]s and computes the desired
//!   [`keel_lvs::Table`].
//! * [`spec`]: what each probe does, resolved from the config.
//! * [`probe`]: the async probes (HTTP_GET, SSL_GET, TCP, SMTP, DNS, UDP,
//!   PING, MISC, FILE).
//! * [`run`]: drives the engine with the probes on tokio.
//! * [`genhash`]: keepalived's `genhash` (MD5 of a URL's body).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod core;
pub mod genhash;
pub mod probe;
pub mod run;
pub mod spec;

pub use core::{Action, CheckerId, CheckerSet, Host, ProbeResult, RsId, ScriptKind, Timestamp};
