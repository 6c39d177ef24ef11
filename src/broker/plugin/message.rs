//! The message and control events: a client's PUBLISH through the
//! plugins' message callbacks (which may change its topic, payload, QoS,
//! retain flag and properties) and `$CONTROL/…` topics to the plugin that
//! registered them.

use std::ffi::{c_void, CStr, CString};

use super::registry::{self, REGISTRY};
use super::{api, c_string, call, ffi, props, with_client, Chain};
use crate::protocol::Properties;

impl Chain {
    /// The message callbacks for a client's PUBLISH; each may change the
    /// topic, payload, QoS and retain flag. An error: a plugin refused it
    /// (the message is dropped, as mosquitto does).
    pub fn on_message(
        &self,
        client_id: &str,
        msg: PluginMessage,
    ) -> Result<PluginMessage, MessageRefusal> {
        let Some(domain) = self.domain else {
            return Ok(msg);
        };
        let cbs = registry::callbacks(domain, ffi::MOSQ_EVT_MESSAGE);
        if cbs.is_empty() {
            return Ok(msg);
        }
        with_client(domain, client_id, None, |client| {
            message_chain(&cbs, client.cast(), msg)
        })
    }

    /// A `$CONTROL/…` PUBLISH: true when a plugin registered this exact
    /// topic and was handed the message (which then goes to no subscriber).
    pub fn control(&self, client_id: &str, msg: &PluginMessage) -> bool {
        let PluginMessage {
            topic,
            payload,
            qos,
            retain,
            properties,
        } = msg;
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
            ev.qos = *qos;
            ev.retain = *retain;
            // Read-only for the plugin; ours to free after the call.
            let shown: Vec<_> = properties
                .0
                .iter()
                .filter(|(i, _)| props::travels(*i))
                .cloned()
                .collect();
            let list = props::to_list(&shown);
            ev.properties = list.cast_const().cast();
            call(&cb, ffi::MOSQ_EVT_CONTROL, &mut ev);
            drop(props::take_list(list));
            if !ev.reason_string.is_null() {
                // mosquitto frees it with free() after the call.
                // SAFETY: the plugin allocated it with malloc.
                unsafe { libc::free(ev.reason_string.cast()) };
            }
        });
        true
    }
}

/// A message as the message event sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    /// The PUBLISH's properties (MQTT 5; empty otherwise). Plugins see
    /// and may change those that travel to subscribers; the others (topic
    /// alias, message expiry) pass by them unchanged.
    pub properties: Properties,
}

/// Why the message callbacks stopped a PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRefusal {
    /// "ACL denied" (or a message left unusable): dropped, and an MQTT 5
    /// publisher's PUBACK/PUBREC says 0x87.
    Denied,
    /// Any other code: mosquitto 2.0 closes the publisher's connection,
    /// first sending an MQTT 5 client the DISCONNECT its packet handler
    /// maps the code to (this reason code), if any.
    Close(Option<u8>),
}

impl MessageRefusal {
    pub(super) fn from_rc(rc: std::ffi::c_int) -> MessageRefusal {
        // mosquitto's handle__packet: the codes it answers with DISCONNECT.
        let disconnect = match rc {
            ffi::MOSQ_ERR_NOMEM | ffi::MOSQ_ERR_UNKNOWN => Some(0x80),
            ffi::MOSQ_ERR_PROTOCOL => Some(0x82),
            ffi::MOSQ_ERR_MALFORMED_PACKET => Some(0x81),
            ffi::MOSQ_ERR_QOS_NOT_SUPPORTED => Some(0x9B),
            ffi::MOSQ_ERR_RETAIN_NOT_SUPPORTED => Some(0x9A),
            ffi::MOSQ_ERR_TOPIC_ALIAS_INVALID => Some(0x94),
            ffi::MOSQ_ERR_ACL_DENIED => return MessageRefusal::Denied,
            _ => None,
        };
        crate::warning!(
            "Warning: a plugin's message callback returned code {rc}; \
             closing the publisher's connection, as mosquitto does."
        );
        MessageRefusal::Close(disconnect)
    }
}

fn message_chain(
    cbs: &[registry::Callback],
    client: *mut c_void,
    msg: PluginMessage,
) -> Result<PluginMessage, MessageRefusal> {
    let PluginMessage {
        topic: old_topic,
        payload: old_payload,
        qos: old_qos,
        retain: old_retain,
        properties,
    } = msg;
    let (shown, mut kept): (Vec<_>, Vec<_>) = properties
        .0
        .into_iter()
        .partition(|(i, _)| props::travels(*i));
    let topic = c_string(&old_topic).into_raw();
    let payload = api::malloc_copy(&old_payload);
    let mut ev: ffi::EvtMessage = ffi::zeroed();
    ev.client = client;
    ev.topic = topic;
    ev.payload = payload;
    ev.payloadlen = u32::try_from(old_payload.len()).unwrap_or(u32::MAX);
    ev.qos = old_qos;
    ev.retain = old_retain;
    ev.properties = props::to_list(&shown).cast();
    let mut rc = ffi::MOSQ_ERR_SUCCESS;
    for cb in cbs {
        rc = call(cb, ffi::MOSQ_EVT_MESSAGE, &mut ev);
        if rc != ffi::MOSQ_ERR_SUCCESS {
            break;
        }
    }
    // The list the plugins left is the message's now (mosquitto's too).
    let mut changed = props::take_list(ev.properties.cast());
    let before = changed.0.len();
    changed.0.retain(|(i, _)| props::travels(*i));
    if changed.0.len() < before {
        crate::error!(
            "Error: a plugin gave a message properties a PUBLISH cannot carry; left out."
        );
    }
    kept.append(&mut changed.0);
    let out = read_message(&ev, Properties(kept));
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
    if rc != ffi::MOSQ_ERR_SUCCESS {
        return Err(MessageRefusal::from_rc(rc));
    }
    out.ok_or(MessageRefusal::Denied)
}

/// What the message looks like after the callbacks; None when the plugin
/// left something unusable (a null topic, a QoS above 2).
fn read_message(ev: &ffi::EvtMessage, properties: Properties) -> Option<PluginMessage> {
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
    Some(PluginMessage {
        topic,
        payload,
        qos: ev.qos,
        retain: ev.retain,
        properties,
    })
}
