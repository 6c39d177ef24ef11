//! Inbound PUBLISH: limits, QoS handshakes, then routing. QoS 2 messages
//! are routed on receipt and their packet id remembered until PUBREL, so a
//! resent duplicate is acknowledged but not delivered twice.

use std::rc::Rc;

use super::context::CloseReason;
use super::ids::{ConnId, ListenerId};
use super::plugins::Filtered;
use super::{mounted, Core};
use crate::broker::database::{Message, MsgProps, MsgSource};
use crate::broker::plugin::{AclMessage, PluginMessage};
use crate::broker::security::Access;
use crate::protocol::{Ack, Packet, ProtocolVersion, Publish, QoS};

impl Core {
    /// The ACL's verdict on a client publishing to `topic` (bridges are not
    /// checked, as in mosquitto). A denied message is acknowledged and
    /// dropped: MQTT 3.x has no way to say no.
    fn write_allowed(&self, ck: ConnId, topic: &str, msg: AclMessage) -> bool {
        let Some(sess) = self
            .conns
            .get(ck)
            .and_then(|c| c.session())
            .and_then(|sk| self.sessions.get(sk))
        else {
            return false;
        };
        if sess.bridge().is_some() {
            return true;
        }
        let Some(domain) = self.security.get(usize::from(sess.security)) else {
            return false;
        };
        let ok = domain.files.acl_check_message(
            &sess.client_id,
            sess.username.as_deref(),
            topic,
            Access::Write,
            msg,
        );
        if !ok {
            crate::debug!("Denied PUBLISH from {} ('{topic}').", sess.client_id);
        }
        ok
    }

    /// The source of messages a client on `listener` publishes; None on our
    /// own bridges' connections, which have no listener and no ACL.
    pub(super) fn new_source(
        &self,
        client_id: &Rc<str>,
        username: Option<&Rc<str>>,
        listener: Option<ListenerId>,
    ) -> Option<Rc<MsgSource>> {
        let spec = self.settings.listeners.get(listener?.index())?;
        Some(Rc::new(MsgSource {
            client_id: Rc::clone(client_id),
            username: username.cloned(),
            security: u16::try_from(spec.security).unwrap_or(MsgSource::NO_DOMAIN),
            port: spec.port,
        }))
    }

    /// The source for connection `ck`'s messages: its session's, made once
    /// so that each message only takes a reference.
    fn publisher_source(&mut self, ck: ConnId) -> Option<Rc<MsgSource>> {
        let conn = self.conns.get(ck)?;
        let sk = conn.session()?;
        let sess = self.sessions.get(sk)?;
        if let Some(src) = &sess.source {
            return Some(Rc::clone(src));
        }
        let src = self.new_source(&sess.client_id, sess.username.as_ref(), conn.listener())?;
        if let Some(sess) = self.sessions.get_mut(sk) {
            sess.source = Some(Rc::clone(&src));
        }
        Some(src)
    }

    pub(super) fn handle_publish(&mut self, ck: ConnId, mut p: Publish) {
        if !self.resolve_topic_alias(ck, &mut p) {
            return;
        }
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        let sk = conn.session();
        if crate::broker::logging::debug_enabled() {
            crate::debug!(
                "Received PUBLISH from {} (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
                self.log_id_of(conn),
                u8::from(p.dup),
                p.qos.as_u8(),
                u8::from(p.retain),
                p.packet_id,
                p.topic,
                p.payload.len()
            );
        }
        self.stats.pub_msgs_received += 1;
        self.stats.pub_bytes_received += p.payload.len() as u64;
        // Above the listener's max_qos: MQTT 3.x has no way to say so but
        // to disconnect, as mosquitto does.
        if p.qos > conn.max_qos || (p.retain && !self.settings.retain_available) {
            self.schedule_close(ck, CloseReason::Protocol);
            return;
        }
        if self.refused_for_memory(ck, &p) {
            return;
        }
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        let mount = conn.mount_point().cloned();
        let too_big = self.settings.message_size_limit > 0
            && p.payload.len() > self.settings.message_size_limit;
        let Publish {
            qos,
            retain,
            topic,
            packet_id,
            payload,
            properties,
            ..
        } = p;
        // An oversize message is acknowledged and dropped, as mosquitto does
        // for MQTT 3.x clients, so the client does not resend it forever.
        let deliver = !too_big
            && match qos {
                QoS::ExactlyOnce => match sk.and_then(|sk| self.sessions.get_mut(sk)) {
                    Some(sess) => {
                        let new = sess.msgs.incoming_insert(packet_id);
                        // Saved (with autosave_on_changes) before PUBREC goes.
                        if new && !sess.clean {
                            self.changes += 1;
                        }
                        new
                    }
                    None => false,
                },
                _ => true,
            };
        if too_big {
            crate::debug!(
                "Dropped too large PUBLISH from {} (q{}, m{packet_id}, '{topic}').",
                self.conn_id(ck),
                qos.as_u8()
            );
        }
        // A bridge's messages arrive under the remote's topics.
        let topic = match self.conns.get(ck).and_then(|c| c.bridge_topics().cloned()) {
            Some(topics) => crate::broker::bridge_topic::remote_to_local(&topics, &topic),
            None => Some(mounted(&mount, topic)),
        };
        let shown = AclMessage {
            payload: &payload,
            qos: qos.as_u8(),
            retain,
        };
        let allowed = topic
            .as_deref()
            .is_some_and(|t| self.write_allowed(ck, t, shown));
        let mut refused = deliver && topic.is_some() && !allowed;
        let plain = PluginMessage {
            topic: topic.unwrap_or_default(),
            payload,
            qos: qos.as_u8(),
            retain,
            properties,
        };
        let filtered = (deliver && allowed).then(|| self.plugin_filter(sk, plain));
        if let Some(Filtered::Deliver(m)) = filtered {
            let source = self.publisher_source(ck);
            let q = QoS::from_u8(m.qos).unwrap_or(qos);
            let v5 = MsgProps::from_publish(m.properties, self.now);
            let msg = Message::new(m.topic, m.payload, q, m.retain).with_source(source);
            let msg = Rc::new(msg.with_props(v5));
            self.publish_message(msg, sk);
            self.apply_backpressure(ck);
        } else if let Some(Filtered::Refused) = filtered {
            refused = true;
        } else if let Some(Filtered::Close(reason)) = filtered {
            return self.plugin_closed_publish(ck, sk, (qos, packet_id), reason);
        }
        self.ack_publish(ck, qos, packet_id, refused);
    }

    /// PUBACK or PUBREC for a client's PUBLISH. A refused one (ACL or
    /// plugin) is 0x87 for an MQTT 5 publisher, as mosquitto says; that
    /// ends a QoS 2 exchange, so its id is free again.
    fn ack_publish(&mut self, ck: ConnId, qos: QoS, packet_id: u16, refused: bool) {
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        let (version, sk) = (conn.protocol, conn.session());
        let refused = refused && version == ProtocolVersion::V5;
        if !refused {
            // The usual case: four bytes, no `Packet` built and dropped.
            match qos {
                QoS::AtMostOnce => {}
                QoS::AtLeastOnce => self.send_ack(ck, 0x40, packet_id),
                QoS::ExactlyOnce => self.send_ack(ck, 0x50, packet_id),
            }
            return;
        }
        let mut ack = Ack::new(packet_id);
        ack.reason = 0x87;
        if qos == QoS::ExactlyOnce {
            if let Some(sess) = sk.and_then(|sk| self.sessions.get_mut(sk)) {
                sess.msgs.incoming_release(packet_id);
            }
        }
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send_packet(ck, &Packet::PubAck(ack), version),
            QoS::ExactlyOnce => self.send_packet(ck, &Packet::PubRec(ack), version),
        }
    }
}
