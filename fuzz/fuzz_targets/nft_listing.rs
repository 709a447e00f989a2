//! `nft -j list table ...` read-back: whatever JSON the installed nft prints
//! (its format moves between versions) goes through keel-nft's
//! `parse_listing` and `existing_objects`; a listing keel cannot read must
//! be an error, never a panic.
#![no_main]

use keel_nft::{existing_objects, merge, parse_listing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let _ = existing_objects(json);
    if let Ok(t) = parse_listing(json) {
        let _ = merge([t]);
    }
});
