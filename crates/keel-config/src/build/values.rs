//! Value parsers shared by the block builders. Each reports a bad value as
//! an error naming the keyword and returns `None`, so the caller keeps the
//! default (as keepalived does after logging).

use super::Stmt;
use crate::ast::Word;
use crate::diag::Diagnostics;
use crate::model::Script;
use std::net::IpAddr;
use std::time::Duration;

/// Parse a decimal number of seconds with up to microsecond resolution
/// (`1`, `0.5`, `4.12`), as keepalived's timers are written.
pub(crate) fn parse_secs(text: &str) -> Option<Duration> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 6
    {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let micros: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    Some(Duration::from_secs(secs) + Duration::from_micros(u64::from(micros)))
}

/// keepalived's booleans; a missing value means "on".
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

impl Stmt {
    /// Integer argument `i` in `min..=max`.
    pub fn int(&self, i: usize, min: i64, max: i64, diags: &mut Diagnostics) -> Option<i64> {
        let text = self.arg(i)?;
        match text.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                self.error(
                    diags,
                    format!("invalid value '{text}': expected an integer in {min}..={max}"),
                );
                None
            }
        }
    }

    pub fn uint<T: TryFrom<i64>>(
        &self,
        i: usize,
        min: i64,
        max: i64,
        diags: &mut Diagnostics,
    ) -> Option<T> {
        self.int(i, min, max, diags)
            .and_then(|v| T::try_from(v).ok())
    }

    /// Decimal seconds argument `i` in `min..=max`.
    pub fn secs(
        &self,
        i: usize,
        min: Duration,
        max: Duration,
        diags: &mut Diagnostics,
    ) -> Option<Duration> {
        let text = self.arg(i)?;
        match parse_secs(text) {
            Some(d) if d >= min && d <= max => Some(d),
            _ => {
                self.error(
                    diags,
                    format!(
                        "invalid time '{text}': expected seconds in {}..={}",
                        min.as_secs_f64(),
                        max.as_secs_f64()
                    ),
                );
                None
            }
        }
    }

    /// Seconds with keepalived's usual limits for timers (up to a day).
    pub fn timer(&self, i: usize, diags: &mut Diagnostics) -> Option<Duration> {
        self.secs(i, Duration::ZERO, Duration::from_secs(86_400 * 365), diags)
    }

    /// A timer that must be positive.
    pub fn timer_pos(&self, i: usize, diags: &mut Diagnostics) -> Option<Duration> {
        self.secs(
            i,
            Duration::from_micros(1),
            Duration::from_secs(86_400 * 365),
            diags,
        )
    }

    /// Optional boolean argument `i`: absent means true.
    pub fn flag(&self, i: usize, diags: &mut Diagnostics) -> Option<bool> {
        match self.arg(i) {
            None => Some(true),
            Some(t) => match parse_bool(t) {
                Some(b) => Some(b),
                None => {
                    self.error(
                        diags,
                        format!("invalid value '{t}': expected on/off, true/false or yes/no"),
                    );
                    None
                }
            },
        }
    }

    pub fn ip(&self, i: usize, diags: &mut Diagnostics) -> Option<IpAddr> {
        let text = self.arg(i)?;
        match text.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(diags, format!("invalid IP address '{text}'"));
                None
            }
        }
    }

    pub fn string(&self, i: usize) -> Option<String> {
        self.arg(i).map(str::to_string)
    }

    /// `KEYWORD COMMAND [user [group]]` as keepalived's notify scripts are
    /// written: the command is one word (quote it when it has spaces).
    pub fn script(&self) -> Option<Script> {
        let command = self.string(0)?;
        let (user, group) = user_group(&self.args[1..]);
        Some(Script {
            command,
            user,
            group,
        })
    }

    /// `script` / `misc_path`: every word is part of the command (user and
    /// group come from a separate `user` keyword). Several words are joined
    /// back into one command line, quoting those that hold blanks, so the
    /// runner's shell-like split gives keepalived's argv.
    pub fn command_line(&self) -> Option<Script> {
        if self.args.len() == 1 {
            return self.script();
        }
        let words: Vec<String> = self
            .args
            .iter()
            .map(|w| {
                if w.text.is_empty() || w.text.contains(char::is_whitespace) {
                    format!("\"{}\"", w.text.replace('\\', "\\\\").replace('"', "\\\""))
                } else {
                    w.text.clone()
                }
            })
            .collect();
        (!words.is_empty()).then(|| Script {
            command: words.join(" "),
            user: None,
            group: None,
        })
    }

    /// `weight N [reverse|noreverse]` with `N` in `-lim..=lim`.
    pub fn weight(&self, lim: i64, diags: &mut Diagnostics) -> Option<(i64, bool)> {
        let w = self.int(0, -lim, lim, diags)?;
        let reverse = match self.arg(1) {
            None | Some("noreverse") => false,
            Some("reverse") => true,
            Some(other) => {
                self.error(
                    diags,
                    format!("unknown weight option '{other}': expected 'reverse'"),
                );
                return None;
            }
        };
        Some((w, reverse))
    }
}

/// `user [group]` or `user:group`.
pub(crate) fn user_group(words: &[Word]) -> (Option<String>, Option<String>) {
    let user = words.first().map(|w| w.text.clone());
    let group = words
        .get(1)
        .map(|w| w.text.trim_start_matches(':').to_string());
    match (user, group) {
        (Some(u), None) => match u.split_once(':') {
            Some((u, g)) if !g.is_empty() => (Some(u.to_string()), Some(g.to_string())),
            Some((u, _)) => (Some(u.to_string()), None),
            None => (Some(u), None),
        },
        (u, g) => (u, g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_secs("0.01"), Some(Duration::from_millis(10)));
        assert_eq!(parse_secs("4.12"), Some(Duration::from_millis(4120)));
        assert_eq!(parse_secs(".5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_secs("-1"), None);
        assert_eq!(parse_secs("1.0000001"), None);
        assert_eq!(parse_secs("abc"), None);
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
