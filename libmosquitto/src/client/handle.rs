//! Incoming packets: cut from the input buffer by the project's codec and
//! answered as libmosquitto answers them (`lib/handle_*.c`).

use mosquitto_rs::protocol::{
    fixed_header, Ack, DecodeError, Packet, Properties, ProtocolVersion, Publish, QoS,
};

use super::{Client, ConnState, Event, OutStage};
use crate::consts::*;

fn decode_rc(e: &DecodeError) -> i32 {
    if e.is_malformed() {
        MALFORMED_PACKET
    } else {
        PROTOCOL
    }
}

impl Client {
    /// Handles every whole packet in the input buffer; an error code means
    /// the connection must close.
    pub(super) fn handle_input(&mut self) -> i32 {
        let mut start = 0usize;
        let mut rc = SUCCESS;
        loop {
            let rest = self.inbuf.get(start..).unwrap_or(&[]);
            let header = match fixed_header(rest) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    rc = decode_rc(&e);
                    break;
                }
            };
            let Some(body) = rest.get(header.header_len..header.total_len()) else {
                break;
            };
            let decoded = Packet::decode(&header, body, self.cfg.version);
            start += header.total_len();
            match decoded {
                Ok(p) => {
                    rc = self.handle_packet(p);
                    if rc != SUCCESS {
                        break;
                    }
                }
                Err(e) => {
                    rc = decode_rc(&e);
                    break;
                }
            }
        }
        self.inbuf.drain(..start.min(self.inbuf.len()));
        if rc == SUCCESS {
            self.flush_quietly();
        }
        rc
    }

    fn handle_packet(&mut self, p: Packet) -> i32 {
        if !matches!(p, Packet::ConnAck(_)) {
            self.log_packet(&p, false);
        }
        match p {
            Packet::ConnAck(c) => self.on_connack(c.code, c.session_present, c.properties),
            Packet::Publish(p) => self.on_publish(p),
            Packet::PubAck(a) => self.on_ack_done(a, QoS::AtLeastOnce),
            Packet::PubComp(a) => self.on_ack_done(a, QoS::ExactlyOnce),
            Packet::PubRec(a) => self.on_pubrec(a),
            Packet::PubRel(a) => self.on_pubrel(a),
            Packet::SubAck(s) => {
                let granted = s.codes.iter().map(|c| i32::from(*c)).collect();
                self.events.push(Event::Subscribe {
                    mid: s.packet_id,
                    granted,
                    props: s.properties,
                });
                SUCCESS
            }
            Packet::UnsubAck(u) => {
                self.events.push(Event::Unsubscribe {
                    mid: u.packet_id,
                    props: u.properties,
                });
                SUCCESS
            }
            Packet::PingResp => {
                self.ping_sent = None;
                SUCCESS
            }
            Packet::Disconnect(reason, props) => {
                // A server's DISCONNECT (MQTT 5): the connection ends with
                // its reason code.
                self.drop_stream();
                self.state = ConnState::Lost;
                self.events.push(Event::Disconnect {
                    rc: i32::from(reason),
                    props,
                });
                SUCCESS
            }
            // Read and ignored, as libmosquitto 2.0 does.
            Packet::Auth(_) => SUCCESS,
            // A client is never sent these.
            _ => PROTOCOL,
        }
    }

    fn on_connack(&mut self, code: u8, session_present: bool, props: Properties) -> i32 {
        if self.state != ConnState::Connecting {
            return PROTOCOL;
        }
        let id = super::log::id_text(self.cfg.id.as_deref()).to_owned();
        self.log(LOG_DEBUG, format!("Client {id} received CONNACK ({code})"));
        if let Some(assigned) = props.assigned_client_identifier() {
            if self.cfg.id.as_deref().unwrap_or("").is_empty() {
                self.cfg.id = Some(assigned.to_owned());
            }
        }
        self.server_limits(&props);
        if let Some(ka) = props.server_keep_alive() {
            self.cfg.keepalive = ka;
        }
        if code == 0 {
            self.reconnects = 0;
        }
        self.events.push(Event::Connect {
            rc: i32::from(code),
            flags: i32::from(session_present),
            props,
        });
        match code {
            0 => {
                if self.state != ConnState::Disconnecting {
                    self.state = ConnState::Active;
                }
                self.mark_for_resend();
                self.resend_pending = true;
                SUCCESS
            }
            1..=5 if self.cfg.version != ProtocolVersion::V5 => CONN_REFUSED,
            _ if self.cfg.version == ProtocolVersion::V5 => CONN_REFUSED,
            _ => PROTOCOL,
        }
    }

    /// An incoming topic alias: an empty topic takes the alias's topic, a
    /// topic with an alias sets it (unknown alias: protocol error).
    fn resolve_alias(&mut self, p: &mut Publish) -> bool {
        let Some(alias) = p.properties.topic_alias() else {
            return true;
        };
        if p.topic.is_empty() {
            match self.aliases.iter().find(|(a, _)| *a == alias) {
                Some((_, t)) => p.topic = t.clone(),
                None => return false,
            }
        } else {
            self.aliases.retain(|(a, _)| *a != alias);
            self.aliases.push((alias, p.topic.clone()));
        }
        true
    }

    fn on_publish(&mut self, mut p: Publish) -> i32 {
        if !self.resolve_alias(&mut p) {
            return PROTOCOL;
        }
        match p.qos {
            QoS::AtMostOnce => self.events.push(Event::Message(p)),
            QoS::AtLeastOnce => {
                self.queue(&Packet::PubAck(Ack::new(p.packet_id)));
                self.events.push(Event::Message(p));
            }
            QoS::ExactlyOnce => {
                self.queue(&Packet::PubRec(Ack::new(p.packet_id)));
                // A resend (DUP) of one we hold replaces it.
                self.incoming.retain(|m| m.packet_id != p.packet_id);
                self.incoming.push(p);
            }
        }
        SUCCESS
    }

    fn on_pubrel(&mut self, a: Ack) -> i32 {
        self.queue(&Packet::PubComp(Ack::new(a.packet_id)));
        if let Some(pos) = self
            .incoming
            .iter()
            .position(|m| m.packet_id == a.packet_id)
        {
            let msg = self.incoming.remove(pos);
            self.events.push(Event::Message(msg));
        }
        SUCCESS
    }

    fn on_pubrec(&mut self, a: Ack) -> i32 {
        let pos = self
            .outgoing
            .iter()
            .position(|m| m.msg.packet_id == a.packet_id && m.stage == OutStage::WaitPubRec);
        if a.reason >= 0x80 {
            // MQTT 5: the broker refused the message; it is finished.
            if let Some(pos) = pos {
                self.outgoing.remove(pos);
            }
            self.events.push(Event::Publish {
                mid: a.packet_id,
                reason: i32::from(a.reason),
                props: a.properties,
            });
            self.send_next_queued();
            return SUCCESS;
        }
        if let Some(m) = pos.and_then(|p| self.outgoing.get_mut(p)) {
            m.stage = OutStage::WaitPubComp;
        }
        self.queue(&Packet::PubRel(Ack::new(a.packet_id)));
        SUCCESS
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2): the message is done.
    fn on_ack_done(&mut self, a: Ack, qos: QoS) -> i32 {
        let want = if qos == QoS::AtLeastOnce {
            OutStage::WaitPubAck
        } else {
            OutStage::WaitPubComp
        };
        let pos = self
            .outgoing
            .iter()
            .position(|m| m.msg.packet_id == a.packet_id && m.stage == want);
        if let Some(pos) = pos {
            self.outgoing.remove(pos);
            self.events.push(Event::Publish {
                mid: a.packet_id,
                reason: i32::from(a.reason),
                props: a.properties,
            });
            self.send_next_queued();
        }
        SUCCESS
    }
}
