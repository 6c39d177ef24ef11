//! Input: cut whole packets out of the bytes the shell read, decode and
//! dispatch each. Only the tail of an incomplete packet is ever copied into
//! the connection's own buffer.

use std::time::Instant;

use super::context::CloseReason;
use super::ids::ConnId;
use super::limits::AtHeader;
use super::{Core, Transport};
use crate::protocol::{fixed_header, DecodeError, Packet, PacketType, ProtocolVersion};

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
            if !connected && header.packet_type() != PacketType::Connect as u8 {
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
            let Some(conn) = self.conns.get(ck) else {
                return pos;
            };
            let Some(body) = rest.get(header.header_len..header.total_len()) else {
                return pos;
            };
            pos += header.total_len();
            self.stats.msgs_received += 1;
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
        let reason = match e {
            DecodeError::MalformedRemainingLength
            | DecodeError::Truncated
            | DecodeError::TrailingBytes
            | DecodeError::InvalidUtf8
            | DecodeError::MalformedProperties => CloseReason::Malformed,
            _ => CloseReason::Protocol,
        };
        self.schedule_close(ck, reason);
    }

    fn handle_packet(&mut self, ck: ConnId, packet: Packet, peers: &dyn Transport) {
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        if conn.session().is_none() {
            match packet {
                Packet::Connect(c) => self.handle_connect(ck, *c, peers),
                _ => self.schedule_close(ck, CloseReason::Protocol),
            }
            return;
        }
        let version = conn.protocol;
        if conn.bridge().is_some() && self.bridge_packet(ck, &packet) {
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
            Packet::Disconnect(..) => {
                crate::debug!("Received DISCONNECT from {}", self.conn_id(ck));
                if let Some(conn) = self.conns.get_mut(ck) {
                    conn.take_will();
                }
                self.schedule_close(ck, CloseReason::Disconnect);
            }
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
            // Extended authentication is not offered, so AUTH is unexpected.
            Packet::Auth(_) => self.schedule_close(ck, CloseReason::Protocol),
        }
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
