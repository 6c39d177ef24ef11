//! The message store and each session's outgoing state: a published message
//! is stored once (`Rc<Message>`) and every subscriber's queue holds a
//! reference plus the per-delivery header (QoS, packet id, state).

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::protocol::{Properties, QoS};

/// The client that published a message: what `check_retain_source` asks
/// the ACL about again, and what mosquitto.db records as the source. One is
/// shared by all the messages of a connection, so a message pays a pointer.
#[derive(Debug, PartialEq, Eq)]
pub struct MsgSource {
    pub client_id: Rc<str>,
    pub username: Option<Rc<str>>,
    /// The security domain of the listener it came in on, or
    /// [`MsgSource::NO_DOMAIN`] when that listener is not known (a
    /// message loaded from a file): then no ACL allows it.
    pub security: u16,
    /// That listener's port (0 if unknown), for mosquitto.db.
    pub port: u16,
}

impl MsgSource {
    pub const NO_DOMAIN: u16 = u16::MAX;
}

/// A stored application message, shared by every queue it sits in.
#[derive(Debug)]
pub struct Message {
    pub topic: Box<str>,
    pub payload: Box<[u8]>,
    /// The publishing client; None for the broker's own messages (`$SYS`,
    /// bridge notifications) and for what our bridges bring in, which no
    /// ACL applies to.
    pub source: Option<Rc<MsgSource>>,
    /// The QoS it was published with.
    pub qos: QoS,
    /// The retain flag it was published with.
    pub retain: bool,
    /// MQTT 5 properties and expiry; None for most messages, so a 3.1.1
    /// message pays one pointer.
    pub v5: Option<Box<MsgProps>>,
}

/// The MQTT 5 parts of a message that pass through the broker.
#[derive(Debug, Default, PartialEq)]
pub struct MsgProps {
    /// Payload format indicator, content type, response topic, correlation
    /// data and user properties as published (canonical order); never a
    /// topic alias, subscription identifier or message expiry.
    pub properties: Properties,
    /// When the message expires (its message expiry interval after it was
    /// received), if it does.
    pub expires_at: Option<Instant>,
}

impl MsgProps {
    /// The properties of a received PUBLISH that travel with the message,
    /// with its expiry counted from `now`. None when there are none.
    pub fn from_publish(props: Properties, now: Instant) -> Option<Box<MsgProps>> {
        let interval = props.message_expiry_interval().unwrap_or(0);
        MsgProps::new(props, interval, now)
    }

    /// The properties to keep of `props` (a PUBLISH's or a stored
    /// message's), expiring `interval` seconds after `now` (0: never).
    pub fn new(mut props: Properties, interval: u32, now: Instant) -> Option<Box<MsgProps>> {
        use crate::protocol::properties::id;
        props.0.retain(|(i, _)| {
            !matches!(
                *i,
                id::TOPIC_ALIAS | id::SUBSCRIPTION_IDENTIFIER | id::MESSAGE_EXPIRY_INTERVAL
            )
        });
        if props.is_empty() && interval == 0 {
            return None;
        }
        let expires_at = (interval > 0).then(|| now + Duration::from_secs(u64::from(interval)));
        Some(Box::new(MsgProps {
            properties: props,
            expires_at,
        }))
    }
}

thread_local! {
    /// Messages alive in the store and their payload bytes, for `$SYS`.
    static STORED: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// (count, payload bytes) of messages currently stored.
pub fn store_totals() -> (u64, u64) {
    STORED.with(|s| s.get())
}

impl Drop for Message {
    fn drop(&mut self) {
        let n = self.payload.len() as u64;
        STORED.with(|s| {
            let (c, b) = s.get();
            s.set((c.saturating_sub(1), b.saturating_sub(n)));
        });
    }
}

impl Message {
    pub fn new(topic: String, payload: Vec<u8>, qos: QoS, retain: bool) -> Message {
        let n = payload.len() as u64;
        STORED.with(|s| {
            let (c, b) = s.get();
            s.set((c + 1, b + n));
        });
        Message {
            topic: topic.into_boxed_str(),
            payload: payload.into_boxed_slice(),
            source: None,
            qos,
            retain,
            v5: None,
        }
    }

    /// The same message, with MQTT 5 properties.
    pub fn with_props(mut self, v5: Option<Box<MsgProps>>) -> Message {
        self.v5 = v5;
        self
    }

    /// The passing-through properties (empty for most messages).
    pub fn properties(&self) -> Option<&Properties> {
        self.v5.as_ref().map(|p| &p.properties)
    }

    /// Seconds left before the message expires at `now`: None if it never
    /// does, Some(0) once it has (rounded up, so a message sent at once
    /// carries its whole interval, as mosquitto's does).
    pub fn expiry_left(&self, now: Instant) -> Option<u32> {
        let at = self.v5.as_ref()?.expires_at?;
        let left = at.saturating_duration_since(now).as_millis().div_ceil(1000);
        Some(u32::try_from(left).unwrap_or(u32::MAX))
    }

    /// Whether the message has expired at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.expiry_left(now) == Some(0)
    }

    /// The same message, recorded as published by `source`.
    pub fn with_source(mut self, source: Option<Rc<MsgSource>>) -> Message {
        self.source = source;
        self
    }

    /// Bytes counted against `max_queued_bytes` (the payload, as mosquitto).
    pub fn size(&self) -> usize {
        self.payload.len()
    }
}

/// Where an outgoing QoS 1/2 message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// QoS 1 sent, waiting for PUBACK.
    WaitPubAck,
    /// QoS 2 sent, waiting for PUBREC.
    WaitPubRec,
    /// PUBREL sent, waiting for PUBCOMP.
    WaitPubComp,
}

/// One message on its way to one session.
#[derive(Debug, Clone)]
pub struct OutMsg {
    pub msg: Rc<Message>,
    pub qos: QoS,
    pub retain: bool,
    pub packet_id: u16,
    pub state: OutState,
    /// The subscription identifier to send it with (MQTT 5), 0 for none.
    pub sub_id: u32,
}

impl OutMsg {
    /// A QoS 1/2 message goes into flight: its packet id, and the ack it
    /// waits for first.
    pub fn start_flight(&mut self, packet_id: u16) {
        self.packet_id = packet_id;
        self.state = if self.qos == QoS::ExactlyOnce {
            OutState::WaitPubRec
        } else {
            OutState::WaitPubAck
        };
    }
}

/// The per-session message lists: one deque with the in-flight messages
/// (sent and not yet fully acknowledged, in send order) at the front and
/// the queued ones (waiting for room in flight, or for the client to come
/// back) behind them. A queued message going into flight just moves the
/// boundary.
#[derive(Debug, Default)]
pub struct MsgLists {
    list: VecDeque<OutMsg>,
    /// How many at the front of `list` are in flight.
    n_inflight: u32,
    /// Payload bytes in the in-flight part, kept as messages move so the
    /// `max_inflight_bytes` check needs no scan.
    inflight_bytes: usize,
    /// Payload bytes in the queued part.
    pub queued_bytes: usize,
    /// QoS 2 packet ids received and not yet released (sorted); boxed
    /// because most clients never publish at QoS 2.
    pub incoming: Option<Box<Vec<u16>>>,
    pub last_packet_id: u16,
    /// An MQTT 5 client's receive maximum: its in-flight limit instead of
    /// `max_inflight_messages`, as in mosquitto (0: not given).
    pub recv_max: u16,
}

/// Queue limits, from mosquitto.conf.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// 0 means unlimited.
    pub max_inflight: usize,
    /// Payload bytes in flight; 0 means unlimited.
    pub max_inflight_bytes: usize,
    /// 0 means unlimited.
    pub max_queued: usize,
    /// 0 means unlimited.
    pub max_queued_bytes: usize,
}

impl MsgLists {
    /// Whether another message may be sent now without waiting for acks.
    /// As in mosquitto, the byte limit is checked before the next message is
    /// added: while under it, one more goes whatever its size, so a message
    /// bigger than the limit still goes (alone, once the window drains).
    pub fn inflight_room(&self, limits: &Limits) -> bool {
        let max = match self.recv_max {
            0 => limits.max_inflight,
            n => usize::from(n),
        };
        (max == 0 || self.inflight_len() < max)
            && (limits.max_inflight_bytes == 0 || self.inflight_bytes < limits.max_inflight_bytes)
    }

    /// Payload bytes of the in-flight messages.
    pub fn inflight_bytes(&self) -> usize {
        self.inflight_bytes
    }

    /// Whether the queue can take one more message of `size` bytes.
    pub fn queue_room(&self, limits: &Limits, size: usize) -> bool {
        (limits.max_queued == 0 || self.queued_len() < limits.max_queued)
            && (limits.max_queued_bytes == 0 || self.queued_bytes + size <= limits.max_queued_bytes)
    }

    pub fn inflight_len(&self) -> usize {
        self.n_inflight as usize
    }

    pub fn queued_len(&self) -> usize {
        self.list.len() - self.inflight_len()
    }

    /// The in-flight messages, oldest first.
    pub fn inflight(&self) -> impl Iterator<Item = &OutMsg> {
        self.list.range(..self.inflight_len())
    }

    /// The queued messages, oldest first.
    pub fn queued(&self) -> impl Iterator<Item = &OutMsg> {
        self.list.range(self.inflight_len()..)
    }

    /// Adds a message in flight, after the others in flight.
    pub fn push_inflight(&mut self, m: OutMsg) {
        self.inflight_bytes += m.msg.size();
        self.list.insert(self.inflight_len(), m);
        self.n_inflight += 1;
    }

    pub fn push_queued(&mut self, m: OutMsg) {
        self.queued_bytes += m.msg.size();
        self.list.push_back(m);
    }

    /// The oldest queued message.
    pub fn queued_front(&self) -> Option<&OutMsg> {
        self.list.get(self.inflight_len())
    }

    pub fn pop_queued(&mut self) -> Option<OutMsg> {
        let m = self.list.remove(self.inflight_len())?;
        self.queued_bytes = self.queued_bytes.saturating_sub(m.msg.size());
        Some(m)
    }

    /// Moves the oldest queued message into flight (where it already is in
    /// the deque), for the caller to set its packet id and state.
    pub fn promote_queued(&mut self) -> Option<&mut OutMsg> {
        let i = self.inflight_len();
        let m = self.list.get_mut(i)?;
        self.queued_bytes = self.queued_bytes.saturating_sub(m.msg.size());
        self.inflight_bytes += m.msg.size();
        self.n_inflight += 1;
        Some(m)
    }

    /// A packet id not used by any in-flight message. Ids are handed out in
    /// order, so the only possible clash is with the oldest one still in
    /// flight after a full wrap; only then is a scan needed.
    #[inline]
    pub fn next_packet_id(&mut self) -> u16 {
        let id = match self.last_packet_id.wrapping_add(1) {
            0 => 1,
            n => n,
        };
        // The front of the deque is the oldest in flight, if any.
        let clash = self.n_inflight > 0 && self.list.front().is_some_and(|m| m.packet_id == id);
        if clash {
            return self.next_free_packet_id();
        }
        self.last_packet_id = id;
        id
    }

    /// `next_packet_id` after a full wrap: the next id no in-flight message
    /// holds.
    #[cold]
    fn next_free_packet_id(&mut self) -> u16 {
        for _ in 0..=u16::MAX {
            self.last_packet_id = self.last_packet_id.wrapping_add(1);
            if self.last_packet_id == 0 {
                self.last_packet_id = 1;
            }
            let id = self.last_packet_id;
            if !self.inflight().any(|m| m.packet_id == id) {
                return id;
            }
        }
        // Every id in flight: impossible while max_inflight <= 65535.
        self.last_packet_id
    }

    /// Removes the in-flight message `id` in `state`; true if it was there.
    pub fn ack(&mut self, id: u16, state: OutState) -> bool {
        // Clients mostly ack in order: the oldest first, a plain pop.
        let is = |m: &OutMsg| m.packet_id == id && m.state == state;
        let pos = match self.list.front() {
            Some(m) if self.n_inflight > 0 && is(m) => Some(0),
            _ => self.inflight().position(is),
        };
        match pos {
            Some(i) => {
                let removed = if i == 0 {
                    self.list.pop_front()
                } else {
                    self.list.remove(i)
                };
                if let Some(m) = removed {
                    self.inflight_bytes = self.inflight_bytes.saturating_sub(m.msg.size());
                }
                self.n_inflight -= 1;
                true
            }
            None => false,
        }
    }

    /// PUBREC for `id`: the message moves to waiting for PUBCOMP.
    pub fn received(&mut self, id: u16) -> bool {
        let n = self.inflight_len();
        let is = |m: &OutMsg| m.packet_id == id && m.state == OutState::WaitPubRec;
        // Ids go out in order, so `id` is usually as far from the oldest
        // in flight as their ids are apart: one look instead of a scan.
        let guess = self
            .list
            .front()
            .map(|f| usize::from(id.wrapping_sub(f.packet_id)))
            .filter(|&i| i < n);
        if let Some(m) = guess.and_then(|i| self.list.get_mut(i)).filter(|m| is(m)) {
            m.state = OutState::WaitPubComp;
            return true;
        }
        match self.list.range_mut(..n).find(|m| is(m)) {
            Some(m) => {
                m.state = OutState::WaitPubComp;
                true
            }
            None => false,
        }
    }

    /// Records an incoming QoS 2 id; false if it was already recorded (a
    /// duplicate that must not be delivered again).
    pub fn incoming_insert(&mut self, id: u16) -> bool {
        let ids = self.incoming.get_or_insert_with(Box::default);
        match ids.binary_search(&id) {
            Ok(_) => false,
            Err(i) => {
                ids.insert(i, id);
                true
            }
        }
    }

    pub fn incoming_release(&mut self, id: u16) {
        if let Some(ids) = self.incoming.as_mut() {
            if let Ok(i) = ids.binary_search(&id) {
                ids.remove(i);
            }
        }
    }

    pub fn clear(&mut self) {
        *self = MsgLists::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(id: u16, state: OutState) -> OutMsg {
        OutMsg {
            msg: Rc::new(Message::new(
                "t".into(),
                b"abc".to_vec(),
                QoS::AtLeastOnce,
                false,
            )),
            qos: QoS::AtLeastOnce,
            retain: false,
            packet_id: id,
            state,
            sub_id: 0,
        }
    }

    #[test]
    fn packet_ids_skip_zero_and_in_use() {
        let mut l = MsgLists::default();
        assert_eq!(l.next_packet_id(), 1);
        l.last_packet_id = u16::MAX;
        assert_eq!(l.next_packet_id(), 1);
        l.push_inflight(out(2, OutState::WaitPubAck));
        assert_eq!(l.next_packet_id(), 3, "id 2 is the oldest in flight");
    }

    #[test]
    fn limits_and_acks() {
        let limits = Limits {
            max_inflight: 1,
            max_inflight_bytes: 0,
            max_queued: 2,
            max_queued_bytes: 5,
        };
        let mut l = MsgLists::default();
        assert!(l.inflight_room(&limits));
        l.push_inflight(out(1, OutState::WaitPubRec));
        assert!(!l.inflight_room(&limits));
        assert!(l.queue_room(&limits, 3));
        l.push_queued(out(0, OutState::WaitPubAck));
        assert!(!l.queue_room(&limits, 3), "bytes limit");
        assert!(l.queue_room(&limits, 2));
        assert!(l.ack(1, OutState::WaitPubRec));
        assert!(l.inflight_room(&limits));
        assert_eq!(l.pop_queued().map(|m| m.packet_id), Some(0));
        assert_eq!(l.queued_bytes, 0);
    }

    fn sized(id: u16, len: usize) -> OutMsg {
        let mut m = out(id, OutState::WaitPubAck);
        m.msg = Rc::new(Message::new(
            "t".into(),
            vec![0; len],
            QoS::AtLeastOnce,
            false,
        ));
        m
    }

    #[test]
    fn byte_window_lets_one_more_go_while_under_the_limit() {
        let limits = Limits {
            max_inflight: 20,
            max_inflight_bytes: 100,
            max_queued: 0,
            max_queued_bytes: 0,
        };
        let mut l = MsgLists::default();
        for id in 1..=4 {
            assert!(l.inflight_room(&limits));
            l.push_inflight(sized(id, 25));
        }
        assert_eq!(l.inflight_bytes(), 100);
        assert!(!l.inflight_room(&limits), "limit reached");
        assert!(l.ack(1, OutState::WaitPubAck));
        assert_eq!(l.inflight_bytes(), 75);
        // Under the limit: the next one goes even though it crosses it.
        assert!(l.inflight_room(&limits));
        l.push_queued(sized(0, 150));
        let m = l.promote_queued().unwrap();
        m.start_flight(5);
        assert_eq!(l.inflight_bytes(), 225);
        assert!(!l.inflight_room(&limits));
        for id in 2..=4 {
            assert!(l.ack(id, OutState::WaitPubAck));
        }
        assert!(!l.inflight_room(&limits), "150 bytes alone still fill it");
        assert!(l.ack(5, OutState::WaitPubAck));
        assert_eq!(l.inflight_bytes(), 0);
        assert!(l.inflight_room(&limits));
        // Alone, an oversize message may go.
        l.push_inflight(sized(6, 500));
        assert!(!l.inflight_room(&limits));
        // Both limits apply: the count one here.
        let count = Limits {
            max_inflight: 1,
            max_inflight_bytes: 1000,
            ..limits
        };
        l.clear();
        l.push_inflight(sized(1, 1));
        assert!(!l.inflight_room(&count));
        l.clear();
        assert_eq!(l.inflight_bytes(), 0);
    }

    #[test]
    fn queued_messages_move_into_flight_in_order() {
        let mut l = MsgLists::default();
        l.push_queued(out(0, OutState::WaitPubAck));
        l.push_queued(out(0, OutState::WaitPubAck));
        l.push_inflight(out(1, OutState::WaitPubAck));
        assert_eq!(
            (l.inflight_len(), l.queued_len(), l.queued_bytes),
            (1, 2, 6)
        );
        let m = l.promote_queued().unwrap();
        m.packet_id = 2;
        assert_eq!(
            (l.inflight_len(), l.queued_len(), l.queued_bytes),
            (2, 1, 3)
        );
        let ids: Vec<u16> = l.inflight().map(|m| m.packet_id).collect();
        assert_eq!(ids, [1, 2]);
        assert!(l.ack(1, OutState::WaitPubAck));
        assert_eq!(l.queued().count(), 1);
        assert_eq!(l.queued_front().map(|m| m.packet_id), Some(0));
        assert!(l.pop_queued().is_some());
        assert!(l.pop_queued().is_none());
        assert_eq!(
            (l.inflight_len(), l.queued_len(), l.queued_bytes),
            (1, 0, 0)
        );
    }

    #[test]
    fn qos2_states() {
        let mut l = MsgLists::default();
        l.push_inflight(out(7, OutState::WaitPubRec));
        assert!(!l.ack(7, OutState::WaitPubComp));
        assert!(l.received(7));
        assert!(!l.received(7));
        assert!(l.ack(7, OutState::WaitPubComp));
        assert_eq!(l.inflight_len(), 0);
        assert!(l.incoming_insert(5));
        assert!(!l.incoming_insert(5));
        l.incoming_release(5);
        assert!(l.incoming_insert(5));
    }
}
