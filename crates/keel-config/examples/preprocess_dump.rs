//! Prints the statement tree keel reads from a keepalived.conf, one statement
//! per line with its `file:line:col`, after includes, macros and generators.
//!
//! `cargo run -p keel-config --example preprocess_dump -- FILE [CONFIG_ID]`

use keel_config::ast::Node;
use keel_config::{FsSource, PreprocessOptions, load_file};
use std::path::PathBuf;
use std::process::ExitCode;

fn print(nodes: &[Node], depth: usize) {
    for n in nodes {
        let args: Vec<&str> = n.args.iter().map(|w| w.text.as_str()).collect();
        let open = if n.block.is_some() { " {" } else { "" };
        println!(
            "{:<48} {}{} {}{open}",
            n.span().to_string(),
            "  ".repeat(depth),
            n.name(),
            args.join(" ")
        );
        if let Some(b) = &n.block {
            print(b, depth + 1);
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(file) = args.next() else {
        eprintln!("usage: preprocess_dump FILE [CONFIG_ID]");
        return ExitCode::from(2);
    };
    let opts = PreprocessOptions {
        config_id: args.next().unwrap_or_default(),
        env: std::env::vars().collect(),
        ..Default::default()
    };
    match load_file(&PathBuf::from(file), &FsSource, &opts) {
        Ok(p) => {
            print(&p.nodes, 0);
            for d in &p.diagnostics.items {
                eprintln!("{d}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
