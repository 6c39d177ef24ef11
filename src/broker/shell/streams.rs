//! Every connection's socket, kept apart from the core's per-connection
//! state but under the same key, so the core never sees a socket.

use crate::broker::core::ids::ConnId;
use crate::broker::core::Transport;
use crate::broker::settings::TlsIdentity;
use crate::broker::stream::Stream;

/// One connection's socket.
pub(super) struct Socket {
    pub stream: Stream,
    /// WRITABLE interest registered because the kernel pushed back.
    pub want_write: bool,
}

/// Sockets by connection id (the core's). Ids are reused, so
/// the table is as long as the most connections ever open at once.
#[derive(Default)]
pub(super) struct Streams {
    slots: Vec<Option<Socket>>,
}

impl Streams {
    pub fn insert(&mut self, ck: ConnId, socket: Socket) {
        let i = ck.index();
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Some(socket);
        }
    }

    pub fn get(&self, ck: ConnId) -> Option<&Socket> {
        self.slots.get(ck.index()).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, ck: ConnId) -> Option<&mut Socket> {
        self.slots.get_mut(ck.index()).and_then(Option::as_mut)
    }

    pub fn take(&mut self, ck: ConnId) -> Option<Socket> {
        self.slots.get_mut(ck.index()).and_then(Option::take)
    }
}

impl Transport for Streams {
    fn peer_name(&self, ck: ConnId) -> String {
        self.get(ck)
            .map(|s| s.stream.peer_name())
            .unwrap_or_default()
    }

    fn tls_username(&self, ck: ConnId, source: TlsIdentity) -> Option<String> {
        #[cfg(feature = "tls")]
        if let Some(t) = self.get(ck).and_then(|s| s.stream.tls_conn()) {
            let from = match source {
                TlsIdentity::Identity => crate::tls::IdentitySource::Identity,
                TlsIdentity::Subject => crate::tls::IdentitySource::Subject,
            };
            return t.peer_identity(from);
        }
        let _ = (ck, source);
        None
    }

    fn tls_certificate(&self, ck: ConnId) -> Option<Vec<u8>> {
        #[cfg(feature = "tls")]
        if let Some(t) = self.get(ck).and_then(|s| s.stream.tls_conn()) {
            return t.peer_certificate_der();
        }
        let _ = ck;
        None
    }
}
