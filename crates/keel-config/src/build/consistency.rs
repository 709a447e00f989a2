//! Cross-keyword consistency rules keepalived applies through its
//! config-error path: `keepalived -t` exits 5 on each while the daemon runs
//! with the value corrected, and so does `keel check`.

use super::Stmt;
use crate::ast::Span;
use crate::diag::Diagnostics;
use crate::model::{Config, GlobalDefs, VrrpInstance};
use std::collections::HashMap;

/// `garp_master_repeat`: 0 is raised to 1 through the config-error path.
pub(super) fn garp_repeat(st: &Stmt, d: &mut Diagnostics) -> Option<u32> {
    let n: u32 = st.uint(0, 0, 65535, d)?;
    if n == 0 {
        st.error(d, "garp_master_repeat must be greater than 0, setting to 1");
    }
    Some(n.max(1))
}

/// One instance's settings keepalived corrects through its config-error
/// path.
pub(super) fn instance(
    vi: &mut VrrpInstance,
    has_interface: bool,
    unicast_block: bool,
    block: &Stmt,
    d: &mut Diagnostics,
) {
    if !has_interface {
        // keepalived: "Unknown interface!".
        block.error(d, "vrrp_instance has no interface");
    }
    if vi.promote_secondaries && vi.use_vmac.is_some() {
        block.error(
            d,
            "promote_secondaries is automatically set for vmacs - ignoring",
        );
    }
    // `no_virtual_ipaddress` says an instance without VIPs is meant.
    if vi.virtual_ipaddress.is_empty() && !vi.strict_mode && !vi.no_virtual_ipaddress {
        block.error(d, "No VIP specified; at least one is sensible");
    }
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

/// An empty `notification_email { }`.
pub(super) fn notification_email(st: &Stmt, g: &GlobalDefs, d: &mut Diagnostics) {
    if g.notification_email.is_empty() {
        st.error(d, "Warning - empty notification_email block");
    }
}

/// keel has no iptables, like Debian's keepalived build, which reports
/// these keywords through its config-error path.
pub(super) fn no_iptables(st: &Stmt, g: &mut GlobalDefs, d: &mut Diagnostics) {
    st.error(
        d,
        "iptables not supported, using nftables instead. Please replace 'vrrp_iptables' and 'vrrp_ipsets' with the 'nftables' option",
    );
    g.other.push(st.raw());
}

/// A sync group of one instance: keepalived's wording, through its
/// config-error path.
pub(super) fn one_member_group(sp: Option<&Span>, name: &str, d: &mut Diagnostics) {
    if let Some(sp) = sp {
        d.error(
            sp,
            "group",
            format!(
                "Sync group {name} has only 1 virtual router(s) - this probably isn't what you want"
            ),
        );
    }
}
