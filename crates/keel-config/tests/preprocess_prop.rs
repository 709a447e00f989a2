//! Robustness: no input makes the preprocessor panic, hang or run away.
//! Limits are lowered so that the bounded-output paths are reached quickly.

use keel_config::{Limits, MemSource, PreprocessOptions, load_file, load_str};
use proptest::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn opts() -> PreprocessOptions {
    PreprocessOptions {
        config_id: "main".into(),
        limits: Limits {
            max_lines: 20_000,
            max_total_bytes: 2 << 20,
            max_line_len: 64 << 10,
            max_expansions: 200_000,
            ..Limits::default()
        },
        ..Default::default()
    }
}

const PIECES: &[&str] = &[
    "{",
    "}",
    "\n",
    "\n",
    "\n",
    " ",
    " ",
    "\t",
    "\"",
    "'",
    "#",
    "!",
    "\\",
    "\\\n",
    "$",
    "$A",
    "${A}",
    "$B",
    "$M",
    "$A=",
    "$B=$A $A",
    "$A=x$B",
    "$M= \\\n",
    "@main ",
    "@^main ",
    "@other ",
    "~SEQ(i,1,3) ",
    "~SEQx(i,0x1,0x3) ",
    "~SEQ(i,5,1,1)",
    "~LST(i,a,b) ",
    "~LST({a,b},{1,2},{3}) ",
    "~SEQ(",
    ")",
    "(",
    ",",
    "include x.conf",
    "include *.conf",
    "include {a,b}.conf",
    "include ",
    "main.conf",
    "vrrp_instance",
    "VI_1",
    "state",
    "MASTER",
    "${_RANDOM 1 9}",
    "${_RANDOM}",
    "${_PWD}",
    "${_ENV X}",
    "${_HASH}",
    "${_BANG}",
    "$i",
    "${i}",
    "${",
    "é",
    "\u{feff}",
    "\r",
    "\0",
    "\\x41",
    "\\101",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|v| v.concat())
}

fn check(main: &str, other: &str) {
    let src = MemSource::new()
        .with("/p/main.conf", main)
        .with("/p/x.conf", other)
        .with("/p/a.conf", "$A=from_a\n")
        .with("/p/b.conf", other);
    let t = Instant::now();
    let by_str = load_str(main, Path::new("/p/main.conf"), &src, &opts());
    let by_file = load_file(Path::new("/p/main.conf"), &src, &opts());
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
    // Both entry points see the same text, so they agree on success.
    assert_eq!(by_str.is_ok(), by_file.is_ok());
    if let Err(e) = by_str {
        // Every error renders; those inside a file carry a position.
        assert!(!e.to_string().is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        check(&s, "");
    }

    #[test]
    fn keyword_soups_never_panic(main in soup(), other in soup()) {
        check(&main, &other);
    }
}

#[test]
fn pathological_inputs_terminate_with_errors() {
    let mut doubling = String::from("$A0=\n");
    for i in 1..=40 {
        doubling.push_str(&format!("$A{i}=${{A{p}}}${{A{p}}}\n", p = i - 1));
    }
    doubling.push_str("k ${A40}\n");
    let cases = [
        // Exponentially many replacements of empty text.
        doubling.as_str(),
        // Generators whose lines are all dropped still cost work.
        "~SEQ(a,1,1,3000) ~SEQ(b,1,1,3000) @other k\n",
        // Mutual multi-line recursion.
        "$A= \\\n $B\n$B= \\\n $A\n$A\n",
        // Exponential generators.
        "~SEQ(a,1,1,1000) ~SEQ(b,1,1,1000) ~SEQ(c,1,1,1000) k\n",
        // A generator repeating a multi-line macro that itself generates.
        "$M= \\\n~SEQ(x,1,1,1000) k $x\n~SEQ(y,1,1,1000) $M\n",
        // Self-including main file.
        "include main.conf\n",
        // Deep braces.
        &"{".repeat(100_000),
    ];
    for c in cases {
        let src = MemSource::new().with("/p/main.conf", c);
        let r = load_str(c, Path::new("/p/main.conf"), &src, &opts());
        assert!(r.is_err(), "{c:?} was accepted");
    }
}
