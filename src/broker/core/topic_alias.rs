//! MQTT 5 topic aliases a client sets on its PUBLISH packets: up to the
//! listener's `max_topic_alias` per connection, forgotten at disconnect.

use super::context::CloseReason;
use super::ids::ConnId;
use super::Core;
use crate::protocol::Publish;

impl Core {
    /// Applies `p`'s topic alias: an empty topic takes the alias's topic,
    /// a topic with an alias sets it. False when the alias is 0, over the
    /// limit, or unknown for an empty topic: the client was sent
    /// DISCONNECT 0x94 and is being closed.
    pub(super) fn resolve_topic_alias(&mut self, ck: ConnId, p: &mut Publish) -> bool {
        let Some(alias) = p.properties.topic_alias() else {
            return true;
        };
        let Some(conn) = self.conns.get_mut(ck) else {
            return false;
        };
        let max = conn
            .listener()
            .and_then(|l| self.settings.listeners.get(l.index()))
            .map_or(0, |spec| spec.max_topic_alias);
        let slot = usize::from(alias).wrapping_sub(1);
        let ok = if alias == 0 || alias > max {
            false
        } else if p.topic.is_empty() {
            let known = conn
                .cold
                .as_ref()
                .and_then(|c| c.topic_aliases.get(slot))
                .filter(|t| !t.is_empty());
            match known {
                Some(t) => {
                    p.topic = t.to_string();
                    true
                }
                None => false,
            }
        } else {
            let table = &mut conn.cold_mut().topic_aliases;
            if table.len() <= slot {
                table.resize(slot + 1, Box::from(""));
            }
            if let Some(t) = table.get_mut(slot) {
                *t = p.topic.as_str().into();
            }
            true
        };
        if !ok {
            crate::debug!(
                "Invalid topic alias {alias} from {}, disconnecting.",
                self.conn_id(ck)
            );
            // DISCONNECT 0x94 (with its reason string) comes with the close.
            self.schedule_close(ck, CloseReason::TopicAlias);
        }
        ok
    }
}
