//! Diagnostics shared by the preprocessor and the model builder.
//!
//! keepalived logs most configuration problems and carries on; keel does the
//! same (warnings), but every message names file, line, column and keyword so
//! users can fix it, and `--strict` turns warnings into errors.

use crate::ast::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The config still loads; keepalived would log and continue.
    Warning,
    /// The config is wrong; keepalived would refuse it or drop the block.
    Error,
    /// A valid keepalived keyword keel does not act on
    /// ([`crate::keywords::NOT_IMPLEMENTED`]): loads like a warning, fails
    /// `--strict`.
    #[serde(rename = "not_implemented")]
    NotImplemented,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub span: Span,
    /// The keyword the message is about (empty when none applies).
    pub keyword: String,
    pub message: String,
    /// "did you mean ..." for a misspelt keyword or value.
    pub suggestion: Option<String>,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
            // One line users can grep, worded the same everywhere.
            Severity::NotImplemented => return f.write_str(&self.message),
        };
        write!(f, "{}: {sev}: ", self.span)?;
        if !self.keyword.is_empty() {
            write!(f, "'{}': ", self.keyword)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean '{s}'?)")?;
        }
        Ok(())
    }
}

/// Collects diagnostics while a config is read.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    pub fn warn(&mut self, span: &Span, keyword: &str, message: impl Into<String>) {
        self.items.push(Diagnostic {
            severity: Severity::Warning,
            span: span.clone(),
            keyword: keyword.to_string(),
            message: message.into(),
            suggestion: None,
        });
    }
    pub fn error(&mut self, span: &Span, keyword: &str, message: impl Into<String>) {
        self.items.push(Diagnostic {
            severity: Severity::Error,
            span: span.clone(),
            keyword: keyword.to_string(),
            message: message.into(),
            suggestion: None,
        });
    }
    /// `keel does not implement KEYWORD (file:line); ignored`.
    pub fn not_implemented(&mut self, span: &Span, keyword: &str) {
        self.items.push(Diagnostic {
            severity: Severity::NotImplemented,
            span: span.clone(),
            keyword: keyword.to_string(),
            message: format!(
                "keel does not implement {keyword} ({}:{}); ignored",
                span.file.display(),
                span.line
            ),
            suggestion: None,
        });
    }
    /// The keywords keel parsed but does not act on.
    pub fn not_implemented_items(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::NotImplemented)
    }
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }
}
