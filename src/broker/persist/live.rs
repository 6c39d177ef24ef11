//! A save streamed from the broker's live state: retained messages and
//! persistent sessions go from their own data structures through
//! [`DbWriter`] into a buffered file. What the save itself holds is a store
//! id per message and a packet id per queued message, never a payload or
//! an image of the file. This is the only part of `persist` that knows the
//! broker's types; it takes them by reference, so the broker's side is one
//! call.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use super::file::save_with;
use super::write::{ClientMsgRecord, ClientRecord, DbWriter, MsgRecord, SubRecord};
use super::{direction, msg_state};
use crate::broker::core::context::Session;
use crate::broker::database::{Message, OutMsg, OutState};
use crate::broker::retain::RetainTree;
use crate::protocol::QoS;

/// The time of a save on both clocks: message expiry is kept on the
/// monotonic one, mosquitto.db holds wall-clock seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SaveClock {
    pub now: Instant,
    /// Seconds since the Unix epoch at `now`.
    pub wall: i64,
}

/// Saves the retained messages and the persistent (not clean) sessions
/// among `sessions` to `path`, crash-safe (see `file.rs`). Expired
/// messages are left out.
pub(crate) fn save_state<'a, S>(
    path: &Path,
    retained: &'a RetainTree,
    sessions: S,
    clock: SaveClock,
) -> io::Result<()>
where
    S: Iterator<Item = &'a Session> + Clone,
{
    save_with(path, |out| {
        write_state(out, retained, sessions, clock).map(drop)
    })
}

/// Writes the file for this state into `out`, in mosquitto's order (see
/// [`DbWriter`]), and returns `out`.
pub(crate) fn write_state<'a, W, S>(
    out: W,
    retained: &'a RetainTree,
    sessions: S,
    clock: SaveClock,
) -> io::Result<W>
where
    W: Write,
    S: Iterator<Item = &'a Session> + Clone,
{
    let sessions = sessions.filter(|s| !s.clean);
    // Number the messages first: the CFG chunk, written before any of
    // them, holds the highest id.
    let mut ids = StoreIds::default();
    let mut retained_ids = Vec::with_capacity(retained.len());
    let live = |m: &Message| !m.expired(clock.now);
    retained.for_each(|m| {
        if live(m) {
            retained_ids.push(ids.assign(m));
        }
    });
    for sess in sessions.clone() {
        for m in sess.msgs.inflight().chain(sess.msgs.queued()) {
            if live(&m.msg) {
                ids.assign(&m.msg);
            }
        }
    }
    let mut w = DbWriter::start(out, ids.order.len() as u64, false)?;
    let mut props = Vec::new();
    for (store_id, m) in (1..).zip(&ids.order) {
        props.clear();
        if let Some(p) = m.properties().filter(|p| !p.is_empty()) {
            p.encode_listed(&mut props);
        }
        let expiry_time = m
            .expiry_left(clock.now)
            .map_or(0, |left| clock.wall + i64::from(left));
        w.msg_store(&MsgRecord {
            expiry_time,
            properties: &props,
            ..msg_record(store_id, m)
        })?;
    }
    for sess in sessions.clone() {
        write_session(&mut w, sess, &ids)?;
    }
    for sess in sessions.clone() {
        for (filter, opts) in &sess.filters {
            w.sub(&SubRecord {
                client_id: &sess.client_id,
                topic: filter,
                qos: opts.qos.as_u8(),
                options: opts.flags,
                identifier: opts.id,
            })?;
        }
    }
    for sess in sessions {
        if let Some(incoming) = sess.msgs.incoming.as_deref() {
            w.incoming(&sess.client_id, incoming)?;
        }
    }
    for id in retained_ids {
        w.retained(id)?;
    }
    w.finish()
}

/// Store ids for one save, keyed by message identity: each message is
/// written once, however many queues hold it, numbered as first met.
#[derive(Default)]
struct StoreIds<'a> {
    ids: HashMap<*const Message, u64>,
    /// The messages in id order (id = position + 1).
    order: Vec<&'a Message>,
}

impl<'a> StoreIds<'a> {
    fn assign(&mut self, m: &'a Rc<Message>) -> u64 {
        let next = self.order.len() as u64 + 1;
        let id = *self.ids.entry(Rc::as_ptr(m)).or_insert(next);
        if id == next {
            self.order.push(m);
        }
        id
    }

    fn get(&self, m: &Rc<Message>) -> Option<u64> {
        self.ids.get(&Rc::as_ptr(m)).copied()
    }
}

fn msg_record(store_id: u64, m: &Message) -> MsgRecord<'_> {
    let src = m.source.as_deref();
    MsgRecord {
        store_id,
        source_id: src.map_or("", |s| &s.client_id),
        source_username: src.and_then(|s| s.username.as_deref()).unwrap_or(""),
        source_port: src.map_or(0, |s| s.port),
        topic: &m.topic,
        payload: &m.payload,
        qos: m.qos.as_u8(),
        retain: m.retain,
        ..MsgRecord::default()
    }
}

/// A session's CLIENT chunk followed by its messages, in flight first.
fn write_session<W: Write>(
    w: &mut DbWriter<W>,
    sess: &Session,
    ids: &StoreIds<'_>,
) -> io::Result<()> {
    let (mids, last_mid) = packet_ids(sess);
    // As mosquitto: the interval (u32::MAX for a 3.x persistent session),
    // and while disconnected the unix time it expires at.
    let expires = sess.cold.as_ref().filter(|c| c.expires_ms.is_some());
    let client = ClientRecord {
        client_id: &sess.client_id,
        session_expiry_interval: sess.expiry_interval,
        session_expiry_time: expires.map_or(0, |c| c.expires_unix),
        last_mid,
        ..ClientRecord::default()
    };
    if !w.client(&client)? {
        return Ok(());
    }
    let inflight = sess.msgs.inflight().map(|m| (m, false));
    let queued = sess.msgs.queued().map(|m| (m, true));
    let mut props = Vec::new();
    for ((m, queued), mid) in inflight.chain(queued).zip(mids) {
        let Some(store_id) = ids.get(&m.msg) else {
            continue; // expired: left out
        };
        // The delivery's own property, as mosquitto keeps it.
        props.clear();
        if m.sub_id != 0 {
            let mut p = crate::protocol::Properties::default();
            p.set_subscription_identifier(m.sub_id);
            p.encode_listed(&mut props);
        }
        w.client_msg(&ClientMsgRecord {
            client_id: &sess.client_id,
            store_id,
            mid,
            qos: m.qos.as_u8(),
            state: out_state(m, queued),
            retain: m.retain,
            dup: !queued,
            direction: direction::OUT,
            properties: &props,
        })?;
    }
    Ok(())
}

/// The packet id to write for each of the session's messages (in flight
/// first), and the last one handed out, which the CLIENT chunk before them
/// holds. mosquitto sends a loaded queued message with the packet id it
/// finds in the file, so queued QoS 1/2 messages get ids here (ours are
/// only given one when they go into flight).
fn packet_ids(sess: &Session) -> (Vec<u16>, u16) {
    let msgs = &sess.msgs;
    let mut last = msgs.last_packet_id;
    let mut mids = Vec::with_capacity(msgs.inflight_len() + msgs.queued_len());
    mids.extend(msgs.inflight().map(|m| m.packet_id));
    for m in msgs.queued() {
        if m.qos == QoS::AtMostOnce {
            mids.push(m.packet_id);
            continue;
        }
        // Bounded: with every id in flight (impossible in practice) the
        // last one tried is used.
        for _ in 0..=u16::MAX {
            last = last.wrapping_add(1);
            if last != 0 && !msgs.inflight().any(|f| f.packet_id == last) {
                break;
            }
        }
        mids.push(last);
    }
    (mids, last)
}

fn out_state(m: &OutMsg, queued: bool) -> u8 {
    if queued {
        return msg_state::QUEUED;
    }
    match m.state {
        OutState::WaitPubAck => msg_state::WAIT_FOR_PUBACK,
        OutState::WaitPubRec => msg_state::WAIT_FOR_PUBREC,
        OutState::WaitPubComp => msg_state::WAIT_FOR_PUBCOMP,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::database::MsgSource;
    use crate::broker::persist::{
        decode, encode, PersistClient, PersistClientMsg, PersistDb, PersistIncoming, PersistSub,
        StoredMessage,
    };

    fn out(msg: &Rc<Message>, qos: QoS, retain: bool, packet_id: u16, state: OutState) -> OutMsg {
        OutMsg {
            msg: Rc::clone(msg),
            qos,
            retain,
            packet_id,
            state,
            sub_id: 0,
        }
    }

    /// The streamed file is byte for byte what `encode` makes of the same
    /// state as a `PersistDb` (which the interop tests hold to mosquitto's
    /// own files): a message shared by the retained tree and a queue is
    /// stored once, queued QoS 1/2 messages get packet ids, and clean
    /// sessions are left out.
    #[test]
    fn streamed_state_matches_encode() {
        let source = Rc::new(MsgSource {
            client_id: Rc::from("pub"),
            username: Some(Rc::from("u")),
            security: 0,
            port: 1883,
        });
        let m1 = Rc::new(
            Message::new("a/b".into(), b"r1".to_vec(), QoS::AtLeastOnce, true)
                .with_source(Some(source)),
        );
        let m2 = Rc::new(Message::new(
            "c".into(),
            b"q".to_vec(),
            QoS::ExactlyOnce,
            false,
        ));
        let m3 = Rc::new(Message::new(
            "d".into(),
            b"x".to_vec(),
            QoS::AtLeastOnce,
            false,
        ));
        let mut tree = RetainTree::default();
        tree.store(&m1);
        let mut s1 = Session::new(Rc::from("s1"), false);
        s1.filters.push((
            "a/#".into(),
            crate::broker::subs::SubOpts::new(QoS::AtLeastOnce),
        ));
        s1.msgs.last_packet_id = 7;
        s1.msgs
            .push_inflight(out(&m2, QoS::ExactlyOnce, false, 7, OutState::WaitPubRec));
        s1.msgs
            .push_queued(out(&m1, QoS::AtLeastOnce, true, 0, OutState::WaitPubAck));
        s1.msgs
            .push_queued(out(&m2, QoS::AtMostOnce, false, 0, OutState::WaitPubAck));
        s1.msgs.incoming_insert(9);
        s1.msgs.incoming_insert(3);
        let mut clean = Session::new(Rc::from("clean"), true);
        clean
            .msgs
            .push_queued(out(&m3, QoS::AtLeastOnce, false, 0, OutState::WaitPubAck));

        let cmsg = |store_id, mid, qos, state, retain, dup| PersistClientMsg {
            client_id: "s1".into(),
            store_id,
            mid,
            qos,
            state,
            retain,
            dup,
            direction: direction::OUT,
            properties: Vec::new(),
        };
        let want = PersistDb {
            last_db_id: 2,
            shutdown: false,
            msgs: vec![
                StoredMessage {
                    store_id: 1,
                    source_id: "pub".into(),
                    source_username: "u".into(),
                    source_port: 1883,
                    topic: "a/b".into(),
                    payload: b"r1".to_vec(),
                    qos: 1,
                    retain: true,
                    ..StoredMessage::default()
                },
                StoredMessage {
                    store_id: 2,
                    topic: "c".into(),
                    payload: b"q".to_vec(),
                    qos: 2,
                    ..StoredMessage::default()
                },
            ],
            retained: vec![1],
            clients: vec![PersistClient {
                client_id: "s1".into(),
                session_expiry_interval: u32::MAX,
                last_mid: 8,
                ..PersistClient::default()
            }],
            client_msgs: vec![
                cmsg(2, 7, 2, msg_state::WAIT_FOR_PUBREC, false, true),
                cmsg(1, 8, 1, msg_state::QUEUED, true, false),
                cmsg(2, 0, 0, msg_state::QUEUED, false, false),
            ],
            subs: vec![PersistSub {
                client_id: "s1".into(),
                topic: "a/#".into(),
                qos: 1,
                ..PersistSub::default()
            }],
            incoming_qos2: vec![PersistIncoming {
                client_id: "s1".into(),
                ids: vec![3, 9],
            }],
        };
        let clock = SaveClock {
            now: Instant::now(),
            wall: 1_700_000_000,
        };
        let got = write_state(Vec::new(), &tree, [&s1, &clean].into_iter(), clock).unwrap();
        assert_eq!(decode(&got), Ok(want.clone()));
        assert_eq!(got, encode(&want));
    }
}
