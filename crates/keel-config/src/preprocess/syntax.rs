//! Small parsers of the preprocessor's syntax: macro definitions and uses,
//! C numbers, brace and glob patterns, generator arguments.

use super::*;

pub(super) fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

pub(super) fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(super) fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `$NAME` at the start of `s` followed by optional blanks and `=`: returns
/// the name and the byte index just after `=`.
pub(super) fn parse_def_head(s: &str) -> Option<(&str, usize)> {
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
pub(super) struct Use<'s> {
    pub(super) name: &'s str,
    pub(super) params: Vec<&'s str>,
    pub(super) braced: bool,
    /// Byte index just after the use.
    pub(super) end: usize,
}

pub(super) fn parse_use(s: &str, at: usize) -> Option<Use<'_>> {
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
pub(super) fn parse_c_long(s: &str) -> Option<i64> {
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
pub(super) fn expand_braces(pattern: &str, limit: usize) -> Option<Vec<String>> {
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
pub(super) fn split_first_brace(p: &str) -> Option<(&str, Vec<&str>, &str)> {
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

pub(super) fn has_glob_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// `include`, or one of keepalived's `includer/m/w/b/a` variants.
pub(super) fn include_kind(word: &str) -> Option<IncludeKind> {
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
pub(super) struct PatternWord {
    pub(super) text: String,
    pub(super) col: usize,
    /// Byte offset of the word in the argument text.
    pub(super) at: usize,
    pub(super) quoted: bool,
}

pub(super) fn split_patterns(text: &str, base_col: usize) -> Vec<PatternWord> {
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

pub(super) fn first_word(text: &str) -> &str {
    text.split([' ', '\t'])
        .find(|w| !w.is_empty())
        .unwrap_or("")
}

pub(super) fn is_var_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_name_start(b[0]) && b.iter().all(|&c| is_name_char(c))
}

/// `var, [start,] [step,] end` as keepalived reads it.
pub(super) fn parse_seq(args: &str) -> Result<(String, i64, i64, i64), String> {
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
pub(super) fn parse_lst(args: &str) -> Result<LstSpec, String> {
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
