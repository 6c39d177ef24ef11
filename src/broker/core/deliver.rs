//! Routing and delivery: a stored message goes to every matching session,
//! written straight into connected clients' output buffers or queued for
//! the others. The per-delivery cost is a header and a reference count.

use std::rc::Rc;
use std::time::Instant;

use super::context::{Connection, Session, SessionRole};
use super::ids::{ConnId, SessionId};
use super::Core;
use crate::broker::database::{Limits, Message, MsgSource, OutMsg, OutState};
use crate::broker::security::{Access, SecurityFiles};
use crate::protocol::properties::id;
use crate::protocol::{
    encode_publish, encode_publish_v5_bare, encode_publish_v5_merged, publish_len,
    publish_len_v5_merged, Ack, Packet, Properties, PropertyValue, ProtocolVersion, PublishHeader,
    QoS,
};

/// Output a connection may hold unwritten before QoS 0 messages to it are
/// dropped (QoS 1/2 ones wait in the session queue instead).
const MAX_PENDING_QOS0: usize = 16 * 1024 * 1024;

/// The properties of a message that has none.
static NO_PROPERTIES: Properties = Properties(Vec::new());

/// Whether a PUBLISH was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Yes,
    /// Its message expiry interval has passed: it is never sent.
    Expired,
    /// Larger than the client's maximum packet size: skipped, as the
    /// spec says, and counted as dropped.
    TooLarge,
}

/// The largest packet the client accepts (its CONNECT's maximum packet
/// size); 0 for no limit.
fn client_max_packet(conn: &Connection) -> usize {
    conn.cold.as_ref().map_or(0, |c| c.v5.max_packet as usize)
}

/// Encodes one PUBLISH for `m` into `conn`'s output, unless the message
/// has expired or is larger than the client accepts.
#[inline]
fn write_publish(
    conn: &mut Connection,
    m: &OutMsg,
    dup: bool,
    now: Instant,
    aliases: bool,
) -> Written {
    // The usual delivery: a message without expiry (nor any MQTT 5
    // property) to a connection with no mount point or bridge to rename the
    // topic and no packet size limit; for MQTT 5, no subscription
    // identifier or topic alias to add. Nothing to check, the topic as
    // stored, and nothing read from the connection's cold part.
    let v5 = conn.protocol == ProtocolVersion::V5;
    let plain = m.msg.v5.is_none() && conn.plain_out && !(v5 && (m.sub_id != 0 || aliases));
    if plain {
        let head = PublishHeader {
            topic: &m.msg.topic,
            qos: m.qos,
            retain: m.retain,
            dup,
            packet_id: m.packet_id,
        };
        if v5 {
            encode_publish_v5_bare(conn.out(), &head, &m.msg.payload);
        } else {
            encode_publish(conn.out(), &head, &m.msg.payload);
        }
        return Written::Yes;
    }
    write_publish_general(conn, m, dup, now, aliases)
}

/// `write_publish` for every case: expiry, topic renaming, MQTT 5. Kept
/// out of line so the usual case inlines where it is used.
#[inline(never)]
fn write_publish_general(
    conn: &mut Connection,
    m: &OutMsg,
    dup: bool,
    now: Instant,
    aliases: bool,
) -> Written {
    let expiry = m.msg.expiry_left(now);
    if expiry == Some(0) {
        return Written::Expired;
    }
    // Only bridges rename topics, so only they pay for an allocation.
    let remapped = conn
        .bridge_topics()
        .and_then(|t| crate::broker::bridge_topic::local_to_remote(t, &m.msg.topic));
    let topic = match (&remapped, conn.mount_point()) {
        (Some(r), _) => r.as_str(),
        (None, Some(mp)) => m.msg.topic.strip_prefix(&**mp).unwrap_or(&m.msg.topic),
        (None, None) => &m.msg.topic,
    };
    let mut head = PublishHeader {
        topic,
        qos: m.qos,
        retain: m.retain,
        dup,
        packet_id: m.packet_id,
    };
    if conn.protocol != ProtocolVersion::V5 {
        encode_publish(conn.out(), &head, &m.msg.payload);
        return Written::Yes;
    }
    let stored = m.msg.properties().unwrap_or(&NO_PROPERTIES);
    if m.sub_id == 0 && expiry.is_none() && !aliases && stored.is_empty() {
        // No property at all (clients that use none): the per-delivery
        // lists below, their merge and their drop glue made a v5 delivery
        // cost 1.4 times a 3.1.1 one (callgrind, fan-out QoS 0).
        let max = client_max_packet(conn);
        let payload = m.msg.payload.len();
        if max > 0 && publish_len_v5_merged(topic.len(), m.qos, &[], stored, &[], payload) > max {
            return Written::TooLarge;
        }
        encode_publish_v5_bare(conn.out(), &head, &m.msg.payload);
        return Written::Yes;
    }
    // Per-delivery properties, on the stack: mosquitto writes the
    // subscription identifier first and the expiry left last; a topic
    // alias (ours only) goes after the identifier.
    let alias = if aliases {
        out_alias(conn, topic)
    } else {
        None
    };
    let mut before = [
        (id::SUBSCRIPTION_IDENTIFIER, PropertyValue::Varint(m.sub_id)),
        (id::TOPIC_ALIAS, PropertyValue::U16(0)),
    ];
    let mut n = usize::from(m.sub_id != 0);
    if let Some((a, known)) = alias {
        before[n] = (id::TOPIC_ALIAS, PropertyValue::U16(a));
        n += 1;
        if known {
            head.topic = "";
        }
    }
    let before = &before[..n];
    let left = [(
        id::MESSAGE_EXPIRY_INTERVAL,
        PropertyValue::U32(expiry.unwrap_or(0)),
    )];
    let after = if expiry.is_some() { &left[..] } else { &[] };
    let max = client_max_packet(conn);
    if max > 0 {
        let len = publish_len_v5_merged(
            topic.len(),
            m.qos,
            before,
            stored,
            after,
            m.msg.payload.len(),
        );
        if len > max {
            return Written::TooLarge;
        }
    }
    if let Some((a, false)) = alias {
        // Recorded only once it is sure to go out.
        conn.cold_mut().out_aliases.insert(topic.into(), a);
    }
    encode_publish_v5_merged(conn.out(), &head, before, stored, after, &m.msg.payload);
    Written::Yes
}

/// The alias for `topic` towards this client, and whether the client knows
/// it already; None when it takes none or all its aliases are in use.
fn out_alias(conn: &Connection, topic: &str) -> Option<(u16, bool)> {
    let cold = conn.cold.as_ref()?;
    let max = cold.v5.topic_alias_max;
    if max == 0 || conn.bridge().is_some() {
        return None;
    }
    if let Some(&a) = cold.out_aliases.get(topic) {
        return Some((a, true));
    }
    let used = u16::try_from(cold.out_aliases.len()).ok()?;
    (used < max).then_some((used + 1, false))
}

/// Unwritten output below which a connection takes more of its retained
/// backlog.
const BACKLOG_LOW_WATER: usize = 256 * 1024;

/// What happened to one delivery.
enum Outcome {
    Sent,
    Queued,
    Dropped,
    /// Expired or too large for the client: not sent, not counted as a
    /// drop for back-pressure.
    Skipped(Written),
}

/// Delivers `msg` to one session: sent now if its client is connected and
/// has in-flight room, queued within limits otherwise.
fn deliver_one(
    sess: &mut Session,
    conn: Option<&mut Connection>,
    mut out: OutMsg,
    limits: &Limits,
    queue_qos0: bool,
    now: Instant,
    aliases: bool,
) -> Outcome {
    match conn {
        Some(conn) if conn.closing.is_none() => {
            if out.qos == QoS::AtMostOnce {
                if super::backpressure::qos0_full(conn, MAX_PENDING_QOS0) {
                    return Outcome::Dropped;
                }
                return match write_publish(conn, &out, false, now, aliases) {
                    Written::Yes => Outcome::Sent,
                    w => Outcome::Skipped(w),
                };
            }
            if sess.msgs.queued_len() == 0 && sess.msgs.inflight_room(limits) {
                let id = sess.msgs.next_packet_id();
                out.start_flight(id);
                let w = write_publish(conn, &out, false, now, aliases);
                if w != Written::Yes {
                    // Never sent: as if completed; the id is simply unused.
                    return Outcome::Skipped(w);
                }
                sess.msgs.push_inflight(out);
                return Outcome::Sent;
            }
        }
        _ => {
            if out.qos == QoS::AtMostOnce && !queue_qos0 {
                return Outcome::Dropped;
            }
        }
    }
    if sess.msgs.queue_room(limits, out.msg.size()) {
        sess.msgs.push_queued(out);
        Outcome::Queued
    } else {
        Outcome::Dropped
    }
}

/// Moves `sess`'s queued messages into flight (encoding them into
/// `conn`'s output) while its window has room; true if any was written.
fn fill_window(
    sess: &mut Session,
    conn: &mut Connection,
    settings: &crate::broker::settings::Settings,
    now: Instant,
    stats: &mut super::Stats,
) -> bool {
    let limits = &settings.limits;
    let aliases = settings.outgoing_topic_aliases;
    let mut sent = false;
    while sess.msgs.inflight_room(limits) {
        let Some(qos) = sess.msgs.queued_front().map(|m| m.qos) else {
            break;
        };
        let (w, size) = if qos == QoS::AtMostOnce {
            let Some(m) = sess.msgs.pop_queued() else {
                break;
            };
            (write_publish(conn, &m, false, now, aliases), m.msg.size())
        } else {
            let id = sess.msgs.next_packet_id();
            let Some(m) = sess.msgs.promote_queued() else {
                break;
            };
            m.start_flight(id);
            let (w, size, state) = (
                write_publish(conn, m, false, now, aliases),
                m.msg.size(),
                m.state,
            );
            if w != Written::Yes {
                // Never sent: it leaves flight at once.
                sess.msgs.ack(id, state);
            }
            (w, size)
        };
        match w {
            Written::Yes => {
                stats.count_publish_sent(size);
                sent = true;
            }
            Written::TooLarge => stats.msgs_dropped += 1,
            Written::Expired => {}
        }
    }
    sent
}

/// Whether `src` may still publish on `topic`, under `files`: the security
/// files of its listener's domain, None when that listener is not known.
fn source_may_publish(files: Option<&SecurityFiles>, src: &MsgSource, topic: &str) -> bool {
    files.is_some_and(|f| {
        f.acl_check(
            &src.client_id,
            src.username.as_deref(),
            topic,
            Access::Write,
        )
    })
}

impl Core {
    /// Stores (if retained) and routes a message. `origin` is the session
    /// that published it: a bridge never gets its own messages back.
    pub(crate) fn publish_message(&mut self, msg: Rc<Message>, origin: Option<SessionId>) {
        self.pressure.clear();
        if msg.retain {
            self.retained.store(&msg);
            self.note_change();
        }
        let mut targets = std::mem::take(&mut self.match_scratch);
        targets.clear();
        let lists = self.subs.matches(&msg.topic, &mut targets);
        // Duplicates need two matching filters: one filter's subscribers
        // (the fan-out case) are distinct sessions already.
        if !self.settings.allow_duplicate_messages && lists > 1 && targets.len() > 1 {
            // One copy per session, at the highest QoS of its matching
            // subscriptions ([MQTT-3.3.5-1]).
            targets.sort_unstable_by(|a, b| {
                a.session.cmp(&b.session).then(b.opts.qos.cmp(&a.opts.qos))
            });
            targets.dedup_by_key(|s| s.session);
        }
        for t in &targets {
            let Some(sk) = SessionId::from_index(t.session) else {
                continue;
            };
            let Some(sess) = self.sessions.get(sk) else {
                continue;
            };
            let bridge = sess.role != SessionRole::Client;
            // Bridges never get their own messages back; nor does an
            // MQTT 5 subscription with no local.
            if (bridge || t.opts.no_local()) && origin == Some(sk) {
                continue;
            }
            let retain = (sess.retain_as_published || t.opts.retain_as_published()) && msg.retain;
            if !self.read_allowed(sk, &msg.topic) {
                continue;
            }
            let qos = if self.settings.upgrade_outgoing_qos {
                t.opts.qos
            } else {
                msg.qos.min(t.opts.qos)
            };
            self.deliver(sk, &msg, qos, retain, t.opts.id);
        }
        self.match_scratch = targets;
    }

    /// The ACL's verdict on delivering `topic` to a session; without an ACL
    /// file every read is allowed, so the common case costs nothing.
    pub(super) fn read_allowed(&self, sk: SessionId, topic: &str) -> bool {
        let Some(sess) = self.sessions.get(sk) else {
            return false;
        };
        let Some(domain) = self.security.get(usize::from(sess.security)) else {
            return false;
        };
        if (domain.files.acl.is_none() && domain.files.plugins.is_empty())
            || sess.bridge().is_some()
        {
            return true;
        }
        domain.files.acl_check(
            &sess.client_id,
            sess.username.as_deref(),
            topic,
            Access::Read,
        )
    }

    /// `check_retain_source`: whether the publisher of the retained `msg`
    /// may still publish it (its access may have been withdrawn since, by a
    /// reloaded ACL file). The broker's own messages are not checked.
    pub(super) fn retain_source_allowed(&self, msg: &Message) -> bool {
        if !self.settings.check_retain_source {
            return true;
        }
        let Some(src) = &msg.source else {
            return true;
        };
        let files = self
            .security
            .get(usize::from(src.security))
            .map(|d| &d.files);
        let allowed = source_may_publish(files, src, &msg.topic);
        if !allowed {
            crate::debug!(
                "Retained message on '{}' not sent: {} may no longer publish there.",
                msg.topic,
                src.client_id
            );
        }
        allowed
    }

    /// Delivers to one session (`sub_id`: the subscription identifier of
    /// the subscription that matched, 0 for none) and marks its connection
    /// for flushing.
    pub(super) fn deliver(
        &mut self,
        sk: SessionId,
        msg: &Rc<Message>,
        qos: QoS,
        retain: bool,
        sub_id: u32,
    ) {
        let bridge = self.sessions.get(sk).and_then(|s| s.bridge());
        if let Some(i) = bridge {
            let max = self.bridge_max_packet(i);
            if max > 0 && publish_len(msg.topic.len(), qos, msg.payload.len()) > max {
                self.stats.msgs_dropped += 1;
                return;
            }
        }
        let Some(sess) = self.sessions.get_mut(sk) else {
            return;
        };
        let ck = sess.conn();
        let persistent = !sess.clean;
        let mut conn = ck.and_then(|k| self.conns.get_mut(k));
        let out = OutMsg {
            msg: Rc::clone(msg),
            qos,
            retain,
            packet_id: 0,
            state: OutState::WaitPubAck,
            sub_id,
        };
        let outcome = deliver_one(
            sess,
            conn.as_deref_mut(),
            out,
            &self.settings.limits,
            self.settings.queue_qos0_messages,
            self.now,
            self.settings.outgoing_topic_aliases,
        );
        if let (Some(ck), Some(conn)) = (ck, conn) {
            if matches!(outcome, Outcome::Sent) {
                Self::mark_dirty(&mut self.dirty, conn, ck);
            }
            // A drop for a connected client means it is far behind: slow the
            // publisher down too, so drops stay the exception (unless it
            // is stalled: see core::backpressure).
            let dropped = matches!(outcome, Outcome::Dropped);
            let clock = (&self.timers, self.now);
            if super::backpressure::holds_back(conn, sess, &self.settings.limits, dropped, clock) {
                self.pressure.push(ck);
            }
        }
        if persistent && (qos != QoS::AtMostOnce || matches!(outcome, Outcome::Queued)) {
            self.changes += 1;
        }
        // The session is still at hand: no second lookup.
        match outcome {
            Outcome::Sent => self.stats.count_publish_sent(msg.size()),
            Outcome::Skipped(w) => {
                if w == Written::TooLarge {
                    self.stats.msgs_dropped += 1;
                }
            }
            Outcome::Queued => sess.dropping = false,
            Outcome::Dropped => {
                self.stats.msgs_dropped += 1;
                if !sess.dropping {
                    sess.dropping = true;
                    crate::notice!(
                        "Outgoing messages are being dropped for client {}.",
                        sess.client_id
                    );
                }
            }
        }
        if let Some(i) = bridge {
            let queued = sess.msgs.queued_len();
            self.bridge_note_queued(i, queued);
        }
    }

    /// Moves queued messages into flight while there is room.
    pub(super) fn refill_inflight(&mut self, ck: ConnId, sk: SessionId) {
        let (Some(sess), Some(conn)) = (self.sessions.get_mut(sk), self.conns.get_mut(ck)) else {
            return;
        };
        let sent = fill_window(sess, conn, &self.settings, self.now, &mut self.stats);
        if sent {
            super::backpressure::progressed(conn); // acknowledgements made room
        }
        // In the usual case (no retained backlog) the two borrows serve to
        // the end: one session and one connection lookup per ack.
        if !sess.has_backlog() {
            if sent {
                Self::mark_dirty(&mut self.dirty, conn, ck);
            }
            return;
        }
        let more = self.pump_backlog(ck, sk);
        if sent || more {
            if let Some(conn) = self.conns.get_mut(ck) {
                Self::mark_dirty(&mut self.dirty, conn, ck);
            }
        }
    }

    /// Moves retained-backlog messages into the output while the client
    /// keeps up: QoS 0 up to the low-water mark of unwritten bytes, QoS 1/2
    /// within the in-flight window. True if anything was written.
    pub(super) fn pump_backlog(&mut self, ck: ConnId, sk: SessionId) -> bool {
        let (Some(sess), Some(conn)) = (self.sessions.get_mut(sk), self.conns.get_mut(ck)) else {
            return false;
        };
        let limits = self.settings.limits;
        let now = self.now;
        let aliases = self.settings.outgoing_topic_aliases;
        let mut sent = false;
        let Some(cold) = sess.cold.as_mut() else {
            return false;
        };
        while let Some(front) = cold.backlog.front() {
            if conn.pending_out() >= BACKLOG_LOW_WATER {
                break;
            }
            let qos1 = front.qos != QoS::AtMostOnce;
            if qos1 && (!sess.msgs.inflight_room(&limits) || sess.msgs.queued_len() > 0) {
                break;
            }
            let Some(mut m) = cold.backlog.pop_front() else {
                break;
            };
            if qos1 {
                m.start_flight(sess.msgs.next_packet_id());
            }
            match write_publish(conn, &m, false, now, aliases) {
                Written::Yes => {
                    self.stats.count_publish_sent(m.msg.size());
                    if qos1 {
                        sess.msgs.push_inflight(m);
                    }
                    sent = true;
                }
                Written::TooLarge => self.stats.msgs_dropped += 1,
                Written::Expired => {}
            }
        }
        sent
    }

    /// A persistent session got its client back: resend what was in flight
    /// (PUBLISH with DUP, or PUBREL), then send what was queued.
    pub(super) fn resume_session(&mut self, ck: ConnId, sk: SessionId) {
        let (Some(sess), Some(conn)) = (self.sessions.get_mut(sk), self.conns.get_mut(ck)) else {
            return;
        };
        let version = conn.protocol;
        let aliases = self.settings.outgoing_topic_aliases;
        // Expired (or now too large) ones are dropped, as mosquitto does.
        let mut gone = Vec::new();
        for m in sess.msgs.inflight() {
            match m.state {
                OutState::WaitPubAck | OutState::WaitPubRec => {
                    if write_publish(conn, m, true, self.now, aliases) != Written::Yes {
                        gone.push((m.packet_id, m.state));
                    }
                }
                OutState::WaitPubComp => {
                    Packet::PubRel(Ack::new(m.packet_id)).encode(conn.out(), version)
                }
            }
        }
        for (id, state) in gone {
            sess.msgs.ack(id, state);
        }
        Self::mark_dirty(&mut self.dirty, conn, ck);
        self.refill_inflight(ck, sk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::security::Acl;

    fn source(id: &str, user: Option<&str>) -> MsgSource {
        MsgSource {
            client_id: Rc::from(id),
            username: user.map(Rc::from),
            security: 0,
            port: 1883,
        }
    }

    #[test]
    fn retained_source_is_asked_for_write_access() {
        let acl = "topic read news/#\nuser alice\ntopic write news/alice/#\n\
                   pattern write dev/%c/#\n";
        let files = SecurityFiles {
            acl: Some(Acl::parse("acl", acl).unwrap()),
            ..SecurityFiles::default()
        };
        let alice = source("c1", Some("alice"));
        assert!(source_may_publish(Some(&files), &alice, "news/alice/x"));
        assert!(!source_may_publish(Some(&files), &alice, "news/bob"));
        let anon = source("dev1", None);
        assert!(
            !source_may_publish(Some(&files), &anon, "news/x"),
            "read only"
        );
        assert!(source_may_publish(Some(&files), &anon, "dev/dev1/t"));
        // No ACL file: anything but $SYS; no known listener: nothing.
        let open = SecurityFiles::default();
        assert!(source_may_publish(Some(&open), &anon, "a/b"));
        assert!(!source_may_publish(Some(&open), &anon, "$SYS/x"));
        assert!(!source_may_publish(None, &alice, "news/alice/x"));
    }

    /// Every stored message pays for these: the source is one pointer,
    /// the MQTT 5 properties another.
    #[test]
    fn message_stays_small() {
        assert!(std::mem::size_of::<Message>() <= 56);
    }
}
