//! Statement lexer: comments, quoting, `{`/`}` splitting and the block tree.
//!
//! The preprocessor ([`crate::preprocess`]) hands this module one logical
//! line at a time, already stripped of comments and with macros expanded.
//! keepalived's rules that live here:
//!
//! - `#` and `!` start a comment anywhere outside double quotes; `\#` and `\!`
//!   outside quotes are the literal characters ([`decomment`]).
//! - A double-quoted segment may hold spaces, `{`, `}`, `#`, `!` and escapes
//!   (`\a \b \E \f \n \r \t \v \NNN \xHH \cC`, and `\C` for any other `C`).
//!   Quoted and unquoted segments with no space between form one word, as in
//!   the shell. Single quotes are ordinary characters at this level: keepalived
//!   leaves them for the script-argument splitter (`notify "x 'a b'"`).
//! - `{` and `}` outside quotes always separate tokens, so `vrrp_instance
//!   VI_1{state MASTER}` is three statements' worth of tokens. A `{` at the
//!   start of a line opens the block of the statement on the line before.

use crate::ast::{Node, Span, Word};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SyntaxError {
    #[error("{span}: '}}': unexpected '}}' with no open block")]
    UnexpectedClose { span: Span },
    #[error("{span}: '{keyword}': block opened here is never closed")]
    Unclosed { span: Span, keyword: String },
    #[error("{span}: unterminated quoted string")]
    UnterminatedQuote { span: Span },
    #[error("{span}: '{{' with no keyword before it")]
    OrphanBlock { span: Span },
    #[error("{span}: '{keyword}': blocks nested deeper than {limit} levels")]
    TooDeep {
        span: Span,
        keyword: String,
        limit: usize,
    },
    /// A preprocessing failure reported through [`parse_str`]; the message
    /// already names `file:line`.
    #[error("{0}")]
    Preprocess(String),
}

impl SyntaxError {
    pub fn span(&self) -> Option<&Span> {
        match self {
            SyntaxError::UnexpectedClose { span }
            | SyntaxError::Unclosed { span, .. }
            | SyntaxError::UnterminatedQuote { span }
            | SyntaxError::OrphanBlock { span }
            | SyntaxError::TooDeep { span, .. } => Some(span),
            SyntaxError::Preprocess(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Tok {
    Word(Word),
    Open(Span),
    Close(Span),
    Eol,
}

/// Removes a comment and trailing blanks from one physical line.
///
/// Returns the remaining text (leading blanks kept, so columns stay right)
/// and whether the line ended in a continuation `\`, which is removed.
pub fn decomment(raw: &str) -> (String, bool) {
    let mut out = String::with_capacity(raw.len());
    let mut quote = false;
    let mut cont = false;
    let mut it = raw.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '"' => {
                quote = !quote;
                out.push(c);
            }
            '\\' => match it.peek().copied() {
                None => {
                    cont = true;
                    break;
                }
                Some(n @ ('#' | '!')) if !quote => {
                    it.next();
                    out.push(n);
                }
                Some(n) => {
                    it.next();
                    out.push('\\');
                    out.push(n);
                }
            },
            '#' | '!' if !quote => break,
            _ => out.push(c),
        }
    }
    let trimmed = out.trim_end_matches([' ', '\t', '\r']).len();
    out.truncate(trimmed);
    (out, cont)
}

fn push_escape(it: &mut std::iter::Peekable<std::str::CharIndices<'_>>, text: &mut String) -> bool {
    let Some((_, c)) = it.next() else {
        return false;
    };
    let digit = |it: &mut std::iter::Peekable<std::str::CharIndices<'_>>, radix: u32| {
        it.peek()
            .and_then(|&(_, d)| d.to_digit(radix))
            .inspect(|_| {
                it.next();
            })
    };
    match c {
        'a' => text.push('\x07'),
        'b' => text.push('\x08'),
        'E' => text.push('\x1b'),
        'f' => text.push('\x0c'),
        'n' => text.push('\n'),
        'r' => text.push('\r'),
        't' => text.push('\t'),
        'v' => text.push('\x0b'),
        'x' if it.peek().is_some_and(|&(_, d)| d.is_ascii_hexdigit()) => {
            let mut v = 0u32;
            for _ in 0..2 {
                match digit(it, 16) {
                    Some(d) => v = v * 16 + d,
                    None => break,
                }
            }
            text.push(char::from(v as u8));
        }
        'c' if it.peek().is_some() => {
            if let Some((_, n)) = it.next() {
                text.push(char::from((n as u32 & 0x1f) as u8));
            }
        }
        '0'..='7' => {
            let mut v = c as u32 - '0' as u32;
            for _ in 0..2 {
                match digit(it, 8) {
                    Some(d) => v = v * 8 + d,
                    None => break,
                }
            }
            // keepalived keeps only the low byte of \NNN.
            text.push(char::from((v & 0xff) as u8));
        }
        other => text.push(other),
    }
    true
}

fn pos_of(it: &mut std::iter::Peekable<std::str::CharIndices<'_>>, text: &str) -> usize {
    it.peek().map_or(text.len(), |&(p, _)| p)
}

/// Splits one comment-free logical line into words and braces, appending to
/// `out` (no end-of-line token is added).
pub(crate) fn tokenize_line(
    text: &str,
    file: &Arc<PathBuf>,
    line: u32,
    out: &mut Vec<Tok>,
) -> Result<(), SyntaxError> {
    let span_at = |col: usize| Span {
        file: file.clone(),
        line,
        col: u32::try_from(col + 1).unwrap_or(u32::MAX),
    };
    // Columns count characters; `col` tracks the char index of the iterator.
    let mut it = text.char_indices().peekable();
    let mut col = 0usize;
    let byte_to_col = |byte: usize, col: &mut usize, last_byte: &mut usize| {
        *col += text[*last_byte..byte].chars().count();
        *last_byte = byte;
    };
    let mut last_byte = 0usize;
    while let Some(&(pos, c)) = it.peek() {
        if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\x0b' || c == '\x0c' {
            it.next();
            continue;
        }
        byte_to_col(pos, &mut col, &mut last_byte);
        if c == '{' {
            it.next();
            out.push(Tok::Open(span_at(col)));
            continue;
        }
        if c == '}' {
            it.next();
            out.push(Tok::Close(span_at(col)));
            continue;
        }
        let start_col = col;
        let mut word = String::new();
        let mut quoted = false;
        while let Some(&(_, c)) = it.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c' | '{' | '}' => break,
                '"' => {
                    it.next();
                    quoted = true;
                    let mut closed = false;
                    while let Some((_, q)) = it.next() {
                        match q {
                            '"' => {
                                closed = true;
                                break;
                            }
                            '\\' => {
                                if !push_escape(&mut it, &mut word) {
                                    break;
                                }
                            }
                            other => word.push(other),
                        }
                    }
                    if !closed {
                        return Err(SyntaxError::UnterminatedQuote {
                            span: span_at(start_col),
                        });
                    }
                }
                '$' if text[pos_of(&mut it, text)..].starts_with("${") => {
                    // An unresolved `${NAME}` stays one word instead of
                    // opening a block (keepalived promises to leave it as is).
                    let from = pos_of(&mut it, text);
                    let inner = &text[from + 2..];
                    let len = inner
                        .find(|ch: char| {
                            !(ch.is_ascii_alphanumeric() || ch == '_' || ch == ' ' || ch == '\t')
                        })
                        .filter(|&e| {
                            e > 0
                                && inner[e..].starts_with('}')
                                && !inner[..e].contains([' ', '\t'])
                        });
                    match len {
                        Some(e) => {
                            word.push_str(&text[from..from + 2 + e + 1]);
                            while it.peek().is_some_and(|&(p, _)| p < from + 2 + e + 1) {
                                it.next();
                            }
                        }
                        None => {
                            it.next();
                            word.push('$');
                        }
                    }
                }
                '\\' => {
                    it.next();
                    match it.peek() {
                        Some(&(_, n @ ('"' | '#' | '!'))) => {
                            it.next();
                            word.push(n);
                        }
                        _ => word.push('\\'),
                    }
                }
                other => {
                    it.next();
                    word.push(other);
                }
            }
        }
        out.push(Tok::Word(Word {
            text: word,
            quoted,
            span: span_at(start_col),
        }));
    }
    Ok(())
}

/// Default limit on `{` nesting: keepalived's deepest real blocks are about
/// five levels, and a bound keeps hostile input from building a tree whose
/// recursive drop could exhaust the stack.
pub const DEFAULT_MAX_BLOCK_DEPTH: usize = 128;

/// Assembles statements and blocks from a token stream.
pub(crate) fn build_tree(toks: Vec<Tok>, max_depth: usize) -> Result<Vec<Node>, SyntaxError> {
    // Each level: (children collected so far, statement that owns them).
    let mut stack: Vec<(Vec<Node>, Option<Node>)> = vec![(Vec::new(), None)];
    let mut cur: Option<Node> = None;
    fn flush(cur: &mut Option<Node>, stack: &mut [(Vec<Node>, Option<Node>)]) {
        if let Some(n) = cur.take()
            && let Some(top) = stack.last_mut()
        {
            top.0.push(n);
        }
    }
    for t in toks {
        match t {
            Tok::Word(w) => match cur.as_mut() {
                Some(n) => n.args.push(w),
                None => {
                    cur = Some(Node {
                        keyword: w,
                        args: Vec::new(),
                        block: None,
                    })
                }
            },
            Tok::Eol => flush(&mut cur, &mut stack),
            Tok::Open(span) => {
                let owner = match cur.take() {
                    Some(n) => n,
                    // `{` on its own line belongs to the statement just before.
                    None => match stack.last_mut() {
                        Some((children, _))
                            if children.last().is_some_and(|n| n.block.is_none()) =>
                        {
                            match children.pop() {
                                Some(n) => n,
                                None => return Err(SyntaxError::OrphanBlock { span }),
                            }
                        }
                        _ => return Err(SyntaxError::OrphanBlock { span }),
                    },
                };
                if stack.len() > max_depth {
                    return Err(SyntaxError::TooDeep {
                        span: owner.keyword.span.clone(),
                        keyword: owner.keyword.text.clone(),
                        limit: max_depth,
                    });
                }
                stack.push((Vec::new(), Some(owner)));
            }
            Tok::Close(span) => {
                flush(&mut cur, &mut stack);
                if stack.len() < 2 {
                    return Err(SyntaxError::UnexpectedClose { span });
                }
                if let Some((children, Some(mut owner))) = stack.pop() {
                    owner.block = Some(children);
                    if let Some(top) = stack.last_mut() {
                        top.0.push(owner);
                    }
                }
            }
        }
    }
    flush(&mut cur, &mut stack);
    if stack.len() > 1 {
        // Report the innermost unclosed block: that is where a brace is missing.
        if let Some((_, Some(owner))) = stack.pop() {
            return Err(SyntaxError::Unclosed {
                span: owner.keyword.span,
                keyword: owner.keyword.text,
            });
        }
    }
    Ok(stack.pop().map(|(c, _)| c).unwrap_or_default())
}

/// Parses `src` (named `file` in diagnostics) into statements, with the full
/// preprocessor but no file access (an `include` finds nothing) and default
/// options. Use [`crate::load_file`] / [`crate::load_str`] for real configs.
pub fn parse_str(src: &str, file: impl Into<PathBuf>) -> Result<Vec<Node>, SyntaxError> {
    let file = file.into();
    let opts = crate::preprocess::PreprocessOptions::default();
    match crate::preprocess::load_str(src, &file, &crate::source::MemSource::new(), &opts) {
        Ok(p) => Ok(p.nodes),
        Err(crate::preprocess::ConfigError::Syntax(e)) => Err(e),
        Err(e) => Err(SyntaxError::Preprocess(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        tokenize_line(line, &Arc::new(PathBuf::from("t")), 1, &mut out).unwrap();
        out.into_iter()
            .map(|t| match t {
                Tok::Word(w) => w.text,
                Tok::Open(_) => "{".into(),
                Tok::Close(_) => "}".into(),
                Tok::Eol => "EOL".into(),
            })
            .collect()
    }

    #[test]
    fn one_line_block() {
        let n = parse_str("vrrp_instance VI_1 { state MASTER\n priority 100 }", "t").unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].args[0].text, "VI_1");
        let c = n[0].children();
        assert_eq!(c[0].name(), "state");
        assert_eq!(c[1].name(), "priority");
    }

    #[test]
    fn braces_split_words_without_spaces() {
        assert_eq!(words("a b{c d}e"), ["a", "b", "{", "c", "d", "}", "e"]);
    }

    #[test]
    fn shell_like_concatenation_and_escapes() {
        assert_eq!(words(r#"abcd" efg h jkl "mnop"#), ["abcd efg h jkl mnop"]);
        assert_eq!(words(r#""a\tb\x41\101\cA\q\"""#), ["a\tbAA\x01q\""]);
        assert_eq!(words(r#""{ # ! }""#), ["{ # ! }"]);
        assert_eq!(words(r"a\b c\#"), [r"a\b", "c#"]);
    }

    #[test]
    fn decomment_respects_quotes_and_escapes() {
        assert_eq!(decomment("a \"b # c\" # d"), ("a \"b # c\"".into(), false));
        assert_eq!(decomment("a ! b"), ("a".into(), false));
        assert_eq!(decomment(r"a \# b"), ("a # b".into(), false));
        assert_eq!(decomment("  $X=a \\"), ("  $X=a ".trim_end().into(), true));
    }
}
