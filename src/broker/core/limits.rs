//! Limits that protect the broker's memory: `memory_limit` refuses new
//! stored data (never new clients, nor what frees memory), and oversize
//! packets are refused at their fixed header, before they are buffered.

use super::context::CloseReason;
use super::ids::ConnId;
use super::Core;
use crate::protocol::{Ack, Packet, ProtocolVersion, Publish, QoS, ReasonCode};

impl Core {
    /// After bytes from a client that had not connected: if they completed
    /// its CONNECT, its keepalive clock starts at `now_ms`.
    pub(super) fn connect_received(&mut self, ck: ConnId, now_ms: u32) {
        if let Some(conn) = self.conns.get_mut(ck) {
            if conn.session().is_some() {
                conn.last_rx = now_ms;
            }
        }
    }

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

/// What the fixed header of the next packet means for buffering it.
pub(super) enum AtHeader {
    /// Handle it the usual way (whole, once it is all there).
    Whole,
    /// More bytes are needed to decide.
    Wait,
    /// An oversize PUBLISH: these bytes of it were dropped, the rest will be
    /// skipped as it arrives.
    Skipping(usize),
}

/// The largest PUBLISH variable header looked at to find the payload's
/// size: the longest topic, a packet id and 64 KiB of MQTT 5 properties.
/// A PUBLISH whose header is longer counts it as payload.
const MAX_VARIABLE_HEADER: usize = 2 + 65_535 + 2 + 4 + 64 * 1024;

/// An MQTT variable byte integer at the start of `b`: (value, length).
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0;
    for (i, byte) in b.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The length of a PUBLISH's variable header (topic, packet id, MQTT 5
/// properties) whose body starts `body`; None while incomplete.
fn variable_header_len(body: &[u8], qos: u8, v5: bool) -> Option<usize> {
    let topic_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let mut len = 2 + topic_len + if qos > 0 { 2 } else { 0 };
    if v5 {
        let (props, n) = varint(body.get(len..)?)?;
        len += n + props;
    }
    Some(len)
}

impl Core {
    /// Decides at its fixed header what to do with a PUBLISH whose payload
    /// is over `message_size_limit` and which is not all here yet: it is
    /// never buffered whole. Its topic and packet id are read, the rest is
    /// skipped as it arrives, and its QoS 1/2 exchange is completed once it
    /// has all been read, as for any oversize message. `rest` starts with
    /// the packet.
    pub(super) fn oversize_at_header(
        &mut self,
        ck: ConnId,
        header: &crate::protocol::FixedHeader,
        rest: &[u8],
    ) -> AtHeader {
        let limit = self.settings.message_size_limit;
        let total = header.total_len();
        let publish = header.packet_type() == crate::protocol::PacketType::Publish as u8;
        if rest.len() >= total {
            return AtHeader::Whole;
        }
        // Whatever the packet, buffering it must fit in memory_limit (a
        // CONNECT, at most 512 KiB, is always taken).
        let memory = self.settings.memory_limit;
        let connected = self.conns.get(ck).is_some_and(|c| c.session().is_some());
        if connected && !crate::broker::heap::has_room(memory, total - rest.len()) {
            self.schedule_close(ck, CloseReason::OutOfMemory);
            return AtHeader::Wait;
        }
        if !publish || limit == 0 || header.remaining_length <= limit {
            return AtHeader::Whole;
        }
        let Some(conn) = self.conns.get(ck) else {
            return AtHeader::Whole;
        };
        let v5 = conn.protocol == ProtocolVersion::V5;
        let qos = (header.byte1 >> 1) & 3;
        let body = rest.get(header.header_len..).unwrap_or(&[]);
        let vh = match variable_header_len(body, qos, v5) {
            Some(n) if n <= MAX_VARIABLE_HEADER => n,
            Some(_) => 0,
            None if body.len() < MAX_VARIABLE_HEADER => return AtHeader::Wait,
            None => 0,
        };
        if header.remaining_length.saturating_sub(vh) <= limit {
            return AtHeader::Whole;
        }
        if vh == 0 {
            // Properties past any sensible size: no packet id to answer.
            self.schedule_close(ck, CloseReason::Oversize);
            return AtHeader::Wait;
        }
        let topic_len = usize::from(u16::from_be_bytes([
            body.first().copied().unwrap_or(0),
            body.get(1).copied().unwrap_or(0),
        ]));
        let topic = body
            .get(2..2 + topic_len)
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let packet_id = body
            .get(2 + topic_len..4 + topic_len)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u16::from_be_bytes);
        crate::debug!(
            "Dropped too large PUBLISH from {} (q{qos}, m{packet_id}, '{topic}', ... ({} bytes)).",
            self.conn_id(ck),
            header.remaining_length.saturating_sub(vh)
        );
        self.stats.msgs_received += 1;
        self.stats.msgs_dropped += 1;
        let ack = match qos {
            0 => None,
            1 => Some((QoS::AtLeastOnce, packet_id)),
            _ => Some((QoS::ExactlyOnce, packet_id)),
        };
        if let Some(conn) = self.conns.get_mut(ck) {
            let cold = conn.cold_mut();
            cold.skip = u32::try_from(total - rest.len()).unwrap_or(u32::MAX);
            cold.skip_ack = ack;
        }
        AtHeader::Skipping(rest.len())
    }

    /// Drops the bytes of an oversize PUBLISH being skipped from the front
    /// of `data`, completes its QoS exchange once it is all read, and
    /// returns what follows it.
    pub(super) fn skip_oversize<'a>(&mut self, ck: ConnId, data: &'a [u8]) -> &'a [u8] {
        let Some(cold) = self.conns.get_mut(ck).and_then(|c| c.cold.as_mut()) else {
            return data;
        };
        if cold.skip == 0 {
            return data;
        }
        let n = data.len().min(cold.skip as usize);
        cold.skip -= n as u32;
        if cold.skip > 0 {
            return &[];
        }
        if let Some((qos, id)) = cold.skip_ack.take() {
            self.acknowledge_oversize(ck, qos, id);
        }
        data.get(n..).unwrap_or(&[])
    }

    /// The QoS 1/2 answer to an oversize message, as mosquitto gives it:
    /// acknowledged (MQTT 5: "packet too large") and not passed on.
    fn acknowledge_oversize(&mut self, ck: ConnId, qos: QoS, id: u16) {
        let Some(version) = self.conns.get(ck).map(|c| c.protocol) else {
            return;
        };
        let ack = if version == ProtocolVersion::V5 {
            Ack::with_reason(id, ReasonCode::PACKET_TOO_LARGE)
        } else {
            Ack::new(id)
        };
        let packet = match qos {
            QoS::ExactlyOnce => Packet::PubRec(ack),
            _ => Packet::PubAck(ack),
        };
        self.send_packet(ck, &packet, version);
    }
}
