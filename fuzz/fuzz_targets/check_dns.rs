//! DNS_CHECK's response decoder on any bytes a server (or anyone who can
//! spoof its UDP source) sends back: no panic, no runaway loop; a decoded
//! answer section never claims more records than the bytes could hold.
#![no_main]

use keel_check::probe::dns::decode_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(r) = decode_response(data) {
        // Each answer RR takes at least a 1-byte name and 10 fixed bytes.
        assert!(r.answer_types.len() * 11 <= data.len().saturating_sub(12));
        assert!(r.rcode <= 0x0f);
    }
});
