//! The broker's side of persistence: deciding when to save (the save itself
//! streams from the broker's state, see `persist/live.rs`), and rebuilding
//! the state from a loaded `PersistDb` (the mosquitto.db model in
//! `persist/`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use super::core::context::Session;
use super::core::timers::TimerKind;
use super::core::Core;
use super::database::{Message, MsgProps, MsgSource, OutMsg, OutState};
use super::persist::{self, direction, msg_state, LoadError, PersistDb};
use super::subs::{SubOpts, NO_LOCAL, RETAIN_AS_PUBLISHED};
use crate::protocol::{Properties, PropertyContext, QoS};

#[derive(Debug, Clone)]
pub struct PersistSettings {
    pub path: PathBuf,
    /// Seconds between saves, or with `on_changes` a number of changes;
    /// 0: only at shutdown and on SIGUSR1.
    pub autosave_interval: u32,
    pub on_changes: bool,
    /// Move a corrupt file aside and start empty instead of refusing.
    pub discard_corrupt: bool,
}

/// Seconds since the unix epoch (0 for a clock before it).
/// Milliseconds since the Unix epoch now. The database keeps whole
/// seconds; callers round so that a restart never expires anything early.
fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Core {
    /// The security domain of the listener on `port`, as mosquitto finds a
    /// loaded message's listener. Without `per_listener_settings` there is
    /// only the global one; with it, an unknown port gets none (no ACL
    /// allows it, as in mosquitto).
    fn domain_of_port(&self, port: u16) -> u16 {
        if self.settings.security.len() <= 1 {
            return 0;
        }
        self.settings
            .listeners
            .iter()
            .find(|l| l.port == port)
            .and_then(|l| u16::try_from(l.security).ok())
            .unwrap_or(MsgSource::NO_DOMAIN)
    }

    /// Rebuilds retained messages and persistent sessions from a database.
    /// Incoming QoS 2 messages mosquitto had not yet released are passed on
    /// now (ours pass them on at receipt) and their ids remembered.
    pub(super) fn restore(&mut self, db: PersistDb) {
        let msgs = self.restore_messages(db.msgs);
        for id in &db.retained {
            if let Some(m) = msgs.get(id) {
                self.retained.store(m);
            }
        }
        self.restore_sessions(db.clients);
        let release = self.restore_client_msgs(db.client_msgs, &msgs);
        for inc in db.incoming_qos2 {
            let Some(&sk) = self.by_id.get(inc.client_id.as_str()) else {
                continue;
            };
            if let Some(sess) = self.sessions.get_mut(sk) {
                for id in inc.ids {
                    sess.msgs.incoming_insert(id);
                }
            }
        }
        for s in db.subs {
            let Some(&sk) = self.by_id.get(s.client_id.as_str()) else {
                continue;
            };
            let opts = SubOpts {
                qos: QoS::from_u8(s.qos & 0x03).unwrap_or(QoS::AtMostOnce),
                flags: s.options & (NO_LOCAL | RETAIN_AS_PUBLISHED),
                id: s.identifier,
            };
            self.subs.subscribe(&s.topic, sk.index(), opts);
            if let Some(sess) = self.sessions.get_mut(sk) {
                sess.filters.push((s.topic, opts));
            }
        }
        for msg in release {
            self.publish_message(msg, None);
        }
    }

    /// The stored messages that have not expired, by store id.
    fn restore_messages(
        &mut self,
        stored: Vec<persist::StoredMessage>,
    ) -> HashMap<u64, Rc<Message>> {
        // Whole seconds rounded down: a message keeps at least its time left.
        let (now, wall) = (Instant::now(), unix_millis() / 1000);
        // Messages from the same publisher share one source, as when live.
        let mut sources: HashMap<(String, String, u16), Rc<MsgSource>> = HashMap::new();
        let mut msgs: HashMap<u64, Rc<Message>> = HashMap::with_capacity(stored.len());
        for m in stored {
            // An expired message is dropped, as mosquitto does.
            let left = m.expiry_time.saturating_sub(wall);
            if m.expiry_time > 0 && (left <= 0 || left > i64::from(u32::MAX)) {
                continue;
            }
            let props = match Properties::decode_block(&m.properties, PropertyContext::Publish) {
                Ok(p) => p,
                Err(e) => {
                    crate::warning!("Stored message {} has bad properties ({e}).", m.store_id);
                    Properties::default()
                }
            };
            let interval = if m.expiry_time > 0 {
                u32::try_from(left).unwrap_or(u32::MAX)
            } else {
                0
            };
            let v5 = MsgProps::new(props, interval, now);
            let qos = QoS::from_u8(m.qos).unwrap_or(QoS::AtMostOnce);
            // Clients always have an id: an empty one is the broker's own
            // message (or a bridge's), which no ACL applies to.
            let source = if m.source_id.is_empty() {
                None
            } else {
                let security = self.domain_of_port(m.source_port);
                let key = (m.source_id, m.source_username, m.source_port);
                let src = sources.entry(key).or_insert_with_key(|(id, user, port)| {
                    Rc::new(MsgSource {
                        client_id: Rc::from(id.as_str()),
                        username: (!user.is_empty()).then(|| Rc::from(user.as_str())),
                        security,
                        port: *port,
                    })
                });
                Some(Rc::clone(src))
            };
            let msg = Message::new(m.topic, m.payload, qos, m.retain).with_source(source);
            msgs.insert(m.store_id, Rc::new(msg.with_props(v5)));
        }
        msgs
    }

    /// The persistent sessions, detached, with the time they had left.
    fn restore_sessions(&mut self, clients: Vec<persist::PersistClient>) {
        for c in clients {
            if c.client_id.is_empty() || self.by_id.contains_key(c.client_id.as_str()) {
                continue;
            }
            let id: Rc<str> = Rc::from(c.client_id);
            let mut sess = Session::new(Rc::clone(&id), false);
            sess.msgs.last_packet_id = c.last_mid;
            sess.set_expiry(c.session_expiry_interval);
            let Some(sk) = self.sessions.insert(sess) else {
                break;
            };
            self.by_id.insert(id, sk);
            // Time it had left when saved (mosquitto writes the expiry
            // time of disconnected sessions); 0: not known, a whole interval.
            let left = (c.session_expiry_time > 0).then(|| {
                let ms = c
                    .session_expiry_time
                    .saturating_mul(1000)
                    .saturating_sub(unix_millis());
                Duration::from_millis(u64::try_from(ms).unwrap_or(0))
            });
            self.detach_session_within(sk, left);
        }
    }

    /// Each session's messages in flight and queued; the incoming QoS 2
    /// messages not yet released, to pass on now.
    fn restore_client_msgs(
        &mut self,
        client_msgs: Vec<persist::PersistClientMsg>,
        msgs: &HashMap<u64, Rc<Message>>,
    ) -> Vec<Rc<Message>> {
        let mut release = Vec::new();
        for cm in client_msgs {
            let (Some(&sk), Some(msg)) = (
                self.by_id.get(cm.client_id.as_str()),
                msgs.get(&cm.store_id),
            ) else {
                continue; // an expired message or an unknown client, as mosquitto
            };
            let qos = QoS::from_u8(cm.qos).unwrap_or(QoS::AtMostOnce);
            let Some(sess) = self.sessions.get_mut(sk) else {
                continue;
            };
            if cm.direction == direction::IN {
                if qos == QoS::ExactlyOnce && sess.msgs.incoming_insert(cm.mid) {
                    release.push(Rc::clone(msg));
                }
                continue;
            }
            let state = match cm.state {
                msg_state::WAIT_FOR_PUBACK => Some(OutState::WaitPubAck),
                msg_state::WAIT_FOR_PUBREC => Some(OutState::WaitPubRec),
                msg_state::RESEND_PUBREL | msg_state::WAIT_FOR_PUBCOMP => {
                    Some(OutState::WaitPubComp)
                }
                _ => None,
            };
            let out = OutMsg {
                msg: Rc::clone(msg),
                qos,
                retain: cm.retain,
                packet_id: cm.mid,
                state: state.unwrap_or(OutState::WaitPubAck),
                sub_id: Properties::decode_block(&cm.properties, PropertyContext::Publish)
                    .ok()
                    .and_then(|p| p.subscription_identifier())
                    .unwrap_or(0),
            };
            match state {
                Some(_) if cm.mid != 0 && qos != QoS::AtMostOnce => sess.msgs.push_inflight(out),
                _ => sess.msgs.push_queued(out),
            }
        }
        release
    }

    /// Loads the database at start-up. A corrupt file stops start-up unless
    /// `persistence_discard_corrupt` lets it be moved aside.
    pub fn load_persistence(&mut self) -> Result<(), String> {
        let Some(p) = self.settings.persistence.clone() else {
            return Ok(());
        };
        crate::notice!("Restoring persistent database from {}.", p.path.display());
        match persist::load(&p.path) {
            Ok(Some(db)) => {
                self.restore(db);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(LoadError::Corrupt { path, error }) if p.discard_corrupt => {
                let aside = persist::move_aside(&path)
                    .map_err(|e| format!("Unable to move corrupt {}: {e}", path.display()))?;
                crate::warning!(
                    "Warning: persistence file {} is corrupt ({error}); moved to {} and \
                     starting with an empty database.",
                    path.display(),
                    aside.display()
                );
                Ok(())
            }
            Err(e @ LoadError::Corrupt { .. }) => Err(format!(
                "{e}. The file was left untouched; set persistence_discard_corrupt true to \
                 move it aside and start empty."
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Writes the database now (autosave, SIGUSR1, shutdown).
    pub(super) fn save_persistence(&mut self) {
        let Some(p) = &self.settings.persistence else {
            return;
        };
        let path = p.path.clone();
        crate::information!("Saving in-memory database to {}.", path.display());
        let started = Instant::now();
        self.note_expiry_times();
        let sessions = self.sessions.iter().map(|(_, s)| s);
        let clock = persist::SaveClock {
            now: started,
            // Rounded up: a stored expiry time is never before the real one.
            wall: (unix_millis() + 999) / 1000,
        };
        match persist::save_state(&path, &self.retained, sessions, clock) {
            Ok(()) => crate::debug!("Database saved in {:?}.", started.elapsed()),
            Err(e) => crate::error!("Error saving in-memory database: {e}."),
        }
        self.changes = 0;
    }

    /// Puts the unix time each disconnected session expires at where the
    /// database writer finds it.
    fn note_expiry_times(&mut self) {
        let now_ms = self.timers.now_ms(self.core_now());
        let unix_now_ms = unix_millis();
        for sess in self.sessions.values_mut() {
            if let Some(c) = sess.cold.as_mut() {
                if let Some(at) = c.expires_ms {
                    // Rounded up to the second: never expires early after a restart.
                    let left = i64::try_from(at.saturating_sub(now_ms)).unwrap_or(i64::MAX);
                    c.expires_unix = unix_now_ms.saturating_add(left).saturating_add(999) / 1000;
                }
            }
        }
    }

    /// Counts a change for `autosave_on_changes` and saves when due.
    pub(super) fn note_change(&mut self) {
        self.changes += 1;
    }

    /// Called once per loop turn: saves when enough changes piled up.
    pub(super) fn autosave_by_changes(&mut self) {
        if let Some(p) = &self.settings.persistence {
            if p.on_changes
                && p.autosave_interval > 0
                && self.changes >= u64::from(p.autosave_interval)
            {
                self.save_persistence();
            }
        }
    }

    pub(super) fn schedule_autosave(&mut self, now: Instant) {
        if let Some(p) = &self.settings.persistence {
            if !p.on_changes && p.autosave_interval > 0 {
                let at = now + Duration::from_secs(u64::from(p.autosave_interval));
                self.timers.push(at, TimerKind::Autosave, 0, 0);
            }
        }
    }
}
