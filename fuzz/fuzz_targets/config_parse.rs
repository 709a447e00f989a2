//! Any bytes, read as (lossy) UTF-8 text, must preprocess and parse without
//! panicking, hanging or running out of memory.
#![no_main]

use keel_config::{Limits, MemSource, PreprocessOptions, load_str};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The input also plays an included file, so include/glob/loop paths run.
    let src = MemSource::new()
        .with("/f/keepalived.conf", text.as_ref())
        .with("/f/conf.d/a.conf", text.as_ref())
        .with(
            "/f/conf.d/b.conf",
            "$A=1\nvrrp_instance V { state MASTER }\n",
        );
    let opts = PreprocessOptions {
        config_id: "main".into(),
        // Small limits keep each run fast while still exercising the bounds.
        limits: Limits {
            max_lines: 50_000,
            max_total_bytes: 4 << 20,
            max_line_len: 64 << 10,
            ..Limits::default()
        },
        ..Default::default()
    };
    if let Err(e) = load_str(&text, Path::new("/f/keepalived.conf"), &src, &opts) {
        let _ = e.to_string();
    }
});
