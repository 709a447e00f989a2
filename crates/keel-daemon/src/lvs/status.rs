//! `keel lvs`: the installed table read back from the data plane, with each
//! destination's health from the state file.

use std::path::Path;

use keel_lvs::{Backend, Table};
use keel_nft::{Nft, NftBackend};
use serde::Serialize;

use super::state::{LvsState, read_state, unix_now};
use super::{LvsError, NFTABLES};

fn ago(now: f64, at: f64) -> String {
    let s = (now - at).max(0.0);
    if s < 60.0 {
        format!("{s:.1}s ago")
    } else if s < 3600.0 {
        format!("{}m{}s ago", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h{}m ago",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

/// The health columns of one destination line.
fn health_text(
    state: &LvsState,
    svc: &keel_lvs::ServiceKey,
    d: &keel_lvs::Destination,
    now: f64,
) -> String {
    for vs in state
        .virtual_servers
        .iter()
        .filter(|v| v.services.contains(svc))
    {
        if let Some(rs) = vs
            .real_servers
            .iter()
            .find(|r| r.addr == d.addr && r.port == d.port)
        {
            let health = if rs.alive { "up" } else { "down" };
            return match rs.last() {
                Some(last) => format!(
                    "{health:<6} {:<12} {}",
                    ago(now, last.at),
                    if last.ok {
                        format!("ok: {}", last.detail)
                    } else {
                        format!("failed: {}", last.detail)
                    }
                ),
                None => format!("{health:<6} {:<12} not checked yet", "-"),
            };
        }
        if let Some(s) = &vs.sorry_server
            && s.addr == d.addr
            && s.port == d.port
        {
            return format!(
                "{:<6} {:<12} sorry server",
                if s.active { "sorry" } else { "-" },
                "-"
            );
        }
    }
    "-".to_string()
}

/// Width of ipvsadm's destination columns, after which `keel lvs` adds
/// its own (a full-width IPv6 destination line fits).
const DEST_WIDTH: usize = 75;

/// `ipvsadm -ln`'s listing of `table` with each destination's health,
/// time since its last check and that check's result appended.
pub fn format_status(table: &Table, state: &LvsState, now: f64) -> String {
    let table = keel_lvs::in_ipvsadm_order(table);
    let listing = keel_lvs::format_ipvsadm(&table);
    let mut lines = listing.lines();
    let mut out = String::new();
    for _ in 0..2 {
        if let Some(l) = lines.next() {
            out.push_str(l);
            out.push('\n');
        }
    }
    if let Some(l) = lines.next() {
        out.push_str(&format!("{l:<DEST_WIDTH$} Health LastCheck    Result\n"));
    }
    for svc in &table.services {
        if let Some(l) = lines.next() {
            out.push_str(l);
            out.push('\n');
        }
        for d in &svc.destinations {
            if let Some(l) = lines.next() {
                out.push_str(&format!(
                    "{l:<DEST_WIDTH$} {}\n",
                    health_text(state, &svc.key, d, now)
                ));
            }
        }
    }
    // Real servers out of the table (failed without inhibit_on_failure) are
    // not in the listing; they are the ones users look for.
    let mut missing = Vec::new();
    for vs in &state.virtual_servers {
        for rs in &vs.real_servers {
            let listed = vs.services.iter().any(|k| {
                table.service(k).is_some_and(|s| {
                    s.destinations
                        .iter()
                        .any(|d| d.addr == rs.addr && d.port == rs.port)
                })
            });
            if !listed {
                let last = match rs.last() {
                    Some(l) => format!(
                        "{} {}: {}",
                        ago(now, l.at),
                        if l.ok { "ok" } else { "failed" },
                        l.detail
                    ),
                    None => "not checked yet".to_string(),
                };
                missing.push(format!(
                    "  {} of VS {}: {} (not in the table), last check {last}\n",
                    rs.name,
                    vs.name,
                    if rs.alive { "up" } else { "down" }
                ));
            }
        }
    }
    if !missing.is_empty() {
        out.push_str("Real servers not in the table:\n");
        for m in missing {
            out.push_str(&m);
        }
    }
    if let Some(e) = &state.error {
        out.push_str(&format!("Last data plane error: {e}\n"));
    }
    out
}

/// What `keel lvs` prints: the installed table read back from the data
/// plane the daemon uses, with the health from the state file.
pub fn status(state_file: &Path, json: bool) -> Result<String, LvsError> {
    let state = read_state(state_file)?;
    let table = if state.data_plane == NFTABLES {
        let opts = keel_nft::Options {
            table: state.nft_table.clone(),
            ..keel_nft::Options::default()
        };
        NftBackend::new(Nft::default(), opts).read()?
    } else {
        keel_ipvs::IpvsBackend::open()
            .map_err(|e| LvsError::NoIpvs(e.to_string()))?
            .read()?
    };
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            table: &'a Table,
            state: &'a LvsState,
        }
        return serde_json::to_string_pretty(&Out {
            table: &table,
            state: &state,
        })
        .map(|s| s + "\n")
        .map_err(|source| LvsError::StateFormat {
            path: state_file.to_path_buf(),
            source,
        });
    }
    Ok(format_status(&table, &state, unix_now()))
}
