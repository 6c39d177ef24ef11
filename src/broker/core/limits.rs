//! Limits that protect the broker's memory: `memory_limit` refuses new
//! stored data (never new clients, nor what frees memory), and oversize
//! packets are refused at their fixed header, before they are buffered.

use super::context::CloseReason;
use super::ids::ConnId;
use super::Core;
use crate::protocol::{Ack, Packet, ProtocolVersion, Publish, QoS, ReasonCode};

impl Core {
    /// Over `memory_limit`, a PUBLISH that would add stored data (a
    /// retained message, queued copies) is refused: an MQTT 5 client gets
    /// PUBACK/PUBREC "quota exceeded" and stays; MQTT 3.x has no negative
    /// acknowledgement, so a QoS 1/2 publisher is disconnected unacknowledged
    /// (it sends the message again once it is back, as with mosquitto) and
    /// QoS 0 is dropped. Clearing a retained message only frees memory, so
    /// it always goes through. True if `p` was refused.
    pub(super) fn refused_for_memory(&mut self, ck: ConnId, p: &Publish) -> bool {
        let frees = p.retain && p.payload.is_empty();
        let size = p.payload.len() + p.topic.len();
        if frees || crate::broker::heap::has_room(self.settings.memory_limit, size) {
            return false;
        }
        self.stats.msgs_dropped += 1;
        crate::debug!(
            "Refused PUBLISH from {} ('{}'): memory_limit reached.",
            self.conn_id(ck),
            p.topic
        );
        let version = self.conns.get(ck).map(|c| c.protocol);
        let quota = |id| Ack::with_reason(id, ReasonCode::QUOTA_EXCEEDED);
        match (version, p.qos) {
            (_, QoS::AtMostOnce) | (None, _) => {}
            (Some(v @ ProtocolVersion::V5), QoS::AtLeastOnce) => {
                self.send_packet(ck, &Packet::PubAck(quota(p.packet_id)), v)
            }
            (Some(v @ ProtocolVersion::V5), QoS::ExactlyOnce) => {
                self.send_packet(ck, &Packet::PubRec(quota(p.packet_id)), v)
            }
            (Some(_), _) => self.schedule_close(ck, CloseReason::OutOfMemory),
        }
        true
    }
}
