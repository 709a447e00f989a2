//! Corpus of keepalived.conf files (tests/corpus/NAME.conf), one per keyword
//! group, each with its expected model (NAME.json, the model as
//! `keel config --json` shows it). Every file must load without an error,
//! match its JSON exactly, and read back to the same model from the
//! canonical printer.
//!
//! After a deliberate model change, regenerate the JSON with
//! `KEEL_BLESS=1 cargo test -p keel-config --test model_corpus` and review
//! the diff.

use keel_config::{Config, FsSource, PreprocessOptions, load_config};
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    v.sort();
    v
}

fn load(path: &Path) -> Config {
    let (cfg, diags) = load_config(path, &FsSource, &PreprocessOptions::default()).unwrap();
    let errors: Vec<String> = diags.errors().map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    cfg
}

#[test]
fn corpus_is_large_enough() {
    assert!(corpus().len() >= 40, "{}", corpus().len());
}

#[test]
fn corpus_matches_expected_models() {
    let bless = std::env::var_os("KEEL_BLESS").is_some();
    let mut failures = Vec::new();
    for conf in corpus() {
        let cfg = load(&conf);
        let got = serde_json::to_value(&cfg).unwrap();
        let json = conf.with_extension("json");
        if bless {
            let mut text = serde_json::to_string_pretty(&got).unwrap();
            text.push('\n');
            std::fs::write(&json, text).unwrap();
            continue;
        }
        let want: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        if got != want {
            failures.push(conf.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "models differ from their .json: {failures:#?}"
    );
}

#[test]
fn corpus_round_trips_through_the_printer() {
    for conf in corpus() {
        let cfg = load(&conf);
        let printed = keel_config::to_keepalived_conf(&cfg);
        let (again, diags) = keel_config::from_str(&printed, "printed.conf").unwrap();
        let errors: Vec<String> = diags.errors().map(|d| d.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{}: {errors:#?}\n{printed}",
            conf.display()
        );
        assert_eq!(again, cfg, "{}:\n{printed}", conf.display());
        // The canonical form is a fixed point.
        assert_eq!(keel_config::to_keepalived_conf(&again), printed);
    }
}

#[test]
fn corpus_loads_without_unexpected_warnings() {
    // Files that exercise deprecated or lossy input say so in their name or
    // comments; the others must load silently.
    let noisy = ["43-smtp-check", "46-persistence-protocol-defaults"];
    for conf in corpus() {
        let stem = conf.file_stem().unwrap().to_string_lossy().to_string();
        let (_, diags) = load_config(&conf, &FsSource, &PreprocessOptions::default()).unwrap();
        let w: Vec<String> = diags.warnings().map(|d| d.to_string()).collect();
        if noisy.contains(&stem.as_str()) {
            assert!(!w.is_empty(), "{stem}");
        } else {
            assert!(w.is_empty(), "{stem}: {w:#?}");
        }
    }
}
