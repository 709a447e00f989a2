//! Macro replacement, the `${_...}` built-ins and the `~SEQ`/`~LST` generators.

use super::syntax::*;
use super::*;

impl Pre<'_> {
    /// Replaces macro uses in `s`, appending to `out`. Returns the multi-line
    /// macro that ends the line, if any (its first line is not yet appended).
    pub(super) fn expand(
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
    pub(super) fn builtin(&mut self, u: &Use<'_>, origin: &Origin, col: usize) -> Option<String> {
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

    pub(super) fn next_random(&mut self) -> u64 {
        // splitmix64: small, seedable, and good enough for spreading timers.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `~SEQ(...)`, `~SEQx(...)` or `~LST(...)` at `text[start..]`.
    pub(super) fn generator(
        &mut self,
        text: &str,
        start: usize,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
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
}
