//! CONNECT policy: protocol and client id checks, authentication, session
//! takeover and resumption, CONNACK.

use std::rc::Rc;

use super::context::{CloseReason, SessionRole};
use super::ids::{ConnId, SessionId};
use super::timers::TimerKind;
use super::{Core, Transport};
use crate::broker::security;
use crate::protocol::{ConnAck, Connect, ConnectReturnCode, Packet, ProtocolVersion};
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
    /// Sends a CONNACK refusal and closes once it is written.
    pub(super) fn send_connack_refusal(&mut self, ck: ConnId, code: u8) {
        let version = self
            .conns
            .get(ck)
            .map(|c| c.protocol)
            .unwrap_or(ProtocolVersion::V311);
        let ack = ConnAck {
            session_present: false,
            code,
            properties: Default::default(),
        };
        self.send_packet(ck, &Packet::ConnAck(ack), version);
        self.schedule_close(ck, CloseReason::Refused);
    }

    pub(super) fn handle_connect(&mut self, ck: ConnId, c: Connect, peers: &dyn Transport) {
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        conn.protocol = c.protocol;
        if c.protocol == ProtocolVersion::V5 {
            // MQTT 5 is not spoken yet: refuse the way a 3.1.1 broker does.
            conn.protocol = ProtocolVersion::V311;
            if self.settings.connection_messages {
                crate::information!(
                    "Invalid protocol version 5 in CONNECT from {}.",
                    peers.peer_name(ck)
                );
            }
            self.send_connack_refusal(ck, ConnectReturnCode::UnacceptableProtocolVersion as u8);
            return;
        }
        let Some(admitted) = self.admit(ck, c, peers) else {
            return;
        };
        let clean = admitted.connect.clean_session;
        let Some((sk, session_present)) = self.take_session(&admitted.client_id, clean) else {
            self.send_connack_refusal(ck, ConnectReturnCode::ServerUnavailable as u8);
            return;
        };
        self.attach(ck, sk, admitted, peers);
        let ack = ConnAck::new(session_present, ConnectReturnCode::Accepted);
        let protocol = self
            .conns
            .get(ck)
            .map_or(ProtocolVersion::V311, |c| c.protocol);
        self.send_packet(ck, &Packet::ConnAck(ack), protocol);
        if session_present {
            self.resume_session(ck, sk);
        }
    }

    /// The CONNECT's checks, in mosquitto's order: memory, client id,
    /// keepalive, will, identity, client id prefixes, password. Refuses
    /// (CONNACK and close) and returns None when one fails.
    fn admit(&mut self, ck: ConnId, mut c: Connect, peers: &dyn Transport) -> Option<Admitted> {
        let conn = self.conns.get(ck)?;
        let spec = self.settings.listeners.get(conn.listener()?.index())?;
        let max_qos = conn.max_qos;
        let (allow_anonymous, allow_zero_len, id_prefix) = (
            spec.allow_anonymous,
            spec.allow_zero_length_clientid,
            spec.auto_id_prefix.clone(),
        );
        let (security, tls_identity, username_as_clientid) =
            (spec.security, spec.tls_identity, spec.username_as_clientid);
        // Clients are taken on whatever memory_limit says: a CONNECT costs
        // little, and it may come from the client that frees memory.
        // What is refused is new stored data (core::limits).
        let client_id = if c.client_id.is_empty() {
            let v311 = c.protocol == ProtocolVersion::V311;
            if !(v311 && c.clean_session && allow_zero_len) {
                return self.refuse(ck, ConnectReturnCode::IdentifierRejected);
            }
            generate_client_id(&id_prefix)
        } else {
            std::mem::take(&mut c.client_id)
        };
        let max_ka = self.settings.max_keepalive;
        if max_ka > 0 && (c.keep_alive > max_ka || c.keep_alive == 0) {
            return self.refuse(ck, ConnectReturnCode::IdentifierRejected);
        }
        if let Some(w) = &c.will {
            if (w.retain && !self.settings.retain_available) || w.qos > max_qos {
                self.schedule_close(ck, CloseReason::Protocol);
                return None;
            }
        }
        // Who the client is: a TLS identity replaces the CONNECT username
        // and the password check; otherwise the password file decides.
        let username = match tls_identity {
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
        if tls_identity.is_none() {
            let files = self.security.get(security).map(|d| &d.files);
            let (user, pass) = (username.as_deref(), c.password.as_deref());
            let verdict = match files {
                Some(f) => f.authenticate(allow_anonymous, user, pass),
                None => Err(security::ConnackCode::NotAuthorized),
            };
            if let Err(code) = verdict {
                self.send_connack_refusal(ck, code.v311());
                return None;
            }
        }
        Some(Admitted {
            client_id,
            username: username.map(Rc::from),
            security,
            connect: c,
        })
    }

    /// Sends a CONNACK refusal with `code`; None, for `admit` to return.
    fn refuse(&mut self, ck: ConnId, code: ConnectReturnCode) -> Option<Admitted> {
        self.send_connack_refusal(ck, code as u8);
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
                // Its logs keep the id once the session is gone.
                if let Some(old) = self.conns.get_mut(old_ck) {
                    old.cold_mut().log_name = id;
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
        } = a;
        if let Some(sess) = self.sessions.get_mut(sk) {
            sess.set_conn(Some(ck));
            sess.clean = c.clean_session;
            sess.protocol = c.protocol;
            sess.expiry_serial = 0;
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

/// A CONNECT that passed every check, with who the client turned out to be.
struct Admitted {
    client_id: String,
    username: Option<Rc<str>>,
    /// Index of the security domain that applies.
    security: usize,
    connect: Connect,
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
