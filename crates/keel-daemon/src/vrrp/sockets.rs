//! Raw VRRP (and AH) sockets, one set per interface, family, group and
//! unicast source, each read by a task of its own into a bounded queue.
//!
//! A flood on one socket cannot grow memory nor put real adverts of the
//! other sockets behind it: each socket may have at most [`RX_QUEUE`]
//! packets waiting for the engine; the reader drops (and counts) the rest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use keel_linux::{VrrpSocket, VrrpSocketOptions};
use keel_vrrp::router::IngressId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::mapping::InstancePlan;

/// Packets one socket may have queued for the engine. An advert every
/// 10 ms from each of 255 VRIDs is 26 per ms; the engine takes a packet
/// in microseconds, so a full queue means a flood, not a burst.
pub(super) const RX_QUEUE: usize = 256;

/// Rate limit of socket error log lines.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// Which socket an instance sends and receives on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct SocketKey {
    pub ifname: String,
    pub v6: bool,
    pub group: Option<IpAddr>,
    pub unicast_src: Option<IpAddr>,
}

impl SocketKey {
    pub fn of(p: &InstancePlan) -> SocketKey {
        SocketKey {
            ifname: p.advert_interface().to_string(),
            v6: p.v6,
            group: p.group,
            unicast_src: p.unicast_src,
        }
    }
}

/// The bound of one socket's queue, shared by its readers and the engine.
#[derive(Debug, Default)]
pub(super) struct RxQueue {
    inflight: AtomicUsize,
    dropped: AtomicU64,
}

impl RxQueue {
    /// The engine took a packet off the queue. Returns the drops counted
    /// since the last call.
    pub fn taken(&self) -> u64 {
        self.inflight.fetch_sub(1, Ordering::AcqRel);
        self.dropped.swap(0, Ordering::AcqRel)
    }

    fn try_reserve(&self) -> bool {
        let n = self.inflight.fetch_add(1, Ordering::AcqRel);
        if n >= RX_QUEUE {
            self.inflight.fetch_sub(1, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::AcqRel);
            false
        } else {
            true
        }
    }
}

/// One packet read from a socket.
pub(super) struct RxPacket {
    pub ingress: IngressId,
    pub pkt: keel_linux::Received,
    pub queue: Arc<RxQueue>,
}

struct SocketRt {
    /// The VRRP socket: it sends, and receives protocol 112.
    sock: Arc<VrrpSocket>,
    /// With AH instances on it: the protocol-51 socket.
    ah: bool,
    readers: Vec<JoinHandle<()>>,
}

impl Drop for SocketRt {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
    }
}

pub(super) struct Sockets {
    map: HashMap<SocketKey, SocketRt>,
    /// Stable across reloads, so the router's index keeps its meaning.
    ids: HashMap<SocketKey, IngressId>,
    by_id: HashMap<IngressId, SocketKey>,
    next: IngressId,
    tx: mpsc::UnboundedSender<RxPacket>,
    rx: mpsc::UnboundedReceiver<RxPacket>,
}

impl Sockets {
    pub fn new() -> Sockets {
        let (tx, rx) = mpsc::unbounded_channel();
        Sockets {
            map: HashMap::new(),
            ids: HashMap::new(),
            by_id: HashMap::new(),
            next: 0,
            tx,
            rx,
        }
    }

    /// The ingress id of a socket key (assigned on first use).
    pub fn ingress(&mut self, key: &SocketKey) -> IngressId {
        if let Some(id) = self.ids.get(key) {
            return *id;
        }
        let id = self.next;
        self.next += 1;
        self.ids.insert(key.clone(), id);
        self.by_id.insert(id, key.clone());
        id
    }

    pub async fn recv(&mut self) -> Option<RxPacket> {
        self.rx.recv().await
    }

    pub fn contains(&self, key: &SocketKey) -> bool {
        self.map.contains_key(key)
    }

    /// The socket adverts of `ingress` are sent on.
    pub fn sender(&self, ingress: IngressId) -> Option<&Arc<VrrpSocket>> {
        let key = self.by_id.get(&ingress)?;
        self.map.get(key).map(|s| &s.sock)
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Closes the sockets on `ifname` (its interface was re-created).
    pub fn close_interface(&mut self, ifname: &str) {
        self.map.retain(|k, _| k.ifname != ifname);
    }

    /// Opens the sockets in `needed` (key, whether AH is received on it)
    /// and closes the others.
    pub fn sync(&mut self, needed: &[(SocketKey, bool)]) {
        self.map
            .retain(|k, s| needed.iter().any(|(n, ah)| n == k && *ah == s.ah));
        for (key, ah) in needed {
            if self.map.contains_key(key) {
                continue;
            }
            let ingress = self.ingress(key);
            match self.open(key, ingress, *ah) {
                Ok(s) => {
                    self.map.insert(key.clone(), s);
                }
                Err(e) => tracing::error!("cannot open VRRP socket on {}: {e}", key.ifname),
            }
        }
    }

    fn open(
        &self,
        key: &SocketKey,
        ingress: IngressId,
        ah: bool,
    ) -> Result<SocketRt, keel_linux::LinuxError> {
        let queue = Arc::new(RxQueue::default());
        let sock = Arc::new(open_one(key, false)?);
        let mut readers = vec![self.reader(key, ingress, Arc::clone(&sock), &queue)];
        if ah {
            let ah_sock = Arc::new(open_one(key, true)?);
            readers.push(self.reader(key, ingress, ah_sock, &queue));
        }
        Ok(SocketRt { sock, ah, readers })
    }

    fn reader(
        &self,
        key: &SocketKey,
        ingress: IngressId,
        sock: Arc<VrrpSocket>,
        queue: &Arc<RxQueue>,
    ) -> JoinHandle<()> {
        let tx = self.tx.clone();
        let queue = Arc::clone(queue);
        let ifname = key.ifname.clone();
        tokio::spawn(async move {
            let mut last_err: Option<std::time::Instant> = None;
            loop {
                match sock.recv().await {
                    Ok(pkt) => {
                        #[cfg(debug_assertions)]
                        if crate::crash::fault::due(crate::crash::fault::Fault::PanicReader) {
                            panic!("injected fault: panic-reader");
                        }
                        if !queue.try_reserve() {
                            continue;
                        }
                        let p = RxPacket {
                            ingress,
                            pkt,
                            queue: Arc::clone(&queue),
                        };
                        if tx.send(p).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        if last_err.is_none_or(|t| t.elapsed() > ERROR_LOG_EVERY) {
                            tracing::warn!("VRRP receive on {ifname}: {e}");
                            last_err = Some(std::time::Instant::now());
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        })
    }
}

fn open_one(key: &SocketKey, ah: bool) -> Result<VrrpSocket, keel_linux::LinuxError> {
    let opts = VrrpSocketOptions {
        unicast_src: key.unicast_src,
        header_included: !key.v6,
        ah,
    };
    if key.v6 {
        let g = match key.group {
            Some(IpAddr::V6(g)) => Some(g),
            _ => None,
        };
        VrrpSocket::open_v6(&key.ifname, g, &opts)
    } else {
        let g = match key.group {
            Some(IpAddr::V4(g)) => Some(g),
            _ => None,
        };
        VrrpSocket::open_v4(&key.ifname, g, &opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_holds_at_most_rx_queue_packets_and_counts_the_rest() {
        let q = RxQueue::default();
        for _ in 0..RX_QUEUE {
            assert!(q.try_reserve());
        }
        assert!(!q.try_reserve());
        assert!(!q.try_reserve());
        assert_eq!(q.taken(), 2);
        assert!(q.try_reserve(), "room again once the engine took one");
        assert!(!q.try_reserve());
        assert_eq!(q.taken(), 1);
        assert_eq!(q.taken(), 0);
    }
}
