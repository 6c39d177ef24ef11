//! The `$SYS/broker/...` tree, published retained every `sys_interval`
//! seconds: each value only when it changed (uptime always), load figures as
//! mosquitto computes them (per-minute rates, exponentially averaged over
//! 1, 5 and 15 minutes).

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use super::Core;
use crate::broker::database::Message;
use crate::protocol::QoS;

/// The load topics, in mosquitto's order; each has 1min/5min/15min.
const LOADS: [&str; 9] = [
    "messages/received",
    "messages/sent",
    "publish/dropped",
    "publish/received",
    "publish/sent",
    "bytes/received",
    "bytes/sent",
    "sockets",
    "connections",
];

#[derive(Default)]
pub struct SysTree {
    /// The last value published per topic, to publish changes only.
    last: HashMap<String, String>,
    /// Counter snapshots at the previous update, in `LOADS` order.
    prev: [u64; 9],
    /// Averaged loads: [topic][1, 5, 15 minutes].
    loads: [[f64; 3]; 9],
    last_update: Option<Instant>,
}

impl Core {
    fn sys_publish(&mut self, topic: &str, value: String, always: bool) {
        if !always && self.sys.last.get(topic) == Some(&value) {
            return;
        }
        self.sys.last.insert(topic.to_owned(), value.clone());
        let msg = Message::new(topic.to_owned(), value.into_bytes(), QoS::AtMostOnce, true);
        self.publish_message(Rc::new(msg), None);
    }

    /// Once at start-up.
    pub(super) fn sys_start(&mut self, now: Instant) {
        if self.settings.sys_interval == 0 {
            return;
        }
        let v = format!("mosquitto version {}", crate::VERSION);
        self.sys_publish("$SYS/broker/version", v, true);
        self.sys_update(now);
    }

    /// Every `sys_interval` seconds.
    pub(super) fn sys_update(&mut self, now: Instant) {
        let uptime = now.duration_since(self.started).as_secs();
        self.sys_publish("$SYS/broker/uptime", format!("{uptime} seconds"), true);

        let connected = self.connected as u64;
        let total = self.sessions.len() as u64;
        let disconnected = total.saturating_sub(connected);
        let s = self.stats.clone();
        let (stored, stored_bytes) = crate::broker::database::store_totals();
        let counts: [(&str, u64); 22] = [
            ("clients/total", total),
            ("clients/maximum", s.clients_maximum),
            ("clients/inactive", disconnected),
            ("clients/disconnected", disconnected),
            ("clients/active", connected),
            ("clients/connected", connected),
            ("clients/expired", s.clients_expired),
            ("messages/stored", stored),
            ("store/messages/count", stored),
            ("store/messages/bytes", stored_bytes),
            ("subscriptions/count", self.subs.len() as u64),
            ("retained messages/count", self.retained.len() as u64),
            ("messages/received", s.msgs_received),
            ("messages/sent", s.msgs_sent),
            ("publish/messages/dropped", s.msgs_dropped),
            ("publish/messages/received", s.pub_msgs_received),
            ("publish/messages/sent", s.pub_msgs_sent),
            ("bytes/received", s.bytes_received),
            ("bytes/sent", s.bytes_sent),
            ("publish/bytes/received", s.pub_bytes_received),
            ("publish/bytes/sent", s.pub_bytes_sent),
            ("shared_subscriptions/count", 0),
        ];
        for (name, v) in counts {
            self.sys_publish(&format!("$SYS/broker/{name}"), v.to_string(), false);
        }
        // Only the broker binary counts its heap (see heap.rs).
        if crate::broker::heap::current() > 0 {
            let (now, max) = (
                crate::broker::heap::current(),
                crate::broker::heap::maximum(),
            );
            self.sys_publish("$SYS/broker/heap/current", now.to_string(), false);
            self.sys_publish("$SYS/broker/heap/maximum", max.to_string(), false);
        }

        let current = [
            s.msgs_received,
            s.msgs_sent,
            s.msgs_dropped,
            s.pub_msgs_received,
            s.pub_msgs_sent,
            s.bytes_received,
            s.bytes_sent,
            s.sockets,
            s.connections,
        ];
        let elapsed = self
            .sys
            .last_update
            .map(|t| now.duration_since(t).as_secs_f64())
            .unwrap_or(0.0);
        if elapsed > 0.0 {
            let mult = 60.0 / elapsed;
            for (i, name) in LOADS.iter().enumerate() {
                let rate = current[i].saturating_sub(self.sys.prev[i]) as f64 * mult;
                for (j, minutes) in [1.0f64, 5.0, 15.0].iter().enumerate() {
                    // Exponential moving average, as for Unix load averages.
                    let e = (-elapsed / (60.0 * minutes)).exp();
                    let old = self.sys.loads[i][j];
                    let new = rate + e * (old - rate);
                    self.sys.loads[i][j] = new;
                    let topic = format!("$SYS/broker/load/{name}/{}min", *minutes as u32);
                    self.sys_publish(&topic, format!("{new:.2}"), false);
                }
            }
        }
        self.sys.prev = current;
        self.sys.last_update = Some(now);
    }
}
