//! keepalived.conf front end for keel.
//!
//! Pure library: the only I/O is reading configuration files, and that goes
//! through one function so tests can feed text directly.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod ast;
pub mod diag;
pub mod lexer;
pub mod preprocess;
pub mod source;
pub use preprocess::{ConfigError, Limits, Parsed, PreprocessOptions, load_file, load_str};
pub use source::{FileSource, FsSource, MemSource, SourceError};

pub mod build;
pub mod keywords;
pub mod model;
pub mod print;
pub use build::{build, from_str, load_config};
pub use model::Config;
pub use print::to_keepalived_conf;
