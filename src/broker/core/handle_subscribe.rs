//! SUBSCRIBE and UNSUBSCRIBE: the subscription tree, SUBACK/UNSUBACK, and
//! retained messages for new subscriptions.

use std::rc::Rc;

use super::ids::{ConnId, SessionId};
use super::{mounted, Core};
use crate::broker::database::{OutMsg, OutState};
use crate::broker::security::Access;
use crate::protocol::{Packet, SubAck, Subscribe, UnsubAck, Unsubscribe, SUBACK_FAILURE};

impl Core {
    /// mosquitto's subscribe checks (`$share`/`$SYS` rules) plus our
    /// extension: a filter inside a `deny` rule is refused with 0x80.
    fn subscribe_allowed(&self, sk: SessionId, filter: &str) -> bool {
        let Some(sess) = self.sessions.get(sk) else {
            return false;
        };
        if sess.bridge().is_some() {
            return true;
        }
        let Some(d) = self.security.get(usize::from(sess.security)) else {
            return false;
        };
        let (id, user) = (&sess.client_id, sess.username.as_deref());
        d.files.acl_check(id, user, filter, Access::Subscribe)
            && d.files.subscribe_allowed(id, user, filter)
    }

    pub(super) fn handle_subscribe(&mut self, ck: ConnId, s: Subscribe) {
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        let (Some(sk), version) = (conn.session(), conn.protocol) else {
            return;
        };
        crate::debug!("Received SUBSCRIBE from {}", self.log_id_of(conn));
        let mount = conn.mount_point().cloned();
        let max_qos = conn.max_qos;
        let mut codes = Vec::with_capacity(s.filters.len());
        let mut granted = Vec::with_capacity(s.filters.len());
        for (filter, qos) in s.filters {
            let filter = mounted(&mount, filter);
            let qos = qos.min(max_qos);
            if !self.subscribe_allowed(sk, &filter) {
                crate::debug!("Denied SUBSCRIBE from {} to '{filter}'.", self.conn_id(ck));
                codes.push(SUBACK_FAILURE);
                continue;
            }
            crate::log_subscribe!("{} {} {filter}", self.conn_id(ck), qos.as_u8());
            self.subs.subscribe(&filter, sk.index(), qos);
            if let Some(sess) = self.sessions.get_mut(sk) {
                match sess.filters.iter_mut().find(|(f, _)| *f == filter) {
                    Some(entry) => entry.1 = qos,
                    None => sess.filters.push((filter.clone(), qos)),
                }
            }
            codes.push(qos.as_u8());
            granted.push((filter, qos));
        }
        self.note_change();
        let ack = SubAck {
            packet_id: s.packet_id,
            codes,
            properties: Default::default(),
        };
        self.send_packet(ck, &Packet::SubAck(ack), version);

        // Retained messages follow the SUBACK, flagged retained, at the lower
        // of the message's and the subscription's QoS. They wait in the
        // session's backlog and go out as fast as the client takes them, so
        // a `#` over many retained topics drops nothing.
        let mut found = std::mem::take(&mut self.retained_scratch);
        for (filter, sub_qos) in granted {
            found.clear();
            self.retained.matching(&filter, &mut found);
            for msg in &found {
                if !self.read_allowed(sk, &msg.topic) || !self.retain_source_allowed(msg) {
                    continue;
                }
                let qos = if self.settings.upgrade_outgoing_qos {
                    sub_qos
                } else {
                    msg.qos.min(sub_qos)
                };
                if let Some(sess) = self.sessions.get_mut(sk) {
                    sess.cold_mut().backlog.push_back(OutMsg {
                        msg: Rc::clone(msg),
                        qos,
                        retain: true,
                        packet_id: 0,
                        state: OutState::WaitPubAck,
                    });
                }
            }
        }
        found.clear();
        self.retained_scratch = found;
        if self.pump_backlog(ck, sk) {
            if let Some(conn) = self.conns.get_mut(ck) {
                Self::mark_dirty(&mut self.dirty, conn, ck);
            }
        }
    }

    pub(super) fn handle_unsubscribe(&mut self, ck: ConnId, u: Unsubscribe) {
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        let (Some(sk), version) = (conn.session(), conn.protocol) else {
            return;
        };
        crate::debug!("Received UNSUBSCRIBE from {}", self.log_id_of(conn));
        let mount = conn.mount_point().cloned();
        let mut ack = UnsubAck::new(u.packet_id);
        if version == crate::protocol::ProtocolVersion::V5 {
            // One reason code per filter (success; v5msg refines it).
            ack.codes = vec![0; u.filters.len()];
        }
        for filter in u.filters {
            let filter = mounted(&mount, filter);
            if !self.unsubscribe_allowed(sk, &filter) {
                continue;
            }
            crate::log_unsubscribe!("{} {filter}", self.conn_id(ck));
            self.subs.unsubscribe(&filter, sk.index());
            if let Some(sess) = self.sessions.get_mut(sk) {
                sess.filters.retain(|(f, _)| *f != filter);
            }
        }
        self.note_change();
        self.send_packet(ck, &Packet::UnsubAck(ack), version);
    }
}
