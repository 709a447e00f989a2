//! IPVS read-back: a netlink datagram as the kernel returns it to keel-ipvs
//! (framing, `NLMSG_ERROR` with extended ack, generic-netlink header,
//! nlctrl's family reply), each data message decoded as keel-ipvs's client
//! does (`IPVS_CMD_ATTR_SERVICE` / `_DEST` nests, info) and converted to
//! keel-lvs's table (`header_from_kernel`, `destination_from_kernel`).
//! Netlink replies come from the kernel, but a bad one must be an error,
//! never a panic in the daemon that holds the VIPs.
#![no_main]

use keel_ipvs::msg::{cmd_attr, decode_dest, decode_info, decode_service, find_attr};
use keel_ipvs::nl::{self, NLMSG_DONE, NLMSG_ERROR};
use keel_ipvs::{destination_from_kernel, header_from_kernel};
use keel_lvs::Family;
use libfuzzer_sys::fuzz_target;

fn data_message(attrs: &[u8]) {
    let _ = nl::family_id(attrs);
    let _ = decode_info(attrs);
    let svc = match find_attr(attrs, cmd_attr::SERVICE) {
        Ok(Some(nest)) => decode_service(nest.payload).ok(),
        _ => None,
    };
    if let Some(s) = &svc {
        let _ = header_from_kernel(s);
        let _ = s.netmask_prefix();
    }
    if let Ok(Some(nest)) = find_attr(attrs, cmd_attr::DEST) {
        for family in [Family::Inet, Family::Inet6] {
            if let (Ok(d), Some(s)) = (decode_dest(nest.payload, family), &svc) {
                let _ = destination_from_kernel(&s.key, &d);
            }
        }
    }
    for a in nl::attrs(attrs) {
        if a.is_err() {
            break;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    for m in nl::messages(data) {
        let Ok(m) = m else { break };
        match m.ty {
            NLMSG_ERROR => {
                if let Ok(e) = nl::error_msg(&m) {
                    let _ = e.error.saturating_neg();
                }
            }
            NLMSG_DONE => {}
            _ => {
                if let Ok(g) = nl::genl_body(m.payload) {
                    data_message(g.attrs);
                }
            }
        }
    }
});
