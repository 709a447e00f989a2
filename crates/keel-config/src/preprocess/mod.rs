//! keepalived's configuration-file mechanics, resolved before any keyword is
//! interpreted: `include`, `@id` conditionals, `$NAME` macros (including
//! multi-line ones and the `${_...}` built-ins) and `~SEQ`/`~LST` generators.
//!
//! The unit of work is keepalived's: one *logical line*. Each physical line is
//! stripped of its comment, then:
//!
//! 1. while a multi-line `$NAME= \` definition is open, the line is appended
//!    to it (a line without a trailing `\` closes it);
//! 2. `@ID rest` keeps `rest` only when `ID` is the config-id (`@^ID`: only
//!    when it is not);
//! 3. `$NAME=value` defines (or redefines) a macro; nothing is emitted;
//! 4. `~SEQ(...)`/`~SEQx(...)`/`~LST(...)` repeat the rest of the line, each
//!    repetition going through this whole list again (so generators nest and
//!    may expand multi-line macros);
//! 5. `$NAME` / `${NAME}` uses are replaced, lazily and recursively; a
//!    multi-line macro at the end of a line turns into several lines, each
//!    processed from step 2 on; after a replacement steps 2-4 are retried;
//! 6. `include PATTERN` splices files in; any other line is tokenised.
//!
//! Every expansion is bounded (see [`Limits`]) so no input can make the
//! preprocessor loop, recurse without end or allocate without bound.

use crate::ast::{Node, Span};
use crate::diag::Diagnostics;
use crate::lexer::{self, SyntaxError, Tok};
use crate::source::{FileSource, SourceError};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bounds on everything the preprocessor can be made to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Files open at once through nested `include`s.
    pub max_include_depth: usize,
    /// Macros being expanded inside one another.
    pub max_macro_depth: usize,
    /// Nested generators, multi-line macro expansions and re-scans of one line.
    pub max_nesting: usize,
    /// Bytes in one logical line after expansion.
    pub max_line_len: usize,
    /// Logical lines produced in total (after `~SEQ`/`~LST`/macros).
    pub max_lines: usize,
    /// Bytes of logical lines produced in total.
    pub max_total_bytes: usize,
    /// `{` nesting depth.
    pub max_block_depth: usize,
    /// Alternatives one `{a,b}` include pattern may expand to.
    pub max_brace_alternatives: usize,
    /// Macro replacements in total (`${A}${A}` chains grow exponentially
    /// even when the text stays short).
    pub max_expansions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Sized for keepalived's own 65,024-instance example (about 1M lines,
        // 40 MB) with room to spare, while keeping memory in the low GBs at worst.
        Limits {
            max_include_depth: 32,
            max_macro_depth: 32,
            max_nesting: 64,
            max_line_len: 1 << 20,
            max_lines: 4_000_000,
            max_total_bytes: 256 << 20,
            max_block_depth: lexer::DEFAULT_MAX_BLOCK_DEPTH,
            max_brace_alternatives: 1024,
            max_expansions: 50_000_000,
        }
    }
}

/// Inputs that keepalived takes from the command line and the environment.
/// Passing them in keeps the library deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreprocessOptions {
    /// Matched by `@ID` lines and returned by `${_INSTANCE}` (keepalived's
    /// `-i`, defaulting to the short host name: the caller decides).
    pub config_id: String,
    /// What `${_ENV VAR}` reads.
    pub env: BTreeMap<String, String>,
    /// Seed for `${_RANDOM}` (keepalived's `random_seed`).
    pub random_seed: u64,
    pub limits: Limits,
}

/// The preprocessed configuration.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub nodes: Vec<Node>,
    /// Warnings such as undefined macros or includes that matched nothing.
    pub diagnostics: Diagnostics,
    /// Every file read, in reading order (the top file first for `load_file`).
    pub files: Vec<PathBuf>,
}

/// A configuration that cannot be read into a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read configuration: {source}", path.display())]
    ReadTop { path: PathBuf, source: SourceError },
    #[error("{span}: '{keyword}': cannot read '{}': {source}", path.display())]
    ReadInclude {
        span: Span,
        keyword: String,
        path: PathBuf,
        source: SourceError,
    },
    #[error("{span}: '{keyword}': no file matches '{pattern}'")]
    MissingInclude {
        span: Span,
        keyword: String,
        pattern: String,
    },
    #[error("{span}: '{keyword}': bad pattern '{pattern}': {message}")]
    BadIncludePattern {
        span: Span,
        keyword: String,
        pattern: String,
        message: String,
    },
    #[error("{span}: '{keyword}': include loop: {chain}")]
    IncludeLoop {
        span: Span,
        keyword: String,
        chain: String,
    },
    #[error("{span}: '{keyword}': includes nested deeper than {limit} files")]
    IncludeTooDeep {
        span: Span,
        keyword: String,
        limit: usize,
    },
    #[error("{span}: '${name}': macro loop: {chain}")]
    MacroLoop {
        span: Span,
        name: String,
        chain: String,
    },
    #[error("{span}: '${name}': macros nested deeper than {limit}")]
    MacroTooDeep {
        span: Span,
        name: String,
        limit: usize,
    },
    #[error("{span}: '{keyword}': expansion nested deeper than {limit} levels")]
    NestingTooDeep {
        span: Span,
        keyword: String,
        limit: usize,
    },
    #[error("{span}: '{keyword}': line longer than {limit} bytes after macro expansion")]
    LineTooLong {
        span: Span,
        keyword: String,
        limit: usize,
    },
    #[error("{span}: '{keyword}': configuration would exceed {limit} {what}")]
    TooLarge {
        span: Span,
        keyword: String,
        what: &'static str,
        limit: usize,
    },
    #[error("{span}: '{keyword}': {message}")]
    BadGenerator {
        span: Span,
        keyword: String,
        message: String,
    },
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
}

impl ConfigError {
    /// Where the problem is, when it is inside a file.
    pub fn span(&self) -> Option<&Span> {
        match self {
            ConfigError::ReadTop { .. } => None,
            ConfigError::ReadInclude { span, .. }
            | ConfigError::MissingInclude { span, .. }
            | ConfigError::BadIncludePattern { span, .. }
            | ConfigError::IncludeLoop { span, .. }
            | ConfigError::IncludeTooDeep { span, .. }
            | ConfigError::MacroLoop { span, .. }
            | ConfigError::MacroTooDeep { span, .. }
            | ConfigError::NestingTooDeep { span, .. }
            | ConfigError::LineTooLong { span, .. }
            | ConfigError::TooLarge { span, .. }
            | ConfigError::BadGenerator { span, .. } => Some(span),
            ConfigError::Syntax(e) => e.span(),
        }
    }
}

/// Reads `path` and everything it includes.
pub fn load_file(
    path: &Path,
    src: &dyn FileSource,
    opts: &PreprocessOptions,
) -> Result<Parsed, ConfigError> {
    let text = src
        .read_to_string(path)
        .map_err(|source| ConfigError::ReadTop {
            path: path.to_path_buf(),
            source,
        })?;
    let mut pre = Pre::new(src, opts);
    pre.files.push(path.to_path_buf());
    pre.run(&text, path)
}

/// Preprocesses `text` as if it were the file `name` (includes are resolved
/// relative to `name`'s directory through `src`).
pub fn load_str(
    text: &str,
    name: &Path,
    src: &dyn FileSource,
    opts: &PreprocessOptions,
) -> Result<Parsed, ConfigError> {
    Pre::new(src, opts).run(text, name)
}

#[derive(Debug, Clone)]
enum Def {
    Single(String),
    Multi(Arc<Vec<String>>),
}

struct Pending {
    name: String,
    lines: Vec<String>,
}

struct Frame {
    path: Arc<PathBuf>,
    id: PathBuf,
    /// The `include` statement that opened this file.
    site: Option<Span>,
}

#[derive(Clone)]
struct Origin {
    file: Arc<PathBuf>,
    line: u32,
}

impl Origin {
    fn span(&self, col: usize) -> Span {
        Span {
            file: self.file.clone(),
            line: self.line,
            col: u32::try_from(col + 1).unwrap_or(u32::MAX),
        }
    }
}

/// The successive values of a generator's variable(s).
enum Values {
    Seq {
        next: i128,
        step: i128,
        left: i128,
        hex: bool,
    },
    List(std::vec::IntoIter<Vec<String>>),
}

impl Iterator for Values {
    type Item = Vec<String>;
    fn next(&mut self) -> Option<Vec<String>> {
        match self {
            Values::Seq {
                next,
                step,
                left,
                hex,
            } => {
                if *left <= 0 {
                    return None;
                }
                let v = *next;
                *next += *step;
                *left -= 1;
                Some(vec![if *hex {
                    format!("{v:x}")
                } else {
                    v.to_string()
                }])
            }
            Values::List(it) => it.next(),
        }
    }
}

/// A multi-line macro met at the end of a line: the text so far is followed by
/// the macro's first line, and its other lines come after.
struct MultiHit {
    name: String,
    lines: Arc<Vec<String>>,
}

#[derive(Clone, Copy)]
struct IncludeKind {
    /// `includew`/`includea`: a wildcard matching nothing is an error.
    wildcard_match: bool,
    /// `includeb`/`includea`: a brace alternative matching nothing is an error.
    brace_match: bool,
}

struct Pre<'a> {
    src: &'a dyn FileSource,
    opts: &'a PreprocessOptions,
    defs: HashMap<String, Def>,
    pending: Option<Pending>,
    stack: Vec<Frame>,
    /// Multi-line macros whose lines are being processed.
    active: Vec<String>,
    toks: Vec<Tok>,
    diags: Diagnostics,
    files: Vec<PathBuf>,
    /// Logical lines and bytes processed so far (whether or not they produce
    /// output: a generator whose lines are all `@other` still costs time).
    work_lines: usize,
    work_bytes: usize,
    /// Macro replacements so far.
    expansions: usize,
    /// `feed` calls currently on the stack, across includes.
    nest: usize,
    rng: u64,
}

mod expand;
mod include;
mod syntax;
#[cfg(test)]
mod tests;

use syntax::*;

impl<'a> Pre<'a> {
    fn new(src: &'a dyn FileSource, opts: &'a PreprocessOptions) -> Self {
        Pre {
            src,
            opts,
            defs: HashMap::new(),
            pending: None,
            stack: Vec::new(),
            active: Vec::new(),
            toks: Vec::new(),
            diags: Diagnostics::default(),
            files: Vec::new(),
            work_lines: 0,
            work_bytes: 0,
            expansions: 0,
            nest: 0,
            rng: opts.random_seed,
        }
    }

    fn run(mut self, text: &str, name: &Path) -> Result<Parsed, ConfigError> {
        let id = self.src.identity(name);
        self.process_file(text, Arc::new(name.to_path_buf()), id, None)?;
        let nodes = lexer::build_tree(self.toks, self.opts.limits.max_block_depth)?;
        Ok(Parsed {
            nodes,
            diagnostics: self.diags,
            files: self.files,
        })
    }

    fn process_file(
        &mut self,
        text: &str,
        path: Arc<PathBuf>,
        id: PathBuf,
        site: Option<Span>,
    ) -> Result<(), ConfigError> {
        self.stack.push(Frame {
            path: path.clone(),
            id,
            site,
        });
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw) in text.split('\n').enumerate() {
            let origin = Origin {
                file: path.clone(),
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
            };
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let (line, cont) = lexer::decomment(raw);
            if let Some(p) = self.pending.as_mut() {
                // keepalived's manual shows blank lines inside multi-line
                // definitions, so they neither end nor extend one.
                let body = line.trim_matches(is_blank);
                if !body.is_empty() {
                    p.lines.push(body.to_string());
                }
                if !cont && !body.is_empty() {
                    self.finish_pending();
                }
                continue;
            }
            if line.trim_start_matches(is_blank).is_empty() {
                continue;
            }
            self.feed(line, cont, &origin)?;
        }
        self.finish_pending();
        self.stack.pop();
        Ok(())
    }

    fn finish_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            self.defs.insert(p.name, Def::Multi(Arc::new(p.lines)));
        }
    }

    fn current_dir(&self) -> PathBuf {
        self.stack
            .last()
            .and_then(|f| f.path.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Processes one logical line (steps 2-6 of the module docs).
    fn feed(&mut self, text: String, cont: bool, origin: &Origin) -> Result<(), ConfigError> {
        if self.nest >= self.opts.limits.max_nesting {
            let col = text.len() - text.trim_start_matches(is_blank).len();
            return Err(ConfigError::NestingTooDeep {
                span: origin.span(col),
                keyword: first_word(&text).to_string(),
                limit: self.opts.limits.max_nesting,
            });
        }
        self.charge(text.len(), origin, &text)?;
        self.nest += 1;
        let r = self.feed_inner(text, cont, origin);
        self.nest -= 1;
        r
    }

    /// Accounts for one line of work; errors once the limits are passed.
    fn charge(&mut self, len: usize, origin: &Origin, text: &str) -> Result<(), ConfigError> {
        self.work_lines += 1;
        self.work_bytes += len;
        let l = &self.opts.limits;
        let over = if self.work_lines > l.max_lines {
            Some(("lines", l.max_lines))
        } else if self.work_bytes > l.max_total_bytes {
            Some(("bytes", l.max_total_bytes))
        } else {
            None
        };
        match over {
            Some((what, limit)) => Err(ConfigError::TooLarge {
                span: origin.span(0),
                keyword: first_word(text).to_string(),
                what,
                limit,
            }),
            None => Ok(()),
        }
    }

    fn feed_inner(
        &mut self,
        mut text: String,
        cont: bool,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
        let mut substituted = false;
        loop {
            let start = text.len() - text.trim_start_matches(is_blank).len();
            let rest = &text[start..];
            if rest.is_empty() {
                return Ok(());
            }
            if let Some(cond) = rest.strip_prefix('@') {
                let (negate, id_text) = match cond.strip_prefix('^') {
                    Some(r) => (true, r),
                    None => (false, cond),
                };
                // Nothing after the id: keepalived drops the line.
                let Some(id_len) = id_text.find(is_blank) else {
                    return Ok(());
                };
                if (id_text[..id_len] == self.opts.config_id) == negate {
                    return Ok(());
                }
                // Blank the prefix rather than cut it so columns stay true.
                let prefix_len = rest.len() - id_text.len() + id_len;
                text.replace_range(start..start + prefix_len, &" ".repeat(prefix_len));
                continue;
            }
            if let Some((name, after_eq)) = parse_def_head(rest) {
                let value = rest[after_eq..].trim_matches(is_blank).to_string();
                let name = name.to_string();
                if cont {
                    let lines = if value.is_empty() {
                        Vec::new()
                    } else {
                        vec![value]
                    };
                    self.finish_pending();
                    self.pending = Some(Pending { name, lines });
                } else {
                    self.defs.insert(name, Def::Single(value));
                }
                return Ok(());
            }
            if rest.starts_with("~SEQ") || rest.starts_with("~LST") {
                return self.generator(&text, start, origin);
            }
            if !substituted && rest.contains('$') {
                substituted = true;
                let mut out = String::with_capacity(text.len());
                let mut chain = Vec::new();
                let hit = self.expand(&text, &mut out, &mut chain, origin, true)?;
                if let Some(hit) = hit {
                    return self.feed_multi(out, hit, origin);
                }
                if out != text {
                    self.work_bytes += out.len();
                    text = out;
                    continue;
                }
            }
            break;
        }
        if cont {
            let col = text.len() - text.trim_start_matches(is_blank).len();
            self.diags.warn(
                &origin.span(col),
                first_word(&text),
                "a trailing '\\' continues only $NAME= definitions; ignored",
            );
        }
        self.emit(&text, origin)
    }

    fn feed_multi(
        &mut self,
        prefix: String,
        hit: MultiHit,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
        self.active.push(hit.name);
        let mut lines = hit.lines.iter();
        let first = lines.next().map(String::as_str).unwrap_or("");
        self.feed(format!("{prefix}{first}"), false, origin)?;
        for l in lines {
            self.feed(l.clone(), false, origin)?;
        }
        self.active.pop();
        Ok(())
    }

    fn macro_loop(&self, chain: &[String], name: &str, origin: &Origin, col: usize) -> ConfigError {
        let mut names: Vec<String> = self
            .active
            .iter()
            .chain(chain.iter())
            .map(|n| format!("${n}"))
            .collect();
        names.push(format!("${name}"));
        ConfigError::MacroLoop {
            span: origin.span(col),
            name: name.to_string(),
            chain: names.join(" -> "),
        }
    }
}
