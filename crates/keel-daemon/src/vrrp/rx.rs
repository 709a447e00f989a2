//! Received packets: from the socket queues into the router, and the log
//! lines of what it dropped.

use std::net::IpAddr;

use keel_vrrp::packet::RxMeta;
use keel_vrrp::router::{Datagram, Drop, InstanceId};

use super::Runtime;
use super::sockets::RxPacket;

/// Counter of packets a full socket queue turned away.
pub(super) const QUEUE_FULL: &str = "rx_queue_full";

impl Runtime {
    pub(super) async fn on_packet(&mut self, p: RxPacket) {
        let dropped = p.queue.taken();
        if dropped > 0 {
            self.router.count_external_drop(QUEUE_FULL, dropped);
            let total = self
                .router
                .orphan_drops()
                .get(QUEUE_FULL)
                .copied()
                .unwrap_or(0);
            if self.status.queue_drop_log_due() {
                tracing::warn!(
                    "VRRP receive queue full: {dropped} packets dropped ({QUEUE_FULL} = {total})"
                );
            }
        }
        let pkt = &p.pkt;
        let dgram = if pkt.src.is_ipv6() {
            Datagram::Ipv6 {
                meta: RxMeta {
                    src: pkt.src,
                    dst: pkt.dst,
                    ttl: pkt.ttl,
                },
                payload: pkt.payload(),
            }
        } else {
            Datagram::Ipv4(&pkt.packet)
        };
        let now = self.now();
        self.router.handle_datagram(now, p.ingress, dgram);
        self.flush().await;
    }

    /// A drop the router reported (already rate limited): authentication
    /// problems and strangers at warning level (two routers that cannot
    /// accept each other's adverts would both become MASTER), a foreign
    /// address list at info level, the rest at debug level.
    pub(super) fn log_drop(
        &self,
        instance: Option<InstanceId>,
        src: IpAddr,
        reason: Drop,
        count: u64,
    ) {
        let counter = reason.counter_name();
        let Some(name) = instance.and_then(|i| self.names.get(&i)) else {
            tracing::debug!("advert from {src} not handled here: {reason} ({counter} = {count})");
            return;
        };
        if let Drop::UnicastSrc(r) = reason {
            tracing::warn!("VRRP_Instance({name}) {r} - discarding ({counter} = {count})");
        } else if reason.is_security() {
            tracing::warn!(
                "VRRP_Instance({name}) dropped advert from {src}: {reason} ({counter} = {count})"
            );
        } else if matches!(
            reason,
            Drop::Packet(
                keel_vrrp::packet::DropReason::AddressCount
                    | keel_vrrp::packet::DropReason::AddressMismatch
            )
        ) {
            tracing::info!(
                "VRRP_Instance({name}) advert from {src} carries other virtual addresses than ours ({reason}) - discarding ({counter} = {count})"
            );
        } else {
            tracing::debug!(
                "VRRP_Instance({name}) dropped advert from {src}: {reason} ({counter} = {count})"
            );
        }
    }
}
