//! Input: cut whole packets out of the bytes the shell read, decode and
//! dispatch each. Only the tail of an incomplete packet is ever copied into
//! the connection's own buffer.

use std::time::Instant;

use super::context::CloseReason;
use super::ids::ConnId;
use super::limits::AtHeader;
use super::{Core, Transport};
use crate::protocol::{
    fixed_header, DecodeError, Packet, PacketType, Properties, ProtocolVersion, QoS, ReasonCode,
};

/// Reads per connection per turn before others get their go.
pub const READS_PER_TURN: usize = 16;

/// A CONNECT holds at most a few 64 KiB fields; anything larger before a
/// client has been accepted is refused before it is buffered.
const MAX_CONNECT_LEN: usize = 512 * 1024;

impl Core {
    /// Bytes read from `ck` at `now`: handles every whole packet in them
    /// (after any left from before) and keeps the tail of an incomplete one.
    pub fn received(&mut self, ck: ConnId, data: &[u8], now: Instant, peers: &dyn Transport) {
        self.now = now;
        let now_ms = self.timers.now_ms(now) as u32;
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        // Before CONNECT, last_rx stays when the connection opened: the
        // CONNECT deadline counts from there, however slowly bytes come.
        let connected = conn.session().is_some();
        if connected {
            conn.last_rx = now_ms;
        }
        self.stats.bytes_received += data.len() as u64;
        let data = self.skip_oversize(ck, data);
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        if conn.rbuf_is_empty() {
            let used = self.process_bytes(ck, data, peers);
            let rest = data.get(used..).unwrap_or(&[]);
            if let (false, Some(conn)) = (rest.is_empty(), self.conns.get_mut(ck)) {
                conn.io_mut().rbuf.extend_from_slice(rest);
            }
        } else {
            conn.io_mut().rbuf.extend_from_slice(data);
            self.process_buffered(ck, now, peers);
        }
        if !connected {
            self.connect_received(ck, now_ms);
        }
    }

    /// Handles the whole packets in the connection's carry-over buffer
    /// (the shell calls it before reading: packets left from before a
    /// pause go first).
    pub fn process_buffered(&mut self, ck: ConnId, now: Instant, peers: &dyn Transport) {
        self.now = now;
        self.admit_released(ck);
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        if conn.rbuf_is_empty() || conn.paused {
            return;
        }
        let mut buf = std::mem::take(&mut conn.io_mut().rbuf);
        let used = self.process_bytes(ck, &buf, peers);
        buf.drain(..used.min(buf.len()));
        if buf.capacity() > 64 * 1024 && buf.len() < 16 * 1024 {
            buf.shrink_to(16 * 1024);
        }
        if let Some(conn) = self.conns.get_mut(ck) {
            conn.io_mut().rbuf = buf;
        }
    }

    /// Handles every whole packet at the front of `data`; returns how many
    /// bytes were used. Stops at the first incomplete packet or once the
    /// connection is closing.
    fn process_bytes(&mut self, ck: ConnId, data: &[u8], peers: &dyn Transport) -> usize {
        let mut pos = 0;
        loop {
            let Some(conn) = self.conns.get(ck) else {
                return pos;
            };
            if conn.closing.is_some() || conn.paused {
                return pos;
            }
            let rest = data.get(pos..).unwrap_or(&[]);
            let header = match fixed_header(rest) {
                Ok(Some(h)) => h,
                Ok(None) => return pos,
                Err(_) => {
                    self.schedule_close(ck, CloseReason::Malformed);
                    return pos;
                }
            };
            // Limits apply as soon as the length is known, before buffering.
            let connected = conn.session().is_some();
            // Before CONNACK only CONNECT, and AUTH during an exchange.
            let authenticating = conn
                .cold
                .as_ref()
                .is_some_and(|c| c.pending_connect.is_some());
            let t = header.packet_type();
            let expected =
                t == PacketType::Connect as u8 || (authenticating && t == PacketType::Auth as u8);
            if !connected && !expected {
                self.schedule_close(ck, CloseReason::Protocol);
                return pos;
            }
            let max = self.settings.max_packet_size;
            let limit = match (connected, max) {
                (true, _) => max,
                (false, 0) => MAX_CONNECT_LEN,
                (false, m) => m.min(MAX_CONNECT_LEN),
            };
            if limit > 0 && header.total_len() > limit {
                self.schedule_close(ck, CloseReason::Oversize);
                return pos;
            }
            match self.oversize_at_header(ck, &header, rest) {
                AtHeader::Whole => {}
                AtHeader::Wait => return pos,
                AtHeader::Skipping(n) => {
                    pos += n;
                    continue;
                }
            }
            if self.conns.get(ck).is_none() {
                return pos;
            }
            let Some(body) = rest.get(header.header_len..header.total_len()) else {
                return pos;
            };
            pos += header.total_len();
            self.stats.msgs_received += 1;
            // Bridges and admission checks have nothing to say about acks.
            if connected && header.remaining_length == 2 && self.short_ack(ck, header.byte1, body) {
                continue;
            }
            let Some(conn) = self.conns.get(ck) else {
                return pos;
            };
            match Packet::decode(&header, body, conn.protocol) {
                Ok(packet) => self.handle_packet(ck, packet, peers),
                Err(e) => self.decode_error(ck, e, peers),
            }
        }
    }

    fn decode_error(&mut self, ck: ConnId, e: DecodeError, peers: &dyn Transport) {
        if let DecodeError::UnsupportedProtocolVersion(v) = e {
            if let Some(conn) = self.conns.get_mut(ck) {
                if conn.session().is_none() {
                    if self.settings.connection_messages {
                        crate::information!(
                            "Invalid protocol version {v} in CONNECT from {}.",
                            peers.peer_name(ck)
                        );
                    }
                    self.send_connack_refusal(ck, 1);
                    return;
                }
            }
        }
        crate::debug!("Bad packet from {}: {e}.", self.conn_id(ck));
        // The spec's classification (MQTT 5 tells the client which).
        let reason = match e.is_malformed() {
            true => CloseReason::Malformed,
            false => CloseReason::Protocol,
        };
        self.schedule_close(ck, reason);
    }

    fn handle_packet(&mut self, ck: ConnId, packet: Packet, peers: &dyn Transport) {
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        if conn.session().is_none() {
            match packet {
                Packet::Connect(c)
                    if conn
                        .cold
                        .as_ref()
                        .is_none_or(|c| c.pending_connect.is_none()) =>
                {
                    self.handle_connect(ck, *c, peers)
                }
                Packet::Auth(a) => self.handle_auth(ck, a, peers),
                _ => self.schedule_close(ck, CloseReason::Protocol),
            }
            return;
        }
        let version = conn.protocol;
        if conn.bridge().is_some() && self.bridge_packet(ck, &packet) {
            return;
        }
        if !self.admissible(ck, &packet) {
            return;
        }
        match packet {
            Packet::Publish(p) => self.handle_publish(ck, p),
            Packet::PubAck(a) => self.handle_puback(ck, a.packet_id),
            Packet::PubRec(a) => self.handle_pubrec(ck, a.packet_id),
            Packet::PubRel(a) => self.handle_pubrel(ck, a.packet_id),
            Packet::PubComp(a) => self.handle_pubcomp(ck, a.packet_id),
            Packet::Subscribe(s) => self.handle_subscribe(ck, s),
            Packet::Unsubscribe(u) => self.handle_unsubscribe(ck, u),
            Packet::PingReq => {
                crate::debug!("Received PINGREQ from {}", self.conn_id(ck));
                self.send_packet(ck, &Packet::PingResp, version);
            }
            Packet::Disconnect(reason, props) => self.handle_disconnect(ck, reason, &props),
            Packet::Connect(_) => {
                crate::notice!(
                    "Bad client {} sending multiple CONNECT messages.",
                    self.conn_id(ck)
                );
                self.schedule_close(ck, CloseReason::Protocol);
            }
            // Packets only a broker sends.
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                self.schedule_close(ck, CloseReason::Protocol)
            }
            // Re-authentication (a protocol error without a backend).
            Packet::Auth(a) => self.handle_auth(ck, a, peers),
        }
    }

    /// DISCONNECT from the client. MQTT 5: reason 0x04 keeps the will, and
    /// a session expiry interval may change the session's, except from 0
    /// (protocol error, spec 3.14.2.2.2).
    fn handle_disconnect(&mut self, ck: ConnId, reason: u8, props: &Properties) {
        crate::debug!("Received DISCONNECT from {}", self.conn_id(ck));
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let v5 = conn.protocol == ProtocolVersion::V5;
        if let (true, Some(expiry)) = (v5, props.session_expiry_interval()) {
            let sess = conn.session().and_then(|sk| self.sessions.get_mut(sk));
            match sess {
                Some(s) if s.expiry_interval == 0 && expiry != 0 => {
                    self.schedule_close(ck, CloseReason::Protocol);
                    return;
                }
                Some(s) => s.set_expiry(expiry),
                None => {}
            }
        }
        let keep_will = v5 && reason == ReasonCode::DISCONNECT_WITH_WILL_MESSAGE.0;
        if let (false, Some(conn)) = (keep_will, self.conns.get_mut(ck)) {
            conn.take_will();
        }
        self.schedule_close(ck, CloseReason::Disconnect);
    }

    /// Checks that need the connection's state before a packet is handled:
    /// topic depth (mosquitto's limit) and, for MQTT 5, our receive
    /// maximum on unreleased QoS 2 messages. Closes and returns false when
    /// one fails.
    fn admissible(&mut self, ck: ConnId, packet: &Packet) -> bool {
        let deep = match packet {
            Packet::Publish(p) => super::too_many_levels(&p.topic),
            Packet::Subscribe(s) => s.filters.iter().any(|(f, _)| super::too_many_levels(f)),
            Packet::Unsubscribe(u) => u.filters.iter().any(|f| super::too_many_levels(f)),
            _ => false,
        };
        if deep {
            self.schedule_close(ck, CloseReason::Protocol);
            return false;
        }
        let Packet::Publish(p) = packet else {
            return true;
        };
        let max = self.settings.limits.max_inflight;
        let conn = self.conns.get(ck);
        let v5 = conn.is_some_and(|c| c.protocol == ProtocolVersion::V5);
        if !v5 || p.qos != QoS::ExactlyOnce || max == 0 {
            return true;
        }
        let sess = conn
            .and_then(|c| c.session())
            .and_then(|sk| self.sessions.get(sk));
        let over = sess
            .and_then(|s| s.msgs.incoming.as_deref())
            .is_some_and(|ids| ids.len() >= max && ids.binary_search(&p.packet_id).is_err());
        if over {
            self.schedule_close(ck, CloseReason::ReceiveMaximum);
        }
        !over
    }

    /// The connection's client id for log lines.
    pub(super) fn conn_id(&self, ck: ConnId) -> &str {
        self.conns
            .get(ck)
            .map(|c| self.log_id_of(c))
            .unwrap_or("<unknown>")
    }

    /// Encodes `packet` into the connection's output buffer.
    pub(super) fn send_packet(&mut self, ck: ConnId, packet: &Packet, version: ProtocolVersion) {
        if let Some(conn) = self.conns.get_mut(ck) {
            packet.encode(conn.out(), version);
            self.stats.msgs_sent += 1;
            Self::mark_dirty(&mut self.dirty, conn, ck);
        }
    }
}
