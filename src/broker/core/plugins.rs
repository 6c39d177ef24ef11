//! Where the core meets mosquitto's C plugins (`broker::plugin`): a
//! client's PUBLISH goes through `$CONTROL` handling and the message
//! callbacks, and what plugins queued (publish, kick) is carried out.

use std::rc::Rc;

use super::auth::{AuthClient, AuthStep, ExtendedAuth};
use super::context::CloseReason;
use super::ids::{ConnId, SessionId};
use super::Core;
use crate::broker::database::{Message, MsgProps};
use crate::broker::plugin::{self, Action, AuthCall, ExtAuth, MessageRefusal, PluginMessage};
use crate::broker::security::Access;
use crate::protocol::QoS;
use crate::protocol::{Packet, ProtocolVersion};

/// Rounds of plugin actions per call: a plugin answering its own
/// messages cannot keep the loop here for ever.
const MAX_ROUNDS: usize = 8;

/// What the plugins made of a client's PUBLISH.
pub(super) enum Filtered {
    /// Deliver it (as the message callbacks left it).
    Deliver(PluginMessage),
    /// A `$CONTROL/…` message, for plugins only.
    Consumed,
    /// A message callback refused it.
    Refused,
    /// A message callback returned a code mosquitto closes the connection
    /// for; the DISCONNECT reason code an MQTT 5 publisher gets first.
    Close(Option<u8>),
}

impl Core {
    /// A client's PUBLISH after the ACL allowed it: `$CONTROL/…` goes to the
    /// plugin that registered the topic and to nobody else (as mosquitto),
    /// then the message callbacks may change or refuse it.
    pub(super) fn plugin_filter(&mut self, sk: Option<SessionId>, msg: PluginMessage) -> Filtered {
        let sess = sk.and_then(|sk| self.sessions.get(sk));
        if sess.is_some_and(|s| s.bridge().is_some()) {
            return Filtered::Deliver(msg);
        }
        let chain = sess
            .and_then(|s| self.security.get(usize::from(s.security)))
            .map(|d| d.files.plugins)
            .unwrap_or_default();
        let control = msg.topic.starts_with("$CONTROL/");
        // The common case: no plugin, no control topic; nothing to do.
        if chain.is_empty() && !control {
            return Filtered::Deliver(msg);
        }
        let id = sess.map(|s| Rc::clone(&s.client_id));
        let id = id.as_deref().unwrap_or("");
        if control {
            chain.control(id, &msg);
            self.apply_plugin_actions();
            return Filtered::Consumed;
        }
        let out = chain.on_message(id, msg);
        self.apply_plugin_actions();
        match out {
            Ok(m) => Filtered::Deliver(m),
            Err(MessageRefusal::Denied) => Filtered::Refused,
            Err(MessageRefusal::Close(code)) => Filtered::Close(code),
        }
    }

    /// Whether connection `ck` came through a websockets listener (plugins
    /// are told with `mosquitto_client_protocol`).
    pub(super) fn websocket_conn(&self, ck: ConnId) -> bool {
        let listener = self.conns.get(ck).and_then(|c| c.listener());
        listener
            .and_then(|l| self.settings.listeners.get(l.index()))
            .is_some_and(|spec| spec.websockets.is_some())
    }

    /// A message callback's code closed the publisher's connection: the
    /// message was never stored, so a QoS 2 packet id is free again (the
    /// client's resend after reconnecting is a new message, as mosquitto's).
    pub(super) fn plugin_closed_publish(
        &mut self,
        ck: ConnId,
        sk: Option<SessionId>,
        (qos, packet_id): (QoS, u16),
        reason: Option<u8>,
    ) {
        if qos == QoS::ExactlyOnce {
            if let Some(sess) = sk.and_then(|sk| self.sessions.get_mut(sk)) {
                sess.msgs.incoming_release(packet_id);
            }
        }
        self.close_for_plugin(ck, reason);
    }

    /// Closes a connection as mosquitto 2.0 does when a plugin's code ends
    /// it: an MQTT 5 client first gets DISCONNECT with
    /// `reason` (no reason string, as mosquitto's), if any; nothing else is
    /// sent (no CONNACK to a client still connecting).
    pub(super) fn close_for_plugin(&mut self, ck: ConnId, reason: Option<u8>) {
        let v5 = self
            .conns
            .get(ck)
            .is_some_and(|c| c.protocol == ProtocolVersion::V5 && c.closing.is_none());
        if let (true, Some(code)) = (v5, reason) {
            let p = Packet::Disconnect(code, Default::default());
            self.send_packet(ck, &p, ProtocolVersion::V5);
        }
        self.schedule_close(ck, CloseReason::Refused);
    }

    /// mosquitto's ACL check on UNSUBSCRIBE, which only plugins can refuse
    /// (a refused filter stays subscribed).
    pub(super) fn unsubscribe_allowed(&self, sk: SessionId, filter: &str) -> bool {
        let Some(sess) = self.sessions.get(sk) else {
            return false;
        };
        let Some(d) = self.security.get(usize::from(sess.security)) else {
            return false;
        };
        if d.files.plugins.is_empty() || sess.bridge().is_some() {
            return true;
        }
        let user = sess.username.as_deref();
        d.files
            .acl_check(&sess.client_id, user, filter, Access::Unsubscribe)
    }

    /// Tells the plugins how many subscriptions the session's client has
    /// (`mosquitto_client_sub_count`) after they changed; nothing without
    /// plugins.
    pub(super) fn plugin_sub_count(&self, sk: SessionId) {
        let Some(sess) = self.sessions.get(sk) else {
            return;
        };
        let domain = self.security.get(usize::from(sess.security));
        if domain.is_some_and(|d| !d.files.plugins.is_empty()) {
            plugin::set_sub_count(&sess.client_id, sess.filters.len());
        }
    }

    /// Carries out what plugins asked for since the last call.
    pub fn apply_plugin_actions(&mut self) {
        for _ in 0..MAX_ROUNDS {
            if !plugin::has_actions() {
                return;
            }
            for action in plugin::take_actions() {
                self.apply_plugin_action(action);
            }
        }
    }

    fn apply_plugin_action(&mut self, action: Action) {
        match action {
            Action::Publish {
                client_id,
                topic,
                payload,
                qos,
                retain,
                properties,
            } => {
                let qos = QoS::from_u8(qos).unwrap_or(QoS::AtMostOnce);
                let v5 = MsgProps::from_publish(properties, self.now);
                let msg = Message::new(topic, payload, qos, retain).with_props(v5);
                let msg = Rc::new(msg);
                match client_id {
                    None => self.publish_message(msg, None),
                    Some(id) => {
                        if let Some(sk) = self.by_id.get(id.as_str()).copied() {
                            self.deliver(sk, &msg, qos, false, 0);
                        }
                    }
                }
            }
            Action::KickClientId {
                client_id,
                with_will,
            } => {
                let sk = self.by_id.get(client_id.as_str()).copied();
                let ck = sk.and_then(|sk| self.sessions.get(sk)?.conn());
                if let Some(ck) = ck {
                    self.kick(ck, with_will);
                }
            }
            Action::KickUsername {
                username,
                with_will,
            } => self.kick_where(with_will, |u| u == Some(username.as_str())),
            Action::KickAll { with_will } => self.kick_where(with_will, |_| true),
            Action::SetUsername {
                client_id,
                conn,
                username,
            } => {
                let sk = self.by_id.get(client_id.as_str()).copied();
                let Some(sess) = sk.and_then(|sk| self.sessions.get_mut(sk)) else {
                    return;
                };
                // Only the connection the plugin was shown: not a CONNECT
                // still being checked (the core takes the name from the
                // authentication) nor an earlier connection of the id.
                if sess.conn().map(|c| c.index() as u32) == Some(conn) {
                    sess.username = username.map(Rc::from);
                }
            }
        }
    }

    /// Kicks every client connection whose session's username passes `f`.
    fn kick_where(&mut self, with_will: bool, f: impl Fn(Option<&str>) -> bool) {
        let targets: Vec<ConnId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.bridge().is_none() && f(s.username.as_deref()))
            .filter_map(|(_, s)| s.conn())
            .collect();
        for ck in targets {
            self.kick(ck, with_will);
        }
    }

    /// Closes a client's connection; its will is published only when
    /// `with_will`.
    fn kick(&mut self, ck: ConnId, with_will: bool) {
        if !with_will {
            if let Some(c) = self.conns.get_mut(ck) {
                c.take_will();
            }
        }
        self.schedule_close(ck, CloseReason::ConnectionLost);
    }
}

/// The core's enhanced-authentication backend when plugins are loaded:
/// the plugins' extended-auth events (mosquitto's
/// `mosquitto_security_auth_start` and `_continue`), with the chain of the
/// client's security domain.
pub(crate) struct PluginAuth {
    /// Each security domain's plugins, by domain index.
    chains: Vec<plugin::Chain>,
}

impl PluginAuth {
    /// The backend for these domains' plugins; None when no domain loads
    /// any (every method is then refused with 0x8C by the core).
    pub(crate) fn for_chains(chains: Vec<plugin::Chain>) -> Option<PluginAuth> {
        chains
            .iter()
            .any(|c| !c.is_empty())
            .then_some(PluginAuth { chains })
    }

    fn run(
        &self,
        client: &AuthClient,
        call: AuthCall,
        method: &str,
        data: Option<&[u8]>,
    ) -> AuthStep {
        let chain = self
            .chains
            .get(client.security)
            .copied()
            .unwrap_or_default();
        match chain.extended_auth(call, &client.facts, method, data) {
            ExtAuth::Success(d) => AuthStep::Success(Some(d)),
            ExtAuth::Continue(d) => AuthStep::Continue(d),
            ExtAuth::Denied => AuthStep::Denied,
            ExtAuth::NotSupported => AuthStep::NotSupported,
            ExtAuth::Failed(_) => AuthStep::Failed,
        }
    }
}

impl ExtendedAuth for PluginAuth {
    fn start(
        &mut self,
        client: &AuthClient,
        method: &str,
        data: Option<&[u8]>,
        reauth: bool,
    ) -> AuthStep {
        let call = if reauth {
            AuthCall::Reauth
        } else {
            AuthCall::Start
        };
        self.run(client, call, method, data)
    }

    fn step(
        &mut self,
        client: &AuthClient,
        method: &str,
        data: Option<&[u8]>,
        reauth: bool,
    ) -> AuthStep {
        let call = AuthCall::Continue { connected: reauth };
        self.run(client, call, method, data)
    }

    fn username(&mut self, client_id: &str, security: usize) -> Option<Option<String>> {
        self.chains.get(security)?.changed_username(client_id)
    }

    fn abandon(&mut self, conn: u32) {
        plugin::auth_abandoned(conn);
    }
}
