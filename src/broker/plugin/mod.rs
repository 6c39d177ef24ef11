//! mosquitto's own C plugins, loaded with `dlopen`: the `plugin` /
//! `auth_plugin` options, the version 5 callback interface and the
//! version 2–4 auth interface, and the `mosquitto_*` broker API that the
//! `mosquitto` binary exports to them (see `api`).
//!
//! - [`ffi`]: the C structs and constants (layout-tested against Debian's
//!   headers).
//! - `loader`: dlopen, version detection, init; `legacy`: versions 2–4.
//! - `registry`: callbacks per security domain, the client views handed
//!   to plugins, and the actions plugins queue (publish, kick).
//! - [`Chain`]: what the security layer and the core call: basic auth, ACL
//!   check, message, control, disconnect, tick.
//!
//! Everything runs on the broker's one thread. A plugin's verdict codes are
//! read as mosquitto 2.0 reads them: success, defer to the next plugin,
//! anything else a denial.

pub mod api;
pub mod ffi;
mod legacy;
mod loader;
mod registry;
#[cfg(test)]
mod tests;

use std::ffi::{c_int, c_void, CStr, CString};

pub use loader::{cleanup_all, load_domain};
pub use registry::{has_actions, take_actions, Action, PluginId};
use registry::{ClientView, REGISTRY};

/// A plugin's answer after every plugin of the domain was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    /// Every plugin deferred; `asked` says whether any was asked at all.
    Defer {
        asked: bool,
    },
}

/// Who a client is, as the core knows it at CONNECT.
#[derive(Debug, Clone, Copy)]
pub struct ClientFacts<'a> {
    pub id: &'a str,
    pub username: Option<&'a str>,
    /// "address:port" as the logs show it; the port is cut off here.
    pub peer: &'a str,
    /// 3 (MQTT 3.1), 4 (3.1.1) or 5.
    pub protocol_version: u8,
    pub keepalive: u16,
    pub clean: bool,
    /// The connection's slot, told back at disconnect.
    pub conn: u32,
}

/// A security domain's plugins: a cheap handle into the registry. The
/// default (no plugins) costs one branch per check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chain {
    domain: Option<usize>,
}

/// A C string from text that may hold a NUL (cut there, as C would read it).
fn c_string(s: &str) -> CString {
    let bytes = s.as_bytes();
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    CString::new(bytes.get(..end).unwrap_or_default()).unwrap_or_default()
}

fn c_bytes(b: &[u8]) -> CString {
    let end = b.iter().position(|x| *x == 0).unwrap_or(b.len());
    CString::new(b.get(..end).unwrap_or_default()).unwrap_or_default()
}

/// The address part of "address:port" (brackets of IPv6 removed).
fn address_of(peer: &str) -> &str {
    let host = match peer.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => h,
        _ => peer,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

fn view(facts: &ClientFacts, domain: usize) -> Box<ClientView> {
    Box::new(ClientView {
        id: c_string(facts.id),
        username: facts.username.map(c_string),
        address: c_string(address_of(facts.peer)),
        protocol_version: c_int::from(facts.protocol_version),
        keepalive: c_int::from(facts.keepalive),
        clean: facts.clean,
        domain,
        conn: facts.conn,
        username_changed: false,
    })
}

/// Runs `f` with the view of client `id` (a temporary one when the client
/// is not connected, e.g. a message for an offline session).
fn with_client<R>(
    domain: usize,
    id: &str,
    username: Option<&str>,
    f: impl FnOnce(*mut ClientView) -> R,
) -> R {
    let known = REGISTRY.with(|r| {
        r.borrow_mut()
            .clients
            .get_mut(id)
            .map(|v| &mut **v as *mut ClientView)
    });
    match known {
        Some(p) => f(p),
        None => {
            let facts = ClientFacts {
                id,
                username,
                peer: "",
                protocol_version: 4,
                keepalive: 0,
                clean: true,
                conn: u32::MAX,
            };
            let mut temp = view(&facts, domain);
            f(&mut *temp)
        }
    }
}

/// The basic-auth callbacks in order, then the version 2–4 plugins, as
/// mosquitto's `mosquitto_unpwd_check`.
fn ask_basic_auth(
    domain: usize,
    client: *mut ClientView,
    username: Option<&str>,
    password: Option<&[u8]>,
) -> Verdict {
    let user = username.map(c_string);
    let pass = password.map(c_bytes);
    let user_p = user.as_ref().map_or(std::ptr::null(), |u| u.as_ptr());
    let pass_p = pass.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
    let mut asked = false;
    for cb in registry::callbacks(domain, ffi::MOSQ_EVT_BASIC_AUTH).iter() {
        let mut ev: ffi::EvtBasicAuth = ffi::zeroed();
        ev.client = client.cast();
        ev.username = user_p.cast_mut();
        ev.password = pass_p.cast_mut();
        let rc = call(cb, ffi::MOSQ_EVT_BASIC_AUTH, &mut ev);
        if let Some(v) = step(rc) {
            return v;
        }
        asked = true;
    }
    // Versions 2–4: every plugin is asked and the last answer counts, as in
    // mosquitto 2.0.
    let mut last = None;
    for l in registry::legacy(domain).iter() {
        if let Some(rc) = l.unpwd_check(client.cast(), user_p, pass_p) {
            asked = true;
            last = step(rc);
        }
    }
    last.unwrap_or(Verdict::Defer { asked })
}

/// Calls one registered callback with its event struct.
fn call<T>(cb: &registry::Callback, event: c_int, ev: &mut T) -> c_int {
    // SAFETY: the plugin registered `func` for `event`, whose data is `T`
    // (the caller pairs them); the event and its strings outlive the call.
    unsafe { (cb.func)(event, (ev as *mut T).cast(), cb.userdata) }
}

/// mosquitto's reading of a callback's return code in a chain.
fn step(rc: c_int) -> Option<Verdict> {
    match rc {
        ffi::MOSQ_ERR_PLUGIN_DEFER => None,
        ffi::MOSQ_ERR_SUCCESS => Some(Verdict::Allow),
        _ => Some(Verdict::Deny),
    }
}

impl Chain {
    /// The handle for domain index `domain` as [`load_domain`] returned it.
    pub fn new(domain: usize) -> Chain {
        Chain {
            domain: Some(domain),
        }
    }

    /// No plugins in this domain: every check is the files' alone.
    pub fn is_empty(&self) -> bool {
        self.domain.is_none()
    }

    /// CONNECT: records the client (for the `mosquitto_client_*` functions
    /// and later checks), then asks the basic-auth callbacks in order and
    /// the version 2–4 plugins, as mosquitto's `mosquitto_unpwd_check`.
    pub fn basic_auth(&self, facts: &ClientFacts, password: Option<&[u8]>) -> Verdict {
        let Some(domain) = self.domain else {
            return Verdict::Defer { asked: false };
        };
        let mut v = view(facts, domain);
        let client: *mut ClientView = &mut *v;
        REGISTRY.with(|r| r.borrow_mut().clients.insert(facts.id.into(), v));
        ask_basic_auth(domain, client, facts.username, password)
    }

    /// SIGHUP: the basic-auth check again for a connected client, with the
    /// view it already has (mosquitto re-checks every client on reload).
    pub fn recheck_auth(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Verdict {
        let Some(domain) = self.domain else {
            return Verdict::Defer { asked: false };
        };
        with_client(domain, client_id, username, |client| {
            ask_basic_auth(domain, client, username, password)
        })
    }

    /// The username a plugin set with `mosquitto_set_username` during
    /// [`Chain::basic_auth`], if it did (`Some(None)`: removed).
    pub fn changed_username(&self, client_id: &str) -> Option<Option<String>> {
        self.domain?;
        REGISTRY.with(|r| {
            let r = r.borrow();
            let v = r.clients.get(client_id)?;
            v.username_changed.then(|| {
                v.username
                    .as_ref()
                    .map(|u| u.to_string_lossy().into_owned())
            })
        })
    }

    /// An ACL check through the plugins: the version 5 callbacks in order,
    /// then the version 2–4 plugins; the first answer that is not "defer"
    /// counts. `access` is a `MOSQ_ACL_*` bit.
    pub fn acl_check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: c_int,
    ) -> Verdict {
        let Some(domain) = self.domain else {
            return Verdict::Defer { asked: false };
        };
        let ctopic = c_string(topic);
        with_client(domain, client_id, username, |client| {
            let mut asked = false;
            for cb in registry::callbacks(domain, ffi::MOSQ_EVT_ACL_CHECK).iter() {
                let mut ev: ffi::EvtAclCheck = ffi::zeroed();
                ev.client = client.cast();
                ev.topic = ctopic.as_ptr();
                ev.access = access;
                let rc = call(cb, ffi::MOSQ_EVT_ACL_CHECK, &mut ev);
                if let Some(v) = step(rc) {
                    return v;
                }
                asked = true;
            }
            for l in registry::legacy(domain).iter() {
                asked = true;
                if let Some(v) = legacy_acl(l, client, &ctopic, access) {
                    return v;
                }
            }
            Verdict::Defer { asked }
        })
    }

    /// The message callbacks for a client's PUBLISH; each may change the
    /// topic, payload, QoS and retain flag. None: a plugin refused it (the
    /// message is dropped, as mosquitto does).
    pub fn on_message(&self, client_id: &str, msg: PluginMessage) -> Option<PluginMessage> {
        let domain = self.domain?;
        let cbs = registry::callbacks(domain, ffi::MOSQ_EVT_MESSAGE);
        if cbs.is_empty() {
            return Some(msg);
        }
        with_client(domain, client_id, None, |client| {
            message_chain(&cbs, client.cast(), msg)
        })
    }

    /// A `$CONTROL/…` PUBLISH: true when a plugin registered this exact
    /// topic and was handed the message (which then goes to no subscriber).
    pub fn control(
        &self,
        client_id: &str,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
    ) -> bool {
        let Some(domain) = self.domain else {
            return false;
        };
        let found = REGISTRY.with(|r| {
            let r = r.borrow();
            let d = r.domains.get(domain)?;
            d.controls.iter().find(|(t, _)| t == topic).map(|(_, c)| *c)
        });
        let Some(cb) = found else {
            return false;
        };
        let ctopic = c_string(topic);
        with_client(domain, client_id, None, |client| {
            let mut ev: ffi::EvtControl = ffi::zeroed();
            ev.client = client.cast();
            ev.topic = ctopic.as_ptr();
            ev.payload = payload.as_ptr().cast();
            ev.payloadlen = u32::try_from(payload.len()).unwrap_or(u32::MAX);
            ev.qos = qos;
            ev.retain = retain;
            call(&cb, ffi::MOSQ_EVT_CONTROL, &mut ev);
            if !ev.reason_string.is_null() {
                // mosquitto frees it with free() after the call.
                // SAFETY: the plugin allocated it with malloc.
                unsafe { libc::free(ev.reason_string.cast()) };
            }
        });
        true
    }
}

impl Chain {
    /// The TLS-PSK key for `identity` from the plugins (asked when the
    /// listener has no `psk_file`, as mosquitto): the PSK-key callbacks,
    /// then the version 2–4 plugins; a plugin answers with the key in hex.
    pub fn psk_key(&self, hint: &str, identity: &str) -> Option<Vec<u8>> {
        let domain = self.domain?;
        let (chint, cid) = (c_string(hint), c_string(identity));
        // The handshake comes before CONNECT: the client has no id yet.
        with_client(domain, "", None, |client| {
            let mut key = [0u8; PSK_KEY_BUF];
            for cb in registry::callbacks(domain, ffi::MOSQ_EVT_PSK_KEY).iter() {
                let mut ev: ffi::EvtPskKey = ffi::zeroed();
                ev.client = client.cast();
                ev.hint = chint.as_ptr();
                ev.identity = cid.as_ptr();
                ev.key = key.as_mut_ptr().cast();
                ev.max_key_len = (PSK_KEY_BUF - 1) as c_int;
                match step(call(cb, ffi::MOSQ_EVT_PSK_KEY, &mut ev)) {
                    None => continue,
                    Some(Verdict::Allow) => return hex_key(&key),
                    Some(_) => return None,
                }
            }
            for l in registry::legacy(domain).iter() {
                match step(l.psk_key(client.cast(), &chint, &cid, &mut key)) {
                    None => continue,
                    Some(Verdict::Allow) => return hex_key(&key),
                    Some(_) => return None,
                }
            }
            None
        })
    }
}

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
}

impl ExtAuth {
    fn from_rc(rc: c_int, data: Vec<u8>) -> Option<ExtAuth> {
        match rc {
            ffi::MOSQ_ERR_PLUGIN_DEFER => None,
            ffi::MOSQ_ERR_SUCCESS => Some(ExtAuth::Success(data)),
            ffi::MOSQ_ERR_AUTH_CONTINUE => Some(ExtAuth::Continue(data)),
            ffi::MOSQ_ERR_NOT_SUPPORTED => Some(ExtAuth::NotSupported),
            _ => Some(ExtAuth::Denied),
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
            ExtAuth::Denied | ExtAuth::NotSupported => {
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

/// Room for the longest PSK OpenSSL takes (256 bytes) in hex, plus a NUL.
const PSK_KEY_BUF: usize = 2 * 256 + 1;

/// The key a plugin wrote as a hex string (up to the NUL).
fn hex_key(buf: &[u8]) -> Option<Vec<u8>> {
    let end = buf.iter().position(|b| *b == 0)?;
    let hex = std::str::from_utf8(buf.get(..end)?).ok()?;
    crate::passwd::hex_to_key(hex)
}

/// mosquitto's `acl__check_single`: the special-character rule, then the
/// plugin's own check.
fn legacy_acl(
    l: &legacy::Legacy,
    client: *mut ClientView,
    topic: &CStr,
    access: c_int,
) -> Option<Verdict> {
    // SAFETY: the view is alive for the whole check.
    let v = unsafe { &*client };
    if l.deny_special {
        let bad = |s: &CStr| s.to_bytes().iter().any(|b| *b == b'+' || *b == b'#');
        if v.username.as_deref().is_some_and(bad) {
            crate::notice!(
                "ACL denying access to client with dangerous username \"{}\"",
                v.username
                    .as_deref()
                    .map(|u| u.to_string_lossy())
                    .unwrap_or_default()
            );
            return Some(Verdict::Deny);
        }
        if bad(&v.id) {
            crate::notice!(
                "ACL denying access to client with dangerous client id \"{}\"",
                v.id.to_string_lossy()
            );
            return Some(Verdict::Deny);
        }
    }
    let mut msg: ffi::AclMsg = ffi::zeroed();
    msg.topic = topic.as_ptr();
    step(l.acl_check(access, client.cast(), (&v.id, v.username.as_deref()), &msg))
}

/// A message as the message event sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
}

fn message_chain(
    cbs: &[registry::Callback],
    client: *mut c_void,
    msg: PluginMessage,
) -> Option<PluginMessage> {
    let topic = c_string(&msg.topic).into_raw();
    let payload = api::malloc_copy(&msg.payload);
    let mut ev: ffi::EvtMessage = ffi::zeroed();
    ev.client = client;
    ev.topic = topic;
    ev.payload = payload;
    ev.payloadlen = u32::try_from(msg.payload.len()).unwrap_or(u32::MAX);
    ev.qos = msg.qos;
    ev.retain = msg.retain;
    let mut rc = ffi::MOSQ_ERR_SUCCESS;
    for cb in cbs {
        rc = call(cb, ffi::MOSQ_EVT_MESSAGE, &mut ev);
        if rc != ffi::MOSQ_ERR_SUCCESS {
            break;
        }
    }
    let out = read_message(&ev, &msg);
    // Our copies are ours to free; a replacement payload passed to us is
    // freed too (mosquitto takes it over). A replaced topic is the
    // plugin's own business, as in mosquitto: the old one is not freed.
    if ev.topic == topic {
        // SAFETY: made by CString::into_raw above and not replaced.
        drop(unsafe { CString::from_raw(topic) });
    } else if !ev.topic.is_null() {
        // SAFETY: the plugin's replacement, allocated with malloc.
        unsafe { libc::free(ev.topic.cast()) };
    }
    if ev.payload != payload && !ev.payload.is_null() {
        // SAFETY: the plugin's replacement, allocated with malloc.
        unsafe { libc::free(ev.payload) };
    }
    // SAFETY: our malloc'd copy (free(NULL) is fine).
    unsafe { libc::free(payload) };
    (rc == ffi::MOSQ_ERR_SUCCESS).then_some(out).flatten()
}

/// What the message looks like after the callbacks; None when the plugin
/// left something unusable (a null topic, a QoS above 2).
fn read_message(ev: &ffi::EvtMessage, old: &PluginMessage) -> Option<PluginMessage> {
    if ev.topic.is_null() || ev.qos > 2 {
        crate::error!("Error: a plugin's message callback left an invalid message; dropped.");
        return None;
    }
    // SAFETY: non-null, NUL-terminated (ours or the plugin's).
    let topic = unsafe { CStr::from_ptr(ev.topic) }
        .to_string_lossy()
        .into_owned();
    let len = usize::try_from(ev.payloadlen).unwrap_or(0);
    let payload = if ev.payload.is_null() || len == 0 {
        Vec::new()
    } else {
        // SAFETY: the plugin's contract: payload holds payloadlen bytes.
        unsafe { std::slice::from_raw_parts(ev.payload.cast::<u8>(), len) }.to_vec()
    };
    let _ = old;
    Some(PluginMessage {
        topic,
        payload,
        qos: ev.qos,
        retain: ev.retain,
    })
}

/// A client's connection ended: the disconnect callbacks run, then its
/// view goes (unless a newer connection of the same id replaced it).
pub fn client_gone(client_id: &str, conn: u32, reason: c_int) {
    let found = REGISTRY.with(|r| {
        r.borrow_mut()
            .clients
            .get_mut(client_id)
            .filter(|v| v.conn == conn)
            .map(|v| (&mut **v as *mut ClientView, v.domain))
    });
    let Some((client, domain)) = found else {
        return;
    };
    for cb in registry::callbacks(domain, ffi::MOSQ_EVT_DISCONNECT).iter() {
        let mut ev: ffi::EvtDisconnect = ffi::zeroed();
        ev.client = client.cast();
        ev.reason = reason;
        call(cb, ffi::MOSQ_EVT_DISCONNECT, &mut ev);
    }
    REGISTRY.with(|r| r.borrow_mut().clients.remove(client_id));
}

/// A CONNECT was refused: its view goes without a disconnect event (the
/// client never connected, as mosquitto sees it).
pub fn forget_client(client_id: &str, conn: u32) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        if r.clients.get(client_id).is_some_and(|v| v.conn == conn) {
            r.clients.remove(client_id);
        }
    });
}

/// The tick event, once per loop turn, for every domain's plugins.
pub fn tick(now: std::time::SystemTime) {
    let count = REGISTRY.with(|r| r.borrow().domains.len());
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    for domain in 0..count {
        for cb in registry::callbacks(domain, ffi::MOSQ_EVT_TICK).iter() {
            let mut ev: ffi::EvtTick = ffi::zeroed();
            ev.now_s = std::ffi::c_long::try_from(since.as_secs()).unwrap_or(0);
            ev.now_ns = std::ffi::c_long::from(i32::try_from(since.subsec_nanos()).unwrap_or(0));
            call(cb, ffi::MOSQ_EVT_TICK, &mut ev);
        }
    }
}

/// Whether any domain has a tick callback (the loop skips the clock read
/// otherwise).
pub fn wants_tick() -> bool {
    REGISTRY.with(|r| {
        r.borrow().domains.iter().any(|d| {
            d.events
                .get(ffi::MOSQ_EVT_TICK as usize)
                .is_some_and(|l| !l.is_empty())
        })
    })
}

/// The struct layout report for the layout test.
pub fn layout_report() -> String {
    ffi::layout_report()
}

/// SIGHUP: the reload callbacks of every domain, with the plugin's options.
pub fn reload() {
    let count = REGISTRY.with(|r| r.borrow().domains.len());
    for domain in 0..count {
        for cb in registry::callbacks(domain, ffi::MOSQ_EVT_RELOAD).iter() {
            let mut ev: ffi::EvtReload = ffi::zeroed();
            call(cb, ffi::MOSQ_EVT_RELOAD, &mut ev);
        }
    }
}
