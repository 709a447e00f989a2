//! The Linux edges of keel: the only place that talks to the kernel.
//!
//! * [`VrrpSocket`]: raw IPv4/IPv6 sockets for IP protocol 112 bound to one
//!   interface, multicast or unicast, async send/receive with TTL/hop limit,
//!   destination and arrival interface.
//! * [`Netlink`]: idempotent add/delete of addresses, routes and rules;
//!   link queries; VMAC (macvlan) creation.
//! * [`NetlinkMonitor`]: link up/down and address add/remove events.
//! * [`PacketSocket`]: sends prepared Ethernet frames (GARP, unsolicited NA).
//! * [`emergency`]: pre-built priority-0 adverts and address deletions a
//!   dying process sends from a panic hook or a fatal-signal handler.
//! * [`sysctl`]: `/proc/sys/net` access; [`iface`]: name/index/MAC lookups.
//! * [`process`]: daemonizing, entering a named network namespace, umask.
//! * [`sched`]: real-time policy and nice value of the calling thread,
//!   RLIMIT_RTTIME and RLIMIT_NOFILE; [`PreciseTimer`]: a timerfd-based
//!   async timer without tokio's millisecond rounding.
//!
//! * [`creds`]: a child process switched to a script's user and groups.
//!
//! Everything acts on the network namespace of the calling thread at the
//! time the object is created.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod creds;
pub mod emergency;
pub mod error;
pub mod iface;
pub mod monitor;
pub mod netlink;
pub mod packet;
pub mod process;
pub mod sched;
pub mod sysctl;
pub mod timer;
pub mod vrrp_socket;

pub use crate::error::{LinuxError, Result};
pub use crate::iface::{ETH_ALEN, format_mac, ifindex, ifname, mac_address};
pub use crate::monitor::{NetEvent, NetlinkMonitor};
pub use crate::netlink::{
    AddressInfo, AddressSpec, IpFamily, LinkInfo, MacvlanMode, Netlink, RT_TABLE_MAIN,
    RTPROT_KEEPALIVED, RouteKind, RouteSpec, RuleSpec, Scope, VmacSpec, vmac_address,
};
pub use crate::packet::{ETH_HEADER_LEN, PacketSocket};
pub use crate::process::{daemonize, enter_netns, set_umask};
pub use crate::sched::{
    DEFAULT_RLIMIT_RTTIME, SchedPolicy, ThreadScheduling, current_thread_id, current_thread_nice,
    current_thread_scheduling, raise_nofile_limit, set_current_thread_nice,
    set_current_thread_realtime, set_current_thread_realtime_with_limit, set_rlimit_rttime,
    set_thread_normal,
};
pub use crate::sysctl::{ConfFamily, read_conf, read_sysctl, write_conf, write_sysctl};
pub use crate::timer::PreciseTimer;
pub use crate::vrrp_socket::{
    IPPROTO_AH, IPPROTO_VRRP, Received, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_TOS, VRRP_TTL,
    VrrpSocket, VrrpSocketOptions,
};
