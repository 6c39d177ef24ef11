//! Unit tests of the core: no sockets, a fake clock. Packets go in as the
//! bytes the protocol encoders make; what the core writes into output
//! buffers is decoded back. `Wire` plays the shell.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::context::CloseReason;
use super::ids::{ConnId, ListenerId};
use super::{Core, Transport};
use crate::broker::settings::{Settings, TlsIdentity};
use crate::config::Config;
use crate::protocol::{
    fixed_header, Ack, ConnAck, Connect, Packet, Properties, ProtocolVersion, Publish, QoS,
    Subscribe, Will,
};

const V311: ProtocolVersion = ProtocolVersion::V311;

/// Overload: stalled receivers, limits at the header, memory_limit.
#[path = "overload_tests.rs"]
mod overload;

/// Peers without sockets: one name for all, no TLS.
struct NoSockets;

impl Transport for NoSockets {
    fn peer_name(&self, _ck: ConnId) -> String {
        "192.0.2.1:1000".into()
    }
    fn tls_username(&self, _ck: ConnId, _source: TlsIdentity) -> Option<String> {
        None
    }
}

/// A core with a fake clock, and the bytes each connection was sent.
struct Wire {
    core: Core,
    now: Instant,
    /// Bytes "written" to each connection and not yet decoded.
    sent: HashMap<ConnId, Vec<u8>>,
    /// Connections whose peer does not read: their output stays unwritten.
    stalled: HashSet<ConnId>,
    /// Connections the core closed, and why.
    closed: HashMap<ConnId, CloseReason>,
    /// Packets decoded but not yet asked for (those after a CONNACK).
    unread: HashMap<ConnId, Vec<Packet>>,
    /// Connections whose client speaks MQTT 5 (the others 3.1.1).
    v5: HashSet<ConnId>,
}

impl Wire {
    /// A core configured by `conf` (one listener, anonymous clients,
    /// `$SYS` off unless `conf` turns it on).
    fn new(conf: &str) -> Wire {
        let text = format!("listener 1883\nallow_anonymous true\nsys_interval 0\n{conf}\n");
        let cfg = Config::parse_str(&text, "test.conf").unwrap();
        let settings = Settings::from_config(&cfg).unwrap();
        let security = settings
            .security
            .iter()
            .map(|p| super::SecurityDomain {
                files: crate::broker::security::SecurityFiles::load(p).unwrap(),
                #[cfg(feature = "tls")]
                psk: Default::default(),
            })
            .collect();
        let now = Instant::now();
        Wire {
            core: Core::new(settings, security, now),
            now,
            sent: HashMap::new(),
            stalled: HashSet::new(),
            closed: HashMap::new(),
            unread: HashMap::new(),
            v5: HashSet::new(),
        }
    }

    /// Moves the clock on and runs what timers came due, then flushes.
    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.core.run_timers(self.now);
        self.flush();
    }

    fn open(&mut self) -> ConnId {
        let listener = ListenerId::from_index(0).unwrap();
        let ck = self.core.open_client(listener, self.now).unwrap();
        // A reused id is a new wire.
        self.sent.remove(&ck);
        self.unread.remove(&ck);
        self.closed.remove(&ck);
        self.v5.remove(&ck);
        ck
    }

    /// The protocol `ck`'s client speaks.
    fn version(&self, ck: ConnId) -> ProtocolVersion {
        match self.v5.contains(&ck) {
            true => ProtocolVersion::V5,
            false => V311,
        }
    }

    /// `p` arrives on `ck`; then the loop turn ends with a flush.
    fn send(&mut self, ck: ConnId, p: Packet) {
        let mut bytes = Vec::new();
        p.encode(&mut bytes, self.version(ck));
        self.core.received(ck, &bytes, self.now, &NoSockets);
        self.flush();
    }

    /// What the shell does at the end of a loop turn: read again what a
    /// pause released, write every dirty connection, finish closes.
    fn flush(&mut self) {
        while !self.core.dirty.is_empty() || !self.core.read_again.is_empty() {
            for ck in std::mem::take(&mut self.core.read_again) {
                self.core.process_buffered(ck, self.now, &NoSockets);
            }
            let mut i = 0;
            while let Some(&ck) = self.core.dirty.get(i) {
                i += 1;
                self.flush_conn(ck);
            }
            self.core.dirty.clear();
        }
    }

    fn flush_conn(&mut self, ck: ConnId) {
        let backlog = self.core.before_flush(ck);
        let stalled = self.stalled.contains(&ck);
        let Some(conn) = self.core.conns.get_mut(ck) else {
            return;
        };
        let wrote = !stalled && conn.pending_out() > 0;
        if !stalled {
            let b = conn.io_mut();
            self.sent
                .entry(ck)
                .or_default()
                .extend_from_slice(&b.wbuf[b.wpos..]);
            b.wbuf.clear();
            b.wpos = 0;
        }
        if let Some(reason) = conn.closing {
            self.closed.insert(ck, reason);
            self.core.close_conn(ck, self.now);
            return;
        }
        let pending = conn.pending_out() > 0;
        self.core.after_flush(ck, backlog, pending, wrote);
    }

    /// The packets `ck` was sent since the last call.
    fn received(&mut self, ck: ConnId) -> Vec<Packet> {
        let bytes = self.sent.remove(&ck).unwrap_or_default();
        let mut out = self.unread.remove(&ck).unwrap_or_default();
        let mut rest = &bytes[..];
        let version = self.version(ck);
        while let Some(h) = fixed_header(rest).unwrap() {
            let body = &rest[h.header_len..h.total_len()];
            out.push(Packet::decode(&h, body, version).unwrap());
            rest = &rest[h.total_len()..];
        }
        assert!(rest.is_empty(), "a partial packet was sent");
        out
    }

    /// A client `id` connects; returns its connection and CONNACK.
    fn connect_with(
        &mut self,
        id: &str,
        clean: bool,
        keep_alive: u16,
        will: Option<Will>,
    ) -> (ConnId, ConnAck) {
        let ck = self.open();
        let c = Connect {
            protocol: V311,
            bridge: false,
            clean_session: clean,
            keep_alive,
            client_id: id.into(),
            will,
            username: None,
            password: None,
            properties: Properties::default(),
        };
        self.send(ck, Packet::Connect(Box::new(c)));
        let mut packets = self.received(ck).into_iter();
        let ack = match packets.next() {
            Some(Packet::ConnAck(a)) => a,
            other => panic!("expected a CONNACK, got {other:?}"),
        };
        self.unread.insert(ck, packets.collect());
        (ck, ack)
    }

    /// A broker with `config` and a client "sub" subscribed to `filter`
    /// (its SUBACK read).
    fn with_subscriber(config: &str, filter: &str, qos: QoS) -> (Wire, ConnId) {
        let mut w = Wire::new(config);
        let sub = w.connect("sub");
        w.subscribe(sub, filter, qos);
        w.received(sub);
        (w, sub)
    }

    fn connect(&mut self, id: &str) -> ConnId {
        let (ck, ack) = self.connect_with(id, true, 60, None);
        assert_eq!(ack.code, 0);
        ck
    }

    fn subscribe(&mut self, ck: ConnId, filter: &str, qos: QoS) {
        let s = Subscribe {
            packet_id: 1,
            filters: vec![(filter.into(), qos)],
            options: vec![qos.as_u8()],
            properties: Properties::default(),
        };
        self.send(ck, Packet::Subscribe(s));
    }

    fn publish(&mut self, ck: ConnId, topic: &str, qos: QoS, packet_id: u16, retain: bool) {
        self.send(
            ck,
            Packet::Publish(publish(topic, qos, packet_id, retain, b"hi")),
        );
    }

    fn publish_payload(&mut self, ck: ConnId, payload: &[u8]) {
        let p = publish("t", QoS::AtMostOnce, 0, false, payload);
        self.send(ck, Packet::Publish(p));
    }
}

fn publish(topic: &str, qos: QoS, packet_id: u16, retain: bool, payload: &[u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: topic.into(),
        packet_id,
        payload: payload.to_vec(),
        properties: Properties::default(),
    }
}

/// The PUBLISH packets among `packets`.
fn publishes(packets: &[Packet]) -> Vec<Publish> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// MQTT 5 connections, sessions and disconnects.
mod v5conn;

#[test]
fn connect_is_acknowledged() {
    let mut w = Wire::new("");
    let (ck, ack) = w.connect_with("a", true, 60, None);
    assert_eq!((ack.code, ack.session_present), (0, false));
    assert_eq!(w.core.client_count(), 1);
    assert!(w.core.conns.get(ck).is_some_and(|c| c.session().is_some()));
}

#[test]
fn packets_before_connect_are_refused() {
    let mut w = Wire::new("");
    let ck = w.open();
    w.send(ck, Packet::PingReq);
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Protocol));
}

#[test]
fn takeover_closes_the_old_connection_and_keeps_a_persistent_session() {
    let mut w = Wire::new("");
    let (old, ack) = w.connect_with("same", false, 60, None);
    assert!(!ack.session_present);
    let (new, ack) = w.connect_with("same", false, 60, None);
    assert!(ack.session_present, "the persistent session was taken over");
    assert_eq!(w.closed.get(&old), Some(&CloseReason::TakenOver));
    assert!(!w.closed.contains_key(&new));
    assert_eq!(w.core.client_count(), 1);
    // A clean takeover starts afresh.
    let (_, ack) = w.connect_with("same", true, 60, None);
    assert!(!ack.session_present);
    assert_eq!(w.closed.get(&new), Some(&CloseReason::TakenOver));
}

#[test]
fn qos1_inbound_is_acknowledged_and_delivered() {
    let mut w = Wire::new("");
    let sub = w.connect("sub");
    w.subscribe(sub, "t/#", QoS::AtLeastOnce);
    assert!(matches!(w.received(sub).as_slice(), [Packet::SubAck(a)] if a.codes == [1]));
    let publisher = w.connect("pub");
    w.publish(publisher, "t/1", QoS::AtLeastOnce, 7, false);
    assert_eq!(w.received(publisher), [Packet::PubAck(Ack::new(7))]);
    let got = publishes(&w.received(sub));
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].topic.as_str(), got[0].qos),
        ("t/1", QoS::AtLeastOnce)
    );
    assert_ne!(got[0].packet_id, 0);
}

#[test]
fn qos1_outbound_waits_for_puback_with_one_in_flight() {
    let (mut w, sub) = Wire::with_subscriber("max_inflight_messages 1", "t", QoS::AtLeastOnce);
    let publisher = w.connect("pub");
    w.publish(publisher, "t", QoS::AtLeastOnce, 1, false);
    w.publish(publisher, "t", QoS::AtLeastOnce, 2, false);
    let first = publishes(&w.received(sub));
    assert_eq!(first.len(), 1, "the second waits for the first's PUBACK");
    w.send(sub, Packet::PubAck(Ack::new(first[0].packet_id)));
    let second = publishes(&w.received(sub));
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].packet_id, first[0].packet_id);
    w.send(sub, Packet::PubAck(Ack::new(second[0].packet_id)));
    assert!(w.received(sub).is_empty());
    let sk = w.core.by_id["sub"];
    assert_eq!(w.core.sessions.get(sk).unwrap().msgs.inflight_len(), 0);
}

#[test]
fn qos2_inbound_pubrec_pubrel_pubcomp() {
    let (mut w, sub) = Wire::with_subscriber("", "q2", QoS::ExactlyOnce);
    let publisher = w.connect("pub");
    w.publish(publisher, "q2", QoS::ExactlyOnce, 9, false);
    assert_eq!(w.received(publisher), [Packet::PubRec(Ack::new(9))]);
    // Passed on at receipt, once.
    assert_eq!(publishes(&w.received(sub)).len(), 1);
    // A duplicate before PUBREL is acknowledged but not delivered again.
    w.publish(publisher, "q2", QoS::ExactlyOnce, 9, false);
    assert_eq!(w.received(publisher), [Packet::PubRec(Ack::new(9))]);
    assert!(publishes(&w.received(sub)).is_empty());
    w.send(publisher, Packet::PubRel(Ack::new(9)));
    assert_eq!(w.received(publisher), [Packet::PubComp(Ack::new(9))]);
}

#[test]
fn qos2_outbound_pubrec_pubrel_pubcomp() {
    let (mut w, sub) = Wire::with_subscriber("max_inflight_messages 1", "q2", QoS::ExactlyOnce);
    let publisher = w.connect("pub");
    w.publish(publisher, "q2", QoS::ExactlyOnce, 1, false);
    w.send(publisher, Packet::PubRel(Ack::new(1)));
    w.publish(publisher, "q2", QoS::ExactlyOnce, 2, false);
    let first = publishes(&w.received(sub));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].qos, QoS::ExactlyOnce);
    let id = first[0].packet_id;
    w.send(sub, Packet::PubRec(Ack::new(id)));
    assert_eq!(w.received(sub), [Packet::PubRel(Ack::new(id))]);
    w.send(sub, Packet::PubComp(Ack::new(id)));
    let second = publishes(&w.received(sub));
    assert_eq!(second.len(), 1, "the flight slot came free at PUBCOMP");
}

#[test]
fn keepalive_closes_a_silent_client_after_one_and_a_half_periods() {
    let mut w = Wire::new("");
    let (ck, _) = w.connect_with("k", true, 10, None);
    w.advance(Duration::from_secs(9));
    w.send(ck, Packet::PingReq);
    assert_eq!(w.received(ck), [Packet::PingResp]);
    // 14 s after the PINGREQ: within 1.5 × 10 s.
    w.advance(Duration::from_secs(14));
    assert!(w.closed.is_empty());
    w.advance(Duration::from_millis(1001));
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Keepalive));
    assert_eq!(w.core.client_count(), 0);
}

#[test]
fn a_connection_without_connect_times_out() {
    let mut w = Wire::new("");
    let ck = w.open();
    w.advance(Duration::from_secs(9));
    assert!(w.closed.is_empty());
    w.advance(Duration::from_secs(2));
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Keepalive));
}

#[test]
fn persistent_sessions_expire_after_persistent_client_expiration() {
    let mut w = Wire::new("persistent_client_expiration 1h");
    let (ck, _) = w.connect_with("p", false, 0, None);
    w.send(ck, Packet::Disconnect(0, Properties::default()));
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Disconnect));
    assert!(w.core.by_id.contains_key("p"));
    w.advance(Duration::from_secs(3599));
    assert!(w.core.by_id.contains_key("p"));
    w.advance(Duration::from_secs(2));
    assert!(!w.core.by_id.contains_key("p"));
    assert_eq!(w.core.stats.clients_expired, 1);
}

#[test]
fn a_reconnected_session_does_not_expire() {
    let mut w = Wire::new("persistent_client_expiration 1h");
    let (ck, _) = w.connect_with("p", false, 0, None);
    w.send(ck, Packet::Disconnect(0, Properties::default()));
    w.advance(Duration::from_secs(1800));
    let (_, ack) = w.connect_with("p", false, 0, None);
    assert!(ack.session_present);
    w.advance(Duration::from_secs(7200));
    assert!(w.core.by_id.contains_key("p"));
    assert_eq!(w.core.stats.clients_expired, 0);
}

#[test]
fn a_publisher_pauses_while_a_subscriber_is_congested_and_resumes_when_it_drains() {
    let mut w = Wire::new("");
    let sub = w.connect("slow");
    w.subscribe(sub, "big", QoS::AtMostOnce);
    w.received(sub);
    w.stalled.insert(sub);
    let publisher = w.connect("fast");
    // Five 300 KB messages in one read: past 1 MiB unwritten, the rest wait.
    let mut bytes = Vec::new();
    for _ in 0..5 {
        let p = publish("big", QoS::AtMostOnce, 0, false, &[0u8; 300 * 1024]);
        Packet::Publish(p).encode(&mut bytes, V311);
    }
    w.core.received(publisher, &bytes, w.now, &NoSockets);
    w.flush();
    assert!(!w.core.wants_input(publisher), "paused");
    let delivered = w.core.conns.get(sub).unwrap().pending_out();
    assert!((1024 * 1024..5 * 300 * 1024).contains(&delivered));
    // The subscriber reads everything: the publisher goes on, its
    // buffered messages first.
    w.stalled.remove(&sub);
    w.core.want_flush(sub);
    w.flush();
    assert!(w.core.wants_input(publisher), "resumed");
    assert_eq!(publishes(&w.received(sub)).len(), 5);
}

/// Four QoS 1 messages from `ck` on "t", in one read.
fn four_qos1(w: &mut Wire, ck: ConnId) {
    let mut bytes = Vec::new();
    for id in 1..=4 {
        Packet::Publish(publish("t", QoS::AtLeastOnce, id, false, b"m")).encode(&mut bytes, V311);
    }
    w.core.received(ck, &bytes, w.now, &NoSockets);
    w.flush();
}

#[test]
fn a_drained_subscriber_lets_its_paused_publishers_go_one_at_a_time_while_it_has_room() {
    // Window 1, queue congested at 4 and drained below 2.
    let (mut w, sub) = Wire::with_subscriber(
        "max_inflight_messages 1\nmax_queued_messages 8",
        "t",
        QoS::AtLeastOnce,
    );
    let [a, b, c] = ["a", "b", "c"].map(|id| w.connect(id));
    for ck in [a, b, c] {
        four_qos1(&mut w, ck);
    }
    // a: one in flight, three queued; b and c each fill the queue with one
    // message and pause, three more buffered each.
    let acks = |w: &mut Wire, ck| {
        w.received(ck)
            .iter()
            .filter(|p| matches!(p, Packet::PubAck(_)))
            .count()
    };
    assert_eq!(
        [acks(&mut w, a), acks(&mut w, b), acks(&mut w, c)],
        [4, 1, 1]
    );
    assert!(!w.core.wants_input(b) && !w.core.wants_input(c), "paused");
    // The subscriber acknowledges four: the queue drains to one.
    for _ in 0..4 {
        let id = publishes(&w.received(sub))[0].packet_id;
        w.send(sub, Packet::PubAck(Ack::new(id)));
    }
    // b went first and refilled the queue; c was not read at all (resuming
    // it would have cost a PUBACK write for one message) and waits again.
    assert_eq!(acks(&mut w, b), 3);
    assert_eq!(acks(&mut w, c), 0);
    assert!(!w.core.wants_input(c), "c waits for room");
    // More room: c's turn comes.
    for _ in 0..3 {
        let id = publishes(&w.received(sub))[0].packet_id;
        w.send(sub, Packet::PubAck(Ack::new(id)));
    }
    assert_eq!(acks(&mut w, c), 3);
}

#[test]
fn a_pause_ends_after_at_most_half_a_second() {
    let mut w = Wire::new("");
    let sub = w.connect("slow");
    w.subscribe(sub, "big", QoS::AtMostOnce);
    w.stalled.insert(sub);
    let publisher = w.connect("fast");
    for _ in 0..4 {
        let p = publish("big", QoS::AtMostOnce, 0, false, &[0u8; 300 * 1024]);
        w.send(publisher, Packet::Publish(p));
    }
    assert!(!w.core.wants_input(publisher));
    w.advance(Duration::from_millis(499));
    assert!(!w.core.wants_input(publisher));
    w.advance(Duration::from_millis(2));
    assert!(w.core.wants_input(publisher));
}

/// A subscriber to `wills/#` and a clean client "x" whose will is
/// "gone" on `wills/x`.
fn watcher_and_client_with_will() -> (Wire, ConnId, ConnId) {
    let mut w = Wire::new("");
    let sub = w.connect("watcher");
    w.subscribe(sub, "wills/#", QoS::AtMostOnce);
    w.received(sub);
    let will = Will {
        topic: "wills/x".into(),
        payload: b"gone".to_vec(),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    };
    let (ck, _) = w.connect_with("x", true, 60, Some(will));
    (w, sub, ck)
}

#[test]
fn the_will_is_published_when_the_connection_is_lost() {
    let (mut w, sub, ck) = watcher_and_client_with_will();
    w.core.schedule_close(ck, CloseReason::ConnectionLost);
    w.flush();
    let got = publishes(&w.received(sub));
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].topic.as_str(), &got[0].payload[..]),
        ("wills/x", &b"gone"[..])
    );
}

#[test]
fn no_will_after_disconnect() {
    let (mut w, sub, ck) = watcher_and_client_with_will();
    w.send(ck, Packet::Disconnect(0, Properties::default()));
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Disconnect));
    assert!(w.received(sub).is_empty());
}

#[test]
fn retained_messages_are_delivered_on_subscribe() {
    let mut w = Wire::new("");
    let publisher = w.connect("pub");
    w.publish(publisher, "r/1", QoS::AtLeastOnce, 3, true);
    w.publish(publisher, "other", QoS::AtMostOnce, 0, true);
    let sub = w.connect("sub");
    w.subscribe(sub, "r/#", QoS::AtLeastOnce);
    let packets = w.received(sub);
    assert!(matches!(packets.first(), Some(Packet::SubAck(_))));
    let got = publishes(&packets);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].topic.as_str(), got[0].retain), ("r/1", true));
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
    // Live messages do not carry the retain flag.
    w.publish(publisher, "r/1", QoS::AtMostOnce, 0, true);
    let got = publishes(&w.received(sub));
    assert_eq!((got.len(), got[0].retain), (1, false));
}

#[test]
fn a_persistent_session_gets_what_was_queued_while_away() {
    let mut w = Wire::new("");
    let (sub, _) = w.connect_with("away", false, 60, None);
    w.subscribe(sub, "q", QoS::AtLeastOnce);
    w.send(sub, Packet::Disconnect(0, Properties::default()));
    let publisher = w.connect("pub");
    w.publish(publisher, "q", QoS::AtLeastOnce, 1, false);
    w.publish(publisher, "q", QoS::AtMostOnce, 0, false);
    let (back, ack) = w.connect_with("away", false, 60, None);
    assert!(ack.session_present);
    // After the CONNACK (taken by connect_with): the QoS 1 message; QoS 0
    // is not queued for the absent client (queue_qos0_messages false).
    let got = publishes(&w.received(back));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
}

#[test]
fn unsubscribed_filters_get_nothing_and_qos_is_the_lower_of_both() {
    let (mut w, sub) = Wire::with_subscriber("", "a/#", QoS::AtMostOnce);
    let publisher = w.connect("pub");
    w.publish(publisher, "a/b", QoS::ExactlyOnce, 5, false);
    let got = publishes(&w.received(sub));
    assert_eq!(
        (got.len(), got[0].qos, got[0].packet_id),
        (1, QoS::AtMostOnce, 0)
    );
    let u = crate::protocol::Unsubscribe {
        packet_id: 2,
        filters: vec!["a/#".into()],
        properties: Properties::default(),
    };
    w.send(sub, Packet::Unsubscribe(u));
    assert!(matches!(w.received(sub).as_slice(), [Packet::UnsubAck(_)]));
    w.publish(publisher, "a/b", QoS::AtMostOnce, 0, false);
    assert!(w.received(sub).is_empty());
}

/// A bridge's protocol side runs in the core too: the shell only opens
/// its socket and says when it is connected.
#[test]
fn a_bridge_connects_subscribes_and_forwards() {
    let conf = "connection up\naddress 192.0.2.9:1883\nnotifications false\n\
                topic out/# out 1\ntopic in/# in 1";
    let mut w = Wire::new(conf);
    let cfg = w.core.settings.bridges[0].clone();
    let i = w.core.bridge_setup(cfg, false).unwrap();
    let serial = w.core.serial();
    let ck = w.core.open_bridge_conn(i, serial, w.now).unwrap();
    w.core.bridge_send_connect(ck);
    w.flush();
    match w.received(ck).as_slice() {
        [Packet::Connect(c)] => assert!(c.client_id.contains("up")),
        other => panic!("expected CONNECT, got {other:?}"),
    }
    w.send(
        ck,
        Packet::ConnAck(ConnAck::new(
            false,
            crate::protocol::ConnectReturnCode::Accepted,
        )),
    );
    let subs: Vec<_> = w
        .received(ck)
        .into_iter()
        .filter_map(|p| match p {
            Packet::Subscribe(s) => Some(s.filters),
            _ => None,
        })
        .collect();
    assert_eq!(subs, [vec![("in/#".to_string(), QoS::AtLeastOnce)]]);
    // A local message on an `out` topic goes over the bridge.
    let local = w.connect("local");
    w.publish(local, "out/x", QoS::AtLeastOnce, 1, false);
    let got = publishes(&w.received(ck));
    assert_eq!((got.len(), got[0].topic.as_str()), (1, "out/x"));
    // A message from the remote is published locally.
    w.subscribe(local, "in/#", QoS::AtMostOnce);
    w.received(local);
    w.send(
        ck,
        Packet::Publish(publish("in/y", QoS::AtMostOnce, 0, false, b"r")),
    );
    assert_eq!(publishes(&w.received(local)).len(), 1);
    // Losing the connection asks the shell to plan the next attempt.
    w.core.schedule_close(ck, CloseReason::ConnectionLost);
    w.flush();
    assert!(matches!(
        w.core.bridge_tasks.as_slice(),
        [super::BridgeTask::Lost {
            was_connecting: false,
            ..
        }]
    ));
}

#[test]
fn a_packet_split_across_reads_is_handled_once_whole() {
    let (mut w, sub) = Wire::with_subscriber("", "t", QoS::AtMostOnce);
    let publisher = w.connect("pub");
    let mut bytes = Vec::new();
    Packet::Publish(publish("t", QoS::AtMostOnce, 0, false, b"split")).encode(&mut bytes, V311);
    Packet::PingReq.encode(&mut bytes, V311);
    let (head, tail) = bytes.split_at(4);
    w.core.received(publisher, head, w.now, &NoSockets);
    w.flush();
    assert!(w.received(sub).is_empty());
    w.core.received(publisher, tail, w.now, &NoSockets);
    w.flush();
    assert_eq!(publishes(&w.received(sub)).len(), 1);
    assert_eq!(w.received(publisher), [Packet::PingResp]);
}

#[test]
fn oversize_and_malformed_packets_close_the_connection() {
    let mut w = Wire::new("max_packet_size 100");
    let big = w.connect("big");
    w.publish_payload(big, &[0u8; 200]);
    assert_eq!(w.closed.get(&big), Some(&CloseReason::Oversize));
    let bad = w.connect("bad");
    // A remaining length whose continuation bit never ends.
    w.core.received(
        bad,
        &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01],
        w.now,
        &NoSockets,
    );
    w.flush();
    assert_eq!(w.closed.get(&bad), Some(&CloseReason::Malformed));
}

#[test]
fn acks_for_unknown_ids_finish_the_peer_flow_and_change_nothing() {
    let mut w = Wire::new("");
    let ck = w.connect("c");
    w.send(ck, Packet::PubAck(Ack::new(77)));
    w.send(ck, Packet::PubComp(Ack::new(78)));
    assert!(w.received(ck).is_empty());
    // PUBREC and PUBREL are answered whatever the id.
    w.send(ck, Packet::PubRec(Ack::new(79)));
    assert_eq!(w.received(ck), [Packet::PubRel(Ack::new(79))]);
    w.send(ck, Packet::PubRel(Ack::new(80)));
    assert_eq!(w.received(ck), [Packet::PubComp(Ack::new(80))]);
    assert!(w.closed.is_empty());
}

#[test]
fn connection_counts_per_listener_follow_opens_and_closes() {
    let mut w = Wire::new("");
    let listener = ListenerId::from_index(0).unwrap();
    let a = w.connect("a");
    let _b = w.connect("b");
    assert_eq!(w.core.listener_count(listener), 2);
    w.send(a, Packet::Disconnect(0, Properties::default()));
    assert_eq!(w.core.listener_count(listener), 1);
    assert_eq!(w.core.client_count(), 1);
}

/// The core's promise, checked on its source: no sockets, no clock, no
/// shell (tests excepted).
#[test]
fn the_core_names_no_socket_clock_or_shell() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/broker/core");
    let forbidden = ["shell", "mio::", "Instant::now", "stream::", "TcpStream"];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // tests.rs and its submodules in tests/ are tests.
        if path.file_name().is_some_and(|n| n == "tests.rs") || path.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for word in forbidden {
                assert!(!line.contains(word), "{}: {line}", path.display());
            }
        }
    }
}

mod v5msg;
