//! MQTT 5 subscription options: the byte after each SUBSCRIBE filter
//! (spec 3.8.3.1).

use super::error::DecodeError;
use super::QoS;

/// Whether retained messages are sent when a subscription is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    /// Send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// Send them only if the subscription did not already exist.
    SendIfNew = 1,
    /// Do not send them.
    DoNotSend = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    pub qos: QoS,
    /// Do not send the subscriber its own messages.
    pub no_local: bool,
    /// Keep the RETAIN flag as published instead of clearing it.
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    pub fn new(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        }
    }

    /// Parses an options byte as received. Reserved bits make the packet
    /// malformed ([MQTT-3.8.3-5]); QoS 3 and retain handling 3 are errors.
    pub fn from_byte(b: u8) -> Result<SubscriptionOptions, DecodeError> {
        if b & 0xC0 != 0 {
            return Err(DecodeError::ReservedSubscriptionBits(b));
        }
        let qos = QoS::from_u8(b & 0x03).ok_or(DecodeError::InvalidQos)?;
        let retain_handling = match (b >> 4) & 0x03 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::InvalidRetainHandling),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: b & 0x04 != 0,
            retain_as_published: b & 0x08 != 0,
            retain_handling,
        })
    }

    /// For bytes already checked (or built by hand): never fails, taking
    /// `qos` from the caller and an impossible retain handling as 0.
    pub(super) fn from_byte_lenient(b: u8, qos: QoS) -> SubscriptionOptions {
        let mut o = SubscriptionOptions::from_byte(b & 0x0C).unwrap_or_default();
        o.qos = qos;
        o.retain_handling = match (b >> 4) & 0x03 {
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => RetainHandling::SendAtSubscribe,
        };
        o
    }

    pub fn to_byte(self) -> u8 {
        let mut b = self.qos.as_u8() | ((self.retain_handling as u8) << 4);
        if self.no_local {
            b |= 0x04;
        }
        if self.retain_as_published {
            b |= 0x08;
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte() {
        for b in 0..=255u8 {
            match SubscriptionOptions::from_byte(b) {
                Ok(o) => assert_eq!(o.to_byte(), b),
                Err(DecodeError::ReservedSubscriptionBits(_)) => assert_ne!(b & 0xC0, 0),
                Err(DecodeError::InvalidQos) => assert_eq!(b & 3, 3),
                Err(DecodeError::InvalidRetainHandling) => assert_eq!(b & 0x30, 0x30),
                Err(e) => panic!("{b:#x}: {e}"),
            }
        }
        let o = SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        };
        assert_eq!(o.to_byte(), 0x2E);
    }
}
