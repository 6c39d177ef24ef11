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
//!   check, message and control (`message`), extended authentication
//!   (`extauth`), disconnect, tick.
//! - `props`: `mosquitto_property` lists between plugins and messages.
//!
//! Everything runs on the broker's one thread. A plugin's verdict codes are
//! read as mosquitto 2.0 reads them: success, defer to the next plugin,
//! anything else a denial.

pub mod api;
mod extauth;
pub mod ffi;
mod legacy;
mod loader;
mod message;
mod props;
mod registry;
#[cfg(test)]
mod tests;

use std::ffi::{c_int, CStr, CString};

pub use extauth::{auth_abandoned, AuthCall, ExtAuth};
pub use loader::{cleanup_all, load_domain};
pub use message::{MessageRefusal, PluginMessage};
pub use registry::{has_actions, take_actions, Action, PluginId};
use registry::{ClientView, REGISTRY};

/// A plugin's answer after every plugin of the domain was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    /// A basic-auth code other than success, "auth failed" and "defer":
    /// mosquitto 2.0 closes the connection without a CONNACK.
    Failed,
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
    /// A TLS client certificate, in DER form.
    pub certificate: Option<&'a [u8]>,
    /// 3 (MQTT 3.1), 4 (3.1.1) or 5.
    pub protocol_version: u8,
    pub keepalive: u16,
    pub clean: bool,
    /// The connection's slot, told back at disconnect.
    pub conn: u32,
    /// Through a websockets listener.
    pub websockets: bool,
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
        sub_count: 0,
        certificate: facts.certificate.map(Box::from),
        websockets: facts.websockets,
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
                certificate: None,
                protocol_version: 4,
                keepalive: 0,
                clean: true,
                conn: u32::MAX,
                websockets: false,
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
        if let Some(v) = auth_step(rc) {
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
            last = auth_step(rc);
        }
    }
    last.unwrap_or(Verdict::Defer { asked })
}

/// mosquitto 2.0's reading of a basic-auth code (`handle__connect` after
/// `mosquitto_unpwd_check`): success, "auth failed" (CONNACK "not
/// authorised"), defer, or anything else (close without CONNACK).
fn auth_step(rc: c_int) -> Option<Verdict> {
    match rc {
        ffi::MOSQ_ERR_PLUGIN_DEFER => None,
        ffi::MOSQ_ERR_SUCCESS => Some(Verdict::Allow),
        ffi::MOSQ_ERR_AUTH => Some(Verdict::Deny),
        rc => {
            crate::warning!(
                "Warning: a plugin's basic authentication returned code {rc}; \
                 closing the connection, as mosquitto does."
            );
            Some(Verdict::Failed)
        }
    }
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
    /// counts. `access` is a `MOSQ_ACL_*` bit; `msg` what mosquitto passes
    /// with it (a PUBLISH's payload, QoS and retain flag; a subscription's
    /// QoS).
    pub fn acl_check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: c_int,
        msg: AclMessage,
    ) -> Verdict {
        let Some(domain) = self.domain else {
            return Verdict::Defer { asked: false };
        };
        let ctopic = c_string(topic);
        let payload = match msg.payload {
            [] => std::ptr::null(),
            p => p.as_ptr().cast(),
        };
        let payloadlen = u32::try_from(msg.payload.len()).unwrap_or(u32::MAX);
        with_client(domain, client_id, username, |client| {
            let mut asked = false;
            for cb in registry::callbacks(domain, ffi::MOSQ_EVT_ACL_CHECK).iter() {
                let mut ev: ffi::EvtAclCheck = ffi::zeroed();
                ev.client = client.cast();
                ev.topic = ctopic.as_ptr();
                ev.access = access;
                ev.payload = payload;
                ev.payloadlen = payloadlen;
                ev.qos = msg.qos;
                ev.retain = msg.retain;
                let rc = call(cb, ffi::MOSQ_EVT_ACL_CHECK, &mut ev);
                if let Some(v) = step(rc) {
                    return v;
                }
                asked = true;
            }
            let mut m: ffi::AclMsg = ffi::zeroed();
            m.topic = ctopic.as_ptr();
            m.payload = payload;
            m.payloadlen = std::ffi::c_long::from(payloadlen);
            m.qos = c_int::from(msg.qos);
            m.retain = msg.retain;
            for l in registry::legacy(domain).iter() {
                asked = true;
                if let Some(v) = legacy_acl(l, client, &m, access) {
                    return v;
                }
            }
            Verdict::Defer { asked }
        })
    }
}

/// What an ACL check passes to plugins besides the topic (mosquitto's
/// `mosquitto_acl_check` arguments); the default passes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct AclMessage<'a> {
    pub payload: &'a [u8],
    pub qos: u8,
    pub retain: bool,
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
    msg: &ffi::AclMsg,
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
    step(l.acl_check(access, client.cast(), (&v.id, v.username.as_deref()), msg))
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

/// The number of subscriptions connected client `client_id` has now.
pub fn set_sub_count(client_id: &str, count: usize) {
    REGISTRY.with(|r| {
        if let Some(v) = r.borrow_mut().clients.get_mut(client_id) {
            v.sub_count = c_int::try_from(count).unwrap_or(c_int::MAX);
        }
    });
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
