//! MQTT 5 extended authentication through plugins, as mosquitto 2.0's
//! `mosquitto_security_auth_start` and `_continue`: the extended-auth
//! events of version 5 plugins, then version 4's `mosquitto_auth_start`
//! and `_continue`.

use std::ffi::{c_int, CStr};

use super::registry::{self, ClientView, REGISTRY};
use super::{c_string, call, ffi, legacy, view, with_client, Chain, ClientFacts};

/// The outcome of an extended-authentication step (MQTT 5 AUTH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtAuth {
    /// Authenticated; the data (possibly empty) goes in the CONNACK/AUTH.
    Success(Vec<u8>),
    /// Another round: the data goes to the client in AUTH 0x18.
    Continue(Vec<u8>),
    /// No plugin knows this authentication method (0x8C).
    NotSupported,
    /// Refused (not authorised).
    Denied,
    /// A code mosquitto does not answer (neither success, continue, "auth
    /// failed" nor "not supported"): mosquitto 2.0 closes the connection
    /// without a CONNACK or AUTH.
    Failed(c_int),
}

impl ExtAuth {
    fn from_rc(rc: c_int, data: Vec<u8>) -> Option<ExtAuth> {
        match rc {
            ffi::MOSQ_ERR_PLUGIN_DEFER => None,
            ffi::MOSQ_ERR_SUCCESS => Some(ExtAuth::Success(data)),
            ffi::MOSQ_ERR_AUTH_CONTINUE => Some(ExtAuth::Continue(data)),
            ffi::MOSQ_ERR_NOT_SUPPORTED => Some(ExtAuth::NotSupported),
            ffi::MOSQ_ERR_AUTH => Some(ExtAuth::Denied),
            rc => {
                crate::warning!(
                    "Warning: a plugin's extended authentication returned code {rc}; \
                     closing the connection, as mosquitto does."
                );
                Some(ExtAuth::Failed(rc))
            }
        }
    }
}

/// Which extended-authentication event to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthCall {
    /// A CONNECT with an authentication method.
    Start,
    /// AUTH 0x19 from a connected client.
    Reauth,
    /// AUTH 0x18 answering a challenge; `connected` in a re-authentication.
    Continue { connected: bool },
}

impl AuthCall {
    /// The CONNECT's own exchange (the client is not connected yet).
    fn connecting(self) -> bool {
        matches!(
            self,
            AuthCall::Start | AuthCall::Continue { connected: false }
        )
    }

    /// Version 4's reading: `Some(reauth)` for `mosquitto_auth_start`,
    /// None for `mosquitto_auth_continue`.
    fn legacy(self) -> Option<bool> {
        match self {
            AuthCall::Start => Some(false),
            AuthCall::Reauth => Some(true),
            AuthCall::Continue { .. } => None,
        }
    }
}

/// The view of a client in its CONNECT's exchange: a fresh one at the
/// start (replacing any earlier attempt on the same connection), the one
/// kept since then at a continue step (None: no exchange under way).
fn pending_view(call: AuthCall, facts: &ClientFacts, domain: usize) -> Option<*mut ClientView> {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        if call == AuthCall::Start {
            r.pending.insert(facts.conn, view(facts, domain));
        }
        r.pending
            .get_mut(&facts.conn)
            .map(|v| &mut **v as *mut ClientView)
    })
}

/// After a step of a CONNECT's exchange: an accepted client's view becomes
/// the client's, a refused one's goes.
fn settle_pending(conn: u32, out: &ExtAuth) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        match out {
            ExtAuth::Continue(_) => {}
            ExtAuth::Success(_) => {
                if let Some(v) = r.pending.remove(&conn) {
                    let id: Box<str> = v.id.to_string_lossy().into();
                    r.clients.insert(id, v);
                }
            }
            ExtAuth::Denied | ExtAuth::NotSupported | ExtAuth::Failed(_) => {
                r.pending.remove(&conn);
            }
        }
    });
}

/// Connection `conn` closed during its CONNECT's extended authentication.
pub fn auth_abandoned(conn: u32) {
    REGISTRY.with(|r| r.borrow_mut().pending.remove(&conn));
}

impl Chain {
    /// MQTT 5 extended authentication, as mosquitto's
    /// `mosquitto_security_auth_start` (CONNECT with an authentication
    /// method, AUTH 0x19) and `_continue` (AUTH 0x18): the version 5
    /// callbacks in order (the first that does not defer answers), then
    /// version 4 plugins (the first that supports the method answers).
    /// The client's view lives from the start of a CONNECT's exchange to
    /// its end, at one address, so a plugin may key its state on it.
    pub fn extended_auth(
        &self,
        call: AuthCall,
        facts: &ClientFacts,
        method: &str,
        data_in: Option<&[u8]>,
    ) -> ExtAuth {
        let Some(domain) = self.domain else {
            return ExtAuth::NotSupported;
        };
        let cmethod = c_string(method);
        let data = data_in.unwrap_or_default();
        if call.connecting() {
            let Some(client) = pending_view(call, facts, domain) else {
                return ExtAuth::Denied;
            };
            let out = ext_auth_chain(domain, call, client, &cmethod, data);
            settle_pending(facts.conn, &out);
            return out;
        }
        with_client(domain, facts.id, facts.username, |client| {
            ext_auth_chain(domain, call, client, &cmethod, data)
        })
    }
}

/// The extended-auth callbacks of `domain`, then its version 4 plugins.
fn ext_auth_chain(
    domain: usize,
    kind: AuthCall,
    client: *mut ClientView,
    method: &CStr,
    data_in: &[u8],
) -> ExtAuth {
    let event = match kind {
        AuthCall::Start | AuthCall::Reauth => ffi::MOSQ_EVT_EXT_AUTH_START,
        AuthCall::Continue { .. } => ffi::MOSQ_EVT_EXT_AUTH_CONTINUE,
    };
    for cb in registry::callbacks(domain, event).iter() {
        let mut ev: ffi::EvtExtendedAuth = ffi::zeroed();
        ev.client = client.cast();
        // mosquitto 2.0 leaves the method NULL in the continue event;
        // giving it costs nothing and spares a plugin a NULL check.
        ev.auth_method = method.as_ptr();
        if !data_in.is_empty() {
            ev.data_in = data_in.as_ptr().cast();
            ev.data_in_len = u16::try_from(data_in.len()).unwrap_or(u16::MAX);
        }
        let rc = call(cb, event, &mut ev);
        // The plugin malloc'd data_out; copied and freed here, as
        // mosquitto frees it after sending.
        let data = legacy::take_plugin_data(ev.data_out, ev.data_out_len);
        if let Some(out) = ExtAuth::from_rc(rc, data) {
            return out;
        }
    }
    for l in registry::legacy(domain).iter() {
        let Some((rc, data)) = l.extended_auth(kind.legacy(), client.cast(), method, data_in)
        else {
            continue;
        };
        match ExtAuth::from_rc(rc, data) {
            None | Some(ExtAuth::NotSupported) => continue,
            Some(out) => return out,
        }
    }
    ExtAuth::NotSupported
}
