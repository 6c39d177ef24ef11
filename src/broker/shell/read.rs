//! Reading: drain a connection's socket into the core, a bounded number of
//! reads per turn so one busy client cannot starve the others.

use std::io::{self, Read};
use std::time::Instant;

use super::Broker;
use crate::broker::core::context::CloseReason;
use crate::broker::core::ids::ConnId;
use crate::broker::core::READS_PER_TURN;

impl Broker {
    pub(super) fn read_conn(&mut self, ck: ConnId) {
        // Packets left over from before a pause go first.
        self.core
            .process_buffered(ck, Instant::now(), &self.streams);
        let mut scratch = std::mem::take(&mut self.read_scratch);
        for turn in 0.. {
            if !self.core.wants_input(ck) {
                break;
            }
            if turn == READS_PER_TURN {
                self.core.read_later(ck);
                break;
            }
            let Some(socket) = self.streams.get_mut(ck) else {
                break;
            };
            let n = match socket.stream.read(&mut scratch) {
                Ok(0) => {
                    self.core.schedule_close(ck, CloseReason::ConnectionLost);
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.read_failed(ck, &e);
                    break;
                }
            };
            let data = scratch.get(..n).unwrap_or(&[]);
            self.core.received(ck, data, Instant::now(), &self.streams);
        }
        self.read_scratch = scratch;
        // A websocket may have answered by itself (handshake, ping).
        if self
            .streams
            .get(ck)
            .is_some_and(|s| s.stream.has_own_output())
        {
            self.core.want_flush(ck);
        }
    }

    /// A read failed: say why where mosquitto would, and close.
    fn read_failed(&mut self, ck: ConnId, e: &io::Error) {
        if let Some(socket) = self.streams.get(ck) {
            let stream = &socket.stream;
            if e.kind() == io::ErrorKind::InvalidData && stream.websocket().is_some() {
                // libwebsockets closes such a client without a word to
                // mosquitto's log; the reason is worth a debug line.
                crate::debug!(
                    "Closing websocket connection from {}: {e}.",
                    stream.peer_name()
                );
            } else {
                // A refused TLS handshake (untrusted, expired or revoked
                // certificate, wrong PSK, not TLS at all) says why. Bridges
                // say it when the connection closes, whichever of reading or
                // writing met the failure.
                let bridge = self.core.conns.get(ck).and_then(|c| c.bridge());
                if stream.is_tls() && bridge.is_none() && self.core.settings.connection_messages {
                    crate::notice!("Client connection from {} failed: {e}.", stream.peer_name());
                }
            }
        }
        self.core.schedule_close(ck, CloseReason::ConnectionLost);
    }
}
