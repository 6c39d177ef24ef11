//! Outgoing messages: publishing, the in-flight window, and resending
//! after a reconnect (libmosquitto's `messages_mosq.c`).

use mosquitto_rs::protocol::{Ack, Packet, Properties, Publish, QoS};

use super::{Client, ConnState, Event, OutMsg, OutStage};
use crate::consts::*;

impl Client {
    pub(super) fn inflight_count(&self) -> usize {
        self.outgoing
            .iter()
            .filter(|m| m.stage != OutStage::Queued)
            .count()
    }

    fn inflight_limit(&self) -> usize {
        let own = match self.cfg.max_inflight {
            0 => usize::MAX,
            n => usize::from(n),
        };
        own.min(usize::from(self.server_receive_max))
    }

    /// `mosquitto_publish_v5` after argument checks.
    pub fn publish(&mut self, mut msg: Publish, mid: u16) -> i32 {
        // MQTT 5 brokers announce limits; libmosquitto refuses beyond them.
        if msg.qos > self.server_max_qos {
            return QOS_NOT_SUPPORTED;
        }
        if msg.retain && !self.server_retain {
            return RETAIN_NOT_SUPPORTED;
        }
        if let Some(max) = self.server_max_packet {
            let len = Packet::Publish(msg.clone()).encoded_len(self.cfg.version);
            if u32::try_from(len).map_or(true, |l| l > max) {
                return OVERSIZE_PACKET;
            }
        }
        if msg.qos == QoS::AtMostOnce {
            if self.stream.is_none() || self.state == ConnState::Disconnecting {
                return NO_CONN;
            }
            self.queue(&Packet::Publish(msg));
            self.flush_quietly();
            self.events.push(Event::Publish {
                mid,
                reason: 0,
                props: Properties::default(),
            });
            return SUCCESS;
        }
        let can_send =
            self.state == ConnState::Active && self.inflight_count() < self.inflight_limit();
        let stage = if can_send {
            msg.dup = false;
            self.queue(&Packet::Publish(msg.clone()));
            self.first_stage(msg.qos)
        } else {
            OutStage::Queued
        };
        self.outgoing.push_back(OutMsg {
            msg,
            stage,
            resend: false,
        });
        if can_send {
            self.flush_quietly();
        }
        SUCCESS
    }

    fn first_stage(&self, qos: QoS) -> OutStage {
        if qos == QoS::ExactlyOnce {
            OutStage::WaitPubRec
        } else {
            OutStage::WaitPubAck
        }
    }

    /// Called after the callbacks of a turn have run: the resend CONNACK
    /// asked for.
    pub fn after_callbacks(&mut self) {
        if std::mem::take(&mut self.resend_pending) && self.state == ConnState::Active {
            self.resend_outgoing();
            self.flush_quietly();
        }
    }

    /// At CONNACK: what is in flight now is to be resent.
    pub(super) fn mark_for_resend(&mut self) {
        for m in self.outgoing.iter_mut() {
            m.resend = m.stage != OutStage::Queued;
        }
    }

    /// After CONNACK: resend what was in flight (DUP set), then send queued
    /// messages up to the in-flight limit.
    fn resend_outgoing(&mut self) {
        let limit = self.inflight_limit();
        let mut sent = 0usize;
        let mut out = std::mem::take(&mut self.out);
        let mut logged = Vec::new();
        for m in self.outgoing.iter_mut() {
            match m.stage {
                OutStage::WaitPubComp | OutStage::WaitPubAck | OutStage::WaitPubRec
                    if !std::mem::take(&mut m.resend) => {}
                OutStage::WaitPubComp => {
                    let p = Packet::PubRel(Ack::new(m.msg.packet_id));
                    p.encode(&mut out, self.cfg.version);
                    logged.push(p);
                    sent += 1;
                }
                OutStage::WaitPubAck | OutStage::WaitPubRec => {
                    m.msg.dup = true;
                    let p = Packet::Publish(m.msg.clone());
                    p.encode(&mut out, self.cfg.version);
                    logged.push(p);
                    sent += 1;
                }
                OutStage::Queued if sent < limit => {
                    m.msg.dup = false;
                    let p = Packet::Publish(m.msg.clone());
                    p.encode(&mut out, self.cfg.version);
                    logged.push(p);
                    m.stage = if m.msg.qos == QoS::ExactlyOnce {
                        OutStage::WaitPubRec
                    } else {
                        OutStage::WaitPubAck
                    };
                    sent += 1;
                }
                OutStage::Queued => {}
            }
        }
        self.out = out;
        for p in logged {
            self.log_packet(&p, true);
        }
    }

    /// Takes the broker's limits from its CONNACK properties.
    pub(super) fn server_limits(&mut self, props: &Properties) {
        self.server_receive_max = props.receive_maximum().unwrap_or(u16::MAX);
        self.server_max_packet = props.maximum_packet_size();
        self.server_max_qos = props.maximum_qos().unwrap_or(QoS::ExactlyOnce);
        self.server_retain = props.retain_available().unwrap_or(true);
    }

    /// A slot in flight was freed: send the next queued message.
    pub(super) fn send_next_queued(&mut self) {
        if self.state != ConnState::Active || self.inflight_count() >= self.inflight_limit() {
            return;
        }
        let next = self
            .outgoing
            .iter_mut()
            .find(|m| m.stage == OutStage::Queued)
            .map(|m| {
                m.stage = if m.msg.qos == QoS::ExactlyOnce {
                    OutStage::WaitPubRec
                } else {
                    OutStage::WaitPubAck
                };
                Packet::Publish(m.msg.clone())
            });
        if let Some(p) = next {
            self.queue(&p);
        }
    }
}
