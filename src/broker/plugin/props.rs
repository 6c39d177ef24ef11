//! `mosquitto_property` lists between plugins and messages: what the message
//! event hands plugins (the message's properties, which they may add to) and
//! what `mosquitto_broker_publish` takes along with a message. The lists and
//! the C API on them are the shared `capi::properties`.

pub(super) use crate::capi::properties::{take_list, to_list};
use crate::protocol::properties::id;

/// The properties a message carries from publisher to subscribers (those
/// mosquitto keeps on a stored message).
pub(super) fn travels(ident: u8) -> bool {
    matches!(
        ident,
        id::PAYLOAD_FORMAT_INDICATOR
            | id::CONTENT_TYPE
            | id::RESPONSE_TOPIC
            | id::CORRELATION_DATA
            | id::USER_PROPERTY
    )
}
