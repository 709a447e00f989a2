//! Cross-keyword consistency rules keepalived applies through its
//! config-error path: `keepalived -t` exits 5 on each while the daemon runs
//! with the value corrected, and so does `keel check`.

use super::Stmt;
use crate::ast::Span;
use crate::diag::Diagnostics;
use crate::model::{Config, VrrpInstance};
use std::collections::HashMap;

/// Unicast settings keepalived corrects through its config-error path.
pub(super) fn unicast(
    vi: &mut VrrpInstance,
    unicast_block: bool,
    block: &Stmt,
    d: &mut Diagnostics,
) {
    if vi.unicast_peer.is_empty() {
        if unicast_block || vi.unicast_src_ip.is_some() || vi.unicast_ttl.is_some() {
            block.error(
                d,
                "A unicast keyword has been specified without any unicast peers. Defaulting to multicast.",
            );
        }
    } else if vi.use_vmac.is_some() && !vi.vmac_xmit_base {
        // Unicast adverts from a VMAC would carry the virtual MAC.
        block.error(d, "unicast with use_vmac requires vmac_xmit_base - setting");
        vi.vmac_xmit_base = true;
    }
}

/// keepalived already tracks an instance's own interface: a
/// `track_interface` naming it is dropped through the config-error path.
pub(super) fn own_interface_tracked(vi: &mut VrrpInstance, sp: Option<Span>, d: &mut Diagnostics) {
    let Some(own) = vi.interface.clone() else {
        return;
    };
    let name = vi.name.clone();
    vi.track.interfaces.retain(|t| {
        if t.name != own {
            return true;
        }
        if let Some(sp) = &sp {
            d.error(
                sp,
                "track_interface",
                format!("({name}) Ignoring track_interface {own} since own interface"),
            );
        }
        false
    });
}

/// One VMAC interface per instance: keepalived drops a reused name
/// through its config-error path.
pub(super) fn vmac_names_unique(
    cfg: &Config,
    span_of: &dyn Fn(&str, &str) -> Option<Span>,
    d: &mut Diagnostics,
) {
    let mut vmacs: HashMap<String, String> = HashMap::new();
    for vi in &cfg.vrrp_instances {
        let Some(name) = vi.use_vmac.as_ref().and_then(|v| v.name.clone()) else {
            continue;
        };
        if let Some(prev) = vmacs.insert(name.clone(), vi.name.clone())
            && let Some(sp) = span_of("vrrp_instance", &vi.name)
        {
            d.error(
                &sp,
                "use_vmac",
                format!(
                    "({}) VRRP instance {prev} is already using {name} - ignoring name",
                    vi.name
                ),
            );
        }
    }
}
