//! SMTP_CHECK's reply reader (RFC 5321 §4.2: `NNN text`, multi-line
//! `NNN-text` continuations) on whatever a server sends: the greeting, then
//! the HELO answer, read from the same buffered stream as the probe does.
//! No panic, a bounded read per line, and a code is always three digits.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use keel_check::probe::read_reply;
use libfuzzer_sys::fuzz_target;
use tokio::io::BufReader;
use tokio::runtime::{Builder, Runtime};

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        let mut rd = BufReader::new(data);
        for _ in 0..2 {
            match read_reply(&mut rd, Duration::from_secs(1)).await {
                Ok(code) => assert!(code <= 999, "reply code {code}"),
                Err(_) => break,
            }
        }
    });
});
