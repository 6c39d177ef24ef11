//! SUBSCRIBE and UNSUBSCRIBE: the subscription tree, SUBACK/UNSUBACK, and
//! retained messages for new subscriptions.

use std::rc::Rc;

use super::ids::{ConnId, SessionId};
use super::{mounted, Core};
use crate::broker::database::{OutMsg, OutState};
use crate::broker::security::Access;
use crate::broker::subs::{split_shared, SubOpts, NO_LOCAL, RETAIN_AS_PUBLISHED};
use crate::protocol::{
    Packet, ProtocolVersion, QoS, RetainHandling, SubAck, Subscribe, UnsubAck, Unsubscribe,
    SUBACK_FAILURE,
};

impl Core {
    /// mosquitto's subscribe checks (`$share`/`$SYS` rules) plus our
    /// extension: a filter inside a `deny` rule is refused with 0x80.
    fn subscribe_allowed(&self, sk: SessionId, filter: &str, qos: QoS) -> bool {
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
        // Plugins are shown the requested QoS, as mosquitto does.
        let shown = crate::broker::plugin::AclMessage {
            qos: qos.as_u8(),
            ..Default::default()
        };
        d.files
            .acl_check_message(id, user, filter, Access::Subscribe, shown)
            && d.files.subscribe_allowed(id, user, filter)
    }

    /// The SUBACK code for a filter that cannot be subscribed to: 0x80
    /// before MQTT 5, `v5` after.
    fn refusal(version: ProtocolVersion, v5: u8) -> u8 {
        if version == ProtocolVersion::V5 {
            v5
        } else {
            SUBACK_FAILURE
        }
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
        // One identifier for all the packet's filters (0 is refused by the
        // codec as a protocol error).
        let sub_id = s.properties.subscription_identifier().unwrap_or(0);
        let mut codes = Vec::with_capacity(s.filters.len());
        let mut granted = Vec::with_capacity(s.filters.len());
        for (i, (filter, _)) in s.filters.iter().enumerate() {
            let o = s.options_at(i);
            let filter = mounted(&mount, filter.clone());
            let qos = o.qos.min(max_qos);
            let shared = split_shared(&filter);
            if matches!(shared, Some(Err(()))) {
                crate::debug!(
                    "Invalid shared subscription '{filter}' from {}.",
                    self.conn_id(ck)
                );
                codes.push(Self::refusal(version, 0x8F));
                continue;
            }
            if !self.subscribe_allowed(sk, &filter, qos) {
                crate::debug!("Denied SUBSCRIBE from {} to '{filter}'.", self.conn_id(ck));
                codes.push(Self::refusal(version, 0x87));
                continue;
            }
            crate::log_subscribe!("{} {} {filter}", self.conn_id(ck), qos.as_u8());
            let mut flags = 0;
            if o.no_local {
                flags |= NO_LOCAL;
            }
            if o.retain_as_published {
                flags |= RETAIN_AS_PUBLISHED;
            }
            let opts = SubOpts {
                qos,
                flags,
                id: sub_id,
            };
            let new = self.subs.subscribe(&filter, sk.index(), opts);
            if let Some(sess) = self.sessions.get_mut(sk) {
                match sess.filters.iter_mut().find(|(f, _)| *f == filter) {
                    Some(entry) => entry.1 = opts,
                    None => sess.filters.push((filter.clone(), opts)),
                }
            }
            codes.push(qos.as_u8());
            // Retained messages: never for a shared subscription; for MQTT
            // 5 as its retain handling says.
            let send_retained = shared.is_none()
                && match o.retain_handling {
                    RetainHandling::SendAtSubscribe => true,
                    RetainHandling::SendIfNew => new,
                    RetainHandling::DoNotSend => false,
                };
            if send_retained {
                granted.push((filter, qos));
            }
        }
        self.note_change();
        self.plugin_sub_count(sk);
        let ack = SubAck {
            packet_id: s.packet_id,
            codes,
            properties: Default::default(),
        };
        self.send_packet(ck, &Packet::SubAck(ack), version);
        self.queue_retained(ck, sk, granted, sub_id);
    }

    /// Retained messages follow the SUBACK, flagged retained, at the lower
    /// of the message's and the subscription's QoS. They wait in the
    /// session's backlog and go out as fast as the client takes them, so
    /// a `#` over many retained topics drops nothing.
    fn queue_retained(&mut self, ck: ConnId, sk: SessionId, granted: Vec<(String, QoS)>, id: u32) {
        let mut found = std::mem::take(&mut self.retained_scratch);
        for (filter, sub_qos) in granted {
            found.clear();
            self.retained.matching(&filter, &mut found);
            for msg in &found {
                if !self.read_allowed(sk, &msg.topic) || !self.retain_source_allowed(msg) {
                    continue;
                }
                if msg.expired(self.now) {
                    // Found expired: dropped from the tree, as mosquitto does.
                    self.retained.remove(&msg.topic);
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
                        sub_id: id,
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
        for filter in u.filters {
            let filter = mounted(&mount, filter);
            // Refused (only plugins refuse): the subscription stays, and an
            // MQTT 5 client is told 0x87, as mosquitto does.
            if !self.unsubscribe_allowed(sk, &filter) {
                if version == ProtocolVersion::V5 {
                    ack.codes.push(0x87);
                }
                continue;
            }
            crate::log_unsubscribe!("{} {filter}", self.conn_id(ck));
            let removed = self.subs.unsubscribe(&filter, sk.index());
            if let Some(sess) = self.sessions.get_mut(sk) {
                sess.filters.retain(|(f, _)| *f != filter);
            }
            // MQTT 5: 0x11 when there was nothing to remove.
            if version == ProtocolVersion::V5 {
                ack.codes.push(if removed { 0x00 } else { 0x11 });
            }
        }
        self.note_change();
        self.plugin_sub_count(sk);
        self.send_packet(ck, &Packet::UnsubAck(ack), version);
    }
}
