//! Link and address change notifications (rtnetlink multicast groups).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::AddressMessage;
use netlink_sys::SocketAddr;
use rtnetlink::MulticastGroup;
use tokio::task::JoinHandle;

use crate::error::{LinuxError, Result};
use crate::netlink::{AddressInfo, LinkInfo};

/// A change in the namespace's links or addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// The link became usable: administratively up and running (carrier).
    LinkUp { ifindex: u32, name: String },
    /// The link stopped being usable (admin down, or carrier lost).
    LinkDown { ifindex: u32, name: String },
    /// The link was deleted.
    LinkRemoved { ifindex: u32, name: String },
    /// An address was added (also re-sent when an address's flags change).
    AddrAdded {
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    },
    AddrRemoved {
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    },
}

type Unsolicited = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// Subscribes to RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR
/// in the namespace of the calling thread.
///
/// Link notifications are reduced to up/down *transitions*: the monitor
/// snapshots every link at start and afterwards only reports changes of
/// [`LinkInfo::is_up`] (plus new and deleted links).
#[derive(Debug)]
pub struct NetlinkMonitor {
    messages: Unsolicited,
    links: HashMap<u32, (String, bool)>,
    pending: VecDeque<NetEvent>,
    task: JoinHandle<()>,
}

impl Drop for NetlinkMonitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NetlinkMonitor {
    /// Subscribes, then takes the link snapshot (so no transition between
    /// the two can be missed). Must run inside a tokio runtime.
    pub async fn new() -> Result<NetlinkMonitor> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| LinuxError::NoRuntime)?;
        let (conn, handle, messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .map_err(|e| LinuxError::io("netlink multicast socket", e))?;
        let task = rt.spawn(conn);
        let mut links = HashMap::new();
        let mut dump = handle.link().get().execute();
        while let Some(item) = dump.next().await {
            let msg = item.map_err(|e| LinuxError::netlink("list links", e))?;
            let info = LinkInfo::from_message(&msg);
            links.insert(info.ifindex, (info.name.clone(), info.is_up()));
        }
        Ok(NetlinkMonitor {
            messages,
            links,
            pending: VecDeque::new(),
            task,
        })
    }

    /// Last known up/down state of a link.
    pub fn link_is_up(&self, ifindex: u32) -> Option<bool> {
        self.links.get(&ifindex).map(|(_, up)| *up)
    }

    /// Next event; `None` once the netlink connection is gone. Cancel-safe
    /// (usable in `tokio::select!`): nothing is lost if the future is dropped.
    pub async fn next(&mut self) -> Option<NetEvent> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(ev);
            }
            let (msg, _) = self.messages.next().await?;
            if let NetlinkPayload::InnerMessage(inner) = msg.payload {
                self.translate(inner);
            }
        }
    }

    fn translate(&mut self, msg: RouteNetlinkMessage) {
        match msg {
            RouteNetlinkMessage::NewLink(m) => {
                let info = LinkInfo::from_message(&m);
                let up = info.is_up();
                let previous = self.links.insert(info.ifindex, (info.name.clone(), up));
                if previous.map(|(_, was_up)| was_up) != Some(up) {
                    self.pending.push_back(if up {
                        NetEvent::LinkUp {
                            ifindex: info.ifindex,
                            name: info.name,
                        }
                    } else {
                        NetEvent::LinkDown {
                            ifindex: info.ifindex,
                            name: info.name,
                        }
                    });
                }
            }
            RouteNetlinkMessage::DelLink(m) => {
                let info = LinkInfo::from_message(&m);
                let known = self.links.remove(&info.ifindex);
                let name = if info.name.is_empty() {
                    known.map(|(n, _)| n).unwrap_or_default()
                } else {
                    info.name
                };
                self.pending.push_back(NetEvent::LinkRemoved {
                    ifindex: info.ifindex,
                    name,
                });
            }
            RouteNetlinkMessage::NewAddress(m) => {
                if let Some((ifindex, addr, prefix_len)) = addr_of(&m) {
                    self.pending.push_back(NetEvent::AddrAdded {
                        ifindex,
                        addr,
                        prefix_len,
                    });
                }
            }
            RouteNetlinkMessage::DelAddress(m) => {
                if let Some((ifindex, addr, prefix_len)) = addr_of(&m) {
                    self.pending.push_back(NetEvent::AddrRemoved {
                        ifindex,
                        addr,
                        prefix_len,
                    });
                }
            }
            _ => {}
        }
    }
}

fn addr_of(m: &AddressMessage) -> Option<(u32, IpAddr, u8)> {
    let info = AddressInfo::from_message(m)?;
    Some((info.ifindex, info.addr, info.prefix_len))
}
