//! Where configuration text comes from.
//!
//! The preprocessor never touches the filesystem itself: it asks a
//! [`FileSource`] to read a file or expand a glob. [`FsSource`] is the crate's
//! only real I/O; [`MemSource`] serves files from memory so tests, fuzzers and
//! benches stay deterministic.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Why a [`FileSource`] could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("{}: no such file", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("invalid glob pattern '{pattern}': {message}")]
    BadPattern { pattern: String, message: String },
}

/// Read access to configuration files.
pub trait FileSource {
    /// The whole text of `path`. Bytes that are not UTF-8 are replaced
    /// (keepalived reads bytes; a stray Latin-1 comment must not abort a load).
    fn read_to_string(&self, path: &Path) -> Result<String, SourceError>;

    /// Files matching the shell glob `pattern` (`*`, `?`, `[...]`; braces are
    /// expanded by the caller), sorted. No match is an empty list, not an error.
    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, SourceError>;

    /// A name that is equal for two paths that reach the same file, used to
    /// detect include loops. Lexical normalisation by default.
    fn identity(&self, path: &Path) -> PathBuf {
        normalize(path)
    }
}

/// Removes `.` components and folds `dir/..` without touching the filesystem.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

fn glob_options() -> glob::MatchOptions {
    // Shell semantics: `*` stays inside one directory and does not pick up
    // hidden files, as glob(3) does for keepalived.
    glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    }
}

/// The real filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsSource;

impl FileSource for FsSource {
    fn read_to_string(&self, path: &Path) -> Result<String, SourceError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SourceError::NotFound {
                path: path.to_path_buf(),
            }),
            Err(e) => Err(SourceError::Io {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        }
    }

    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, SourceError> {
        let pat = pattern.to_string_lossy();
        let paths = glob::glob_with(&pat, glob_options()).map_err(|e| SourceError::BadPattern {
            pattern: pat.to_string(),
            message: e.to_string(),
        })?;
        // Unreadable directory entries are skipped, like glob(3) without GLOB_ERR.
        let mut out: Vec<PathBuf> = paths
            .filter_map(Result::ok)
            .filter(|p| !p.is_dir())
            .collect();
        out.sort();
        Ok(out)
    }

    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| normalize(path))
    }
}

/// Files held in memory, keyed by normalised path.
#[derive(Debug, Default, Clone)]
pub struct MemSource {
    files: BTreeMap<PathBuf, String>,
}

impl MemSource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file; builder style for tests.
    pub fn with(mut self, path: impl AsRef<Path>, text: impl Into<String>) -> Self {
        self.insert(path, text);
        self
    }

    pub fn insert(&mut self, path: impl AsRef<Path>, text: impl Into<String>) {
        self.files.insert(normalize(path.as_ref()), text.into());
    }
}

impl FileSource for MemSource {
    fn read_to_string(&self, path: &Path) -> Result<String, SourceError> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| SourceError::NotFound {
                path: path.to_path_buf(),
            })
    }

    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, SourceError> {
        let norm = normalize(pattern);
        let pat = norm.to_string_lossy();
        let compiled = glob::Pattern::new(&pat).map_err(|e| SourceError::BadPattern {
            pattern: pat.to_string(),
            message: e.to_string(),
        })?;
        let opts = glob_options();
        // BTreeMap iteration is already sorted.
        Ok(self
            .files
            .keys()
            .filter(|k| compiled.matches_path_with(k, opts))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_dots() {
        assert_eq!(
            normalize(Path::new("/etc/./k/../k/a.conf")),
            PathBuf::from("/etc/k/a.conf")
        );
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
        assert_eq!(normalize(Path::new("/..")), PathBuf::from("/"));
    }

    #[test]
    fn mem_glob_is_sorted_and_stays_in_one_directory() {
        let m = MemSource::new()
            .with("/c/b.conf", "")
            .with("/c/a.conf", "")
            .with("/c/sub/x.conf", "")
            .with("/c/.hidden.conf", "");
        let got = m.glob(Path::new("/c/*.conf")).unwrap();
        assert_eq!(
            got,
            vec![PathBuf::from("/c/a.conf"), PathBuf::from("/c/b.conf")]
        );
    }
}
