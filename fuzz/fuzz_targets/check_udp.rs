//! UDP_CHECK: the `require_reply` pattern keepalived.conf gives (hex with
//! `X` wildcard nibbles) and the match of a server's reply against it.
//!
//! Input: `pattern-text 0x00 reply-bytes`. Beyond "no panic": a parsed
//! pattern matches its own bytes, and matching only looks at the shorter of
//! reply and pattern (keepalived's rule).
#![no_main]

use keel_check::spec::{ReplyPattern, parse_hex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, reply) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let _ = parse_hex(&text);
    let Ok(p) = ReplyPattern::parse(&text) else {
        return;
    };
    assert_eq!(p.data.len(), p.wildcard.len());
    assert!(p.matches(&p.data), "a pattern must match its own bytes");
    let m = p.matches(reply);
    let n = reply.len().min(p.data.len());
    assert_eq!(m, p.matches(&reply[..n]));
    if n == 0 {
        assert!(m, "an empty comparison matches");
    }
});
