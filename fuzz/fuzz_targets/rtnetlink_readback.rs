//! rtnetlink read-back: a datagram of route-netlink messages as the kernel
//! sends them to keel-linux (address and link dumps, the link/address
//! monitor), parsed by netlink-packet-route as rtnetlink does, then turned
//! into keel's `AddressInfo` / `LinkInfo` (what the daemon trusts to decide
//! whether a VIP is present or an interface is up).
#![no_main]

use keel_linux::netlink::{AddressInfo, LinkInfo};
use libfuzzer_sys::fuzz_target;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;

fn translate(msg: &RouteNetlinkMessage) {
    match msg {
        RouteNetlinkMessage::NewLink(m) | RouteNetlinkMessage::DelLink(m) => {
            let info = LinkInfo::from_message(m);
            let _ = info.is_up();
        }
        RouteNetlinkMessage::NewAddress(m) | RouteNetlinkMessage::DelAddress(m) => {
            if let Some(info) = AddressInfo::from_message(m) {
                let _ = (
                    info.is_secondary(),
                    info.is_nodad(),
                    info.is_noprefixroute(),
                );
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    // One datagram carries several messages, each padded to 4 bytes.
    let mut rest = data;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < 16 || len > rest.len() {
            break;
        }
        if let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len])
            && let NetlinkPayload::InnerMessage(inner) = &msg.payload
        {
            translate(inner);
        }
        rest = &rest[(len.next_multiple_of(4)).min(rest.len())..];
    }
});
