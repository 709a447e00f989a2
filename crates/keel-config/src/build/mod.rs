//! From the statement tree ([`Node`]s) to the typed [`Config`].
//!
//! keepalived logs configuration mistakes and carries on; so does the
//! builder: every problem becomes a [`Diagnostic`](crate::diag::Diagnostic)
//! naming file, line and keyword, and the rest of the file still loads.
//!
//! The generic part ([`normalize`]) is driven by [`crate::keywords`]: it
//! reports unknown keywords (with a suggestion), checks arity, resolves
//! aliases, and splits statements written on one line. The per-block
//! builders then only interpret values.

mod consistency;
mod global;
mod lvs;
mod net;
mod values;
mod vrrp;

use crate::ast::{Node, Span, Word};
use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::keywords::{self, Ctx, KwKind, MANY};
use crate::model::{Config, RawStatement};
use std::collections::VecDeque;

pub(crate) use values::*;

/// One statement after normalisation.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    /// Canonical keyword (aliases resolved).
    pub kw: &'static str,
    /// The keyword as written, for spans and messages.
    pub word: Word,
    pub args: Vec<Word>,
    pub block: Option<Vec<Node>>,
}

impl Stmt {
    pub fn span(&self) -> &Span {
        &self.word.span
    }
    /// The keyword as the user wrote it.
    pub fn name(&self) -> &str {
        &self.word.text
    }
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|w| w.text.as_str())
    }
    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or(&[])
    }
    pub fn error(&self, diags: &mut Diagnostics, msg: impl Into<String>) {
        diags.error(self.span(), self.name(), msg);
    }
    pub fn warn(&self, diags: &mut Diagnostics, msg: impl Into<String>) {
        diags.warn(self.span(), self.name(), msg);
    }
    /// The statement kept verbatim (for `other` lists).
    pub fn raw(&self) -> RawStatement {
        RawStatement {
            keyword: self.word.text.clone(),
            args: self.args.iter().map(|w| w.text.clone()).collect(),
            block: self
                .block
                .as_ref()
                .map(|b| b.iter().map(raw_node).collect()),
        }
    }
}

pub(crate) fn raw_node(n: &Node) -> RawStatement {
    RawStatement {
        keyword: n.keyword.text.clone(),
        args: n.args.iter().map(|w| w.text.clone()).collect(),
        block: n.block.as_ref().map(|b| b.iter().map(raw_node).collect()),
    }
}

/// Check `nodes` against the keyword table of `ctx`: report unknown and
/// obsolete keywords, split one-line statements, check arity and blocks.
/// Statements that cannot be used are dropped (after a diagnostic).
pub(crate) fn normalize(ctx: Ctx, nodes: &[Node], diags: &mut Diagnostics) -> Vec<Stmt> {
    let mut out = Vec::new();
    let mut queue: VecDeque<Node> = nodes.iter().cloned().collect();
    while let Some(node) = queue.pop_front() {
        let name = node.keyword.text.as_str();
        let Some(kw) = keywords::lookup(ctx, name).filter(|_| !node.keyword.quoted) else {
            // keepalived's `-t` counts an unknown keyword as a configuration
            // error (exit 5) while its daemon runs without the line: so
            // does keel.
            diags.push(Diagnostic {
                severity: Severity::Error,
                span: node.keyword.span.clone(),
                keyword: name.to_string(),
                message: format!("unknown keyword in {}; ignored", ctx_name(ctx)),
                suggestion: keywords::suggest(ctx, name).map(str::to_string),
            });
            continue;
        };
        let Node {
            keyword,
            mut args,
            mut block,
        } = node;
        // A word at or after the minimum arity that is itself a keyword of
        // this block starts the next statement: keepalived users paste
        // `auth_type PASS auth_pass 1234` on one line.
        let split_at = (usize::from(kw.min)..args.len())
            .find(|&i| !args[i].quoted && keywords::lookup(ctx, &args[i].text).is_some());
        if let Some(i) = split_at {
            let mut rest = args.split_off(i);
            let next_kw = rest.remove(0);
            queue.push_front(Node {
                keyword: next_kw,
                args: rest,
                block: block.take(),
            });
        }
        let max = if kw.max == MANY {
            usize::MAX
        } else {
            usize::from(kw.max)
        };
        let shown = keyword.text.clone();
        if args.len() < usize::from(kw.min) {
            diags.error(
                &keyword.span,
                &shown,
                format!("missing value: takes at least {} argument(s)", kw.min),
            );
            continue;
        }
        if args.len() > max {
            let extra = &args[max];
            diags.error(
                &extra.span,
                &shown,
                format!(
                    "too many arguments: takes at most {max}, unexpected '{}'",
                    extra.text
                ),
            );
            continue;
        }
        match (kw.block, &block) {
            (Some(_), None) => {
                diags.error(&keyword.span, &shown, "expects a '{ ... }' block");
                continue;
            }
            (None, Some(_)) => {
                diags.error(
                    &keyword.span,
                    &shown,
                    "takes no '{ ... }' block; block ignored",
                );
                block = None;
            }
            _ => {}
        }
        if let KwKind::Obsolete(why) = kw.kind {
            diags.warn(&keyword.span, &shown, why);
            continue;
        }
        if keywords::not_implemented(ctx, keywords::canonical(kw)) {
            diags.not_implemented(&keyword.span, keywords::canonical(kw));
        }
        out.push(Stmt {
            kw: keywords::canonical(kw),
            word: keyword,
            args,
            block,
        });
    }
    out
}

fn ctx_name(ctx: Ctx) -> &'static str {
    match ctx {
        Ctx::Top => "top level",
        Ctx::GlobalDefs => "global_defs",
        Ctx::VrrpScript => "vrrp_script",
        Ctx::TrackFile => "track_file",
        Ctx::TrackProcess => "vrrp_track_process",
        Ctx::TrackGroup => "track_group",
        Ctx::SyncGroup => "vrrp_sync_group",
        Ctx::GarpGroup => "garp_group",
        Ctx::VrrpInstance => "vrrp_instance",
        Ctx::Authentication => "authentication",
        Ctx::AuthHmac => "auth_hmac",
        Ctx::Bfd => "bfd_instance",
        Ctx::Ssl => "SSL",
        Ctx::VirtualServer => "virtual_server",
        Ctx::RealServer => "real_server",
        Ctx::HttpCheck => "HTTP_GET/SSL_GET",
        Ctx::Url => "url",
        Ctx::TcpCheck => "TCP_CHECK",
        Ctx::SmtpCheck => "SMTP_CHECK",
        Ctx::SmtpHost => "host",
        Ctx::DnsCheck => "DNS_CHECK",
        Ctx::MiscCheck => "MISC_CHECK",
        Ctx::UdpCheck => "UDP_CHECK",
        Ctx::PingCheck => "PING_CHECK",
        Ctx::FileCheck => "FILE_CHECK",
        Ctx::BfdCheck => "BFD_CHECK",
        Ctx::List => "list",
    }
}

/// The words of each line of a data block (`virtual_ipaddress { ... }`),
/// keyword first. Nested blocks in a data block are reported and skipped.
pub(crate) fn list_lines(st: &Stmt, diags: &mut Diagnostics) -> Vec<Vec<Word>> {
    let mut out = Vec::new();
    for n in st.children() {
        if n.block.is_some() {
            diags.error(
                n.span(),
                n.name(),
                format!("unexpected '{{ ... }}' block inside {}", st.name()),
            );
            continue;
        }
        let mut line = vec![n.keyword.clone()];
        line.extend(n.args.iter().cloned());
        out.push(line);
    }
    out
}

/// Build the model from a statement tree.
///
/// Never fails: problems are added to `diags` (see
/// [`Diagnostics::has_errors`]) and the offending statement is skipped or
/// given keepalived's fallback value.
pub fn build(nodes: &[Node], diags: &mut Diagnostics) -> Config {
    let top = normalize(Ctx::Top, nodes, diags);
    // global_defs first: instances inherit several of its settings wherever
    // the block appears in the file.
    let mut cfg = Config {
        global_defs: global::global_defs(top.iter().filter(|s| s.kw == "global_defs"), diags),
        ..Config::default()
    };
    let mut instances = Vec::new();
    let mut vs_spans = Vec::new();
    for st in &top {
        match st.kw {
            "global_defs" => {}
            "vrrp_script" => cfg.vrrp_scripts.push(vrrp::vrrp_script(st, diags)),
            "track_file" => cfg.track_files.push(vrrp::track_file(st, diags)),
            "vrrp_track_process" => cfg.track_processes.push(vrrp::track_process(st, diags)),
            "track_group" => cfg.track_groups.push(vrrp::track_group(st, diags)),
            "bfd_instance" => cfg.bfd_instances.push(global::bfd_instance(st, diags)),
            "vrrp_sync_group" => cfg.sync_groups.push(vrrp::sync_group(st, diags)),
            "garp_group" => cfg.garp_groups.push(vrrp::garp_group(st, diags)),
            "vrrp_instance" => instances.push(st),
            "static_ipaddress" => {
                for line in list_lines(st, diags) {
                    cfg.static_ipaddress.extend(net::vips(&line, true, diags));
                }
            }
            "static_routes" => {
                for line in list_lines(st, diags) {
                    cfg.static_routes.extend(net::route(&line, diags));
                }
            }
            "static_rules" => {
                for line in list_lines(st, diags) {
                    cfg.static_rules.extend(net::rule(&line, diags));
                }
            }
            "linkbeat_interfaces" => global::linkbeat(st, &mut cfg, diags),
            "interface_up_down_delays" => global::up_down_delays(st, &mut cfg, diags),
            "SSL" => cfg.ssl = Some(global::ssl(st, diags)),
            "virtual_server_group" => cfg.virtual_server_groups.push(lvs::vs_group(st, diags)),
            "virtual_server" => {
                if let Some(vs) = lvs::virtual_server(st, diags) {
                    vs_spans.push(st.span().clone());
                    cfg.virtual_servers.push(vs);
                }
            }
            _ => cfg.other.push(st.raw()),
        }
    }
    for st in instances {
        if let Some(vi) = vrrp::vrrp_instance(st, &cfg.global_defs, diags) {
            cfg.vrrp_instances.push(vi);
        }
    }
    vrrp::cross_check(&mut cfg, &top, diags);
    lvs::cross_check(&cfg, &vs_spans, diags);
    cfg
}

/// Preprocess `text` (named `name` in diagnostics; `include` finds nothing)
/// and build the model. Preprocessor diagnostics come first in the result.
pub fn from_str(
    text: &str,
    name: &str,
) -> Result<(Config, Diagnostics), crate::preprocess::ConfigError> {
    let parsed = crate::preprocess::load_str(
        text,
        std::path::Path::new(name),
        &crate::source::MemSource::new(),
        &crate::preprocess::PreprocessOptions::default(),
    )?;
    let mut diags = parsed.diagnostics;
    let cfg = build(&parsed.nodes, &mut diags);
    Ok((cfg, diags))
}

/// Read `path` (and its includes) through `src` and build the model.
pub fn load_config(
    path: &std::path::Path,
    src: &dyn crate::source::FileSource,
    opts: &crate::preprocess::PreprocessOptions,
) -> Result<(Config, Diagnostics), crate::preprocess::ConfigError> {
    let parsed = crate::preprocess::load_file(path, src, opts)?;
    let mut diags = parsed.diagnostics;
    let cfg = build(&parsed.nodes, &mut diags);
    Ok((cfg, diags))
}
