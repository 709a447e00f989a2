//! The executor of address, route and rule changes, on a thread of its own.
//!
//! The kernel handles an rtnetlink request inside the sender's `sendmsg`,
//! under its network-configuration lock: when that lock is contended (seen
//! under load: an address add stuck for 6-10 s) the sending thread stops.
//! On the VRRP thread that stopped the adverts, so the VRRP runtime only
//! queues changes here; one thread performs them in the order they were
//! queued, which keeps each instance's adds and removes in order.

use std::net::IpAddr;
use std::time::Duration;

use keel_linux::{AddressSpec, Netlink, RuleSpec};
use tokio::sync::{mpsc, oneshot};

use crate::mapping::{AddressPlan, RoutePlan};

/// Debug builds only: `KEEL_NETLINK_DELAY_MS` holds every queued change
/// that long, standing in for a contended kernel lock in tests.
#[cfg(debug_assertions)]
const DELAY_ENV: &str = "KEEL_NETLINK_DELAY_MS";

/// One queued change.
#[derive(Debug)]
pub(super) enum NetOp {
    /// An instance's VIPs, routes and rules set (`add`) or removed.
    Apply {
        name: String,
        add: bool,
        addrs: Vec<AddressPlan>,
        routes: Vec<RoutePlan>,
        rules: Vec<RuleSpec>,
    },
    /// One address put back (it was removed behind our back, or its VMAC
    /// was re-created).
    AddAddress(AddressPlan),
    /// Answered once everything queued before it was done.
    Barrier(oneshot::Sender<()>),
}

/// The queue into the executor thread.
#[derive(Debug)]
pub(super) struct NetOps {
    tx: mpsc::UnboundedSender<NetOp>,
}

impl NetOps {
    /// Starts the executor thread (in the calling thread's namespace).
    pub fn start() -> std::io::Result<NetOps> {
        let (tx, rx) = mpsc::unbounded_channel();
        let delay = debug_delay();
        std::thread::Builder::new()
            .name("keel-netlink".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("netlink executor cannot start: {e}");
                        return;
                    }
                };
                rt.block_on(execute(rx, delay));
            })?;
        Ok(NetOps { tx })
    }

    pub fn submit(&self, op: NetOp) {
        if self.tx.send(op).is_err() {
            tracing::error!("netlink executor stopped; address change lost");
        }
    }

    /// Waits until every change queued so far was performed.
    pub async fn drain(&self) {
        let (tx, rx) = oneshot::channel();
        self.submit(NetOp::Barrier(tx));
        let _ = rx.await;
    }
}

#[cfg(not(debug_assertions))]
fn debug_delay() -> Option<Duration> {
    None
}

#[cfg(debug_assertions)]
fn debug_delay() -> Option<Duration> {
    let ms: u64 = std::env::var(DELAY_ENV).ok()?.parse().ok()?;
    Some(Duration::from_millis(ms))
}

async fn execute(mut rx: mpsc::UnboundedReceiver<NetOp>, delay: Option<Duration>) {
    let nl = match Netlink::new() {
        Ok(nl) => nl,
        Err(e) => {
            tracing::error!("netlink executor cannot open rtnetlink: {e}");
            return;
        }
    };
    while let Some(op) = rx.recv().await {
        // A dying process (crash hand-over sent) adds nothing back.
        if keel_linux::emergency::fired() && !matches!(op, NetOp::Barrier(_)) {
            continue;
        }
        if let (Some(d), false) = (delay, matches!(op, NetOp::Barrier(_))) {
            std::thread::sleep(d);
        }
        match op {
            NetOp::Apply {
                name,
                add: true,
                addrs,
                routes,
                rules,
            } => add_all(&nl, &name, &addrs, &routes, &rules).await,
            NetOp::Apply {
                name,
                add: false,
                addrs,
                routes,
                rules,
            } => remove_all(&nl, &name, &addrs, &routes, &rules).await,
            NetOp::AddAddress(a) => add_address(&nl, &a).await,
            NetOp::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }
}

async fn add_all(
    nl: &Netlink,
    name: &str,
    addrs: &[AddressPlan],
    routes: &[RoutePlan],
    rules: &[RuleSpec],
) {
    for a in addrs {
        add_address(nl, a).await;
    }
    for r in routes {
        let mut spec = r.spec.clone();
        if let Some(dev) = &r.dev {
            match keel_linux::ifindex(dev) {
                Ok(i) => spec = spec.oif(i),
                Err(e) => {
                    tracing::warn!("VRRP_Instance({name}) route {}: {e}", r.spec.dst);
                    continue;
                }
            }
        }
        if let Err(e) = nl.add_route(&spec).await {
            tracing::warn!("VRRP_Instance({name}) cannot add route: {e}");
        }
    }
    for r in rules {
        if let Err(e) = nl.add_rule(r).await {
            tracing::warn!("VRRP_Instance({name}) cannot add rule: {e}");
        }
    }
}

async fn remove_all(
    nl: &Netlink,
    name: &str,
    addrs: &[AddressPlan],
    routes: &[RoutePlan],
    rules: &[RuleSpec],
) {
    for r in rules {
        if let Err(e) = nl.del_rule(r).await {
            tracing::warn!("VRRP_Instance({name}) cannot delete rule: {e}");
        }
    }
    for r in routes {
        let mut spec = r.spec.clone();
        if let Some(i) = r.dev.as_deref().and_then(|d| keel_linux::ifindex(d).ok()) {
            spec = spec.oif(i);
        }
        if let Err(e) = nl.del_route(&spec).await {
            tracing::warn!("VRRP_Instance({name}) cannot delete route: {e}");
        }
    }
    for a in addrs {
        let Ok(ifindex) = keel_linux::ifindex(&a.dev) else {
            continue;
        };
        let spec = AddressSpec::new(ifindex, a.addr, a.prefix_len);
        if let Err(e) = nl.del_address(&spec).await {
            tracing::warn!("VRRP_Instance({name}) cannot remove {}: {e}", a.addr);
        }
    }
}

async fn add_address(nl: &Netlink, a: &AddressPlan) {
    let ifindex = match keel_linux::ifindex(&a.dev) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!("cannot add {} on {}: {e}", a.addr, a.dev);
            return;
        }
    };
    let mut spec = AddressSpec::new(ifindex, a.addr, a.prefix_len).scope(a.scope);
    if let Some(b) = a.broadcast {
        spec = spec.broadcast(b);
    }
    if let Some(l) = &a.label {
        spec = spec.label(l.clone());
    }
    // A VIP must be usable at once; DAD would hold it tentative.
    if a.nodad || matches!(a.addr, IpAddr::V6(_)) {
        spec = spec.nodad();
    }
    if a.noprefixroute {
        spec = spec.noprefixroute();
    }
    if let Err(e) = nl.add_address(&spec).await {
        tracing::warn!("cannot add {}/{} on {}: {e}", a.addr, a.prefix_len, a.dev);
    }
}
