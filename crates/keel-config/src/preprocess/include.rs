//! A fully processed logical line: tokens for the tree, or `include`.

use super::syntax::*;
use super::*;

impl Pre<'_> {
    /// A fully processed logical line: an include, or tokens for the tree.
    pub(super) fn emit(&mut self, text: &str, origin: &Origin) -> Result<(), ConfigError> {
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

    pub(super) fn emit_tokens(&mut self, text: &str, origin: &Origin) -> Result<(), ConfigError> {
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

    pub(super) fn include(
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

    pub(super) fn include_one(
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
