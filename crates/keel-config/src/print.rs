//! Canonical keepalived.conf text for a [`Config`].
//!
//! The output is plain keepalived syntax (one statement per line, four-space
//! indentation, scripts always quoted) that keepalived and keel both read
//! back to the same model: `build(parse(to_keepalived_conf(c))) == c`.
//! Values keel derives (defaults, inherited global settings) are written
//! only where they differ from what would be derived again.

use crate::keywords::{self, Ctx};
use crate::model::*;
use std::fmt::Write as _;
use std::time::Duration;

mod global_defs;
mod lvs;
mod vrrp;

use lvs::vsg_words;
use vrrp::{route_words, rule_words, vip_words};

/// Write `cfg` as keepalived.conf text.
pub fn to_keepalived_conf(cfg: &Config) -> String {
    let mut p = Printer::default();
    p.global_defs(&cfg.global_defs);
    for s in &cfg.vrrp_scripts {
        p.vrrp_script(s);
    }
    for t in &cfg.track_files {
        p.track_file(t);
    }
    for t in &cfg.track_processes {
        p.track_process(t);
    }
    for t in &cfg.track_groups {
        p.open(Ctx::Top, "track_group", std::slice::from_ref(&t.name));
        p.list("group", t.group.iter().map(|g| vec![g.clone()]));
        p.close();
    }
    for b in &cfg.bfd_instances {
        p.bfd(b);
    }
    for g in &cfg.garp_groups {
        p.open(Ctx::Top, "garp_group", &[]);
        if let Some(t) = g.garp_interval {
            p.line(Ctx::GarpGroup, "garp_interval", &[secs(t)]);
        }
        if let Some(t) = g.gna_interval {
            p.line(Ctx::GarpGroup, "gna_interval", &[secs(t)]);
        }
        p.list("interfaces", g.interfaces.iter().map(|i| vec![i.clone()]));
        p.close();
    }
    if !cfg.linkbeat_interfaces.is_empty() {
        p.list(
            "linkbeat_interfaces",
            cfg.linkbeat_interfaces.iter().map(|l| {
                std::iter::once(l.interface.clone())
                    .chain(l.kind.clone())
                    .collect()
            }),
        );
    }
    if !cfg.interface_up_down_delays.is_empty() {
        p.list(
            "interface_up_down_delays",
            cfg.interface_up_down_delays
                .iter()
                .map(|l| vec![l.interface.clone(), secs(l.down), secs(l.up)]),
        );
    }
    if !cfg.static_ipaddress.is_empty() {
        p.list(
            "static_ipaddress",
            cfg.static_ipaddress.iter().map(vip_words),
        );
    }
    if !cfg.static_routes.is_empty() {
        p.list("static_routes", cfg.static_routes.iter().map(route_words));
    }
    if !cfg.static_rules.is_empty() {
        p.list("static_rules", cfg.static_rules.iter().map(rule_words));
    }
    for vi in &cfg.vrrp_instances {
        p.vrrp_instance(vi, &cfg.global_defs);
    }
    for g in &cfg.sync_groups {
        p.sync_group(g);
    }
    if let Some(s) = &cfg.ssl {
        p.open(Ctx::Top, "SSL", &[]);
        for (k, v) in [
            ("password", &s.password),
            ("ca", &s.ca),
            ("certificate", &s.certificate),
            ("key", &s.key),
        ] {
            if let Some(v) = v {
                p.line(Ctx::Ssl, k, std::slice::from_ref(v));
            }
        }
        p.close();
    }
    for g in &cfg.virtual_server_groups {
        p.list_named(
            "virtual_server_group",
            &g.name,
            g.entries.iter().map(vsg_words),
        );
    }
    for vs in &cfg.virtual_servers {
        p.virtual_server(vs);
    }
    for r in &cfg.other {
        p.raw(Ctx::Top, r);
    }
    p.out
}

#[derive(Default)]
struct Printer {
    out: String,
    depth: usize,
}

/// Seconds as keepalived writes timers: `1`, `0.5`, `0.01`.
fn secs(d: Duration) -> String {
    let micros = d.as_micros();
    let whole = micros / 1_000_000;
    let frac = micros % 1_000_000;
    if frac == 0 {
        whole.to_string()
    } else {
        let f = format!("{frac:06}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
}

fn needs_quotes(w: &str) -> bool {
    w.is_empty()
        || w.chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '{' | '}' | '#' | '!' | '\\' | '$'))
}

fn quote(w: &str) -> String {
    let mut s = String::with_capacity(w.len() + 2);
    s.push('"');
    for c in w.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            _ => s.push(c),
        }
    }
    s.push('"');
    s
}

fn b2s(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

impl Printer {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
    }

    /// Words of a statement; an argument that is itself a keyword of `ctx`
    /// is quoted so it cannot be read back as a new statement.
    fn words(&mut self, ctx: Ctx, kw: &str, args: &[String]) {
        self.indent();
        self.out.push_str(kw);
        for a in args {
            self.out.push(' ');
            if needs_quotes(a) || keywords::lookup(ctx, a).is_some() {
                self.out.push_str(&quote(a));
            } else {
                self.out.push_str(a);
            }
        }
    }

    fn line(&mut self, ctx: Ctx, kw: &str, args: &[String]) {
        self.words(ctx, kw, args);
        self.out.push('\n');
    }

    fn flag(&mut self, ctx: Ctx, kw: &str, on: bool) {
        if on {
            self.line(ctx, kw, &[]);
        }
    }

    fn opt(&mut self, ctx: Ctx, kw: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.line(ctx, kw, std::slice::from_ref(v));
        }
    }

    fn opt_bool(&mut self, ctx: Ctx, kw: &str, v: Option<bool>) {
        if let Some(v) = v {
            self.line(ctx, kw, &[b2s(v)]);
        }
    }

    fn open(&mut self, ctx: Ctx, kw: &str, args: &[String]) {
        self.words(ctx, kw, args);
        self.out.push_str(" {\n");
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str("}\n");
        if self.depth == 0 {
            self.out.push('\n');
        }
    }

    fn list_named(&mut self, kw: &str, name: &str, lines: impl Iterator<Item = Vec<String>>) {
        self.open(Ctx::Top, kw, &[name.to_string()]);
        for l in lines {
            if let Some((first, rest)) = l.split_first() {
                let head = if needs_quotes(first) {
                    quote(first)
                } else {
                    first.clone()
                };
                self.line(Ctx::List, &head, rest);
            }
        }
        self.close();
    }

    /// A data block (addresses, names, routes): one entry per line.
    fn list(&mut self, kw: &str, lines: impl Iterator<Item = Vec<String>>) {
        self.open(Ctx::Top, kw, &[]);
        for l in lines {
            if let Some((first, rest)) = l.split_first() {
                let head = if needs_quotes(first) {
                    quote(first)
                } else {
                    first.clone()
                };
                self.line(Ctx::List, &head, rest);
            }
        }
        self.close();
    }

    fn script(&mut self, kw: &str, s: &Option<Script>) {
        if let Some(s) = s {
            self.indent();
            self.out.push_str(kw);
            if !s.command.is_empty() {
                self.out.push(' ');
                self.out.push_str(&quote(&s.command));
            }
            if let Some(u) = &s.user {
                let _ = write!(self.out, " {}", quote(u));
                if let Some(g) = &s.group {
                    let _ = write!(self.out, " {}", quote(g));
                }
            }
            self.out.push('\n');
        }
    }

    fn raw(&mut self, ctx: Ctx, r: &RawStatement) {
        match &r.block {
            Some(children) => {
                self.open(ctx, &r.keyword, &r.args);
                // A raw block's own keywords are unknown to keel: no context.
                for c in children {
                    self.raw(Ctx::List, c);
                }
                self.close();
            }
            None => self.line(ctx, &r.keyword, &r.args),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_format() {
        assert_eq!(secs(Duration::from_secs(60)), "60");
        assert_eq!(secs(Duration::from_millis(10)), "0.01");
        assert_eq!(secs(Duration::from_micros(1_500_001)), "1.500001");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert!(needs_quotes("[[ -f /x ]] && exit 1"));
        assert!(!needs_quotes("/bin/true"));
    }
}
