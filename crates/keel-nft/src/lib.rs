//! nftables data plane of keel.
//!
//! [`render`] turns a [`keel_lvs::Table`] into one `nft -f -` transaction
//! (pure, golden-tested); [`NftBackend`] runs it, reads the result back with
//! `nft -j list table` ([`parse_listing`]) and removes keel's tables on
//! stop. [`realserver`] prepares a host to be an LVS-DR real server.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod backend;
mod nft;
mod parse;
pub mod realserver;
mod render;

pub use backend::NftBackend;
pub use nft::Nft;
pub use parse::{existing_objects, merge, parse_listing};
pub use render::{
    Existing, Masquerade, Options, RenderError, capabilities, render, render_clear, render_update,
};
