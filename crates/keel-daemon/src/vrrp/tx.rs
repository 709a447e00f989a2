//! Sending the adverts the router encoded.

use keel_vrrp::router::Transmit;

use super::Runtime;

impl Runtime {
    pub(super) async fn transmit(&mut self, t: Transmit) {
        // The crash hand-over sent priority 0: an ordinary advert now would
        // make the peer wait Master_Down again.
        if keel_linux::emergency::fired() {
            return;
        }
        let Some(sock) = self.sockets.sender(t.ingress).cloned() else {
            return;
        };
        if let Err(e) = sock.send_to(&t.bytes, t.dst).await {
            let n = self.router.record_send_error(&t);
            if n == 1 || n.is_multiple_of(100) {
                let name = self.names.get(&t.instance).cloned().unwrap_or_default();
                tracing::warn!(
                    "VRRP_Instance({name}) cannot send advert to {}: {e} ({n} failures)",
                    t.dst
                );
            }
            return;
        }
        self.keep_transmit(t);
    }
}
