//! The syntax tree that the preprocessor hands to the model builder.
//!
//! keepalived's grammar is a list of statements; a statement is a keyword, zero or
//! more arguments on the same logical line, and optionally a `{ ... }` block of
//! further statements. Everything the preprocessor resolves (comments, includes,
//! macros, conditionals, `~SEQ`/`~LST`) is gone by the time a [`Node`] exists.

use std::path::PathBuf;
use std::sync::Arc;

/// Where a token came from, for diagnostics (`file:line:col`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Span {
    pub file: Arc<PathBuf>,
    /// 1-based line in `file`.
    pub line: u32,
    /// 1-based column (in characters) in `file`.
    pub col: u32,
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Line 0 marks a finding about the file as a whole (host checks).
        match (self.line, self.col) {
            (0, _) => write!(f, "{}", self.file.display()),
            (l, 0) => write!(f, "{}:{l}", self.file.display()),
            (l, c) => write!(f, "{}:{l}:{c}", self.file.display()),
        }
    }
}

/// One word of a statement, with quotes and escapes already removed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Word {
    pub text: String,
    /// True when the word was written in quotes (so `"{"` is not a block opener).
    pub quoted: bool,
    pub span: Span,
}

/// A statement: `keyword arg arg ... [{ children }]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Node {
    pub keyword: Word,
    pub args: Vec<Word>,
    /// `Some` when the statement had a `{ ... }` block (possibly empty).
    pub block: Option<Vec<Node>>,
}

impl Node {
    pub fn span(&self) -> &Span {
        &self.keyword.span
    }
    pub fn name(&self) -> &str {
        &self.keyword.text
    }
    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or(&[])
    }
}
