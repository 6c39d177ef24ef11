//! Typed getters and setters, one pair per property, so callers never match
//! on identifiers and value kinds themselves. Setters keep canonical order.

use super::id::*;
use super::{Properties, PropertyValue};
use crate::protocol::QoS;

/// A single-valued number: getter and replacing setter.
macro_rules! number {
    ($get:ident, $set:ident, $id:expr, $variant:ident, $t:ty) => {
        pub fn $get(&self) -> Option<$t> {
            match self.get($id)? {
                PropertyValue::$variant(v) => Some(*v),
                _ => None,
            }
        }

        pub fn $set(&mut self, v: $t) {
            self.set($id, PropertyValue::$variant(v));
        }
    };
}

/// A 0/1 byte property read and written as a bool.
macro_rules! flag {
    ($get:ident, $set:ident, $id:expr) => {
        pub fn $get(&self) -> Option<bool> {
            match self.get($id)? {
                PropertyValue::Byte(v) => Some(*v != 0),
                _ => None,
            }
        }

        pub fn $set(&mut self, v: bool) {
            self.set($id, PropertyValue::Byte(u8::from(v)));
        }
    };
}

macro_rules! string {
    ($get:ident, $set:ident, $id:expr) => {
        pub fn $get(&self) -> Option<&str> {
            match self.get($id)? {
                PropertyValue::String(v) => Some(v),
                _ => None,
            }
        }

        pub fn $set(&mut self, v: impl Into<String>) {
            self.set($id, PropertyValue::String(v.into()));
        }
    };
}

macro_rules! binary {
    ($get:ident, $set:ident, $id:expr) => {
        pub fn $get(&self) -> Option<&[u8]> {
            match self.get($id)? {
                PropertyValue::Binary(v) => Some(v),
                _ => None,
            }
        }

        pub fn $set(&mut self, v: impl Into<Vec<u8>>) {
            self.set($id, PropertyValue::Binary(v.into()));
        }
    };
}

impl Properties {
    /// The first value with identifier `id`.
    pub fn get(&self, id: u8) -> Option<&PropertyValue> {
        self.0.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
    }

    /// Replaces every value with identifier `id` by `value`.
    pub fn set(&mut self, id: u8, value: PropertyValue) {
        self.remove(id);
        self.add(id, value);
    }

    /// Adds a value after any others with the same identifier (for user
    /// properties and subscription identifiers, which may repeat).
    pub fn add(&mut self, id: u8, value: PropertyValue) {
        let at = self.0.iter().take_while(|(i, _)| *i <= id).count();
        self.0.insert(at, (id, value));
    }

    pub fn remove(&mut self, id: u8) {
        self.0.retain(|(i, _)| *i != id);
    }

    flag!(
        payload_format_utf8,
        set_payload_format_utf8,
        PAYLOAD_FORMAT_INDICATOR
    );
    number!(
        payload_format_indicator,
        set_payload_format_indicator,
        PAYLOAD_FORMAT_INDICATOR,
        Byte,
        u8
    );
    number!(
        message_expiry_interval,
        set_message_expiry_interval,
        MESSAGE_EXPIRY_INTERVAL,
        U32,
        u32
    );
    string!(content_type, set_content_type, CONTENT_TYPE);
    string!(response_topic, set_response_topic, RESPONSE_TOPIC);
    binary!(correlation_data, set_correlation_data, CORRELATION_DATA);
    number!(
        session_expiry_interval,
        set_session_expiry_interval,
        SESSION_EXPIRY_INTERVAL,
        U32,
        u32
    );
    string!(
        assigned_client_identifier,
        set_assigned_client_identifier,
        ASSIGNED_CLIENT_IDENTIFIER
    );
    number!(
        server_keep_alive,
        set_server_keep_alive,
        SERVER_KEEP_ALIVE,
        U16,
        u16
    );
    string!(
        authentication_method,
        set_authentication_method,
        AUTHENTICATION_METHOD
    );
    binary!(
        authentication_data,
        set_authentication_data,
        AUTHENTICATION_DATA
    );
    flag!(
        request_problem_information,
        set_request_problem_information,
        REQUEST_PROBLEM_INFORMATION
    );
    number!(
        will_delay_interval,
        set_will_delay_interval,
        WILL_DELAY_INTERVAL,
        U32,
        u32
    );
    flag!(
        request_response_information,
        set_request_response_information,
        REQUEST_RESPONSE_INFORMATION
    );
    string!(
        response_information,
        set_response_information,
        RESPONSE_INFORMATION
    );
    string!(server_reference, set_server_reference, SERVER_REFERENCE);
    string!(reason_string, set_reason_string, REASON_STRING);
    number!(
        receive_maximum,
        set_receive_maximum,
        RECEIVE_MAXIMUM,
        U16,
        u16
    );
    number!(
        topic_alias_maximum,
        set_topic_alias_maximum,
        TOPIC_ALIAS_MAXIMUM,
        U16,
        u16
    );
    number!(topic_alias, set_topic_alias, TOPIC_ALIAS, U16, u16);
    flag!(retain_available, set_retain_available, RETAIN_AVAILABLE);
    number!(
        maximum_packet_size,
        set_maximum_packet_size,
        MAXIMUM_PACKET_SIZE,
        U32,
        u32
    );
    flag!(
        wildcard_subscription_available,
        set_wildcard_subscription_available,
        WILDCARD_SUBSCRIPTION_AVAILABLE
    );
    flag!(
        subscription_identifier_available,
        set_subscription_identifier_available,
        SUBSCRIPTION_IDENTIFIER_AVAILABLE
    );
    flag!(
        shared_subscription_available,
        set_shared_subscription_available,
        SHARED_SUBSCRIPTION_AVAILABLE
    );
    // The one subscription identifier of a SUBSCRIBE (the first of a PUBLISH).
    number!(
        subscription_identifier,
        set_subscription_identifier,
        SUBSCRIPTION_IDENTIFIER,
        Varint,
        u32
    );

    /// Maximum QoS the server supports; absent means QoS 2.
    pub fn maximum_qos(&self) -> Option<QoS> {
        match self.get(MAXIMUM_QOS)? {
            PropertyValue::Byte(v) => QoS::from_u8(*v),
            _ => None,
        }
    }

    pub fn set_maximum_qos(&mut self, q: QoS) {
        self.set(MAXIMUM_QOS, PropertyValue::Byte(q.as_u8()));
    }

    /// Every subscription identifier of a PUBLISH, in order.
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().filter_map(|(id, v)| match (*id, v) {
            (SUBSCRIPTION_IDENTIFIER, PropertyValue::Varint(x)) => Some(*x),
            _ => None,
        })
    }

    pub fn add_subscription_identifier(&mut self, v: u32) {
        self.add(SUBSCRIPTION_IDENTIFIER, PropertyValue::Varint(v));
    }

    /// User properties as (name, value), in the order sent.
    pub fn user_properties(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.iter().filter_map(|(id, v)| match (*id, v) {
            (USER_PROPERTY, PropertyValue::Pair(k, v)) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }

    pub fn add_user_property(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.add(
            USER_PROPERTY,
            PropertyValue::Pair(name.into(), value.into()),
        );
    }
}
