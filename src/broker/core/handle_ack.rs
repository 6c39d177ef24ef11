//! PUBACK, PUBREC, PUBREL and PUBCOMP: advancing the QoS 1/2 state machines.
//! An ack that frees in-flight room lets queued messages go. Each step of a
//! persistent session counts as a change for `autosave_on_changes`, so
//! with it the saved state never lags what the peer was told.

use super::context::CloseReason;
use super::ids::{ConnId, SessionId};
use super::Core;
use crate::broker::database::OutState;
use crate::protocol::QoS;

impl Core {
    fn session_of(&self, ck: ConnId) -> Option<SessionId> {
        self.conns.get(ck).and_then(|c| c.session())
    }

    /// A persistent session's message state changed.
    fn note_session_change(&mut self, sk: SessionId) {
        if self.sessions.get(sk).is_some_and(|s| !s.clean) {
            self.note_change();
        }
    }

    /// The usual acknowledgement — a packet id and nothing else (remaining
    /// length 2, the only form in MQTT 3.x, success in MQTT 5) — handled
    /// straight from its bytes, without building a `Packet`: in fan-out
    /// QoS 1 there is one per delivery. False when `byte1`/`body` are not
    /// such a packet; the general decoder then takes it (and reports what
    /// is wrong with it, e.g. a zero packet id).
    pub(super) fn short_ack(&mut self, ck: ConnId, byte1: u8, body: &[u8]) -> bool {
        let id = match body {
            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
            _ => return false,
        };
        if id == 0 {
            return false;
        }
        match byte1 {
            0x40 => self.handle_puback(ck, id),
            0x50 => self.handle_pubrec(ck, id),
            0x62 => self.handle_pubrel(ck, id),
            0x70 => self.handle_pubcomp(ck, id),
            _ => return false,
        }
        true
    }

    pub(super) fn handle_puback(&mut self, ck: ConnId, id: u16) {
        crate::debug!("Received PUBACK from {} (Mid: {id})", self.conn_id(ck));
        self.complete(ck, id, OutState::WaitPubAck);
    }

    pub(super) fn handle_pubcomp(&mut self, ck: ConnId, id: u16) {
        crate::debug!("Received PUBCOMP from {} (Mid: {id})", self.conn_id(ck));
        self.complete(ck, id, OutState::WaitPubComp);
    }

    fn complete(&mut self, ck: ConnId, id: u16, state: OutState) {
        let Some(sk) = self.session_of(ck) else {
            return;
        };
        let (acked, persistent) = self
            .sessions
            .get_mut(sk)
            .map(|s| (s.msgs.ack(id, state), !s.clean))
            .unwrap_or((false, false));
        if acked {
            if persistent {
                self.note_change();
            }
            self.refill_inflight(ck, sk);
        } else {
            let qos = match state {
                OutState::WaitPubAck => QoS::AtLeastOnce,
                _ => QoS::ExactlyOnce,
            };
            self.check_ack_type(ck, sk, id, qos);
        }
    }

    /// An ack that matched nothing: if `id` is in flight at another QoS
    /// than the ack is for (PUBCOMP or PUBREC for QoS 1, PUBACK for QoS 2),
    /// the client broke the protocol, and is disconnected as mosquitto
    /// does. An unknown id is let be (it may be a late duplicate).
    fn check_ack_type(&mut self, ck: ConnId, sk: SessionId, id: u16, qos: QoS) {
        let wrong = self
            .sessions
            .get(sk)
            .is_some_and(|s| s.msgs.inflight().any(|m| m.packet_id == id && m.qos != qos));
        if wrong {
            crate::debug!(
                "Wrong acknowledgement type from {} (Mid: {id})",
                self.conn_id(ck)
            );
            self.schedule_close(ck, CloseReason::Protocol);
        }
    }

    pub(super) fn handle_pubrec(&mut self, ck: ConnId, id: u16) {
        crate::debug!("Received PUBREC from {} (Mid: {id})", self.conn_id(ck));
        let Some(sk) = self.session_of(ck) else {
            return;
        };
        let (known, persistent) = self
            .sessions
            .get_mut(sk)
            .map(|s| (s.msgs.received(id), !s.clean))
            .unwrap_or_default();
        if known {
            if persistent {
                self.note_change();
            }
        } else {
            self.check_ack_type(ck, sk, id, QoS::ExactlyOnce);
            if self.conns.get(ck).is_none_or(|c| c.closing.is_some()) {
                return;
            }
        }
        // PUBREL even for an unknown id, so the client can finish its flow.
        self.send_ack(ck, 0x62, id);
    }

    /// Sends the short form of an ack (`byte1`: 0x40 PUBACK, 0x50 PUBREC,
    /// 0x62 PUBREL, 0x70 PUBCOMP), as `send_packet` would: the same four
    /// bytes in every protocol version (MQTT 5 leaves out a success reason
    /// code), as `short_ack` reads them.
    pub(super) fn send_ack(&mut self, ck: ConnId, byte1: u8, id: u16) {
        if let Some(conn) = self.conns.get_mut(ck) {
            let [hi, lo] = id.to_be_bytes();
            conn.out().extend_from_slice(&[byte1, 2, hi, lo]);
            self.stats.msgs_sent += 1;
            Self::mark_dirty(&mut self.dirty, conn, ck);
        }
    }

    pub(super) fn handle_pubrel(&mut self, ck: ConnId, id: u16) {
        crate::debug!("Received PUBREL from {} (Mid: {id})", self.conn_id(ck));
        let Some(sk) = self.session_of(ck) else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(sk) {
            s.msgs.incoming_release(id);
        }
        self.note_session_change(sk);
        self.send_ack(ck, 0x70, id);
    }
}
