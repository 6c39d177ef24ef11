//! What the plugins registered, per security domain, and the clients they
//! are shown. One thread owns it all (the broker's), so it is a
//! thread-local: the exported C functions have no other way to reach it.
//!
//! Never hold a borrow of [`REGISTRY`] while a plugin runs: a plugin may
//! call back into `mosquitto_callback_register` and friends. Callers copy
//! the `Rc` list of callbacks out first, then call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void, CString};
use std::rc::Rc;

use super::ffi::{self, GenericCallback, EVENT_COUNT};
use super::legacy::Legacy;

/// One registered callback.
#[derive(Clone, Copy)]
pub(super) struct Callback {
    pub func: GenericCallback,
    pub userdata: *mut c_void,
}

/// What `mosquitto_plugin_id_t *` points to: the plugin's place. Boxed and
/// never freed while the broker runs, so the address stays valid.
pub struct PluginId {
    pub(super) domain: usize,
}

/// One security domain's plugins (the global settings, or one listener's
/// with `per_listener_settings`).
#[derive(Default)]
pub(super) struct Domain {
    /// Callbacks per event, in registration order; copied out (an `Rc`
    /// clone, no allocation) for each call.
    pub events: [Rc<Vec<Callback>>; EVENT_COUNT],
    /// `$CONTROL/…` topics and their callbacks.
    pub controls: Vec<(String, Callback)>,
    /// Version 2–4 plugins, in file order; asked after the version 5
    /// callbacks, as mosquitto does.
    pub legacy: Rc<Vec<Legacy>>,
    /// Every loaded plugin of the domain, for cleanup.
    pub plugins: Vec<super::loader::Loaded>,
    /// `auth_plugin_deny_special_chars` per plugin index.
    pub deny_special: Vec<bool>,
}

/// What the `struct mosquitto *` handed to plugins points to: the facts the
/// `mosquitto_client_*` functions return, as NUL-terminated strings that
/// live until the client is gone (at least the length of a callback).
pub struct ClientView {
    pub(super) id: CString,
    pub(super) username: Option<CString>,
    pub(super) address: CString,
    pub(super) protocol_version: c_int,
    pub(super) keepalive: c_int,
    pub(super) clean: bool,
    pub(super) domain: usize,
    /// The connection it describes, so a late disconnect of a taken-over
    /// connection does not drop its successor's view.
    pub(super) conn: u32,
    /// Set by `mosquitto_set_username`; the core picks it up.
    pub(super) username_changed: bool,
    /// Its subscriptions (`mosquitto_client_sub_count`), as the core
    /// last told.
    pub(super) sub_count: c_int,
    /// The TLS client certificate, in DER form.
    pub(super) certificate: Option<Box<[u8]>>,
    /// Connected through a websockets listener (`mosquitto_client_protocol`).
    pub(super) websockets: bool,
}

#[derive(Default)]
pub(super) struct Registry {
    pub domains: Vec<Domain>,
    /// Connected clients that plugins may be shown, by client id.
    pub clients: HashMap<Box<str>, Box<ClientView>>,
    /// Clients in the middle of their CONNECT's extended authentication,
    /// by connection slot: moved to `clients` (the box, so the address
    /// plugins saw, stays) once accepted, dropped when refused; a refused
    /// CONNECT never touches the view of a connected client of its id.
    pub pending: HashMap<u32, Box<ClientView>>,
    /// The plugin ids handed out; boxed because plugins keep their
    /// address, which a growing Vec of values would move.
    #[allow(clippy::vec_box)]
    pub ids: Vec<Box<PluginId>>,
}

/// What plugins asked the broker to do; the core carries it out after the
/// call that caused it (mosquitto queues these too).
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Publish {
        client_id: Option<String>,
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
        /// What a PUBLISH carries (message expiry included).
        properties: crate::protocol::Properties,
    },
    KickClientId {
        client_id: String,
        with_will: bool,
    },
    KickUsername {
        username: String,
        with_will: bool,
    },
    KickAll {
        with_will: bool,
    },
    /// `mosquitto_set_username` on the client connected through `conn`
    /// (connection slot) as `client_id`: its session takes the name, so
    /// later ACL checks and kicks by username see it, as in mosquitto.
    SetUsername {
        client_id: String,
        conn: u32,
        username: Option<String>,
    },
}

thread_local! {
    pub(super) static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
    /// Separate from the registry so a plugin may publish from any callback.
    pub(super) static ACTIONS: RefCell<Vec<Action>> = const { RefCell::new(Vec::new()) };
}

/// Takes the actions plugins queued since the last call.
pub fn take_actions() -> Vec<Action> {
    ACTIONS.with(|a| std::mem::take(&mut *a.borrow_mut()))
}

/// Whether any plugin queued an action (cheap check for the loop).
pub fn has_actions() -> bool {
    ACTIONS.with(|a| a.try_borrow().map(|v| !v.is_empty()).unwrap_or(false))
}

pub(super) fn push_action(action: Action) {
    ACTIONS.with(|a| {
        if let Ok(mut v) = a.try_borrow_mut() {
            v.push(action);
        }
    });
}

/// The callbacks of `event` in `domain` (an empty list when none).
pub(super) fn callbacks(domain: usize, event: c_int) -> Rc<Vec<Callback>> {
    REGISTRY.with(|r| {
        let r = r.borrow();
        usize::try_from(event)
            .ok()
            .and_then(|e| r.domains.get(domain)?.events.get(e).cloned())
            .unwrap_or_default()
    })
}

/// The version 2–4 plugins of `domain`.
pub(super) fn legacy(domain: usize) -> Rc<Vec<Legacy>> {
    REGISTRY.with(|r| {
        let r = r.borrow();
        r.domains
            .get(domain)
            .map(|d| Rc::clone(&d.legacy))
            .unwrap_or_default()
    })
}

/// Registers `cb` for `event` on the plugin `id`; mosquitto's return codes.
pub(super) fn register(id: &PluginId, event: c_int, cb: Callback, topic: Option<String>) -> c_int {
    REGISTRY.with(|r| {
        let Ok(mut r) = r.try_borrow_mut() else {
            return ffi::MOSQ_ERR_INVAL;
        };
        let Some(d) = r.domains.get_mut(id.domain) else {
            return ffi::MOSQ_ERR_INVAL;
        };
        if event == ffi::MOSQ_EVT_CONTROL {
            let Some(topic) = topic else {
                return ffi::MOSQ_ERR_INVAL;
            };
            if d.controls.iter().any(|(t, _)| *t == topic) {
                return ffi::MOSQ_ERR_ALREADY_EXISTS;
            }
            d.controls.push((topic, cb));
            return ffi::MOSQ_ERR_SUCCESS;
        }
        let Some(list) = usize::try_from(event)
            .ok()
            .filter(|e| *e >= 1)
            .and_then(|e| d.events.get_mut(e))
        else {
            return ffi::MOSQ_ERR_NOT_SUPPORTED;
        };
        if list.iter().any(|c| c.func as usize == cb.func as usize) {
            return ffi::MOSQ_ERR_ALREADY_EXISTS;
        }
        Rc::make_mut(list).push(cb);
        ffi::MOSQ_ERR_SUCCESS
    })
}

/// Removes the callback `func` of `event` from the plugin `id`'s domain.
pub(super) fn unregister(
    id: &PluginId,
    event: c_int,
    func: GenericCallback,
    topic: Option<String>,
) -> c_int {
    REGISTRY.with(|r| {
        let Ok(mut r) = r.try_borrow_mut() else {
            return ffi::MOSQ_ERR_INVAL;
        };
        let Some(d) = r.domains.get_mut(id.domain) else {
            return ffi::MOSQ_ERR_INVAL;
        };
        if event == ffi::MOSQ_EVT_CONTROL {
            let before = d.controls.len();
            d.controls
                .retain(|(t, c)| !(Some(t) == topic.as_ref() && c.func as usize == func as usize));
            return if d.controls.len() < before {
                ffi::MOSQ_ERR_SUCCESS
            } else {
                ffi::MOSQ_ERR_NOT_FOUND
            };
        }
        let Some(list) = usize::try_from(event)
            .ok()
            .filter(|e| *e >= 1)
            .and_then(|e| d.events.get_mut(e))
        else {
            return ffi::MOSQ_ERR_NOT_SUPPORTED;
        };
        let Some(pos) = list.iter().position(|c| c.func as usize == func as usize) else {
            return ffi::MOSQ_ERR_NOT_FOUND;
        };
        Rc::make_mut(list).remove(pos);
        ffi::MOSQ_ERR_SUCCESS
    })
}
