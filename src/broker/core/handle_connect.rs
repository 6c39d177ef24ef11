//! CONNECT policy: protocol and client id checks, authentication, session
//! takeover and resumption, CONNACK.

use std::rc::Rc;

use super::auth::{AuthClient, AuthStep};
use super::context::{CloseReason, SessionRole};
use super::ids::{ConnId, SessionId};
use super::timers::TimerKind;
use super::{Core, Transport};
use crate::broker::plugin::ClientFacts;
use crate::broker::security;
use crate::protocol::properties::id;
use crate::protocol::{
    Auth, ConnAck, Connect, ConnectReturnCode, Packet, Properties, PropertyValue, ProtocolVersion,
    QoS, ReasonCode,
};
use crate::sys::net::random_bytes;

/// A client id in mosquitto's generated shape: prefix + a random UUID.
fn generate_client_id(prefix: &str) -> String {
    let mut b = [0u8; 16];
    random_bytes(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let h = |r: std::ops::Range<usize>| hex.get(r).unwrap_or("");
    format!(
        "{prefix}{}-{}-{}-{}-{}",
        h(0..8),
        h(8..12),
        h(12..16),
        h(16..20),
        h(20..32)
    )
}

/// The protocol number in mosquitto's "(pN, …)" log field: its internal
/// enumeration, 1 for 3.1, 2 for 3.1.1 and 5 for 5.0.
fn log_protocol(p: ProtocolVersion) -> u8 {
    match p {
        ProtocolVersion::V31 => 1,
        ProtocolVersion::V311 => 2,
        ProtocolVersion::V5 => 5,
    }
}

impl Core {
    /// Sends a CONNACK refusal and closes once it is written. `code` is the
    /// 3.x return code; an MQTT 5 client gets its reason code.
    pub(super) fn send_connack_refusal(&mut self, ck: ConnId, code: u8) {
        self.refuse_v5(ck, code, v5_reason(code));
    }

    /// A CONNACK refusal with `v3` for 3.x clients and `v5` for MQTT 5 ones;
    /// closes once it is written.
    pub(super) fn refuse_v5(&mut self, ck: ConnId, v3: u8, v5: ReasonCode) {
        let v5_conn = self
            .conns
            .get(ck)
            .is_some_and(|c| c.protocol == ProtocolVersion::V5);
        let code = if v5_conn { v5.0 } else { v3 };
        self.send_connack(ck, false, code, Properties::default());
        self.schedule_close(ck, CloseReason::Refused);
    }

    /// Encodes a CONNACK. For an MQTT 5 client, `props` (the CONNECT
    /// handler's) are followed by the broker-wide ones, in mosquitto's
    /// order (send__connack), so the bytes equal mosquitto's.
    fn send_connack(&mut self, ck: ConnId, sp: bool, code: u8, mut props: Properties) {
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let version = conn.protocol;
        if version == ProtocolVersion::V5 {
            let s = &self.settings;
            if code < 0x80 {
                if !s.retain_available {
                    props.0.push((id::RETAIN_AVAILABLE, PropertyValue::Byte(0)));
                }
                if s.max_packet_size > 0 {
                    let max = u32::try_from(s.max_packet_size).unwrap_or(u32::MAX);
                    props
                        .0
                        .push((id::MAXIMUM_PACKET_SIZE, PropertyValue::U32(max)));
                }
                if let Ok(n @ 1..) = u16::try_from(s.limits.max_inflight) {
                    props.0.push((id::RECEIVE_MAXIMUM, PropertyValue::U16(n)));
                }
            }
            if conn.max_qos != QoS::ExactlyOnce {
                let q = PropertyValue::Byte(conn.max_qos.as_u8());
                props.0.push((id::MAXIMUM_QOS, q));
            }
        }
        let ack = ConnAck {
            session_present: sp,
            code,
            properties: props,
        };
        ack.encode_listed(conn.out(), version);
        self.stats.msgs_sent += 1;
        Self::mark_dirty(&mut self.dirty, conn, ck);
    }

    pub(super) fn handle_connect(&mut self, ck: ConnId, c: Connect, peers: &dyn Transport) {
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        conn.protocol = c.protocol;
        let Some(admitted) = self.admit(ck, c, peers) else {
            return;
        };
        let method = admitted.connect.properties.authentication_method();
        if let Some(method) = method.map(str::to_owned) {
            let data = admitted.connect.properties.authentication_data();
            let peer = peers.peer_name(ck);
            let cert = peers.tls_certificate(ck);
            let ws = self.websocket_conn(ck);
            let client = admitted.auth_client(&peer, cert.as_deref(), ck, ws);
            let step = match self.auth.as_mut() {
                Some(backend) => backend.start(&client, &method, data, false),
                None => AuthStep::NotSupported,
            };
            self.connect_auth_step(ck, admitted, method, step, peers);
            return;
        }
        self.finish_connect(ck, admitted, peers);
    }

    /// The CONNECT passed every check: takes or makes the session, and
    /// sends the CONNACK.
    fn finish_connect(&mut self, ck: ConnId, mut admitted: Admitted, peers: &dyn Transport) {
        let clean = admitted.connect.clean_session;
        let Some((sk, session_present)) = self.take_session(&admitted.client_id, clean) else {
            self.send_connack_refusal(ck, ConnectReturnCode::ServerUnavailable as u8);
            return;
        };
        let props = std::mem::take(&mut admitted.connack);
        self.attach(ck, sk, admitted, peers);
        self.send_connack(ck, session_present, 0, props);
        if session_present {
            self.plugin_sub_count(sk);
            self.resume_session(ck, sk);
        }
    }

    /// The CONNECT's checks, in mosquitto's order: memory, will, client
    /// id, keepalive, identity, client id prefixes, will size, password
    /// (only without an authentication method: the method's exchange
    /// replaces it, as in mosquitto). Refuses (CONNACK and close) and
    /// returns None when one fails.
    fn admit(&mut self, ck: ConnId, mut c: Connect, peers: &dyn Transport) -> Option<Admitted> {
        let conn = self.conns.get(ck)?;
        let spec = self.settings.listeners.get(conn.listener()?.index())?;
        let (allow_anonymous, security, tls_identity, username_as_clientid) = (
            spec.allow_anonymous,
            spec.security,
            spec.tls_identity,
            spec.username_as_clientid,
        );
        // Clients are taken on whatever memory_limit says: a CONNECT costs
        // little, and it may come from the client that frees memory.
        // What is refused is new stored data (core::limits).
        self.check_will_flags(ck, &c)?;
        let (client_id, connack) = self.client_id_and_keepalive(ck, &mut c)?;
        // Who the client is: a TLS identity replaces the CONNECT username
        // and the password check; otherwise the password file decides.
        let mut username = match tls_identity {
            Some(source) => match peers.tls_username(ck, source) {
                Some(u) => Some(u),
                None => return self.refuse(ck, ConnectReturnCode::BadUsernameOrPassword),
            },
            None => c.username.take(),
        };
        let client_id = match (username_as_clientid, &username) {
            (false, _) => client_id,
            (true, Some(u)) => u.clone(),
            (true, None) => return self.refuse(ck, ConnectReturnCode::NotAuthorized),
        };
        let prefixes = self.settings.clientid_prefixes.as_deref();
        if !security::clientid_prefix_allowed(prefixes, &client_id) {
            return self.refuse(ck, ConnectReturnCode::NotAuthorized);
        }
        // A will payload over message_size_limit: CONNACK 5 (3.x) or
        // 0x95 (5), as mosquitto answers.
        let limit = self.settings.message_size_limit;
        if c.will
            .as_ref()
            .is_some_and(|w| limit > 0 && w.payload.len() > limit)
        {
            crate::debug!("Client {client_id} connected with too large Will payload");
            self.refuse_v5(ck, 5, ReasonCode::PACKET_TOO_LARGE);
            return None;
        }
        let extended = c.properties.authentication_method().is_some();
        if tls_identity.is_none() && !extended {
            let files = self.security.get(security).map(|d| &d.files);
            let (user, pass) = (username.as_deref(), c.password.as_deref());
            let verdict = match files {
                Some(f) if f.plugins.is_empty() => f.authenticate(allow_anonymous, user, pass),
                Some(f) => {
                    let peer = peers.peer_name(ck);
                    let cert = peers.tls_certificate(ck);
                    let ws = self.websocket_conn(ck);
                    let facts = client_facts(&client_id, user, &c, &peer, cert.as_deref(), ck, ws);
                    f.authenticate_client(allow_anonymous, &facts, pass)
                }
                None => Err(security::ConnackCode::NotAuthorized),
            };
            match verdict {
                Err(security::ConnackCode::Unanswered) => self.close_for_plugin(ck, None),
                Err(code) => self.send_connack_refusal(ck, code.v311()),
                Ok(()) => {}
            }
            if verdict.is_err() {
                return None;
            }
            // A plugin may have set another username (mosquitto_set_username).
            let files = self.security.get(security).map(|d| &d.files);
            if let Some(u) = files.and_then(|f| f.plugins.changed_username(&client_id)) {
                username = u;
            }
        }
        Some(Admitted {
            client_id,
            username: username.map(Rc::from),
            security,
            connect: c,
            connack,
        })
    }

    /// The will's retain and QoS against what the broker allows: an MQTT 5
    /// client is told (0x9A, 0x9B), a 3.x one closed, as mosquitto does.
    fn check_will_flags(&mut self, ck: ConnId, c: &Connect) -> Option<()> {
        let max_qos = self.conns.get(ck)?.max_qos;
        let Some(w) = &c.will else {
            return Some(());
        };
        let refusal = if w.retain && !self.settings.retain_available {
            ReasonCode::RETAIN_NOT_SUPPORTED
        } else if w.qos > max_qos {
            ReasonCode::QOS_NOT_SUPPORTED
        } else if super::too_many_levels(&w.topic) {
            ReasonCode::TOPIC_NAME_INVALID
        } else {
            return Some(());
        };
        match (c.protocol, refusal) {
            (ProtocolVersion::V5, r) if r != ReasonCode::TOPIC_NAME_INVALID => {
                self.refuse_with(ck, r);
            }
            _ => self.schedule_close(ck, CloseReason::Protocol),
        }
        None
    }

    /// The client id (assigned one for an empty id where allowed) and the
    /// keepalive against `max_keepalive`; with the CONNACK properties they
    /// lead to for an MQTT 5 client, in mosquitto's order.
    fn client_id_and_keepalive(
        &mut self,
        ck: ConnId,
        c: &mut Connect,
    ) -> Option<(String, Properties)> {
        let conn = self.conns.get(ck)?;
        let spec = self.settings.listeners.get(conn.listener()?.index())?;
        let (allow_zero_len, topic_alias_max) =
            (spec.allow_zero_length_clientid, spec.max_topic_alias);
        let v5 = c.protocol == ProtocolVersion::V5;
        let mut connack = Properties::default();
        if v5 && topic_alias_max > 0 {
            let tam = PropertyValue::U16(topic_alias_max);
            connack.0.push((id::TOPIC_ALIAS_MAXIMUM, tam));
        }
        let max_ka = self.settings.max_keepalive;
        let ka_refused = max_ka > 0 && (c.keep_alive > max_ka || c.keep_alive == 0);
        if ka_refused && v5 {
            // MQTT 5 can tell the client the keepalive to use instead.
            c.keep_alive = max_ka;
            let ka = (id::SERVER_KEEP_ALIVE, PropertyValue::U16(max_ka));
            connack.0.push(ka);
        }
        // mosquitto 2.0 lets an MQTT 5 client without an id keep a session
        // (its expiry decides), a 3.1.1 one only with clean session.
        let client_id = if c.client_id.is_empty() {
            let may = match c.protocol {
                ProtocolVersion::V311 => c.clean_session,
                ProtocolVersion::V5 => true,
                ProtocolVersion::V31 => false,
            };
            if !(may && allow_zero_len) {
                self.refuse(ck, ConnectReturnCode::IdentifierRejected);
                return None;
            }
            let prefix = &spec.auto_id_prefix;
            let id = generate_client_id(prefix);
            if v5 {
                let assigned = PropertyValue::String(id.clone());
                connack.0.push((id::ASSIGNED_CLIENT_IDENTIFIER, assigned));
            }
            id
        } else {
            std::mem::take(&mut c.client_id)
        };
        if ka_refused && !v5 {
            self.refuse(ck, ConnectReturnCode::IdentifierRejected);
            return None;
        }
        Some((client_id, connack))
    }

    /// One step of MQTT 5 enhanced authentication of a CONNECT naming
    /// `method` (the backend's verdict `step`): accept, refuse, or send
    /// AUTH 0x18 and keep the CONNECT pending until the client answers.
    /// Without a backend every method is refused with 0x8C, as mosquitto
    /// without a plugin.
    fn connect_auth_step(
        &mut self,
        ck: ConnId,
        mut a: Admitted,
        method: String,
        step: AuthStep,
        peers: &dyn Transport,
    ) {
        match step {
            AuthStep::Success(out) => {
                // The backend may have named the client (mosquitto_set_username).
                let backend = self.auth.as_mut();
                if let Some(u) = backend.and_then(|b| b.username(&a.client_id, a.security)) {
                    a.username = u.map(Rc::from);
                }
                let m = PropertyValue::String(method.clone());
                a.connack.0.push((id::AUTHENTICATION_METHOD, m));
                if let Some(d) = out.filter(|d| !d.is_empty()) {
                    let d = PropertyValue::Binary(d);
                    a.connack.0.push((id::AUTHENTICATION_DATA, d));
                }
                if let Some(conn) = self.conns.get_mut(ck) {
                    conn.cold_mut().v5.auth_method = Some(method);
                }
                self.finish_connect(ck, a, peers);
            }
            AuthStep::Continue(data) => {
                self.send_auth(ck, ReasonCode::CONTINUE_AUTHENTICATION, &method, data);
                if let Some(conn) = self.conns.get_mut(ck) {
                    let cold = conn.cold_mut();
                    cold.v5.auth_method = Some(method);
                    cold.pending_connect = Some(Box::new(a));
                }
            }
            AuthStep::Denied => {
                self.refuse_with(ck, ReasonCode::NOT_AUTHORIZED);
            }
            AuthStep::NotSupported => {
                self.refuse_with(ck, ReasonCode::BAD_AUTHENTICATION_METHOD);
            }
            AuthStep::Failed => self.close_for_plugin(ck, None),
        }
    }

    /// Sends AUTH with `reason`, the method and the backend's data.
    fn send_auth(&mut self, ck: ConnId, reason: ReasonCode, method: &str, data: Vec<u8>) {
        let mut auth = Auth::new(reason);
        auth.properties.set_authentication_method(method);
        if !data.is_empty() {
            auth.properties.set_authentication_data(data);
        }
        self.send_packet(ck, &Packet::Auth(auth), ProtocolVersion::V5);
    }

    /// AUTH from a client: the next step of its CONNECT's authentication,
    /// or (once connected) a re-authentication, with mosquitto's rules: 0x18
    /// only while an exchange is under way, 0x19 only when none is, the
    /// method CONNECT's. Anything else is a protocol error.
    pub(super) fn handle_auth(&mut self, ck: ConnId, auth: Auth, peers: &dyn Transport) {
        let ws = self.websocket_conn(ck);
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let (session, keepalive) = (conn.session(), conn.keepalive);
        let cold = conn.cold_mut();
        let method = cold.v5.auth_method.clone();
        let reauthenticating = cold.v5.reauthenticating;
        let pending = cold.pending_connect.take();
        let same = method.is_some() && auth.properties.authentication_method() == method.as_deref();
        let reason_ok = match (session.is_some(), auth.reason) {
            (false, ReasonCode::CONTINUE_AUTHENTICATION) => pending.is_some(),
            (true, ReasonCode::REAUTHENTICATE) => !reauthenticating,
            (true, ReasonCode::CONTINUE_AUTHENTICATION) => reauthenticating,
            _ => false,
        };
        let (Some(method), Some(backend), true, true) =
            (method, self.auth.as_mut(), same, reason_ok)
        else {
            if let (Some(_), Some(backend)) = (&pending, self.auth.as_mut()) {
                backend.abandon(ck.index() as u32);
            }
            // Still connecting: DISCONNECT first, as mosquitto 2.0.11 sends
            // it (0x80 without a method, else 0x82).
            if pending.is_some() {
                let has_method = auth.properties.authentication_method().is_some();
                let code = if has_method { 0x82 } else { 0x80 };
                let p = Packet::Disconnect(code, Properties::default());
                self.send_packet(ck, &p, ProtocolVersion::V5);
            }
            self.schedule_close(ck, CloseReason::Protocol);
            return;
        };
        let peer = peers.peer_name(ck);
        let cert = peers.tls_certificate(ck);
        let sess = session.and_then(|sk| self.sessions.get(sk));
        let client = match (&pending, sess) {
            (Some(a), _) => a.auth_client(&peer, cert.as_deref(), ck, ws),
            (None, Some(s)) => AuthClient {
                facts: ClientFacts {
                    id: &s.client_id,
                    username: s.username.as_deref(),
                    peer: &peer,
                    certificate: cert.as_deref(),
                    protocol_version: 5,
                    keepalive,
                    clean: s.clean,
                    conn: ck.index() as u32,
                    websockets: ws,
                },
                security: usize::from(s.security),
            },
            (None, None) => return,
        };
        let data = auth.properties.authentication_data();
        let step = match auth.reason {
            ReasonCode::REAUTHENTICATE => backend.start(&client, &method, data, true),
            _ => backend.step(&client, &method, data, pending.is_none()),
        };
        match pending {
            Some(a) => self.connect_auth_step(ck, *a, method, step, peers),
            None => self.reauth_step(ck, method, step),
        }
    }

    /// A re-authentication step: AUTH 0x00 when done, 0x18 for another
    /// round; a refusal ends the connection (DISCONNECT 0x87).
    fn reauth_step(&mut self, ck: ConnId, method: String, step: AuthStep) {
        let more = matches!(step, AuthStep::Continue(_));
        if let Some(conn) = self.conns.get_mut(ck) {
            conn.cold_mut().v5.reauthenticating = more;
        }
        match step {
            AuthStep::Success(out) => {
                self.reauth_username(ck);
                self.send_auth(ck, ReasonCode::SUCCESS, &method, out.unwrap_or_default())
            }
            AuthStep::Continue(data) => {
                self.send_auth(ck, ReasonCode::CONTINUE_AUTHENTICATION, &method, data)
            }
            AuthStep::Denied | AuthStep::NotSupported => {
                self.schedule_close(ck, CloseReason::NotAuthorized)
            }
            AuthStep::Failed => self.close_for_plugin(ck, None),
        }
    }

    /// A re-authenticated client's session takes the username the backend
    /// gave it, if it gave one (later ACL checks use it, as mosquitto's).
    fn reauth_username(&mut self, ck: ConnId) {
        let sk = self.conns.get(ck).and_then(|c| c.session());
        let Some(sess) = sk.and_then(|sk| self.sessions.get_mut(sk)) else {
            return;
        };
        let backend = self.auth.as_mut();
        let security = usize::from(sess.security);
        if let Some(u) = backend.and_then(|b| b.username(&sess.client_id, security)) {
            sess.username = u.map(Rc::from);
        }
    }

    /// Sends a CONNACK refusal with `code`; None, for `admit` to return.
    fn refuse(&mut self, ck: ConnId, code: ConnectReturnCode) -> Option<Admitted> {
        self.send_connack_refusal(ck, code as u8);
        None
    }

    /// An MQTT 5-only refusal (3.x clients never reach it).
    fn refuse_with(&mut self, ck: ConnId, reason: ReasonCode) -> Option<Admitted> {
        self.refuse_v5(ck, reason.0, reason);
        None
    }

    /// The session for `client_id`: a connection holding it is taken over
    /// (closed), a persistent one resumed unless either side asks for a
    /// clean session; else a new one. Returns it and "session present"
    /// (None if session ids ran out).
    fn take_session(&mut self, client_id: &str, clean: bool) -> Option<(SessionId, bool)> {
        if let Some(sk) = self.by_id.get(client_id).copied() {
            let old = self.sessions.get(sk).map(|s| (s.conn(), s.clean));
            let (old_conn, old_clean) = old.unwrap_or((None, true));
            if let Some(old_ck) = old_conn {
                if self.settings.connection_messages {
                    crate::notice!("Client {client_id} already connected, closing old connection.");
                }
                let id = match self.sessions.get_mut(sk) {
                    Some(s) => {
                        s.set_conn(None);
                        Some(Rc::clone(&s.client_id))
                    }
                    None => None,
                };
                let resumed = !(clean || old_clean);
                // Its logs keep the id once the session is gone.
                if let Some(old) = self.conns.get_mut(old_ck) {
                    old.cold_mut().log_name = id;
                    // The session goes on, so its will does not fire (as
                    // mosquitto; spec 3.1.3.2.2 for MQTT 5).
                    if resumed {
                        old.take_will();
                    }
                }
                self.schedule_close(old_ck, CloseReason::TakenOver);
            }
            if !(clean || old_clean) {
                return Some((sk, true));
            }
            self.remove_session(sk);
        }
        self.new_session(client_id, clean).map(|sk| (sk, false))
    }

    /// Joins connection `ck` and session `sk`: the session takes the
    /// client's identity, the connection its keepalive, will and
    /// credentials; logs the connection and counts it.
    fn attach(&mut self, ck: ConnId, sk: SessionId, a: Admitted, peers: &dyn Transport) {
        let Admitted {
            client_id,
            username,
            security: sec_idx,
            connect: c,
            ..
        } = a;
        let expiry = session_expiry(&c);
        // MQTT 5: the client's receive maximum (default 65,535) bounds
        // what is in flight to it, as in mosquitto.
        let recv_max = match c.protocol {
            ProtocolVersion::V5 => c.properties.receive_maximum().unwrap_or(u16::MAX),
            _ => 0,
        };
        if let Some(sess) = self.sessions.get_mut(sk) {
            sess.set_conn(Some(ck));
            sess.set_expiry(expiry);
            sess.msgs.recv_max = recv_max;
            sess.protocol = c.protocol;
            sess.expiry_serial = 0;
            // Back before its will delay passed: no will (spec 3.1.3.2.2).
            if let Some(cold) = sess.cold.as_mut() {
                cold.will = None;
                cold.expires_ms = None;
            }
            sess.username = username.clone();
            sess.source = None;
            sess.security = u16::try_from(sec_idx).unwrap_or(u16::MAX);
            // Our own bridge's local session stays one, whoever takes it.
            if sess.bridge().is_none() {
                sess.role = match c.bridge {
                    true => SessionRole::RemoteBridge,
                    false => SessionRole::Client,
                };
            }
        }
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        conn.set_session(sk);
        conn.keepalive = c.keep_alive;
        if c.protocol == ProtocolVersion::V5 {
            let p = &c.properties;
            let v5 = &mut conn.cold_mut().v5;
            v5.max_packet = p.maximum_packet_size().unwrap_or(0);
            v5.topic_alias_max = p.topic_alias_maximum().unwrap_or(0);
            v5.no_problem_info = p.request_problem_information() == Some(false);
            // Request response information: mosquitto 2.0 answers none.
            conn.refresh_plain_out();
        }
        if let Some(mut w) = c.will {
            w.topic = super::mounted(&conn.mount_point().cloned(), w.topic);
            conn.cold_mut().will = Some(w);
        }
        if self.settings.connection_messages {
            let kind = if c.bridge { "bridge" } else { "client" };
            let user = match &username {
                Some(u) => format!(", u'{u}'"),
                None => String::new(),
            };
            crate::notice!(
                "New {kind} connected from {} as {client_id} (p{}, c{}, k{}{user}).",
                peers.peer_name(ck),
                log_protocol(c.protocol),
                u8::from(c.clean_session),
                c.keep_alive,
            );
        }
        if username.is_some() || c.password.is_some() {
            let cold = conn.cold_mut();
            cold.username = username;
            cold.password = c.password;
        }
        self.stats.connections += 1;
        self.connected += 1;
        self.stats.clients_maximum = self.stats.clients_maximum.max(self.connected as u64);
        self.start_keepalive(ck);
    }

    /// The keepalive clock starts now. A CONNECT deadline that comes sooner
    /// stays the live timer entry: when it fires it finds the client
    /// connected and sets the keepalive deadline, so a client costs one
    /// entry, not two.
    fn start_keepalive(&mut self, ck: ConnId) {
        let now = self.timers.now_ms(self.now);
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let serial = conn.serial;
        if conn.keepalive > 0 {
            let at = now + u64::from(conn.keepalive) * 1500;
            let sooner = conn.timer_on && (at as u32).wrapping_sub(conn.timer_at) as i32 >= 0;
            if !sooner {
                conn.timer_at = at as u32;
                conn.timer_on = true;
                self.timers.push_ms(at, TimerKind::Keepalive, ck, serial);
            }
        } else {
            conn.timer_on = false;
        }
        // Most clients go quiet after CONNECT: the CONNACK's buffer goes
        // back once written (one allocation per connection, not per write).
        conn.release_wbuf = true;
    }
}

/// A CONNECT that passed every check, with who the client turned out to be
/// (kept on the connection while an AUTH exchange is under way).
pub(crate) struct Admitted {
    client_id: String,
    username: Option<Rc<str>>,
    /// Index of the security domain that applies.
    security: usize,
    connect: Connect,
    /// MQTT 5 CONNACK properties decided while checking the CONNECT.
    connack: Properties,
}

impl Admitted {
    /// The client as an authentication backend is told of it.
    fn auth_client<'a>(
        &'a self,
        peer: &'a str,
        certificate: Option<&'a [u8]>,
        ck: ConnId,
        websockets: bool,
    ) -> AuthClient<'a> {
        let facts = client_facts(
            &self.client_id,
            self.username.as_deref(),
            &self.connect,
            peer,
            certificate,
            ck,
            websockets,
        );
        AuthClient {
            facts,
            security: self.security,
        }
    }
}

/// What plugins are told of a client that sent `c`.
fn client_facts<'a>(
    client_id: &'a str,
    username: Option<&'a str>,
    c: &Connect,
    peer: &'a str,
    certificate: Option<&'a [u8]>,
    ck: ConnId,
    websockets: bool,
) -> ClientFacts<'a> {
    ClientFacts {
        id: client_id,
        username,
        peer,
        certificate,
        protocol_version: c.protocol.level(),
        keepalive: c.keep_alive,
        clean: c.clean_session,
        conn: ck.index() as u32,
        websockets,
    }
}

/// How long the session outlives the connection: MQTT 5 says (absent: 0);
/// 3.x sessions are clean (0) or never expire (persistent_client_expiration
/// aside).
fn session_expiry(c: &Connect) -> u32 {
    match c.protocol {
        ProtocolVersion::V5 => c.properties.session_expiry_interval().unwrap_or(0),
        _ if c.clean_session => 0,
        _ => u32::MAX,
    }
}

/// The MQTT 5 reason code for a 3.x CONNACK return code.
fn v5_reason(code: u8) -> ReasonCode {
    match code {
        1 => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
        2 => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
        3 => ReasonCode::SERVER_UNAVAILABLE,
        4 => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
        5 => ReasonCode::NOT_AUTHORIZED,
        _ => ReasonCode::UNSPECIFIED_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_look_like_mosquittos() {
        let a = generate_client_id("auto-");
        let b = generate_client_id("auto-");
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 36);
        assert!(a.starts_with("auto-"));
        assert_eq!(a.matches('-').count(), 5);
    }
}
