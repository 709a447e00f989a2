//! Minimal statement lexer (to be replaced by the full preprocessor).
//!
//! A statement is the words of one logical line; `{` opens a block for the
//! statement before it, `}` closes it. `#` and `!` start comments.

use crate::ast::{Node, Span, Word};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SyntaxError {
    #[error("{span}: unexpected '}}' with no open block")]
    UnexpectedClose { span: Span },
    #[error("{span}: block opened here is never closed")]
    Unclosed { span: Span },
    #[error("{span}: unterminated quoted string")]
    UnterminatedQuote { span: Span },
    #[error("{span}: '{{' with no keyword before it")]
    OrphanBlock { span: Span },
}

#[derive(Debug)]
enum Tok {
    Word(Word),
    Open(Span),
    Close(Span),
    Eol,
}

fn tokenize(src: &str, file: &Arc<PathBuf>) -> Result<Vec<Tok>, SyntaxError> {
    let mut out = Vec::new();
    for (lineno, line) in src.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        let span_at = |i: usize| Span {
            file: file.clone(),
            line: lineno as u32 + 1,
            col: i as u32 + 1,
        };
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
            } else if c == '#' || c == '!' {
                break;
            } else if c == '{' {
                out.push(Tok::Open(span_at(i)));
                i += 1;
            } else if c == '}' {
                out.push(Tok::Close(span_at(i)));
                i += 1;
            } else if c == '"' {
                let start = i;
                i += 1;
                let mut text = String::new();
                let mut closed = false;
                while i < chars.len() {
                    match chars[i] {
                        '\\' if i + 1 < chars.len() => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        '"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        ch => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                if !closed {
                    return Err(SyntaxError::UnterminatedQuote {
                        span: span_at(start),
                    });
                }
                out.push(Tok::Word(Word {
                    text,
                    quoted: true,
                    span: span_at(start),
                }));
            } else {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '{' | '}' | '"')
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Tok::Word(Word {
                    text,
                    quoted: false,
                    span: span_at(start),
                }));
            }
        }
        out.push(Tok::Eol);
    }
    Ok(out)
}

/// Parse `src` (named `file` in diagnostics) into statements.
pub fn parse_str(src: &str, file: impl Into<PathBuf>) -> Result<Vec<Node>, SyntaxError> {
    let file = Arc::new(file.into());
    let toks = tokenize(src, &file)?;
    // Stack of (children being collected, the statement that owns them).
    let mut stack: Vec<(Vec<Node>, Option<Node>)> = vec![(Vec::new(), None)];
    let mut cur: Option<Node> = None;
    let flush = |cur: &mut Option<Node>, stack: &mut Vec<(Vec<Node>, Option<Node>)>| {
        if let Some(n) = cur.take()
            && let Some(top) = stack.last_mut()
        {
            top.0.push(n);
        }
    };
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
            Tok::Open(span) => match cur.take() {
                Some(n) => stack.push((Vec::new(), Some(n))),
                None => return Err(SyntaxError::OrphanBlock { span }),
            },
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
        if let Some((_, Some(owner))) = stack.pop() {
            return Err(SyntaxError::Unclosed {
                span: owner.keyword.span,
            });
        }
    }
    Ok(stack.pop().map(|(c, _)| c).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_block() {
        let n = parse_str("vrrp_instance VI_1 { state MASTER\n priority 100 }", "t").unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].args[0].text, "VI_1");
        let c = n[0].children();
        assert_eq!(c[0].name(), "state");
        assert_eq!(c[1].name(), "priority");
    }
}
