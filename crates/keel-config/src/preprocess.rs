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

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `$NAME` at the start of `s` followed by optional blanks and `=`: returns
/// the name and the byte index just after `=`.
fn parse_def_head(s: &str) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'$') || !b.get(1).is_some_and(|&c| is_name_start(c)) {
        return None;
    }
    let mut i = 2;
    while i < b.len() && is_name_char(b[i]) {
        i += 1;
    }
    let name = &s[1..i];
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    if b.get(i) == Some(&b'=') {
        Some((name, i + 1))
    } else {
        None
    }
}

/// A syntactically valid macro use at `s[at..]` (which starts with `$`).
struct Use<'s> {
    name: &'s str,
    params: Vec<&'s str>,
    braced: bool,
    /// Byte index just after the use.
    end: usize,
}

fn parse_use(s: &str, at: usize) -> Option<Use<'_>> {
    let b = s.as_bytes();
    let mut i = at + 1;
    let braced = b.get(i) == Some(&b'{');
    if braced {
        i += 1;
    }
    let name_start = i;
    if !b.get(i).is_some_and(|&c| is_name_start(c)) {
        return None;
    }
    while i < b.len() && is_name_char(b[i]) {
        i += 1;
    }
    let name = &s[name_start..i];
    if braced {
        // `${NAME p1 p2}`: parameters are blank-separated words of name characters.
        let params_start = i;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t' || is_name_char(b[i])) {
            i += 1;
        }
        if b.get(i) != Some(&b'}') {
            return None;
        }
        let raw = &s[params_start..i];
        if !raw.is_empty() && (raw.ends_with([' ', '\t']) || !raw.starts_with([' ', '\t'])) {
            return None;
        }
        Some(Use {
            name,
            params: raw.split([' ', '\t']).filter(|p| !p.is_empty()).collect(),
            braced,
            end: i + 1,
        })
    } else {
        // keepalived only recognises an unbraced use before a blank, `,`, `)`
        // or the end of the line, so `$A.b` is left alone.
        match b.get(i) {
            None | Some(b' ' | b'\t' | b',' | b')') => Some(Use {
                name,
                params: Vec::new(),
                braced,
                end: i,
            }),
            _ => None,
        }
    }
}

/// C `strtol(s, _, 0)` over a whole (trimmed) argument: optional sign, then
/// `0x` hex, leading-`0` octal or decimal.
fn parse_c_long(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, h)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// csh-style `{a,b}` expansion of an include pattern, outermost-first.
fn expand_braces(pattern: &str, limit: usize) -> Option<Vec<String>> {
    let mut done = Vec::new();
    let mut todo = vec![pattern.to_string()];
    while let Some(p) = todo.pop() {
        match split_first_brace(&p) {
            None => done.push(p),
            Some((pre, alts, post)) => {
                for a in alts.iter().rev() {
                    todo.push(format!("{pre}{a}{post}"));
                }
            }
        }
        if done.len() + todo.len() > limit {
            return None;
        }
    }
    Some(done)
}

/// The first `{...}` group holding a top-level comma: (prefix, alternatives, suffix).
fn split_first_brace(p: &str) -> Option<(&str, Vec<&str>, &str)> {
    let b = p.as_bytes();
    let mut search = 0;
    while let Some(off) = p[search..].find('{') {
        let open = search + off;
        let mut depth = 0usize;
        let mut commas = Vec::new();
        let mut close = None;
        for (i, &c) in b.iter().enumerate().skip(open) {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                b',' if depth == 1 => commas.push(i),
                _ => {}
            }
        }
        let close = close?;
        if commas.is_empty() {
            search = open + 1;
            continue;
        }
        let mut alts = Vec::new();
        let mut from = open + 1;
        for c in commas {
            alts.push(&p[from..c]);
            from = c + 1;
        }
        alts.push(&p[from..close]);
        return Some((&p[..open], alts, &p[close + 1..]));
    }
    None
}

fn has_glob_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// `include`, or one of keepalived's `includer/m/w/b/a` variants.
fn include_kind(word: &str) -> Option<IncludeKind> {
    let k = |w, b| {
        Some(IncludeKind {
            wildcard_match: w,
            brace_match: b,
        })
    };
    match word {
        "include" | "includer" | "includem" => k(false, false),
        "includew" => k(true, false),
        "includeb" => k(false, true),
        "includea" => k(true, true),
        _ => None,
    }
}

/// Splits an include line's argument into patterns: blank-separated words,
/// double quotes grouping (and removed), braces kept for expansion.
struct PatternWord {
    text: String,
    col: usize,
    /// Byte offset of the word in the argument text.
    at: usize,
    quoted: bool,
}

fn split_patterns(text: &str, base_col: usize) -> Vec<PatternWord> {
    let mut out = Vec::new();
    let mut cur: Option<PatternWord> = None;
    let mut quote = false;
    for (col, (at, c)) in text.char_indices().enumerate() {
        if !quote && is_blank(c) {
            out.extend(cur.take());
            continue;
        }
        let w = cur.get_or_insert_with(|| PatternWord {
            text: String::new(),
            col: base_col + col,
            at,
            quoted: false,
        });
        if c == '"' {
            quote = !quote;
            w.quoted = true;
        } else {
            w.text.push(c);
        }
    }
    out.extend(cur);
    out
}

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

    /// Replaces macro uses in `s`, appending to `out`. Returns the multi-line
    /// macro that ends the line, if any (its first line is not yet appended).
    fn expand(
        &mut self,
        s: &str,
        out: &mut String,
        chain: &mut Vec<String>,
        origin: &Origin,
        at_line_end: bool,
    ) -> Result<Option<MultiHit>, ConfigError> {
        let limit = self.opts.limits.max_line_len;
        let mut i = 0;
        while let Some(off) = s[i..].find('$') {
            let at = i + off;
            out.push_str(&s[i..at]);
            i = at;
            let Some(u) = parse_use(s, at) else {
                out.push('$');
                i += 1;
                continue;
            };
            let col = s[..at].chars().count();
            let ends_line = at_line_end && s[u.end..].trim_matches(is_blank).is_empty();
            self.expansions += 1;
            if self.expansions > self.opts.limits.max_expansions {
                return Err(ConfigError::TooLarge {
                    span: origin.span(col),
                    keyword: format!("${}", u.name),
                    what: "macro replacements",
                    limit: self.opts.limits.max_expansions,
                });
            }
            let def = self.defs.get(u.name).cloned();
            match def {
                Some(_) if !u.params.is_empty() => out.push_str(&s[at..u.end]),
                Some(Def::Single(v)) => {
                    if chain.iter().any(|n| n == u.name) || self.active.iter().any(|n| n == u.name)
                    {
                        return Err(self.macro_loop(chain, u.name, origin, col));
                    }
                    if chain.len() >= self.opts.limits.max_macro_depth {
                        return Err(ConfigError::MacroTooDeep {
                            span: origin.span(col),
                            name: u.name.to_string(),
                            limit: self.opts.limits.max_macro_depth,
                        });
                    }
                    if v.trim_start_matches(is_blank).starts_with('~') {
                        // A generator from a macro repeats the unexpanded rest
                        // of the line; each repetition is expanded on its own.
                        out.push_str(&v);
                        out.push_str(&s[u.end..]);
                        return Ok(None);
                    }
                    chain.push(u.name.to_string());
                    let hit = self.expand(&v, out, chain, origin, ends_line)?;
                    chain.pop();
                    if hit.is_some() {
                        return Ok(hit);
                    }
                }
                Some(Def::Multi(lines)) => {
                    if chain.iter().any(|n| n == u.name) || self.active.iter().any(|n| n == u.name)
                    {
                        return Err(self.macro_loop(chain, u.name, origin, col));
                    }
                    if !ends_line {
                        self.diags.warn(
                            &origin.span(col),
                            &format!("${}", u.name),
                            "a multi-line macro is only replaced at the end of a line; left unchanged",
                        );
                        out.push_str(&s[at..u.end]);
                    } else {
                        return Ok(Some(MultiHit {
                            name: u.name.to_string(),
                            lines,
                        }));
                    }
                }
                None => match self.builtin(&u, origin, col) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&s[at..u.end]),
                },
            }
            i = u.end;
            if out.len() > limit {
                return Err(ConfigError::LineTooLong {
                    span: origin.span(0),
                    keyword: first_word(s).to_string(),
                    limit,
                });
            }
        }
        out.push_str(&s[i..]);
        if out.len() > limit {
            return Err(ConfigError::LineTooLong {
                span: origin.span(0),
                keyword: first_word(s).to_string(),
                limit,
            });
        }
        Ok(None)
    }

    /// keepalived's pre-defined `${_...}` macros; `None` leaves the use as
    /// written (after a warning), as keepalived does for unknown names.
    fn builtin(&mut self, u: &Use<'_>, origin: &Origin, col: usize) -> Option<String> {
        let span = origin.span(col);
        let kw = format!("${}", u.name);
        let np = u.params.len();
        let no_params = |diags: &mut Diagnostics| {
            if np == 0 {
                true
            } else {
                diags.warn(&span, &kw, "takes no parameters; left unchanged");
                false
            }
        };
        match u.name {
            "_PWD" if no_params(&mut self.diags) => {
                let dir = self.current_dir();
                Some(if dir.as_os_str().is_empty() {
                    ".".to_string()
                } else {
                    dir.to_string_lossy().into_owned()
                })
            }
            "_INSTANCE" if no_params(&mut self.diags) => Some(self.opts.config_id.clone()),
            "_HASH" if no_params(&mut self.diags) => Some("#".to_string()),
            "_BANG" if no_params(&mut self.diags) => Some("!".to_string()),
            "_RANDOM" => {
                let nums: Option<Vec<u64>> =
                    u.params.iter().map(|p| p.parse::<u64>().ok()).collect();
                let Some(nums) = nums.filter(|n| n.len() <= 2) else {
                    self.diags.warn(
                        &span,
                        &kw,
                        "takes at most two non-negative integers (min, max); left unchanged",
                    );
                    return None;
                };
                let min = nums.first().copied().unwrap_or(0);
                let mut max = nums.get(1).copied().unwrap_or(32767);
                if min > max {
                    self.diags.warn(
                        &span,
                        &kw,
                        format!("min {min} exceeds max {max}, using {min}"),
                    );
                    max = min;
                }
                let range = (max - min).saturating_add(1);
                Some((min + self.next_random() % range).to_string())
            }
            "_ENV" => {
                if np != 1 {
                    self.diags.warn(
                        &span,
                        &kw,
                        "takes exactly one variable name; left unchanged",
                    );
                    return None;
                }
                match self.opts.env.get(u.params[0]) {
                    Some(v) => Some(v.clone()),
                    None => {
                        self.diags.warn(
                            &span,
                            &kw,
                            format!(
                                "environment variable '{}' is not set; replaced by nothing",
                                u.params[0]
                            ),
                        );
                        Some(String::new())
                    }
                }
            }
            "_PWD" | "_INSTANCE" | "_HASH" | "_BANG" => None,
            _ => {
                let shown = if u.braced {
                    format!("${{{}}}", u.name)
                } else {
                    kw.clone()
                };
                self.diags.warn(
                    &span,
                    &kw,
                    format!("undefined macro {shown} left unchanged"),
                );
                None
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: small, seedable, and good enough for spreading timers.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `~SEQ(...)`, `~SEQx(...)` or `~LST(...)` at `text[start..]`.
    fn generator(&mut self, text: &str, start: usize, origin: &Origin) -> Result<(), ConfigError> {
        let rest = &text[start..];
        let (keyword, hex, after_kw) = if rest.starts_with("~SEQx") {
            ("~SEQx", true, 5)
        } else if rest.starts_with("~SEQ") {
            ("~SEQ", false, 4)
        } else {
            ("~LST", false, 4)
        };
        let col = text[..start].chars().count();
        let bad = |message: String| ConfigError::BadGenerator {
            span: origin.span(col),
            keyword: keyword.to_string(),
            message,
        };
        let body_start = start + after_kw;
        let body = text[body_start..].trim_start_matches(is_blank);
        let Some(body) = body.strip_prefix('(') else {
            return Err(bad("expected '(' after the keyword".into()));
        };
        let Some(close_rel) = body.find(')') else {
            return Err(bad("missing terminating ')'".into()));
        };
        let args = &body[..close_rel];
        let close_abs = text.len() - body.len() + close_rel;
        // The repeated text keeps its columns: the generator becomes blanks.
        let repeated = format!("{}{}", " ".repeat(close_abs + 1), &text[close_abs + 1..]);

        let (vars, values) = if keyword == "~LST" {
            let (vars, sets) = parse_lst(args).map_err(bad)?;
            (vars, Values::List(sets.into_iter()))
        } else {
            // keepalived expands macros inside the ~SEQ parameters.
            let mut expanded = String::new();
            let mut chain = Vec::new();
            if self
                .expand(args, &mut expanded, &mut chain, origin, false)?
                .is_some()
            {
                return Err(bad("a parameter is a multi-line macro".into()));
            }
            let (var, start_v, step, end) = parse_seq(&expanded).map_err(bad)?;
            if hex && (start_v < 0 || end < 0) {
                return Err(bad("~SEQx is only valid for non-negative numbers".into()));
            }
            let count = (i128::from(end) - i128::from(start_v)) / i128::from(step) + 1;
            // Checked up front so an oversized ~SEQ fails at once, naming itself.
            let room = self.opts.limits.max_lines.saturating_sub(self.work_lines);
            if count > room as i128 {
                return Err(ConfigError::TooLarge {
                    span: origin.span(col),
                    keyword: keyword.to_string(),
                    what: "generated lines",
                    limit: self.opts.limits.max_lines,
                });
            }
            let seq = Values::Seq {
                next: i128::from(start_v),
                step: i128::from(step),
                left: count,
                hex,
            };
            (vec![var], seq)
        };

        let saved: Vec<Option<Def>> = vars.iter().map(|v| self.defs.get(v).cloned()).collect();
        let mut result = Ok(());
        for set in values {
            for (var, val) in vars.iter().zip(set) {
                self.defs.insert(var.clone(), Def::Single(val));
            }
            result = self.feed(repeated.clone(), false, origin);
            if result.is_err() {
                break;
            }
        }
        // The loop variable is scoped to the generator (keepalived says not to
        // rely on it afterwards); restoring avoids leaking it into later lines.
        for (var, old) in vars.iter().zip(saved) {
            match old {
                Some(d) => self.defs.insert(var.clone(), d),
                None => self.defs.remove(var),
            };
        }
        result
    }

    /// A fully processed logical line: an include, or tokens for the tree.
    fn emit(&mut self, text: &str, origin: &Origin) -> Result<(), ConfigError> {
        let start = text.len() - text.trim_start_matches(is_blank).len();
        let rest = &text[start..];
        let kw_len = rest.find(is_blank).unwrap_or(rest.len());
        if let Some(kind) = include_kind(&rest[..kw_len]) {
            // Checked on the raw line so `{a,b}` in the pattern is not taken
            // for a block.
            let col = text[..start].chars().count();
            let args_text = &rest[kw_len..];
            let args_col = col + rest[..kw_len].chars().count();
            let mut words = split_patterns(args_text, args_col);
            // A closing brace after the file name (`include x.conf }`) still
            // closes the block; only the words before it are patterns.
            let tail = words
                .iter()
                .position(|w| !w.quoted && w.text.starts_with('}'));
            let tail_at = tail.map(|i| start + kw_len + words[i].at);
            words.truncate(tail.unwrap_or(words.len()));
            let patterns = words.into_iter().map(|w| (w.text, w.col)).collect();
            self.include(kind, &rest[..kw_len], col, patterns, origin)?;
            return match tail_at {
                Some(at) => {
                    let blanked =
                        format!("{}{}", " ".repeat(text[..at].chars().count()), &text[at..]);
                    self.emit_tokens(&blanked, origin)
                }
                None => Ok(()),
            };
        }
        self.emit_tokens(text, origin)
    }

    fn emit_tokens(&mut self, text: &str, origin: &Origin) -> Result<(), ConfigError> {
        let mut toks = Vec::new();
        lexer::tokenize_line(text, &origin.file, origin.line, &mut toks)?;
        // An include sharing a line with braces (`x { include y }`).
        let mut at_stmt_start = true;
        let mut iter = toks.into_iter().peekable();
        while let Some(t) = iter.next() {
            match t {
                Tok::Word(w) if at_stmt_start && !w.quoted && include_kind(&w.text).is_some() => {
                    let mut patterns = Vec::new();
                    while let Some(Tok::Word(_)) = iter.peek() {
                        if let Some(Tok::Word(a)) = iter.next() {
                            let c = a.span.col.saturating_sub(1) as usize;
                            patterns.push((a.text, c));
                        }
                    }
                    if let Some(kind) = include_kind(&w.text) {
                        let col = w.span.col.saturating_sub(1) as usize;
                        self.include(kind, &w.text, col, patterns, origin)?;
                    }
                    at_stmt_start = true;
                }
                Tok::Word(w) => {
                    at_stmt_start = false;
                    self.toks.push(Tok::Word(w));
                }
                other => {
                    at_stmt_start = true;
                    self.toks.push(other);
                }
            }
        }
        self.toks.push(Tok::Eol);
        Ok(())
    }

    fn include(
        &mut self,
        kind: IncludeKind,
        keyword: &str,
        col: usize,
        patterns: Vec<(String, usize)>,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
        let site = origin.span(col);
        if patterns.is_empty() {
            self.diags.warn(&site, keyword, "no file name given");
            return Ok(());
        }
        let dir = self.current_dir();
        for (pattern, _) in patterns {
            // Lexical clean-up keeps `sub/../a.conf` readable in diagnostics
            // and in `Parsed::files`.
            let joined = crate::source::normalize(&dir.join(&pattern));
            let joined = joined.to_string_lossy();
            let glob = has_glob_meta(&pattern);
            let Some(alts) = expand_braces(&joined, self.opts.limits.max_brace_alternatives) else {
                return Err(ConfigError::TooLarge {
                    span: site,
                    keyword: keyword.to_string(),
                    what: "brace alternatives",
                    limit: self.opts.limits.max_brace_alternatives,
                });
            };
            let braced = alts.len() > 1;
            let mut found = Vec::new();
            for alt in alts {
                let alt_path = PathBuf::from(&alt);
                if !glob {
                    found.push(alt_path);
                    continue;
                }
                let matches =
                    self.src
                        .glob(&alt_path)
                        .map_err(|e| ConfigError::BadIncludePattern {
                            span: site.clone(),
                            keyword: keyword.to_string(),
                            pattern: pattern.clone(),
                            message: e.to_string(),
                        })?;
                if matches.is_empty() && braced && !has_glob_meta(&alt) && kind.brace_match {
                    return Err(ConfigError::MissingInclude {
                        span: site,
                        keyword: keyword.to_string(),
                        pattern: alt,
                    });
                }
                found.extend(matches);
            }
            if found.is_empty() {
                if kind.wildcard_match {
                    return Err(ConfigError::MissingInclude {
                        span: site,
                        keyword: keyword.to_string(),
                        pattern,
                    });
                }
                self.diags.warn(
                    &site,
                    keyword,
                    format!("'{pattern}' matches no file; nothing included"),
                );
                continue;
            }
            for path in found {
                self.include_one(&path, &pattern, glob, keyword, &site)?;
            }
        }
        Ok(())
    }

    fn include_one(
        &mut self,
        path: &Path,
        pattern: &str,
        glob: bool,
        keyword: &str,
        site: &Span,
    ) -> Result<(), ConfigError> {
        let id = self.src.identity(path);
        if let Some(pos) = self.stack.iter().position(|f| f.id == id) {
            let mut chain: Vec<String> = Vec::new();
            for f in &self.stack[pos + 1..] {
                if let Some(s) = &f.site {
                    chain.push(format!("{}:{}", s.file.display(), s.line));
                }
            }
            chain.push(format!("{}:{}", site.file.display(), site.line));
            chain.push(path.display().to_string());
            return Err(ConfigError::IncludeLoop {
                span: site.clone(),
                keyword: keyword.to_string(),
                chain: chain.join(" -> "),
            });
        }
        if self.stack.len() >= self.opts.limits.max_include_depth {
            return Err(ConfigError::IncludeTooDeep {
                span: site.clone(),
                keyword: keyword.to_string(),
                limit: self.opts.limits.max_include_depth,
            });
        }
        let text = match self.src.read_to_string(path) {
            Ok(t) => t,
            Err(SourceError::NotFound { .. }) if !glob => {
                return Err(ConfigError::MissingInclude {
                    span: site.clone(),
                    keyword: keyword.to_string(),
                    pattern: pattern.to_string(),
                });
            }
            Err(source) => {
                return Err(ConfigError::ReadInclude {
                    span: site.clone(),
                    keyword: keyword.to_string(),
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        self.files.push(path.to_path_buf());
        self.process_file(&text, Arc::new(path.to_path_buf()), id, Some(site.clone()))
    }
}

fn first_word(text: &str) -> &str {
    text.split([' ', '\t'])
        .find(|w| !w.is_empty())
        .unwrap_or("")
}

fn is_var_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_name_start(b[0]) && b.iter().all(|&c| is_name_char(c))
}

/// `var, [start,] [step,] end` as keepalived reads it.
fn parse_seq(args: &str) -> Result<(String, i64, i64, i64), String> {
    let parts: Vec<&str> = args.split(',').map(|p| p.trim_matches(is_blank)).collect();
    let var = parts.first().copied().unwrap_or("");
    if !is_var_name(var) {
        return Err(format!("'{var}' is not a variable name"));
    }
    let nums: Option<Vec<i64>> = parts[1..].iter().map(|p| parse_c_long(p)).collect();
    let Some(nums) = nums else {
        return Err(format!("parameters must be integers: '{args}'"));
    };
    let (start, step, end) = match nums[..] {
        [end] => (
            if end < 0 { -1 } else { 1 },
            if end < 1 { -1 } else { 1 },
            end,
        ),
        [start, end] => (start, if start <= end { 1 } else { -1 }, end),
        [start, step, end] => (start, step, end),
        _ => return Err(format!("expected (var, [start,] [step,] end): '{args}'")),
    };
    if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
        return Err(format!("step {step} never gets from {start} to {end}"));
    }
    Ok((var.to_string(), start, step, end))
}

type LstSpec = (Vec<String>, Vec<Vec<String>>);

/// `var, v1, v2...` or `{var1, var2}, {v1, v2}, {v3, v4}...`.
fn parse_lst(args: &str) -> Result<LstSpec, String> {
    // Split into top-level items: `{...}` groups or bare values.
    let mut items: Vec<Vec<String>> = Vec::new();
    let mut chars = args.chars().peekable();
    loop {
        while chars.peek().is_some_and(|&c| is_blank(c)) {
            chars.next();
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            let mut inner = String::new();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '}' {
                    closed = true;
                    break;
                }
                inner.push(c);
            }
            if !closed || inner.contains('{') {
                return Err(format!("unbalanced '{{' in '{args}'"));
            }
            items.push(
                inner
                    .split(',')
                    .map(|v| v.trim_matches(is_blank).to_string())
                    .collect(),
            );
            while chars.peek().is_some_and(|&c| is_blank(c)) {
                chars.next();
            }
        } else {
            let mut v = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '}' {
                    return Err(format!("unexpected '{c}' in '{args}'"));
                }
                v.push(c);
                chars.next();
            }
            items.push(vec![v.trim_matches(is_blank).to_string()]);
        }
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(c) => return Err(format!("unexpected '{c}' in '{args}'")),
        }
    }
    if items.len() < 2 {
        return Err("needs a variable and at least one value".into());
    }
    let vars = items.remove(0);
    if let Some(bad) = vars.iter().find(|v| !is_var_name(v)) {
        return Err(format!("'{bad}' is not a variable name"));
    }
    let mut sets = Vec::new();
    for mut set in items {
        if set.len() > vars.len() {
            return Err(format!(
                "too many values for {} variable(s) in '{args}'",
                vars.len()
            ));
        }
        // keepalived fills missing values with empty strings.
        set.resize(vars.len(), String::new());
        sets.push(set);
    }
    Ok((vars, sets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_long_parsing() {
        assert_eq!(parse_c_long("0x90"), Some(0x90));
        assert_eq!(parse_c_long(" -1 "), Some(-1));
        assert_eq!(parse_c_long("010"), Some(8));
        assert_eq!(parse_c_long("0"), Some(0));
        assert_eq!(parse_c_long("x"), None);
    }

    #[test]
    fn seq_defaults_follow_keepalived() {
        assert_eq!(parse_seq("i, 3").unwrap(), ("i".into(), 1, 1, 3));
        assert_eq!(parse_seq("i, -3").unwrap(), ("i".into(), -1, -1, -3));
        assert_eq!(parse_seq("i, 5, 2").unwrap(), ("i".into(), 5, -1, 2));
        assert!(parse_seq("i, 1, 0, 3").is_err());
        assert!(parse_seq("i, 1, -1, 3").is_err());
        assert!(parse_seq("1x, 3").is_err());
    }

    #[test]
    fn lst_parsing_fills_missing_values() {
        let (v, s) = parse_lst("{A, B}, {1,2}, {3}").unwrap();
        assert_eq!(v, ["A", "B"]);
        assert_eq!(
            s,
            vec![
                vec!["1".to_string(), "2".into()],
                vec!["3".into(), "".into()]
            ]
        );
        assert!(parse_lst("{A}, {1,2}").is_err());
        assert!(parse_lst("A").is_err());
    }

    #[test]
    fn brace_expansion_nests() {
        let got = expand_braces("{foo/{,cat,dog},bar}", 100).unwrap();
        assert_eq!(got, ["foo/", "foo/cat", "foo/dog", "bar"]);
        assert_eq!(expand_braces("a{b}c", 10).unwrap(), ["a{b}c"]);
        assert!(expand_braces(&"{a,b}".repeat(20), 1000).is_none());
    }

    #[test]
    fn macro_use_syntax() {
        assert!(parse_use("$A.b", 0).is_none());
        assert_eq!(parse_use("$A,", 0).map(|u| u.end), Some(2));
        let u = parse_use("${_RANDOM 1 5}x", 0).unwrap();
        assert_eq!((u.name, u.params.len(), u.end), ("_RANDOM", 2, 14));
        assert!(parse_use("${A }", 0).is_none());
        assert!(parse_use("$1", 0).is_none());
    }
}
